// Error types and errno names. Every message names the call, the address and the errno
// symbol, because "Permission denied" alone does not tell an operator which socket to fix.
#include "raw_sockets/error.hpp"

#include <cerrno>
#include <cstring>

namespace raw_sockets {

std::string errno_name(int error_number) {
    // strerrorname_np() would do this, but glibc only has it from 2.32 and it returns
    // nullptr for unknown values; a table keeps the messages identical everywhere.
    switch (error_number) {
#define RAW_SOCKETS_ERRNO(name) \
    case name:                  \
        return #name;
        RAW_SOCKETS_ERRNO(EACCES)
        RAW_SOCKETS_ERRNO(EADDRINUSE)
        RAW_SOCKETS_ERRNO(EADDRNOTAVAIL)
        RAW_SOCKETS_ERRNO(EAFNOSUPPORT)
        RAW_SOCKETS_ERRNO(EAGAIN)
        RAW_SOCKETS_ERRNO(EALREADY)
        RAW_SOCKETS_ERRNO(EBADF)
        RAW_SOCKETS_ERRNO(ECANCELED)
        RAW_SOCKETS_ERRNO(ECONNABORTED)
        RAW_SOCKETS_ERRNO(ECONNREFUSED)
        RAW_SOCKETS_ERRNO(ECONNRESET)
        RAW_SOCKETS_ERRNO(EDESTADDRREQ)
        RAW_SOCKETS_ERRNO(EEXIST)
        RAW_SOCKETS_ERRNO(EFAULT)
        RAW_SOCKETS_ERRNO(EHOSTUNREACH)
        RAW_SOCKETS_ERRNO(EINPROGRESS)
        RAW_SOCKETS_ERRNO(EINTR)
        RAW_SOCKETS_ERRNO(EINVAL)
        RAW_SOCKETS_ERRNO(EISCONN)
        RAW_SOCKETS_ERRNO(EISDIR)
        RAW_SOCKETS_ERRNO(ELOOP)
        RAW_SOCKETS_ERRNO(EMFILE)
        RAW_SOCKETS_ERRNO(EMSGSIZE)
        RAW_SOCKETS_ERRNO(ENAMETOOLONG)
        RAW_SOCKETS_ERRNO(ENETUNREACH)
        RAW_SOCKETS_ERRNO(ENFILE)
        RAW_SOCKETS_ERRNO(ENOBUFS)
        RAW_SOCKETS_ERRNO(ENOENT)
        RAW_SOCKETS_ERRNO(ENOMEM)
        RAW_SOCKETS_ERRNO(ENOSPC)
        RAW_SOCKETS_ERRNO(ENOTCONN)
        RAW_SOCKETS_ERRNO(ENOTDIR)
        RAW_SOCKETS_ERRNO(ENOTSOCK)
        RAW_SOCKETS_ERRNO(EOPNOTSUPP)
        RAW_SOCKETS_ERRNO(EPERM)
        RAW_SOCKETS_ERRNO(EPIPE)
        RAW_SOCKETS_ERRNO(EPROTONOSUPPORT)
        RAW_SOCKETS_ERRNO(EPROTOTYPE)
        RAW_SOCKETS_ERRNO(EROFS)
        RAW_SOCKETS_ERRNO(ESOCKTNOSUPPORT)
        RAW_SOCKETS_ERRNO(ETIMEDOUT)
#undef RAW_SOCKETS_ERRNO
        default:
            return "errno " + std::to_string(error_number);
    }
}

namespace {
std::string describe(std::string_view operation, std::string_view address, int error_number) {
    std::string text(operation);
    text += '(';
    text += address;
    text += "): ";
    text += errno_name(error_number);
    text += " (";
    text += std::strerror(error_number);
    text += ')';
    return text;
}
}  // namespace

SocketError::SocketError(std::string_view operation, std::string_view address, int error_number)
    : std::system_error(error_number, std::generic_category()),
      operation_(operation),
      address_(address),
      message_(describe(operation, address, error_number)) {}

SocketError::SocketError(std::string_view operation, std::string_view address, int error_number,
                         std::string_view detail)
    : SocketError(operation, address, error_number) {
    message_ += ": ";
    message_ += detail;
}

bool out_of_descriptors(const SocketError& error) noexcept {
    const int code = error.code().value();
    return code == EMFILE || code == ENFILE;
}

void throw_errno(std::string_view operation, std::string_view address) {
    throw SocketError(operation, address, errno);
}

}  // namespace raw_sockets
