// The Unix and fd: forms of Address, and what every form shares. The TCP forms are parsed in
// inet_address.cpp, which chapter 02's exercise replaces.
#include "raw_sockets/address.hpp"

#include <netinet/in.h>
#include <sys/un.h>

#include <arpa/inet.h>

#include <algorithm>
#include <charconv>
#include <cstddef>
#include <cstring>

#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

// The text in quotes, with unprintable bytes (a NUL, say) written as \xNN so that the
// message neither ends early nor prints garbage.
std::string quoted(std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string result = "'";
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte >= 0x20 && byte < 0x7f) {
            result += c;
        } else {
            result += "\\x";
            result += hex[byte >> 4];
            result += hex[byte & 0xf];
        }
    }
    return result + "'";
}

}  // namespace

Address make_unix_address(std::string_view name, bool abstract);

Address make_unix_address(std::string_view name, bool abstract) {
    Address address;
    auto& un = reinterpret_cast<sockaddr_un&>(address.storage_);
    un.sun_family = AF_UNIX;
    const std::size_t offset = abstract ? 1 : 0;  // an abstract name starts with a NUL byte
    std::memcpy(un.sun_path + offset, name.data(), name.size());
    address.kind_ = abstract ? Address::Kind::unix_abstract : Address::Kind::unix_path;
    // Counting only the bytes in use matters for abstract names: every byte up to the
    // length is part of the name, trailing NULs included.
    // A path counts its terminating NUL, unless it fills sun_path (108 bytes, which only a
    // name read back from the kernel can do): the kernel refuses a longer address.
    const bool nul_fits = !abstract && name.size() < sizeof un.sun_path;
    address.length_ = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + offset +
                                             name.size() + (nul_fits ? 1 : 0));
    return address;
}

Address make_fd_address(int fd) {
    Address address;
    address.kind_ = Address::Kind::inherited_fd;
    address.fd_ = fd;
    return address;
}

//! [parse-unix]
// `unix:/path` or `unix:@name`, with the sun_path limit checked here rather than left to
// bind(), so that the error can say how long the path is and what the limit is.
Address parse_unix_address(std::string_view text) {
    std::string_view name = text.substr(5);  // after "unix:"
    const bool abstract = name.starts_with('@');
    if (abstract) name.remove_prefix(1);
    if (name.empty()) {
        throw AddressError("address " + quoted(text) + ": the Unix socket name is empty");
    }
    if (name.find('\0') != std::string_view::npos) {
        throw AddressError("address " + quoted(text) + ": a NUL byte inside the name");
    }
    // sun_path is a fixed array of 108 bytes. An abstract name spends its first byte on the
    // leading NUL, so 107 is the kernel's limit for it. For a path the kernel takes all 108
    // bytes, with no terminating NUL; but then the name that getsockname() and accept() hand
    // back has no NUL either, and every program that reads it as a C string runs past the
    // end (unix(7), BUGS). 107 is the course's policy, which keeps the NUL inside.
    if (name.size() > max_unix_path_length) {
        if (abstract) {
            throw AddressError("address " + quoted(text) + ": the abstract name is " +
                               std::to_string(name.size()) +
                               " bytes, but sun_path holds at most 107 (108 with the leading "
                               "NUL)");
        }
        throw AddressError("address " + quoted(text) + ": the path is " +
                           std::to_string(name.size()) +
                           " bytes, but the course allows at most 107, so that its terminating "
                           "NUL fits in sun_path's 108 (chapter 05: longer paths)");
    }
    return make_unix_address(name, abstract);
}
//! [parse-unix]

Address Address::parse(std::string_view text) {
    if (text.starts_with("unix:")) return parse_unix_address(text);
    if (text.starts_with("fd:")) {
        const std::string_view digits = text.substr(3);
        int fd = -1;
        const auto [end, error] = std::from_chars(digits.data(), digits.data() + digits.size(), fd);
        if (digits.empty() || error != std::errc() || end != digits.data() + digits.size() ||
            fd < 0) {
            throw AddressError("address " + quoted(text) + ": descriptor " + quoted(digits) +
                               " is not a number from 0 up");
        }
        return make_fd_address(fd);
    }
    if (text.find(':') == std::string_view::npos) {
        throw AddressError("address " + quoted(text) +
                           ": expected unix:/path, unix:@name, host:port, [v6]:port or fd:N");
    }
    return parse_inet_address(text);
}

Address Address::from_sockaddr(const sockaddr* address, socklen_t length) {
    if (length < static_cast<socklen_t>(sizeof(sa_family_t)) ||
        length > static_cast<socklen_t>(sizeof(sockaddr_storage))) {
        throw AddressError("a socket address of " + std::to_string(length) + " bytes");
    }
    const int family = address->sa_family;
    if (family == AF_UNIX) {
        const auto* un = reinterpret_cast<const sockaddr_un*>(address);
        // A name of 108 bytes fills sun_path with no NUL after it, and the kernel may report
        // one byte more than sun_path holds (unix(7), BUGS): read no further than sun_path.
        const std::size_t name_length =
            std::min<std::size_t>(length - offsetof(sockaddr_un, sun_path), sizeof un->sun_path);
        if (name_length == 0) return Address{};  // unnamed: a client that did not bind
        if (un->sun_path[0] == '\0') {
            return make_unix_address(std::string_view(un->sun_path + 1, name_length - 1), true);
        }
        return make_unix_address(std::string_view(un->sun_path, strnlen(un->sun_path, name_length)),
                                 false);
    }
    Address result;
    if (family == AF_INET && length >= static_cast<socklen_t>(sizeof(sockaddr_in))) {
        result.kind_ = Kind::ipv4;
        result.length_ = sizeof(sockaddr_in);
    } else if (family == AF_INET6 && length >= static_cast<socklen_t>(sizeof(sockaddr_in6))) {
        result.kind_ = Kind::ipv6;
        result.length_ = sizeof(sockaddr_in6);
    } else {
        throw AddressError("unsupported address family " + std::to_string(family));
    }
    std::memcpy(&result.storage_, address, result.length_);
    return result;
}

int Address::family() const noexcept {
    switch (kind_) {
        case Kind::unix_path:
        case Kind::unix_abstract:
        case Kind::unix_unnamed:
            return AF_UNIX;
        case Kind::ipv4:
            return AF_INET;
        case Kind::ipv6:
            return AF_INET6;
        case Kind::inherited_fd:
            break;
    }
    return AF_UNSPEC;
}

bool Address::is_unix() const noexcept {
    return family() == AF_UNIX;
}

std::string_view Address::unix_name() const noexcept {
    const auto& un = reinterpret_cast<const sockaddr_un&>(storage_);
    const std::size_t used = length_ - offsetof(sockaddr_un, sun_path);
    if (kind_ == Kind::unix_path) return {un.sun_path, ::strnlen(un.sun_path, used)};
    if (kind_ == Kind::unix_abstract) return {un.sun_path + 1, used - 1};
    return {};
}

std::uint16_t Address::port() const noexcept {
    if (kind_ == Kind::ipv4) return ntohs(reinterpret_cast<const sockaddr_in&>(storage_).sin_port);
    if (kind_ == Kind::ipv6) {
        return ntohs(reinterpret_cast<const sockaddr_in6&>(storage_).sin6_port);
    }
    return 0;
}

const sockaddr* Address::sockaddr_data() const noexcept {
    return reinterpret_cast<const sockaddr*>(&storage_);
}

std::string Address::to_string() const {
    char host[INET6_ADDRSTRLEN] = {};
    switch (kind_) {
        case Kind::unix_path:
            return "unix:" + std::string(unix_name());
        case Kind::unix_abstract:
            return "unix:@" + std::string(unix_name());
        case Kind::unix_unnamed:
            return "unix:(unnamed)";
        case Kind::ipv4:
            inet_ntop(AF_INET, &reinterpret_cast<const sockaddr_in&>(storage_).sin_addr, host,
                      sizeof host);
            return std::string(host) + ":" + std::to_string(port());
        case Kind::ipv6:
            inet_ntop(AF_INET6, &reinterpret_cast<const sockaddr_in6&>(storage_).sin6_addr, host,
                      sizeof host);
            return "[" + std::string(host) + "]:" + std::to_string(port());
        case Kind::inherited_fd:
            return "fd:" + std::to_string(fd_);
    }
    return "?";
}

bool operator==(const Address& a, const Address& b) noexcept {
    return a.kind_ == b.kind_ && a.length_ == b.length_ && a.fd_ == b.fd_ &&
           std::memcmp(&a.storage_, &b.storage_, a.length_) == 0;
}

}  // namespace raw_sockets
