// sigpipe_demo: write to a socket whose reader has gone, over a Unix socket or over TCP.
//
// With a plain send(), the kernel raises SIGPIPE and its default action ends the process
// on the spot: the shell reports exit status 141 (128 + 13). With MSG_NOSIGNAL, as
// Socket::send_all uses, the same write fails with EPIPE and the program carries on and
// can report it. Chapter 03.
//
// When the failure comes depends on the transport. A Unix socket's peer is in the same
// kernel, which knows at once that it is gone: the first send fails. A TCP peer's close()
// only sends FIN ("I send no more"), which a peer that merely shut down its writing would
// send too, so the first send is accepted; the peer's kernel answers it with RST, and the
// send after that fails.
//
//   sigpipe_demo [unix]            (killed by SIGPIPE on the first send)
//   sigpipe_demo tcp               (the first send is accepted; the second kills it)
//   sigpipe_demo --nosignal [unix|tcp]   (prints the EPIPE error and exits 0)
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string_view>
#include <utility>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// A connected pair {writer, reader}: a socketpair, or both ends of a loopback TCP connection.
std::pair<Socket, Socket> connected_pair(std::string_view transport) {
    if (transport == "unix") return socket_pair(SOCK_STREAM);
    const Socket listener = listen_on(Address::parse("127.0.0.1:0"));
    Socket writer = connect_to(local_address(listener));
    Socket reader = accept_connection(listener);
    return {std::move(writer), std::move(reader)};
}

// Waits (at most a second) until poll() reports one of `events` on the socket: the
// reader's FIN (POLLRDHUP), or its RST (POLLERR, reported even when not asked for).
void wait_for(const Socket& socket, short events) {
    pollfd watched{.fd = socket.native_handle(), .events = events, .revents = 0};
    ::poll(&watched, 1, 1000);
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "[--nosignal] [unix|tcp]", [](std::span<char*> args) {
        const bool nosignal = !args.empty() && std::string_view(args[0]) == "--nosignal";
        args = args.subspan(nosignal ? 1 : 0);
        const std::string_view transport = args.empty() ? "unix" : std::string_view(args[0]);
        if (transport != "unix" && transport != "tcp") {
            throw UsageError("unknown transport '" + std::string(transport) + "'");
        }
        expect_arguments(args.subspan(args.empty() ? 0 : 1), {});  // nothing else
        auto [writer, reader] = connected_pair(transport);
        reader.close();
        wait_for(writer, POLLRDHUP);  // the close has reached the writer's side
        std::cout << transport << ": the reader has closed; sending with "
                  << (nosignal ? "MSG_NOSIGNAL" : "plain send()") << std::endl;
        for (int attempt = 1; attempt <= 10; ++attempt) {
            //! [sigpipe]
            const int flags = nosignal ? MSG_NOSIGNAL : 0;
            if (::send(writer.native_handle(), "x", 1, flags) < 0) {
                std::cout << "send " << attempt << " failed with " << errno_name(errno) << " ("
                          << std::strerror(errno) << "); the process is still alive" << std::endl;
                return 0;
            }
            //! [sigpipe]
            std::cout << "send " << attempt << " accepted 1 byte: a FIN says only that the "
                      << "peer sends no more" << std::endl;
            wait_for(writer, 0);  // the peer's answer to that byte: RST
        }
        std::cout << "ten sends accepted: no reset came back" << std::endl;
        return 1;
    });
}
