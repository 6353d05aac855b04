// Chapter 02 exercise: parse the TCP forms of an address.
//
// Write parse_inet_address() for "127.0.0.1:8080", "localhost:8080" (meaning 127.0.0.1)
// and "[::1]:8080". Fill a sockaddr_in or sockaddr_in6 (port with htons(), host with
// inet_pton()) and return Address::from_sockaddr(...). On bad input throw AddressError
// with a message naming the bad part: the port ("port '99999' is not a number from 0 to
// 65535") or the host ("host 'nowhere' is not an IPv4 address").
//
// The tests check that:
// - the port follows the LAST ':' and is digits only, 0 to 65535 (not "", "-1", " 80",
//   "80x", "http", "65536"); no ':' at all is an error whose message says "':port'";
// - the port is checked BEFORE the host ("nowhere:99999" names the port);
// - every error is an AddressError whose message quotes the whole text ('127.0.0.1:http')
//   and the bad part: "port '<port>'", "host '<host>'" (IPv4: also the word "host"; IPv6:
//   the word "IPv6", the host without brackets);
// - "[::1:8080" (no closing bracket) says "no closing ']'" and quotes '[::1';
// - an IPv6 host without brackets ("::1:8080") is explained: "brackets" and "[::1]:8080";
// - the port is stored in network byte order (htons), the host with inet_pton().
//
// Check:  scripts/exercise 02   (stuck? scripts/exercise 02 --hint)
#include <stdexcept>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

Address parse_inet_address(std::string_view text) {
    (void)text;
    // TODO(lesson02): split at the last ':', parse the port, then the host (in brackets
    // for IPv6). Then delete this throw.
    throw std::logic_error(
        "TODO(lesson02): parse_inet_address() is not written yet: edit "
        "lessons/02-tcp-twin/exercise/inet_address.cpp");
}

}  // namespace raw_sockets
