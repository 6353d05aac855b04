// Chapter 04: many clients. The non-blocking calls an event loop is built on (try_recv,
// try_send, try_accept, set_nonblocking), the Epoll wrapper every epoll loop uses, and
// EchoConnection, the per-client state of echo_poll and echo_epoll: what it does with bytes
// the peer cannot take yet, when it stops reading, when it is finished, and why a vanished
// peer is not an error.
//
// Chapter 04's exercise replaces EchoConnection's code with a stub that throws
// std::logic_error("TODO(lesson04) ..."). No test here runs a second thread or waits without
// a limit, so the stub's exception fails each test with its message instead of hanging it.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <functional>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <tuple>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::EchoConnection;
using raw_sockets::Epoll;
using raw_sockets::Socket;
using test_support::contains;
using test_support::patterned_data;
using test_support::TempDir;
using test_support::thrown;

constexpr std::size_t KiB = 1024;
constexpr std::size_t MiB = 1024 * KiB;
constexpr int patience_ms = 5000;  // the longest any single wait in this file may take

// Ends the test program, saying why, if a test is still running after `seconds`. The safety
// nets below catch a call that blocks; this one catches a loop that never ends, such as an
// on_readable() that goes on reading after the end of the stream (recv() returns 0 at once,
// forever). Without it the test would hang until CTest's limit.
class Deadline {
  public:
    explicit Deadline(unsigned seconds) {
        struct sigaction action {};
        action.sa_handler = out_of_time;
        sigemptyset(&action.sa_mask);
        ::sigaction(SIGALRM, &action, nullptr);
        ::alarm(seconds);
    }
    ~Deadline() { ::alarm(0); }
    Deadline(const Deadline&) = delete;
    Deadline& operator=(const Deadline&) = delete;

  private:
    static void out_of_time(int) {
        static constexpr char message[] =
            "\nThis test ran out of time: a loop that never ends? (It is the test named on the "
            "last [ RUN ] line.)\n";
        [[maybe_unused]] const ssize_t ignored =
            ::write(STDERR_FILENO, message, sizeof message - 1);
        ::_exit(1);  // only async-signal-safe calls in a handler
    }
};

std::string as_text(std::span<const std::byte> bytes) {
    return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

// A safety net, not a wait: a blocking call on a test's own socket fails with EAGAIN after
// `seconds` instead of hanging when the code under test is broken.
void give_up_after(const Socket& socket, int seconds) {
    const timeval limit{.tv_sec = seconds, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit),
              0);
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit),
              0);
}

bool is_nonblocking(const Socket& socket) {
    return (::fcntl(socket.native_handle(), F_GETFL) & O_NONBLOCK) != 0;
}

// How many received bytes wait in the socket, not yet read (FIONREAD).
std::size_t unread_bytes(const Socket& socket) {
    int count = 0;
    EXPECT_EQ(::ioctl(socket.native_handle(), FIONREAD, &count), 0);
    return static_cast<std::size_t>(count);
}

// Exactly `size` bytes; the SO_RCVTIMEO of give_up_after() turns a wait for bytes that never
// come into a SocketError (EAGAIN) that names the socket.
std::string receive_exactly(Socket& socket, std::size_t size) {
    std::vector<std::byte> buffer(size);
    if (!socket.recv_exact(buffer)) return {};
    return as_text(buffer);
}

// Whatever has arrived, without waiting.
std::string receive_what_has_arrived(const Socket& socket) {
    std::string received;
    std::array<char, 64 * KiB> buffer;
    for (;;) {
        const ssize_t count =
            ::recv(socket.native_handle(), buffer.data(), buffer.size(), MSG_DONTWAIT);
        if (count <= 0) return received;
        received.append(buffer.data(), static_cast<std::size_t>(count));
    }
}

// Fills the socket's send buffer without blocking, as a client that stopped reading would
// leave it; returns what it sent.
std::string fill_send_buffer(const Socket& socket) {
    const std::string chunk = patterned_data(4 * KiB);
    std::string sent;
    for (;;) {
        const ssize_t count =
            ::send(socket.native_handle(), chunk.data(), chunk.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        if (count < 0) return sent;  // EAGAIN: full
        sent.append(chunk, 0, static_cast<std::size_t>(count));
    }
}

// Compares byte strings too large to print: the failure says where they first differ.
testing::AssertionResult same_bytes(std::string_view actual, std::string_view expected) {
    if (actual == expected) return testing::AssertionSuccess();
    const auto difference =
        std::mismatch(actual.begin(), actual.end(), expected.begin(), expected.end());
    return testing::AssertionFailure()
           << "got " << actual.size() << " bytes, expected " << expected.size()
           << "; they differ first at byte " << (difference.first - actual.begin());
}

// Both ends of one connection: `server` non-blocking, as an event loop holds it, `client`
// blocking with give_up_after()'s safety net. "unix" is a socketpair; "tcp" goes through
// a listener on 127.0.0.1, port 0.
struct Connection {
    Socket server;
    Socket client;
};

Connection connect_pair(std::string_view transport) {
    Connection pair;
    if (transport == "unix") {
        std::tie(pair.server, pair.client) = raw_sockets::socket_pair(SOCK_STREAM);
    } else {
        const Socket listener = raw_sockets::listen_on(Address::parse("127.0.0.1:0"));
        pair.client = raw_sockets::connect_to(raw_sockets::local_address(listener));
        pair.server = raw_sockets::accept_connection(listener);
    }
    raw_sockets::set_nonblocking(pair.server);
    give_up_after(pair.client, 5);
    return pair;
}

// Waits (at most patience_ms) until `socket` reports one of `events`, or POLLHUP or POLLERR.
testing::AssertionResult becomes_ready(const Socket& socket, short events) {
    pollfd watched{.fd = socket.native_handle(), .events = events, .revents = 0};
    const int ready = ::poll(&watched, 1, patience_ms);
    if (ready == 1) return testing::AssertionSuccess();
    return testing::AssertionFailure() << socket.name() << " was not ready within " << patience_ms
                                       << " ms (poll returned " << ready << ")";
}

// One connection's part of echo_poll's loop: wait for what it wants, then call on_readable()
// (input, hang-up or error) and on_writable(), until finished(). Fails when nothing happens
// for patience_ms or the loop goes round too often without finishing.
testing::AssertionResult serve_until_finished(EchoConnection& connection) {
    for (int turn = 0; turn < 10000; ++turn) {
        if (connection.finished()) return testing::AssertionSuccess();
        const short events = static_cast<short>((connection.wants_read() ? POLLIN : 0) |
                                                (connection.wants_write() ? POLLOUT : 0));
        pollfd watched{.fd = connection.socket().native_handle(), .events = events, .revents = 0};
        if (::poll(&watched, 1, patience_ms) != 1) {
            return testing::AssertionFailure()
                   << "not finished, and nothing happened for " << patience_ms << " ms";
        }
        if (watched.revents & (POLLIN | POLLHUP | POLLERR)) connection.on_readable();
        if (watched.revents & POLLOUT) connection.on_writable();
    }
    return testing::AssertionFailure() << "still not finished after 10000 turns of the loop";
}

// ---- the non-blocking calls -------------------------------------------------------------

TEST(TryRecv, ReturnsNulloptWhenNothingHasArrived) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::set_nonblocking(socket);
    give_up_after(socket, 5);  // were it still blocking, recv() would fail after 5 s, not hang
    std::array<std::byte, 16> buffer;

    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(socket.try_recv(buffer), std::nullopt);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
        << "try_recv() waited: the socket is not non-blocking";

    peer.send_all("x");
    const auto received = socket.try_recv(buffer);
    ASSERT_EQ(received, std::optional<std::size_t>(1));
    EXPECT_EQ(as_text(std::span(buffer).first(1)), "x");
    EXPECT_EQ(socket.try_recv(buffer), std::nullopt) << "everything was read: nothing again";
}

TEST(TryRecv, ReturnsZeroAtEndOfStream) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::set_nonblocking(socket);
    give_up_after(socket, 5);
    std::array<std::byte, 16> buffer;

    peer.send_all("last");
    peer.shutdown_write();  // end of stream; the peer could still read

    ASSERT_EQ(socket.try_recv(buffer), std::optional<std::size_t>(4)) << "data first";
    EXPECT_EQ(as_text(std::span(buffer).first(4)), "last");
    // 0, not std::nullopt: "the peer will send no more" differs from "nothing yet".
    EXPECT_EQ(socket.try_recv(buffer), std::optional<std::size_t>(0));
    EXPECT_EQ(socket.try_recv(buffer), std::optional<std::size_t>(0)) << "and stays so";
}

TEST(TrySend, ReturnsNulloptWhenTheBufferIsFull) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    raw_sockets::set_nonblocking(socket);
    give_up_after(socket, 5);  // were it still blocking, send() would give up after 5 s
    give_up_after(peer, 5);
    const std::string chunk = patterned_data(64 * KiB);

    // The peer reads nothing, so the kernel's buffer fills; try_send() then says so.
    std::string taken;
    std::optional<std::size_t> sent;
    const auto start = std::chrono::steady_clock::now();
    for (int attempt = 0; attempt < 1000; ++attempt) {
        sent = socket.try_send(raw_sockets::as_bytes(chunk));
        if (!sent) break;
        ASSERT_LE(*sent, chunk.size());
        taken.append(chunk, 0, *sent);  // possibly part of it: the kernel took what fit
    }
    EXPECT_EQ(sent, std::nullopt) << "1000 times 64 KiB went into a socket nobody reads";
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2))
        << "try_send() waited for room: the socket is not non-blocking";
    EXPECT_GT(taken.size(), 0u);

    // Every byte it reported taken arrives, in order; once read, there is room again.
    EXPECT_TRUE(same_bytes(receive_exactly(peer, taken.size()), taken));
    EXPECT_EQ(unread_bytes(peer), 0u) << "more arrived than try_send() reported";
    EXPECT_EQ(socket.try_send(raw_sockets::as_bytes("more")), std::optional<std::size_t>(4));
}

TEST(TryAccept, ReturnsNulloptWhenNoClientWaits) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("listener.sock"));
    const Socket listener = raw_sockets::listen_on(address);
    raw_sockets::set_nonblocking(listener);
    give_up_after(listener, 5);  // SO_RCVTIMEO bounds accept() too

    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(raw_sockets::try_accept(listener), std::nullopt);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1))
        << "try_accept() waited: the listener is not non-blocking";

    Socket client = raw_sockets::connect_to(address);
    give_up_after(client, 5);
    std::optional<Socket> accepted = raw_sockets::try_accept(listener);
    ASSERT_TRUE(accepted.has_value()) << "a client was waiting";
    accepted->send_all("welcome");
    EXPECT_EQ(receive_exactly(client, 7), "welcome");
    EXPECT_EQ(raw_sockets::try_accept(listener), std::nullopt) << "that was the only one";
}

// The Acceptor's policy (chapter 04): which errors of accept() pause it, which concern one
// client only, and which end the server. Most cannot be produced on demand (a network
// error under a connection, a security module's refusal), hence the table.
TEST(Acceptor, PausesWhenOutOfDescriptors) {
    EXPECT_EQ(raw_sockets::classify_accept_error(EMFILE), raw_sockets::AcceptFailure::pause);
    EXPECT_EQ(raw_sockets::classify_accept_error(ENFILE), raw_sockets::AcceptFailure::pause);
}

TEST(Acceptor, SkipsAClientForErrorsThatConcernItAlone) {
    for (const int code : {ECONNABORTED, EPROTO, ENETDOWN, ENOPROTOOPT, EHOSTDOWN, ENONET,
                           EHOSTUNREACH, EOPNOTSUPP, ENETUNREACH, ENOBUFS, ENOMEM, EPERM}) {
        EXPECT_EQ(raw_sockets::classify_accept_error(code), raw_sockets::AcceptFailure::skip)
            << std::strerror(code);
    }
}

TEST(Acceptor, ThrowsWhenTheListenerItselfIsWrong) {
    for (const int code : {EBADF, ENOTSOCK, EINVAL, EFAULT}) {
        EXPECT_EQ(raw_sockets::classify_accept_error(code), raw_sockets::AcceptFailure::fatal)
            << std::strerror(code);
    }
    raw_sockets::Acceptor acceptor;
    const Socket closed;  // no descriptor: accept() fails with EBADF
    EXPECT_THROW((void)acceptor.accept(closed), raw_sockets::SocketError);
    EXPECT_FALSE(acceptor.paused());
}

TEST(SetNonblocking, SetsONonblock) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const int before = ::fcntl(socket.native_handle(), F_GETFL);
    ASSERT_GE(before, 0);
    EXPECT_EQ(before & O_NONBLOCK, 0) << "a new socket blocks";

    raw_sockets::set_nonblocking(socket);

    const int after = ::fcntl(socket.native_handle(), F_GETFL);
    EXPECT_NE(after & O_NONBLOCK, 0);
    EXPECT_EQ(after & ~O_NONBLOCK, before) << "the other status flags are kept";
    EXPECT_NE(::fcntl(socket.native_handle(), F_GETFD) & FD_CLOEXEC, 0) << "still close-on-exec";
    EXPECT_FALSE(is_nonblocking(peer)) << "the other end is a socket of its own";
    raw_sockets::set_nonblocking(socket);  // a second time changes nothing
    EXPECT_EQ(::fcntl(socket.native_handle(), F_GETFL), after);
}

// ---- Epoll --------------------------------------------------------------------------------

// The events `epoll` reports within `timeout_ms`, as (descriptor, events) pairs.
std::vector<std::pair<int, std::uint32_t>> ready_events(Epoll& epoll, int timeout_ms) {
    std::array<epoll_event, 8> ready;
    std::vector<std::pair<int, std::uint32_t>> events;
    for (const epoll_event& event : epoll.wait(ready, timeout_ms)) {
        events.emplace_back(event.data.fd, event.events);
    }
    return events;
}

// Runs `call`, which must throw SocketError with `expected` errno and a message that names
// `operation` on `fd` and the errno's symbol.
testing::AssertionResult fails_with(const std::function<void()>& call, int expected,
                                    std::string_view operation, int fd) {
    try {
        call();
    } catch (const raw_sockets::SocketError& error) {
        const std::string wanted = std::string(operation) + "(fd:" + std::to_string(fd) +
                                   "): " + raw_sockets::errno_name(expected);
        if (error.code().value() != expected ||
            !std::string_view(error.what()).starts_with(wanted)) {
            return testing::AssertionFailure()
                   << "threw \"" << error.what() << "\", expected \"" << wanted << " ...\"";
        }
        return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "did not throw; expected " << operation
                                       << " to fail with " << raw_sockets::errno_name(expected);
}

TEST(Epoll, ReportsADescriptorOnceItIsReadable) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    Epoll epoll;
    epoll.add(socket.native_handle(), EPOLLIN);
    EXPECT_TRUE(ready_events(epoll, 0).empty()) << "nothing has arrived yet";

    peer.send_all("x");
    const auto events = ready_events(epoll, patience_ms);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].first, socket.native_handle()) << "data.fd names the descriptor";
    EXPECT_EQ(events[0].second, static_cast<std::uint32_t>(EPOLLIN));
}

TEST(Epoll, ModifyChangesWhatIsReported) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    Epoll epoll;
    epoll.add(socket.native_handle(), EPOLLIN);
    EXPECT_TRUE(ready_events(epoll, 0).empty()) << "not readable; writability not asked for";

    epoll.modify(socket.native_handle(), EPOLLOUT);  // an empty send buffer: writable at once
    const auto events = ready_events(epoll, patience_ms);
    ASSERT_EQ(events.size(), 1u);
    EXPECT_EQ(events[0].second, static_cast<std::uint32_t>(EPOLLOUT));

    epoll.modify(socket.native_handle(), 0);  // registered, but asking for nothing
    peer.send_all("x");
    EXPECT_TRUE(ready_events(epoll, 0).empty());
}

TEST(Epoll, RemoveStopsEvents) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    Epoll epoll;
    epoll.add(socket.native_handle(), EPOLLIN);
    peer.send_all("x");
    ASSERT_EQ(ready_events(epoll, patience_ms).size(), 1u);

    epoll.remove(socket.native_handle());
    EXPECT_TRUE(ready_events(epoll, 0).empty()) << "still readable, but no longer watched";
    epoll.add(socket.native_handle(), EPOLLIN);  // and it can be added again
    EXPECT_EQ(ready_events(epoll, 0).size(), 1u);
}

TEST(Epoll, ReportsErrorsWithTheCallAndTheErrnoName) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const int fd = socket.native_handle();
    Epoll epoll;
    epoll.add(fd, EPOLLIN);

    EXPECT_TRUE(fails_with([&] { epoll.add(fd, EPOLLIN); }, EEXIST, "epoll_ctl ADD", fd))
        << "added twice";
    const int other = peer.native_handle();
    EXPECT_TRUE(fails_with([&] { epoll.remove(other); }, ENOENT, "epoll_ctl DEL", other))
        << "never added";
    EXPECT_TRUE(fails_with([&] { epoll.modify(other, EPOLLIN); }, ENOENT, "epoll_ctl MOD", other))
        << "never added";

    socket.close();  // also removes it from the epoll set
    EXPECT_TRUE(fails_with([&] { epoll.modify(fd, EPOLLIN); }, EBADF, "epoll_ctl MOD", fd))
        << "a closed descriptor";
    EXPECT_TRUE(fails_with([&] { epoll.add(fd, EPOLLIN); }, EBADF, "epoll_ctl ADD", fd));
}

TEST(Epoll, IsCloseOnExec) {
    const Epoll epoll;
    ASSERT_GE(epoll.native_handle(), 0);
    EXPECT_NE(::fcntl(epoll.native_handle(), F_GETFD) & FD_CLOEXEC, 0);
}

TEST(Epoll, ASignalEndsTheWaitWithNoEventsNotAnError) {
    // A signal handler that does nothing, and a timer that fires it once after 50 ms. epoll_wait
    // is never restarted after a handler (signal(7)), even with SA_RESTART: it fails with EINTR.
    struct sigaction action {};
    action.sa_handler = [](int) {};
    sigemptyset(&action.sa_mask);
    struct sigaction previous {};
    ASSERT_EQ(::sigaction(SIGALRM, &action, &previous), 0);
    const itimerval once{.it_interval = {}, .it_value = {.tv_sec = 0, .tv_usec = 50'000}};
    ASSERT_EQ(::setitimer(ITIMER_REAL, &once, nullptr), 0);

    Epoll epoll;
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    epoll.add(socket.native_handle(), EPOLLIN);  // never becomes readable
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::pair<int, std::uint32_t>> events;
    EXPECT_NO_THROW(events = ready_events(epoll, patience_ms)) << "EINTR is not an error";
    EXPECT_TRUE(events.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(patience_ms / 2))
        << "the signal should have ended the wait, not the timeout";
    ::sigaction(SIGALRM, &previous, nullptr);
}

// ---- level- and edge-triggered epoll ------------------------------------------------------

// The descriptors `epoll` reports ready now, without waiting. (On a Unix socket, the bytes are
// in the receiver's queue when send() returns: no wait is needed to see them.)
std::set<int> ready_now(Epoll& epoll) {
    std::set<int> ready;
    for (const auto& [fd, events] : ready_events(epoll, 0)) ready.insert(fd);
    return ready;
}

//! [triggering]
TEST(EpollTriggering, EdgeTriggeredReportsUnreadBytesOnlyWhenMoreArrive) {
    auto [level, level_peer] = raw_sockets::socket_pair(SOCK_STREAM);
    auto [edge, edge_peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const int level_fd = level.native_handle(), edge_fd = edge.native_handle();
    Epoll epoll;
    epoll.add(level_fd, EPOLLIN);           // level-triggered: the default
    epoll.add(edge_fd, EPOLLIN | EPOLLET);  // edge-triggered

    level_peer.send_all("hello");
    edge_peer.send_all("hello");
    EXPECT_EQ(ready_now(epoll), (std::set{level_fd, edge_fd})) << "bytes arrived on both";
    // Nobody reads: the bytes stay. Level-triggered says so again; edge-triggered does not.
    EXPECT_EQ(ready_now(epoll), std::set{level_fd});
    EXPECT_EQ(ready_now(epoll), std::set{level_fd});

    edge_peer.send_all("more");  // a new arrival is a new edge
    EXPECT_EQ(ready_now(epoll), (std::set{level_fd, edge_fd}));
}
//! [triggering]

// ---- descriptors and open file descriptions, across fork() --------------------------------

// A child process that holds a copy of every descriptor the parent had when it forked, until
// release(); the destructor releases it too, and reaps it.
class ChildHoldingCopies {
  public:
    ChildHoldingCopies() {
        EXPECT_EQ(::pipe(release_), 0);
        pid_ = ::fork();
        if (pid_ == 0) {  // the child: wait for the parent to close the pipe, then leave
            ::close(release_[1]);
            char byte;
            [[maybe_unused]] const ssize_t ignored = ::read(release_[0], &byte, 1);
            ::_exit(0);
        }
        EXPECT_GT(pid_, 0) << std::strerror(errno);
        ::close(release_[0]);
    }
    ~ChildHoldingCopies() { release(); }
    ChildHoldingCopies(const ChildHoldingCopies&) = delete;
    ChildHoldingCopies& operator=(const ChildHoldingCopies&) = delete;

    // Ends the child, which closes its copies, and waits until it has.
    void release() {
        if (pid_ <= 0) return;
        ::close(release_[1]);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    int release_[2] = {-1, -1};
    pid_t pid_ = -1;
};

// connect()'s errno for a new Unix stream socket to `path`; 0 if it connected.
int connect_error(const std::string& path) {
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    path.copy(address.sun_path, sizeof address.sun_path - 1);
    const int result = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
    const int error = result < 0 ? errno : 0;
    ::close(fd);
    return error;
}

TEST(OpenFileDescription, ThePeerSeesEndOfStreamOnlyOnceEveryCopyIsClosed) {
    auto [connection, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    ChildHoldingCopies child;  // like echo_fork's parent, it holds a copy of `connection`
    connection.close();        // one descriptor closed; the open file description lives on

    pollfd watched{.fd = peer.native_handle(), .events = POLLIN, .revents = 0};
    EXPECT_EQ(::poll(&watched, 1, 200), 0) << "no end of stream while the child's copy is open";

    child.release();  // the last descriptor for it closes: now the connection ends
    ASSERT_EQ(::poll(&watched, 1, patience_ms), 1);
    char byte;
    EXPECT_EQ(::recv(peer.native_handle(), &byte, 1, 0), 0) << "end of stream";
}

TEST(OpenFileDescription, AChildsCopyOfTheListenerKeepsItListening) {
    TempDir directory;
    const std::string path = directory.file("listener.sock");
    Socket listener = raw_sockets::listen_on(Address::parse("unix:" + path));
    ChildHoldingCopies child;  // like a forked child that did not close its listener
    listener.close();

    EXPECT_EQ(connect_error(path), 0) << "queued on the child's copy, which nobody accepts from";
    child.release();
    EXPECT_EQ(connect_error(path), ECONNREFUSED) << "the last copy is closed: nobody listens";
}

// ---- hang-ups: what poll() and epoll report when the peer is done -------------------------

// A poll() or epoll mask as names, for failure messages: "POLLIN|POLLOUT|POLLRDHUP".
std::string event_names(unsigned mask) {
    static const std::pair<unsigned, const char*> names[] = {
        {POLLIN, "IN"},   {POLLPRI, "PRI"},   {POLLOUT, "OUT"},    {POLLERR, "ERR"},
        {POLLHUP, "HUP"}, {POLLNVAL, "NVAL"}, {POLLRDHUP, "RDHUP"}};
    std::string text;
    for (const auto& [bit, name] : names) {
        if (mask & bit) text += (text.empty() ? "" : "|") + std::string(name);
    }
    return text.empty() ? "none" : text;
}

// The events poll() reports for `socket`, asked for POLLIN|POLLOUT|POLLRDHUP, once one of
// `awaited` is among them (at most patience_ms); 0 if that never happens.
unsigned poll_events_once(const Socket& socket, unsigned awaited) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(patience_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        pollfd watched{
            .fd = socket.native_handle(), .events = POLLIN | POLLOUT | POLLRDHUP, .revents = 0};
        if (::poll(&watched, 1, 100) == 1 && (watched.revents & awaited) != 0) {
            return static_cast<unsigned short>(watched.revents);
        }
    }
    return 0;
}

// The same through epoll (level-triggered), asked for EPOLLIN|EPOLLOUT|EPOLLRDHUP.
unsigned epoll_events_once(const Socket& socket, unsigned awaited) {
    Epoll epoll;
    epoll.add(socket.native_handle(), EPOLLIN | EPOLLOUT | EPOLLRDHUP);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(patience_ms);
    while (std::chrono::steady_clock::now() < deadline) {
        for (const auto& [fd, events] : ready_events(epoll, 100)) {
            if (fd == socket.native_handle() && (events & awaited) != 0) return events;
        }
    }
    return 0;
}

// The masks poll() and epoll report once `awaited` shows, each checked against `expected`.
// (The POLL* and EPOLL* bits have the same values on Linux: one expectation serves both.)
void expect_events(const Socket& socket, unsigned awaited, unsigned expected) {
    static_assert(POLLIN == EPOLLIN && POLLOUT == EPOLLOUT && POLLERR == EPOLLERR &&
                  POLLHUP == EPOLLHUP && POLLRDHUP == EPOLLRDHUP);
    const unsigned polled = poll_events_once(socket, awaited);
    EXPECT_EQ(polled, expected) << "poll: " << event_names(polled) << ", expected "
                                << event_names(expected);
    const unsigned epolled = epoll_events_once(socket, awaited);
    EXPECT_EQ(epolled, expected) << "epoll: " << event_names(epolled) << ", expected "
                                 << event_names(expected);
}

TEST(HangUp, APeersShutdownWriteIsInAndRdhupNotHup) {
    // Half-closed: the peer sends no more but still reads, so this side can go on writing.
    for (const std::string_view transport : {"unix", "tcp"}) {
        SCOPED_TRACE(transport);
        auto [server, client] = connect_pair(transport);
        client.shutdown_write();
        expect_events(server, POLLRDHUP, POLLIN | POLLOUT | POLLRDHUP);
    }
}

TEST(HangUp, AUnixPeersCloseAddsHup) {
    auto [server, client] = connect_pair("unix");
    client.close();  // both directions are gone at once: the peer is in the same kernel
    expect_events(server, POLLRDHUP, POLLIN | POLLOUT | POLLRDHUP | POLLHUP);
}

TEST(HangUp, ATcpPeersCloseLooksLikeAShutdownUntilAReset) {
    auto [server, client] = connect_pair("tcp");
    client.close();  // nothing unread: a FIN, the same segment shutdown(SHUT_WR) sends
    expect_events(server, POLLRDHUP, POLLIN | POLLOUT | POLLRDHUP);
    // Only when something is sent does the closed peer answer with RST: error and hang-up.
    ASSERT_EQ(::send(server.native_handle(), "x", 1, MSG_NOSIGNAL), 1);
    expect_events(server, POLLERR, POLLIN | POLLOUT | POLLRDHUP | POLLERR | POLLHUP);
}

// ---- EchoConnection ---------------------------------------------------------------------

TEST(EchoConnection, EchoesWhatArrives) {
    const Deadline deadline(20);
    auto [server, client] = connect_pair("unix");
    EchoConnection connection(std::move(server));
    EXPECT_TRUE(connection.wants_read());
    EXPECT_FALSE(connection.wants_write());
    EXPECT_FALSE(connection.finished());

    connection.on_readable();  // nothing has arrived: returns at once, sends nothing
    EXPECT_EQ(unread_bytes(client), 0u);
    EXPECT_TRUE(connection.wants_read());

    client.send_all("hello");
    connection.on_readable();
    EXPECT_EQ(receive_exactly(client, 5), "hello");
    client.send_all("and again");
    connection.on_readable();
    EXPECT_EQ(receive_exactly(client, 9), "and again");

    EXPECT_TRUE(connection.wants_read()) << "the client may send more";
    EXPECT_FALSE(connection.wants_write()) << "everything was sent back";
    EXPECT_FALSE(connection.finished()) << "the client has not ended its stream";
}

TEST(EchoConnection, FinishesAfterPeerEndsAndEverythingIsEchoed) {
    const Deadline deadline(20);
    // Ten times what the socket buffers hold, so it takes many turns of a loop: a client and a
    // server side by side in one poll(), as echo_poll would run the server side.
    const std::string data = patterned_data(2 * MiB);
    auto [server, client] = connect_pair("unix");
    raw_sockets::set_nonblocking(client);
    const int client_fd = client.native_handle();
    std::optional<EchoConnection> connection(std::in_place, std::move(server));

    std::size_t sent = 0;
    std::string received;
    bool end_of_stream = false;
    std::array<std::byte, 64 * KiB> buffer;
    for (int turn = 0; !end_of_stream; ++turn) {
        ASSERT_LT(turn, 100000) << "the echo never ended; received " << received.size();
        std::vector<pollfd> watched{
            {.fd = client_fd,
             .events = static_cast<short>(POLLIN | (sent < data.size() ? POLLOUT : 0)),
             .revents = 0}};
        if (connection) {
            const short events = static_cast<short>((connection->wants_read() ? POLLIN : 0) |
                                                    (connection->wants_write() ? POLLOUT : 0));
            watched.push_back(
                {.fd = connection->socket().native_handle(), .events = events, .revents = 0});
        }
        ASSERT_GT(::poll(watched.data(), watched.size(), patience_ms), 0)
            << "nothing moved for " << patience_ms << " ms; sent " << sent << ", received "
            << received.size();

        if (watched[0].revents & POLLOUT) {
            const auto taken = client.try_send(raw_sockets::as_bytes(data).subspan(sent));
            sent += taken.value_or(0);
            if (sent == data.size()) client.shutdown_write();  // "that was all"
        }
        if (watched[0].revents & (POLLIN | POLLHUP)) {
            const auto count = client.try_recv(buffer);
            if (count == std::optional<std::size_t>(0)) end_of_stream = true;
            if (count) received += as_text(std::span(buffer).first(*count));
        }
        if (connection) {
            if (watched[1].revents & (POLLIN | POLLHUP | POLLERR)) connection->on_readable();
            if (watched[1].revents & POLLOUT) connection->on_writable();
            if (connection->finished()) {
                ASSERT_EQ(sent, data.size()) << "finished before the client ended its stream";
                ASSERT_EQ(received.size() + unread_bytes(client), data.size())
                    << "finished before everything was echoed";
                EXPECT_FALSE(connection->wants_read());
                EXPECT_FALSE(connection->wants_write());
                connection.reset();  // what the loop does with a finished connection: close it
            }
        }
    }
    EXPECT_FALSE(connection.has_value()) << "the client saw the end, yet it is not finished";
    EXPECT_TRUE(same_bytes(received, data));
}

TEST(EchoConnection, BuffersWhatThePeerCannotTakeYet) {
    const Deadline deadline(20);
    auto [server, client] = connect_pair("unix");
    // Echoes the client has not read yet fill the way back.
    const std::string unread_echoes = fill_send_buffer(server);
    EchoConnection connection(std::move(server));

    client.send_all("hello");
    connection.on_readable();  // reads "hello"; sending it would block, so it must wait
    EXPECT_TRUE(connection.wants_write()) << "\"hello\" should wait in the buffer";
    EXPECT_TRUE(connection.wants_read()) << "the buffer has room for more";
    EXPECT_FALSE(connection.finished());
    connection.on_writable();  // still no room: it must neither block nor throw
    EXPECT_TRUE(connection.wants_write());

    // The client reads at last; when poll() says "writable", the rest goes out.
    EXPECT_TRUE(same_bytes(receive_exactly(client, unread_echoes.size()), unread_echoes));
    connection.on_writable();
    EXPECT_FALSE(connection.wants_write()) << "everything should have been sent";
    EXPECT_EQ(receive_exactly(client, 5), "hello");
    EXPECT_EQ(unread_bytes(client), 0u) << "and only once";
    EXPECT_FALSE(connection.finished());
}

TEST(EchoConnection, StopsReadingWhenItsBufferIsFull) {
    const Deadline deadline(20);
    constexpr std::size_t max_pending = 1000;
    auto [server, client] = connect_pair("unix");
    const std::string unread_echoes = fill_send_buffer(server);
    EchoConnection connection(std::move(server), max_pending);
    const Socket& server_side = connection.socket();
    const std::string data = patterned_data(5 * max_pending);

    client.send_all(data);
    connection.on_readable();
    // Backpressure: it holds max_pending bytes and leaves the rest in the kernel, whose full
    // buffers will in the end block the client's own send().
    EXPECT_FALSE(connection.wants_read()) << "its buffer is full: it must stop reading";
    EXPECT_TRUE(connection.wants_write());
    EXPECT_EQ(unread_bytes(server_side), data.size() - max_pending)
        << "it should take exactly max_pending bytes";
    connection.on_readable();  // poll() reports a hang-up even when not asked for input
    EXPECT_EQ(unread_bytes(server_side), data.size() - max_pending)
        << "called again with a full buffer, it must still take nothing";

    // Once the client reads, each bufferful that goes out makes room for the next one.
    EXPECT_TRUE(same_bytes(receive_exactly(client, unread_echoes.size()), unread_echoes));
    std::string echoed;
    for (int turn = 0; echoed.size() < data.size(); ++turn) {
        ASSERT_LT(turn, 100) << "stuck after echoing " << echoed.size() << " bytes";
        if (connection.wants_write()) connection.on_writable();
        if (connection.wants_read()) connection.on_readable();
        const std::size_t taken = data.size() - unread_bytes(server_side);
        echoed += receive_what_has_arrived(client);
        EXPECT_LE(taken - echoed.size(), max_pending) << "it held more than max_pending";
    }
    EXPECT_TRUE(same_bytes(echoed, data));
    EXPECT_TRUE(connection.wants_read());
    EXPECT_FALSE(connection.finished());
}

TEST(EchoConnection, APeerThatResetsIsFinishedNotAnError) {
    const Deadline deadline(20);
    for (const std::string_view transport : {"unix", "tcp"}) {
        SCOPED_TRACE(transport);
        auto [server, client] = connect_pair(transport);
        EchoConnection connection(std::move(server));

        client.send_all("an echo the client will never read");
        connection.on_readable();
        ASSERT_TRUE(becomes_ready(client, POLLIN)) << "the echo did not arrive";
        client.send_all("half a mess");  // half a message, then gone:
        if (transport == "tcp") {
            // linger 0: close() sends RST at once instead of the orderly FIN.
            const linger abort{.l_onoff = 1, .l_linger = 0};
            ASSERT_EQ(
                ::setsockopt(client.native_handle(), SOL_SOCKET, SO_LINGER, &abort, sizeof abort),
                0);
        }
        client.close();  // with unread data: a Unix socket's peer gets ECONNRESET too
        // Until the reset has arrived, not just the data before it: poll() reports POLLHUP
        // or POLLERR even when asked for nothing.
        ASSERT_TRUE(becomes_ready(connection.socket(), 0));

        EXPECT_NO_THROW(connection.on_readable()) << "ECONNRESET ends one client, not the server";
        EXPECT_TRUE(connection.finished());
        EXPECT_FALSE(connection.wants_read());
        EXPECT_FALSE(connection.wants_write()) << "nobody is left to send to";
    }
}

TEST(EchoConnection, APeerThatLeavesWithoutReadingIsFinished) {
    const Deadline deadline(20);
    for (const std::string_view transport : {"unix", "tcp"}) {
        SCOPED_TRACE(transport);
        auto [server, client] = connect_pair(transport);
        EchoConnection connection(std::move(server));

        // A request, then gone before any answer arrives (nothing unread, so no reset): the
        // echo goes to a socket that no longer exists, which send() reports as EPIPE.
        client.send_all(patterned_data(100 * KiB));
        client.close();

        EXPECT_NO_THROW(EXPECT_TRUE(serve_until_finished(connection)))
            << "EPIPE ends one client, not the server";
        EXPECT_FALSE(connection.wants_read());
        EXPECT_FALSE(connection.wants_write());
    }
}

// ---- a blocking server's stop: Socket::set_stop_event ----------------------------------
// echo_server, frame_server and file_broker serve one client at a time and wait for it
// alone; with the stop event set, a stop ends that wait instead of a client's whim.

// A pipe standing for StopSignals::event_fd(): readable once "the stop" is written.
struct StopPipe {
    StopPipe() {
        int fds[2];
        EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
        read_end = raw_sockets::Fd(fds[0]);
        write_end = raw_sockets::Fd(fds[1]);
    }
    void request() const { EXPECT_EQ(::write(write_end.get(), "x", 1), 1); }
    raw_sockets::Fd read_end;
    raw_sockets::Fd write_end;
};

TEST(StopEvent, WithoutAStopReadsAndWritesAsBefore) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const StopPipe stop;
    socket.set_stop_event(stop.read_end.get());
    give_up_after(socket, 5);
    give_up_after(peer, 5);

    peer.send_all("abc");
    std::array<std::byte, 16> buffer;
    ASSERT_EQ(socket.recv_some(buffer), 3u);
    EXPECT_EQ(as_text(std::span(buffer).first(3)), "abc");
    const std::string large = patterned_data(1024 * KiB);  // more than the buffers hold
    std::thread reader(
        [&peer, size = large.size()] { EXPECT_EQ(receive_exactly(peer, size).size(), size); });
    socket.send_all(large);  // waits for room in poll(), and sends on as it comes
    reader.join();
    peer.shutdown_write();
    EXPECT_EQ(socket.recv_some(buffer), 0u) << "end of stream, as without a stop event";
}

TEST(StopEvent, ARecvWaitingForASilentPeerGivesUpAtTheStop) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const StopPipe stop;
    socket.set_stop_event(stop.read_end.get());
    give_up_after(socket, 5);  // were the stop missed, recv() would fail with EAGAIN after 5 s

    std::thread stopper([&stop] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        stop.request();
    });
    std::array<std::byte, 16> buffer;
    const auto error = thrown<raw_sockets::SocketError>([&] { socket.recv_some(buffer); });
    stopper.join();

    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ECANCELED) << error->what();
    EXPECT_TRUE(contains(error->what(), "recv(pair:0): ECANCELED"));
}

TEST(StopEvent, ASendToAPeerThatDoesNotReadGivesUpAtTheStop) {
    auto [socket, peer] = raw_sockets::socket_pair(SOCK_STREAM);
    const StopPipe stop;
    socket.set_stop_event(stop.read_end.get());
    give_up_after(socket, 5);

    std::thread stopper([&stop] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        stop.request();
    });
    const std::string large = patterned_data(4096 * KiB);  // far more than the buffers hold
    const auto error =
        thrown<raw_sockets::SocketError>([&] { socket.send_all(raw_sockets::as_bytes(large)); });
    stopper.join();

    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ECANCELED) << error->what();
    EXPECT_TRUE(contains(error->what(), "send(pair:0): ECANCELED"));
}

}  // namespace
