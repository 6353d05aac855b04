// Mutant: Returns uid and gid in the wrong order: {pid, gid, uid}.
// Caught by: lesson06.UserNamespaces.UidAndGidAreReportedApartWhereTheirNumbersDiffer
//
// SO_PEERCRED: the identity of the process at the other end of a Unix socket.
// Chapter 06's exercise (lessons/06-who-is-calling/exercise/peer_credentials.cpp) replaces
// this file.
#include <sys/socket.h>

#include "raw_sockets/credentials.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

//! [peer-credentials]
Credentials peer_credentials(const Socket& socket) {
    ucred peer{};
    socklen_t length = sizeof peer;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, SO_PEERCRED, &peer, &length) != 0) {
        throw_errno("getsockopt(SO_PEERCRED)", socket.name());
    }
    return {peer.pid, peer.gid, peer.uid};
}
//! [peer-credentials]

}  // namespace raw_sockets
