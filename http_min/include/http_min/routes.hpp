/// \file
/// \brief What http_min answers: /, /healthz, /whoami, /echo.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "http_min/request_parser.hpp"
#include "http_min/response.hpp"
#include "http_min/static_files.hpp"
#include "raw_sockets/credentials.hpp"

namespace http_min {

/// Who is on the other end of a connection, found out once, when it is accepted.
struct Peer {
    bool is_unix = false;                  ///< a Unix socket (else TCP)
    raw_sockets::Credentials credentials;  ///< Unix: SO_PEERCRED
    std::string ip;                        ///< TCP: the peer's address, without the port
    std::uint16_t port = 0;                ///< TCP: the peer's port
    std::string label;  ///< for the access log: "unix pid=.. uid=.." or "ip:port"
};

/// What the routes need to know about the server.
struct Site {
    std::vector<std::string> forwarded_allow;  ///< see Config::forwarded_allow
    pid_t worker_pid = 0;                      ///< reported by /whoami
    const StaticFiles* files = nullptr;        ///< --root, if given
};

/// What route() did: the status, and for a static file the file whose bytes must follow
/// the headers already written.
struct Routed {
    int status = 200;             ///< the status sent
    raw_sockets::Fd file{};       ///< a body still to send with sendfile()
    std::uint64_t file_size = 0;  ///< its length
};

/// The canonical text of a numeric IP address, as inet_ntop() writes it ("::1" for
/// "0:0:0:0:0:0:0:1"), with an IPv4-mapped IPv6 address ("::ffff:127.0.0.1") written as the
/// IPv4 address it carries ("127.0.0.1"); std::nullopt if `text` is not an IPv4 or IPv6
/// address (a name, a port, brackets, a prefix length or a zone are not part of one).
std::optional<std::string> canonical_ip(std::string_view text);

/// True if `peer`'s X-Forwarded-For may be believed under `allow`: "*", "unix" (every Unix
/// socket peer), or IP addresses in canonical_ip() form, which `peer.ip` is compared in too.
bool trusts_forwarded_for(const Peer& peer, const std::vector<std::string>& allow);

/// The client's address as a trusted proxy reports it: the last entry of the last
/// X-Forwarded-For field, spaces trimmed, or empty if there is none. A proxy appends the
/// address it saw to the client's own list (nginx's $proxy_add_x_forwarded_for) or adds a
/// field after the client's, so everything before that entry is the client's say-so.
std::string_view last_forwarded_for(const Request& request);

/// Answers `request` into `response`.
Routed route(const Request& request, const Peer& peer, const Site& site, ResponseWriter& response,
             bool keep_alive);

}  // namespace http_min
