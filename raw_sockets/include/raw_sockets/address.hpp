/// \file
/// \brief Address: one type for every endpoint the course uses, with one text syntax.
///
/// | text                 | meaning                                          |
/// |----------------------|--------------------------------------------------|
/// | `unix:/run/app.sock` | a Unix socket bound to a file (pathname)         |
/// | `unix:@name`         | a Linux abstract Unix socket (no file)           |
/// | `127.0.0.1:8080`     | TCP over IPv4 (`localhost:8080` means the same)  |
/// | `[::1]:8080`         | TCP over IPv6                                    |
/// | `fd:3`               | an inherited socket that is already listening    |
///
/// Because a program takes an Address and never looks inside it, the Unix and TCP versions
/// of a program are the same program (chapter 02).
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <string>
#include <string_view>

namespace raw_sockets {

/// Bytes a pathname may have here: the course's policy, one less than the 108 of Linux's
/// `sockaddr_un::sun_path`, so that the terminating NUL always fits. (The kernel itself binds
/// 108 bytes with no NUL; see chapter 05 for why the course does not. macOS and the BSDs
/// have 104 bytes, 103 usable.) Abstract names: 107 bytes after the leading NUL.
inline constexpr std::size_t max_unix_path_length = 107;

/// A socket address in one of the course's forms; see the table in address.hpp.
class Address {
  public:
    /// Which form an Address has.
    enum class Kind {
        unix_path,      ///< `unix:/path`: a socket file in the filesystem
        unix_abstract,  ///< `unix:@name`: Linux abstract namespace, no file
        unix_unnamed,   ///< a Unix socket with no name (a connecting client, a socketpair)
        ipv4,           ///< `1.2.3.4:port`
        ipv6,           ///< `[::1]:port`
        inherited_fd,   ///< `fd:N`: a listening socket this process inherited
    };

    /// Parses any form in the table. Throws AddressError naming the bad part.
    static Address parse(std::string_view text);
    /// Wraps what getsockname(), getpeername() or accept() filled in.
    static Address from_sockaddr(const sockaddr* address, socklen_t length);

    /// Which form this is.
    Kind kind() const noexcept { return kind_; }
    /// AF_UNIX, AF_INET or AF_INET6; AF_UNSPEC for `fd:N`.
    int family() const noexcept;
    /// True for the three Unix kinds.
    bool is_unix() const noexcept;
    /// The pathname (unix_path) or the name after `@` (unix_abstract); empty otherwise.
    std::string_view unix_name() const noexcept;
    /// The TCP port (ipv4, ipv6); 0 otherwise.
    std::uint16_t port() const noexcept;
    /// The descriptor number of `fd:N`; -1 otherwise.
    int inherited_fd() const noexcept { return fd_; }

    /// The sockaddr to hand to bind() or connect().
    const sockaddr* sockaddr_data() const noexcept;
    /// Its length, which for Unix sockets counts only the bytes of the name in use.
    socklen_t sockaddr_length() const noexcept { return length_; }

    /// The address in the course's syntax; parse(a.to_string()) == a.
    std::string to_string() const;

    /// Same kind and same bytes.
    friend bool operator==(const Address& a, const Address& b) noexcept;

  private:
    friend Address make_unix_address(std::string_view name, bool abstract);
    friend Address make_fd_address(int fd);

    Kind kind_ = Kind::unix_unnamed;
    sockaddr_storage storage_{};
    socklen_t length_ = 0;
    int fd_ = -1;
};

/// Parses the TCP forms only: `host:port` with a numeric IPv4 host or `localhost`, and
/// `[ipv6]:port`. Throws AddressError naming the bad part. (Chapter 02's exercise.)
Address parse_inet_address(std::string_view text);

}  // namespace raw_sockets
