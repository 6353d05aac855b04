#include "http_min/static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdio>

#include "raw_sockets/error.hpp"

namespace http_min {

std::string_view content_type_for(std::string_view name) noexcept {
    const std::size_t dot = name.rfind('.');
    const std::string_view extension = dot == std::string_view::npos ? "" : name.substr(dot + 1);
    if (extension == "html" || extension == "htm") return "text/html; charset=utf-8";
    if (extension == "css") return "text/css; charset=utf-8";
    if (extension == "js") return "text/javascript; charset=utf-8";
    if (extension == "json") return "application/json";
    if (extension == "txt") return "text/plain; charset=utf-8";
    if (extension == "svg") return "image/svg+xml";
    if (extension == "png") return "image/png";
    if (extension == "jpg" || extension == "jpeg") return "image/jpeg";
    if (extension == "gif") return "image/gif";
    if (extension == "wasm") return "application/wasm";
    return "application/octet-stream";
}

bool percent_decode(std::string_view path, std::string& out) {
    auto hex = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return -1;
    };
    out.clear();
    for (std::size_t i = 0; i < path.size(); ++i) {
        if (path[i] != '%') {
            out += path[i];
            continue;
        }
        if (i + 2 >= path.size() || hex(path[i + 1]) < 0 || hex(path[i + 2]) < 0) return false;
        const char decoded = static_cast<char>(hex(path[i + 1]) * 16 + hex(path[i + 2]));
        if (decoded == '\0') return false;
        out += decoded;
        i += 2;
    }
    return true;
}

StaticFiles::StaticFiles(const std::string& root)
    : root_(::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC)) {
    if (!root_) raw_sockets::throw_errno("open", root + " (--root)");
}

//! [open-beneath]
namespace {

// The answer when a file could not be found or opened. Running out of descriptors (EMFILE
// for this process, ENFILE for the system) says nothing about the file: the request may
// succeed in a moment, so 503, never 403. EWOULDBLOCK: another process holds a lease on it.
int status_for(int error) noexcept {
    switch (error) {
        case ENOENT:
        case ENOTDIR:
            return 404;
        case EMFILE:
        case ENFILE:
        case EWOULDBLOCK:
            return 503;
        default:
            return 403;  // EACCES, EPERM, and EXDEV or ELOOP from a step outside the root
    }
}

}  // namespace

StaticFiles::Found StaticFiles::open(std::string_view encoded_path) const {
    Found found;
    thread_local std::string path;  // capacity reused
    if (!percent_decode(encoded_path, path)) {
        found.status = 400;
        return found;
    }
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    if (path.empty()) return found;  // 404: no directory listings
    // 1. Find the file without opening it. An O_PATH descriptor names the inode but does not
    // open the file: no FIFO end is taken (a writer waiting in open() would be let through
    // into a pipe that then closes), no device driver's open() runs (a tape rewinds, a
    // terminal becomes ours), and blocking is impossible. RESOLVE_BENEATH: every step, `..`
    // and symbolic links included, must stay below the root, or the call fails with EXDEV.
    // No string check can be fooled where none is made.
    open_how how{};
    how.flags = O_PATH | O_CLOEXEC;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const long located = ::syscall(SYS_openat2, root_.get(), path.c_str(), &how, sizeof how);
    if (located < 0) {
        found.status = status_for(errno);
        return found;
    }
    const raw_sockets::Fd where(static_cast<int>(located));
    // 2. Only a regular file is served: FIFOs, sockets and devices are refused here, before
    // anything opened them (fstat() works on an O_PATH descriptor).
    struct stat info {};
    if (::fstat(where.get(), &info) != 0) {
        found.status = status_for(errno);
        return found;
    }
    if (!S_ISREG(info.st_mode)) {
        found.status = S_ISDIR(info.st_mode) ? 404 : 403;
        return found;
    }
    // 3. Open that very inode for reading through /proc/self/fd/N, which names the
    // descriptor, not the file name: if the name was given to a FIFO since step 1, the FIFO
    // is still not what opens. (Opening `path` again would race with such a swap.) The
    // permission check of an ordinary open() happens here. O_NONBLOCK: a file another process
    // holds a lease on fails at once (EWOULDBLOCK) instead of stalling the worker.
    std::array<char, 32> by_descriptor{};
    std::snprintf(by_descriptor.data(), by_descriptor.size(), "/proc/self/fd/%d", where.get());
    found.file.reset(::open(by_descriptor.data(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!found.file) {
        // ENOENT here is not the file's: /proc is not mounted where the server runs.
        found.status = errno == ENOENT ? 500 : status_for(errno);
        return found;
    }
    found.status = 200;
    found.size = static_cast<std::uint64_t>(info.st_size);
    found.content_type = content_type_for(path);
    return found;
}
//! [open-beneath]

}  // namespace http_min
