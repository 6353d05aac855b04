// The endpoints of the contract. Small on purpose: the subject is the socket underneath.
#include "http_min/routes.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>

#include "message_text.hpp"

namespace http_min {

namespace {

// A JSON string literal. X-Forwarded-For comes from the client: escape everything that
// could end the string or break the document.
void append_json_string(std::string& out, std::string_view text) {
    static constexpr char hex[] = "0123456789abcdef";
    out += '"';
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (c == '"' || c == '\\') {
            out += '\\';
            out += c;
        } else if (byte < 0x20 || byte >= 0x7f) {
            // Control bytes, and bytes above 0x7f, which need not be valid UTF-8: written as
            // \u00XX (their Latin-1 reading), so the document is always valid JSON.
            out += "\\u00";
            out += hex[byte >> 4];
            out += hex[byte & 0xf];
        } else {
            out += c;
        }
    }
    out += '"';
}

bool is_get_or_head(std::string_view method) {
    return method == "GET" || method == "HEAD";
}

// The path without the query string. An absolute-form target ("http://host/path", which
// RFC 9112 section 3.2.2 says a server must accept) is routed by its path. The authority ends
// at the first "/" or "?" (RFC 3986 section 3.2), and an empty path is "/": so
// "http://h?/x" asks for "/", with the query "/x". (parse_request_line() has refused any
// "#", and any scheme but http and https.)
std::string_view path_of(std::string_view target) {
    if (const std::size_t scheme = target.find("://");
        scheme != std::string_view::npos && !target.starts_with('/')) {
        const std::size_t path = target.find_first_of("/?", scheme + 3);
        const bool empty_path = path == std::string_view::npos || target[path] == '?';
        target = empty_path ? std::string_view("/") : target.substr(path);
    }
    return target.substr(0, target.find('?'));
}

}  // namespace

std::optional<std::string> canonical_ip(std::string_view text) {
    // inet_pton() wants a NUL-terminated string; an address is short, so a longer text is
    // not one (INET6_ADDRSTRLEN counts the longest IPv6 text with an IPv4 tail, and the NUL).
    char copy[INET6_ADDRSTRLEN] = {};
    if (text.empty() || text.size() >= sizeof copy) return std::nullopt;
    std::memcpy(copy, text.data(), text.size());
    char out[INET6_ADDRSTRLEN] = {};
    in_addr v4{};
    if (::inet_pton(AF_INET, copy, &v4) == 1) {
        return std::string(::inet_ntop(AF_INET, &v4, out, sizeof out));
    }
    in6_addr v6{};
    if (::inet_pton(AF_INET6, copy, &v6) != 1) return std::nullopt;
    if (IN6_IS_ADDR_V4MAPPED(&v6)) {
        // ::ffff:a.b.c.d is how a dual-stack IPv6 socket names the IPv4 peer a.b.c.d: the same
        // host, so it is written (and trusted) as a.b.c.d.
        std::memcpy(&v4, &v6.s6_addr[12], sizeof v4);
        return std::string(::inet_ntop(AF_INET, &v4, out, sizeof out));
    }
    return std::string(::inet_ntop(AF_INET6, &v6, out, sizeof out));
}

bool trusts_forwarded_for(const Peer& peer, const std::vector<std::string>& allow) {
    // The peer's address as the kernel gave it is already canonical, except that an IPv4
    // peer of a dual-stack socket comes as ::ffff:a.b.c.d.
    const std::string ip = peer.is_unix ? std::string() : canonical_ip(peer.ip).value_or(peer.ip);
    return std::any_of(allow.begin(), allow.end(), [&](const std::string& entry) {
        return entry == "*" || (peer.is_unix ? entry == "unix" : entry == ip);
    });
}

std::string_view last_forwarded_for(const Request& request) {
    std::string_view last_field;
    for (const Header& field : request.headers) {
        if (text::equals_ignoring_case(field.name, "X-Forwarded-For")) last_field = field.value;
    }
    const std::size_t comma = last_field.rfind(',');
    return text::trim_ows(comma == std::string_view::npos ? last_field
                                                          : last_field.substr(comma + 1));
}

Routed route(const Request& request, const Peer& peer, const Site& site, ResponseWriter& response,
             bool keep_alive) {
    const std::string_view path = path_of(request.target);
    const bool head = request.method == "HEAD";
    if (path.starts_with("/static/") && site.files != nullptr) {
        if (!is_get_or_head(request.method)) {
            response.write(405, "text/plain", "method not allowed\n", keep_alive, head,
                           "Allow: GET, HEAD\r\n");
            return {405};
        }
        StaticFiles::Found found = site.files->open(path.substr(8));
        if (found.status != 200) {
            response.write(found.status, "text/plain", reason_phrase(found.status), keep_alive,
                           head);
            return {found.status};
        }
        response.write_head(200, found.content_type, found.size, keep_alive);
        if (head) return {200};
        return {200, std::move(found.file), found.size};
    }
    if (path == "/echo") {
        const std::string_view type = request.header("Content-Type");
        response.write(200, type.empty() ? "application/octet-stream" : type, request.body,
                       keep_alive, head);
        return {200};
    }
    if (path != "/" && path != "/healthz" && path != "/whoami") {
        response.write(404, "text/plain", "not found\n", keep_alive, head);
        return {404};
    }
    if (!is_get_or_head(request.method)) {
        response.write(405, "text/plain", "method not allowed\n", keep_alive, head,
                       "Allow: GET, HEAD\r\n");
        return {405};
    }
    if (path == "/") {
        response.write(200, "application/json", R"({"msg":"hey yourself","from":"http_min"})",
                       keep_alive, head);
        return {200};
    }
    if (path == "/healthz") {
        response.write(200, "text/plain", "ok", keep_alive, head);
        return {200};
    }
    //! [whoami]
    thread_local std::string json;  // capacity kept from request to request
    json.clear();
    if (peer.is_unix) {
        json += R"({"transport":"unix","peer":{"pid":)";
        append_number(json, static_cast<std::uint64_t>(peer.credentials.pid));
        json += R"(,"uid":)";
        append_number(json, peer.credentials.uid);
        json += R"(,"gid":)";
        append_number(json, peer.credentials.gid);
    } else {
        json += R"({"transport":"tcp","peer":{"ip":)";
        append_json_string(json, peer.ip);
        json += R"(,"port":)";
        append_number(json, peer.port);
    }
    json += R"(},"worker_pid":)";
    append_number(json, static_cast<std::uint64_t>(site.worker_pid));
    // Only a trusted peer (a proxy we know, such as nginx) may tell us who the client is, and
    // only in the entry it added itself, the last: the client wrote whatever comes before.
    const std::string_view forwarded = last_forwarded_for(request);
    if (!forwarded.empty() && trusts_forwarded_for(peer, site.forwarded_allow)) {
        json += R"(,"forwarded_for":)";
        append_json_string(json, forwarded);
    }
    json += '}';
    //! [whoami]
    response.write(200, "application/json", json, keep_alive, head);
    return {200};
}

}  // namespace http_min
