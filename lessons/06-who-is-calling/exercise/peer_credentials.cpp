// Chapter 06 exercise: ask the kernel who is on the other end.
//
// Write peer_credentials(): getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &ucred, &length) fills
// a `struct ucred` with the peer's pid, uid and gid, as recorded when it connected (the
// length passed in is sizeof(ucred)). Return them as Credentials{pid, uid, gid}, in that
// order. On failure (ENOTSOCK for something that is not a socket, for example) throw with
// throw_errno("getsockopt(SO_PEERCRED)", socket.name()): a SocketError carrying the errno.
//
// Check:  scripts/exercise 06   (stuck? scripts/exercise 06 --hint)
#include <stdexcept>

#include "raw_sockets/credentials.hpp"

namespace raw_sockets {

Credentials peer_credentials(const Socket& socket) {
    (void)socket;
    // TODO(lesson06): getsockopt SO_PEERCRED into a ucred; return {pid, uid, gid}.
    throw std::logic_error(
        "TODO(lesson06): peer_credentials() is not written yet: edit "
        "lessons/06-who-is-calling/exercise/peer_credentials.cpp");
}

}  // namespace raw_sockets
