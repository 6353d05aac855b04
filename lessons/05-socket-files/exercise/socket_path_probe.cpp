// Chapter 05 exercise: the connect probe.
//
// listen_on() calls probe_socket_path() before binding a Unix path, and acts on the answer:
// absent → bind; stale_socket → remove and bind; live_socket or not_a_socket → refuse.
// Write it:
//   1. lstat() the path (not stat(): a symbolic link must not be followed). ENOENT → absent.
//      Any other lstat() failure (EACCES, ENAMETOOLONG, ...) is an error: throw it with
//      throw_errno("lstat", "unix:" + path), so the SocketError carries the errno.
//   2. Not S_ISSOCK → not_a_socket.
//   3. A socket: create a socket(AF_UNIX, type | SOCK_NONBLOCK | SOCK_CLOEXEC) and connect()
//      to the path (Address::parse("unix:" + path) gives you the sockaddr). Success → live.
//      ECONNREFUSED → stale. ENOENT → absent (it vanished). Anything else → live: only a
//      provably dead socket may be replaced.
//   4. The probe socket is closed on every way out (hold it in an Fd): no descriptor leaks,
//      whatever the answer.
//
// Check:  scripts/exercise 05   (stuck? scripts/exercise 05 --hint)
#include <stdexcept>

#include "raw_sockets/socket_path.hpp"

namespace raw_sockets {

PathState probe_socket_path(const std::string& path, int type) {
    (void)path;
    (void)type;
    // TODO(lesson05): lstat, S_ISSOCK, then the non-blocking connect probe.
    throw std::logic_error(
        "TODO(lesson05): probe_socket_path() is not written yet: edit "
        "lessons/05-socket-files/exercise/socket_path_probe.cpp");
}

}  // namespace raw_sockets
