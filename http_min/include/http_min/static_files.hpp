/// \file
/// \brief Files under --root, served below /static/, never anything outside it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "raw_sockets/fd.hpp"

namespace http_min {

/// The Content-Type for a file name, by its extension ("application/octet-stream" if unknown).
std::string_view content_type_for(std::string_view name) noexcept;

/// Decodes %XX escapes of a URL path into `out`. False for a malformed escape or an
/// encoded NUL byte.
bool percent_decode(std::string_view path, std::string& out);

/// A directory whose files may be served.
class StaticFiles {
  public:
    /// Opens `root`; throws raw_sockets::SocketError (naming "open") if it is not a directory.
    explicit StaticFiles(const std::string& root);

    /// What open() found.
    struct Found {
        int status = 404;               ///< 200, 400, 403, 404, 503, or 500 (no /proc)
        raw_sockets::Fd file;           ///< the open file, for status 200
        std::uint64_t size = 0;         ///< its size
        std::string_view content_type;  ///< by extension
    };

    /// Opens `encoded_path` (the URL path after "/static/", still %-encoded) below the root.
    /// The kernel enforces the boundary: openat2() with RESOLVE_BENEATH refuses `..` steps
    /// and symbolic links that lead outside, whatever the encoding tricks (403). Only a
    /// regular file is opened: a FIFO, socket or device node is refused (403) before anything
    /// opens it, and a directory is 404. Out of descriptors (EMFILE, ENFILE) is 503. Needs
    /// /proc (the file is opened for reading through /proc/self/fd; see static_files.cpp).
    Found open(std::string_view encoded_path) const;

  private:
    raw_sockets::Fd root_;
};

}  // namespace http_min
