// Chapter 07 exercise: pass open descriptors with SCM_RIGHTS.
//
// send_fds(): build a msghdr with one iovec for `data` and a control buffer holding one
// cmsghdr of level SOL_SOCKET, type SCM_RIGHTS, length CMSG_LEN(n * sizeof(int)), and the
// descriptors copied into CMSG_DATA; sendmsg() with MSG_NOSIGNAL.
// recv_fds(): recvmsg() with MSG_CMSG_CLOEXEC into a buffer of max_data bytes and a control
// buffer of CMSG_SPACE(max_fds * sizeof(int)); walk the headers with CMSG_FIRSTHDR and
// CMSG_NXTHDR and take ownership (Fd) of every descriptor; if msg_flags has MSG_CTRUNC,
// throw ProtocolError (the Fds you took close themselves).
// Align the control buffers: a union of a char array with a cmsghdr.
//
// Check:  scripts/exercise 07   (stuck? scripts/exercise 07 --hint)
#include <stdexcept>

#include "raw_sockets/descriptors.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

void send_fds(Socket& socket, std::string_view data, std::span<const int> fds) {
    (void)socket;
    (void)data;
    (void)fds;
    // TODO(lesson07): sendmsg with an SCM_RIGHTS control message.
    throw std::logic_error(
        "TODO(lesson07): send_fds() is not written yet: edit "
        "lessons/07-passing-descriptors/exercise/descriptors.cpp");
}

ReceivedFds recv_fds(Socket& socket, std::size_t max_data, std::size_t max_fds) {
    (void)socket;
    (void)max_data;
    (void)max_fds;
    // TODO(lesson07): recvmsg with MSG_CMSG_CLOEXEC; collect the descriptors; check MSG_CTRUNC.
    throw std::logic_error(
        "TODO(lesson07): recv_fds() is not written yet: edit "
        "lessons/07-passing-descriptors/exercise/descriptors.cpp");
}

}  // namespace raw_sockets
