// bare_poll_echo: one thread serves many echo clients at once with poll(), in plain system
// calls and nothing else.
//
// The first event loop of chapter 04. poll() waits on an array of descriptors: the listener
// and every client. When the listener is readable a client is waiting, so accept() does not
// block; when a client is readable, one read() will not block, and its bytes are written
// back. A client whose read() returns 0 (it is done) or fails is closed and leaves the array.
// Every call is checked; a failure prints the call and errno's message and exits 1.
// bare_epoll_echo.cpp is the same loop on epoll; echo_poll.cpp is this loop hardened.
//
//   bare_poll_echo /tmp/poll.sock
//
// What it does not do, on purpose (chapter 04 shows each, then the hardening): its sockets
// block, so a client that sends without reading stalls everyone in write(); and a stop signal
// that lands just before poll() is noticed only at the next event.
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
        std::fprintf(stderr, "usage: bare_poll_echo PATH (at most 107 bytes)\n");
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
    std::vector<pollfd> watched{{.fd = listener, .events = POLLIN, .revents = 0}};
    while (!stop_requested) {
        if (poll(watched.data(), watched.size(), -1) < 0) {
            if (errno == EINTR) continue;  // a signal: the loop looks at stop_requested
            fail("poll");
        }
        if (watched[0].revents & POLLIN) {  // a client is waiting: accept() will not block
            const int client = accept(listener, nullptr, nullptr);
            if (client < 0) fail("accept");
            watched.push_back({.fd = client, .events = POLLIN, .revents = 0});
        }
        for (pollfd& event : watched) {
            const int fd = event.fd;
            if (fd == listener || event.revents == 0) continue;
            // POLLIN, or POLLHUP/POLLERR (reported even unasked): read() says which it was.
            char buffer[4096];
            const ssize_t received = read(fd, buffer, sizeof buffer);
            if (received > 0 && write_all(fd, buffer, received)) continue;
            close(fd);      // done (0), reset, or gone while we wrote
            event.fd = -1;  // marked here, removed below: no slot is skipped
        }
        std::erase_if(watched, [](const pollfd& event) { return event.fd < 0; });
    }
    //! [loop]
    for (const pollfd& event : watched) close(event.fd);
    unlink(argv[1]);
    std::fprintf(stderr, "stopping\n");
    return 0;
}
