// Chapter 07: passing descriptors. A socketpair connects a parent and the child it forks;
// SCM_RIGHTS sends an open file (a pipe, a regular file, a listening socket) to another
// process, which gets a new descriptor number for the same open file description: offset and
// file status flags shared, FD_CLOEXEC its own. On a stream at least one byte must travel with
// the descriptors (SOCK_SEQPACKET and SOCK_DGRAM need none); received ones are close-on-exec;
// at most 253 go in one message; descriptors that do not fit are reported (MSG_CTRUNC)
// without leaking any; and TCP carries none. SCM_CREDENTIALS, the other control message of
// SOL_SOCKET, carries the sender's pid and real ids, checked by the kernel.
#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::Credentials;
using raw_sockets::Fd;
using raw_sockets::ReceivedFds;
using raw_sockets::Socket;
using test_support::Child;
using test_support::contains;
using test_support::TempDir;
using test_support::thrown;

// Both ends of a pipe, each owned by an Fd. `flags` 0 leaves them inheritable by exec().
struct Pipe {
    Fd read;
    Fd write;
    explicit Pipe(int flags = O_CLOEXEC) {
        int fds[2];
        if (::pipe2(fds, flags) != 0) throw std::runtime_error("pipe2 failed");
        read.reset(fds[0]);
        write.reset(fds[1]);
    }
};

bool is_root() {
    return ::geteuid() == 0;
}

// Why a test that needs a second user is skipped when the tests do not run as root.
constexpr const char* needs_root =
    "needs root: only root can start a process as another user (nobody) to show what the "
    "kernel allows or refuses it";

constexpr uid_t nobody_uid = 65534;
constexpr gid_t nobody_gid = 65534;  // nogroup on Debian
constexpr gid_t not_nobodys_gid = 65533;

// In a forked child: gives up root for `uid` and `gid`, with no supplementary groups.
// Returns what failed, or nothing.
std::string become(uid_t uid, gid_t gid) {
    if (::setgroups(0, nullptr) != 0) return "setgroups: " + raw_sockets::errno_name(errno);
    if (::setgid(gid) != 0) return "setgid: " + raw_sockets::errno_name(errno);
    if (::setuid(uid) != 0) return "setuid: " + raw_sockets::errno_name(errno);
    return {};
}

// Sends one byte with an SCM_CREDENTIALS message claiming `claimed`, as send_credentials()
// would with this process's own; returns 0 or the errno. The kernel checks the claim.
int send_claimed_credentials(int fd, const ucred& claimed) {
    char byte = 'c';
    iovec payload{.iov_base = &byte, .iov_len = 1};
    union {
        char bytes[CMSG_SPACE(sizeof(ucred))];
        cmsghdr align;
    } control{};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_CREDENTIALS;
    header->cmsg_len = CMSG_LEN(sizeof(ucred));
    std::memcpy(CMSG_DATA(header), &claimed, sizeof claimed);
    return ::sendmsg(fd, &message, MSG_NOSIGNAL) == 1 ? 0 : errno;
}

// A safety net, not a wait: a blocking call on one of the test's sockets fails with EAGAIN
// after 10 s instead of hanging when the code under test is broken.
void give_up_after_10s(const Socket& socket) {
    const timeval limit{.tv_sec = 10, .tv_usec = 0};
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_RCVTIMEO, &limit, sizeof limit),
              0);
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit),
              0);
}

void write_text(int fd, std::string_view text) {
    ASSERT_EQ(::write(fd, text.data(), text.size()), static_cast<ssize_t>(text.size()));
}

// One read() of at most `size` bytes from `fd`, as text ("" at end of file or on error).
std::string read_text(int fd, std::size_t size) {
    std::string text(size, '\0');
    const ssize_t count = ::read(fd, text.data(), size);
    text.resize(count > 0 ? static_cast<std::size_t>(count) : 0);
    return text;
}

// True when `a` and `b` are the same file (device and inode), however they were opened.
bool same_file(int a, int b) {
    struct stat first {};
    struct stat second {};
    return ::fstat(a, &first) == 0 && ::fstat(b, &second) == 0 && first.st_dev == second.st_dev &&
           first.st_ino == second.st_ino;
}

// How many descriptors this process has open (the entries of /proc/self/fd).
std::size_t open_descriptor_count() {
    std::size_t count = 0;
    for ([[maybe_unused]] const auto& entry :
         std::filesystem::directory_iterator("/proc/self/fd")) {
        ++count;
    }
    return count;
}

// Half-closes `socket` when it goes, however the scope ends, so that a reader waiting for
// the end of the stream is not left waiting when the sending code throws.
class EndsStreamOnExit {
  public:
    explicit EndsStreamOnExit(const Socket& socket) : socket_(socket) {}
    ~EndsStreamOnExit() { ::shutdown(socket_.native_handle(), SHUT_WR); }
    EndsStreamOnExit(const EndsStreamOnExit&) = delete;
    EndsStreamOnExit& operator=(const EndsStreamOnExit&) = delete;

  private:
    const Socket& socket_;
};

// ---- socketpair ----------------------------------------------------------------------------

TEST(SocketPair, ConnectsParentAndChild) {
    auto [parent_end, child_end] = raw_sockets::socket_pair();
    give_up_after_10s(parent_end);

    // Each process keeps one end: no path, no address, no permissions, just a fork().
    Child child([&]() -> std::string {
        parent_end.close();
        const std::string asked = test_support::receive_all(child_end);
        child_end.send_all("child " + std::to_string(::getpid()) + " got '" + asked + "'");
        return {};
    });
    child_end.close();

    parent_end.send_all("ping");
    parent_end.shutdown_write();
    const std::string answer = test_support::receive_all(parent_end);

    EXPECT_EQ(answer, "child " + std::to_string(child.pid()) + " got 'ping'");
    EXPECT_EQ(child.finish(), "");
}

// ---- SCM_RIGHTS ----------------------------------------------------------------------------

TEST(ScmRights, PassesAnOpenFile) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe pipe;

    const int sent[] = {pipe.write.get()};
    raw_sockets::send_fds(sender, "here", sent);
    ReceivedFds received = raw_sockets::recv_fds(receiver, 64, 4);

    EXPECT_EQ(received.data, "here");
    ASSERT_EQ(received.fds.size(), 1u);
    const int number = received.fds[0].get();
    EXPECT_NE(number, pipe.write.get());               // a new number...
    EXPECT_TRUE(same_file(number, pipe.write.get()));  // ...for the same open file
    // It works on its own: the sender's descriptor is gone, the pipe's write end lives on.
    pipe.write.reset();
    write_text(number, "through the new number");
    received.fds.clear();  // the last write end: the reader will see end of file
    EXPECT_EQ(read_text(pipe.read.get(), 100), "through the new number");
    EXPECT_EQ(read_text(pipe.read.get(), 100), "");
}

TEST(ScmRights, SharesTheFileOffset) {
    const TempDir dir;
    std::ofstream(dir.file("digits")) << "0123456789";
    auto [parent_end, child_end] = raw_sockets::socket_pair();
    give_up_after_10s(parent_end);

    // Forked before the file is opened, so the child can only have it by receiving it.
    Child child([&]() -> std::string {
        parent_end.close();
        ReceivedFds received = raw_sockets::recv_fds(child_end, 16, 1);
        if (received.fds.size() != 1) return "received " + std::to_string(received.fds.size());
        return "child read '" + read_text(received.fds[0].get(), 4) + "'";
    });
    child_end.close();

    const Fd file(::open(dir.file("digits").c_str(), O_RDONLY | O_CLOEXEC));
    ASSERT_TRUE(file);
    const int sent[] = {file.get()};
    raw_sockets::send_fds(parent_end, "f", sent);
    ASSERT_EQ(child.finish(), "child read '0123'");

    // One open file, one offset: the child's read moved ours.
    EXPECT_EQ(::lseek(file.get(), 0, SEEK_CUR), 4);
    EXPECT_EQ(read_text(file.get(), 3), "456");
    EXPECT_EQ(::lseek(file.get(), 0, SEEK_CUR), 7);
}

// Sends `fds` with `data` (which may be empty) in one sendmsg() on `fd`, as send_fds() would
// but without its checks. Returns what sendmsg() returned, or -errno.
ssize_t send_raw(int fd, std::string_view data, std::span<const int> fds) {
    std::vector<char> control(CMSG_SPACE(sizeof(int) * fds.size()));  // new[]: aligned enough
    iovec payload{.iov_base = const_cast<char*>(data.data()), .iov_len = data.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    const ssize_t sent = ::sendmsg(fd, &message, MSG_NOSIGNAL);
    return sent < 0 ? -errno : sent;
}

// What one recvmsg() on `fd` with room for `room` descriptors got, without waiting:
// "N bytes, M fds" (the descriptors are closed again), or the errno's name.
std::string receive_raw(int fd, std::size_t room = 4) {
    std::array<char, 64> buffer{};
    std::vector<char> control(CMSG_SPACE(sizeof(int) * room));
    iovec payload{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.data();
    message.msg_controllen = control.size();
    const ssize_t received = ::recvmsg(fd, &message, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
    if (received < 0) return raw_sockets::errno_name(errno);
    std::size_t count = 0;
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level != SOL_SOCKET || header->cmsg_type != SCM_RIGHTS) continue;
        const std::size_t here = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < here; ++i) {
            int received_fd = -1;
            std::memcpy(&received_fd, CMSG_DATA(header) + i * sizeof(int), sizeof received_fd);
            ::close(received_fd);
        }
        count += here;
    }
    return std::to_string(received) + " bytes, " + std::to_string(count) + " fds";
}

// A connected pair of Unix sockets of `type` (SOCK_STREAM, SOCK_SEQPACKET, SOCK_DGRAM).
std::array<Fd, 2> unix_pair(int type) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) {
        throw std::runtime_error("socketpair failed");
    }
    return {Fd(fds[0]), Fd(fds[1])};
}

TEST(ScmRights, AStreamNeedsAtLeastOneDataByte) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    Pipe pipe;
    const int sent[] = {pipe.write.get()};

    const auto error =
        thrown<std::invalid_argument>([&] { raw_sockets::send_fds(sender, "", sent); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "byte"));

    // Why: on a stream socket, a sendmsg() of zero bytes sends nothing at all, and the
    // descriptors attached to it are dropped without an error.
    EXPECT_EQ(send_raw(sender.native_handle(), "", sent), 0);
    EXPECT_EQ(receive_raw(receiver.native_handle()), "EAGAIN");
    // With one byte, they arrive.
    EXPECT_EQ(send_raw(sender.native_handle(), "x", sent), 1);
    EXPECT_EQ(receive_raw(receiver.native_handle()), "1 bytes, 1 fds");
}

TEST(ScmRights, SeqpacketAndDatagramCarryDescriptorsWithNoData) {
    Pipe pipe;
    const int sent[] = {pipe.write.get()};
    for (const auto& [type, name] :
         {std::pair{SOCK_SEQPACKET, "SOCK_SEQPACKET"}, std::pair{SOCK_DGRAM, "SOCK_DGRAM"}}) {
        SCOPED_TRACE(name);
        const auto [sender, receiver] = unix_pair(type);
        // A message of zero bytes exists on these: it carries the descriptor alone. (For
        // SOCK_SEQPACKET recvmsg() returns 0, as it would at end of stream: the descriptor
        // is what tells the two apart.)
        EXPECT_EQ(send_raw(sender.get(), "", sent), 0);
        EXPECT_EQ(receive_raw(receiver.get()), "0 bytes, 1 fds");
    }
}

TEST(ScmRights, AtMost253DescriptorsPerMessage) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    Pipe pipe;
    // The same descriptor many times over: each becomes a descriptor of its own on arrival.
    const std::vector<int> many(254, pipe.write.get());

    // SCM_MAX_FD is 253 (255 before Linux 2.6.38): one more, and sendmsg() refuses.
    EXPECT_EQ(send_raw(sender.native_handle(), "x", std::span(many).first(254)), -EINVAL);
    EXPECT_EQ(send_raw(sender.native_handle(), "x", std::span(many).first(253)), 1);
    EXPECT_EQ(receive_raw(receiver.native_handle(), 253), "1 bytes, 253 fds");
}

TEST(ScmRights, TcpCarriesNoDescriptors) {
    const Socket listener = raw_sockets::listen_on(Address::parse("127.0.0.1:0"));
    Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    Socket server = raw_sockets::accept_connection(listener);
    give_up_after_10s(server);
    Pipe pipe;
    const int sent[] = {pipe.write.get()};

    // sendmsg() takes the SCM_RIGHTS message and sends the byte; the descriptor stays home.
    EXPECT_EQ(send_raw(client.native_handle(), "x", sent), 1);
    std::array<std::byte, 1> byte{};
    ASSERT_EQ(::recv(server.native_handle(), byte.data(), 1, MSG_PEEK), 1);  // it has arrived
    EXPECT_EQ(receive_raw(server.native_handle()), "1 bytes, 0 fds");
}

TEST(ScmRights, StatusFlagsAreSharedButCloseOnExecIsPerDescriptor) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe inheritable(0);
    const int ours = inheritable.write.get();
    ASSERT_EQ(::fcntl(ours, F_GETFL) & O_NONBLOCK, 0);

    const int sent[] = {ours};
    raw_sockets::send_fds(sender, "x", sent);
    const ReceivedFds received = raw_sockets::recv_fds(receiver, 16, 1);
    ASSERT_EQ(received.fds.size(), 1u);
    const int theirs = received.fds[0].get();

    // File status flags live in the open file description, which both descriptors share:
    // the receiver makes it non-blocking, and so is ours.
    ASSERT_EQ(::fcntl(theirs, F_SETFL, ::fcntl(theirs, F_GETFL) | O_NONBLOCK), 0);
    EXPECT_NE(::fcntl(ours, F_GETFL) & O_NONBLOCK, 0);
    // FD_CLOEXEC is a descriptor flag: set on theirs (MSG_CMSG_CLOEXEC), not on ours.
    EXPECT_NE(::fcntl(theirs, F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(::fcntl(ours, F_GETFD) & FD_CLOEXEC, 0);
}

TEST(ScmRights, ReceivedDescriptorsAreCloseOnExec) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe inheritable(0);
    ASSERT_EQ(::fcntl(inheritable.write.get(), F_GETFD) & FD_CLOEXEC, 0);

    const int sent[] = {inheritable.write.get()};
    raw_sockets::send_fds(sender, "x", sent);
    const ReceivedFds received = raw_sockets::recv_fds(receiver, 16, 1);

    ASSERT_EQ(received.fds.size(), 1u);
    // The flag belongs to the descriptor, not the open file: the receiver's is set at birth.
    EXPECT_NE(::fcntl(received.fds[0].get(), F_GETFD) & FD_CLOEXEC, 0);
    EXPECT_EQ(::fcntl(inheritable.write.get(), F_GETFD) & FD_CLOEXEC, 0);
}

//! [truncation-test]
TEST(ScmRights, TruncationIsDetectedAndNothingLeaks) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe first, second, third;
    const int sent[] = {first.write.get(), second.write.get(), third.write.get()};
    const std::size_t open_before = open_descriptor_count();

    raw_sockets::send_fds(sender, "three", sent);
    const auto error = thrown<raw_sockets::ProtocolError>(
        [&] { raw_sockets::recv_fds(receiver, 16, 1); });  // room for one

    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "MSG_CTRUNC"));
    EXPECT_TRUE(contains(error->what(), "pair:1"));
    // The one that fitted was closed by recv_fds(), the two that did not by the kernel.
    EXPECT_EQ(open_descriptor_count(), open_before);
}
//! [truncation-test]

TEST(ScmRights, AReceiveWithNoRoomClosesTheDescriptors) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe pipe;
    const int sent[] = {pipe.write.get()};
    raw_sockets::send_fds(sender, "x", sent);
    pipe.write.reset();  // the message now holds the only write end
    const std::size_t open_before = open_descriptor_count();

    // A plain recv() offers no control buffer: the byte arrives, the descriptor is closed.
    std::array<char, 16> buffer{};
    ASSERT_EQ(::recv(receiver.native_handle(), buffer.data(), buffer.size(), 0), 1);
    EXPECT_EQ(open_descriptor_count(), open_before);
    // The last write end is gone, so the reader sees end of file (0), not "no data yet"
    // (-1, EAGAIN: a write end still open somewhere).
    ASSERT_EQ(::fcntl(pipe.read.get(), F_SETFL, O_NONBLOCK), 0);
    EXPECT_EQ(::read(pipe.read.get(), buffer.data(), buffer.size()), 0);
}

TEST(ScmRights, PassesSeveralDescriptorsAtOnce) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    std::array<Pipe, 3> pipes;
    const int sent[] = {pipes[0].write.get(), pipes[1].write.get(), pipes[2].write.get()};

    raw_sockets::send_fds(sender, "three pipes", sent);
    ReceivedFds received = raw_sockets::recv_fds(receiver, 64, raw_sockets::max_fds_per_message);

    EXPECT_EQ(received.data, "three pipes");
    ASSERT_EQ(received.fds.size(), 3u);
    // In the order sent: each received descriptor writes into its own pipe.
    for (std::size_t i = 0; i < pipes.size(); ++i) {
        SCOPED_TRACE("descriptor " + std::to_string(i));
        const std::string text = "into pipe " + std::to_string(i);
        write_text(received.fds[i].get(), text);
        EXPECT_EQ(read_text(pipes[i].read.get(), 100), text);
    }
}

TEST(ScmRights, HandsAListeningSocketToAnotherProcess) {
    const TempDir dir;
    auto [parent_end, child_end] = raw_sockets::socket_pair();
    give_up_after_10s(parent_end);

    // The child is forked before the listener exists: it can only get it through the pair.
    // (Chapter 09's workers need none of this: they are forked after the bind and inherit
    // the listener. Passing it matters for a process that already runs, such as a new
    // version of a server taking over from the old one.)
    Child child([&]() -> std::string {
        parent_end.close();
        ReceivedFds received = raw_sockets::recv_fds(child_end, 16, 1);
        if (received.fds.size() != 1) return "received " + std::to_string(received.fds.size());
        const Socket listener(std::move(received.fds[0]), "received listener");
        Socket client = raw_sockets::accept_connection(listener);
        return "child echoed " + std::to_string(raw_sockets::echo_until_eof(client)) + " bytes";
    });
    child_end.close();

    Socket listener = raw_sockets::listen_on(Address::parse(dir.unix_address("handed.sock")));
    const int sent[] = {listener.native_handle()};
    raw_sockets::send_fds(parent_end, "L", sent);
    listener.close();  // ours is gone: whoever accepts now holds the one we sent

    std::optional<Socket> client;
    try {
        client = raw_sockets::connect_to(Address::parse(dir.unix_address("handed.sock")));
    } catch (const std::exception& error) {
        FAIL() << error.what() << "; the child says: " << child.finish();
    }
    give_up_after_10s(*client);
    EXPECT_EQ(test_support::round_trip(*client, "hello, worker"), "hello, worker");
    EXPECT_EQ(child.finish(), "child echoed 13 bytes");
}

// ---- SCM_RIGHTS: the checks and retries send_fds / recv_fds owe their caller ---------------

TEST(ScmRights, SendFdsTakesOneTo16DescriptorsAndRefusesBeforeSending) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    Pipe pipe;
    const std::vector<int> many(raw_sockets::max_fds_per_message + 1, pipe.write.get());
    const std::string range = "1 to " + std::to_string(raw_sockets::max_fds_per_message);

    // One more than the control buffer has room for, and none at all: both refused.
    for (const std::size_t count : {many.size(), std::size_t{0}}) {
        SCOPED_TRACE(std::to_string(count) + " descriptors");
        const auto error = thrown<std::invalid_argument>(
            [&] { raw_sockets::send_fds(sender, "x", std::span(many).first(count)); });
        ASSERT_TRUE(error);
        EXPECT_TRUE(contains(error->what(), range));
    }
    // Refused before sendmsg(): not even the data byte went out.
    EXPECT_EQ(receive_raw(receiver.native_handle(), many.size()), "EAGAIN");

    // The limit itself fits.
    raw_sockets::send_fds(sender, "x", std::span(many).first(raw_sockets::max_fds_per_message));
    EXPECT_EQ(receive_raw(receiver.native_handle(), many.size()),
              "1 bytes, " + std::to_string(raw_sockets::max_fds_per_message) + " fds");
}

TEST(ScmRights, RecvFdsTakesRoomFor1To16AndRefusesBeforeReading) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    Pipe pipe;
    const int sent[] = {pipe.write.get()};
    raw_sockets::send_fds(sender, "x", sent);
    const std::string range = "1 to " + std::to_string(raw_sockets::max_fds_per_message);

    // More room than the control buffer has (the kernel would be told a size it may write
    // past), and no room at all (every descriptor would be dropped): both refused.
    for (const std::size_t room : {raw_sockets::max_fds_per_message + 1, std::size_t{0}}) {
        SCOPED_TRACE("room for " + std::to_string(room));
        const auto error =
            thrown<std::invalid_argument>([&] { raw_sockets::recv_fds(receiver, 16, room); });
        ASSERT_TRUE(error);
        EXPECT_TRUE(contains(error->what(), range));
    }
    // Refused before recvmsg(): the message is still there, descriptor included.
    EXPECT_EQ(receive_raw(receiver.native_handle()), "1 bytes, 1 fds");
}

TEST(ScmRights, RecvFdsKeepsWaitingWhenASignalInterruptsIt) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    Pipe pipe;
    ReceivedFds received;
    int interruptions = 0;
    test_support::watch_blocking_calls([&] { received = raw_sockets::recv_fds(receiver, 64, 1); },
                                       [&](test_support::Watch& watch) {
                                           // Nothing sent yet: recv_fds() sleeps in recvmsg(),
                                           // which the signal ends (EINTR).
                                           if (watch.wait_until_blocked_in(SYS_recvmsg))
                                               watch.interrupt();
                                           interruptions = watch.interruptions();
                                           const int sent[] = {pipe.write.get()};
                                           raw_sockets::send_fds(sender, "after the signal", sent);
                                       });
    EXPECT_EQ(interruptions, 1);
    EXPECT_EQ(received.data, "after the signal");
    ASSERT_EQ(received.fds.size(), 1u);
    EXPECT_TRUE(same_file(received.fds[0].get(), pipe.write.get()));
}

TEST(ScmRights, SendFdsKeepsWaitingWhenASignalInterruptsIt) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(sender);
    give_up_after_10s(receiver);
    // Fill the socket buffer first, so that sendmsg() sleeps before it has queued any byte:
    // the signal then ends it with EINTR, not with a short count.
    const std::string filler(4096, 'f');
    std::size_t filled = 0;
    ssize_t taken = 0;
    while ((taken = ::send(sender.native_handle(), filler.data(), filler.size(), MSG_DONTWAIT)) >
           0) {
        filled += static_cast<std::size_t>(taken);
    }
    ASSERT_EQ(errno, EAGAIN);
    Pipe pipe;
    std::string received;
    std::size_t descriptors = 0;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            const EndsStreamOnExit end(sender);
            const int sent[] = {pipe.write.get()};
            raw_sockets::send_fds(sender, "after the signal", sent);
        },
        [&](test_support::Watch& watch) {
            if (watch.wait_until_blocked_in(SYS_sendmsg)) watch.interrupt();
            interruptions = watch.interruptions();
            // Read it all (the filler carries no descriptors) until the sender ends the stream.
            for (;;) {
                ReceivedFds piece = raw_sockets::recv_fds(receiver, 64 * 1024, 1);
                if (piece.data.empty()) break;
                received += piece.data;
                descriptors += piece.fds.size();
            }
        });
    EXPECT_EQ(interruptions, 1);
    EXPECT_EQ(received.size(), filled + std::string_view("after the signal").size());
    EXPECT_TRUE(received.ends_with("after the signal"));
    EXPECT_EQ(descriptors, 1u);
}

TEST(ScmRights, SendFdsSendsTheRestWhenSendmsgStopsShort) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(sender);
    give_up_after_10s(receiver);
    Pipe pipe;
    const std::string data = test_support::patterned_data(4 * 1024 * 1024);
    std::string received;
    std::size_t descriptors = 0;
    int interruptions = 0;
    test_support::watch_blocking_calls(
        [&] {
            const EndsStreamOnExit end(sender);
            const int sent[] = {pipe.write.get()};
            raw_sockets::send_fds(sender, data, sent);
        },
        [&](test_support::Watch& watch) {
            // Nobody reads yet, so sendmsg() fills the socket buffer and sleeps; the signal
            // ends it early, and it returns how many bytes it had queued (a short count).
            if (watch.wait_until_blocked_in(SYS_sendmsg)) watch.interrupt();
            interruptions = watch.interruptions();
            ReceivedFds first = raw_sockets::recv_fds(receiver, data.size(), 1);
            descriptors = first.fds.size();
            received = first.data + test_support::receive_all(receiver);
        });
    EXPECT_EQ(interruptions, 1);
    EXPECT_EQ(descriptors, 1u);
    EXPECT_EQ(received.size(), data.size());
    EXPECT_TRUE(received == data) << "the bytes received differ from the bytes sent";
}

TEST(ScmRights, RecvFdsTakesNoOtherControlMessageForDescriptors) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    // Now every message also carries an SCM_CREDENTIALS header (pid, uid, gid), before the
    // SCM_RIGHTS one.
    raw_sockets::enable_credentials_passing(receiver);
    Pipe pipe;
    const int sent[] = {pipe.write.get()};
    raw_sockets::send_fds(sender, "x", sent);

    // Received in a child: code that took the pid, uid and gid for descriptors would close
    // whatever has those numbers (0, standard input, for root), and this process needs them.
    Child child([&]() -> std::string {
        const ReceivedFds received =
            raw_sockets::recv_fds(receiver, 16, raw_sockets::max_fds_per_message);
        std::size_t pipes = 0;
        for (const Fd& fd : received.fds) pipes += same_file(fd.get(), pipe.write.get()) ? 1 : 0;
        return std::to_string(received.fds.size()) + " fds, " + std::to_string(pipes) +
               " of them the pipe";
    });
    EXPECT_EQ(child.finish(), "1 fds, 1 of them the pipe");
}

// ---- SCM_CREDENTIALS: who sent this message ------------------------------------------------

TEST(Credentials, SentWithScmCredentialsAreVerified) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    raw_sockets::enable_credentials_passing(receiver);

    raw_sockets::send_credentials(sender, "hello");
    std::string data;
    const Credentials theirs = raw_sockets::recv_credentials(receiver, data);

    EXPECT_EQ(data, "hello");
    EXPECT_EQ(theirs.pid, ::getpid());
    EXPECT_EQ(theirs.uid, ::getuid());
    EXPECT_EQ(theirs.gid, ::getgid());
}

TEST(Credentials, WithoutPassCredNothingArrives) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);

    raw_sockets::send_credentials(sender, "hello");  // SO_PASSCRED not enabled on receiver
    std::string data;
    const auto error =
        thrown<raw_sockets::ProtocolError>([&] { raw_sockets::recv_credentials(receiver, data); });
    ASSERT_TRUE(error);
    EXPECT_TRUE(contains(error->what(), "SO_PASSCRED"));
    EXPECT_TRUE(contains(error->what(), "pair:1"));
}

//! [credentials-test]
TEST(Credentials, ArriveEvenWhenTheSenderAttachesNone) {
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    raw_sockets::enable_credentials_passing(receiver);

    // A plain send: once the receiver has asked (SO_PASSCRED), the kernel attaches the
    // sender's credentials itself. Sending them explicitly only matters to claim others.
    sender.send_all("plain");
    std::string data;
    const Credentials theirs = raw_sockets::recv_credentials(receiver, data);

    EXPECT_EQ(data, "plain");
    EXPECT_EQ(theirs.pid, ::getpid());
    EXPECT_EQ(theirs.uid, ::getuid());
    EXPECT_EQ(theirs.gid, ::getgid());
}
//! [credentials-test]

TEST(Credentials, OnlyAPrivilegedProcessMayClaimAnotherIdentity) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    auto [sender, receiver] = raw_sockets::socket_pair();
    give_up_after_10s(receiver);
    raw_sockets::enable_credentials_passing(receiver);

    // Root (CAP_SETUID, CAP_SETGID) may speak for another user and group...
    ASSERT_EQ(send_claimed_credentials(
                  sender.native_handle(),
                  ucred{.pid = ::getpid(), .uid = nobody_uid, .gid = not_nobodys_gid}),
              0);
    std::string data;
    const Credentials claimed = raw_sockets::recv_credentials(receiver, data);
    EXPECT_EQ(claimed.pid, ::getpid());
    EXPECT_EQ(claimed.uid, nobody_uid);
    EXPECT_EQ(claimed.gid, not_nobodys_gid);

    // ...an ordinary user may not: claiming root is refused by sendmsg() itself.
    Child child([&]() -> std::string {
        if (std::string failed = become(nobody_uid, nobody_gid); !failed.empty()) return failed;
        const int refused = send_claimed_credentials(sender.native_handle(),
                                                     ucred{.pid = ::getpid(), .uid = 0, .gid = 0});
        return refused == 0 ? "sent" : raw_sockets::errno_name(refused);
    });
    EXPECT_EQ(child.finish(), "EPERM");
}

TEST(Credentials, CarryTheRealIdsWhileSoPeerCredGivesTheEffectiveOnes) {
    if (!is_root()) GTEST_SKIP() << needs_root;
    const TempDir dir;
    ASSERT_EQ(::chmod(dir.path().c_str(), 0711), 0);
    raw_sockets::ListenOptions options;
    options.unix_mode = 0666;
    const Socket listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("who.sock")), options);
    give_up_after_10s(listener);
    const Address address = raw_sockets::local_address(listener);
    // As a set-user-ID program runs: the real ids are the user who started it, the effective
    // ids (and the saved ones) the program's owner. Both unlike root, so all privilege goes.
    constexpr uid_t real_uid = nobody_uid;
    constexpr gid_t real_gid = nobody_gid;
    constexpr uid_t effective_uid = 65533;
    constexpr gid_t effective_gid = not_nobodys_gid;

    Child child([&]() -> std::string {
        if (::setgroups(0, nullptr) != 0) return "setgroups: " + raw_sockets::errno_name(errno);
        if (::setresgid(real_gid, effective_gid, effective_gid) != 0) {
            return "setresgid: " + raw_sockets::errno_name(errno);
        }
        if (::setresuid(real_uid, effective_uid, effective_uid) != 0) {
            return "setresuid: " + raw_sockets::errno_name(errno);
        }
        Socket server = raw_sockets::connect_to(address);
        std::array<std::byte, 1> go{};
        if (!server.recv_exact(go)) return "no go from the server";
        server.send_all("x");  // a plain send: the kernel fills in SCM_CREDENTIALS itself
        while (server.recv_some(go) != 0) {
        }
        return {};
    });

    Socket connection = raw_sockets::accept_connection(listener);
    give_up_after_10s(connection);
    raw_sockets::enable_credentials_passing(connection);
    connection.send_all("g");  // only now may the child send: SO_PASSCRED is on
    std::string data;
    const Credentials in_the_message = raw_sockets::recv_credentials(connection, data);
    const Credentials at_connect = raw_sockets::peer_credentials(connection);
    const pid_t child_pid = child.pid();
    connection.close();
    ASSERT_EQ(child.finish(), "");

    EXPECT_EQ(data, "x");
    // SO_PEERCRED: the effective ids, those that decide what a process may do.
    EXPECT_EQ(at_connect.uid, effective_uid);
    EXPECT_EQ(at_connect.gid, effective_gid);
    // SCM_CREDENTIALS filled in by the kernel: the real ids, who started the program.
    EXPECT_EQ(in_the_message.uid, real_uid);
    EXPECT_EQ(in_the_message.gid, real_gid);
    EXPECT_EQ(in_the_message.pid, child_pid);
    EXPECT_EQ(at_connect.pid, child_pid);
}

}  // namespace
