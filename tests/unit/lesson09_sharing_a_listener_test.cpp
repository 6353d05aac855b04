// Chapter 09: how several processes share the work of one listening address. Two ways exist:
// one listening socket shared by inheritance (fork), every worker waiting on it with
// EPOLLEXCLUSIVE, which is what http_min does and the only way for a Unix socket path; or,
// for TCP only, one socket per worker bound to the same port with SO_REUSEPORT, the kernel
// spreading connections among them.
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstring>
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

TEST(ReusePort, ConnectionsWaitingOnAClosedListenerAreReset) {
    // The price of one queue per worker: when a worker's socket closes (the worker died or
    // is restarting), the connections the kernel had already queued on it are reset, not
    // handed to the other listener. One shared socket has no such loss.
    std::array<Socket, 2> listeners = two_reuseport_listeners();
    const Address address = raw_sockets::local_address(listeners[0]);
    std::vector<Socket> clients;
    for (int i = 0; i < connections; ++i) clients.push_back(raw_sockets::connect_to(address));

    listeners[0].close();  // its queued connections go with it

    const int survivors = accept_waiting(listeners[1]);
    int reset = 0;
    for (Socket& client : clients) {
        std::array<std::byte, 1> byte{};
        raw_sockets::set_nonblocking(client);
        try {
            (void)client.try_recv(byte);  // nothing to read: std::nullopt, or EOF
        } catch (const raw_sockets::SocketError& error) {
            if (error.code().value() == ECONNRESET) ++reset;
        }
    }
    EXPECT_GT(reset, 0);
    EXPECT_EQ(reset + survivors, connections);
}

// Four workers, as threads: each asleep in epoll_wait() on an epoll instance of its own that
// watches the one shared `listener` with `events`. Returns how many instances hold the
// listener as ready after one client connects. A woken worker would go on to accept(); here
// nobody accepts, so the listener stays ready in every instance the connection reached.
int instances_reached_by_one_connection(std::uint32_t events) {
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
    std::vector<std::jthread> threads;
    for (int i = 0; i < workers; ++i) {
        threads.emplace_back([&, i] {
            tids[i] = ::gettid();
            epoll_event event{};
            while (::epoll_wait(instances[i].get(), &event, 1, -1) < 0 && errno == EINTR) {
            }
        });
    }
    // Connect only once all four are asleep in epoll_wait(), as idle workers are.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    for (const auto& tid : tids) {
        while (tid == 0 || !test_support::is_blocked_in(tid, SYS_epoll_wait)) {
            if (std::chrono::steady_clock::now() > deadline) {
                ADD_FAILURE() << "the workers did not all wait in epoll_wait()";
                break;
            }
            std::this_thread::yield();
        }
    }
    const Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));

    // connect() ran the listener's wake-ups before it returned: the count is settled.
    int reached = 0;
    for (const Fd& instance : instances) {
        epoll_event event{};
        if (::epoll_wait(instance.get(), &event, 1, 0) == 1 &&
            event.data.fd == listener.native_handle()) {
            ++reached;
        }
    }
    const std::uint64_t one = 1;
    EXPECT_EQ(::write(release.get(), &one, sizeof one), static_cast<ssize_t>(sizeof one));
    return reached;  // the jthreads, released, are joined here
}

TEST(SharedListener, OneConnectionWakesEveryWaitingWorkerWithoutEpollExclusive) {
    // The thundering herd: all four wake to race for one accept(); three find nothing.
    EXPECT_EQ(instances_reached_by_one_connection(EPOLLIN), 4);
}

TEST(SharedListener, OneConnectionWakesOneWaitingWorkerWithEpollExclusive) {
    EXPECT_EQ(instances_reached_by_one_connection(EPOLLIN | EPOLLEXCLUSIVE), 1);
}

}  // namespace
