// Chapter 05: socket files, made safe. What the connect probe says about a path (the chapter's
// exercise), how listen_on() acts on it (replace only a provably dead socket, refuse
// everything else and touch nothing, let exactly one of several racing servers win), the
// file's mode and group, set before anyone can connect, the abstract namespace, which has no
// file at all, and the 108 bytes of sun_path. The files the probe tests look at are made with
// raw system calls, so that only the probe, not listen_on() (which calls it), is under test.
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <future>
#include <iomanip>
#include <iterator>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

// ---- watching bind() and listen() ----------------------------------------------------------
//
// "The mode is set before listen()" is a claim about an instant, which a test that looks
// after listen_on() has returned cannot see. So this test program brings its own bind() and
// listen(): the library is linked into it statically, so its calls land here. Each makes the
// real system call and notes the mode and group the socket file had at that moment.

namespace {

// What lstat() showed of a Unix socket file at one moment.
struct FileSeen {
    bool seen = false;
    mode_t mode = 0;  // permission bits only
    gid_t group = 0;
};

FileSeen seen_after_bind;  // the file bind() has just created
FileSeen seen_at_listen;   // the file as listen() is called on its socket

void note_file(const sockaddr* address, socklen_t length, FileSeen& seen) {
    const auto* un = reinterpret_cast<const sockaddr_un*>(address);
    if (un->sun_family != AF_UNIX || length <= offsetof(sockaddr_un, sun_path) ||
        un->sun_path[0] == '\0') {
        return;  // not a socket file: unnamed, abstract, or not Unix at all
    }
    const std::size_t room =
        std::min(sizeof un->sun_path, std::size_t{length} - offsetof(sockaddr_un, sun_path));
    const std::string path(un->sun_path, ::strnlen(un->sun_path, room));
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return;
    seen = {.seen = true, .mode = info.st_mode & 07777, .group = info.st_gid};
}

}  // namespace

int bind(int fd, const sockaddr* address, socklen_t length) noexcept {
    const long result = ::syscall(SYS_bind, fd, address, length);
    if (result == 0) note_file(address, length, seen_after_bind);
    return static_cast<int>(result);
}

int listen(int fd, int backlog) noexcept {
    const int saved = errno;
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&storage), &length) == 0) {
        note_file(reinterpret_cast<const sockaddr*>(&storage), length, seen_at_listen);
    }
    errno = saved;
    return static_cast<int>(::syscall(SYS_listen, fd, backlog));
}

namespace {

using raw_sockets::Address;
using raw_sockets::AddressError;
using raw_sockets::Fd;
using raw_sockets::PathState;
using raw_sockets::probe_socket_path;
using raw_sockets::Socket;
using raw_sockets::SocketError;
using test_support::contains;
using test_support::TempDir;
using test_support::thrown;
using Clock = std::chrono::steady_clock;

// How long a test waits for something that should happen at once, before it calls it a hang.
constexpr auto patience = std::chrono::seconds(10);

const char* state_name(PathState state) {
    switch (state) {
        case PathState::absent:
            return "absent";
        case PathState::stale_socket:
            return "stale_socket";
        case PathState::live_socket:
            return "live_socket";
        case PathState::not_a_socket:
            return "not_a_socket";
    }
    return "(not a PathState)";
}

}  // namespace

namespace raw_sockets {
// Lets gtest print a PathState by name in its failure messages.
void PrintTo(PathState state, std::ostream* out) {
    *out << state_name(state);
}
}  // namespace raw_sockets

namespace {

std::string errno_text(const std::string& what) {
    return what + ": " + raw_sockets::errno_name(errno) + " (" + std::strerror(errno) + ")";
}

bool exists(const std::string& path) {
    struct stat info {};
    return ::lstat(path.c_str(), &info) == 0;
}

struct stat lstat_of(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) throw std::runtime_error(errno_text("lstat " + path));
    return info;
}

mode_t permissions_of(const std::string& path) {
    return lstat_of(path).st_mode & 07777;
}

// A file's mtime (content changed) and ctime (content or metadata changed), comparable.
std::pair<time_t, long> modified_at(const struct stat& info) {
    return {info.st_mtim.tv_sec, info.st_mtim.tv_nsec};
}
std::pair<time_t, long> changed_at(const struct stat& info) {
    return {info.st_ctim.tv_sec, info.st_ctim.tv_nsec};
}

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void write_file(const std::string& path, const std::string& content) {
    std::ofstream(path, std::ios::binary) << content;
}

// "0660": modes and umasks in the form people write them, so failures read naturally.
std::string octal(mode_t mode) {
    std::ostringstream text;
    text << std::oct << std::setw(4) << std::setfill('0') << mode;
    return text.str();
}

sockaddr_un unix_sockaddr(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::memcpy(address.sun_path, path.c_str(), path.size() + 1);
    return address;
}

// A socket of `type` bound to `path` with raw calls, and listening unless it is a datagram
// socket: what another program (or a crashed run of this one) could have left there.
Fd bind_by_hand(const std::string& path, int type = SOCK_STREAM, int backlog = 16) {
    Fd fd(::socket(AF_UNIX, type | SOCK_CLOEXEC, 0));
    if (!fd) throw std::runtime_error(errno_text("socket"));
    const sockaddr_un address = unix_sockaddr(path);
    if (::bind(fd.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) != 0) {
        throw std::runtime_error(errno_text("bind " + path));
    }
    if (type != SOCK_DGRAM && ::listen(fd.get(), backlog) != 0) {
        throw std::runtime_error(errno_text("listen " + path));
    }
    return fd;
}

// What a server killed with SIGKILL leaves behind: a socket file nobody listens on.
void make_stale_socket(const std::string& path) {
    bind_by_hand(path).reset();
    if (!exists(path)) throw std::runtime_error("the stale socket file " + path + " is missing");
}

// The errno of a raw bind() of a new Unix stream socket to `address` (0 if it succeeds).
int raw_bind_error(const Address& address) {
    const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    return ::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()) == 0 ? 0 : errno;
}

// True if a client connecting to `address` reaches `listener` (and not some other socket):
// the connection is queued on this very listener within the test's patience.
bool reaches(const Address& address, const Socket& listener) {
    const Socket client = raw_sockets::connect_to(address);
    pollfd waiting{.fd = listener.native_handle(), .events = POLLIN, .revents = 0};
    const int timeout_ms =
        static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(patience).count());
    if (::poll(&waiting, 1, timeout_ms) != 1) return false;
    return static_cast<bool>(raw_sockets::accept_connection(listener));
}

// Sets the process's umask for as long as it lives.
class UmaskForTest {
  public:
    explicit UmaskForTest(mode_t mask) : previous_(::umask(mask)) {}
    ~UmaskForTest() { ::umask(previous_); }
    UmaskForTest(const UmaskForTest&) = delete;
    UmaskForTest& operator=(const UmaskForTest&) = delete;

  private:
    mode_t previous_;
};

// The process's umask, read without changing it (umask() can only be read by setting it).
mode_t current_umask() {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    return mask;
}

// ---- the connect probe (chapter 05's exercise) ---------------------------------------------

TEST(ProbeSocketPath, AbsentPath) {
    const TempDir dir;
    EXPECT_EQ(probe_socket_path(dir.file("nothing-here")), PathState::absent);
    EXPECT_FALSE(exists(dir.file("nothing-here")));
}

TEST(ProbeSocketPath, LiveSocket) {
    const TempDir dir;
    const Fd listener = bind_by_hand(dir.file("s"));
    EXPECT_EQ(probe_socket_path(dir.file("s")), PathState::live_socket);
    EXPECT_TRUE(S_ISSOCK(lstat_of(dir.file("s")).st_mode));
}

// How many descriptors this process holds now.
std::size_t open_descriptor_count() {
    const auto entries = std::filesystem::directory_iterator("/proc/self/fd");
    return static_cast<std::size_t>(std::distance(begin(entries), end(entries)));
}

TEST(ProbeSocketPath, LeavesNoDescriptorOpenWhateverTheAnswer) {
    const TempDir dir;
    const Fd listener = bind_by_hand(dir.file("live"));
    make_stale_socket(dir.file("stale"));
    const std::size_t before = open_descriptor_count();
    // Every path through the probe: connected, refused, refused for the type (EPROTOTYPE).
    EXPECT_EQ(probe_socket_path(dir.file("live")), PathState::live_socket);
    EXPECT_EQ(probe_socket_path(dir.file("stale")), PathState::stale_socket);
    EXPECT_EQ(probe_socket_path(dir.file("live"), SOCK_DGRAM), PathState::live_socket);
    EXPECT_EQ(open_descriptor_count(), before);
}

TEST(ProbeSocketPath, AnLstatFailureOtherThanEnoentIsReportedNotTakenForAbsent) {
    // A path component longer than NAME_MAX: lstat() fails with ENAMETOOLONG, which says
    // nothing about whether a socket is there.
    const TempDir dir;
    const std::string path = dir.file(std::string(300, 'x'));
    const auto error = thrown<SocketError>([&] { (void)probe_socket_path(path); });
    ASSERT_TRUE(error) << "probe_socket_path() did not throw a SocketError";
    EXPECT_EQ(error->code().value(), ENAMETOOLONG);
    EXPECT_EQ(error->operation(), "lstat");
}

//! [probe-tests]
TEST(ProbeSocketPath, StaleSocket) {
    const TempDir dir;
    make_stale_socket(dir.file("s"));
    const ino_t inode = lstat_of(dir.file("s")).st_ino;
    EXPECT_EQ(probe_socket_path(dir.file("s")), PathState::stale_socket);
    // Probing changes nothing: deciding to replace the file is listen_on()'s business.
    EXPECT_EQ(lstat_of(dir.file("s")).st_ino, inode);
}

TEST(ProbeSocketPath, RegularFileIsNotASocket) {
    const TempDir dir;
    write_file(dir.file("s"), "precious");
    EXPECT_EQ(probe_socket_path(dir.file("s")), PathState::not_a_socket);
    EXPECT_EQ(read_file(dir.file("s")), "precious");
    EXPECT_EQ(raw_sockets::describe_file_type(dir.file("s")), "a regular file");
}

TEST(ProbeSocketPath, DirectoryIsNotASocket) {
    const TempDir dir;
    ASSERT_EQ(::mkdir(dir.file("s").c_str(), 0700), 0);
    EXPECT_EQ(probe_socket_path(dir.file("s")), PathState::not_a_socket);
    EXPECT_EQ(raw_sockets::describe_file_type(dir.file("s")), "a directory");
}

TEST(ProbeSocketPath, SymlinkToASocketIsNotASocket) {
    // lstat(), never stat(): the link is what sits at the path, whatever it points at.
    const TempDir dir;
    const Fd live = bind_by_hand(dir.file("live"));
    make_stale_socket(dir.file("stale"));
    ASSERT_EQ(::symlink(dir.file("live").c_str(), dir.file("to-live").c_str()), 0);
    ASSERT_EQ(::symlink(dir.file("stale").c_str(), dir.file("to-stale").c_str()), 0);

    EXPECT_EQ(probe_socket_path(dir.file("to-live")), PathState::not_a_socket);
    // Followed, this one would look stale, and listen_on() would remove the link.
    EXPECT_EQ(probe_socket_path(dir.file("to-stale")), PathState::not_a_socket);
    EXPECT_EQ(raw_sockets::describe_file_type(dir.file("to-stale")), "a symbolic link");
    EXPECT_TRUE(S_ISLNK(lstat_of(dir.file("to-stale")).st_mode));
}
//! [probe-tests]

TEST(ProbeSocketPath, FifoIsNotASocket) {
    const TempDir dir;
    ASSERT_EQ(::mkfifo(dir.file("s").c_str(), 0600), 0);
    EXPECT_EQ(probe_socket_path(dir.file("s")), PathState::not_a_socket);
    EXPECT_EQ(raw_sockets::describe_file_type(dir.file("s")), "a FIFO");
}

TEST(ProbeSocketPath, LiveServerWithAFullBacklogCountsAsLive) {
    // A busy server that accepts slowly: its queue is full. A blocking connect() would wait
    // until the server accepts (forever, here); the probe must answer at once, and "live".
    const TempDir dir;
    Fd listener = bind_by_hand(dir.file("s"), SOCK_STREAM, 1);
    std::vector<Fd> queued;
    for (int i = 0; i < 100; ++i) {
        Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
        const sockaddr_un address = unix_sockaddr(dir.file("s"));
        if (::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address) !=
            0) {
            ASSERT_EQ(errno, EAGAIN) << errno_text("filling the queue");
            break;
        }
        queued.push_back(std::move(client));
    }
    ASSERT_FALSE(queued.empty());
    ASSERT_LT(queued.size(), 100u) << "the queue never filled up";

    auto probe =
        std::async(std::launch::async, [&dir] { return probe_socket_path(dir.file("s")); });
    const bool answered = probe.wait_for(patience) == std::future_status::ready;
    EXPECT_TRUE(answered) << "probe_socket_path() blocked on a server whose queue is full";
    if (!answered) listener.reset();  // wakes the blocked connect(), so that the test can end
    const PathState state = probe.get();
    if (answered) {
        EXPECT_EQ(state, PathState::live_socket);
    }
}

TEST(ProbeSocketPath, SocketOfAnotherTypeCountsAsLive) {
    // Connecting a stream socket to a datagram socket fails with EPROTOTYPE, not
    // ECONNREFUSED: that proves nothing about whether it is in use, so it is left alone.
    const TempDir dir;
    const Fd datagram = bind_by_hand(dir.file("s"), SOCK_DGRAM);
    EXPECT_EQ(probe_socket_path(dir.file("s"), SOCK_STREAM), PathState::live_socket);
    EXPECT_EQ(probe_socket_path(dir.file("s"), SOCK_DGRAM), PathState::live_socket);
}

// ---- listen_on(): replace only a dead socket, refuse the rest ------------------------------

TEST(SafeBind, ReplacesAStaleSocketFile) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    make_stale_socket(dir.file("s"));
    // Holding the old file open keeps its inode in use, so the new file cannot reuse it.
    const Fd old_file(::open(dir.file("s").c_str(), O_PATH | O_CLOEXEC));
    ASSERT_TRUE(old_file) << errno_text("open O_PATH");
    struct stat old_info {};
    ASSERT_EQ(::fstat(old_file.get(), &old_info), 0);

    const Socket listener = raw_sockets::listen_on(address);

    const struct stat new_info = lstat_of(dir.file("s"));
    EXPECT_TRUE(S_ISSOCK(new_info.st_mode));
    EXPECT_NE(new_info.st_ino, old_info.st_ino) << "the stale file was not replaced";
    EXPECT_TRUE(reaches(address, listener));
}

TEST(SafeBind, RefusesALiveSocket) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    const Socket first = raw_sockets::listen_on(address);
    const ino_t inode = lstat_of(dir.file("s")).st_ino;

    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_EQ(error->operation(), "bind");
    EXPECT_TRUE(contains(error->what(), "bind(" + address.to_string() + "): EADDRINUSE"));
    EXPECT_TRUE(contains(error->what(), "a server is listening on it"));
    // The first server keeps its file and its clients.
    EXPECT_EQ(lstat_of(dir.file("s")).st_ino, inode);
    EXPECT_TRUE(reaches(address, first));
}

TEST(SafeBind, RefusesARegularFileAndLeavesItUntouched) {
    // The anchors' unlink-before-bind, given a mistyped path, deletes somebody's data.
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("data.txt"));
    write_file(dir.file("data.txt"), "precious data\n");
    const timespec long_ago[2] = {{.tv_sec = 1'000'000'000, .tv_nsec = 0},
                                  {.tv_sec = 1'000'000'000, .tv_nsec = 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, dir.file("data.txt").c_str(), long_ago, 0), 0);
    const struct stat before = lstat_of(dir.file("data.txt"));

    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_TRUE(contains(error->what(), "bind(" + address.to_string() + "): EADDRINUSE"));
    EXPECT_TRUE(contains(error->what(), "a regular file, not a socket; it was left untouched"));

    const struct stat after = lstat_of(dir.file("data.txt"));
    EXPECT_TRUE(S_ISREG(after.st_mode));
    EXPECT_EQ(read_file(dir.file("data.txt")), "precious data\n");
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(modified_at(after), modified_at(before));
    // Not even its metadata: a chmod or chown would have changed the ctime.
    EXPECT_EQ(changed_at(after), changed_at(before));
    EXPECT_EQ(after.st_mode, before.st_mode);
}

TEST(SafeBind, RefusesASymlinkToAPreciousFile) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    write_file(dir.file("precious"), "do not lose me\n");
    ASSERT_EQ(::symlink(dir.file("precious").c_str(), dir.file("s").c_str()), 0);
    const struct stat target_before = lstat_of(dir.file("precious"));

    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_TRUE(contains(error->what(), "a symbolic link, not a socket; it was left untouched"));

    EXPECT_TRUE(S_ISLNK(lstat_of(dir.file("s")).st_mode));
    EXPECT_EQ(std::filesystem::read_symlink(dir.file("s")).string(), dir.file("precious"));
    const struct stat target_after = lstat_of(dir.file("precious"));
    EXPECT_TRUE(S_ISREG(target_after.st_mode));
    EXPECT_EQ(read_file(dir.file("precious")), "do not lose me\n");
    EXPECT_EQ(target_after.st_ino, target_before.st_ino);
    EXPECT_EQ(target_after.st_mode, target_before.st_mode);
    EXPECT_EQ(changed_at(target_after), changed_at(target_before));
}

TEST(SafeBind, RefusesADirectory) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    ASSERT_EQ(::mkdir(dir.file("s").c_str(), 0700), 0);
    write_file(dir.file("s/inside"), "content");
    const struct stat before = lstat_of(dir.file("s"));

    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_TRUE(contains(error->what(), "a directory, not a socket; it was left untouched"));
    const struct stat after = lstat_of(dir.file("s"));
    EXPECT_TRUE(S_ISDIR(after.st_mode));
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(octal(after.st_mode & 07777), octal(before.st_mode & 07777));
    EXPECT_EQ(changed_at(after), changed_at(before));
    EXPECT_EQ(read_file(dir.file("s/inside")), "content");
}

// -- the race --

// Writes all of `text` to `fd`, for a forked child's report (no exceptions, no buffering).
void write_text(int fd, const std::string& text) {
    std::size_t written = 0;
    while (written < text.size()) {
        const ssize_t count = ::write(fd, text.data() + written, text.size() - written);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return;
        written += static_cast<std::size_t>(count);
    }
}

// One line from `fd` (without its newline), waiting until `deadline`; std::nullopt if the
// line did not come (the writer hung, or ended without writing one).
std::optional<std::string> read_line(int fd, Clock::time_point deadline) {
    std::string line;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        pollfd waiting{.fd = fd, .events = POLLIN, .revents = 0};
        const int ready = ::poll(&waiting, 1, static_cast<int>(std::max<long>(left.count(), 0)));
        if (ready < 0 && errno == EINTR) continue;
        if (ready <= 0) return std::nullopt;
        char c = 0;
        const ssize_t count = ::read(fd, &c, 1);
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) return std::nullopt;
        if (c == '\n') return line;
        line += c;
    }
}

// What a racing child does once released: listen_on(), then report on `report` one line,
// "won INODE" (the inode of the file at the name its socket is bound to) or "lost MESSAGE".
// The winner then accepts connections until one brings data, reports "accepted", and ends.
[[noreturn]] void race(const Address& address, int start, int report) {
    char byte = 0;
    while (::read(start, &byte, 1) < 0 && errno == EINTR) {
    }  // returns 0 when the parent closes its end: all children go at once
    std::optional<Socket> listener;
    try {
        listener = raw_sockets::listen_on(address);
        const std::string bound(raw_sockets::local_address(*listener).unix_name());
        struct stat info {};
        if (::lstat(bound.c_str(), &info) != 0) {
            write_text(report, "error " + errno_text("lstat " + bound) + "\n");
            ::_exit(1);
        }
        write_text(report, "won " + std::to_string(info.st_ino) + "\n");
        // The losers' probes connected too, and said nothing: wait for the parent, who does.
        for (int i = 0; i < 100; ++i) {
            pollfd waiting{.fd = listener->native_handle(), .events = POLLIN, .revents = 0};
            if (::poll(&waiting, 1, 10'000) != 1) break;
            Socket client = raw_sockets::accept_connection(*listener);
            std::array<std::byte, 64> buffer;
            if (client.recv_some(buffer) > 0) {
                write_text(report, "accepted\n");
                break;
            }
        }
    } catch (const std::exception& error) {
        write_text(report, std::string(listener ? "error " : "lost ") + error.what() + "\n");
    }
    ::_exit(0);
}

// The forked children of one test: killed and reaped when it ends, however it ends.
class Children {
  public:
    Children() = default;
    Children(const Children&) = delete;
    Children& operator=(const Children&) = delete;
    ~Children() {
        for (const pid_t pid : pids_) ::kill(pid, SIGKILL);
        for (const pid_t pid : pids_) ::waitpid(pid, nullptr, 0);
    }
    void add(pid_t pid) { pids_.push_back(pid); }
    // Waits for every child to exit (until `deadline`); true if all exited with status 0.
    bool all_exit_cleanly(Clock::time_point deadline) {
        bool clean = true;
        while (!pids_.empty()) {
            int status = 0;
            const pid_t pid = ::waitpid(pids_.back(), &status, WNOHANG);
            if (pid == 0) {
                if (Clock::now() >= deadline) return false;
                std::this_thread::sleep_for(std::chrono::milliseconds(1));  // paces the polling
                continue;
            }
            if (pid < 0 || !WIFEXITED(status) || WEXITSTATUS(status) != 0) clean = false;
            pids_.pop_back();
        }
        return clean;
    }

  private:
    std::vector<pid_t> pids_;
};

TEST(SafeBind, TwoServersRacingForAStalePathExactlyOneWins) {
    // Probing and then replacing is two steps. Without the directory lock, two servers could
    // both find the file stale, and the second would delete the first one's fresh socket.
    constexpr int rounds = 10;
    constexpr int racers = 6;
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("s"));
    make_stale_socket(dir.file("s"));

    for (int round = 1; round <= rounds; ++round) {
        SCOPED_TRACE("round " + std::to_string(round));
        ASSERT_TRUE(S_ISSOCK(lstat_of(dir.file("s")).st_mode));
        int start[2];
        ASSERT_EQ(::pipe2(start, O_CLOEXEC), 0);
        Fd start_read(start[0]);
        Fd start_write(start[1]);
        Children children;
        std::vector<Fd> reports;
        for (int i = 0; i < racers; ++i) {
            int report[2];
            ASSERT_EQ(::pipe2(report, O_CLOEXEC), 0);
            Fd report_read(report[0]);
            Fd report_write(report[1]);
            const pid_t pid = ::fork();
            ASSERT_NE(pid, -1) << errno_text("fork");
            if (pid == 0) {
                start_write.reset();  // or the read of the start pipe would never see its end
                race(address, start_read.get(), report_write.get());
            }
            children.add(pid);
            reports.push_back(std::move(report_read));
        }
        start_write.reset();  // go

        const auto deadline = Clock::now() + patience;
        int winner = -1;
        ino_t winner_inode = 0;
        for (int i = 0; i < racers; ++i) {
            const auto line = read_line(reports[i].get(), deadline);
            ASSERT_TRUE(line) << "racer " << i << " did not report within the deadline";
            if (line->starts_with("won ")) {
                EXPECT_EQ(winner, -1) << "racers " << winner << " and " << i << " both won";
                winner = i;
                winner_inode = static_cast<ino_t>(std::stoull(line->substr(4)));
            } else {
                EXPECT_TRUE(line->starts_with("lost ")) << *line;
                EXPECT_TRUE(contains(*line, "a server is listening on it"));
            }
        }
        ASSERT_NE(winner, -1) << "nobody won";

        // The file at the path is the winner's socket: same inode, and it answers.
        const struct stat info = lstat_of(dir.file("s"));
        EXPECT_TRUE(S_ISSOCK(info.st_mode));
        EXPECT_EQ(info.st_ino, winner_inode) << "the winner's file was replaced after it won";
        {
            Socket client = raw_sockets::connect_to(address);
            client.send_all("hello winner");
            EXPECT_EQ(read_line(reports[winner].get(), deadline), "accepted");
        }
        // The winner has closed its listener without removing the file: stale again.
        EXPECT_TRUE(children.all_exit_cleanly(deadline));
        if (HasFailure()) break;
    }
}

// ---- the file's mode and group ------------------------------------------------------------

TEST(SocketMode, NoClientConnectsBeforeListen) {
    // Why setting the mode between bind() and listen() is in time: a bound socket that is not
    // listening refuses every connection, so nobody gets in through the file's first mode.
    const TempDir dir;
    const Fd bound(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const sockaddr_un address = unix_sockaddr(dir.file("s"));
    ASSERT_EQ(::bind(bound.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address), 0);
    const Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_NE(::connect(client.get(), reinterpret_cast<const sockaddr*>(&address), sizeof address),
              0);
    EXPECT_EQ(errno, ECONNREFUSED) << errno_text("connect before listen");
}

TEST(SocketMode, DefaultIs0660) {
    // Connecting needs write permission on the file: 0660 lets in the owner and the group.
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    EXPECT_EQ(octal(permissions_of(dir.file("s"))), "0660");
}

TEST(SocketMode, IsAppliedBeforeListen) {
    for (const mode_t mode : {mode_t{0600}, mode_t{0666}}) {
        SCOPED_TRACE("unix_mode " + octal(mode));
        const TempDir dir;
        seen_at_listen = {};
        const Socket listener =
            raw_sockets::listen_on(Address::parse(dir.unix_address("s")), {.unix_mode = mode});
        EXPECT_EQ(octal(permissions_of(dir.file("s"))), octal(mode));
        // From the first instant a client can connect, the file has its final mode.
        ASSERT_TRUE(seen_at_listen.seen) << "this test's listen() stand-in was not called";
        EXPECT_EQ(octal(seen_at_listen.mode), octal(mode)) << "the mode when listen() was called";
    }
}

TEST(SocketMode, UmaskIsRestored) {
    // listen_on() narrows the umask around bind(); the process's own must come back.
    const UmaskForTest umask_022(0022);
    const TempDir dir;
    const Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    EXPECT_EQ(octal(current_umask()), "0022");
    // Also when bind() itself fails (no such directory) while the narrow umask is in place.
    EXPECT_TRUE(thrown<SocketError>(
        [&] { raw_sockets::listen_on(Address::parse(dir.unix_address("missing/s"))); }));
    EXPECT_EQ(octal(current_umask()), "0022");
}

TEST(SocketMode, FileIsNotLooserThanAskedEvenWithUmaskZero) {
    // With umask 0 bind() would make the file 0777, open to everyone until a later chmod.
    const UmaskForTest umask_000(0);
    const TempDir dir;
    seen_after_bind = {};
    const Socket listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("s")), {.unix_mode = 0600});
    EXPECT_EQ(octal(permissions_of(dir.file("s"))), "0600");
    ASSERT_TRUE(seen_after_bind.seen) << "this test's bind() stand-in was not called";
    EXPECT_EQ(seen_after_bind.mode & ~mode_t{0600}, 0u)
        << "just after bind() the file was " << octal(seen_after_bind.mode)
        << ", looser than the 0600 asked for";
    EXPECT_EQ(octal(current_umask()), "0000");
}

// A group that exists here other than the process's own, or std::nullopt.
std::optional<gid_t> some_other_group(std::string& name) {
    for (const char* candidate : {"nogroup", "daemon", "users", "bin"}) {
        if (const group* entry = ::getgrnam(candidate); entry && entry->gr_gid != ::getegid()) {
            name = candidate;
            return entry->gr_gid;
        }
    }
    return std::nullopt;
}

TEST(SocketGroup, IsApplied) {
    if (::geteuid() != 0) GTEST_SKIP() << "chown to another group needs root (or membership)";
    std::string name;
    const std::optional<gid_t> gid = some_other_group(name);
    if (!gid) GTEST_SKIP() << "none of nogroup, daemon, users, bin exists here";
    const TempDir dir;
    seen_at_listen = {};
    const Socket listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("s")), {.unix_group = name});
    const struct stat info = lstat_of(dir.file("s"));
    EXPECT_EQ(info.st_gid, *gid) << "group " << name;
    EXPECT_EQ(octal(info.st_mode & 07777), "0660");
    // Like the mode, the group is in place before any client can connect.
    ASSERT_TRUE(seen_at_listen.seen) << "this test's listen() stand-in was not called";
    EXPECT_EQ(seen_at_listen.group, *gid) << "the group when listen() was called";
}

TEST(SocketGroup, UnknownGroupIsNamedAndNoFileIsLeft) {
    const TempDir dir;
    const auto error = thrown<SocketError>([&] {
        raw_sockets::listen_on(Address::parse(dir.unix_address("s")),
                               {.unix_group = "no-such-group-xyz"});
    });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "'no-such-group-xyz'"));
    EXPECT_TRUE(contains(error->what(), dir.unix_address("s")));
    EXPECT_FALSE(exists(dir.file("s"))) << "the half-made socket file was left behind";
}

// ---- the abstract namespace ----------------------------------------------------------------

// An abstract address unique to this test run: the temporary directory's name is unique.
Address abstract_address(const TempDir& dir, const std::string& suffix = "") {
    return Address::parse("unix:@" + dir.path() + suffix);
}

// True if /proc/net/unix lists a socket named `name` ("@..." for an abstract one).
bool kernel_lists(const std::string& name) {
    std::ifstream table("/proc/net/unix");
    std::string line;
    while (std::getline(table, line)) {
        if (line.size() > name.size() && line.ends_with(" " + name)) return true;
    }
    return false;
}

TEST(AbstractName, LeavesNoFile) {
    const TempDir dir;
    const Address address = abstract_address(dir);
    {
        const Socket listener = raw_sockets::listen_on(address);
        EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
        EXPECT_FALSE(exists("@" + dir.path()));  // not even a file named after it in the cwd
        EXPECT_TRUE(kernel_lists("@" + dir.path()));
        EXPECT_TRUE(reaches(address, listener));
    }
    // Nothing to clean up: with the socket, the name is gone.
    EXPECT_FALSE(kernel_lists("@" + dir.path()));
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(AbstractName, IsFreedWhenTheSocketCloses) {
    const TempDir dir;
    const Address address = abstract_address(dir);
    raw_sockets::listen_on(address).close();
    // Bound again at once: no stale file, nothing to probe or remove.
    EXPECT_EQ(raw_bind_error(address), 0);
    const Socket again = raw_sockets::listen_on(address);
    EXPECT_TRUE(reaches(address, again));

    // Unlike a path, whose file outlives the socket and blocks a plain bind().
    const Address path = Address::parse(dir.unix_address("s"));
    bind_by_hand(dir.file("s")).reset();
    EXPECT_EQ(raw_bind_error(path), EADDRINUSE);
}

TEST(AbstractName, SameNameTwiceGivesEADDRINUSE) {
    const TempDir dir;
    const Address address = abstract_address(dir);
    const Socket first = raw_sockets::listen_on(address);
    const auto error = thrown<SocketError>([&] { raw_sockets::listen_on(address); });
    ASSERT_TRUE(error);
    EXPECT_EQ(error->code().value(), EADDRINUSE);
    EXPECT_EQ(error->operation(), "bind");
    EXPECT_TRUE(contains(error->what(), "bind(" + address.to_string() + "): EADDRINUSE"));
    EXPECT_TRUE(reaches(address, first));
}

TEST(AbstractName, Has107BytesOfName) {
    // All 108 bytes of sun_path but the leading NUL: 107 bytes, and no terminating NUL.
    const TempDir dir;
    const std::string name = dir.path() + "/" + std::string(107 - dir.path().size() - 1, 'n');
    ASSERT_EQ(name.size(), 107u);
    const Address address = Address::parse("unix:@" + name);
    EXPECT_EQ(address.sockaddr_length(), sizeof(sockaddr_un));
    const Socket listener = raw_sockets::listen_on(address);
    EXPECT_EQ(raw_sockets::local_address(listener), address);
    EXPECT_EQ(raw_sockets::local_address(listener).unix_name(), name);
    EXPECT_TRUE(reaches(address, listener));

    const auto error = thrown<AddressError>([&] { Address::parse("unix:@" + name + "n"); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "the abstract name is 108 bytes"));
    EXPECT_TRUE(contains(error->what(), "at most 107 (108 with the leading NUL)"));
}

// ---- the sun_path limit --------------------------------------------------------------------

// The bytes of a raw AF_UNIX address for `path`, with no terminating NUL: the length alone
// says where the name ends, which is how the kernel reads it. The buffer is a
// sockaddr_storage, so that a name longer than sun_path can be handed to the kernel at all.
struct RawUnixAddress {
    sockaddr_storage storage{};
    socklen_t length = 0;
    const sockaddr* data() const { return reinterpret_cast<const sockaddr*>(&storage); }
};

RawUnixAddress raw_unix_address(const std::string& path) {
    RawUnixAddress address;
    reinterpret_cast<sockaddr_un&>(address.storage).sun_family = AF_UNIX;
    char* name = reinterpret_cast<char*>(&address.storage) + offsetof(sockaddr_un, sun_path);
    std::memcpy(name, path.data(), path.size());
    address.length = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size());
    return address;
}

// A path of exactly `size` bytes inside `dir`.
std::string path_of_size(const TempDir& dir, std::size_t size) {
    return dir.file(std::string(size - dir.path().size() - 1, 'p'));
}

TEST(SunPath, KernelBindsA108BytePathThatHasNoRoomForItsNul) {
    // Linux reads the name up to the address length: 108 bytes fill sun_path exactly, with
    // no terminating NUL, and bind() accepts that.
    const TempDir dir;
    const std::string path = path_of_size(dir, 108);
    const RawUnixAddress address = raw_unix_address(path);
    ASSERT_EQ(address.length, sizeof(sockaddr_un));
    const Fd listener(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    ASSERT_EQ(::bind(listener.get(), address.data(), address.length), 0)
        << errno_text("bind of a 108-byte path");
    ASSERT_EQ(::listen(listener.get(), 4), 0) << errno_text("listen");
    EXPECT_TRUE(S_ISSOCK(lstat_of(path).st_mode));
    const Fd client(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_EQ(::connect(client.get(), address.data(), address.length), 0)
        << errno_text("connect to a 108-byte path");

    // The trap of unix(7) BUGS: read back into a sockaddr_un, sun_path holds all 108 bytes
    // and no NUL. Code that treats it as a C string reads past the end of the structure.
    sockaddr_un bound{};
    socklen_t length = sizeof bound;
    ASSERT_EQ(::getsockname(listener.get(), reinterpret_cast<sockaddr*>(&bound), &length), 0);
    EXPECT_GT(length, sizeof bound) << "the kernel says the full name did not fit";
    EXPECT_EQ(std::memchr(bound.sun_path, '\0', sizeof bound.sun_path), nullptr)
        << "sun_path came back NUL-terminated";
    // Bounded by what was really filled in, as unix(7) advises, the name comes back whole;
    // the library's Address reads it the same way.
    const std::size_t filled = std::min<std::size_t>(length, sizeof bound);
    EXPECT_EQ(std::string(bound.sun_path,
                          ::strnlen(bound.sun_path, filled - offsetof(sockaddr_un, sun_path))),
              path);
    const Address read_back =
        Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&bound), length);
    EXPECT_EQ(read_back.unix_name(), path);
    EXPECT_EQ(read_back.sockaddr_length(), sizeof(sockaddr_un));  // usable for connect()
    EXPECT_NO_THROW(raw_sockets::connect_to(read_back));
}

TEST(SunPath, KernelRefusesA109BytePathWithEINVAL) {
    const TempDir dir;
    for (const bool with_nul : {false, true}) {
        SCOPED_TRACE(with_nul ? "109 bytes and a NUL" : "109 bytes");
        RawUnixAddress address = raw_unix_address(path_of_size(dir, 109));
        if (with_nul) ++address.length;  // the storage is zeroed: the NUL is there already
        const Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
        EXPECT_NE(::bind(fd.get(), address.data(), address.length), 0);
        EXPECT_EQ(errno, EINVAL) << errno_text("bind");
    }
    EXPECT_FALSE(exists(path_of_size(dir, 109)));
}

TEST(SunPath, CourseLimitIs107BytesSoThatTheNulFits) {
    // 107, not the kernel's 108: a name that keeps its NUL inside sun_path is safe to read
    // back as a C string by every program, here and on other systems.
    const TempDir dir;
    EXPECT_EQ(raw_sockets::max_unix_path_length, sizeof(sockaddr_un::sun_path) - 1);
    EXPECT_EQ(Address::parse("unix:" + path_of_size(dir, 107)).unix_name(), path_of_size(dir, 107));
    const auto error =
        thrown<AddressError>([&] { Address::parse("unix:" + path_of_size(dir, 108)); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "the path is 108 bytes"));
    EXPECT_TRUE(contains(error->what(), "the course allows at most 107"));
}

// A directory, made under `dir`, whose own path is longer than sun_path can hold.
std::string make_long_directory(const TempDir& dir) {
    std::string path = dir.path();
    while (path.size() <= 120) {
        path += "/" + std::string(40, 'd');
        if (::mkdir(path.c_str(), 0700) != 0) throw std::runtime_error(errno_text("mkdir " + path));
    }
    return path;
}

TEST(SunPath, ALongDirectoryIsReachedThroughProcSelfFd) {
    const TempDir dir;
    const std::string directory = make_long_directory(dir);
    ASSERT_GT((directory + "/s").size(), 108u);
    EXPECT_TRUE(thrown<AddressError>([&] { Address::parse("unix:" + directory + "/s"); }));

    // /proc/self/fd/N names the directory that descriptor N holds open, in a few bytes; the
    // kernel follows it during the path lookup, whatever the directory's full path.
    const Fd held(::open(directory.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(held) << errno_text("open " + directory);
    const Address address =
        Address::parse("unix:/proc/self/fd/" + std::to_string(held.get()) + "/s");
    const Socket listener = raw_sockets::listen_on(address);
    EXPECT_TRUE(S_ISSOCK(lstat_of(directory + "/s").st_mode))
        << "the file is in the long directory";
    EXPECT_TRUE(reaches(address, listener));  // a client uses the same trick
}

TEST(SunPath, ALongDirectoryIsReachedByChdirAndARelativeName) {
    // chdir() is per process: fine in this single-threaded test, not in a threaded server.
    const TempDir dir;
    const std::string directory = make_long_directory(dir);
    const Fd previous(::open(".", O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(previous) << errno_text("open .");
    ASSERT_EQ(::chdir(directory.c_str()), 0) << errno_text("chdir " + directory);
    bool bound = false;
    bool reached = false;
    try {
        const Address relative = Address::parse("unix:s");
        const Socket listener = raw_sockets::listen_on(relative);
        bound = true;
        reached = reaches(relative, listener);
    } catch (const std::exception& error) {
        ADD_FAILURE() << error.what();
    }
    ASSERT_EQ(::fchdir(previous.get()), 0) << errno_text("fchdir back");
    EXPECT_TRUE(bound);
    EXPECT_TRUE(reached);
    EXPECT_TRUE(S_ISSOCK(lstat_of(directory + "/s").st_mode));
}

}  // namespace
