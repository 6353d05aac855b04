// Chapter 12: where a Unix socket stops. run_in_new_network_namespace() (the chapter's
// exercise) runs a function in a child with a network namespace of its own; from there a
// pathname socket bound here is reachable (it is a file) and an abstract one is not (it is a
// name in this namespace). The function must also behave as a child process should: its
// status comes back, it never returns into this process's code, it is reaped, and nothing it
// opened stays open. The listeners here are made with raw system calls, so that only the
// exercise is under test. Where the machine refuses a new network namespace, the tests skip.
#include <arpa/inet.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <netinet/in.h>
#include <sched.h>
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
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Fd;
using raw_sockets::run_in_new_network_namespace;
using raw_sockets::SocketError;
using test_support::Child;
using test_support::contains;
using test_support::TempDir;

// ---- may this process make a network namespace? --------------------------------------------

// The same two attempts the exercise makes, done here by hand in a throwaway child, so that
// a broken exercise fails its tests instead of making them skip.
bool kernel_gives_network_namespaces() {
    const pid_t pid = ::fork();
    if (pid < 0) return false;
    if (pid == 0) {
        if (::unshare(CLONE_NEWNET) == 0) ::_exit(0);
        ::_exit(::unshare(CLONE_NEWUSER | CLONE_NEWNET) == 0 ? 0 : 1);
    }
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

bool network_namespaces_available() {
    static const bool available = kernel_gives_network_namespaces();
    return available;
}

#define SKIP_WITHOUT_NETWORK_NAMESPACES()                                                  \
    if (!network_namespaces_available())                                                   \
    GTEST_SKIP() << "this machine refuses a new network namespace (unshare(CLONE_NEWNET) " \
                    "and unshare(CLONE_NEWUSER | CLONE_NEWNET) both fail: not root, and "  \
                    "user namespaces disabled)"

// ---- listeners and connections in plain system calls ---------------------------------------

// A Unix address: a path, or an abstract name (a leading NUL, no file).
struct UnixName {
    sockaddr_un address{};
    socklen_t length = 0;
};

UnixName unix_name(const std::string& name, bool abstract) {
    UnixName result;
    result.address.sun_family = AF_UNIX;
    const std::size_t offset = abstract ? 1 : 0;  // abstract: sun_path[0] stays NUL
    std::memcpy(result.address.sun_path + offset, name.data(), name.size());
    result.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset + name.size());
    return result;
}

// A unique abstract name: tests of several runs may share this network namespace.
std::string unique_abstract_name() {
    static int counter = 0;
    return "lesson12-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
}

Fd listen_unix(const UnixName& name) {
    Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!listener) throw std::runtime_error("socket: " + std::string(std::strerror(errno)));
    const auto* address = reinterpret_cast<const sockaddr*>(&name.address);
    if (::bind(listener.get(), address, name.length) != 0 || ::listen(listener.get(), 8) != 0) {
        throw std::runtime_error("bind/listen: " + std::string(std::strerror(errno)));
    }
    return listener;
}

// 0 if a stream connection to `address` is made, else connect()'s errno.
int connect_errno(int family, const sockaddr* address, socklen_t length) {
    const Fd client(::socket(family, SOCK_STREAM | SOCK_CLOEXEC, 0));
    if (!client) return errno;
    return ::connect(client.get(), address, length) == 0 ? 0 : errno;
}

int connect_errno(const UnixName& name) {
    return connect_errno(AF_UNIX, reinterpret_cast<const sockaddr*>(&name.address), name.length);
}

// A TCP listener on 127.0.0.1 and a port the kernel picks.
struct LoopbackListener {
    Fd fd;
    sockaddr_in address{};
};

LoopbackListener listen_loopback() {
    LoopbackListener listener;
    listener.fd = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    listener.address.sin_family = AF_INET;
    listener.address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    auto* address = reinterpret_cast<sockaddr*>(&listener.address);
    socklen_t length = sizeof listener.address;
    if (!listener.fd || ::bind(listener.fd.get(), address, length) != 0 ||
        ::listen(listener.fd.get(), 8) != 0 ||
        ::getsockname(listener.fd.get(), address, &length) != 0) {
        throw std::runtime_error("TCP listener: " + std::string(std::strerror(errno)));
    }
    return listener;
}

// ---- the process's own state ----------------------------------------------------------------

// The inode of this process's network namespace: two processes share a namespace exactly
// when these are equal.
ino_t network_namespace_inode() {
    struct stat info {};
    if (::stat("/proc/self/ns/net", &info) != 0) throw std::runtime_error("stat /proc/self/ns/net");
    return info.st_ino;
}

std::size_t open_descriptor_count() {
    const auto entries = std::filesystem::directory_iterator("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(begin(entries), end(entries)));
}

// Non-empty if this process has a child it has not reaped (ECHILD means none at all).
std::string unreaped_children() {
    int status = 0;
    const pid_t pid = ::waitpid(-1, &status, WNOHANG);
    if (pid < 0 && errno == ECHILD) return "";
    if (pid == 0) return "a child is still running";
    return pid > 0 ? "child " + std::to_string(pid) + " was a zombie"
                   : "waitpid: " + std::string(std::strerror(errno));
}

// Appends this process's pid to `path`, one line per call.
void append_pid(const std::string& path) {
    std::ofstream(path, std::ios::app) << ::getpid() << '\n';
}

std::vector<std::string> lines_of(const std::string& path) {
    std::ifstream file(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(file, line);) lines.push_back(line);
    return lines;
}

// ---- reachability -------------------------------------------------------------------------

TEST(Namespaces, PathnameSocketBoundHereIsReachableFromTheNewNamespace) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const TempDir dir;
    const UnixName name = unix_name(dir.file("s"), false);
    const Fd listener = listen_unix(name);

    // The connection waits in the listener's queue: no one needs to accept it while the
    // child runs. What the child sends there is read here afterwards.
    const int status = run_in_new_network_namespace([&] {
        const Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        const auto* address = reinterpret_cast<const sockaddr*>(&name.address);
        if (::connect(client.get(), address, name.length) != 0) return errno;
        const std::string message = "hello from the other namespace";
        return ::send(client.get(), message.data(), message.size(), MSG_NOSIGNAL) ==
                       static_cast<ssize_t>(message.size())
                   ? 0
                   : 100;
    });

    ASSERT_EQ(status, 0) << "connect or send from the new namespace failed with "
                         << raw_sockets::errno_name(status);
    const Fd accepted(::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC));
    ASSERT_TRUE(accepted) << std::strerror(errno);
    std::array<char, 64> buffer{};
    const ssize_t got = ::recv(accepted.get(), buffer.data(), buffer.size(), 0);
    ASSERT_GT(got, 0);
    EXPECT_EQ(std::string(buffer.data(), static_cast<std::size_t>(got)),
              "hello from the other namespace");
}

TEST(Namespaces, AbstractSocketBoundHereIsRefusedInTheNewNamespace) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const UnixName name = unix_name(unique_abstract_name(), true);
    const Fd listener = listen_unix(name);
    ASSERT_EQ(connect_errno(name), 0) << "reachable here";

    const int status = run_in_new_network_namespace([&] { return connect_errno(name); });

    // The name exists only in this namespace: there, nobody has bound it.
    EXPECT_EQ(status, ECONNREFUSED) << raw_sockets::errno_name(status);
}

TEST(Namespaces, CallersNetworkNamespaceIsUnchangedAfterTheCall) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const UnixName name = unix_name(unique_abstract_name(), true);
    const Fd listener = listen_unix(name);
    const ino_t before = network_namespace_inode();

    run_in_new_network_namespace([] { return 0; });

    EXPECT_EQ(network_namespace_inode(), before);
    EXPECT_EQ(connect_errno(name), 0) << "the abstract socket bound before the call";
}

TEST(Namespaces, BodyRunsInAnotherNamespaceWhoseLoopbackIsDown) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const ino_t here = network_namespace_inode();
    const LoopbackListener listener = listen_loopback();
    const auto* address = reinterpret_cast<const sockaddr*>(&listener.address);

    const int different =
        run_in_new_network_namespace([&] { return network_namespace_inode() != here ? 0 : 1; });
    const int status = run_in_new_network_namespace(
        [&] { return connect_errno(AF_INET, address, sizeof listener.address); });

    EXPECT_EQ(different, 0) << "body ran in the caller's network namespace";
    // A new namespace has a loopback device of its own, and it is down: 127.0.0.1 has no
    // route at all (measured on Linux 6.x: ENETUNREACH), let alone our listener.
    EXPECT_EQ(status, ENETUNREACH) << raw_sockets::errno_name(status);
}

// ---- the child's status ---------------------------------------------------------------------

TEST(Namespaces, ReturnsBodysReturnValueAsTheStatus) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    EXPECT_EQ(run_in_new_network_namespace([] { return 0; }), 0);
    EXPECT_EQ(run_in_new_network_namespace([] { return 7; }), 7);
}

TEST(Namespaces, ChildKilledBySignalGives128PlusTheSignal) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const int status = run_in_new_network_namespace([] {
        ::raise(SIGKILL);
        return 0;
    });
    EXPECT_EQ(status, 128 + SIGKILL);
}

// ---- the child never comes back into this process's code ----------------------------------

TEST(Namespaces, ReturnsIntoTheCallerOnlyOnce) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const TempDir dir;
    const pid_t test_process = ::getpid();

    const int status = run_in_new_network_namespace([] { return 3; });

    // Every process that gets here says so; a child that came back leaves at once.
    append_pid(dir.file("returned"));
    if (::getpid() != test_process) ::_exit(0);
    EXPECT_EQ(status, 3);
    EXPECT_EQ(lines_of(dir.file("returned")),
              std::vector<std::string>{std::to_string(test_process)});
}

TEST(Namespaces, ExceptionFromBodyBecomesStatus125AndStaysInTheChild) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const TempDir dir;
    const pid_t test_process = ::getpid();

    std::optional<int> status;
    try {
        status = run_in_new_network_namespace([]() -> int { throw std::runtime_error("boom"); });
    } catch (...) {
        // Only a child that let the exception out gets here.
    }

    append_pid(dir.file("came-back"));
    if (::getpid() != test_process) ::_exit(0);
    EXPECT_EQ(status, std::optional<int>(raw_sockets::body_threw_status));
    EXPECT_EQ(lines_of(dir.file("came-back")),
              std::vector<std::string>{std::to_string(test_process)});
}

// The exit handler below writes here when it runs in any process but the test's own.
std::array<char, 256> exit_handler_marker{};
pid_t exit_handler_owner = 0;

void mark_exit_handler_run_by_child() {
    if (::getpid() == exit_handler_owner || exit_handler_marker[0] == '\0') return;
    const int fd = ::open(exit_handler_marker.data(), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
    if (fd >= 0) ::close(fd);
}

TEST(Namespaces, ChildDoesNotRunTheCallersExitHandlers) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const TempDir dir;
    const std::string marker = dir.file("exit-handler-ran");
    ASSERT_LT(marker.size(), exit_handler_marker.size());
    std::memcpy(exit_handler_marker.data(), marker.c_str(), marker.size() + 1);
    exit_handler_owner = ::getpid();
    ASSERT_EQ(std::atexit(mark_exit_handler_run_by_child), 0);

    EXPECT_EQ(run_in_new_network_namespace([] { return 0; }), 0);

    // exit() in the child would run this process's atexit handlers (and static destructors)
    // a second time; _exit() runs none.
    EXPECT_FALSE(std::filesystem::exists(marker)) << "the child ran our atexit handler";
    exit_handler_marker[0] = '\0';
}

// ---- nothing left behind ------------------------------------------------------------------

TEST(Namespaces, LeavesNoZombie) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    ASSERT_EQ(unreaped_children(), "");
    run_in_new_network_namespace([] { return 0; });
    EXPECT_EQ(unreaped_children(), "");
}

TEST(Namespaces, LeavesNoDescriptorOpen) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const std::size_t before = open_descriptor_count();
    run_in_new_network_namespace([] { return 0; });
    EXPECT_EQ(open_descriptor_count(), before) << "after a body that returned";
    run_in_new_network_namespace([]() -> int { throw std::runtime_error("boom"); });
    EXPECT_EQ(open_descriptor_count(), before) << "after a body that threw";
}

// ---- unshare() refused --------------------------------------------------------------------

// Makes every unshare() of this process fail with EPERM: inside a new user namespace with
// no uid mapping, and without capabilities, neither CLONE_NEWNET (needs CAP_SYS_ADMIN) nor
// CLONE_NEWUSER (our uid has no mapping in the parent namespace) is allowed. In a chroot the
// kernel refuses every new user namespace (EPERM), so root there only needs to drop its
// capabilities. An empty string when done, else what failed.
std::string lose_the_right_to_unshare() {
    if (::unshare(CLONE_NEWUSER) != 0 && errno != EPERM)
        return "unshare(CLONE_NEWUSER): " + std::string(std::strerror(errno));
    __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
    std::array<__user_cap_data_struct, 2> none{};
    if (::syscall(SYS_capset, &header, none.data()) != 0) {
        return "capset: " + std::string(std::strerror(errno));
    }
    return "";
}

TEST(Namespaces, RefusedUnshareIsThrownWithoutRunningBodyOrLeavingAnything) {
    SKIP_WITHOUT_NETWORK_NAMESPACES();
    const TempDir dir;
    const std::string ran = dir.file("body-ran");
    // In a child of the test, so that the test process keeps its rights.
    Child child([&]() -> std::string {
        if (std::string failed = lose_the_right_to_unshare(); !failed.empty()) return failed;
        const std::size_t before = open_descriptor_count();
        std::ostringstream report;
        try {
            const int status = run_in_new_network_namespace([&] {
                append_pid(ran);
                return 0;
            });
            report << "no exception; status " << status << "; ";
        } catch (const SocketError& error) {
            if (error.operation() != "unshare" || error.code().value() != EPERM) {
                report << "wrong error: " << error.what() << "; ";
            }
        }
        if (open_descriptor_count() != before) report << "a descriptor was left open; ";
        report << unreaped_children();
        return report.str();
    });

    EXPECT_EQ(child.finish(), "");
    EXPECT_FALSE(std::filesystem::exists(ran)) << "body ran although unshare() failed";
}

}  // namespace
