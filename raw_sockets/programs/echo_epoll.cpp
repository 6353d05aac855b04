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
                    while (auto connection = try_accept(listener)) {
                        set_nonblocking(*connection);
                        const int client_fd = connection->native_handle();
                        const auto& client =
                            clients.emplace(client_fd, EchoConnection(std::move(*connection)))
                                .first->second;
                        control(epoll, EPOLL_CTL_ADD, client_fd, interest(client));
                    }
                } else {
                    auto& client = clients.at(fd);
                    if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                        client.on_readable();
                    }
                    if (event.events & EPOLLOUT) client.on_writable();
                    if (client.finished()) {
                        clients.erase(fd);  // close() removes it from the epoll set
                    } else {
                        control(epoll, EPOLL_CTL_MOD, fd, interest(client));
                    }
                }
            }
        }
        //! [epoll-loop]
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
