// Mutant: Uses stat() instead of lstat(), so a symbolic link is judged by its target.
// Caught by: lesson05.ProbeSocketPath.SymlinkToASocketIsNotASocket
//
// The connect probe: is a socket file at this path live, stale, or not a socket at all?
// Chapter 05's exercise (lessons/05-socket-files/exercise/socket_path_probe.cpp) replaces
// this file.
#include <sys/stat.h>
#include <sys/un.h>

#include <cerrno>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/socket_path.hpp"

namespace raw_sockets {

//! [probe]
PathState probe_socket_path(const std::string& path, int type) {
    struct stat info {};
    if (::stat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) return PathState::absent;
        throw_errno("lstat", "unix:" + path);
    }
    // lstat, not stat: a symbolic link named like a socket could point at anything, and
    // whatever it points at is not ours to replace.
    if (!S_ISSOCK(info.st_mode)) return PathState::not_a_socket;

    const Address address = Address::parse("unix:" + path);
    // Non-blocking, so that a live server with a full backlog answers EAGAIN at once
    // instead of keeping us waiting in connect().
    const Fd probe(::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
    if (!probe) throw_errno("socket", address.to_string());
    if (::connect(probe.get(), address.sockaddr_data(), address.sockaddr_length()) == 0) {
        return PathState::live_socket;
    }
    if (errno == ENOENT) return PathState::absent;  // removed since the lstat()
    // Only ECONNREFUSED proves that nobody listens. EAGAIN (backlog full), EACCES (not
    // allowed to ask), EPROTOTYPE (a socket of another type): somebody's, leave it alone.
    return errno == ECONNREFUSED ? PathState::stale_socket : PathState::live_socket;
}
//! [probe]

}  // namespace raw_sockets
