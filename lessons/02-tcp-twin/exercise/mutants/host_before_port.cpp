// Mutant: Checks the host before the port, so 'nowhere:99999' blames the host, not the port.
// Caught by: lesson02.InetAddress.BadPortIsReportedBeforeABadHost

// Parsing host:port, reference solution with one mistake.
#include <netinet/in.h>

#include <arpa/inet.h>

#include <charconv>
#include <string>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

[[noreturn]] void bad(std::string_view text, const std::string& why) {
    throw AddressError("address '" + std::string(text) + "': " + why);
}

std::uint16_t parse_port(std::string_view text, std::string_view port) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || error != std::errc() || end != port.data() + port.size() || value > 65535) {
        bad(text, "port '" + std::string(port) + "' is not a number from 0 to 65535");
    }
    return static_cast<std::uint16_t>(value);
}

}  // namespace

//! [parse-inet]
Address parse_inet_address(std::string_view text) {
    // The port is whatever follows the last colon; IPv6 hosts contain colons of their own,
    // which is why they are written in brackets.
    const std::size_t colon = text.rfind(':');
    if (colon == std::string_view::npos) bad(text, "no ':port' at the end");
    std::string_view host = text.substr(0, colon);

    const std::string_view port_text = text.substr(colon + 1);
    if (host.starts_with('[')) {
        if (!host.ends_with(']')) bad(text, "host '" + std::string(host) + "' has no closing ']'");
        const std::string inside(host.substr(1, host.size() - 2));
        sockaddr_in6 v6{};
        v6.sin6_family = AF_INET6;
        if (inet_pton(AF_INET6, inside.c_str(), &v6.sin6_addr) != 1) {
            bad(text, "host '" + inside + "' is not an IPv6 address");
        }
        v6.sin6_port = htons(parse_port(text, port_text));
        return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&v6), sizeof v6);
    }

    if (host.find(':') != std::string_view::npos) {
        bad(text, "an IPv6 host goes in brackets, as in [::1]:8080");
    }
    if (host == "localhost") host = "127.0.0.1";  // the one name we accept: no DNS here
    const std::string host_text(host);
    sockaddr_in v4{};
    v4.sin_family = AF_INET;
    if (host.empty() || inet_pton(AF_INET, host_text.c_str(), &v4.sin_addr) != 1) {
        bad(text, "host '" + host_text + "' is not an IPv4 address (or localhost)");
    }
    v4.sin_port = htons(parse_port(text, port_text));
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&v4), sizeof v4);
}
//! [parse-inet]

}  // namespace raw_sockets
