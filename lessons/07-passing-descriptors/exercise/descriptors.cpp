// Chapter 07 exercise: pass open descriptors with SCM_RIGHTS.
//
// send_fds(): build a msghdr with one iovec for `data` and a control buffer holding one
// cmsghdr of level SOL_SOCKET, type SCM_RIGHTS, length CMSG_LEN(n * sizeof(int)), and the
// descriptors copied into CMSG_DATA; sendmsg() with MSG_NOSIGNAL.
// recv_fds(): recvmsg() with MSG_CMSG_CLOEXEC into a buffer of max_data bytes and a control
// buffer of CMSG_SPACE(max_fds * sizeof(int)); walk the headers with CMSG_FIRSTHDR and
// CMSG_NXTHDR and take ownership (Fd) of every descriptor.
// Align the control buffers: a union of a char array with a cmsghdr, sized for
// max_fds_per_message (16) descriptors.
//
// The tests check that:
// - send_fds() throws std::invalid_argument, before sending anything: for empty `data`
//   (message contains "byte": on a stream the descriptors need a byte to ride on), and for
//   fewer than 1 or more than max_fds_per_message descriptors (message contains "1 to 16");
// - recv_fds() throws std::invalid_argument, before reading anything, when max_fds is not
//   1 to max_fds_per_message (message contains "1 to 16");
// - every byte of `data` arrives: when sendmsg() sends fewer (a signal cut it short), send
//   the rest with socket.send_all() (the descriptors went with the first bytes);
// - a signal that interrupts sendmsg() or recvmsg() (errno EINTR) is not an error: call
//   it again; other errors throw (throw_errno() from error.hpp);
// - only headers of level SOL_SOCKET and type SCM_RIGHTS hold descriptors: skip the others
//   (a receiver with SO_PASSCRED also gets SCM_CREDENTIALS: a pid, a uid and a gid);
// - the descriptors arrive in the order sent, each a new number for the same open file,
//   with close-on-exec already set (MSG_CMSG_CLOEXEC);
// - when msg_flags has MSG_CTRUNC (more descriptors were sent than there was room for),
//   recv_fds() throws ProtocolError, with "MSG_CTRUNC" and socket.name() in its message,
//   and the descriptors that did arrive are closed (take them as Fds first), so none leaks.
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
