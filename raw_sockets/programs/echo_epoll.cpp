// echo_epoll: the poll() server rewritten with epoll, Linux's scalable readiness API.
//
// Step 5 of chapter 04's progression. poll() hands the kernel the whole list on every call;
// epoll keeps the interest list in the kernel, so each wait costs in proportion to the
// sockets that are ready, not to all of them. The per-connection logic (EchoConnection) is
// the same as echo_poll's. EPOLLRDHUP reports a peer that shut down its sending side.
//
//   echo_epoll unix:/tmp/echo.sock
#include <sys/epoll.h>

#include <array>
#include <cerrno>
#include <iostream>
#include <map>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// The events a connection needs now; changes as its buffer fills and drains.
std::uint32_t interest(const EchoConnection& client) {
    return (client.wants_read() ? EPOLLIN | EPOLLRDHUP : 0u) |
           (client.wants_write() ? EPOLLOUT : 0u);
}

void control(const Fd& epoll, int operation, int fd, std::uint32_t events) {
    epoll_event event{.events = events, .data = {.fd = fd}};
    if (::epoll_ctl(epoll.get(), operation, fd, &event) != 0) {
        throw_errno("epoll_ctl", "fd:" + std::to_string(fd));
    }
}

// Accepts every waiting client into `clients`. Returns false if it ran out of descriptors
// (EMFILE, ENFILE), which leaves the remaining clients queued.
bool accept_all(const Socket& listener, const Fd& epoll, std::map<int, EchoConnection>& clients) {
    try {
        while (auto connection = try_accept(listener)) {
            set_nonblocking(*connection);
            const int fd = connection->native_handle();
            const auto& client =
                clients.emplace(fd, EchoConnection(std::move(*connection))).first->second;
            control(epoll, EPOLL_CTL_ADD, fd, interest(client));
        }
    } catch (const SocketError& error) {
        if (!out_of_descriptors(error)) throw;
        std::cerr << error.what() << ": not accepting until a client leaves" << std::endl;
        return false;
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        if (args.size() != 1) throw UsageError("expected one address");
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        set_nonblocking(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        const Fd epoll(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll) throw_errno("epoll_create1", listener.name());
        control(epoll, EPOLL_CTL_ADD, stop.event_fd(), EPOLLIN);
        control(epoll, EPOLL_CTL_ADD, listener.native_handle(), EPOLLIN);

        std::map<int, EchoConnection> clients;
        std::array<epoll_event, 64> ready;
        bool paused = false;  // not accepting: out of descriptors
        //! [epoll-loop]
        while (listener || !clients.empty()) {
            const int count = ::epoll_wait(epoll.get(), ready.data(), ready.size(), -1);
            if (count < 0) {
                if (errno == EINTR) continue;
                throw_errno("epoll_wait", listener.name());
            }
            for (const epoll_event& event : std::span(ready).first(count)) {
                const int fd = event.data.fd;
                if (fd == stop.event_fd()) {
                    control(epoll, EPOLL_CTL_DEL, fd, 0);
                    listener.close();  // closing also removes it from the epoll set
                } else if (listener && fd == listener.native_handle()) {
                    if (!accept_all(listener, epoll, clients)) {
                        // Out of descriptors: the listener would stay readable and the loop
                        // spin. Stop watching it until a client leaves; the rest wait in
                        // the backlog.
                        control(epoll, EPOLL_CTL_MOD, fd, 0);
                        paused = true;
                    }
                } else if (const auto found = clients.find(fd); found != clients.end()) {
                    auto& client = found->second;
                    if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                        client.on_readable();
                    }
                    if (event.events & EPOLLOUT) client.on_writable();
                    if (client.finished()) {
                        clients.erase(found);  // close() removes it from the epoll set
                        if (paused && listener) {
                            control(epoll, EPOLL_CTL_MOD, listener.native_handle(), EPOLLIN);
                            paused = false;
                        }
                    } else {
                        control(epoll, EPOLL_CTL_MOD, fd, interest(client));
                    }
                }
                // Anything else is an event for a socket closed earlier in this same batch
                // (the listener after a stop request): nothing to do.
            }
        }
        //! [epoll-loop]
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
