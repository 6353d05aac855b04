// echo_poll: one thread serves every client, waiting on all of them with poll().
//
// Step 4 of chapter 04's progression. No process or thread per client: each connection is
// a non-blocking socket plus the bytes waiting to be echoed (EchoConnection), and poll()
// says which ones can make progress. The pollfd array is rebuilt on every turn from the
// connection table, which avoids the classic bugs of editing it in place (a skipped slot
// after a removal, stale revents, an off-by-one at the end).
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
        if (args.size() != 1) throw UsageError("expected one address");
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        set_nonblocking(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        std::map<int, EchoConnection> clients;  // by descriptor
        bool paused = false;                    // not accepting: out of descriptors
        //! [poll-loop]
        while (listener || !clients.empty()) {
            std::vector<pollfd> watched;
            // Once stopping, the stop pipe stays readable: leave it out (fd -1 is skipped).
            watched.push_back(
                {.fd = listener ? stop.event_fd() : -1, .events = POLLIN, .revents = 0});
            // While out of descriptors, leave the listener out too (see below).
            watched.push_back(
                {.fd = paused ? -1 : listener.native_handle(), .events = POLLIN, .revents = 0});
            for (const auto& [fd, client] : clients) {
                const short events = static_cast<short>((client.wants_read() ? POLLIN : 0) |
                                                        (client.wants_write() ? POLLOUT : 0));
                watched.push_back({.fd = fd, .events = events, .revents = 0});
            }
            // A negative fd (the listener, once closed) is skipped by poll().
            if (::poll(watched.data(), watched.size(), -1) < 0) {
                if (errno == EINTR) continue;
                throw_errno("poll", listener.name());
            }
            if (watched[0].revents != 0 && listener) listener.close();  // stop: accept no more
            if (watched[1].revents != 0 && listener) {
                try {
                    while (auto connection = try_accept(listener)) {
                        set_nonblocking(*connection);
                        const int fd = connection->native_handle();
                        clients.emplace(fd, EchoConnection(std::move(*connection)));
                    }
                } catch (const SocketError& error) {
                    // Out of descriptors: a readable listener we cannot accept from would
                    // make poll() return at once, forever. Ignore it until a client leaves;
                    // the waiting clients stay queued in the backlog.
                    if (!out_of_descriptors(error)) throw;
                    std::cerr << error.what() << ": not accepting until a client leaves"
                              << std::endl;
                    paused = true;
                }
            }
            for (auto it = watched.begin() + 2; it != watched.end(); ++it) {
                // POLLHUP and POLLERR arrive even when not asked for; reading reports them.
                auto& client = clients.at(it->fd);
                if (it->revents & (POLLIN | POLLHUP | POLLERR)) client.on_readable();
                if (it->revents & POLLOUT) client.on_writable();
                if (client.finished()) {
                    clients.erase(it->fd);  // closes the socket
                    paused = false;         // a descriptor is free again
                }
            }
        }
        //! [poll-loop]
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
