// bare_tcp_echo_server: chapter 02's TCP echo server in plain system calls, no library.
//
// It listens on 127.0.0.1, port PORT (0: any free port), serves one client at a time and
// sends back every byte it receives. Its other half is bare_tcp_echo_client.cpp; the
// library's echo_server.cpp does the same for any address (chapter 02 shows the diff).
//
//   bare_tcp_echo_server 0          prints `listening on 127.0.0.1:PORT`; Ctrl-C ends it
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

[[noreturn]] void fail(const char* call) {
    std::fprintf(stderr, "bare_tcp_echo_server: %s: %s\n", call, std::strerror(errno));
    std::exit(1);
}

// Echoes until the client ends its stream; returns the bytes echoed, or -1 on an error
// (a client that resets or leaves without reading ends its own connection, not ours).
long echo_until_eof(int client) {
    char buffer[4096];
    long echoed = 0;
    for (;;) {
        const ssize_t received = recv(client, buffer, sizeof buffer, 0);
        if (received == 0) return echoed;              // the client's FIN: it sends no more
        if (received < 0 && errno == EINTR) continue;  // a signal came first: recv() again
        if (received < 0) return -1;
        // send() may take only part of the bytes (chapter 03): send the rest until done.
        // MSG_NOSIGNAL: a client that has gone makes send() fail, not kill us (chapter 03).
        for (ssize_t sent = 0; sent < received;) {
            const ssize_t n = send(client, buffer + sent, received - sent, MSG_NOSIGNAL);
            if (n < 0 && errno != EINTR) return -1;
            if (n > 0) sent += n;
        }
        echoed += received;
    }
}

}  // namespace

int main(int argc, char** argv) {
    char* end = nullptr;
    const long port = argc == 2 ? std::strtol(argv[1], &end, 10) : -1;
    if (argc != 2 || end == argv[1] || *end != '\0' || port < 0 || port > 65535) {
        std::fprintf(stderr, "usage: bare_tcp_echo_server PORT (0 to 65535)\n");
        return 2;
    }
    //! [listen]
    const int listener = socket(AF_INET, SOCK_STREAM, 0);
    if (listener < 0) fail("socket");
    // Without it, a restarted server cannot bind its port while connections it closed
    // first are in TIME_WAIT (see below).
    const int on = 1;
    if (setsockopt(listener, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) != 0) fail("setsockopt");

    sockaddr_in address{};  // zeroed: sin_zero must be zero
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));  // network order
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);       // 127.0.0.1, also network order
    if (bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) fail("bind");
    if (listen(listener, SOMAXCONN) != 0) fail("listen");

    // Port 0 asked the kernel to choose: getsockname() says which port it chose.
    socklen_t length = sizeof address;
    if (getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        fail("getsockname");
    }
    std::fprintf(stderr, "listening on 127.0.0.1:%d\n", ntohs(address.sin_port));
    //! [listen]

    //! [serve]
    for (;;) {
        sockaddr_in peer{};
        socklen_t peer_length = sizeof peer;
        const int client = accept(listener, reinterpret_cast<sockaddr*>(&peer), &peer_length);
        if (client < 0) {
            if (errno == EINTR || errno == ECONNABORTED) continue;  // not our failure
            fail("accept");
        }
        char host[INET_ADDRSTRLEN];  // a TCP client has a name: its address and port
        inet_ntop(AF_INET, &peer.sin_addr, host, sizeof host);
        const long echoed = echo_until_eof(client);
        if (echoed < 0) {
            std::fprintf(stderr, "client %s:%d: %s\n", host, ntohs(peer.sin_port),
                         std::strerror(errno));
        } else {
            std::fprintf(stderr, "client %s:%d done, %ld bytes echoed\n", host,
                         ntohs(peer.sin_port), echoed);
        }
        close(client);  // our FIN (or RST, if the client's bytes were left unread)
    }
    //! [serve]
}
