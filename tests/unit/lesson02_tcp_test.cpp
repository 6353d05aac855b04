// Chapter 02: the TCP twin. The TCP address forms (the chapter's exercise), and what changes
// when the same code runs over TCP: ports, port 0, peers with addresses, TIME_WAIT and
// SO_REUSEADDR. The addresses of the behaviour tests are built with from_sockaddr(), so that
// only the InetAddress tests depend on the exercise.
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>

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

TEST(TimeWait, RebindWithoutReuseAddrFailsWithEADDRINUSE) {
    const std::uint16_t port = port_left_in_time_wait();
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::listen_on(ipv4_loopback(port), {.reuse_address = false}); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_EQ(error->operation(), "bind");
}

TEST(TimeWait, ReuseAddrAllowsRebind) {
    const std::uint16_t port = port_left_in_time_wait();
    const Socket listener = raw_sockets::listen_on(ipv4_loopback(port), {.reuse_address = true});
    EXPECT_EQ(raw_sockets::local_address(listener).port(), port);
    // And the restarted server serves.
    const Socket client = raw_sockets::connect_to(ipv4_loopback(port));
    EXPECT_TRUE(raw_sockets::accept_connection(listener));
}

}  // namespace
