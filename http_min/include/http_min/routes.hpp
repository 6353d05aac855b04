/// \file
/// \brief What http_min answers: /, /healthz, /whoami, /echo.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>
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

/// True if `peer`'s X-Forwarded-For may be believed under `allow` (IPs, "unix", "*").
bool trusts_forwarded_for(const Peer& peer, const std::vector<std::string>& allow);

/// Answers `request` into `response`.
Routed route(const Request& request, const Peer& peer, const Site& site, ResponseWriter& response,
             bool keep_alive);

}  // namespace http_min
