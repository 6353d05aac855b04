// Chapter 01: a first Unix domain socket. The descriptor owner, the error messages, the Unix
// address forms, the socket file that bind() leaves behind, the echo service, and what a
// server needs to start and stop cleanly. See lesson02_tcp_test.cpp for the TCP twin.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <optional>
#include <span>
#include <sstream>
#include <stdexcept>
#include <string>
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
using test_support::TempDir;
using test_support::thrown;

// The system call poll() becomes: poll on x86-64, ppoll where there is no poll (aarch64).
#ifdef SYS_poll
constexpr long poll_syscall = SYS_poll;
#else
constexpr long poll_syscall = SYS_ppoll;
#endif

bool is_open(int fd) {
    return ::fcntl(fd, F_GETFD) != -1;
}

bool exists(const std::string& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

bool is_close_on_exec(const Socket& socket) {
    const int flags = ::fcntl(socket.native_handle(), F_GETFD);
    return flags != -1 && (flags & FD_CLOEXEC) != 0;
}

// Both ends of a pipe, each owned by an Fd: a descriptor that is cheap to make and to check.
struct Pipe {
    Fd read;
    Fd write;
    Pipe() {
        int fds[2];
        if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read.reset(fds[0]);
        write.reset(fds[1]);
    }
};

// A sockaddr_un built by hand, so that the SocketFile tests show the kernel's behaviour
// rather than the library's.
sockaddr_un unix_sockaddr(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// The errno of a raw bind() of a new Unix stream socket to `path` (0 if it succeeds).
int raw_bind_error(const std::string& path) {
    const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = unix_sockaddr(path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) == 0) {
        return 0;
    }
    return errno;
}

// Runs echo_until_eof() on `connection` in another thread. The socket is closed as soon as
// the echo ends, normally or by an exception, so the client then reads end of stream; the
// exception itself comes out of the future's get().
std::future<std::size_t> echo_in_background(Socket connection) {
    return std::async(std::launch::async, [connection = std::move(connection)]() mutable {
        Socket mine = std::move(connection);
        return raw_sockets::echo_until_eof(mine);
    });
}

// ---- Fd ------------------------------------------------------------------------------------

TEST(Fd, ClosesOnDestruction) {
    Pipe pipe;
    const int number = pipe.read.release();
    {
        const Fd owner(number);
        EXPECT_TRUE(is_open(number));
    }
    EXPECT_FALSE(is_open(number));
}

TEST(Fd, MoveTransfersOwnership) {
    Pipe pipe;
    const int number = pipe.read.get();
    Fd moved(std::move(pipe.read));
    EXPECT_EQ(moved.get(), number);
    EXPECT_EQ(pipe.read.get(), -1);  // NOLINT(bugprone-use-after-move): that is the claim
    EXPECT_FALSE(pipe.read);
    EXPECT_TRUE(moved);

    // Move assignment closes what the target held before.
    const int old_target = pipe.write.get();
    pipe.write = std::move(moved);
    EXPECT_FALSE(is_open(old_target));
    EXPECT_EQ(pipe.write.get(), number);
    EXPECT_TRUE(is_open(number));
    EXPECT_FALSE(moved);  // NOLINT(bugprone-use-after-move)
}

TEST(Fd, ReleaseGivesUpOwnership) {
    Pipe pipe;
    const int number = pipe.read.get();
    int released = -1;
    {
        Fd owner(std::move(pipe.read));
        released = owner.release();
        EXPECT_FALSE(owner);
        EXPECT_EQ(owner.get(), -1);
    }
    EXPECT_EQ(released, number);
    EXPECT_TRUE(is_open(number));
    ::close(number);
}

TEST(Fd, ResetClosesTheOldDescriptorAndTakesTheNew) {
    Pipe pipe;
    const int first = pipe.read.get();
    const int second = pipe.write.release();
    pipe.read.reset(second);
    EXPECT_FALSE(is_open(first));
    EXPECT_EQ(pipe.read.get(), second);
    pipe.read.reset();
    EXPECT_FALSE(is_open(second));
    EXPECT_FALSE(pipe.read);
}

TEST(Fd, DefaultOwnsNothing) {
    const Fd empty;
    EXPECT_FALSE(empty);
    EXPECT_EQ(empty.get(), -1);
}

// ---- errors --------------------------------------------------------------------------------

TEST(SocketError, MessageNamesCallAddressAndErrno) {
    const SocketError error("bind", "unix:/tmp/a.sock", EADDRINUSE);
    EXPECT_STREQ(error.what(), "bind(unix:/tmp/a.sock): EADDRINUSE (Address already in use)");
    EXPECT_EQ(error.code().value(), EADDRINUSE);
    EXPECT_EQ(error.code(), std::errc::address_in_use);
    EXPECT_EQ(error.operation(), "bind");
    EXPECT_EQ(error.address(), "unix:/tmp/a.sock");
    EXPECT_EQ(raw_sockets::errno_name(EADDRINUSE), "EADDRINUSE");
    EXPECT_EQ(raw_sockets::errno_name(ECONNREFUSED), "ECONNREFUSED");
    EXPECT_EQ(raw_sockets::errno_name(4242), "errno 4242");
}

TEST(SocketError, ThrowErrnoUsesTheCurrentErrno) {
    errno = ENOENT;
    const auto error =
        thrown<SocketError>([] { raw_sockets::throw_errno("connect", "unix:/nowhere"); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ENOENT);
    EXPECT_STREQ(error->what(), "connect(unix:/nowhere): ENOENT (No such file or directory)");
}

// ---- Unix addresses ------------------------------------------------------------------------

TEST(UnixAddress, ParsesAndPrintsPathname) {
    const Address address = Address::parse("unix:/run/app.sock");
    EXPECT_EQ(address.kind(), Address::Kind::unix_path);
    EXPECT_EQ(address.family(), AF_UNIX);
    EXPECT_TRUE(address.is_unix());
    EXPECT_EQ(address.unix_name(), "/run/app.sock");
    EXPECT_EQ(address.port(), 0);
    EXPECT_EQ(address.inherited_fd(), -1);
    EXPECT_EQ(address.to_string(), "unix:/run/app.sock");
    EXPECT_EQ(Address::parse(address.to_string()), address);

    // The sockaddr holds the path and its NUL, and the length counts exactly those bytes.
    const auto* un = reinterpret_cast<const sockaddr_un*>(address.sockaddr_data());
    EXPECT_EQ(un->sun_family, AF_UNIX);
    EXPECT_STREQ(un->sun_path, "/run/app.sock");
    EXPECT_EQ(address.sockaddr_length(), offsetof(sockaddr_un, sun_path) + 13 + 1);
}

TEST(UnixAddress, ParsesAndPrintsAbstractName) {
    const Address address = Address::parse("unix:@course");
    EXPECT_EQ(address.kind(), Address::Kind::unix_abstract);
    EXPECT_EQ(address.family(), AF_UNIX);
    EXPECT_TRUE(address.is_unix());
    EXPECT_EQ(address.unix_name(), "course");
    EXPECT_EQ(address.to_string(), "unix:@course");
    EXPECT_EQ(Address::parse(address.to_string()), address);

    // An abstract name starts with a NUL byte and has no terminating one: the length says
    // where it ends.
    const auto* un = reinterpret_cast<const sockaddr_un*>(address.sockaddr_data());
    EXPECT_EQ(un->sun_path[0], '\0');
    EXPECT_EQ(std::string_view(un->sun_path + 1, 6), "course");
    EXPECT_EQ(address.sockaddr_length(), offsetof(sockaddr_un, sun_path) + 1 + 6);
    EXPECT_FALSE(Address::parse("unix:/course") == address);
}

TEST(UnixAddress, PathOf107BytesFits) {
    const TempDir dir;
    const std::string path = dir.file(std::string(107 - dir.path().size() - 1, 'p'));
    ASSERT_EQ(path.size(), 107u);
    const Address address = Address::parse("unix:" + path);
    EXPECT_EQ(address.unix_name(), path);
    // And the kernel agrees: such a path can really be bound.
    const Socket listener = raw_sockets::listen_on(address);
    struct stat info {};
    ASSERT_EQ(::lstat(path.c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(raw_sockets::local_address(listener), address);
}

TEST(UnixAddress, AbstractNameOf107BytesFits) {
    const std::string name(107, 'n');
    EXPECT_EQ(Address::parse("unix:@" + name).unix_name(), name);
    const auto error = thrown<AddressError>([&] { Address::parse("unix:@" + name + "n"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "the abstract name is 108 bytes"));
}

TEST(UnixAddress, TooLongPathNamesLengthAndLimit) {
    const std::string path = "/" + std::string(119, 'x');
    const auto error = thrown<AddressError>([&] { Address::parse("unix:" + path); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "120 bytes"));
    EXPECT_TRUE(contains(error->what(), "107"));
    EXPECT_TRUE(contains(error->what(), "108"));
    EXPECT_TRUE(contains(error->what(), "'unix:" + path + "'"));
    // One byte over is already too long: the limit is 107, not 108.
    EXPECT_TRUE(thrown<AddressError>([] { Address::parse("unix:/" + std::string(107, 'x')); }));
}

TEST(UnixAddress, EmptyNameIsRejected) {
    for (const char* text : {"unix:", "unix:@"}) {
        const auto error = thrown<AddressError>([&] { Address::parse(text); });
        ASSERT_TRUE(error) << text;
        EXPECT_TRUE(contains(error->what(), "empty")) << text;
    }
}

TEST(UnixAddress, NulByteInsideTheNameIsRejected) {
    using namespace std::string_view_literals;
    // bind() would see only the part before the NUL: a different, shorter path.
    const auto error = thrown<AddressError>([] { Address::parse("unix:/tmp/a\0b"sv); });
    ASSERT_TRUE(error);
    // The NUL is shown escaped, so the message does not stop at it.
    EXPECT_TRUE(contains(error->what(), "'unix:/tmp/a\\x00b'"));
    EXPECT_TRUE(contains(error->what(), "a NUL byte inside the name"));
}

TEST(UnixAddress, UnknownFormIsRejected) {
    for (const char* text : {"", "/tmp/a.sock", "app.sock"}) {
        const auto error = thrown<AddressError>([&] { Address::parse(text); });
        ASSERT_TRUE(error) << text;
        EXPECT_TRUE(contains(error->what(), "expected unix:/path")) << text;
        EXPECT_TRUE(contains(error->what(), "'" + std::string(text) + "'")) << text;
    }
}

TEST(FdAddress, ParsesFdN) {
    const Address address = Address::parse("fd:3");
    EXPECT_EQ(address.kind(), Address::Kind::inherited_fd);
    EXPECT_EQ(address.inherited_fd(), 3);
    EXPECT_EQ(address.family(), AF_UNSPEC);
    EXPECT_FALSE(address.is_unix());
    EXPECT_EQ(address.port(), 0);
    EXPECT_EQ(address.unix_name(), "");
    EXPECT_EQ(address.to_string(), "fd:3");
    EXPECT_EQ(Address::parse("fd:0").inherited_fd(), 0);
    EXPECT_EQ(Address::parse("fd:3"), address);
    EXPECT_FALSE(Address::parse("fd:4") == address);
}

TEST(FdAddress, RejectsBadNumber) {
    for (const char* text : {"fd:", "fd:x", "fd:-1", "fd:3x", "fd: 3", "fd:99999999999"}) {
        const auto error = thrown<AddressError>([&] { Address::parse(text); });
        ASSERT_TRUE(error) << text;
        EXPECT_TRUE(contains(error->what(), "is not a number from 0 up")) << text;
    }
}

TEST(Address, FromSockaddrOfAnUnnamedUnixSocket) {
    sockaddr_un un{};
    un.sun_family = AF_UNIX;
    const Address address =
        Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&un), sizeof(sa_family_t));
    EXPECT_EQ(address.kind(), Address::Kind::unix_unnamed);
    EXPECT_TRUE(address.is_unix());
    EXPECT_EQ(address.to_string(), "unix:(unnamed)");
    EXPECT_EQ(address, Address{});
}

TEST(Address, FromSockaddrRefusesBadLengthAndFamily) {
    sockaddr_storage storage{};
    const auto* data = reinterpret_cast<const sockaddr*>(&storage);
    storage.ss_family = AF_UNIX;
    EXPECT_TRUE(thrown<AddressError>([&] { Address::from_sockaddr(data, 1); }));
    EXPECT_TRUE(thrown<AddressError>([&] { Address::from_sockaddr(data, sizeof storage + 1); }));
    storage.ss_family = AF_APPLETALK;
    const auto error = thrown<AddressError>([&] { Address::from_sockaddr(data, sizeof storage); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "unsupported address family"));
    // An AF_INET sockaddr too short to be a sockaddr_in is refused, not over-read.
    storage.ss_family = AF_INET;
    EXPECT_TRUE(thrown<AddressError>([&] { Address::from_sockaddr(data, 4); }));
}

// ---- the socket file -----------------------------------------------------------------------

TEST(SocketFile, IsASocketOfSizeZero) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    struct stat info {};
    ASSERT_EQ(::lstat(dir.file("s").c_str(), &info), 0);
    EXPECT_TRUE(S_ISSOCK(info.st_mode));
    EXPECT_EQ(info.st_size, 0);  // the file is only a name: the data never touches the disk
}

TEST(SocketFile, BindOnExistingPathFailsWithEADDRINUSE) {
    const TempDir dir;
    // A socket file, live here (the listener is open), blocks bind() ...
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("live")));
    EXPECT_EQ(raw_bind_error(dir.file("live")), EADDRINUSE);
    // ... and so does any other file: bind() never replaces what is at the path.
    std::ofstream(dir.file("regular")) << "not a socket";
    EXPECT_EQ(raw_bind_error(dir.file("regular")), EADDRINUSE);
    // Only a free path works.
    EXPECT_EQ(raw_bind_error(dir.file("free")), 0);
}

TEST(SocketFile, StaleFileBlocksAPlainBind) {
    // The file a closed server left behind is enough to make the next bind() fail: this is
    // why servers must remove it, and why chapter 05's listen_on() probes and replaces it.
    const TempDir dir;
    raw_sockets::listen_on(Address::parse(dir.unix_address("s"))).close();
    EXPECT_EQ(raw_bind_error(dir.file("s")), EADDRINUSE);
}

TEST(SocketFile, CloseLeavesTheFileBehind) {
    const TempDir dir;
    Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    listener.close();
    EXPECT_FALSE(listener);
    EXPECT_TRUE(exists(dir.file("s")));
}

TEST(SocketFile, ConnectToStaleFileGivesECONNREFUSED) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    raw_sockets::listen_on(address).close();
    ASSERT_TRUE(exists(dir.file("s")));
    const auto error = thrown<SocketError>([&] { raw_sockets::connect_to(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ECONNREFUSED);
    EXPECT_TRUE(contains(error->what(), "connect(unix:"));
    EXPECT_TRUE(contains(error->what(), "ECONNREFUSED"));
}

TEST(SocketFile, ConnectToMissingPathGivesENOENT) {
    const TempDir dir;
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::connect_to(Address::parse(dir.unix_address("missing"))); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ENOENT);
    EXPECT_TRUE(contains(error->what(), "connect(unix:" + dir.file("missing") + "): ENOENT"));
}

TEST(SocketFile, ListenInAMissingDirectoryGivesENOENT) {
    const TempDir dir;
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::listen_on(Address::parse(dir.unix_address("no/such/s"))); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ENOENT);
    EXPECT_TRUE(contains(error->what(), "bind(unix:"));
}

TEST(AbstractName, LeavesNoFileAndStillConnects) {
    const TempDir dir;
    // The temporary directory's name makes the abstract name unique to this test run.
    const Address address = Address::parse("unix:@" + dir.path());
    const Socket listener = raw_sockets::listen_on(address);
    EXPECT_EQ(raw_sockets::local_address(listener), address);
    EXPECT_FALSE(exists(dir.path() + "/@"));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
    const Socket client = raw_sockets::connect_to(address);
    const Socket server = raw_sockets::accept_connection(listener);
    EXPECT_EQ(raw_sockets::peer_address(client), address);
}

// ---- SocketFileCleanup ---------------------------------------------------------------------

TEST(SocketFileCleanup, RemovesTheFileItCreated) {
    const TempDir dir;
    {
        const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
        const raw_sockets::SocketFileCleanup cleanup(listener);
        EXPECT_TRUE(exists(dir.file("s")));
    }
    EXPECT_FALSE(exists(dir.file("s")));
}

TEST(SocketFileCleanup, LeavesAReplacedFileAlone) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket first = raw_sockets::listen_on(address);
    std::optional<Socket> second;
    {
        const raw_sockets::SocketFileCleanup cleanup(first);
        // Another server removes our file and binds its own socket at the same path.
        ASSERT_EQ(::unlink(dir.file("s").c_str()), 0);
        second = raw_sockets::listen_on(address);
    }
    ASSERT_TRUE(exists(dir.file("s")));
    // The file left is the second server's, and it still answers.
    const Socket client = raw_sockets::connect_to(address);
    EXPECT_TRUE(raw_sockets::accept_connection(*second));
}

TEST(SocketFileCleanup, LeavesARegularFileAlone) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    {
        const raw_sockets::SocketFileCleanup cleanup(listener);
        ASSERT_EQ(::unlink(dir.file("s").c_str()), 0);
        std::ofstream(dir.file("s")) << "someone's data";
    }
    struct stat info {};
    ASSERT_EQ(::lstat(dir.file("s").c_str(), &info), 0);
    EXPECT_TRUE(S_ISREG(info.st_mode));
}

TEST(SocketFileCleanup, DoesNotRemoveInAForkedChild) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    std::optional<raw_sockets::SocketFileCleanup> cleanup;
    cleanup.emplace(listener);
    const pid_t child = ::fork();
    ASSERT_NE(child, -1);
    if (child == 0) {
        cleanup.reset();  // the child's copy runs its destructor, as a child's exit would
        ::_exit(0);
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    EXPECT_TRUE(exists(dir.file("s")));
    cleanup.reset();  // the parent's removes it
    EXPECT_FALSE(exists(dir.file("s")));
}

TEST(SocketFileCleanup, DoesNothingForAnAbstractName) {
    const TempDir dir;
    const Address address = Address::parse("unix:@" + dir.path());
    const Socket listener = raw_sockets::listen_on(address);
    { const raw_sockets::SocketFileCleanup cleanup(listener); }
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
    EXPECT_TRUE(raw_sockets::connect_to(address));
}

// ---- echo ----------------------------------------------------------------------------------

TEST(Echo, EchoesEveryByteAndCountsThem) {
    auto [client, server] = raw_sockets::socket_pair();
    auto echo = echo_in_background(std::move(server));
    const std::string data = test_support::patterned_data(100 * 1024);
    std::string received;
    std::string client_error;
    try {
        received = test_support::round_trip(client, data);
    } catch (const std::exception& error) {
        client_error = error.what();  // most likely the echo side failed; get() says why
    }
    EXPECT_EQ(echo.get(), 100u * 1024u);
    EXPECT_EQ(client_error, "");
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data) << "the echoed bytes differ from the bytes sent";
}

TEST(Echo, ReturnsZeroWhenTheClientSendsNothing) {
    auto [client, server] = raw_sockets::socket_pair();
    auto echo = echo_in_background(std::move(server));
    client.shutdown_write();
    EXPECT_EQ(test_support::receive_all(client), "");
    EXPECT_EQ(echo.get(), 0u);
}

TEST(Echo, WorksOverAUnixPathConnection) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("echo.sock"));
    const Socket listener = raw_sockets::listen_on(address);
    auto echo = std::async(std::launch::async, [&listener] {
        Socket connection = raw_sockets::accept_connection(listener);
        return raw_sockets::echo_until_eof(connection);
    });
    Socket client = raw_sockets::connect_to(address);
    std::string received;
    std::string client_error;
    try {
        received = test_support::round_trip(client, "hello, unix socket\n");
    } catch (const std::exception& error) {
        client_error = error.what();
    }
    EXPECT_EQ(echo.get(), 19u);
    EXPECT_EQ(client_error, "");
    EXPECT_EQ(received, "hello, unix socket\n");
}

// A signal that arrives while send() is blocked after moving some bytes makes it return a
// short count: an echo that sends once and ignores the count loses the rest.
TEST(Echo, EchoesEveryByteWhenSendIsInterrupted) {
    auto [client, server] = raw_sockets::socket_pair();
    // A Unix stream send() moves its bytes in pieces of at most half of SO_SNDBUF; with a
    // small buffer a send of a few KiB takes several pieces and can stop between them.
    const int small = 4096;
    ASSERT_EQ(::setsockopt(server.native_handle(), SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
    const std::string data = test_support::patterned_data(1024 * 1024);
    std::size_t echoed = 0;
    std::string received;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            try {
                echoed = raw_sockets::echo_until_eof(server);
            } catch (...) {
                server.close();  // else the client below would wait for the end forever
                throw;
            }
            server.close();  // the client reads end of stream
        },
        [&](test_support::Watch& watch) {
            // The client reads nothing yet, so the echo soon blocks in send().
            auto sender = std::async(std::launch::async, [&client, &data] {
                client.send_all(data);
                client.shutdown_write();
            });
            for (int i = 0; i < 5 && watch.wait_until_blocked_in(SYS_sendto); ++i) {
                watch.interrupt();
            }
            interruptions = watch.interruptions();
            received = test_support::receive_all(client);
            sender.get();
        });
    EXPECT_GE(interruptions, 1) << "the echo was never seen blocking in send()";
    EXPECT_EQ(echoed, data.size());
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data) << "the echoed bytes differ from the bytes sent";
}

// ---- Socket, connect, accept ---------------------------------------------------------------

TEST(Socket, DefaultIsEmptyAndCloseReleasesTheDescriptor) {
    const Socket empty;
    EXPECT_FALSE(empty);
    EXPECT_EQ(empty.native_handle(), -1);

    auto [one, other] = raw_sockets::socket_pair();
    const int number = one.native_handle();
    EXPECT_EQ(one.fd().get(), number);
    EXPECT_TRUE(one);
    one.close();
    EXPECT_FALSE(one);
    EXPECT_FALSE(is_open(number));
    // The peer sees the close at once, not when `one` is destroyed.
    EXPECT_EQ(test_support::receive_all(other), "");
}

TEST(SocketPair, NamesItsEndsAndTheyAreConnected) {
    auto [first, second] = raw_sockets::socket_pair();
    EXPECT_EQ(first.name(), "pair:0");
    EXPECT_EQ(second.name(), "pair:1");
    EXPECT_EQ(raw_sockets::local_address(first).kind(), Address::Kind::unix_unnamed);
    EXPECT_EQ(raw_sockets::peer_address(first).kind(), Address::Kind::unix_unnamed);
    first.send_all("x");
    std::byte byte{};
    EXPECT_EQ(second.recv_some(std::span(&byte, 1)), 1u);
    EXPECT_EQ(byte, std::byte{'x'});
}

TEST(SocketPair, BadTypeNamesTheCall) {
    const auto error = thrown<SocketError>([] { raw_sockets::socket_pair(12345); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "socketpair(unix): "));
}

TEST(ListenOn, BadSocketTypeNamesTheSocketCall) {
    const TempDir dir;
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::listen_on(Address::parse(dir.unix_address("s")), {.type = 12345}); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->operation(), "socket");
    EXPECT_EQ(error->address(), dir.unix_address("s"));
    EXPECT_FALSE(exists(dir.file("s")));
}

TEST(ListenOn, AnUnnamedAddressIsRefused) {
    const auto error = thrown<SocketError>([] { raw_sockets::listen_on(Address{}); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EINVAL);
    EXPECT_EQ(error->operation(), "bind");
    EXPECT_TRUE(thrown<SocketError>([] { raw_sockets::connect_to(Address{}); }));
}

TEST(LocalAddress, ListenerAndClientKnowTheServerPath) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    EXPECT_EQ(listener.name(), address.to_string());
    EXPECT_EQ(raw_sockets::local_address(listener), address);
    const Socket client = raw_sockets::connect_to(address);
    EXPECT_EQ(client.name(), address.to_string());
    EXPECT_EQ(raw_sockets::peer_address(client), address);
    // The client never bound a name: it is unnamed, which is why accept names it otherwise.
    EXPECT_EQ(raw_sockets::local_address(client).kind(), Address::Kind::unix_unnamed);
}

TEST(LocalAddress, ErrorsNameTheSocket) {
    const Socket closed(Fd(), "gone");
    const auto error = thrown<SocketError>([&] { raw_sockets::local_address(closed); });
    ASSERT_TRUE(error);
    EXPECT_EQ(std::string(error->what()), "getsockname(gone): EBADF (Bad file descriptor)");

    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    const auto not_connected = thrown<SocketError>([&] { raw_sockets::peer_address(listener); });
    ASSERT_TRUE(not_connected);
    EXPECT_EQ(not_connected->code().value(), ENOTCONN);
    EXPECT_EQ(not_connected->operation(), "getpeername");
}

TEST(Accept, NamesUnixPeerAfterListener) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    const Socket client = raw_sockets::connect_to(address);
    const Socket accepted = raw_sockets::accept_connection(listener);
    EXPECT_EQ(accepted.name(), listener.name() + " peer");
    EXPECT_EQ(accepted.name(), address.to_string() + " peer");
}

TEST(Accept, NamesABoundUnixClientByItsAddress) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("server"));
    const Socket listener = raw_sockets::listen_on(address);
    // A client that binds before connecting has a name, and accept uses it.
    const Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un own = unix_sockaddr(dir.file("client"));
    ASSERT_EQ(::bind(client.get(), reinterpret_cast<const sockaddr*>(&own), sizeof own), 0);
    ASSERT_EQ(::connect(client.get(), address.sockaddr_data(), address.sockaddr_length()), 0);
    const Socket accepted = raw_sockets::accept_connection(listener);
    EXPECT_EQ(accepted.name(), dir.unix_address("client"));
}

TEST(Accept, OnASocketThatIsNotListeningGivesEINVAL) {
    const auto sockets = raw_sockets::socket_pair();
    const auto error = thrown<SocketError>([&] { raw_sockets::accept_connection(sockets.first); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EINVAL);
    EXPECT_TRUE(contains(error->what(), "accept(pair:0): EINVAL"));
}

TEST(Accept, RetriesEINTR) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    Socket accepted;
    Socket client;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] { accepted = raw_sockets::accept_connection(listener); },
        [&](test_support::Watch& watch) {
            for (int i = 0; i < 3 && watch.wait_until_blocked_in(SYS_accept4); ++i) {
                watch.interrupt();
            }
            interruptions = watch.interruptions();
            client = raw_sockets::connect_to(address);
        });
    EXPECT_EQ(interruptions, 3) << "accept() was not seen blocking three times";
    EXPECT_TRUE(accepted);
}

// ---- close-on-exec -------------------------------------------------------------------------

TEST(CloseOnExec, EverySocketIsCreatedCloseOnExec) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    const Socket client = raw_sockets::connect_to(address);
    const Socket accepted = raw_sockets::accept_connection(listener);
    const auto [one, other] = raw_sockets::socket_pair();
    EXPECT_TRUE(is_close_on_exec(listener));
    EXPECT_TRUE(is_close_on_exec(client));
    EXPECT_TRUE(is_close_on_exec(accepted));
    EXPECT_TRUE(is_close_on_exec(one));
    EXPECT_TRUE(is_close_on_exec(other));
}

// ---- inherited descriptors -----------------------------------------------------------------

TEST(InheritedFd, ListenOnFdAdoptsAListeningSocket) {
    const TempDir dir;
    // What a service manager would hand over: a listening socket, not close-on-exec.
    Fd raw(::socket(AF_UNIX, SOCK_STREAM, 0));
    ASSERT_TRUE(raw);
    const sockaddr_un address = unix_sockaddr(dir.file("s"));
    ASSERT_EQ(::bind(raw.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    ASSERT_EQ(::listen(raw.get(), 8), 0);
    const int number = raw.get();

    const Socket listener = raw_sockets::listen_on(Address::parse("fd:" + std::to_string(number)));
    [[maybe_unused]] const int adopted = raw.release();  // the Socket owns it now
    EXPECT_EQ(listener.native_handle(), number);
    EXPECT_EQ(listener.name(), "fd:" + std::to_string(number) + " (" + dir.unix_address("s") + ")");
    EXPECT_TRUE(is_close_on_exec(listener));

    // It serves as any listener would.
    Socket client = raw_sockets::connect_to(Address::parse(dir.unix_address("s")));
    Socket accepted = raw_sockets::accept_connection(listener);
    accepted.send_all("adopted");
    accepted.close();
    EXPECT_EQ(test_support::receive_all(client), "adopted");
}

TEST(InheritedFd, RefusesASocketThatIsNotListening) {
    const Fd raw(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_TRUE(raw);
    const std::string text = "fd:" + std::to_string(raw.get());
    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(Address::parse(text)); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EINVAL);
    EXPECT_TRUE(contains(error->what(), text + ", a socket that is not listening"));
    EXPECT_TRUE(is_open(raw.get()));  // refusing it did not close it
}

TEST(InheritedFd, RefusesADescriptorThatIsNotASocket) {
    const Pipe pipe;
    const auto error = thrown<SocketError>(
        [&] { raw_sockets::listen_on(Address::parse("fd:" + std::to_string(pipe.read.get()))); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), ENOTSOCK);
    EXPECT_TRUE(contains(error->what(), "getsockopt(SO_ACCEPTCONN)(fd:"));
}

TEST(InheritedFd, RefusesABadDescriptor) {
    ASSERT_FALSE(is_open(9999));
    const auto error =
        thrown<SocketError>([] { raw_sockets::listen_on(Address::parse("fd:9999")); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EBADF);
    EXPECT_TRUE(contains(error->what(), "(fd:9999): EBADF"));
}

TEST(InheritedFd, CannotConnectToFd) {
    const auto error = thrown<SocketError>([] { raw_sockets::connect_to(Address::parse("fd:3")); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EINVAL);
    EXPECT_TRUE(
        contains(error->what(), "connect(fd:3, which is not an address one can connect to)"));
}

// ---- stopping ------------------------------------------------------------------------------

TEST(StopSignals, SigtermEndsTheWait) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    const raw_sockets::StopSignals stop;
    EXPECT_FALSE(stop.requested());
    EXPECT_EQ(stop.signal_number(), 0);
    ASSERT_EQ(::raise(SIGTERM), 0);
    EXPECT_TRUE(stop.requested());
    EXPECT_EQ(stop.signal_number(), SIGTERM);
    // No client is waiting, so only the stop request can end this wait.
    EXPECT_FALSE(stop.wait_readable(listener));
}

TEST(StopSignals, SigintEndsTheWaitToo) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    const raw_sockets::StopSignals stop;
    ASSERT_EQ(::raise(SIGINT), 0);
    EXPECT_TRUE(stop.requested());
    EXPECT_EQ(stop.signal_number(), SIGINT);
    EXPECT_FALSE(stop.wait_readable(listener));
}

TEST(StopSignals, ReadableListenerReturnsTrue) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    const raw_sockets::StopSignals stop;
    const Socket client = raw_sockets::connect_to(address);
    EXPECT_TRUE(stop.wait_readable(listener));
    EXPECT_FALSE(stop.requested());
}

TEST(StopSignals, SignalDuringTheWaitEndsIt) {
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    const raw_sockets::StopSignals stop;
    bool client_waiting = true;
    bool blocked = false;
    test_support::watch_blocking_calls([&] { client_waiting = stop.wait_readable(listener); },
                                       [&](test_support::Watch& watch) {
                                           blocked = watch.wait_until_blocked_in(poll_syscall);
                                           watch.send_signal(SIGTERM);
                                       });
    EXPECT_TRUE(blocked) << "wait_readable() was not seen in poll()";
    EXPECT_FALSE(client_waiting);
    EXPECT_TRUE(stop.requested());
}

TEST(StopSignals, OtherSignalsDoNotEndTheWait) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket listener = raw_sockets::listen_on(address);
    const raw_sockets::StopSignals stop;
    bool client_waiting = false;
    int interruptions = 0;
    Socket client;
    test_support::watch_blocking_calls([&] { client_waiting = stop.wait_readable(listener); },
                                       [&](test_support::Watch& watch) {
                                           if (watch.wait_until_blocked_in(poll_syscall))
                                               watch.interrupt();
                                           interruptions = watch.interruptions();
                                           client = raw_sockets::connect_to(address);
                                       });
    EXPECT_EQ(interruptions, 1);
    EXPECT_TRUE(client_waiting);
    EXPECT_FALSE(stop.requested());
}

TEST(StopSignals, EventFdBecomesReadable) {
    const raw_sockets::StopSignals stop;
    pollfd event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
    EXPECT_EQ(::poll(&event, 1, 0), 0);
    ASSERT_EQ(::raise(SIGTERM), 0);
    EXPECT_EQ(::poll(&event, 1, 0), 1);
}

TEST(StopSignals, OnlyOneInstancePerProcessAndOldHandlersReturn) {
    struct sigaction before {};
    ::sigaction(SIGTERM, nullptr, &before);
    {
        const raw_sockets::StopSignals stop;
        EXPECT_THROW(raw_sockets::StopSignals{}, std::logic_error);
        struct sigaction during {};
        ::sigaction(SIGTERM, nullptr, &during);
        EXPECT_NE(during.sa_handler, before.sa_handler);
    }
    struct sigaction after {};
    ::sigaction(SIGTERM, nullptr, &after);
    EXPECT_EQ(after.sa_handler, before.sa_handler);
    // With the first one gone, a new one may be made.
    EXPECT_NO_THROW(raw_sockets::StopSignals{});
}

TEST(StopSignals, AfterAStopFurtherStopSignalsAreIgnoredWhileTheProcessExits) {
    struct sigaction before {};
    ::sigaction(SIGTERM, nullptr, &before);
    {
        const raw_sockets::StopSignals stop;
        ASSERT_EQ(::raise(SIGTERM), 0);
    }
    struct sigaction after {};
    ::sigaction(SIGTERM, nullptr, &after);
    EXPECT_EQ(after.sa_handler, SIG_IGN);
    ::sigaction(SIGINT, nullptr, &after);
    EXPECT_EQ(after.sa_handler, SIG_IGN);
    ::sigaction(SIGTERM, &before, nullptr);  // for the tests that follow
    ::signal(SIGINT, SIG_DFL);
}

// ---- run_program ---------------------------------------------------------------------------

// Points std::cerr at a string for as long as it lives.
class CapturedStderr {
  public:
    CapturedStderr() : previous_(std::cerr.rdbuf(captured_.rdbuf())) {}
    ~CapturedStderr() { std::cerr.rdbuf(previous_); }
    CapturedStderr(const CapturedStderr&) = delete;
    CapturedStderr& operator=(const CapturedStderr&) = delete;
    std::string text() const { return captured_.str(); }

  private:
    std::ostringstream captured_;
    std::streambuf* previous_;
};

// A mutable argv, as main() receives it.
class Argv {
  public:
    Argv(std::initializer_list<std::string> arguments) : storage_(arguments) {
        for (std::string& argument : storage_) pointers_.push_back(argument.data());
        pointers_.push_back(nullptr);
    }
    int argc() const { return static_cast<int>(storage_.size()); }
    char** argv() { return pointers_.data(); }

  private:
    std::vector<std::string> storage_;
    std::vector<char*> pointers_;
};

TEST(RunProgram, ErrorIsOneLineAndExitStatusOne) {
    Argv arguments{"/some/dir/prog"};
    const CapturedStderr captured;
    const int status =
        raw_sockets::run_program(arguments.argc(), arguments.argv(), "ADDRESS",
                                 [](std::span<char*>) -> int { throw std::runtime_error("x"); });
    EXPECT_EQ(status, 1);
    EXPECT_EQ(captured.text(), "prog: x\n");
}

TEST(RunProgram, SocketErrorBecomesItsMessage) {
    Argv arguments{"echo_server"};
    const CapturedStderr captured;
    const int status = raw_sockets::run_program(
        arguments.argc(), arguments.argv(), "ADDRESS",
        [](auto) -> int { throw SocketError("bind", "unix:/tmp/a.sock", EADDRINUSE); });
    EXPECT_EQ(status, 1);
    EXPECT_EQ(captured.text(),
              "echo_server: bind(unix:/tmp/a.sock): EADDRINUSE (Address already in use)\n");
}

TEST(RunProgram, UsageErrorExitsTwo) {
    Argv arguments{"./bin/echo_client"};
    const CapturedStderr captured;
    const int status = raw_sockets::run_program(
        arguments.argc(), arguments.argv(), "ADDRESS",
        [](auto) -> int { throw raw_sockets::UsageError("expected one address"); });
    EXPECT_EQ(status, 2);
    EXPECT_EQ(captured.text(), "echo_client: expected one address\nusage: echo_client ADDRESS\n");
}

TEST(RunProgram, PassesTheArgumentsAndReturnsTheBodysStatus) {
    Argv arguments{"prog", "unix:/tmp/a.sock", "hello"};
    const CapturedStderr captured;
    std::vector<std::string> seen;
    const int status = raw_sockets::run_program(arguments.argc(), arguments.argv(), "ADDRESS TEXT",
                                                [&](std::span<char*> args) {
                                                    for (const char* arg : args)
                                                        seen.emplace_back(arg);
                                                    return 7;
                                                });
    EXPECT_EQ(status, 7);
    EXPECT_EQ(seen, (std::vector<std::string>{"unix:/tmp/a.sock", "hello"}));
    EXPECT_EQ(captured.text(), "");
}

TEST(RunProgram, WithoutArgv0UsesAPlaceholderName) {
    char* no_arguments[] = {nullptr};
    const CapturedStderr captured;
    std::size_t count = 99;
    const int status =
        raw_sockets::run_program(0, no_arguments, "", [&](std::span<char*> args) -> int {
            count = args.size();
            throw std::runtime_error("x");
        });
    EXPECT_EQ(status, 1);
    EXPECT_EQ(count, 0u);
    EXPECT_EQ(captured.text(), "program: x\n");
}

// ---- strict command lines (every course program) ---------------------------------------

// The arguments as main() gets them, for expect_arguments().
struct Arguments {
    explicit Arguments(std::vector<std::string> texts) : texts_(std::move(texts)) {
        for (std::string& text : texts_) pointers_.push_back(text.data());
    }
    std::span<char*> span() { return pointers_; }

  private:
    std::vector<std::string> texts_;
    std::vector<char*> pointers_;
};

TEST(ExpectArguments, AcceptsExactlyTheNamedArguments) {
    Arguments args({"unix:/tmp/a.sock"});
    EXPECT_NO_THROW(raw_sockets::expect_arguments(args.span(), {"ADDRESS"}));
    Arguments two({"unix:/tmp/a.sock", "name.txt"});
    EXPECT_NO_THROW(raw_sockets::expect_arguments(two.span(), {"ADDRESS", "NAME"}));
    Arguments words({"unix:/tmp/a.sock", "--any", "words"});
    EXPECT_NO_THROW(raw_sockets::expect_leading_arguments(words.span(), {"ADDRESS"}));
}

TEST(ParseMode, AcceptsOnlyPermissionBits) {
    EXPECT_EQ(raw_sockets::parse_mode("0777"), 0777u);
    EXPECT_EQ(raw_sockets::parse_mode("0"), 0u);
    // setuid, setgid and sticky bits mean nothing on a socket file.
    for (const char* bad : {"1777", "2770", "4755", "01000", "7777"}) {
        const auto error = thrown<raw_sockets::UsageError>([&] { raw_sockets::parse_mode(bad); });
        ASSERT_TRUE(error) << bad;
        EXPECT_TRUE(contains(error->what(), "0777")) << error->what();
    }
}

TEST(ExpectArguments, NamesWhatIsMissingUnknownOrTooMany) {
    const auto refusal = [](std::vector<std::string> texts) {
        Arguments args(std::move(texts));
        const auto error = thrown<raw_sockets::UsageError>([&] {
            raw_sockets::expect_arguments(args.span(), {"ADDRESS", "NAME"});
        });
        return error ? std::string(error->what()) : std::string("(nothing thrown)");
    };
    EXPECT_EQ(refusal({}), "missing ADDRESS");
    EXPECT_EQ(refusal({"unix:/tmp/a.sock"}), "missing NAME");
    EXPECT_EQ(refusal({"unix:/tmp/a.sock", "a", "b"}), "unexpected argument 'b'");
    EXPECT_EQ(refusal({"unix:/tmp/a.sock", "a", "--verbose"}), "unknown option '--verbose'");
    EXPECT_EQ(refusal({"-v", "unix:/tmp/a.sock", "a"}), "unknown option '-v'");
}

}  // namespace
