#include "http_min/static_files.hpp"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>

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
StaticFiles::Found StaticFiles::open(std::string_view encoded_path) const {
    Found found;
    thread_local std::string path;  // capacity reused
    if (!percent_decode(encoded_path, path)) {
        found.status = 400;
        return found;
    }
    while (!path.empty() && path.front() == '/') path.erase(0, 1);
    if (path.empty()) return found;  // 404: no directory listings
    // RESOLVE_BENEATH: every step, `..` and symbolic links included, must stay below the
    // root, or the call fails with EXDEV. No string check can be fooled where none is made.
    open_how how{};
    // O_NONBLOCK: opening a FIFO must not wait for a writer (it is refused below, as every
    // non-regular file is); for regular files and sendfile() it changes nothing.
    how.flags = O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    const long fd = ::syscall(SYS_openat2, root_.get(), path.c_str(), &how, sizeof how);
    if (fd < 0) {
        found.status = (errno == ENOENT || errno == ENOTDIR) ? 404 : 403;
        return found;
    }
    found.file.reset(static_cast<int>(fd));
    struct stat info {};
    if (::fstat(found.file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        found.file.reset();
        found.status = S_ISDIR(info.st_mode) ? 404 : 403;
        return found;
    }
    found.status = 200;
    found.size = static_cast<std::uint64_t>(info.st_size);
    found.content_type = content_type_for(path);
    return found;
}
//! [open-beneath]

}  // namespace http_min
