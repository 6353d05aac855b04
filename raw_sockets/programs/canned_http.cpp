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

void control(const Fd& epoll, int operation, int fd, std::uint32_t events) {
    epoll_event event{.events = events, .data = {.fd = fd}};
    if (::epoll_ctl(epoll.get(), operation, fd, &event) != 0) {
        throw_errno("epoll_ctl", "fd:" + std::to_string(fd));
    }
}

// Accepts every waiting client. Out of descriptors, it leaves the rest in the backlog and
// says so: a floor that fails loudly is better than one that quietly measures less.
void accept_all(const Socket& listener, const Fd& epoll, std::unordered_map<int, Socket>& clients) {
    try {
        while (auto connection = try_accept(listener)) {
            set_nonblocking(*connection);
            const int fd = connection->native_handle();
            clients.emplace(fd, std::move(*connection));
            control(epoll, EPOLL_CTL_ADD, fd, EPOLLIN);
        }
    } catch (const SocketError& error) {
        if (!out_of_descriptors(error)) throw;
        std::cerr << error.what() << ": some clients stay queued" << std::endl;
    }
}

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
        if (args.size() != 1) throw UsageError("expected one address");
        // A client that vanishes between our read and our write must not end us with SIGPIPE
        // (write() has no MSG_NOSIGNAL; the library's send calls do).
        std::signal(SIGPIPE, SIG_IGN);
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        set_nonblocking(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        const Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll) throw_errno("epoll_create1", listener.name());
        control(epoll, EPOLL_CTL_ADD, stop.event_fd(), EPOLLIN);
        control(epoll, EPOLL_CTL_ADD, listener.native_handle(), EPOLLIN);

        std::unordered_map<int, Socket> clients;
        std::array<epoll_event, 64> ready;
        // Level-triggered: a client still readable after its one read comes back next wait.
        while (!stop.requested()) {
            const int count = ::epoll_wait(epoll.get(), ready.data(), ready.size(), -1);
            if (count < 0) {
                if (errno == EINTR) continue;
                throw_errno("epoll_wait", listener.name());
            }
            for (const epoll_event& event :
                 std::span(ready).first(static_cast<std::size_t>(count))) {
                const int fd = event.data.fd;
                if (fd == stop.event_fd()) break;  // the loop condition ends it
                if (fd == listener.native_handle()) {
                    accept_all(listener, epoll, clients);
                } else if (!answer(fd)) {
                    clients.erase(fd);  // closing removes it from the epoll set
                }
            }
        }
        // Unlike the echo servers, nothing is owed to the clients still connected: a stop
        // request ends the measurement, and closing their sockets is all they need.
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
