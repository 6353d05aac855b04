// Binding a Unix socket path safely (chapter 05). The anchors of socket programming delete
// whatever is at the path before bind(); a mistyped path could then be /etc/passwd. Here the
// path is probed first, replaced only when it is provably a dead socket, and the new file
// is never reachable with looser permissions than asked for.
#include <fcntl.h>
#include <grp.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <string>
#include <vector>

#include "internal.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/socket_path.hpp"

namespace raw_sockets {

std::string describe_file_type(const std::string& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) != 0) return "nothing";
    switch (info.st_mode & S_IFMT) {
        case S_IFREG:
            return "a regular file";
        case S_IFDIR:
            return "a directory";
        case S_IFLNK:
            return "a symbolic link";
        case S_IFSOCK:
            return "a socket";
        case S_IFIFO:
            return "a FIFO";
        case S_IFCHR:
            return "a character device";
        case S_IFBLK:
            return "a block device";
        default:
            return "an unknown kind of file";
    }
}

namespace {

std::string directory_of(const std::string& path) {
    const std::size_t slash = path.rfind('/');
    if (slash == std::string::npos) return ".";
    return slash == 0 ? "/" : path.substr(0, slash);
}

// Holds an exclusive flock() on the socket's directory while it lives, so that two servers
// of this library probing, replacing and binding the same path take turns. Best effort: a
// directory we may not open for reading is not locked (and bind() will likely fail anyway).
//
// Never a blocking flock(): it needs only a descriptor open for reading, so any user who can
// open the directory (anyone, for /tmp) can take the lock and keep it. A blocking wait would
// let them stall every server's start-up, and the wait would even outlast SIGTERM (the
// handler returns and the kernel restarts flock()). So: try without blocking, retry until
// directory_lock_wait has passed, then give up naming the directory; a stop signal ends the
// wait at once.
class DirectoryLock {
  public:
    DirectoryLock(const std::string& directory, const std::string& name)
        : fd_(::open(directory.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC)) {
        if (!fd_) return;
        const auto deadline = std::chrono::steady_clock::now() + directory_lock_wait;
        for (;;) {
            if (::flock(fd_.get(), LOCK_EX | LOCK_NB) == 0) return;
            if (errno == EINTR) continue;
            if (errno != EWOULDBLOCK) return;  // no lock to be had (ENOLCK): best effort
            if (std::chrono::steady_clock::now() >= deadline) {
                throw SocketError("flock", name, EWOULDBLOCK,
                                  "another process has held the lock on directory " + directory +
                                      " for " + std::to_string(directory_lock_wait.count()) +
                                      " s; `lslocks` names it");
            }
            if (internal::stop_requested_within(std::chrono::milliseconds(50))) {
                throw SocketError(
                    "flock", name, ECANCELED,
                    "a stop signal came while waiting for the lock on directory " + directory);
            }
        }
    }

  private:
    Fd fd_;  // closing it releases the lock
};

gid_t group_id(const std::string& group, const std::string& name) {
    std::vector<char> buffer(16 * 1024);
    struct group entry {};
    struct group* found = nullptr;
    const int error = ::getgrnam_r(group.c_str(), &entry, buffer.data(), buffer.size(), &found);
    if (error != 0) throw SocketError("getgrnam", name, error, "looking up group '" + group + "'");
    if (found == nullptr)
        throw SocketError("chown", name, EINVAL, "there is no group '" + group + "'");
    return entry.gr_gid;
}

// RAII for the process-wide umask: set for the duration of bind() only.
class ScopedUmask {
  public:
    explicit ScopedUmask(mode_t mask) : previous_(::umask(mask)) {}
    ~ScopedUmask() { ::umask(previous_); }
    ScopedUmask(const ScopedUmask&) = delete;
    ScopedUmask& operator=(const ScopedUmask&) = delete;

  private:
    mode_t previous_;
};

}  // namespace

namespace internal {

//! [listen-unix-path]
Fd listen_unix_path(const Address& address, const ListenOptions& options) {
    const std::string path(address.unix_name());
    const std::string name = address.to_string();
    // Everything that can fail without touching the filesystem comes first.
    const gid_t group = options.unix_group.empty() ? static_cast<gid_t>(-1)  // -1: unchanged
                                                   : group_id(options.unix_group, name);
    const DirectoryLock lock(directory_of(path), name);  // held until listen() is done

    // The common case, a free path, needs no probe (and so does not depend on chapter 05's
    // exercise); anything already there is judged by the probe.
    struct stat existing {};
    const bool occupied = ::lstat(path.c_str(), &existing) == 0;
    switch (occupied ? probe_socket_path(path, options.type) : PathState::absent) {
        case PathState::absent:
            break;
        case PathState::stale_socket:
            // Provably dead: connect() was refused. Safe to replace.
            if (::unlink(path.c_str()) != 0 && errno != ENOENT) throw_errno("unlink", name);
            break;
        case PathState::live_socket:
            throw SocketError("bind", name, EADDRINUSE,
                              "a server is listening on it; it was left untouched");
        case PathState::not_a_socket:
            throw SocketError("bind", name, EADDRINUSE,
                              "the path is " + describe_file_type(path) +
                                  ", not a socket; it was left untouched");
    }

    Fd fd = open_socket(address, options.type);
    {
        // bind() creates the file with mode 0777 minus the umask. A umask of 0177 makes it
        // owner-only (0600) until chmod below: never more open than asked for, not even
        // for an instant. (The umask is per process: bind servers before starting threads.)
        const ScopedUmask private_file(0177);
        if (::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()) != 0) {
            throw_errno("bind", name);
        }
    }
    // Group first, then mode: a 0660 file must never carry the wrong group.
    if (!options.unix_group.empty() && ::chown(path.c_str(), static_cast<uid_t>(-1), group) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw SocketError("chown", name, error, "setting group '" + options.unix_group + "'");
    }
    if (::chmod(path.c_str(), options.unix_mode) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw SocketError("chmod", name, error);
    }
    if (options.type != SOCK_DGRAM && ::listen(fd.get(), options.backlog) != 0) {
        const int error = errno;
        ::unlink(path.c_str());
        throw SocketError("listen", name, error);
    }
    return fd;
}
//! [listen-unix-path]

}  // namespace internal

}  // namespace raw_sockets
