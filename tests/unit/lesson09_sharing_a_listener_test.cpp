// Chapter 09: how several processes share the work of one listening address. Two ways exist:
// one listening socket shared by inheritance (fork), every worker waiting on it with
// EPOLLEXCLUSIVE, which is what http_min does and the only way for a Unix socket path; or,
// for TCP only, one socket per worker bound to the same port with SO_REUSEPORT, the kernel
// spreading connections among them.
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <fstream>
#include <iostream>
#include <optional>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/socket.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::Fd;
using raw_sockets::Socket;

constexpr int connections = 64;

using Clock = std::chrono::steady_clock;
// Generous: the machine may be loaded. Every wait below ends as soon as its condition holds.
constexpr auto patience = std::chrono::seconds(10);

//! [reuseport]
// A listening socket on `address`, with SO_REUSEPORT set before bind() if `reuse_port`.
// Returns the bind() errno instead when bind() fails (0 on success).
int bind_and_listen(const Address& address, bool reuse_port, Socket& listener) {
    Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) raw_sockets::throw_errno("socket", address.to_string());
    const int on = 1;
    if (reuse_port && ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        raw_sockets::throw_errno("setsockopt(SO_REUSEPORT)", address.to_string());
    }
    if (::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()) != 0) return errno;
    if (::listen(fd.get(), SOMAXCONN) != 0) raw_sockets::throw_errno("listen", address.to_string());
    listener = Socket(std::move(fd), address.to_string());
    return 0;
}
//! [reuseport]

// Connections waiting in `listener`'s accept queue, accepted without blocking.
int accept_waiting(const Socket& listener) {
    raw_sockets::set_nonblocking(listener);
    int accepted = 0;
    while (raw_sockets::try_accept(listener)) ++accepted;
    return accepted;
}

// How many connections wait in a TCP listener's accept queue: what `ss -lt` shows as Recv-Q.
// For a listening socket, TCP_INFO's tcpi_unacked holds that count (see tcp_get_info()).
int queued(const Socket& listener) {
    tcp_info info{};
    socklen_t length = sizeof info;
    if (::getsockopt(listener.native_handle(), IPPROTO_TCP, TCP_INFO, &info, &length) != 0) {
        raw_sockets::throw_errno("getsockopt(TCP_INFO)", listener.name());
    }
    return static_cast<int>(info.tcpi_unacked);
}

// Two TCP listeners on one port of 127.0.0.1 with SO_REUSEPORT: the second is bound to the
// port the kernel picked for the first.
std::array<Socket, 2> two_reuseport_listeners() {
    std::array<Socket, 2> listeners;
    EXPECT_EQ(bind_and_listen(Address::parse("127.0.0.1:0"), true, listeners[0]), 0);
    const Address taken = raw_sockets::local_address(listeners[0]);
    EXPECT_EQ(bind_and_listen(taken, true, listeners[1]), 0) << taken.to_string();
    return listeners;
}

TEST(ReusePort, LetsTwoTcpListenersShareOnePortAndSpreadsConnections) {
    std::array<Socket, 2> listeners = two_reuseport_listeners();
    const Address address = raw_sockets::local_address(listeners[0]);
    std::vector<Socket> clients;
    for (int i = 0; i < connections; ++i) clients.push_back(raw_sockets::connect_to(address));
    const auto deadline = Clock::now() + patience;
    while (queued(listeners[0]) + queued(listeners[1]) < connections && Clock::now() < deadline) {
        std::this_thread::yield();
    }

    // The kernel picks a listener by a hash of each connection's addresses and ports; with
    // 64 connections from 64 source ports, both get some (all on one: about 1 in 2^63).
    const int first = accept_waiting(listeners[0]);
    const int second = accept_waiting(listeners[1]);
    EXPECT_EQ(first + second, connections);
    EXPECT_GT(first, 0);
    EXPECT_GT(second, 0);
}

TEST(ReusePort, WithoutItASecondTcpBindFails) {
    Socket first;
    Socket second;
    ASSERT_EQ(bind_and_listen(Address::parse("127.0.0.1:0"), false, first), 0);
    EXPECT_EQ(bind_and_listen(raw_sockets::local_address(first), false, second), EADDRINUSE);
}

TEST(ReusePort, DoesNotLetAUnixPathBeBoundTwice) {
    // A Unix socket's address is a file: bind() creates it, and a second bind() finds it
    // there. Older kernels (Debian 12's 6.1) accept SO_REUSEPORT on a Unix socket and
    // ignore it; recent ones refuse it with EOPNOTSUPP. Either way, workers can share a
    // Unix socket only by inheriting it.
    test_support::TempDir dir;
    const Address address = Address::parse(dir.unix_address("shared.sock"));
    Socket first;
    ASSERT_EQ(bind_and_listen(address, false, first), 0);
    Fd second(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const int on = 1;
    if (::setsockopt(second.get(), SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
        EXPECT_EQ(errno, EOPNOTSUPP);
    }
    EXPECT_NE(::bind(second.get(), address.sockaddr_data(), address.sockaddr_length()), 0);
    EXPECT_EQ(errno, EADDRINUSE);
}

// --- What happens to the connections queued on a listener of the group that closes ---------

// What became of `connections` clients queued on two SO_REUSEPORT listeners when the first
// listener closed.
struct AfterTheClose {
    int queued_on_the_closed = 0;   // waiting in its accept queue when it closed
    int accepted_by_the_other = 0;  // all the other listener could accept afterwards
    int reset = 0;                  // clients that saw ECONNRESET
    bool settled = true;            // false if the counts did not add up within `patience`
};

// Connects `connections` clients to two SO_REUSEPORT listeners on 127.0.0.1, waits until
// every connection is queued (the handshake completes in the kernel, before any accept()),
// closes the first listener, then counts what the second accepts and which clients are reset.
AfterTheClose close_a_listener_with_connections_queued() {
    AfterTheClose after;
    std::array<Socket, 2> listeners = two_reuseport_listeners();
    const Address address = raw_sockets::local_address(listeners[0]);
    std::vector<Socket> clients;
    for (int i = 0; i < connections; ++i) clients.push_back(raw_sockets::connect_to(address));
    const auto deadline = Clock::now() + patience;
    while (queued(listeners[0]) + queued(listeners[1]) < connections && Clock::now() < deadline) {
        std::this_thread::yield();
    }
    after.queued_on_the_closed = queued(listeners[0]);

    listeners[0].close();

    after.accepted_by_the_other = accept_waiting(listeners[1]);
    // A reset client reports ECONNRESET once; the others have nothing to read (EAGAIN).
    std::vector<bool> was_reset(clients.size(), false);
    const int expected = connections - after.accepted_by_the_other;
    while (after.reset < expected && Clock::now() < deadline) {
        for (std::size_t i = 0; i < clients.size(); ++i) {
            std::array<std::byte, 1> byte{};
            if (!was_reset[i] &&
                ::recv(clients[i].native_handle(), byte.data(), byte.size(), MSG_DONTWAIT) < 0 &&
                errno == ECONNRESET) {
                was_reset[i] = true;
                ++after.reset;
            }
        }
    }
    after.settled = after.reset + after.accepted_by_the_other == connections;
    return after;
}

// net.ipv4.tcp_migrate_req as this process sees it (it is per network namespace); nullopt on
// kernels older than 5.14, which lack it (and behave as 0).
std::optional<int> tcp_migrate_req() {
    std::ifstream file("/proc/sys/net/ipv4/tcp_migrate_req");
    int value = 0;
    if (!(file >> value)) return std::nullopt;
    return value;
}

// In a new network namespace, only the loopback device exists, and it is down.
bool bring_loopback_up() {
    const Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    ifreq request{};
    std::strncpy(request.ifr_name, "lo", IFNAMSIZ - 1);
    if (!fd || ::ioctl(fd.get(), SIOCGIFFLAGS, &request) != 0) return false;
    request.ifr_flags = static_cast<short>(request.ifr_flags | IFF_UP);
    return ::ioctl(fd.get(), SIOCSIFFLAGS, &request) == 0;
}

bool write_tcp_migrate_req(int value) {
    std::ofstream file("/proc/sys/net/ipv4/tcp_migrate_req");
    file << value;
    file.flush();
    return static_cast<bool>(file);
}

// What a forked child reports through a pipe.
struct ChildReport {
    int failed_step = 0;  // 0: ran; 1: no namespace could be made; 2: set-up failed
    int error = 0;        // errno of the failed step
    AfterTheClose after;
};

// Runs close_a_listener_with_connections_queued() in a forked child, inside a network
// namespace of its own with net.ipv4.tcp_migrate_req set to `value`, so that the machine's
// setting does not matter (and is not changed). The sysctl is per network namespace. Root
// may unshare(CLONE_NEWNET) directly; a normal user may, where unprivileged user namespaces
// are allowed, in a new user namespace that owns the new network namespace. nullopt if
// neither is possible here.
std::optional<AfterTheClose> in_a_private_network_namespace(int value, std::string& why_not) {
    std::array<int, 2> pipe_ends{};
    if (::pipe2(pipe_ends.data(), O_CLOEXEC) != 0) raw_sockets::throw_errno("pipe2", "report");
    const Fd read_end(pipe_ends[0]);
    Fd write_end(pipe_ends[1]);
    const pid_t child = ::fork();
    if (child < 0) raw_sockets::throw_errno("fork", "namespace");
    if (child == 0) {
        ChildReport report;
        if (::unshare(CLONE_NEWNET) != 0 && ::unshare(CLONE_NEWUSER | CLONE_NEWNET) != 0) {
            report.failed_step = 1;
            report.error = errno;
        } else if (!bring_loopback_up() || !write_tcp_migrate_req(value)) {
            report.failed_step = 2;
            report.error = errno;
        } else {
            try {
                report.after = close_a_listener_with_connections_queued();
            } catch (const std::exception&) {
                report.failed_step = 2;
                report.error = errno;
            }
        }
        const bool sent =
            ::write(write_end.get(), &report, sizeof report) == static_cast<ssize_t>(sizeof report);
        ::_exit(sent ? 0 : 1);
    }
    write_end.reset();
    ChildReport report;
    const ssize_t got = ::read(read_end.get(), &report, sizeof report);
    int status = 0;
    ::waitpid(child, &status, 0);
    if (got != static_cast<ssize_t>(sizeof report)) {
        ADD_FAILURE() << "the child in its own network namespace reported nothing";
        return std::nullopt;
    }
    if (report.failed_step == 1) {
        why_not = std::string("cannot create a network namespace: unshare: ") +
                  std::strerror(report.error);
        return std::nullopt;
    }
    if (report.failed_step == 2) {
        ADD_FAILURE() << "in its own network namespace, the set-up failed: "
                      << std::strerror(report.error);
        return std::nullopt;
    }
    return report.after;
}

// With tcp_migrate_req set to `value`: in a network namespace of our own if we can make one;
// otherwise here, if this machine's setting is `value`. nullopt (with the reason) if neither.
std::optional<AfterTheClose> closed_listener_with_tcp_migrate_req(int value, std::string& why_not) {
    if (auto after = in_a_private_network_namespace(value, why_not)) return after;
    if (!why_not.empty() && tcp_migrate_req().value_or(0) == value) {
        std::cout << "[   NOTE   ] " << why_not << "; checked with this machine's own "
                  << "net.ipv4.tcp_migrate_req=" << value << '\n';
        return close_a_listener_with_connections_queued();
    }
    if (!why_not.empty()) {
        why_not += "; and this machine's net.ipv4.tcp_migrate_req is not " + std::to_string(value);
    }
    return std::nullopt;
}

TEST(ReusePort, ConnectionsQueuedOnAClosedListenerAreResetWithTcpMigrateReq0) {
    // The default (net.ipv4.tcp_migrate_req=0, and every kernel before 5.14): when a worker's
    // socket closes (the worker died or is restarting), the connections the kernel had already
    // queued on it are reset, not handed to the other listener of the group.
    std::string why_not;
    const auto after = closed_listener_with_tcp_migrate_req(0, why_not);
    if (!after) GTEST_SKIP() << why_not;
    EXPECT_TRUE(after->settled) << "reset " << after->reset << ", accepted "
                                << after->accepted_by_the_other;
    EXPECT_GT(after->queued_on_the_closed, 0);
    EXPECT_EQ(after->reset, after->queued_on_the_closed);
    EXPECT_EQ(after->accepted_by_the_other, connections - after->queued_on_the_closed);
}

TEST(ReusePort, ConnectionsQueuedOnAClosedListenerMoveToAnotherWithTcpMigrateReq1) {
    // Linux 5.14 and later, with net.ipv4.tcp_migrate_req=1: the kernel moves them to another
    // listener of the same group instead, and no client is reset.
    std::string why_not;
    const auto after = closed_listener_with_tcp_migrate_req(1, why_not);
    if (!after) GTEST_SKIP() << why_not;
    EXPECT_TRUE(after->settled);
    EXPECT_GT(after->queued_on_the_closed, 0);
    EXPECT_EQ(after->reset, 0);
    EXPECT_EQ(after->accepted_by_the_other, connections);
}

TEST(ReusePort, SpreadsConnectionsByCountSoAStalledListenersQueueKeepsGrowing) {
    // The hash looks at addresses and ports, never at how busy a listener's worker is. Here
    // one listener's worker accepts each connection at once, the other's never does (it is
    // stuck): the stuck one still gets about half of them, and its queue only grows.
    constexpr int clients_count = 200;
    std::array<Socket, 2> listeners = two_reuseport_listeners();
    const Address address = raw_sockets::local_address(listeners[0]);
    std::vector<Socket> clients;
    int accepted_by_the_idle_one = 0;
    for (int i = 0; i < clients_count; ++i) {
        clients.push_back(raw_sockets::connect_to(address));
        accepted_by_the_idle_one += accept_waiting(listeners[1]);
    }
    const auto deadline = Clock::now() + patience;
    while (accepted_by_the_idle_one + queued(listeners[0]) < clients_count &&
           Clock::now() < deadline) {
        accepted_by_the_idle_one += accept_waiting(listeners[1]);
    }
    const int stuck = queued(listeners[0]);
    EXPECT_EQ(stuck + accepted_by_the_idle_one, clients_count);
    // About half: 100 expected, and 50 is more than seven standard deviations away.
    EXPECT_GT(stuck, clients_count / 4);
    EXPECT_LT(stuck, clients_count * 3 / 4);
    EXPECT_EQ(queued(listeners[1]), 0);
}

TEST(ReusePort, ListenersOfOneGroupMustHaveTheSameEffectiveUid) {
    // socket(7): to prevent port hijacking, every socket bound to the address must belong to
    // a process with the same effective uid. Needs root, to bind as another user.
    if (::geteuid() != 0) GTEST_SKIP() << "needs root: to bind as another user (nobody)";
    Socket first;
    ASSERT_EQ(bind_and_listen(Address::parse("127.0.0.1:0"), true, first), 0);
    const Address taken = raw_sockets::local_address(first);
    const pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        int result = 99;
        if (::setresuid(65534, 65534, 65534) == 0) {
            Socket second;
            try {
                result = bind_and_listen(taken, true, second);
            } catch (const std::exception&) {
                result = 98;
            }
        }
        ::_exit(result == EADDRINUSE ? 0 : (result == 0 ? 1 : 2));
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0)
        << "1: nobody bound root's SO_REUSEPORT port; 2: something else failed";
}

// --- One shared listener, and EPOLLEXCLUSIVE -------------------------------------------------

// Workers as threads, each with an epoll instance of its own that watches the one shared Unix
// `listener`. Instance i is registered (EPOLL_CTL_ADD) i-th. The instances listed in
// `sleeping` have a thread asleep in epoll_wait(), sent to sleep in that order; the others are
// busy (no thread waits on them). One client connects. Returns which instances were woken,
// and which hold the listener as ready afterwards (what epoll_wait() reports to a worker that
// comes back to it). Nobody accepts, so the listener stays readable.
struct OneConnection {
    std::set<int> woken;
    std::set<int> ready_afterwards;
};

OneConnection one_connection(std::uint32_t events, const std::vector<int>& sleeping) {
    constexpr int workers = 4;
    test_support::TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("herd.sock")));
    const Fd release(::eventfd(0, EFD_CLOEXEC));  // ends the workers' wait when the test is done
    std::vector<Fd> instances;
    for (int i = 0; i < workers; ++i) {
        instances.emplace_back(::epoll_create1(EPOLL_CLOEXEC));
        epoll_event shared{.events = events, .data = {.fd = listener.native_handle()}};
        epoll_event done{.events = EPOLLIN, .data = {.fd = release.get()}};
        if (!instances.back() ||
            ::epoll_ctl(instances.back().get(), EPOLL_CTL_ADD, listener.native_handle(), &shared) !=
                0 ||
            ::epoll_ctl(instances.back().get(), EPOLL_CTL_ADD, release.get(), &done) != 0) {
            raw_sockets::throw_errno("epoll", "herd");
        }
    }
    std::array<std::atomic<pid_t>, workers> tids{};
    std::array<std::atomic<bool>, workers> saw_the_listener{};
    const auto deadline = Clock::now() + patience;
    std::vector<std::jthread> threads;
    for (const int i : sleeping) {
        threads.emplace_back([&, i] {
            tids[i] = ::gettid();
            std::array<epoll_event, 2> ready{};
            int count = 0;
            while ((count = ::epoll_wait(instances[i].get(), ready.data(), 2, -1)) < 0 &&
                   errno == EINTR) {
            }
            for (int e = 0; e < count; ++e) {
                if (ready[e].data.fd == listener.native_handle()) saw_the_listener[i] = true;
            }
        });
        // The next goes to sleep only once this one is asleep: the order is the one given.
        while (tids[i] == 0 || !test_support::is_blocked_in(tids[i], SYS_epoll_wait)) {
            if (Clock::now() > deadline) {
                ADD_FAILURE() << "worker " << i << " did not go to sleep in epoll_wait()";
                break;
            }
            std::this_thread::yield();
        }
    }

    const Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));

    // connect() on a Unix socket runs the listener's wake-ups before it returns: the event is
    // now in the ready list of each instance the kernel reached. Then every thread is released
    // and joined. A thread that was woken by the connection returns with the listener among
    // its events (even one not yet scheduled when the release came); a thread the connection
    // never reached returns with the release alone. No timing is involved.
    const std::uint64_t one = 1;
    EXPECT_EQ(::write(release.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
    threads.clear();
    OneConnection result;
    for (const int i : sleeping) {
        if (saw_the_listener[i]) result.woken.insert(i);
    }
    // Level-triggered: a reported event stays in the ready list while the listener is readable,
    // so this is what each worker would find on its next epoll_wait().
    for (int i = 0; i < workers; ++i) {
        std::array<epoll_event, 2> ready{};
        const int count = ::epoll_wait(instances[i].get(), ready.data(), 2, 0);
        for (int e = 0; e < count; ++e) {
            if (ready[e].data.fd == listener.native_handle()) result.ready_afterwards.insert(i);
        }
    }
    return result;
}

TEST(SharedListener, OneConnectionWakesEveryWaitingWorkerWithoutEpollExclusive) {
    // The thundering herd: all four wake to race for one accept(); three find nothing.
    EXPECT_EQ(one_connection(EPOLLIN, {0, 1, 2, 3}).woken, (std::set<int>{0, 1, 2, 3}));
}

TEST(SharedListener, WithEpollExclusiveOneConnectionWakesOneWorkerTheFirstRegistered) {
    // epoll_ctl(2) promises "one or more"; this kernel wakes one: the first instance in the
    // listener's wait queue, which is the order of EPOLL_CTL_ADD, whatever order the workers
    // went to sleep in. Here instance 3 went to sleep first and 0 last; 0 is woken.
    const OneConnection reversed = one_connection(EPOLLIN | EPOLLEXCLUSIVE, {3, 2, 1, 0});
    EXPECT_EQ(reversed.woken, (std::set<int>{0}));
    const OneConnection in_order = one_connection(EPOLLIN | EPOLLEXCLUSIVE, {0, 1, 2, 3});
    EXPECT_EQ(in_order.woken, (std::set<int>{0}));
}

TEST(SharedListener, WithEpollExclusiveABusyWorkerRegisteredFirstStillSeesTheConnection) {
    // Instance 0 is busy: nobody waits on it. The kernel walks the listener's wait queue in
    // registration order, queues the event in each instance it passes, and stops at the first
    // one with a thread waiting (1, woken). Instance 0, when its worker comes back to
    // epoll_wait(), finds the listener readable too: two workers may try accept() for one
    // connection, and the one that loses gets EAGAIN.
    const OneConnection busy_first = one_connection(EPOLLIN | EPOLLEXCLUSIVE, {3, 2, 1});
    EXPECT_EQ(busy_first.woken, (std::set<int>{1}));
    EXPECT_EQ(busy_first.ready_afterwards, (std::set<int>{0, 1}));
}

TEST(SharedListener, WithEpollExclusiveABusyWorkerRegisteredAfterTheWokenOneDoesNotSeeIt) {
    // Instance 2 is busy, but instance 0, ahead of it, has a waiting thread: the walk stops
    // there, and instances 2 and 3 never hear of this connection.
    const OneConnection busy_later = one_connection(EPOLLIN | EPOLLEXCLUSIVE, {3, 1, 0});
    EXPECT_EQ(busy_later.woken, (std::set<int>{0}));
    EXPECT_EQ(busy_later.ready_afterwards, (std::set<int>{0}));
}

}  // namespace
