// bare_poll_echo: an echo server for many clients at once, in plain system calls: one
// thread, one poll() loop.
//
// The first event loop of chapter 04. poll() takes an array of descriptors and the events
// wanted on each (POLLIN: something to read), waits until at least one is ready, and says
// which. A ready listener has a client waiting in its accept queue; a ready client has sent
// something, or has closed its side. Each ready client gets one read() and its echo, so no
// client waits for another to finish. This loop is deliberately naive: its write loop
// blocks on a client that does not read, and it stops only when killed. Chapter 04 shows
// what fixes both (echo_poll.cpp). bare_epoll_echo.cpp is the same loop on epoll.
//
//   bare_poll_echo /tmp/poll.sock        (then any number of bare_echo_client at once)
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

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

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bare_poll_echo PATH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);  // a client that left gives EPIPE, not death
    const int listener = listen_on(argv[1]);
    std::fprintf(stderr, "listening on %s\n", argv[1]);

    //! [loop]
    std::vector<pollfd> watched{{listener, POLLIN, 0}};  // slot 0: the listener
    for (;;) {
        if (poll(watched.data(), watched.size(), -1) < 0) {  // -1: wait as long as it takes
            if (errno == EINTR) continue;
            fail("poll");
        }
        if (watched[0].revents & POLLIN) {  // a client waits in the accept queue
            int client = accept(listener, nullptr, nullptr);
            if (client >= 0) watched.push_back({client, POLLIN, 0});
        }
        for (std::size_t i = watched.size() - 1; i >= 1; --i) {  // backwards: we erase
            // POLLHUP or POLLERR come whether asked for or not; read() then says what it was.
            if (watched[i].revents == 0) continue;
            if (!echo_once(watched[i].fd)) {
                close(watched[i].fd);
                watched.erase(watched.begin() + static_cast<std::ptrdiff_t>(i));
            }
        }
    }
    //! [loop]
}
