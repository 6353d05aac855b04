// Chapter 03: a stream has no message boundaries. What a stream does to writes, what
// SOCK_SEQPACKET and SOCK_DGRAM do instead, the loops that make short writes and reads (and
// signals) harmless, half-close, EPIPE and SIGPIPE over each transport, and the two ways to
// frame messages on a stream: lines, and length prefixes (the chapter's exercise).
#include <linux/sockios.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using namespace std::string_literals;
using raw_sockets::Address;
using raw_sockets::ProtocolError;
using raw_sockets::Socket;
using raw_sockets::SocketError;
using test_support::contains;
using test_support::TempDir;
using test_support::thrown;
using test_support::Watch;

constexpr std::size_t MiB = 1024 * 1024;

// One recv_some() into a buffer of `capacity` bytes, as text.
std::string recv_text(Socket& socket, std::size_t capacity = 64 * 1024) {
    std::vector<std::byte> buffer(capacity);
    const std::size_t count = socket.recv_some(buffer);
    return std::string(reinterpret_cast<const char*>(buffer.data()), count);
}

std::string as_text(std::span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A safety net, not a wait: a test whose claim is "this returns at once" fails with EAGAIN
// after `seconds` instead of hanging when the library is broken.
void give_up_receiving_after(const Socket& socket, int seconds) {
    const timeval limit{.tv_sec = seconds, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit),
              0);
}

void give_up_sending_after(const Socket& socket, int seconds) {
    const timeval limit{.tv_sec = seconds, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit),
              0);
}

// Runs `send` on `writer` in another thread, then closes `writer` (however `send` ended), so
// the reader always reaches the end of the stream. Declare the future before the reading
// socket: if the test body throws, the reader closes first and a blocked sender gets EPIPE.
std::future<void> send_in_background(Socket writer, std::function<void(Socket&)> send) {
    return std::async(std::launch::async,
                      [writer = std::move(writer), send = std::move(send)]() mutable {
                          Socket mine = std::move(writer);
                          send(mine);
                      });
}

// Half-closes a socket when it goes out of scope, so that a reader in another thread sees
// the end of the stream even when the sending code threw.
class EndsStreamOnExit {
  public:
    explicit EndsStreamOnExit(const Socket& socket) : socket_(socket) {}
    ~EndsStreamOnExit() { ::shutdown(socket_.native_handle(), SHUT_WR); }
    EndsStreamOnExit(const EndsStreamOnExit&) = delete;
    EndsStreamOnExit& operator=(const EndsStreamOnExit&) = delete;

  private:
    const Socket& socket_;
};

// Sends `pieces` one at a time, each only once the watched thread sleeps in recv() and has
// taken everything sent before, so that each piece arrives in a read of its own. Returns how
// many were sent before the reader stopped reading.
int send_piece_by_piece(const Watch& watch, Socket& writer,
                        const std::vector<std::string>& pieces) {
    int sent = 0;
    for (const std::string& piece : pieces) {
        if (!watch.wait_until_blocked_in(SYS_recvfrom)) break;
        writer.send_all(piece);
        ++sent;
        // On a Unix stream socket SIOCOUTQ counts the bytes the peer has not read yet.
        const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
        int unread = 1;
        while (::ioctl(writer.native_handle(), SIOCOUTQ, &unread) == 0 && unread > 0 &&
               !watch.watched_finished() && std::chrono::steady_clock::now() < deadline) {
            std::this_thread::yield();
        }
    }
    return sent;
}

// Fills the socket's send buffer without blocking; returns what it sent.
std::string fill_send_buffer(const Socket& socket) {
    const std::string chunk = test_support::patterned_data(4096);
    std::string sent;
    for (;;) {
        const ssize_t count =
            ::send(socket.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (count < 0) break;  // EAGAIN: full
        sent.append(chunk, 0, static_cast<std::size_t>(count));
    }
    return sent;
}

// Both ends of one TCP connection over loopback: {writer (the client), reader (accepted)}.
std::pair<Socket, Socket> tcp_connection() {
    const Socket listener = raw_sockets::listen_on(Address::parse("127.0.0.1:0"));
    Socket writer = raw_sockets::connect_to(raw_sockets::local_address(listener));
    Socket reader = raw_sockets::accept_connection(listener);
    return {std::move(writer), std::move(reader)};
}

// Waits at most 5 s until poll() reports one of `wanted` on `socket` (asking for `wanted`:
// POLLERR and POLLHUP are reported even when not asked for). True when it did.
bool wait_for_events(const Socket& socket, short wanted) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd watched{.fd = socket.native_handle(), .events = wanted, .revents = 0};
        if (::poll(&watched, 1, 100) == 1 && (watched.revents & wanted) != 0) return true;
    }
    return false;
}

// Waits at most 5 s until `count` bytes wait unread in `socket` (FIONREAD). True when they do.
bool wait_until_readable_bytes(const Socket& socket, int count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    int unread = 0;
    while (std::chrono::steady_clock::now() < deadline) {
        if (::ioctl(socket.native_handle(), FIONREAD, &unread) != 0) return false;
        if (unread >= count) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return false;
}

// ---- what a stream does to messages --------------------------------------------------------

//! [merges-separate-writes]
TEST(Stream, MergesSeparateWrites) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("one");
    writer.send_all("two");
    writer.send_all("three");
    EXPECT_EQ(recv_text(reader), "onetwothree");
}
//! [merges-separate-writes]

TEST(Stream, MergesSeparateWritesOverTcp) {
    // Nagle's algorithm or not, the segments are separate on the wire; once all have
    // arrived, one read takes them all.
    for (const bool nodelay : {false, true}) {
        SCOPED_TRACE(nodelay ? "TCP_NODELAY on" : "TCP_NODELAY off (Nagle)");
        auto [writer, reader] = tcp_connection();
        if (nodelay) raw_sockets::set_tcp_nodelay(writer);
        writer.send_all("one");
        writer.send_all("two");
        writer.send_all("three");
        ASSERT_TRUE(wait_until_readable_bytes(reader, 11)) << "the writes did not all arrive";
        EXPECT_EQ(recv_text(reader), "onetwothree");
    }
}

// One 4 MiB send on `writer` (from another thread), read back with a 4 MiB buffer: the
// reader gets it in several pieces, each no more than had arrived.
void expect_a_large_write_split(Socket writer, Socket& reader) {
    const std::string data = test_support::patterned_data(4 * MiB);
    std::future<void> sending = send_in_background(std::move(writer), [&data](Socket& socket) {
        socket.send_all(data);  // one call, one "message"
    });
    std::vector<std::byte> buffer(4 * MiB);
    std::string received;
    int reads = 0;
    std::size_t smallest = std::numeric_limits<std::size_t>::max();
    while (const std::size_t count = reader.recv_some(buffer)) {
        ++reads;
        smallest = std::min(smallest, count);
        received += as_text(std::span(buffer).first(count));
    }
    sending.get();
    EXPECT_GT(reads, 1);
    EXPECT_LT(smallest, data.size()) << "a buffer big enough for all of it got less";
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
}

TEST(Stream, SplitsALargeWrite) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    expect_a_large_write_split(std::move(writer), reader);
}

TEST(Stream, SplitsALargeWriteOverTcp) {
    auto [writer, reader] = tcp_connection();
    expect_a_large_write_split(std::move(writer), reader);
}

// Sends three messages on a connected pair of `type` and reads them back one read each.
void expect_one_message_per_read(Socket& writer, Socket& reader) {
    writer.send_all("one");
    writer.send_all("two");
    writer.send_all("three");
    EXPECT_EQ(recv_text(reader), "one");
    EXPECT_EQ(recv_text(reader), "two");
    EXPECT_EQ(recv_text(reader), "three");
}

TEST(SeqPacket, KeepsMessageBoundaries) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_SEQPACKET);
    expect_one_message_per_read(writer, reader);
}

TEST(Datagram, KeepsMessageBoundaries) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_DGRAM);
    expect_one_message_per_read(writer, reader);
}

// A read smaller than the message takes its start; the rest is discarded, not kept.
void expect_short_read_loses_the_rest(Socket& writer, Socket& reader) {
    writer.send_all("hello");
    writer.send_all("world");
    EXPECT_EQ(recv_text(reader, 3), "hel");
    EXPECT_EQ(recv_text(reader), "world");
}

// Whether this kernel has SCTP, the one protocol that offers SOCK_SEQPACKET in AF_INET
// (built in, or the sctp module loaded): /proc/net/protocols lists it then.
bool kernel_has_sctp() {
    std::ifstream protocols("/proc/net/protocols");
    std::string line;
    while (std::getline(protocols, line)) {
        if (line.starts_with("SCTP ")) return true;
    }
    return false;
}

TEST(SeqPacket, IsNotAvailableOverTcp) {
    // TCP is a byte stream and nothing else: asking it for sequenced packets is refused.
    // Without SCTP no AF_INET protocol has the type (ESOCKTNOSUPPORT); with SCTP the type
    // exists, but not with TCP (EPROTONOSUPPORT).
    const raw_sockets::Fd tcp(::socket(AF_INET, SOCK_SEQPACKET, IPPROTO_TCP));
    const int error = errno;
    EXPECT_FALSE(tcp);
    const bool sctp = kernel_has_sctp();
    EXPECT_EQ(error, sctp ? EPROTONOSUPPORT : ESOCKTNOSUPPORT)
        << raw_sockets::errno_name(error) << (sctp ? " (SCTP present)" : " (no SCTP)");
}

TEST(SeqPacket, InAfInetBelongsToSctp) {
    // Protocol 0 means "the default protocol of this type": SCTP's, when the kernel has it.
    const raw_sockets::Fd any(::socket(AF_INET, SOCK_SEQPACKET, 0));
    const int error = errno;
    if (kernel_has_sctp()) {
        ASSERT_TRUE(any) << raw_sockets::errno_name(error);
        int protocol = 0;
        socklen_t length = sizeof protocol;
        ASSERT_EQ(::getsockopt(any.get(), SOL_SOCKET, SO_PROTOCOL, &protocol, &length), 0);
        EXPECT_EQ(protocol, IPPROTO_SCTP);
    } else {
        EXPECT_FALSE(any);
        EXPECT_EQ(error, ESOCKTNOSUPPORT) << raw_sockets::errno_name(error) << " (no SCTP)";
    }
}

TEST(SeqPacket, ShortBufferLosesTheRestOfTheMessage) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_SEQPACKET);
    expect_short_read_loses_the_rest(writer, reader);
}

TEST(Datagram, ShortBufferLosesTheRestOfTheMessage) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_DGRAM);
    expect_short_read_loses_the_rest(writer, reader);
}

TEST(SeqPacket, WorksThroughAListenerToo) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("seq"));
    const Socket listener = raw_sockets::listen_on(address, {.type = SOCK_SEQPACKET});
    Socket client = raw_sockets::connect_to(address, SOCK_SEQPACKET);
    Socket server = raw_sockets::accept_connection(listener);
    expect_one_message_per_read(client, server);
}

TEST(Datagram, ListenOnBindsWithoutListening) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("dgram"));
    Socket server = raw_sockets::listen_on(address, {.type = SOCK_DGRAM});
    int listening = 1;
    socklen_t length = sizeof listening;
    ASSERT_EQ(::getsockopt(server.native_handle(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &length),
              0);
    EXPECT_EQ(listening, 0);
    Socket client = raw_sockets::connect_to(address, SOCK_DGRAM);
    expect_one_message_per_read(client, server);
}

// ---- short writes, short reads, EINTR ------------------------------------------------------

TEST(SendSome, ReturnsAShortCountWhenInterrupted) {
    const std::string data = test_support::patterned_data(4 * MiB);
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    std::size_t sent = 0;
    std::string received;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            const EndsStreamOnExit end(writer);
            sent = writer.send_some(raw_sockets::as_bytes(data));
        },
        [&](Watch& watch) {
            // The send blocks once the socket buffer is full; a signal then ends it early.
            if (watch.wait_until_blocked_in(SYS_sendto)) watch.interrupt();
            interruptions = watch.interruptions();
            received = test_support::receive_all(reader);
        });
    EXPECT_EQ(interruptions, 1);
    EXPECT_GT(sent, 0u);
    EXPECT_LT(sent, data.size());
    EXPECT_TRUE(received == data.substr(0, sent));
}

TEST(SendSome, NonBlockingTakesOnlyWhatFits) {
    // A blocking send() would wait for room; MSG_DONTWAIT (or O_NONBLOCK) takes what fits.
    const std::string data = test_support::patterned_data(4 * MiB);
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    const ssize_t sent = ::send(writer.native_handle(), data.data(), data.size(), MSG_DONTWAIT);
    EXPECT_GT(sent, 0);
    EXPECT_LT(sent, static_cast<ssize_t>(data.size()));
}

TEST(SendAll, SendsEverythingDespiteShortWrites) {
    const std::string data = test_support::patterned_data(4 * MiB);
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    std::string received;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            const EndsStreamOnExit end(writer);
            writer.send_all(data);
        },
        [&](Watch& watch) {
            // Interrupting the blocked send() makes it return a short count (see
            // SendSome.ReturnsAShortCountWhenInterrupted); send_all must send the rest.
            if (watch.wait_until_blocked_in(SYS_sendto)) watch.interrupt();
            interruptions = watch.interruptions();
            received = test_support::receive_all(reader);
        });
    EXPECT_EQ(interruptions, 1);
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data);
}

TEST(SendSome, RetriesEINTR) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    const std::string queued = fill_send_buffer(writer);
    std::string received;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            const EndsStreamOnExit end(writer);
            writer.send_all("tail");  // blocks before sending a byte: the buffer is full
        },
        [&](Watch& watch) {
            for (int i = 0; i < 3 && watch.wait_until_blocked_in(SYS_sendto); ++i) {
                watch.interrupt();
            }
            interruptions = watch.interruptions();
            received = test_support::receive_all(reader);
        });
    EXPECT_EQ(interruptions, 3);
    EXPECT_TRUE(received == queued + "tail");
}

TEST(RecvExact, FillsTheBufferAcrossShortReads) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    std::array<std::byte, 8> buffer{};
    bool complete = false;
    int pieces = 0;
    test_support::watch_blocking_calls(
        [&] { complete = reader.recv_exact(buffer); },
        [&](Watch& watch) {
            pieces = send_piece_by_piece(watch, writer, {"a", "b", "c", "d", "e", "f", "g", "h"});
        });
    EXPECT_TRUE(complete);
    EXPECT_EQ(pieces, 8);
    EXPECT_EQ(as_text(buffer), "abcdefgh");
}

TEST(RecvExact, ReturnsFalseOnCleanEnd) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("12345678");
    writer.close();
    std::array<std::byte, 8> buffer{};
    EXPECT_TRUE(reader.recv_exact(buffer));
    EXPECT_EQ(as_text(buffer), "12345678");
    EXPECT_FALSE(reader.recv_exact(buffer));  // between messages: not an error
}

TEST(RecvExact, ThrowsWhenPeerClosesMidMessage) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("abc");
    writer.close();
    std::array<std::byte, 8> buffer{};
    const auto error = thrown<ProtocolError>([&] { reader.recv_exact(buffer); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "recv(pair:1): peer closed after 3 of 8 bytes"));
}

TEST(RecvExact, RetriesEINTR) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    std::array<std::byte, 8> buffer{};
    bool complete = false;
    int interruptions = 0;
    test_support::watch_blocking_calls([&] { complete = reader.recv_exact(buffer); },
                                       [&](Watch& watch) {
                                           for (int i = 0; i < 3; ++i) {
                                               if (!watch.wait_until_blocked_in(SYS_recvfrom)) {
                                                   break;
                                               }
                                               watch.interrupt();
                                           }
                                           interruptions = watch.interruptions();
                                           writer.send_all("12345678");
                                       });
    EXPECT_EQ(interruptions, 3) << "recv() was not seen blocking three times";
    EXPECT_TRUE(complete);
    EXPECT_EQ(as_text(buffer), "12345678");
}

TEST(SocketIo, ErrorsNameTheSocket) {
    Socket closed(raw_sockets::Fd(), "nowhere");
    std::array<std::byte, 4> buffer{};
    const auto recv_error = thrown<SocketError>([&] { closed.recv_some(buffer); });
    ASSERT_TRUE(recv_error);
    EXPECT_STREQ(recv_error->what(), "recv(nowhere): EBADF (Bad file descriptor)");
    const auto send_error = thrown<SocketError>([&] { closed.send_all("x"); });
    ASSERT_TRUE(send_error);
    EXPECT_STREQ(send_error->what(), "send(nowhere): EBADF (Bad file descriptor)");
}

// ---- the end of a stream -------------------------------------------------------------------

// Counts SIGPIPE (and makes sure it is not blocked) for as long as it lives.
class SigpipeCounter {
  public:
    SigpipeCounter() {
        count_ = 0;
        struct sigaction action {};
        action.sa_handler = [](int) { count_.fetch_add(1); };
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGPIPE, &action, &previous_);
        sigset_t pipe;
        sigemptyset(&pipe);
        sigaddset(&pipe, SIGPIPE);
        ::pthread_sigmask(SIG_UNBLOCK, &pipe, &previous_mask_);
    }
    ~SigpipeCounter() {
        ::pthread_sigmask(SIG_SETMASK, &previous_mask_, nullptr);
        ::sigaction(SIGPIPE, &previous_, nullptr);
    }
    SigpipeCounter(const SigpipeCounter&) = delete;
    SigpipeCounter& operator=(const SigpipeCounter&) = delete;
    int count() const { return count_.load(); }

  private:
    static inline std::atomic<int> count_{0};
    struct sigaction previous_ {};
    sigset_t previous_mask_{};
};

TEST(SendAll, ClosedPeerGivesEPIPEInsteadOfSIGPIPE) {
    // A counting handler instead of the default action (which would end this process), so
    // that a SIGPIPE shows up as a failed expectation whatever disposition we inherited.
    const SigpipeCounter sigpipes;
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    reader.close();
    const auto error = thrown<SocketError>([&] { writer.send_all("anyone there?"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EPIPE);
    EXPECT_TRUE(contains(error->what(), "send(pair:0): EPIPE"));
    EXPECT_EQ(sigpipes.count(), 0);
}

// One byte with send() and `flags`: its result, and errno when it failed.
std::pair<ssize_t, int> send_one_byte(const Socket& socket, int flags) {
    const ssize_t result = ::send(socket.native_handle(), "x", 1, flags);
    return {result, result < 0 ? errno : 0};
}

TEST(Sigpipe, UnixStreamRaisesItOnTheFirstSendToAClosedPeer) {
    const SigpipeCounter sigpipes;
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    reader.close();  // the kernel knows at once: the peer is in the same kernel, and gone
    const auto [result, error] = send_one_byte(writer, 0);
    EXPECT_EQ(result, -1);
    EXPECT_EQ(error, EPIPE) << raw_sockets::errno_name(error);
    EXPECT_EQ(sigpipes.count(), 1);
}

TEST(Sigpipe, TcpAcceptsTheFirstSendAndRaisesItOnALaterOne) {
    const SigpipeCounter sigpipes;
    auto [writer, reader] = tcp_connection();
    reader.close();  // nothing unread: the peer sends FIN, which only says "I send no more"
    ASSERT_TRUE(wait_for_events(writer, POLLRDHUP)) << "the FIN did not arrive";
    // The peer may only have shut down its writing: TCP must let us send.
    const auto [first, first_error] = send_one_byte(writer, 0);
    EXPECT_EQ(first, 1) << raw_sockets::errno_name(first_error);
    EXPECT_EQ(sigpipes.count(), 0);
    // The closed peer answers that byte with RST; a send after the RST has arrived fails.
    int attempts = 1;
    int error = 0;
    for (; attempts < 50 && error == 0; ++attempts) {
        wait_for_events(writer, POLLERR);  // the RST: at most 5 s
        error = send_one_byte(writer, 0).second;
    }
    EXPECT_EQ(error, EPIPE) << raw_sockets::errno_name(error) << " after " << attempts << " sends";
    EXPECT_EQ(sigpipes.count(), 1);
}

TEST(Sigpipe, TcpPeerThatClosedWithUnreadDataResetsAtOnce) {
    // close() with unread data sends RST instead of FIN (RFC 2525, 2.17). The first send
    // then reports the reset (ECONNRESET, no signal); the ones after it, EPIPE and SIGPIPE.
    const SigpipeCounter sigpipes;
    auto [writer, reader] = tcp_connection();
    writer.send_all("never read");
    ASSERT_TRUE(wait_until_readable_bytes(reader, 10));
    reader.close();
    ASSERT_TRUE(wait_for_events(writer, POLLERR)) << "the RST did not arrive";
    const auto [first, first_error] = send_one_byte(writer, 0);
    EXPECT_EQ(first, -1);
    EXPECT_EQ(first_error, ECONNRESET) << raw_sockets::errno_name(first_error);
    EXPECT_EQ(sigpipes.count(), 0);
    const auto [second, second_error] = send_one_byte(writer, 0);
    EXPECT_EQ(second, -1);
    EXPECT_EQ(second_error, EPIPE) << raw_sockets::errno_name(second_error);
    EXPECT_EQ(sigpipes.count(), 1);
}

// A closed peer, for each transport, with the error already known to the kernel: over TCP,
// a first byte has drawn the peer's RST.
std::pair<Socket, Socket> connection_to_a_closed_peer(std::string_view transport) {
    Socket writer, reader;
    if (transport == "unix") {
        std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    } else {
        std::tie(writer, reader) = tcp_connection();
    }
    reader.close();
    if (transport == "tcp") {
        EXPECT_TRUE(wait_for_events(writer, POLLRDHUP)) << "the FIN did not arrive";
        EXPECT_EQ(send_one_byte(writer, MSG_NOSIGNAL).first, 1);
        EXPECT_TRUE(wait_for_events(writer, POLLERR)) << "the RST did not arrive";
    }
    return {std::move(writer), std::move(reader)};
}

TEST(Sigpipe, MsgNoSignalDoesNotCoverWriteOrSendfile) {
    // MSG_NOSIGNAL is a flag of one send(); write() and sendfile() have no flags argument.
    char name[] = "/tmp/course-sendfile-XXXXXX";
    const raw_sockets::Fd file(::mkstemp(name));
    ASSERT_TRUE(file);
    ::unlink(name);
    ASSERT_EQ(::write(file.get(), "file", 4), 4);
    for (const std::string_view transport : {"unix", "tcp"}) {
        SCOPED_TRACE(transport);
        const SigpipeCounter sigpipes;
        auto [writer, reader] = connection_to_a_closed_peer(transport);
        const auto [sent, send_error] = send_one_byte(writer, MSG_NOSIGNAL);
        EXPECT_EQ(sent, -1);
        EXPECT_EQ(send_error, EPIPE) << raw_sockets::errno_name(send_error);
        EXPECT_EQ(sigpipes.count(), 0) << "send(MSG_NOSIGNAL)";

        EXPECT_EQ(::write(writer.native_handle(), "x", 1), -1);
        EXPECT_EQ(errno, EPIPE) << raw_sockets::errno_name(errno);
        EXPECT_EQ(sigpipes.count(), 1) << "write()";

        off_t offset = 0;
        EXPECT_EQ(::sendfile(writer.native_handle(), file.get(), &offset, 4), -1);
        EXPECT_EQ(errno, EPIPE) << raw_sockets::errno_name(errno);
        EXPECT_EQ(sigpipes.count(), 2) << "sendfile()";
    }
}

TEST(Shutdown, HalfCloseLetsThePeerStillAnswer) {
    const TempDir dir;
    for (const std::string& address_text : {dir.unix_address("s"), "127.0.0.1:0"s}) {
        SCOPED_TRACE(address_text);
        const Socket listener = raw_sockets::listen_on(Address::parse(address_text));
        Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
        Socket server = raw_sockets::accept_connection(listener);

        client.send_all("question");
        client.shutdown_write();
        EXPECT_EQ(test_support::receive_all(server), "question");  // then recv() returns 0
        server.send_all("bye");  // but the connection is still open the other way
        server.close();
        EXPECT_EQ(test_support::receive_all(client), "bye");
    }
}

TEST(Shutdown, SendingAfterItGivesEPIPE) {
    const SigpipeCounter sigpipes;
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.shutdown_write();
    const auto error = thrown<SocketError>([&] { writer.send_all("late"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EPIPE);
    EXPECT_EQ(sigpipes.count(), 0);
}

TEST(Shutdown, OfAnUnconnectedTcpSocketGivesENOTCONN) {
    // (A Unix socket does not complain: Linux accepts shutdown() on one that never connected.)
    Socket lonely(raw_sockets::Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), "lonely");
    ASSERT_TRUE(lonely);
    const auto error = thrown<SocketError>([&] { lonely.shutdown_write(); });
    ASSERT_TRUE(error);
    EXPECT_STREQ(error->what(), "shutdown(lonely): ENOTCONN (Transport endpoint is not connected)");
}

// ---- line framing --------------------------------------------------------------------------

TEST(LineReader, SplitsLinesArrivingTogether) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("first\nsecond\n\nthird\n");
    writer.close();
    raw_sockets::LineReader lines(reader);
    EXPECT_EQ(lines.read_line(), "first");
    EXPECT_EQ(lines.read_line(), "second");
    EXPECT_EQ(lines.read_line(), "");
    EXPECT_EQ(lines.read_line(), "third");
    EXPECT_EQ(lines.read_line(), std::nullopt);
}

TEST(LineReader, JoinsALineArrivingInPieces) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::LineReader lines(reader);
    std::optional<std::string> line;
    int pieces = 0;
    test_support::watch_blocking_calls(
        [&] { line = lines.read_line(); },
        [&](Watch& watch) {
            pieces = send_piece_by_piece(watch, writer, {"hel", "lo, wor", "ld\nne"});
        });
    EXPECT_EQ(pieces, 3);
    EXPECT_EQ(line, "hello, world");
    // What came after the newline starts the next line.
    writer.send_all("xt\n");
    EXPECT_EQ(lines.read_line(), "next");
}

TEST(LineReader, ReturnsNulloptAtCleanEnd) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("last\n");
    writer.close();
    raw_sockets::LineReader lines(reader);
    EXPECT_EQ(lines.read_line(), "last");
    EXPECT_EQ(lines.read_line(), std::nullopt);
    EXPECT_EQ(lines.read_line(), std::nullopt);
}

TEST(LineReader, ThrowsWhenPeerClosesInsideALine) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("complete\npartial");
    writer.close();
    raw_sockets::LineReader lines(reader);
    EXPECT_EQ(lines.read_line(), "complete");
    const auto error = thrown<ProtocolError>([&] { lines.read_line(); });
    ASSERT_TRUE(error);
    EXPECT_STREQ(error->what(), "recv(pair:1): peer closed inside a line");
}

TEST(LineReader, RefusesAnOverlongLine) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    give_up_receiving_after(reader, 2);
    writer.send_all(std::string(100, 'x'));  // no newline, and the writer stays open
    raw_sockets::LineReader lines(reader, 16);
    const auto error = thrown<ProtocolError>([&] { lines.read_line(); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "a line longer than 16 bytes"));
}

TEST(LineReader, RefusesAnOverlongLineThatArrivesWithItsNewline) {
    // The limit must not depend on how the bytes happen to arrive.
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all(std::string(100, 'x') + "\n");
    raw_sockets::LineReader lines(reader, 16);
    const auto error = thrown<ProtocolError>([&] { lines.read_line(); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "a line longer than 16 bytes"));
}

TEST(LineReader, AcceptsALineOfExactlyTheLimit) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all(std::string(16, 'x') + "\n");
    raw_sockets::LineReader lines(reader, 16);
    EXPECT_EQ(lines.read_line(), std::string(16, 'x'));
}

TEST(SendLine, AppendsTheNewline) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::send_line(writer, "hello");
    raw_sockets::send_line(writer, "");
    writer.close();
    EXPECT_EQ(test_support::receive_all(reader), "hello\n\n");
}

TEST(SendLine, RefusesEmbeddedNewline) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    EXPECT_THROW(raw_sockets::send_line(writer, "two\nlines"), std::invalid_argument);
    writer.close();
    EXPECT_EQ(test_support::receive_all(reader), "");  // nothing half-sent
}

// ---- length-prefix framing (chapter 03's exercise) -----------------------------------------

TEST(Frame, RoundTripsMessages) {
    const std::vector<std::string> messages = {"hello",
                                               "",
                                               "binary\0with NUL\nand newlines\r\n\xff"s,
                                               "",
                                               test_support::patterned_data(200 * 1024),
                                               "last"};
    std::future<void> sending;
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    sending = send_in_background(std::move(writer), [&messages](Socket& socket) {
        for (const std::string& message : messages) raw_sockets::send_frame(socket, message);
    });
    for (const std::string& message : messages) {
        const std::optional<std::string> received = raw_sockets::recv_frame(reader);
        ASSERT_TRUE(received);
        EXPECT_EQ(received->size(), message.size());
        EXPECT_TRUE(*received == message) << "message of " << message.size() << " bytes differs";
    }
    EXPECT_EQ(raw_sockets::recv_frame(reader), std::nullopt);
    sending.get();
}

TEST(Frame, HeaderIsFourBytesBigEndian) {
    std::future<void> sending;
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    const std::string payload = test_support::patterned_data(258);
    const std::string larger = test_support::patterned_data(0x010203);
    sending = send_in_background(std::move(writer), [&](Socket& socket) {
        raw_sockets::send_frame(socket, payload);
        raw_sockets::send_frame(socket, "");
        raw_sockets::send_frame(socket, larger);
    });
    const auto expect_header = [&reader](std::array<std::uint8_t, 4> expected) {
        std::array<std::byte, 4> header{};
        ASSERT_TRUE(reader.recv_exact(header));
        for (std::size_t i = 0; i < 4; ++i) {
            EXPECT_EQ(std::to_integer<unsigned>(header[i]), expected[i]) << "header byte " << i;
        }
    };
    const auto expect_payload = [&reader](const std::string& expected) {
        std::string received(expected.size(), '\0');
        ASSERT_TRUE(reader.recv_exact(std::as_writable_bytes(std::span(received))));
        EXPECT_TRUE(received == expected);
    };
    expect_header({0x00, 0x00, 0x01, 0x02});  // 258
    expect_payload(payload);
    expect_header({0x00, 0x00, 0x00, 0x00});  // the empty frame: a header and nothing else
    expect_header({0x00, 0x01, 0x02, 0x03});  // 66051
    expect_payload(larger);
    EXPECT_EQ(test_support::receive_all(reader), "");
    sending.get();
}

TEST(Frame, ReturnsNulloptAtCleanEnd) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.close();
    EXPECT_EQ(raw_sockets::recv_frame(reader), std::nullopt);
}

TEST(Frame, RefusesTooLargeBeforeReadingPayload) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    // A header announcing 4 GiB - 1, no payload, and the writer stays open: only a reader
    // that checks the length first can answer now. (Reading on would fail after 2 s.)
    writer.send_all("\xff\xff\xff\xff"s);
    give_up_receiving_after(reader, 2);
    const auto started = std::chrono::steady_clock::now();
    const auto error = thrown<ProtocolError>([&] { raw_sockets::recv_frame(reader, 1024); });
    EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(1));
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "4294967295"));
    EXPECT_TRUE(contains(error->what(), "1024"));
}

TEST(Frame, DefaultLimitIsOneMiB) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    writer.send_all("\x00\x10\x00\x01"s);  // 1 MiB + 1
    give_up_receiving_after(reader, 2);
    const auto error = thrown<ProtocolError>([&] { raw_sockets::recv_frame(reader); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "1048577"));
    EXPECT_TRUE(contains(error->what(), "1048576"));
}

TEST(Frame, AcceptsAFrameOfExactlyTheLimit) {
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::send_frame(writer, "12345");
    EXPECT_EQ(raw_sockets::recv_frame(reader, 5), "12345");
}

TEST(Frame, ThrowsWhenPeerClosesInsideAFrame) {
    {
        Socket writer, reader;
        std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
        writer.send_all(
            "\x00\x00\x00\x08"s
            "abc");  // 8 announced, 3 sent
        writer.close();
        EXPECT_TRUE(thrown<ProtocolError>([&] { raw_sockets::recv_frame(reader); }));
    }
    {
        Socket writer, reader;
        std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
        writer.send_all("\x00\x00"s);  // half a header
        writer.close();
        EXPECT_TRUE(thrown<ProtocolError>([&] { raw_sockets::recv_frame(reader); }));
    }
    {
        Socket writer, reader;
        std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
        writer.send_all("\x00\x00\x00\x08"s);  // a whole header, then not one payload byte
        writer.close();
        EXPECT_TRUE(thrown<ProtocolError>([&] { raw_sockets::recv_frame(reader); }));
    }
}

TEST(Frame, RefusesAPayloadLargerThan4GiB) {
    // 4 GiB + 1 of address space that is never touched (PROT_NONE: not even readable).
    const std::size_t size = (std::size_t{1} << 32) + 1;
    void* space =
        ::mmap(nullptr, size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (space == MAP_FAILED) GTEST_SKIP() << "cannot reserve 4 GiB of address space here";
    const std::string_view huge(static_cast<const char*>(space), size);
    Socket writer, reader;
    std::tie(writer, reader) = raw_sockets::socket_pair(SOCK_STREAM);
    give_up_sending_after(writer, 2);
    EXPECT_THROW(raw_sockets::send_frame(writer, huge), std::length_error);
    writer.close();
    EXPECT_EQ(test_support::receive_all(reader), "");  // not even a header went out
    ::munmap(space, size);
}

}  // namespace
