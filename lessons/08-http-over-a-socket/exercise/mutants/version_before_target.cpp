// Mutant: Checks the version before the target, so a too-long target with a bad version gets 400.
// Caught by: lesson08.RequestLine.ChecksFaultsInTheDocumentedOrder

// The request line, `method SP request-target SP HTTP-version` (RFC 9112 section 3), checked
// strictly: exactly one space between the parts, nothing around them. The caller
// (RequestParser, request_parser.cpp) has already found the line's CRLF, rejected bare CR and
// LF, and answered 414 for a target that grew too long before the line ended.
// Chapter 08's exercise (lessons/08-http-over-a-socket/exercise/request_line.cpp) replaces
// this file.
#include <array>
#include <cstddef>

#include "http_min/request_line.hpp"

namespace http_min {

namespace {

constexpr std::array<std::string_view, 7> known_methods = {"GET",    "HEAD",    "POST", "PUT",
                                                           "DELETE", "OPTIONS", "PATCH"};

RequestLineResult reject(int status, std::string_view reason) {
    return {status, reason};
}

// The exercise's piece is compiled from outside http_min/src, so it keeps to the public
// headers: no message_text.hpp here.
char ascii_lower(char c) {
    return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool is_digit(char c) {
    return c >= '0' && c <= '9';
}

// A control character, DEL, whitespace or a byte above 0x7F: never part of a request-target
// (RFC 3986 section 2 allows only ASCII; raw UTF-8 must be percent-encoded).
bool is_not_uri_char(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte <= 0x20 || byte >= 0x7f;
}

bool starts_with_ignoring_case(std::string_view target, std::string_view prefix) {
    if (target.size() < prefix.size()) return false;
    for (std::size_t i = 0; i < prefix.size(); ++i) {
        if (ascii_lower(target[i]) != prefix[i]) return false;
    }
    return true;
}

// absolute-form (RFC 9112 section 3.2.2) is how a client talks to a proxy, and a server must
// accept it too; it is meant for http and https URIs. So: "http://" or "https://" (a scheme
// is case-insensitive, RFC 3986 section 3.1), then a host, which may not be empty (RFC 9110
// section 4.2.1: such an http URI is invalid and must be rejected). Any other scheme
// (ftp://, ws://) is refused: this server is nobody's gateway to those.
bool is_absolute_form(std::string_view target) {
    std::size_t host = 0;
    if (starts_with_ignoring_case(target, "http://")) {
        host = 7;
    } else if (starts_with_ignoring_case(target, "https://")) {
        host = 8;
    } else {
        return false;
    }
    return host < target.size() && target[host] != '/' && target[host] != '?';
}

}  // namespace

//! [parse_request_line]
RequestLineResult parse_request_line(std::string_view line, const ParserLimits& limits,
                                     Request& request) {
    // Split at the first two spaces: a second space in a row leaves an empty part, a space
    // at the end lands in the version. Both are then rejected below.
    const std::size_t first_space = line.find(' ');
    if (first_space == std::string_view::npos) {
        return reject(400, "malformed request line (expected: method SP target SP version)");
    }
    const std::string_view method = line.substr(0, first_space);
    const std::string_view rest = line.substr(first_space + 1);
    const std::size_t second_space = rest.find(' ');
    if (!is_token(method)) return reject(400, "the method is not a token");
    if (second_space == std::string_view::npos) {
        return reject(400, "malformed request line (expected: method SP target SP version)");
    }
    const std::string_view target = rest.substr(0, second_space);
    const std::string_view version = rest.substr(second_space + 1);

    // HTTP-version = "HTTP/" DIGIT "." DIGIT, case-sensitive (RFC 9112 section 2.3). A higher
    // minor version of HTTP/1 is served as HTTP/1.1, the highest we implement (RFC 9110
    // section 2.5); another major version is 505.
    if (version == "HTTP/1.0") {
        request.version_minor = 0;
    } else if (version.size() == 8 && version.starts_with("HTTP/1.") && is_digit(version[7])) {
        request.version_minor = 1;
    } else if (version.size() == 8 && version.starts_with("HTTP/") && is_digit(version[5]) &&
               version[6] == '.' && is_digit(version[7])) {
        return reject(505, "HTTP version not supported (only HTTP/1.x)");
    } else if (version.size() == 6 && version.starts_with("HTTP/") && is_digit(version[5]) &&
               version[5] != '1') {
        return reject(505, "HTTP version not supported (only HTTP/1.x)");  // HTTP/2
    } else {
        return reject(400, "malformed HTTP version (expected HTTP/1.1 or HTTP/1.0)");
    }

    if (target.empty()) return reject(400, "empty request-target (two spaces in a row?)");
    if (target.size() > limits.max_target) return reject(414, "request-target too long");
    for (const char c : target) {
        if (is_not_uri_char(c)) {
            return reject(400,
                          "whitespace, control character or non-ASCII byte in the request-target");
        }
        // A fragment is the client's own business and is never sent (RFC 9112 section 3.2
        // has no place for one): "/a#b" is malformed, not a path to guess at.
        if (c == '#') return reject(400, "a fragment (#) in the request-target");
    }
    const bool asterisk_form = target == "*";
    if (asterisk_form && method != "OPTIONS") {
        return reject(400, "the asterisk-form target \"*\" is only for OPTIONS");
    }
    if (!asterisk_form && target[0] != '/' && !is_absolute_form(target)) {
        return reject(400, "request-target is neither /path, http(s)://host/path nor *");
    }

    // Last: a well-formed request for a method we do not have (RFC 9110 section 9.1).
    bool known = false;
    for (const std::string_view name : known_methods) known = known || method == name;
    if (!known) return reject(501, "method not implemented");

    request.method = method;
    request.target = target;
    return {};
}
//! [parse_request_line]

}  // namespace http_min
