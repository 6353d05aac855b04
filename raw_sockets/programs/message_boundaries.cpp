// message_boundaries: three sends, then read what arrived, for each Unix socket type and
// for TCP.
//
// SOCK_STREAM hands back bytes with no memory of how they were sent, so the three messages
// come out merged, over a Unix socket and over TCP alike; SOCK_SEQPACKET and SOCK_DGRAM
// deliver one message per read. Then one large send over a stream, which the reader
// receives in several pieces. Chapter 03.
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <iostream>
#include <string>
#include <thread>
#include <utility>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// Both ends of a loopback TCP connection: {writer, reader}.
std::pair<Socket, Socket> tcp_pair() {
    const Socket listener = listen_on(Address::parse("127.0.0.1:0"));
    Socket writer = connect_to(local_address(listener));
    return {std::move(writer), accept_connection(listener)};
}

// Waits (at most 5 s) until `count` bytes wait in the reader. A Unix socket has them once
// send() returns; TCP's segments cross the loopback device, and Nagle's algorithm may hold
// the later ones until the first is acknowledged.
void wait_until_arrived(const Socket& reader, int count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int unread = 0;
    while (::ioctl(reader.native_handle(), FIONREAD, &unread) == 0 && unread < count &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

// `type` is a Unix socket type, or 0 for TCP.
void show_reads(const char* label, int type) {
    auto [writer, reader] = type == 0 ? tcp_pair() : socket_pair(type);
    for (const char* message : {"one", "two", "three"}) writer.send_all(message);
    std::cout << label << ": sent \"one\", \"two\", \"three\"\n";
    if (type == 0) wait_until_arrived(reader, 11);
    std::array<char, 64> buffer;
    for (int read = 1;; ++read) {
        // MSG_DONTWAIT: everything was sent already, so stop when nothing is left.
        const ssize_t n =
            ::recv(reader.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (n < 0 && errno == EAGAIN) break;
        if (n < 0) throw_errno("recv", reader.name());
        std::cout << "  read " << read << ": \""
                  << std::string(buffer.data(), static_cast<std::size_t>(n)) << "\"\n";
    }
}

void show_split(std::size_t size) {
    auto [writer, reader] = socket_pair(SOCK_STREAM);
    const std::string big(size, 'x');
    // The kernel buffers only so much: the writer blocks until the reader makes room.
    std::thread sender([&writer, &big] { writer.send_all(big); });
    std::string buffer(size, '\0');
    std::size_t total = 0;
    int reads = 0;
    while (total < size) {
        total += reader.recv_some(std::as_writable_bytes(std::span(buffer)).subspan(total));
        ++reads;
    }
    sender.join();
    std::cout << "stream: one send of " << size << " bytes arrived in " << reads << " reads\n";
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "", [](std::span<char*> args) {
        expect_arguments(args, {});
        show_reads("SOCK_STREAM", SOCK_STREAM);
        show_reads("TCP", 0);
        show_reads("SOCK_SEQPACKET", SOCK_SEQPACKET);
        show_reads("SOCK_DGRAM", SOCK_DGRAM);
        show_split(4 << 20);
        return 0;
    });
}
