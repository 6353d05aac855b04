// bare_epoll_echo: bare_poll_echo.cpp's server on epoll, in plain system calls.
//
// Chapter 04. poll() is handed the whole array on every call, and scans it; epoll keeps the
// watched set in the kernel (epoll_ctl() adds and removes) and epoll_wait() returns only the
// descriptors that are ready, so the cost follows the number of busy clients, not of
// connected ones. Level-triggered, the default: a descriptor with unread data is reported
// again at every epoll_wait(). The same naive write loop as bare_poll_echo, and no clean stop.
//
//   bare_epoll_echo /tmp/epoll.sock
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

[[noreturn]] void fail(const char* call) {
    std::perror(call);
    std::exit(1);
}

// Echoes what one read() brings; false when the client is done (end of stream or error).
bool echo_once(int client) {
    char buffer[4096];
    ssize_t received = read(client, buffer, sizeof buffer);
    if (received <= 0) return false;  // 0: the client closed its side
    for (ssize_t sent = 0; sent < received;) {
        ssize_t n = write(client, buffer + sent, received - sent);  // blocks if it does not read
        if (n < 0) return false;
        sent += n;
    }
    return true;
}

int listen_on(const char* path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof address.sun_path) {
        std::fprintf(stderr, "the path is longer than sun_path allows\n");
        std::exit(1);
    }
    std::memcpy(address.sun_path, path, std::strlen(path));
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
    if (listen(listener, SOMAXCONN) < 0) fail("listen");
    return listener;
}

void watch(int epoll, int fd) {
    epoll_event event{};
    event.events = EPOLLIN;  // level-triggered: reported while there is something to read
    event.data.fd = fd;
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) < 0) fail("epoll_ctl");
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bare_epoll_echo PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);  // a client that left gives EPIPE, not death
    const int listener = listen_on(argv[1]);
    std::fprintf(stderr, "listening on %s\n", argv[1]);

    //! [loop]
    int epoll = epoll_create1(0);
    if (epoll < 0) fail("epoll_create1");
    watch(epoll, listener);
    epoll_event ready[64];
    for (;;) {
        int count = epoll_wait(epoll, ready, 64, -1);  // only the ready ones come back
        if (count < 0) {
            if (errno == EINTR) continue;
            fail("epoll_wait");
        }
        for (int i = 0; i < count; ++i) {
            int fd = ready[i].data.fd;
            if (fd == listener) {  // a client waits in the accept queue
                int client = accept(listener, nullptr, nullptr);
                if (client >= 0) watch(epoll, client);
            } else if (!echo_once(fd)) {
                close(fd);  // closing also removes it from the epoll set (no other copy)
            }
        }
    }
    //! [loop]
}
