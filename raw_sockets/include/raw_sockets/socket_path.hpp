/// \file
/// \brief Socket files done safely (chapter 05): what occupies a path, and whether to replace it.
#pragma once

#include <sys/socket.h>

#include <string>

namespace raw_sockets {

/// What is at a Unix socket path, as far as a server about to bind it is concerned.
enum class PathState {
    absent,        ///< nothing: bind() may create the file
    stale_socket,  ///< a socket file nobody listens on (connect gives ECONNREFUSED): replaceable
    live_socket,   ///< a socket file a server is listening on: never take it over
    not_a_socket,  ///< a regular file, directory, symbolic link or device: never touch it
};

/// Looks at `path` without changing anything. lstat() it (a symbolic link is not followed
/// and counts as not_a_socket); for a socket file, try a non-blocking connect() of `type`:
/// accepted or in progress means a live server, ECONNREFUSED means stale. Any other answer
/// (no permission to connect, a socket of another type) counts as live, since only a
/// provably dead socket may be replaced. (Chapter 05's exercise.)
PathState probe_socket_path(const std::string& path, int type = SOCK_STREAM);

/// "a regular file", "a directory", "a symbolic link", ... for what lstat() finds at `path`.
std::string describe_file_type(const std::string& path);

}  // namespace raw_sockets
