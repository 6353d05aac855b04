// bare_epoll_echo: bare_poll_echo's loop on epoll, in plain system calls and nothing else.
//
// poll() is handed the whole array on every call; epoll keeps the list of watched
// descriptors in the kernel (epoll_create1), edited one descriptor at a time (epoll_ctl ADD
// and DEL), and epoll_wait() returns only the ready ones. Watching is level-triggered (no
// EPOLLET): a socket with unread bytes is reported again by every epoll_wait(). Every call is
// checked; a failure prints the call and errno's message and exits 1. echo_epoll.cpp is this
// loop hardened.
//
//   bare_epoll_echo /tmp/epoll.sock
//
// Like bare_poll_echo, its sockets block, so a client that sends without reading stalls
// everyone in write(); and a stop signal that lands just before epoll_wait() is noticed only
// at the next event.
#include <signal.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <span>

namespace {

volatile sig_atomic_t stop_requested = 0;  // set by the signal handler, read by the loop

void request_stop(int) {
    stop_requested = 1;
}

[[noreturn]] void fail(const char* call) {
    std::perror(call);
    std::exit(1);
}

// Writes all `size` bytes; a blocking socket may take fewer per call. False if the client
// has gone (EPIPE, ECONNRESET) or a stop signal interrupted the wait (EINTR).
bool write_all(int fd, const char* data, ssize_t size) {
    for (ssize_t sent = 0; sent < size;) {
        const ssize_t written = write(fd, data + sent, size - sent);
        if (written < 0) return false;
        sent += written;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2 || std::strlen(argv[1]) >= sizeof(sockaddr_un::sun_path)) {
        std::fprintf(stderr, "usage: bare_epoll_echo PATH (at most 107 bytes)\n");
        return 2;
    }
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::strcpy(address.sun_path, argv[1]);
    struct sigaction action {};
    action.sa_handler = request_stop;  // no SA_RESTART: poll() and epoll_wait() return EINTR
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);  // writing to a client that left gives EPIPE, not death

    const int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
    if (listen(listener, SOMAXCONN) < 0) fail("listen");
    std::fprintf(stderr, "listening on %s\n", argv[1]);

    //! [loop]
    const int epoll = epoll_create1(EPOLL_CLOEXEC);  // the kernel's list of watched sockets
    if (epoll < 0) fail("epoll_create1");
    epoll_event interest{.events = EPOLLIN, .data = {.fd = listener}};
    if (epoll_ctl(epoll, EPOLL_CTL_ADD, listener, &interest) < 0) fail("epoll_ctl ADD");
    epoll_event ready[64];
    while (!stop_requested) {
        const int count = epoll_wait(epoll, ready, 64, -1);  // only the ready ones
        if (count < 0) {
            if (errno == EINTR) continue;  // a signal: the loop looks at stop_requested
            fail("epoll_wait");
        }
        for (const epoll_event& event : std::span(ready, count)) {
            const int fd = event.data.fd;
            if (fd == listener) {  // a client is waiting: accept() will not block
                const int client = accept(listener, nullptr, nullptr);
                if (client < 0) fail("accept");
                interest = {.events = EPOLLIN, .data = {.fd = client}};
                if (epoll_ctl(epoll, EPOLL_CTL_ADD, client, &interest) < 0) fail("epoll_ctl ADD");
                continue;
            }
            // EPOLLIN, or EPOLLHUP/EPOLLERR (reported even unasked): read() says which.
            char buffer[4096];
            const ssize_t received = read(fd, buffer, sizeof buffer);
            if (received > 0 && write_all(fd, buffer, received)) continue;
            if (epoll_ctl(epoll, EPOLL_CTL_DEL, fd, nullptr) < 0) fail("epoll_ctl DEL");
            close(fd);  // done (0), reset, or gone while we wrote
        }
    }
    //! [loop]
    close(epoll);  // its clients' descriptors close as the process exits
    close(listener);
    unlink(argv[1]);
    std::fprintf(stderr, "stopping\n");
    return 0;
}
