// canned_http: the floor for an HTTP server, the least one can spend per request.
//
// Chapter 11 measures HTTP servers by the CPU time they spend per request. To say how much
// of that is the server's own work (parsing, routing, formatting) and how much the kernel's
// (waking up, reading, writing), it needs a server that does nothing but the kernel's part:
// this one answers every read with the same fixed response and parses nothing. Per request
// it makes one read() and one write() and at most one epoll_wait() (under load one wait
// reports many ready connections), which no real server can beat.
//
// It is not an HTTP server: it assumes each read holds exactly one whole request, which is
// what a load generator sending one request at a time per connection (h2load --h1, wrk)
// produces. Never put it in front of anything else.
//
//   canned_http unix:/tmp/canned.sock
//   canned_http 127.0.0.1:0
#include <sys/epoll.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <csignal>
#include <iostream>
#include <string_view>
#include <unordered_map>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// The same status, Content-Type and body as http_min's GET /, so that the two are compared
// on the same bytes; written out once, at compile time.
constexpr std::string_view response =
    "HTTP/1.1 200 OK\r\n"
    "Server: canned_http\r\n"
    "Content-Type: application/json\r\n"
    "Content-Length: 40\r\n"
    "\r\n"
    R"({"msg":"hey yourself","from":"http_min"})";
static_assert(response.size() - response.find("\r\n\r\n") - 4 == 40, "Content-Length is wrong");

// One read, and for anything read one write of the whole response. Returns false when the
// connection is over: end of stream, an error, or a short write. A fresh socket's send
// buffer holds hundreds of these responses, so a write that does not fit means a client
// that stopped reading; a floor does not buffer for it, it drops it.
bool answer(int fd) {
    std::array<char, 4096> request;  // bigger than any request a load generator sends
    const ssize_t got = ::read(fd, request.data(), request.size());
    if (got < 0) return errno == EAGAIN || errno == EINTR;  // nothing there after all: keep it
    if (got == 0) return false;                             // the client closed
    const ssize_t sent = ::write(fd, response.data(), response.size());
    return sent == static_cast<ssize_t>(response.size());
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS"});
        // A client that vanishes between our read and our write must not end us with SIGPIPE
        // (write() has no MSG_NOSIGNAL; the library's send calls do).
        std::signal(SIGPIPE, SIG_IGN);
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        set_nonblocking(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        Epoll epoll;
        epoll.add(stop.event_fd(), EPOLLIN);
        epoll.add(listener.native_handle(), EPOLLIN);

        // Out of descriptors, the rest stay queued in the backlog until a client leaves
        // (chapter 04's policy): a floor that pauses is better than one that spins.
        Acceptor acceptor;
        std::unordered_map<int, Socket> clients;
        std::array<epoll_event, 64> ready;
        // Level-triggered: a client still readable after its one read comes back next wait.
        while (!stop.requested()) {
            for (const epoll_event& event : epoll.wait(ready)) {
                const int fd = event.data.fd;
                if (fd == stop.event_fd()) break;  // the loop condition ends it
                if (fd == listener.native_handle()) {
                    while (auto connection = acceptor.accept(listener)) {
                        set_nonblocking(*connection);
                        const int client_fd = connection->native_handle();
                        clients.emplace(client_fd, std::move(*connection));
                        epoll.add(client_fd, EPOLLIN);
                    }
                    if (acceptor.paused()) epoll.modify(fd, 0);
                } else if (!answer(fd)) {
                    clients.erase(fd);  // closing removes it from the epoll set
                    if (acceptor.resume()) epoll.modify(listener.native_handle(), EPOLLIN);
                }
            }
        }
        // Unlike the echo servers, nothing is owed to the clients still connected: a stop
        // request ends the measurement, and closing their sockets is all they need.
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
