// Chapter 02: the TCP twin. The TCP address forms (the chapter's exercise), and what changes
// when the same code runs over TCP: ports, port 0, peers with addresses, TIME_WAIT and
// SO_REUSEADDR. The addresses of the behaviour tests are built with from_sockaddr(), so that
// only the InetAddress tests depend on the exercise.
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sched.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <arpa/inet.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::AddressError;
using raw_sockets::Fd;
using raw_sockets::Socket;
using raw_sockets::SocketError;
using test_support::contains;
using test_support::thrown;

Address ipv4(std::uint32_t host, std::uint16_t port) {
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    v4.sin_addr.s_addr = htonl(host);
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
}

Address ipv4_loopback(std::uint16_t port) {
    return ipv4(INADDR_LOOPBACK, port);
}

Address ipv6(const in6_addr& host, std::uint16_t port) {
    sockaddr_in6 v6{};
    v6.sin6_family = AF_INET6;
    v6.sin6_port = htons(port);
    v6.sin6_addr = host;
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
}

// A listener on `address`, or the reason this machine has no IPv6 to offer.
std::optional<Socket> listen_if_ipv6_works(const Address& address, std::string& why_not) {
    try {
        return raw_sockets::listen_on(address);
    } catch (const SocketError& error) {
        if (error.code().value() != EADDRNOTAVAIL && error.code().value() != EAFNOSUPPORT) throw;
        why_not = error.what();
        return std::nullopt;
    }
}

// Accepts one client of `listener` in another thread and echoes to it. The connection is
// closed when the echo ends, normally or not; the exception comes out of get().
std::future<std::size_t> echo_one_client(const Socket& listener) {
    return std::async(std::launch::async, [&listener] {
        Socket connection = raw_sockets::accept_connection(listener);
        return raw_sockets::echo_until_eof(connection);
    });
}

// The chapter-01 echo check, word for word, on whatever address `listener` has.
void expect_echo_works(const Socket& listener) {
    auto echo = echo_one_client(listener);
    Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    const std::string data = test_support::patterned_data(100 * 1024);
    std::string received;
    std::string client_error;
    try {
        received = test_support::round_trip(client, data);
    } catch (const std::exception& error) {
        client_error = error.what();  // most likely the echo side failed; get() says why
    }
    EXPECT_EQ(echo.get(), data.size());
    EXPECT_EQ(client_error, "");
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data) << "the echoed bytes differ from the bytes sent";
}

// True if /proc/net/tcp lists a connection whose local port is `port` in state `state`
// (the kernel's numbering: 06 is TIME_WAIT).
bool tcp_connection_in_state(std::uint16_t port, unsigned state) {
    std::ifstream table("/proc/net/tcp");
    std::string line;
    std::getline(table, line);  // the header
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state_hex;
        fields >> slot >> local >> remote >> state_hex;
        const std::size_t colon = local.find(':');
        if (colon == std::string::npos) continue;
        if (std::stoul(local.substr(colon + 1), nullptr, 16) == port &&
            std::stoul(state_hex, nullptr, 16) == state) {
            return true;
        }
    }
    return false;
}

constexpr unsigned tcp_time_wait = 0x06;

// Opens a listener on a free port, lets one connection end with the SERVER closing first,
// closes the listener, and returns the port, which a TIME_WAIT connection now holds.
std::uint16_t port_left_in_time_wait() {
    Socket listener = raw_sockets::listen_on(ipv4_loopback(0));
    const std::uint16_t port = raw_sockets::local_address(listener).port();
    Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    Socket server = raw_sockets::accept_connection(listener);
    server.close();  // the active close: this end is the one that waits in TIME_WAIT
    // Reading end of stream proves the server's FIN arrived; only then does the client's
    // FIN, sent by close(), move the server end from FIN_WAIT_2 to TIME_WAIT.
    EXPECT_EQ(test_support::receive_all(client), "");
    client.close();
    listener.close();
    // The kernel handles the last FIN asynchronously; wait for the state, with a limit.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!tcp_connection_in_state(port, tcp_time_wait) &&
           std::chrono::steady_clock::now() < deadline) {
        std::this_thread::yield();
    }
    EXPECT_TRUE(tcp_connection_in_state(port, tcp_time_wait))
        << "no TIME_WAIT connection on port " << port << " in /proc/net/tcp";
    return port;
}

sockaddr_in sockaddr_in_of(const Address& address) {
    sockaddr_in v4{};
    std::memcpy(&v4, address.sockaddr_data(), sizeof v4);
    return v4;
}

// ---- the TCP address forms (chapter 02's exercise) -----------------------------------------

TEST(InetAddress, ParsesIPv4) {
    const Address address = Address::parse("192.168.1.20:8080");
    EXPECT_EQ(address.kind(), Address::Kind::ipv4);
    EXPECT_EQ(address.family(), AF_INET);
    EXPECT_FALSE(address.is_unix());
    EXPECT_EQ(address.port(), 8080);
    EXPECT_EQ(address.unix_name(), "");
    EXPECT_EQ(address.inherited_fd(), -1);
    EXPECT_EQ(address.sockaddr_length(), sizeof(sockaddr_in));
    EXPECT_EQ(address.to_string(), "192.168.1.20:8080");
    const sockaddr_in v4 = sockaddr_in_of(address);
    EXPECT_EQ(v4.sin_family, AF_INET);
    EXPECT_EQ(ntohl(v4.sin_addr.s_addr), 0xC0A80114u);
    EXPECT_EQ(raw_sockets::parse_inet_address("192.168.1.20:8080"), address);
}

TEST(InetAddress, PortIsStoredInNetworkByteOrder) {
    const sockaddr_in v4 = sockaddr_in_of(raw_sockets::parse_inet_address("127.0.0.1:8080"));
    unsigned char port_bytes[2];
    std::memcpy(port_bytes, &v4.sin_port, 2);
    EXPECT_EQ(port_bytes[0], 0x1F);  // 8080 = 0x1F90, most significant byte first
    EXPECT_EQ(port_bytes[1], 0x90);
}

TEST(InetAddress, PortRangeIsZeroTo65535) {
    EXPECT_EQ(raw_sockets::parse_inet_address("127.0.0.1:0").port(), 0);
    EXPECT_EQ(raw_sockets::parse_inet_address("127.0.0.1:65535").port(), 65535);
    EXPECT_TRUE(thrown<AddressError>([] { raw_sockets::parse_inet_address("127.0.0.1:65536"); }));
}

TEST(InetAddress, LocalhostMeans127001) {
    const Address address = Address::parse("localhost:80");
    EXPECT_EQ(address, Address::parse("127.0.0.1:80"));
    EXPECT_EQ(address, ipv4_loopback(80));
    EXPECT_EQ(address.to_string(), "127.0.0.1:80");
}

TEST(InetAddress, ParsesBracketedIPv6) {
    const Address address = Address::parse("[::1]:8080");
    EXPECT_EQ(address.kind(), Address::Kind::ipv6);
    EXPECT_EQ(address.family(), AF_INET6);
    EXPECT_FALSE(address.is_unix());
    EXPECT_EQ(address.port(), 8080);
    EXPECT_EQ(address.sockaddr_length(), sizeof(sockaddr_in6));
    EXPECT_EQ(address.to_string(), "[::1]:8080");
    EXPECT_EQ(address, ipv6(in6addr_loopback, 8080));
    EXPECT_EQ(Address::parse("[2001:db8::7]:443").to_string(), "[2001:db8::7]:443");
    EXPECT_EQ(Address::parse("[::]:0"), ipv6(in6addr_any, 0));
}

TEST(InetAddress, RoundTripsThroughToString) {
    for (const char* text : {"127.0.0.1:80", "0.0.0.0:0", "10.1.2.3:65535", "[::1]:8080", "[::]:0",
                             "[2001:db8::1:2]:443", "[::ffff:10.0.0.1]:22"}) {
        const Address address = Address::parse(text);
        EXPECT_EQ(address.to_string(), text);
        EXPECT_EQ(Address::parse(address.to_string()), address) << text;
    }
    // Written differently, printed in the one canonical form.
    EXPECT_EQ(Address::parse("[0:0:0:0:0:0:0:1]:80").to_string(), "[::1]:80");
}

TEST(InetAddress, BadPortIsNamed) {
    for (const std::string port : {"99999", "65536", "http", "", "-1", "80x", " 80"}) {
        const std::string text = "127.0.0.1:" + port;
        const auto error = thrown<AddressError>([&] { Address::parse(text); });
        ASSERT_TRUE(error) << text;
        EXPECT_TRUE(contains(error->what(), "port '" + port + "'")) << text;
        EXPECT_TRUE(contains(error->what(), "'" + text + "'")) << text;
    }
}

// The port is checked first: with both parts bad, the message is about the port.
TEST(InetAddress, BadPortIsReportedBeforeABadHost) {
    const auto error = thrown<AddressError>([] { Address::parse("nowhere:99999"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "port '99999'"));
}

TEST(InetAddress, BadHostIsNamed) {
    for (const std::string host : {"nowhere", "", "256.0.0.1", "1.2.3", "example.com"}) {
        const std::string text = host + ":80";
        const auto error = thrown<AddressError>([&] { Address::parse(text); });
        ASSERT_TRUE(error) << text;
        EXPECT_TRUE(contains(error->what(), "'" + host + "'")) << text;
        EXPECT_TRUE(contains(error->what(), "host")) << text;
    }
}

TEST(InetAddress, BadIPv6HostIsNamed) {
    const auto error = thrown<AddressError>([] { Address::parse("[::g]:80"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "'::g'"));
    EXPECT_TRUE(contains(error->what(), "IPv6"));
}

TEST(InetAddress, UnbracketedIPv6IsExplained) {
    const auto error = thrown<AddressError>([] { Address::parse("::1:8080"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "brackets"));
    EXPECT_TRUE(contains(error->what(), "[::1]:8080"));
}

TEST(InetAddress, MissingBracketIsNamed) {
    const auto error = thrown<AddressError>([] { Address::parse("[::1:8080"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "'[::1'"));
    EXPECT_TRUE(contains(error->what(), "no closing ']'"));
}

TEST(InetAddress, MissingPortIsNamed) {
    const auto error = thrown<AddressError>([] { raw_sockets::parse_inet_address("127.0.0.1"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "':port'"));
}

// ---- listeners and connections over TCP ----------------------------------------------------

TEST(TcpListener, PortZeroPicksAnEphemeralPort) {
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(0));
    const Address bound = raw_sockets::local_address(listener);
    EXPECT_EQ(bound.kind(), Address::Kind::ipv4);
    EXPECT_NE(bound.port(), 0);
    // From the ephemeral range of this network namespace.
    std::ifstream range_file("/proc/sys/net/ipv4/ip_local_port_range");
    int low = 0;
    int high = 0;
    range_file >> low >> high;
    EXPECT_GE(bound.port(), low) << "ip_local_port_range " << low << " " << high;
    EXPECT_LE(bound.port(), high) << "ip_local_port_range " << low << " " << high;
    // The name in error messages is the port actually bound, not ":0".
    EXPECT_EQ(listener.name(), "127.0.0.1:" + std::to_string(bound.port()));
}

TEST(TcpListener, SecondListenerOnAPortGivesEADDRINUSE) {
    const Socket first = raw_sockets::listen_on(ipv4_loopback(0));
    const Address bound = raw_sockets::local_address(first);
    // SO_REUSEADDR (on by default) does not let two listeners share a port.
    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(bound); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_EQ(std::string(error->what()),
              "bind(" + bound.to_string() + "): EADDRINUSE (Address already in use)");
}

TEST(TcpListener, AddressOfNoLocalInterfaceGivesEADDRNOTAVAIL) {
    std::ifstream nonlocal_bind("/proc/sys/net/ipv4/ip_nonlocal_bind");
    int allowed = 0;
    if (nonlocal_bind >> allowed && allowed != 0) GTEST_SKIP() << "ip_nonlocal_bind is on here";
    // 192.0.2.1 is TEST-NET-1, documentation only: no machine has it.
    const auto error = thrown<SocketError>([] { raw_sockets::listen_on(ipv4(0xC0000201u, 0)); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRNOTAVAIL);
    EXPECT_TRUE(contains(error->what(), "bind(192.0.2.1:0): EADDRNOTAVAIL"));
}

TEST(TcpListener, IPv6WildcardLeavesTheIPv4PortFree) {
    std::string why_not;
    const auto v6 = listen_if_ipv6_works(ipv6(in6addr_any, 0), why_not);
    if (!v6) GTEST_SKIP() << "no IPv6 here: " << why_not;
    int v6_only = 0;
    socklen_t length = sizeof v6_only;
    ASSERT_EQ(::getsockopt(v6->native_handle(), IPPROTO_IPV6, IPV6_V6ONLY, &v6_only, &length), 0);
    EXPECT_EQ(v6_only, 1);
    // Without IPV6_V6ONLY, [::]:P would take 0.0.0.0:P too and this bind would fail.
    const std::uint16_t port = raw_sockets::local_address(*v6).port();
    EXPECT_NO_THROW(raw_sockets::listen_on(ipv4(INADDR_ANY, port)));
}

TEST(TcpEcho, TheSameEchoWorksOverTcp) {
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(0));
    expect_echo_works(listener);
}

TEST(TcpEcho, WorksOverIPv6Loopback) {
    std::string why_not;
    const auto listener = listen_if_ipv6_works(ipv6(in6addr_loopback, 0), why_not);
    if (!listener) GTEST_SKIP() << "no IPv6 loopback here: " << why_not;
    EXPECT_TRUE(contains(listener->name(), "[::1]:"));
    expect_echo_works(*listener);
}

TEST(TcpConnect, ClosedPortGivesECONNREFUSED) {
    // A port held by a socket that is bound but not listening: no listener answers, and no
    // other test can start one there while this one runs.
    const Fd holder(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const Address any_port = ipv4_loopback(0);
    ASSERT_EQ(::bind(holder.get(), any_port.sockaddr_data(), any_port.sockaddr_length()), 0);
    sockaddr_in bound{};
    socklen_t length = sizeof bound;
    ASSERT_EQ(::getsockname(holder.get(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
    const Address closed = ipv4_loopback(ntohs(bound.sin_port));

    const auto error = thrown<SocketError>([&] { raw_sockets::connect_to(closed); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ECONNREFUSED);
    EXPECT_EQ(std::string(error->what()),
              "connect(" + closed.to_string() + "): ECONNREFUSED (Connection refused)");
}

TEST(Accept, NamesTcpPeerByAddress) {
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(0));
    const Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    const Socket accepted = raw_sockets::accept_connection(listener);
    const Address client_address = raw_sockets::local_address(client);
    EXPECT_NE(client_address.port(), 0);  // connect() gave the client an ephemeral port
    EXPECT_EQ(accepted.name(), client_address.to_string());
    EXPECT_EQ(raw_sockets::peer_address(accepted), client_address);
    EXPECT_EQ(raw_sockets::peer_address(client), raw_sockets::local_address(listener));
}

TEST(CloseOnExec, TcpSocketsAreCloseOnExecToo) {
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(0));
    const Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    const Socket accepted = raw_sockets::accept_connection(listener);
    for (const Socket* socket : {&listener, &client, &accepted}) {
        EXPECT_NE(::fcntl(socket->native_handle(), F_GETFD) & FD_CLOEXEC, 0) << socket->name();
    }
}

// ---- TIME_WAIT and SO_REUSEADDR ------------------------------------------------------------

//! [rebind-without-reuseaddr]
TEST(TimeWait, RebindWithoutReuseAddrFailsWithEADDRINUSE) {
    const std::uint16_t port = port_left_in_time_wait();
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::listen_on(ipv4_loopback(port), {.reuse_address = false}); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_EQ(error->operation(), "bind");
}
//! [rebind-without-reuseaddr]

// Seconds left on the TIME_WAIT timer of a connection whose local port is `port`, from
// /proc/net/tcp ("tr:tm->when": timer 3 is TIME_WAIT, counted in clock ticks); -1 if none.
double time_wait_seconds_left(std::uint16_t port) {
    std::ifstream table("/proc/net/tcp");
    std::string line;
    std::getline(table, line);  // the header
    while (std::getline(table, line)) {
        std::istringstream fields(line);
        std::string slot, local, remote, state_hex, queues, timer;
        fields >> slot >> local >> remote >> state_hex >> queues >> timer;
        const std::size_t colon = local.find(':');
        if (colon == std::string::npos ||
            std::stoul(local.substr(colon + 1), nullptr, 16) != port ||
            std::stoul(state_hex, nullptr, 16) != tcp_time_wait || !timer.starts_with("03:")) {
            continue;
        }
        return static_cast<double>(std::stoul(timer.substr(3), nullptr, 16)) /
               static_cast<double>(::sysconf(_SC_CLK_TCK));
    }
    return -1;
}

TEST(TimeWait, LastsSixtySeconds) {
    // TCP_TIMEWAIT_LEN, a constant of the Linux kernel (no sysctl changes it).
    const std::uint16_t port = port_left_in_time_wait();
    const double left = time_wait_seconds_left(port);
    EXPECT_GT(left, 45.0) << "seconds left in TIME_WAIT on port " << port;
    EXPECT_LE(left, 60.0) << "seconds left in TIME_WAIT on port " << port;
}

TEST(TimeWait, ReuseAddrAllowsRebind) {
    const std::uint16_t port = port_left_in_time_wait();
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(port), {.reuse_address = true});
    EXPECT_EQ(raw_sockets::local_address(listener).port(), port);
    // And the restarted server serves.
    const Socket client = raw_sockets::connect_to(ipv4_loopback(port));
    EXPECT_TRUE(raw_sockets::accept_connection(listener));
}

// ---- who may bind a port below 1024 -------------------------------------------------------
//
// ip(7): binding a port below net.ipv4.ip_unprivileged_port_start (Linux 4.11+, default
// 1024, per network namespace) needs CAP_NET_BIND_SERVICE. The tests read the sysctl, or set
// it in a network namespace of their own, and check the outcome that goes with the value.

// /proc/sys/net/ipv4/ip_unprivileged_port_start of this process's network namespace.
int unprivileged_port_start() {
    std::ifstream file("/proc/sys/net/ipv4/ip_unprivileged_port_start");
    int value = -1;
    file >> value;
    return value;
}

// The errno of binding a TCP socket to `host`:`port` (0: bound), as the calling process.
int bind_error(std::uint32_t host, std::uint16_t port) {
    const Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    v4.sin_port = htons(port);
    v4.sin_addr.s_addr = htonl(host);
    return ::bind(fd.get(), reinterpret_cast<const sockaddr*>(&v4), sizeof v4) == 0 ? 0 : errno;
}

// Runs `body` in a forked child and returns its exit status (or -1 if it did not exit).
// The child's effects (a dropped uid, a namespace) stay in the child.
template <class Body>
int in_child(Body body) {
    const pid_t pid = ::fork();
    if (pid == 0) ::_exit(body());
    int status = 0;
    if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status)) return -1;
    return WEXITSTATUS(status);
}

// Drops to the nobody user (uid and gid 65534), which also drops every capability.
bool become_nobody() {
    return ::setgroups(0, nullptr) == 0 && ::setresgid(65534, 65534, 65534) == 0 &&
           ::setresuid(65534, 65534, 65534) == 0;
}

TEST(PrivilegedPorts, BelowIpUnprivilegedPortStartAnUnprivilegedBindGetsEACCES) {
    const int start = unprivileged_port_start();
    if (start < 0)
        GTEST_SKIP() << "no /proc/sys/net/ipv4/ip_unprivileged_port_start (Linux < 4.11)";
    // As root, a child drops to nobody; as a normal user, the child is already unprivileged.
    const int outcome = in_child([start] {
        if (::geteuid() == 0 && !become_nobody()) return 100;
        // Below the sysctl: refused before the port is even looked at (so a port in use
        // gives EACCES too). At or above it, even below 1024: allowed.
        if (start >= 2 &&
            bind_error(INADDR_LOOPBACK, static_cast<std::uint16_t>(start - 1)) != EACCES) {
            return 1;
        }
        if (start < 1024) {
            for (int port = start == 0 ? 1 : start; port < 1024; ++port) {
                const int error = bind_error(INADDR_LOOPBACK, static_cast<std::uint16_t>(port));
                if (error == 0) return 0;
                if (error != EADDRINUSE) return 2;
            }
            return 3;  // every port from the sysctl to 1023 is in use: nothing shown
        }
        return 0;
    });
    EXPECT_EQ(outcome, 0) << "ip_unprivileged_port_start is " << start
                          << " (1: the port below it was not refused with EACCES; 2: a port "
                             "at or above it was refused; 100: could not become nobody)";
}

TEST(PrivilegedPorts, TheSysctlDecidesInAPrivateNetworkNamespace) {
    if (::geteuid() != 0)
        GTEST_SKIP() << "needs root: to set the sysctl in a private network namespace";
    // 0 (common in containers: every port is open to everyone) against the default 1024.
    for (const int start : {1024, 0}) {
        SCOPED_TRACE("ip_unprivileged_port_start = " + std::to_string(start));
        const int outcome = in_child([start] {
            if (::unshare(CLONE_NEWNET) != 0) return 101;
            std::ofstream("/proc/sys/net/ipv4/ip_unprivileged_port_start") << start;
            if (unprivileged_port_start() != start) return 102;
            if (!become_nobody()) return 100;
            return bind_error(INADDR_ANY, 80);  // nothing listens in a new namespace
        });
        if (outcome == 101) GTEST_SKIP() << "needs unshare(CLONE_NEWNET), refused here";
        if (outcome == 102) GTEST_SKIP() << "/proc/sys/net is read-only here";
        EXPECT_EQ(outcome, start == 0 ? 0 : EACCES)
            << "nobody binding port 80: " << raw_sockets::errno_name(outcome);
    }
}

// ---- a full backlog --------------------------------------------------------------------------
//
// listen(fd, backlog) bounds the queue of connections the kernel has completed and the
// server has not accepted yet. Both Unix and TCP listeners take backlog + 1 (the kernel's
// "full" is "more than backlog"); what happens to the next client differs.

// A raw Unix stream listener on `path` with `backlog`.
Fd unix_listener(const std::string& path, int backlog) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const Address address = Address::parse("unix:" + path);
    EXPECT_EQ(::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()), 0);
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
    return fd;
}

// A raw TCP listener on 127.0.0.1, port chosen by the kernel, with `backlog`.
Fd tcp_listener(int backlog, Address& bound) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const Address any_port = ipv4_loopback(0);
    EXPECT_EQ(::bind(fd.get(), any_port.sockaddr_data(), any_port.sockaddr_length()), 0);
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&storage), &length);
    bound = Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
    return fd;
}

// Starts a non-blocking connect() to `address`: the socket and connect()'s errno (0: done).
std::pair<Fd, int> start_connect(const Address& address) {
    Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
    const int error =
        ::connect(fd.get(), address.sockaddr_data(), address.sockaddr_length()) == 0 ? 0 : errno;
    return {std::move(fd), error};
}

// Waits up to `timeout` for a connect() in progress to finish: its result (0 or an errno),
// or EINPROGRESS if it is still pending.
int finish_connect(const Fd& fd, std::chrono::milliseconds timeout) {
    pollfd writable{.fd = fd.get(), .events = POLLOUT, .revents = 0};
    if (::poll(&writable, 1, static_cast<int>(timeout.count())) == 0) return EINPROGRESS;
    int error = 0;
    socklen_t length = sizeof error;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length);
    return error;
}

// What `ss -ltn` shows of a TCP listener, from TCP_INFO: Recv-Q, the connections waiting to
// be accepted, and Send-Q, the backlog the listener really got.
struct ListenerQueue {
    unsigned waiting = 0;
    unsigned backlog = 0;
};

ListenerQueue listener_queue(const Fd& listener) {
    tcp_info info{};
    socklen_t length = sizeof info;
    EXPECT_EQ(::getsockopt(listener.get(), IPPROTO_TCP, TCP_INFO, &info, &length), 0);
    EXPECT_EQ(info.tcpi_state, TCP_LISTEN);
    return {.waiting = info.tcpi_unacked, .backlog = info.tcpi_sacked};  // so for a listener
}

// Waits (up to 10 s) until `count` connections wait on `listener`; true if they do.
bool waiting_connections_reach(const Fd& listener, unsigned count) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (listener_queue(listener).waiting != count) {
        if (std::chrono::steady_clock::now() >= deadline) return false;
        std::this_thread::sleep_for(std::chrono::milliseconds(1));  // paces the polling
    }
    return true;
}

int somaxconn() {
    std::ifstream file("/proc/sys/net/core/somaxconn");
    int value = -1;
    file >> value;
    return value;
}

TEST(Backlog, ListenClampsTheBacklogToSomaxconn) {
    // net.core.somaxconn (per network namespace) is 4096 since Linux 5.4, 128 before.
    const int limit = somaxconn();
    ASSERT_GT(limit, 0) << "cannot read /proc/sys/net/core/somaxconn";
    Address address;
    const Fd listener = tcp_listener(100000, address);
    EXPECT_EQ(listener_queue(listener).backlog, static_cast<unsigned>(std::min(100000, limit)))
        << "net.core.somaxconn is " << limit;
}

TEST(Backlog, UnixListenerQueuesBacklogPlusOneThenConnectFailsWithEAGAIN) {
    const test_support::TempDir dir;
    for (const int backlog : {0, 1, 5}) {
        SCOPED_TRACE("listen(fd, " + std::to_string(backlog) + ")");
        const std::string path = dir.file("b" + std::to_string(backlog));
        const Fd listener = unix_listener(path, backlog);
        std::vector<Fd> queued;
        int error = 0;
        while (queued.size() < 100) {
            auto [client, result] = start_connect(Address::parse("unix:" + path));
            if (result != 0) {
                error = result;
                break;
            }
            queued.push_back(std::move(client));
        }
        EXPECT_EQ(queued.size(), static_cast<std::size_t>(backlog + 1));
        EXPECT_EQ(error, EAGAIN) << raw_sockets::errno_name(error);
    }
}

TEST(Backlog, UnixBlockingConnectWaitsUntilTheServerAccepts) {
    // What this kernel does (Linux 6.x); other kernels differ (see the chapter).
    const test_support::TempDir dir;
    const std::string path = dir.file("full");
    const Fd listener = unix_listener(path, 0);
    auto [first, result] = start_connect(Address::parse("unix:" + path));
    ASSERT_EQ(result, 0);
    ASSERT_EQ(start_connect(Address::parse("unix:" + path)).second, EAGAIN) << "not full";

    auto blocking = std::async(std::launch::async, [&path] {
        const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const timeval limit{.tv_sec = 30, .tv_usec = 0};  // a bound for the test, not reached
        ::setsockopt(fd.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit);
        const Address address = Address::parse("unix:" + path);
        return ::connect(fd.get(), address.sockaddr_data(), address.sockaddr_length()) == 0 ? 0
                                                                                            : errno;
    });
    EXPECT_EQ(blocking.wait_for(std::chrono::milliseconds(500)), std::future_status::timeout)
        << "a blocking connect() to a full Unix listener returned at once";
    const Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));  // room for one
    ASSERT_TRUE(accepted);
    ASSERT_EQ(blocking.wait_for(std::chrono::seconds(10)), std::future_status::ready)
        << "the blocking connect() still waits after the server made room";
    EXPECT_EQ(blocking.get(), 0);
}

// TcpExt ListenOverflows of this network namespace (/proc/net/netstat; `nstat` shows it as
// TcpExtListenOverflows): SYNs dropped because an accept queue was full.
long listen_overflows() {
    std::ifstream table("/proc/net/netstat");
    std::string names;
    std::string values;
    while (std::getline(table, names) && std::getline(table, values)) {
        if (!names.starts_with("TcpExt:")) continue;
        std::istringstream name_fields(names);
        std::istringstream value_fields(values);
        std::string name;
        std::string value;
        while (name_fields >> name && value_fields >> value) {
            if (name == "ListenOverflows") return std::stol(value);
        }
    }
    return -1;
}

TEST(Backlog, TcpListenerDropsTheSynAndTheClientRetriesForSeconds) {
    const long overflows_before = listen_overflows();
    Address address;
    const Fd listener = tcp_listener(1, address);
    std::vector<Fd> queued;
    Fd pending;
    const auto started = std::chrono::steady_clock::now();
    while (queued.size() < 100) {
        auto [client, result] = start_connect(address);
        ASSERT_TRUE(result == 0 || result == EINPROGRESS) << raw_sockets::errno_name(result);
        // A queued connection completes at once over the loopback; give it a generous second.
        if (result == EINPROGRESS) result = finish_connect(client, std::chrono::seconds(1));
        if (result == EINPROGRESS) {
            pending = std::move(client);
            break;
        }
        ASSERT_EQ(result, 0) << raw_sockets::errno_name(result);
        queued.push_back(std::move(client));
        // The server's side of the handshake ends a moment after the client's: the next
        // SYN must meet the queue as it really is.
        ASSERT_TRUE(waiting_connections_reach(listener, static_cast<unsigned>(queued.size())))
            << "Recv-Q of the listener never showed " << queued.size();
    }
    EXPECT_EQ(queued.size(), 2u) << "listen(fd, 1) should queue 2 connections";
    ASSERT_TRUE(pending) << "no connect() was left pending";

    // No refusal, no error: the SYN went unanswered, and the client is still trying.
    tcp_info info{};
    socklen_t length = sizeof info;
    ASSERT_EQ(::getsockopt(pending.get(), IPPROTO_TCP, TCP_INFO, &info, &length), 0);
    EXPECT_EQ(info.tcpi_state, TCP_SYN_SENT);
    EXPECT_EQ(finish_connect(pending, std::chrono::milliseconds(500)), EINPROGRESS);

    // Room for one: the client's next SYN, sent after its retransmission timeout (1 s, then
    // doubling: 3 s, 7 s, ... after the first), is answered.
    const Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted);
    EXPECT_EQ(finish_connect(pending, std::chrono::seconds(20)), 0);
    EXPECT_GE(std::chrono::steady_clock::now() - started, std::chrono::milliseconds(900))
        << "it connected before any SYN could have been retransmitted";
    length = sizeof info;
    ASSERT_EQ(::getsockopt(pending.get(), IPPROTO_TCP, TCP_INFO, &info, &length), 0);
    EXPECT_GE(info.tcpi_total_retrans, 1u) << "the SYN that got through was a retransmission";
    // The kernel counted the dropped SYNs (other tests may add to the count, never take).
    EXPECT_GT(listen_overflows(), overflows_before);
}

}  // namespace
