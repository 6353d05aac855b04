// bare_tcp_echo_client: chapter 02's TCP echo client in plain system calls, no library.
//
// It resolves HOST and PORT with getaddrinfo(), tries each address it gets until one
// connects, sends its words and a newline, ends its half of the stream, and prints what comes
// back. Its other half is bare_tcp_echo_server.cpp.
//
//   bare_tcp_echo_client localhost 40231 hello there     (prints "hello there")
#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <string>

namespace {

// "127.0.0.1:40231" or "[::1]:40231", for the "trying" lines.
std::string name_of(const addrinfo* candidate) {
    char host[INET6_ADDRSTRLEN] = "?";
    if (candidate->ai_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(candidate->ai_addr);
        inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
        return std::string(host) + ":" + std::to_string(ntohs(in->sin_port));
    }
    const auto* in6 = reinterpret_cast<const sockaddr_in6*>(candidate->ai_addr);
    inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
    return "[" + std::string(host) + "]:" + std::to_string(ntohs(in6->sin6_port));
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 4) {
        std::fprintf(stderr, "usage: bare_tcp_echo_client HOST PORT WORD...\n");
        return 2;
    }
    //! [resolve]
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;      // IPv4 or IPv6, whichever the name has
    hints.ai_socktype = SOCK_STREAM;  // TCP: one result per address, not one per type
    hints.ai_flags = AI_NUMERICSERV;  // the port is a number: look up no service name
    addrinfo* results = nullptr;
    const int status = getaddrinfo(argv[1], argv[2], &hints, &results);
    if (status != 0) {  // not errno: getaddrinfo() has its own codes and gai_strerror()
        std::fprintf(stderr, "bare_tcp_echo_client: getaddrinfo(%s, %s): %s\n", argv[1], argv[2],
                     gai_strerror(status));
        return 1;
    }
    int server = -1;
    for (const addrinfo* candidate = results; candidate != nullptr && server < 0;
         candidate = candidate->ai_next) {
        server = socket(candidate->ai_family, candidate->ai_socktype, candidate->ai_protocol);
        if (server < 0) continue;
        if (connect(server, candidate->ai_addr, candidate->ai_addrlen) == 0) {
            std::fprintf(stderr, "trying %s: connected\n", name_of(candidate).c_str());
        } else {  // refused, unreachable...: try the next address
            std::fprintf(stderr, "trying %s: %s\n", name_of(candidate).c_str(),
                         std::strerror(errno));
            close(server);
            server = -1;
        }
    }
    freeaddrinfo(results);  // the list is ours to free, once we are done with it
    if (server < 0) {
        std::fprintf(stderr, "bare_tcp_echo_client: no address of %s accepted\n", argv[1]);
        return 1;
    }
    //! [resolve]

    //! [talk]
    std::string text = argv[3];
    for (int i = 4; i < argc; ++i) text += std::string(" ") + argv[i];
    text += "\n";
    for (std::size_t sent = 0; sent < text.size();) {  // send() may take only part of it
        const ssize_t n = send(server, text.data() + sent, text.size() - sent, MSG_NOSIGNAL);
        if (n < 0 && errno != EINTR) {
            std::perror("bare_tcp_echo_client: send");
            return 1;
        }
        if (n > 0) sent += static_cast<std::size_t>(n);
    }
    shutdown(server, SHUT_WR);  // "no more from me": our FIN; the server's recv() returns 0
    char buffer[4096];
    for (;;) {
        const ssize_t received = recv(server, buffer, sizeof buffer, 0);
        if (received == 0) break;  // the server's FIN: it has echoed everything
        if (received < 0 && errno == EINTR) continue;
        if (received < 0) {
            std::perror("bare_tcp_echo_client: recv");
            return 1;
        }
        std::fwrite(buffer, 1, static_cast<std::size_t>(received), stdout);
    }
    close(server);
    return 0;
    //! [talk]
}
