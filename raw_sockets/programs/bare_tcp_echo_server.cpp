// bare_tcp_echo_server: chapter 01's bare echo server over TCP, in plain system calls.
//
// The first program of chapter 02, and the twin of bare_echo_server.cpp: the same loop, the
// same checks, and only the address differs. It fills a sockaddr_in by hand (an IPv4
// address and a port, both in network byte order), sets SO_REUSEADDR so that a restart is
// not refused while old connections sit in TIME_WAIT, and prints the port it got: port 0
// asks the kernel for a free one. Its other half is bare_tcp_echo_client.cpp, which finds
// the server with getaddrinfo().
//
//   bare_tcp_echo_server 0          (listens on 127.0.0.1, on a port the kernel picks)
//
// SIGINT or SIGTERM stops it. There is no file to remove: a TCP port is not a file.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

volatile sig_atomic_t stop_requested = 0;  // set by the signal handler, read by the loop

void request_stop(int) {
    stop_requested = 1;
}

// Prints "call: message of errno" and exits.
[[noreturn]] void fail(const char* call) {
    std::perror(call);
    std::exit(1);
}

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

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: bare_tcp_echo_server PORT\n");
        return 2;
    }
    char* end = nullptr;
    const long port = std::strtol(argv[1], &end, 10);
    if (*argv[1] == '\0' || *end != '\0' || port < 0 || port > 65535) {
        std::fprintf(stderr, "bare_tcp_echo_server: '%s' is not a port from 0 to 65535\n", argv[1]);
        return 1;
    }
    //! [address]
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));  // network byte order
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);       // 127.0.0.1: this machine only
    //! [address]

    //! [server]
    struct sigaction action {};
    action.sa_handler = request_stop;  // no SA_RESTART: a waiting accept() returns EINTR
    sigaction(SIGINT, &action, nullptr);
    sigaction(SIGTERM, &action, nullptr);
    signal(SIGPIPE, SIG_IGN);  // writing to a client that left gives EPIPE, not death

    int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    int on = 1;  // a restart may bind the port while old connections are in TIME_WAIT
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) < 0) fail("setsockopt");
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) fail("bind");
    socklen_t length = sizeof address;  // port 0: ask which port the kernel chose
    if (getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) < 0) {
        fail("getsockname");
    }
    if (listen(listener, SOMAXCONN) < 0) fail("listen");  // clients may now connect
    std::fprintf(stderr, "listening on 127.0.0.1:%u\n", ntohs(address.sin_port));

    while (!stop_requested) {
        int client = accept(listener, nullptr, nullptr);  // waits for the next client
        if (client < 0) {
            if (errno == EINTR) continue;  // a signal: the loop checks stop_requested
            fail("accept");
        }
        echo(client);
        close(client);
    }
    close(listener);  // no file to remove: closing the socket frees the port
    //! [server]
    std::fprintf(stderr, "stopped\n");
    return 0;
}
