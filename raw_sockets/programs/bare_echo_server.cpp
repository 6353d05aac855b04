// bare_echo_server: a Unix socket echo server in plain system calls, and nothing else.
//
// The first program of chapter 01. It makes a stream socket, binds it to a path (which
// creates the socket file), listens, and then serves one client at a time: read() what
// arrives, write() it back, until the client ends its side (read() returns 0). Every call is
// checked; a failure prints the call and errno's message (perror) and exits 1. Its other
// half is bare_echo_client.cpp. echo_server.cpp is the same server on the course's library.
//
//   bare_echo_server /tmp/echo.sock
//
// SIGINT or SIGTERM stops it: it removes its socket file and exits 0. It never removes a
// file it did not create: if the path exists already, bind() fails with EADDRINUSE.
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

volatile sig_atomic_t stop_requested = 0;  // set by the signal handler, read by the loop
const char* bound_path = nullptr;          // our socket file, once bind() has made it

void request_stop(int) {
    stop_requested = 1;
}

// Prints "call: message of errno", removes our socket file if we made one, and exits.
[[noreturn]] void fail(const char* call) {
    std::perror(call);
    if (bound_path != nullptr) unlink(bound_path);
    std::exit(1);
}

//! [echo]
// Sends back what `client` sends, until it shuts down its side or a stop is requested.
void echo(int client) {
    char buffer[4096];
    for (;;) {
        ssize_t received = read(client, buffer, sizeof buffer);
        if (received == 0) return;  // the client said "no more": we are done with it
        if (received < 0) {
            if (errno == EINTR && !stop_requested) continue;  // a signal, but not a stop
            if (errno != EINTR) std::perror("read");          // this client's failure, not ours
            return;
        }
        // write() may take fewer bytes than it was given: write the rest until all is sent.
        for (ssize_t sent = 0; sent < received;) {
            ssize_t n = write(client, buffer + sent, received - sent);
            if (n < 0 && errno == EINTR && !stop_requested) continue;
            if (n < 0) {
                if (errno != EINTR) std::perror("write");  // EPIPE: the client left
                return;
            }
            sent += n;
        }
    }
}
//! [echo]

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bare_echo_server PATH\n");
        return 2;
    }
    const char* path = argv[1];
    //! [address]
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof address.sun_path) {  // keep room for the final NUL
        std::fprintf(stderr,
                     "bare_echo_server: the path is %zu bytes; sun_path holds %zu and a NUL\n",
                     std::strlen(path), sizeof address.sun_path - 1);
        return 1;
    }
    std::memcpy(address.sun_path, path, std::strlen(path));  // the rest stays zero
    //! [address]

    //! [server]
    struct sigaction action {};
    action.sa_handler = request_stop;  // no SA_RESTART: a waiting accept() returns EINTR
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);  // writing to a client that left gives EPIPE, not death
    int listener = socket(AF_UNIX, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
    bound_path = path;                                    // bind() created the file
    if (listen(listener, SOMAXCONN) < 0) fail("listen");  // clients may now connect
    std::fprintf(stderr, "listening on %s\n", path);

    while (!stop_requested) {
        int client = accept(listener, nullptr, nullptr);  // waits for the next client
        if (client < 0) {
            if (errno == EINTR) continue;  // a signal: the loop checks stop_requested
            fail("accept");
        }
        echo(client);
        close(client);
    }
    close(listener);
    unlink(path);  // close() leaves the file behind: removing it is our job
    //! [server]
    std::fprintf(stderr, "stopped; removed %s\n", path);
    return 0;
}
