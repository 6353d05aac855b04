// nagle_demo: a response written in two pieces, and what it costs over TCP.
//
// A client sends a small request and waits for the whole response; the server writes the
// response's head, then its body, in two send() calls: write, write, read. Over TCP,
// Nagle's algorithm (RFC 896) holds the body back while the head is not yet acknowledged,
// and the client delays its ACK (RFC 1122, 4.2.3.2; at least 40 ms on Linux) hoping to
// send it with data of its own, which it will not send before it has the body. So every
// request waits for the delayed-ACK timer. The ways out, each shown here:
//
//   nagle_demo tcp            two writes, Nagle on: about 40 ms a request
//   nagle_demo tcp nodelay    TCP_NODELAY: the body leaves at once
//   nagle_demo tcp more       the head sent with MSG_MORE: head and body leave together
//   nagle_demo tcp cork       TCP_CORK around both writes: the same, for any calls
//   nagle_demo tcp writev     head and body in one call: nothing to hold back
//   nagle_demo unix           a Unix socket: no Nagle, no ACKs, nothing waits
//
// It prints the median and the slowest of 20 requests on one connection. Chapter 03.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

constexpr int requests = 20;
constexpr std::string_view request = "GET / HTTP/1.1\r\n\r\n";
constexpr std::string_view head = "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\n";
constexpr std::string_view body = "hello\n";

void set_cork(const Socket& socket, int on) {
    if (::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_CORK, &on, sizeof on) != 0) {
        throw_errno("setsockopt(TCP_CORK)", socket.name());
    }
}

// One send() of a small piece, all of it (a few bytes always fit in an empty socket buffer).
void send_piece(const Socket& socket, std::string_view piece, int flags) {
    const ssize_t sent =
        ::send(socket.native_handle(), piece.data(), piece.size(), flags | MSG_NOSIGNAL);
    if (sent < 0) throw_errno("send", socket.name());
    if (static_cast<std::size_t>(sent) != piece.size()) throw std::runtime_error("short send");
}

// Answers `requests` requests, each with a head and a body written separately.
void serve(Socket& server, std::string_view way) {
    if (way == "nodelay") set_tcp_nodelay(server);
    std::string received(request.size(), '\0');
    for (int count = 0; count < requests; ++count) {
        if (!server.recv_exact(std::as_writable_bytes(std::span(received)))) return;
        if (way == "writev") {
            std::array<iovec, 2> pieces{{{const_cast<char*>(head.data()), head.size()},
                                         {const_cast<char*>(body.data()), body.size()}}};
            if (::writev(server.native_handle(), pieces.data(), 2) < 0) {
                throw_errno("writev", server.name());
            }
            continue;
        }
        //! [two-writes]
        if (way == "cork") set_cork(server, 1);  // hold everything until uncorked
        // MSG_MORE: "more follows", the head waits for the body (as TCP_CORK, for one call).
        send_piece(server, head, way == "more" ? MSG_MORE : 0);
        send_piece(server, body, 0);
        if (way == "cork") set_cork(server, 0);  // uncorking sends what was held
        //! [two-writes]
    }
}

// Both ends of a connection: {client, server}.
std::pair<Socket, Socket> connected_pair(std::string_view transport) {
    if (transport == "unix") return socket_pair(SOCK_STREAM);
    const Socket listener = listen_on(Address::parse("127.0.0.1:0"));
    Socket client = connect_to(local_address(listener));
    return {std::move(client), accept_connection(listener)};
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(
        argc, argv, "unix|tcp [two-writes|nodelay|more|cork|writev]", [](std::span<char*> args) {
            expect_leading_arguments(args, {"TRANSPORT"});
            const std::string_view transport = args[0];
            const std::string_view way = args.size() > 1 ? args[1] : "two-writes";
            if (transport != "unix" && transport != "tcp") {
                throw UsageError("unknown transport '" + std::string(transport) + "'");
            }
            if (way != "two-writes" && way != "nodelay" && way != "more" && way != "cork" &&
                way != "writev") {
                throw UsageError("unknown way '" + std::string(way) + "'");
            }
            if (transport == "unix" && way != "two-writes") {
                throw UsageError("a Unix socket has no Nagle to turn off: use two-writes");
            }
            expect_arguments(args.subspan(std::min<std::size_t>(args.size(), 2)), {});
            auto [client, server] = connected_pair(transport);
            std::thread serving([&server, way] { serve(server, way); });

            std::vector<double> milliseconds;
            std::string response(head.size() + body.size(), '\0');
            for (int count = 0; count < requests; ++count) {
                const auto started = std::chrono::steady_clock::now();
                client.send_all(request);
                if (!client.recv_exact(std::as_writable_bytes(std::span(response)))) break;
                const std::chrono::duration<double, std::milli> took =
                    std::chrono::steady_clock::now() - started;
                milliseconds.push_back(took.count());
            }
            client.close();
            serving.join();

            std::sort(milliseconds.begin(), milliseconds.end());
            char line[200];
            std::snprintf(
                line, sizeof line, "%s, %s: %zu requests, median %.3f ms, slowest %.3f ms",
                std::string(transport).c_str(), std::string(way).c_str(), milliseconds.size(),
                milliseconds[milliseconds.size() / 2], milliseconds.back());
            std::cout << line << std::endl;
            return 0;
        });
}
