/// \file
/// \brief Errors that say what was being done, to which address, and the errno name.
///
/// The library never exits: it throws, and only a program's main() decides what to do.
/// A failed system call becomes a SocketError whose message reads like
/// `bind(unix:/tmp/a.sock): EADDRINUSE (Address already in use)`.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace raw_sockets {

/// The symbolic name of an errno value ("EADDRINUSE"), or "errno N" for one we do not know.
std::string errno_name(int error_number);

/// A system call failed. code() holds the errno; what() names the call and the address.
class SocketError : public std::system_error {
  public:
    /// \param operation   the call that failed, such as "bind" or "connect"
    /// \param address     the address it was applied to, in the course's address syntax
    /// \param error_number the errno it set
    SocketError(std::string_view operation, std::string_view address, int error_number);
    /// As above, with `detail` appended after a colon: what the errno alone cannot say,
    /// such as "the path is a regular file, not a socket; it was left untouched".
    SocketError(std::string_view operation, std::string_view address, int error_number,
                std::string_view detail);

    /// The call that failed, such as "bind".
    const std::string& operation() const noexcept { return operation_; }
    /// The address the call was applied to.
    const std::string& address() const noexcept { return address_; }
    /// `operation(address): ENAME (description)`, without std::system_error's extra suffix.
    const char* what() const noexcept override { return message_.c_str(); }

  private:
    std::string operation_;
    std::string address_;
    std::string message_;
};

/// True for EMFILE and ENFILE: the process or the system has no descriptor left. For a
/// server this is a condition to ride out (stop accepting for a while), not a reason to die.
bool out_of_descriptors(const SocketError& error) noexcept;

/// Throws SocketError for `operation` on `address` with the current value of errno.
[[noreturn]] void throw_errno(std::string_view operation, std::string_view address);

/// An address could not be parsed or does not fit; what() names the bad part.
class AddressError : public std::invalid_argument {
  public:
    using std::invalid_argument::invalid_argument;
};

/// The peer broke the framing rules: it closed mid-message, or sent something too large.
class ProtocolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

}  // namespace raw_sockets
