// bare_tcp_echo_client: sends one line to an echo server over TCP and prints what comes
// back, in plain system calls, finding the server with getaddrinfo().
//
// The other half of bare_tcp_echo_server.cpp (chapter 02), and the twin of
// bare_echo_client.cpp. A name such as "localhost" may stand for several addresses (::1 and
// 127.0.0.1, say): getaddrinfo() returns them all, in the order the system prefers, and the
// client tries each until one connects. Its errors are not errno values: gai_strerror()
// names them.
//
//   bare_tcp_echo_client localhost 40231 hello
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <string>

namespace {

[[noreturn]] void fail(const char* call) {
    std::perror(call);  // "connect: Connection refused"
    std::exit(1);
}

//! [write-all]
// Writes all `size` bytes: write() may take fewer than it was given.
void write_all(int fd, const char* data, size_t size) {
    while (size > 0) {
        ssize_t n = write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;  // a signal came first: just try again
        if (n < 0) fail("write");
        data += n;
        size -= static_cast<size_t>(n);
    }
}
//! [write-all]

//! [connect]
// Connects to the first address of `host`:`port` that accepts, or exits saying why not.
int connect_to(const char* host, const char* port) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;      // IPv4 or IPv6, whichever the name has
    hints.ai_socktype = SOCK_STREAM;  // TCP
    hints.ai_flags = AI_NUMERICSERV;  // the port is a number, not a service name
    addrinfo* found = nullptr;
    if (int error = getaddrinfo(host, port, &hints, &found); error != 0) {
        std::fprintf(stderr, "getaddrinfo(%s, %s): %s\n", host, port, gai_strerror(error));
        std::exit(1);
    }
    int server = -1;
    for (addrinfo* each = found; each != nullptr && server < 0; each = each->ai_next) {
        server = socket(each->ai_family, each->ai_socktype, each->ai_protocol);
        if (server < 0) continue;
        if (connect(server, each->ai_addr, each->ai_addrlen) < 0) {
            close(server);  // refused on this address: try the next one
            server = -1;
        }
    }
    freeaddrinfo(found);
    if (server < 0) fail("connect");  // the last attempt's errno
    return server;
}
//! [connect]

}  // namespace

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: bare_tcp_echo_client HOST PORT MESSAGE\n");
        return 2;
    }
    int server = connect_to(argv[1], argv[2]);
    const std::string message = std::string(argv[3]) + "\n";
    write_all(server, message.data(), message.size());
    if (shutdown(server, SHUT_WR) < 0) fail("shutdown");  // "no more from me": a FIN

    char buffer[4096];
    for (;;) {
        ssize_t received = read(server, buffer, sizeof buffer);
        if (received == 0) break;  // the server closed its side: the echo is complete
        if (received < 0 && errno == EINTR) continue;
        if (received < 0) fail("read");
        write_all(STDOUT_FILENO, buffer, static_cast<size_t>(received));
    }
    close(server);
    return 0;
}
