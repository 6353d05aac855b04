/// \file
/// \brief Who is on the other end of a Unix socket (chapters 06 and 07).
#pragma once

#include <sys/types.h>

#include <string>
#include <string_view>
#include <vector>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// A process's identity as the kernel vouches for it.
struct Credentials {
    pid_t pid = 0;  ///< process id
    uid_t uid = 0;  ///< user id
    gid_t gid = 0;  ///< group id
};

/// The credentials of the process that connected (or, for the client, that listened):
/// SO_PEERCRED, recorded by the kernel at connect() (or socketpair()) time, so the peer
/// cannot forge them. The uid and gid are the *effective* ones, translated into the user
/// namespace of the process that asks (an unmapped id reads as kernel.overflowuid, 65534).
/// Meaningful on Unix sockets only: on a TCP socket Linux answers pid 0 and uid and gid
/// -1, since a TCP peer may be on another machine and the kernel knows nothing of it.
/// The BSDs and macOS spell it getpeereid() or LOCAL_PEERCRED.
/// (Chapter 06's exercise.)
Credentials peer_credentials(const Socket& socket);

/// The supplementary groups of the peer, as they were when it connected (SO_PEERGROUPS,
/// Linux 4.13 and later), translated into this process's user namespace like the ids of
/// peer_credentials(). A server that admits by group (the docker group, say) should ask
/// this rather than look the uid up in /etc/group: the kernel's list is what the peer
/// actually had.
std::vector<gid_t> peer_groups(const Socket& socket);

/// "pid=123 uid=1000 gid=1000".
std::string to_string(const Credentials& credentials);

/// Asks the kernel to attach the sender's credentials to every message this socket
/// receives (SO_PASSCRED); needed before recv_credentials().
void enable_credentials_passing(const Socket& socket);

/// Sends `data` (at least one byte) with this process's pid, real uid and real gid attached
/// as an SCM_CREDENTIALS message. The kernel checks them: an unprivileged process may claim
/// only its own pid and one of its real, effective or saved ids.
void send_credentials(Socket& socket, std::string_view data);

/// Receives one message with its SCM_CREDENTIALS. Throws ProtocolError if none came
/// (SO_PASSCRED not enabled) or the stream ended.
Credentials recv_credentials(Socket& socket, std::string& data);

}  // namespace raw_sockets
