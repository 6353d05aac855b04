// Mutant: Keeps the probe socket in a plain int and leaks it when connect() fails.
// Caught by: lesson05.ProbeSocketPath.LeavesNoDescriptorOpenWhateverTheAnswer
//
// The connect probe: is a socket file at this path live, stale, or not a socket at all?
// Chapter 05's exercise (lessons/05-socket-files/exercise/socket_path_probe.cpp) replaces
// this file.
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/socket_path.hpp"

namespace raw_sockets {

//! [probe]
PathState probe_socket_path(const std::string& path, int type) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) {
        if (errno == ENOENT) return PathState::absent;
        throw_errno("lstat", "unix:" + path);
    }
    // lstat, not stat: a symbolic link named like a socket could point at anything, and
    // whatever it points at is not ours to replace.
    if (!S_ISSOCK(info.st_mode)) return PathState::not_a_socket;

    const Address address = Address::parse("unix:" + path);
    // Non-blocking, so that a live server with a full backlog answers EAGAIN at once
    // instead of keeping us waiting in connect().
    const int probe = ::socket(AF_UNIX, type | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (probe < 0) throw_errno("socket", address.to_string());
    if (::connect(probe, address.sockaddr_data(), address.sockaddr_length()) == 0) {
        ::close(probe);
        return PathState::live_socket;
    }
    if (errno == ENOENT) return PathState::absent;  // removed since the lstat()
    // Only ECONNREFUSED proves that nobody listens. EAGAIN (backlog full), EACCES (not
    // allowed to ask), EPROTOTYPE (a socket of another type): somebody's, leave it alone.
    return errno == ECONNREFUSED ? PathState::stale_socket : PathState::live_socket;
}
//! [probe]

}  // namespace raw_sockets
