/// \file
/// \brief The http_min command line (the contract in the course plan), parsed into Config.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "raw_sockets/address.hpp"

namespace http_min {

/// Everything the command line can set.
struct Config {
    std::vector<raw_sockets::Address> listen;  ///< --uds, --bind, --host/--port, in order
    int workers = 1;                           ///< --workers N
    /// --uds-mode OCTAL: permission bits only (0 to 0777). With an abstract address this
    /// option, like --uds-group, is a usage error: an abstract socket has no file.
    mode_t uds_mode = 0660;
    std::string uds_group;  ///< --uds-group NAME (see uds_mode)
    /// --forwarded-allow: peers whose X-Forwarded-For is trusted. IP addresses in the
    /// canonical form of canonical_ip() (routes.hpp: "::1", an IPv4-mapped address as IPv4),
    /// "unix" for every Unix-socket peer, "*" for everyone. Anything else is a usage error.
    std::vector<std::string> forwarded_allow;
    /// --request-timeout SECONDS: the whole request (head and body) must arrive within this,
    /// counted from accept() or from the end of the previous response.
    std::chrono::seconds request_timeout{30};
    /// --keepalive-timeout SECONDS: how long a connection with no request in progress may
    /// stay silent before it is closed (uvicorn's default).
    std::chrono::seconds keepalive_timeout{5};
    /// --send-timeout SECONDS: close a connection whose output makes no progress this long.
    std::chrono::seconds send_timeout{30};
    /// --graceful-timeout SECONDS: after SIGTERM, finish requests in flight for at most this
    /// long, then close what is left and exit (gunicorn's default).
    std::chrono::seconds graceful_timeout{30};
    std::optional<std::string> root;  ///< --root DIR: files served under /static/
    std::string access_log = "-";     ///< --access-log FILE, "-" for stdout, "" for none
};

/// Parses the arguments after the program name. Throws raw_sockets::UsageError naming the
/// bad argument; addresses are parsed at once, so a bad address is named here too.
Config parse_command_line(std::span<char* const> args);

/// The usage text: one line per option.
extern const char* const usage;

}  // namespace http_min
