// The http_min command line. The spellings follow the servers operators already know:
// --uds as uvicorn and datasette, --bind as gunicorn, --forwarded-allow as uvicorn's
// --forwarded-allow-ips.
#include "http_min/config.hpp"

#include <charconv>
#include <string_view>

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

}  // namespace

Config parse_command_line(std::span<char* const> args) {
    Config config;
    std::optional<std::string> host, port;
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
        } else if (flag == "--uds-group") {
            config.uds_group = value;
        } else if (flag == "--forwarded-allow") {
            config.forwarded_allow = split_list(value);
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
    return config;
}

}  // namespace http_min
