// SCM_CREDENTIALS and SO_PASSCRED: sending and checking who a message comes from.
#include <sys/socket.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>

#include "raw_sockets/credentials.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

std::string to_string(const Credentials& credentials) {
    return "pid=" + std::to_string(credentials.pid) + " uid=" + std::to_string(credentials.uid) +
           " gid=" + std::to_string(credentials.gid);
}

//! [peer-groups]
std::vector<gid_t> peer_groups(const Socket& socket) {
    // The list has no fixed size: ask with room for some, and if the kernel answers ERANGE
    // it has written the size it needs into `length`.
    std::vector<gid_t> groups(16);
    for (;;) {
        auto length = static_cast<socklen_t>(groups.size() * sizeof(gid_t));
        if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERGROUPS, groups.data(),
                         &length) == 0) {
            groups.resize(length / sizeof(gid_t));
            return groups;
        }
        if (errno != ERANGE) throw_errno("getsockopt(SO_PEERGROUPS)", socket.name());
        groups.resize(length / sizeof(gid_t) + 1);
    }
}
//! [peer-groups]

void enable_credentials_passing(const Socket& socket) {
    const int on = 1;
    if (::setsockopt(socket.native_handle(), SOL_SOCKET, SO_PASSCRED, &on, sizeof on) != 0) {
        throw_errno("setsockopt(SO_PASSCRED)", socket.name());
    }
}

void send_credentials(Socket& socket, std::string_view data) {
    if (data.empty()) throw std::invalid_argument("send_credentials: at least one byte of data");
    const ucred mine{.pid = ::getpid(), .uid = ::getuid(), .gid = ::getgid()};
    // The control buffer is a union with cmsghdr so that it is aligned as one.
    union {
        char bytes[CMSG_SPACE(sizeof(ucred))];
        cmsghdr align;
    } control{};
    iovec payload{.iov_base = const_cast<char*>(data.data()), .iov_len = data.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_CREDENTIALS;
    header->cmsg_len = CMSG_LEN(sizeof(ucred));
    std::memcpy(CMSG_DATA(header), &mine, sizeof mine);
    while (::sendmsg(socket.native_handle(), &message, MSG_NOSIGNAL) < 0) {
        if (errno != EINTR) throw_errno("sendmsg(SCM_CREDENTIALS)", socket.name());
    }
}

Credentials recv_credentials(Socket& socket, std::string& data) {
    std::array<char, 4096> buffer;
    union {
        char bytes[CMSG_SPACE(sizeof(ucred))];
        cmsghdr align;
    } control{};
    iovec payload{.iov_base = buffer.data(), .iov_len = buffer.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = sizeof control.bytes;
    ssize_t received = 0;
    while ((received = ::recvmsg(socket.native_handle(), &message, 0)) < 0) {
        if (errno != EINTR) throw_errno("recvmsg(SCM_CREDENTIALS)", socket.name());
    }
    if (received == 0) throw ProtocolError("recvmsg(" + socket.name() + "): end of stream");
    data.assign(buffer.data(), static_cast<std::size_t>(received));
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        if (header->cmsg_level == SOL_SOCKET && header->cmsg_type == SCM_CREDENTIALS) {
            ucred theirs{};
            std::memcpy(&theirs, CMSG_DATA(header), sizeof theirs);
            return {theirs.pid, theirs.uid, theirs.gid};
        }
    }
    throw ProtocolError("recvmsg(" + socket.name() +
                        "): no credentials attached (is SO_PASSCRED enabled?)");
}

}  // namespace raw_sockets
