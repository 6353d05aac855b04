// Chapter 06: who is calling. A Unix socket is a file, so the file system's permissions decide
// who may connect (write permission on the socket, search permission on every directory,
// group membership), and the kernel tells the server who connected (SO_PEERCRED), as it was at
// connect() time. TCP has neither: any local user reaches a loopback port, and the kernel has
// nothing to say about the peer. (SCM_CREDENTIALS, credentials sent with a message, is
// chapter 07's: its tests are in lesson07_passing_descriptors_test.cpp.)
//
// The access tests need a second user: as root, a forked child becomes nobody (uid and gid
// 65534) before it connects. They are skipped when the tests do not run as root.
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <sched.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <optional>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::Credentials;
using raw_sockets::Fd;
using raw_sockets::ListenOptions;
using raw_sockets::Socket;
using raw_sockets::SocketError;
using test_support::Child;
using test_support::contains;
using test_support::TempDir;
using test_support::thrown;

#ifndef SO_PEERPIDFD
#define SO_PEERPIDFD 77  // Linux 6.5; older C library headers lack the name
#endif

constexpr uid_t nobody_uid = 65534;
constexpr gid_t nobody_gid = 65534;  // nogroup on Debian
constexpr gid_t not_nobodys_gid = 65533;

bool is_root() {
    return ::geteuid() == 0;
}

// Why a test that needs a second user is skipped when the tests do not run as root.
constexpr const char* needs_root =
    "needs root: only root can start a process as another user (nobody) to show what the "
    "kernel allows or refuses it";

// A safety net, not a wait: a blocking call on one of the test's sockets fails with EAGAIN
// after 10 s instead of hanging when the code under test is broken.
void give_up_after_10s(const Socket& socket) {
    const timeval limit{.tv_sec = 10, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit),
              0);
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit),
              0);
}

mode_t permissions_of(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return 0;
    return info.st_mode & 07777;
}

std::string octal(mode_t mode) {
    std::array<char, 16> text{};
    std::snprintf(text.data(), text.size(), "0%o", static_cast<unsigned>(mode));
    return text.data();
}

// In a forked child: gives up root for `uid` and `gid`, with exactly `groups` as supplementary
// groups. Returns what failed, or nothing.
std::string become(uid_t uid, gid_t gid, const std::vector<gid_t>& groups = {}) {
    if (::setgroups(groups.size(), groups.data()) != 0) {
        return "setgroups: " + raw_sockets::errno_name(errno);
    }
    if (::setgid(gid) != 0) return "setgid: " + raw_sockets::errno_name(errno);
    if (::setuid(uid) != 0) return "setuid: " + raw_sockets::errno_name(errno);
    return {};
}

// In a forked child: one plain connect() to `address`; "connected" or the errno's name. The
// system call itself, so that what the test shows is the kernel's decision.
std::string try_connect(const Address& address) {
    const Fd fd(::socket(address.family(), SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return "socket: " + raw_sockets::errno_name(errno);
    if (::connect(fd.get(), address.sockaddr_data(), address.sockaddr_length()) == 0) {
        return "connected";
    }
    return raw_sockets::errno_name(errno);
}

// What connect() to `address` gives a process of user `uid` and group `gid` (and exactly
// `groups` besides): "connected", or the errno's name, such as "EACCES".
std::string connect_as(uid_t uid, gid_t gid, const Address& address,
                       const std::vector<gid_t>& groups = {}) {
    Child child([&] {
        const std::string failed = become(uid, gid, groups);
        return failed.empty() ? try_connect(address) : failed;
    });
    return child.finish();
}

std::string connect_as_nobody(const Address& address) {
    return connect_as(nobody_uid, nobody_gid, address);
}

// A listener on `dir`/`name` whose socket file has `mode`.
Socket listen_with_mode(const TempDir& dir, const std::string& name, mode_t mode) {
    ListenOptions options;
    options.unix_mode = mode;
    return raw_sockets::listen_on(Address::parse(dir.unix_address(name)), options);
}

// The Uid line of /proc/PID/status: real, effective, saved and file-system uid.
std::string uid_line_of(pid_t pid) {
    std::ifstream status("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("Uid:")) return line;
    }
    return "(no Uid line for pid " + std::to_string(pid) + ")";
}

// The uid (or gid) the kernel shows for an id that has no mapping in the reader's user
// namespace: the sysctls kernel.overflowuid and kernel.overflowgid, 65534 unless someone
// changed them. Read, not assumed.
unsigned overflow_id(const std::string& sysctl) {
    std::ifstream file("/proc/sys/kernel/" + sysctl);
    unsigned value = 65534;
    file >> value;
    return value;
}
uid_t overflow_uid() {
    return overflow_id("overflowuid");
}
gid_t overflow_gid() {
    return overflow_id("overflowgid");
}

// In a forked child: writes `text` to /proc/self/`name` (uid_map, gid_map, setgroups).
std::string write_proc_self(const std::string& name, const std::string& text) {
    const Fd file(::open(("/proc/self/" + name).c_str(), O_WRONLY | O_CLOEXEC));
    if (!file) return "open /proc/self/" + name + ": " + raw_sockets::errno_name(errno);
    if (::write(file.get(), text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
        return "write /proc/self/" + name + ": " + raw_sockets::errno_name(errno);
    }
    return {};
}

// In a forked child: enters a new user namespace that maps only this process's own uid and
// gid (to themselves), as `unshare --user --map-current-user` does. Returns what failed.
std::string enter_user_namespace_as(uid_t inside_uid, gid_t inside_gid) {
    const uid_t uid = ::geteuid();
    const gid_t gid = ::getegid();
    // After setuid() the kernel makes /proc/self root's: let this process write its maps.
    if (::prctl(PR_SET_DUMPABLE, 1) != 0) return "prctl: " + raw_sockets::errno_name(errno);
    if (::unshare(CLONE_NEWUSER) != 0) return "unshare: " + raw_sockets::errno_name(errno);
    if (std::string failed = write_proc_self(
            "uid_map", std::to_string(inside_uid) + " " + std::to_string(uid) + " 1");
        !failed.empty()) {
        return failed;
    }
    // An unprivileged process must give up setgroups() before it may write its gid_map.
    if (std::string failed = write_proc_self("setgroups", "deny"); !failed.empty()) return failed;
    return write_proc_self("gid_map",
                           std::to_string(inside_gid) + " " + std::to_string(gid) + " 1");
}

// The same, keeping its own ids' numbers (as `unshare --user --map-current-user` does).
std::string enter_user_namespace_mapping_only_myself() {
    return enter_user_namespace_as(::geteuid(), ::getegid());
}

// Why the user-namespace tests skip, when this machine does not let the process make one.
std::string user_namespaces_unavailable() {
    Child probe([] {
        return ::unshare(CLONE_NEWUSER) == 0
                   ? std::string()
                   : "unshare(CLONE_NEWUSER): " + raw_sockets::errno_name(errno);
    });
    const std::string failed = probe.finish();
    return failed.empty()
               ? std::string()
               : "this machine does not let the tests create a user namespace (" + failed +
                     "; see user.max_user_namespaces, or a distribution's "
                     "kernel.unprivileged_userns_clone)";
}

// A unique abstract address: one abstract namespace per network namespace, shared by every
// user and every test running at the same time.
Address unique_abstract_address() {
    std::random_device random;
    return Address::parse("unix:@course-lesson06-" + std::to_string(::getpid()) + "-" +
                          std::to_string(random()));
}

// ---- SO_PEERCRED ---------------------------------------------------------------------------

TEST(PeerCredentials, ReportsTheConnectingProcess) {
    const TempDir dir;
    // As root the child becomes nobody (with another gid), so that its uid and gid differ
    // from ours; it then needs search permission on the directory and write permission on
    // the socket file.
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    const Socket listener = listen_with_mode(dir, "who.sock", 0666);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);
    // A gid unlike the uid, so that a mix-up of the two shows.
    const uid_t child_uid = is_root() ? nobody_uid : ::geteuid();
    const gid_t child_gid = is_root() ? not_nobodys_gid : ::getegid();

    // The child connects and reports what it sees at its end: who listens.
    Child child([&]() -> std::string {
        if (is_root()) {
            if (std::string failed = become(child_uid, child_gid); !failed.empty()) {
                return failed;
            }
        }
        const Socket server = raw_sockets::connect_to(address);
        return raw_sockets::to_string(raw_sockets::peer_credentials(server));
    });
    const pid_t child_pid = child.pid();
    const std::string server_as_the_client_sees_it = child.finish();

    EXPECT_EQ(server_as_the_client_sees_it,
              raw_sockets::to_string(Credentials{::getpid(), ::geteuid(), ::getegid()}));
    // The connection waited in the queue; the kernel kept the identity the child had.
    const Socket connection = raw_sockets::accept_connection(listener);
    const Credentials peer = raw_sockets::peer_credentials(connection);
    EXPECT_EQ(peer.pid, child_pid);
    EXPECT_EQ(peer.uid, child_uid);
    EXPECT_EQ(peer.gid, child_gid);
    EXPECT_EQ(raw_sockets::to_string(peer), "pid=" + std::to_string(child_pid) +
                                                " uid=" + std::to_string(child_uid) +
                                                " gid=" + std::to_string(child_gid));
}

TEST(PeerCredentials, AreRecordedAtConnectTime) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    const Socket listener = listen_with_mode(dir, "who.sock", 0666);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);

    // The child connects as root, becomes nobody, connects again, and stays alive as nobody
    // until we close its first connection.
    Child child([&]() -> std::string {
        Socket as_root = raw_sockets::connect_to(address);
        as_root.send_all("1");
        if (std::string failed = become(nobody_uid, nobody_gid); !failed.empty()) return failed;
        Socket as_nobody = raw_sockets::connect_to(address);
        as_nobody.send_all("2");
        std::array<std::byte, 16> buffer;
        while (as_root.recv_some(buffer) != 0) {
        }
        return {};
    });

    // Which connection is which: the child's first byte says.
    std::optional<Socket> first;
    std::optional<Socket> second;
    for (int i = 0; i < 2; ++i) {
        try {
            Socket connection = raw_sockets::accept_connection(listener);
            give_up_after_10s(connection);
            std::array<std::byte, 1> tag{};
            ASSERT_TRUE(connection.recv_exact(tag));
            (tag[0] == std::byte{'1'} ? first : second) = std::move(connection);
        } catch (const std::exception& error) {
            first.reset();  // the child waits for this one to close
            FAIL() << error.what() << "; the child says: " << child.finish();
        }
    }
    ASSERT_TRUE(first && second);

    // The child is nobody now (its second connect() came after setuid())...
    EXPECT_TRUE(contains(uid_line_of(child.pid()), "\t65534\t65534\t65534\t65534"));
    // ...but its first connection still says root: recorded at connect(), not looked up now.
    EXPECT_EQ(raw_sockets::peer_credentials(*first).uid, 0u);
    EXPECT_EQ(raw_sockets::peer_credentials(*first).gid, 0u);
    EXPECT_EQ(raw_sockets::peer_credentials(*second).uid, nobody_uid);
    EXPECT_EQ(raw_sockets::peer_credentials(*second).gid, nobody_gid);
    EXPECT_EQ(raw_sockets::peer_credentials(*first).pid, child.pid());
    EXPECT_EQ(raw_sockets::peer_credentials(*second).pid, child.pid());

    first->close();  // the child sees end of stream and exits
    EXPECT_EQ(child.finish(), "");
}

TEST(PeerCredentials, FailureThrowsASocketErrorNamingTheCall) {
    // A pipe is no socket: getsockopt() fails with ENOTSOCK.
    std::array<int, 2> ends{};
    ASSERT_EQ(::pipe2(ends.data(), O_CLOEXEC), 0);
    const Fd write_end(ends[1]);
    const Socket not_a_socket(Fd(ends[0]), "a pipe");
    const auto error = test_support::thrown<SocketError>(
        [&] { (void)raw_sockets::peer_credentials(not_a_socket); });
    ASSERT_TRUE(error) << "peer_credentials() did not throw a SocketError";
    EXPECT_EQ(error->code().value(), ENOTSOCK);
    EXPECT_EQ(error->operation(), "getsockopt(SO_PEERCRED)");
}

// A TCP listener on 127.0.0.1 and its address, made with the plain system calls: chapter
// 02's exercise (inet_address.cpp, behind Address::parse("127.0.0.1:0")) is not needed here.
std::pair<Fd, sockaddr_in> loopback_tcp_listener() {
    Fd listener(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof address;
    if (!listener || ::bind(listener.get(), reinterpret_cast<sockaddr*>(&address), length) != 0 ||
        ::listen(listener.get(), 4) != 0 ||
        ::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&address), &length) != 0) {
        throw std::runtime_error("loopback listener: " + std::string(std::strerror(errno)));
    }
    return {std::move(listener), address};
}

// One plain connect() to a TCP address: "connected" or the errno's name.
std::string try_tcp_connect(const sockaddr_in& address, Fd& fd) {
    fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!fd) return "socket: " + raw_sockets::errno_name(errno);
    if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        return raw_sockets::errno_name(errno);
    }
    return "connected";
}

// Both ends of one TCP connection on 127.0.0.1.
std::pair<Socket, Socket> loopback_tcp_pair() {
    const auto [listener, address] = loopback_tcp_listener();
    Fd client;
    if (const std::string result = try_tcp_connect(address, client); result != "connected") {
        throw std::runtime_error("loopback connect: " + result);
    }
    Fd server(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    if (!server) throw std::runtime_error("accept: " + std::string(std::strerror(errno)));
    return {Socket(std::move(client), "tcp client"), Socket(std::move(server), "tcp server")};
}

//! [tcp-says-nothing]
TEST(PeerCredentials, OverTcpSayNothing) {
    const auto [client, server] = loopback_tcp_pair();
    for (const Socket* end : {&server, &client}) {
        SCOPED_TRACE(end->name());
        // The same machine, even the same process, yet the kernel keeps no identity for TCP.
        const Credentials peer = raw_sockets::peer_credentials(*end);
        EXPECT_EQ(peer.pid, 0);
        EXPECT_EQ(peer.uid, static_cast<uid_t>(-1));
        EXPECT_EQ(peer.gid, static_cast<gid_t>(-1));
    }
}
//! [tcp-says-nothing]

TEST(PeerCredentials, SoPeerGroupsListsThePeersSupplementaryGroups) {
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    const Socket listener = listen_with_mode(dir, "who.sock", 0666);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);
    // As root the child takes groups of our choosing; otherwise it keeps ours.
    std::vector<gid_t> expected = {100, not_nobodys_gid, 4242};
    if (!is_root()) {
        expected.resize(static_cast<std::size_t>(::getgroups(0, nullptr)));
        ASSERT_EQ(::getgroups(static_cast<int>(expected.size()), expected.data()),
                  static_cast<int>(expected.size()));
    }

    Child child([&]() -> std::string {
        if (is_root()) {
            if (std::string failed = become(nobody_uid, nobody_gid, expected); !failed.empty()) {
                return failed;
            }
        }
        Socket server = raw_sockets::connect_to(address);
        std::array<std::byte, 1> end{};
        while (server.recv_some(end) != 0) {
        }
        return {};
    });
    Socket connection = raw_sockets::accept_connection(listener);
    std::vector<gid_t> groups = raw_sockets::peer_groups(connection);
    connection.close();
    ASSERT_EQ(child.finish(), "");

    std::sort(groups.begin(), groups.end());  // the kernel keeps them sorted; no promise
    std::sort(expected.begin(), expected.end());
    EXPECT_EQ(groups, expected);
}

TEST(PeerCredentials, SoPeerPidfdKeepsNamingThePeerAfterItExits) {
    const TempDir dir;
    const Socket listener = listen_with_mode(dir, "who.sock", 0600);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);
    Child child([&]() -> std::string {
        Socket server = raw_sockets::connect_to(address);
        std::array<std::byte, 1> end{};
        while (server.recv_some(end) != 0) {
        }
        return {};
    });
    Socket connection = raw_sockets::accept_connection(listener);

    int pidfd = -1;
    socklen_t length = sizeof pidfd;
    if (::getsockopt(connection.native_handle(), SOL_SOCKET, SO_PEERPIDFD, &pidfd, &length) != 0) {
        const int error = errno;
        connection.close();
        child.finish();
        if (error == ENOPROTOOPT) GTEST_SKIP() << "needs Linux 6.5 or later for SO_PEERPIDFD";
        FAIL() << "getsockopt(SO_PEERPIDFD): " << raw_sockets::errno_name(error);
    }
    const Fd peer(pidfd);
    // Signal 0 checks that the process is there, without sending anything.
    EXPECT_EQ(::syscall(SYS_pidfd_send_signal, peer.get(), 0, nullptr, 0), 0);

    connection.close();  // the child sees end of stream, exits, and is reaped
    ASSERT_EQ(child.finish(), "");
    // Its pid may now go to any new process; the pidfd still means the one that connected.
    EXPECT_EQ(::syscall(SYS_pidfd_send_signal, peer.get(), 0, nullptr, 0), -1);
    EXPECT_EQ(errno, ESRCH);
}

// ---- user namespaces: ids as the reader's namespace sees them ------------------------------

TEST(UserNamespaces, AnIdTheReadersNamespaceDoesNotMapReadsAsTheOverflowUid) {
    if (const std::string why = user_namespaces_unavailable(); !why.empty()) {
        GTEST_SKIP() << why;
    }
    // A pair made by this process: each end's SO_PEERCRED names us, with our uid.
    auto [ours, theirs] = raw_sockets::socket_pair();
    give_up_after_10s(theirs);
    const uid_t overflow = overflow_uid();
    const gid_t overflow_group = overflow_gid();

    // The child enters a user namespace with no mappings at all: no id of the outside
    // world, not even its own, has a name in there.
    Child child([&]() -> std::string {
        if (::unshare(CLONE_NEWUSER) != 0) return "unshare: " + raw_sockets::errno_name(errno);
        return raw_sockets::to_string(raw_sockets::peer_credentials(theirs));
    });
    EXPECT_EQ(child.finish(), "pid=" + std::to_string(::getpid()) +
                                  " uid=" + std::to_string(overflow) +
                                  " gid=" + std::to_string(overflow_group));
    // The same socket, read from our namespace: our own uid.
    EXPECT_EQ(raw_sockets::peer_credentials(theirs).uid, ::geteuid());
}

TEST(UserNamespaces, UidAndGidAreReportedApartWhereTheirNumbersDiffer) {
    if (const std::string why = user_namespaces_unavailable(); !why.empty()) {
        GTEST_SKIP() << why;
    }
    // A user's uid and gid are often one number (1000 and 1000; root's 0 and 0), where a
    // reader that swapped them would go unnoticed. In a user namespace of its own the child
    // is uid 0 and gid 1, and a pair it makes names it so.
    Child child([]() -> std::string {
        if (std::string failed = enter_user_namespace_as(0, 1); !failed.empty()) return failed;
        auto [ours, theirs] = raw_sockets::socket_pair();
        const auto credentials = raw_sockets::peer_credentials(theirs);
        return "uid=" + std::to_string(credentials.uid) + " gid=" + std::to_string(credentials.gid);
    });
    EXPECT_EQ(child.finish(), "uid=0 gid=1");
}

TEST(UserNamespaces, HostRootReadsAsTheOverflowUidInANamespaceThatMapsOnlyTheServersUid) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    if (const std::string why = user_namespaces_unavailable(); !why.empty()) {
        GTEST_SKIP() << why;
    }
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    const Socket listener = listen_with_mode(dir, "who.sock", 0666);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);
    const uid_t overflow = overflow_uid();
    const gid_t overflow_group = overflow_gid();

    // The server side: nobody, in a user namespace of its own that maps only nobody (as
    // `unshare --user --map-current-user` would). Root connects from outside.
    Child server([&]() -> std::string {
        if (std::string failed = become(nobody_uid, nobody_gid); !failed.empty()) return failed;
        if (std::string failed = enter_user_namespace_mapping_only_myself(); !failed.empty()) {
            return failed;
        }
        const Socket connection = raw_sockets::accept_connection(listener);
        return raw_sockets::to_string(raw_sockets::peer_credentials(connection));
    });
    const Socket as_root = raw_sockets::connect_to(address);

    // Root is not mapped in there, so the server sees the overflow uid (kernel.overflowuid,
    // 65534 by default: nobody's number). A list that allows 65534 in such a server lets
    // root in.
    EXPECT_EQ(server.finish(), "pid=" + std::to_string(::getpid()) +
                                   " uid=" + std::to_string(overflow) +
                                   " gid=" + std::to_string(overflow_group));
}

// ---- who may connect -----------------------------------------------------------------------

TEST(Access, ConnectNeedsWritePermissionOnTheSocketFile) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);  // the directory is no obstacle

    // The default: owner and group only.
    const Socket default_mode = raw_sockets::listen_on(Address::parse(dir.unix_address("d")));
    EXPECT_EQ(octal(permissions_of(dir.file("d"))), "0660");
    EXPECT_EQ(connect_as_nobody(Address::parse(dir.unix_address("d"))), "EACCES");

    // For other users only the write bit counts: read permission alone does not admit.
    const struct {
        mode_t mode;
        const char* expected;
    } cases[] = {{0660, "EACCES"}, {0664, "EACCES"}, {0662, "connected"}, {0666, "connected"}};
    for (const auto& [mode, expected] : cases) {
        const std::string name = "s" + octal(mode);
        SCOPED_TRACE("socket file mode " + octal(mode));
        const Socket listener = listen_with_mode(dir, name, mode);
        ASSERT_EQ(octal(permissions_of(dir.file(name))), octal(mode));
        EXPECT_EQ(connect_as_nobody(Address::parse(dir.unix_address(name))), expected);
    }
}

TEST(Access, DirectoryNeedsSearchPermission) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const TempDir dir;  // mkdtemp: mode 0700
    const Socket listener = listen_with_mode(dir, "open.sock", 0666);
    const Address address = raw_sockets::local_address(listener);

    // An open socket file in a closed directory: the path cannot be followed.
    ASSERT_EQ(octal(permissions_of(dir.path())), "0700");
    EXPECT_EQ(connect_as_nobody(address), "EACCES");
    // Reading the directory (listing names) is not enough either: following a path through
    // a directory needs its x (search) bit.
    ASSERT_EQ(::chmod(dir.path().c_str(), 0744), 0);
    EXPECT_EQ(connect_as_nobody(address), "EACCES");
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    EXPECT_EQ(connect_as_nobody(address), "connected");
}

TEST(Access, GroupMembershipAdmits) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const group* entry = ::getgrgid(nobody_gid);
    if (entry == nullptr) GTEST_SKIP() << "this machine has no group with gid 65534 (nogroup)";
    const std::string group_name = entry->gr_name;
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);

    // docker.sock style: root owns the socket, a group may use it, nobody else may.
    ListenOptions for_the_group;
    for_the_group.unix_mode = 0660;
    for_the_group.unix_group = group_name;
    const Socket listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("group.sock")), for_the_group);
    struct stat info {};
    ASSERT_EQ(::lstat(dir.file("group.sock").c_str(), &info), 0);
    EXPECT_EQ(info.st_uid, 0u);
    EXPECT_EQ(info.st_gid, nobody_gid);
    EXPECT_EQ(octal(info.st_mode & 07777), "0660");
    const Address address = raw_sockets::local_address(listener);

    // A member by its primary group, or by a supplementary group (as users are added to
    // the docker group), gets in; the same user outside the group does not.
    EXPECT_EQ(connect_as(nobody_uid, nobody_gid, address), "connected");
    EXPECT_EQ(connect_as(nobody_uid, not_nobodys_gid, address, {nobody_gid}), "connected");
    EXPECT_EQ(connect_as(nobody_uid, not_nobodys_gid, address), "EACCES");

    // Without the group's write bit, membership does not help.
    ListenOptions owner_only = for_the_group;
    owner_only.unix_mode = 0600;
    const Socket private_listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("owner.sock")), owner_only);
    EXPECT_EQ(connect_as(nobody_uid, nobody_gid, raw_sockets::local_address(private_listener)),
              "EACCES");
}

TEST(Access, AnyLocalUserCanReachTcpLoopback) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const auto [listener, address] = loopback_tcp_listener();
    // No file, so no permission to check: a port is open to every process on the machine.
    Child child([&] {
        const std::string failed = become(nobody_uid, nobody_gid);
        Fd fd;
        return failed.empty() ? try_tcp_connect(address, fd) : failed;
    });
    EXPECT_EQ(child.finish(), "connected");
}

TEST(Access, AnAbstractNameHasNoPermissionCheck) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    // A pathname socket as private as it gets: mode 0600 in a 0700 directory.
    const TempDir dir;
    const Socket pathname = listen_with_mode(dir, "private.sock", 0600);
    ASSERT_EQ(octal(permissions_of(dir.path())), "0700");
    // An abstract name: no file, so no mode, no owner, no directory to search.
    const Socket abstract = raw_sockets::listen_on(unique_abstract_address());

    EXPECT_EQ(connect_as_nobody(raw_sockets::local_address(pathname)), "EACCES");
    EXPECT_EQ(connect_as_nobody(raw_sockets::local_address(abstract)), "connected");
}

TEST(Access, AbstractNamesBelongToTheNetworkNamespace) {
    // As root a child may enter a new network namespace; otherwise it needs a user
    // namespace to be allowed to.
    const int namespaces = is_root() ? CLONE_NEWNET : CLONE_NEWUSER | CLONE_NEWNET;
    if (!is_root()) {
        if (const std::string why = user_namespaces_unavailable(); !why.empty()) {
            GTEST_SKIP() << why;
        }
    }
    const TempDir dir;
    const Socket pathname = listen_with_mode(dir, "shared.sock", 0600);
    const Socket abstract = raw_sockets::listen_on(unique_abstract_address());
    const Address pathname_address = raw_sockets::local_address(pathname);
    const Address abstract_address = raw_sockets::local_address(abstract);

    // Still in ours, the child reaches both; in a network namespace of its own (a container
    // without --network host) the abstract name is gone, while the file, reached through
    // the same file system, still works.
    Child child([&]() -> std::string {
        std::string seen = try_connect(abstract_address) + " " + try_connect(pathname_address);
        if (::unshare(namespaces) != 0) return "unshare: " + raw_sockets::errno_name(errno);
        return seen + ", then " + try_connect(abstract_address) + " " +
               try_connect(pathname_address);
    });
    EXPECT_EQ(child.finish(), "connected connected, then ECONNREFUSED connected");
}

// ---- whoami_server --allow-uid: a strict list ------------------------------------------

TEST(ParseUidList, TakesEveryUidOfTheList) {
    EXPECT_EQ(raw_sockets::parse_uid_list("--allow-uid", "0"), std::vector<uid_t>{0});
    EXPECT_EQ(raw_sockets::parse_uid_list("--allow-uid", "65534,0"),
              (std::vector<uid_t>{65534, 0}));
    EXPECT_EQ(raw_sockets::parse_uid_list("--allow-uid", "1,2,4294967294"),
              (std::vector<uid_t>{1, 2, 4294967294u}));
}

TEST(ParseUidList, RefusesAnythingButNumbersSeparatedByCommas) {
    for (const char* text : {"", ",", "0,", ",0", "0,,1", "root", "0x1", "-1", "+1", " 1", "1 ",
                             "1;2", "4294967295", "99999999999999999999"}) {
        SCOPED_TRACE(text);
        const auto error = thrown<raw_sockets::UsageError>(
            [&] { raw_sockets::parse_uid_list("--allow-uid", text); });
        ASSERT_TRUE(error);
        EXPECT_TRUE(contains(error->what(), "--allow-uid '" + std::string(text) + "'"));
    }
}

}  // namespace
