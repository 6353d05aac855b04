// The http_min command line. The spellings follow the servers operators already know:
// --uds as uvicorn and datasette, --bind as gunicorn, --forwarded-allow as uvicorn's
// --forwarded-allow-ips.
#include "http_min/config.hpp"

#include <charconv>
#include <string_view>

#include "http_min/routes.hpp"
#include "raw_sockets/program.hpp"

namespace http_min {

const char* const usage =
    "(--uds PATH | --bind ADDR | --host H --port P)... [--workers N] [--uds-mode OCTAL]\n"
    "       [--uds-group NAME] [--forwarded-allow LIST] [--request-timeout SECONDS]\n"
    "       [--keepalive-timeout SECONDS] [--send-timeout SECONDS] [--graceful-timeout SECONDS]\n"
    "       [--root DIR] [--access-log FILE|- | --no-access-log]";

namespace {

using raw_sockets::UsageError;

int parse_number(std::string_view flag, std::string_view text, int low, int high) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value < low ||
        value > high) {
        throw UsageError(std::string(flag) + " '" + std::string(text) + "' is not a number from " +
                         std::to_string(low) + " to " + std::to_string(high));
    }
    return value;
}

std::vector<std::string> split_list(std::string_view text) {
    std::vector<std::string> items;
    while (!text.empty()) {
        const std::size_t comma = text.find(',');
        std::string_view item = text.substr(0, comma);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        if (!item.empty()) items.emplace_back(item);
        if (comma == std::string_view::npos) break;
        text.remove_prefix(comma + 1);
    }
    return items;
}

// --forwarded-allow: "unix", "*", or IP addresses, kept in canonical form (canonical_ip(),
// routes.hpp), so that "0:0:0:0:0:0:0:1" trusts the peer ::1 and a typo cannot quietly
// trust nobody.
std::vector<std::string> parse_forwarded_allow(std::string_view text) {
    std::vector<std::string> entries;
    for (std::string& item : split_list(text)) {
        if (item == "unix" || item == "*") {
            entries.push_back(std::move(item));
        } else if (std::optional<std::string> ip = canonical_ip(item)) {
            entries.push_back(std::move(*ip));
        } else {
            throw UsageError("--forwarded-allow: '" + item +
                             "' is not an IP address (such as 127.0.0.1 or ::1), unix or *");
        }
    }
    return entries;
}

// An abstract socket has no file, so neither a mode nor a group: who may connect is decided
// by the network namespace (and SO_PEERCRED) alone. Refuse, rather than let an operator
// believe in a protection that is not there.
void refuse_file_options_for_abstract(const Config& config, bool mode_given, bool group_given) {
    if (!mode_given && !group_given) return;
    for (const raw_sockets::Address& address : config.listen) {
        if (address.kind() == raw_sockets::Address::Kind::unix_abstract) {
            throw UsageError(std::string(mode_given ? "--uds-mode" : "--uds-group") +
                             " cannot apply to " + address.to_string() +
                             ": abstract sockets have no file mode or group");
        }
    }
}

}  // namespace

Config parse_command_line(std::span<char* const> args) {
    Config config;
    std::optional<std::string> host, port;
    bool mode_given = false, group_given = false;
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view flag = args[i];
        if (flag == "--no-access-log") {
            config.access_log.clear();
            continue;
        }
        if (i + 1 >= args.size()) throw UsageError(std::string(flag) + " needs a value");
        const std::string_view value = args[++i];
        if (flag == "--uds") {
            config.listen.push_back(raw_sockets::Address::parse("unix:" + std::string(value)));
        } else if (flag == "--bind") {
            config.listen.push_back(raw_sockets::Address::parse(value));
        } else if (flag == "--host") {
            host = value;
        } else if (flag == "--port") {
            port = value;
        } else if (flag == "--workers") {
            config.workers = parse_number(flag, value, 1, 256);
        } else if (flag == "--uds-mode") {
            config.uds_mode = raw_sockets::parse_mode(value);
            mode_given = true;
        } else if (flag == "--uds-group") {
            config.uds_group = value;
            group_given = true;
        } else if (flag == "--forwarded-allow") {
            config.forwarded_allow = parse_forwarded_allow(value);
        } else if (flag == "--request-timeout") {
            config.request_timeout = std::chrono::seconds(parse_number(flag, value, 1, 3600));
        } else if (flag == "--keepalive-timeout") {
            config.keepalive_timeout = std::chrono::seconds(parse_number(flag, value, 0, 3600));
        } else if (flag == "--send-timeout") {
            config.send_timeout = std::chrono::seconds(parse_number(flag, value, 1, 3600));
        } else if (flag == "--graceful-timeout") {
            config.graceful_timeout = std::chrono::seconds(parse_number(flag, value, 0, 3600));
        } else if (flag == "--root") {
            config.root = std::string(value);
        } else if (flag == "--access-log") {
            config.access_log = value;
        } else {
            throw UsageError("unknown option " + std::string(flag));
        }
    }
    if (host || port) {
        const std::string h = host.value_or("127.0.0.1");
        const bool v6 = h.find(':') != std::string::npos;
        config.listen.push_back(
            raw_sockets::Address::parse((v6 ? "[" + h + "]" : h) + ":" + port.value_or("8000")));
    }
    refuse_file_options_for_abstract(config, mode_given, group_given);
    return config;
}

}  // namespace http_min
