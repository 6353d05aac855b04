// echo_epoll: the poll() server rewritten with epoll, Linux's scalable readiness API.
//
// Step 5 of chapter 04's progression; `diff` it with step 4, echo_poll.cpp. poll() hands
// the kernel the whole list on every call; epoll keeps it in the kernel, so each wait costs
// in proportion to the sockets that are ready, not to all of them.
//
//   echo_epoll unix:/tmp/echo.sock
#include <sys/epoll.h>

#include <array>
#include <iostream>
#include <map>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS"});
        const Address address = Address::parse(args[0]);
        StopSignals stop;                      // SIGINT/SIGTERM end the loop below
        Socket listener = listen_on(address);  // socket() + bind() + listen()
        SocketFileCleanup cleanup(listener);   // bind() made a file; remove it on the way out
        set_nonblocking(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        //! [loop]
        Acceptor acceptor;  // out of descriptors, it stops accepting until a client leaves
        std::map<int, EchoConnection> clients;  // by descriptor
        // What to wait for on a client now; it changes as its buffer fills and drains.
        const auto events = [](const EchoConnection& client) {
            return (client.wants_read() ? EPOLLIN | EPOLLRDHUP : 0u) |
                   (client.wants_write() ? EPOLLOUT : 0u);
        };
        Epoll epoll;  // the kernel keeps the list: add, modify and remove edit it
        epoll.add(stop.event_fd(), EPOLLIN);
        epoll.add(listener.native_handle(), EPOLLIN);
        std::array<epoll_event, 64> buffer;
        while (listener || !clients.empty()) {
            const auto ready = epoll.wait(buffer);  // only the ready ones; none after a signal
            for (const epoll_event& event : ready) {
                const int fd = event.data.fd;
                if (fd == stop.event_fd()) {
                    epoll.remove(fd);  // it stays readable
                    listener.close();  // stop: accept no more (closing removes it from epoll)
                } else if (listener && fd == listener.native_handle()) {
                    while (auto connection = acceptor.accept(listener)) {
                        set_nonblocking(*connection);
                        const int client_fd = connection->native_handle();
                        clients.emplace(client_fd, std::move(*connection));
                        epoll.add(client_fd, EPOLLIN | EPOLLRDHUP);  // a new client: read
                    }
                    if (acceptor.paused()) epoll.modify(fd, 0);  // it stays readable
                } else if (const auto found = clients.find(fd); found != clients.end()) {
                    // Hang-ups and errors arrive even when not asked for; reading reports them.
                    auto& client = found->second;
                    if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                        client.on_readable();
                    }
                    if (event.events & EPOLLOUT) client.on_writable();
                    if (client.finished()) {
                        clients.erase(found);  // closes the socket (and leaves the epoll set)
                        if (acceptor.resume() && listener)
                            epoll.modify(listener.native_handle(), EPOLLIN);
                    } else {
                        epoll.modify(fd, events(client));  // what it needs next
                    }
                }
                // Anything else is a socket closed earlier in this same turn: nothing to do.
            }
        }
        //! [loop]
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
