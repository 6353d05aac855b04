// Mutant: recv_fds treats every control message as SCM_RIGHTS without checking cmsg_level and
// cmsg_type.
// Caught by: lesson07.ScmRights.RecvFdsTakesNoOtherControlMessageForDescriptors
// SCM_RIGHTS: sending open descriptors to another process. Chapter 07's exercise
// (lessons/07-passing-descriptors/exercise/descriptors.cpp) replaces this file.
#include "raw_sockets/descriptors.hpp"

#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

// Room for max_fds_per_message descriptors, aligned as a cmsghdr must be: a plain char
// array could sit at any address, and CMSG_* would then read misaligned headers.
union ControlBuffer {
    char bytes[CMSG_SPACE(sizeof(int) * max_fds_per_message)];
    cmsghdr align;
};

}  // namespace

//! [send-fds]
void send_fds(Socket& socket, std::string_view data, std::span<const int> fds) {
    if (data.empty()) throw std::invalid_argument("send_fds: at least one byte must travel");
    if (fds.empty() || fds.size() > max_fds_per_message) {
        throw std::invalid_argument("send_fds: 1 to " + std::to_string(max_fds_per_message) +
                                    " descriptors");
    }
    ControlBuffer control{};
    iovec payload{.iov_base = const_cast<char*>(data.data()), .iov_len = data.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * fds.size());
    cmsghdr* header = CMSG_FIRSTHDR(&message);
    header->cmsg_level = SOL_SOCKET;
    header->cmsg_type = SCM_RIGHTS;
    header->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(header), fds.data(), sizeof(int) * fds.size());
    ssize_t sent = 0;
    while ((sent = ::sendmsg(socket.native_handle(), &message, MSG_NOSIGNAL)) < 0) {
        if (errno != EINTR) throw_errno("sendmsg(SCM_RIGHTS)", socket.name());
    }
    // The descriptors went with the first byte; the rest of the data is ordinary bytes.
    if (static_cast<std::size_t>(sent) < data.size()) socket.send_all(data.substr(sent));
}
//! [send-fds]

//! [recv-fds]
ReceivedFds recv_fds(Socket& socket, std::size_t max_data, std::size_t max_fds) {
    if (max_fds == 0 || max_fds > max_fds_per_message) {
        throw std::invalid_argument("recv_fds: room for 1 to " +
                                    std::to_string(max_fds_per_message) + " descriptors");
    }
    ReceivedFds result;
    result.data.resize(max_data);
    ControlBuffer control{};
    iovec payload{.iov_base = result.data.data(), .iov_len = result.data.size()};
    msghdr message{};
    message.msg_iov = &payload;
    message.msg_iovlen = 1;
    message.msg_control = control.bytes;
    message.msg_controllen = CMSG_SPACE(sizeof(int) * max_fds);
    ssize_t received = 0;
    // MSG_CMSG_CLOEXEC: the new descriptors are close-on-exec from birth, with no window
    // in which another thread's fork()+exec() could inherit them.
    while ((received = ::recvmsg(socket.native_handle(), &message, MSG_CMSG_CLOEXEC)) < 0) {
        if (errno != EINTR) throw_errno("recvmsg(SCM_RIGHTS)", socket.name());
    }
    result.data.resize(static_cast<std::size_t>(received));
    // Take ownership of whatever arrived before judging the message, so nothing leaks.
    for (cmsghdr* header = CMSG_FIRSTHDR(&message); header != nullptr;
         header = CMSG_NXTHDR(&message, header)) {
        const std::size_t count = (header->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (std::size_t i = 0; i < count; ++i) {
            int fd = -1;
            std::memcpy(&fd, CMSG_DATA(header) + i * sizeof(int), sizeof fd);
            result.fds.emplace_back(fd);
        }
    }
    if (message.msg_flags & MSG_CTRUNC) {
        // The kernel closed the descriptors that did not fit; ours close with `result`.
        throw ProtocolError("recvmsg(" + socket.name() + "): more descriptors were sent than the " +
                            std::to_string(max_fds) + " there was room for (MSG_CTRUNC)");
    }
    return result;
}
//! [recv-fds]

}  // namespace raw_sockets
