// bare_echo_client: sends one line to an echo server over a Unix socket and prints what
// comes back, in plain system calls.
//
// The other half of bare_echo_server.cpp (chapter 01). It connects, writes its message and a
// newline, then shuts down its sending side, which the server's read() sees as the end
// (0), and reads the echo until the server closes the connection. Every call is checked; a
// failure prints the call and errno's message (perror) and exits 1. echo_client.cpp is the
// same client on the course's library.
//
//   bare_echo_client /tmp/echo.sock hello
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

[[noreturn]] void fail(const char* call) {
    std::perror(call);  // "connect: Connection refused"
    std::exit(1);
}

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

}  // namespace

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: bare_echo_client PATH MESSAGE\n");
        return 2;
    }
    const char* path = argv[1];
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    if (std::strlen(path) >= sizeof address.sun_path) {  // keep room for the final NUL
        std::fprintf(stderr,
                     "bare_echo_client: the path is %zu bytes; sun_path holds %zu and a NUL\n",
                     std::strlen(path), sizeof address.sun_path - 1);
        return 1;
    }
    std::memcpy(address.sun_path, path, std::strlen(path));

    //! [client]
    int server = socket(AF_UNIX, SOCK_STREAM, 0);
    if (server < 0) fail("socket");
    if (connect(server, reinterpret_cast<sockaddr*>(&address), sizeof address) < 0) {
        fail("connect");  // ENOENT: no file at the path; ECONNREFUSED: nobody listens
    }
    const std::string message = std::string(argv[2]) + "\n";
    write_all(server, message.data(), message.size());
    if (shutdown(server, SHUT_WR) < 0) fail("shutdown");  // "no more from me"

    char buffer[4096];
    for (;;) {
        ssize_t received = read(server, buffer, sizeof buffer);
        if (received == 0) break;  // the server closed its side: the echo is complete
        if (received < 0 && errno == EINTR) continue;
        if (received < 0) fail("read");
        write_all(STDOUT_FILENO, buffer, static_cast<size_t>(received));
    }
    close(server);
    //! [client]
    return 0;
}
