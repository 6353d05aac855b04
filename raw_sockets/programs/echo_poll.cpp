// echo_poll: one thread serves every client, waiting on all of them with poll().
//
// Step 4 of chapter 04's progression; `diff` it with step 3, echo_threads.cpp. No process
// or thread per client: each client is a non-blocking socket plus the bytes waiting to be
// echoed (EchoConnection), and poll() says which ones can make progress.
//
//   echo_poll unix:/tmp/echo.sock
#include <poll.h>

#include <cerrno>
#include <iostream>
#include <map>
#include <vector>

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
            return static_cast<short>((client.wants_read() ? POLLIN : 0) |
                                      (client.wants_write() ? POLLOUT : 0));
        };
        while (listener || !clients.empty()) {
            // Rebuilt on every turn: editing it in place invites a skipped slot after a
            // removal, or stale revents. poll() skips fd -1: the stop pipe once stopping (it
            // stays readable), the listener once closed or while paused (it stays readable).
            std::vector<pollfd> ready{
                {.fd = listener ? stop.event_fd() : -1, .events = POLLIN, .revents = 0},
                {.fd = acceptor.paused() ? -1 : listener.native_handle(),
                 .events = POLLIN,
                 .revents = 0}};
            for (const auto& [fd, client] : clients) {
                ready.push_back({.fd = fd, .events = events(client), .revents = 0});
            }
            if (::poll(ready.data(), ready.size(), -1) < 0 && errno != EINTR) {
                throw_errno("poll", listener.name());
            }
            for (const pollfd& event : ready) {
                const int fd = event.fd;
                if (event.revents == 0) continue;
                if (fd == stop.event_fd()) {
                    listener.close();  // stop: accept no more
                } else if (listener && fd == listener.native_handle()) {
                    while (auto connection = acceptor.accept(listener)) {
                        set_nonblocking(*connection);
                        const int client_fd = connection->native_handle();
                        clients.emplace(client_fd, std::move(*connection));
                    }
                } else if (const auto found = clients.find(fd); found != clients.end()) {
                    // Hang-ups and errors arrive even when not asked for; reading reports them.
                    auto& client = found->second;
                    if (event.revents & (POLLIN | POLLHUP | POLLERR)) client.on_readable();
                    if (event.revents & POLLOUT) client.on_writable();
                    if (client.finished()) {
                        clients.erase(found);  // closes the socket
                        acceptor.resume();     // a descriptor is free again
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
