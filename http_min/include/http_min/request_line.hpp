/// \file
/// \brief parse_request_line(): the first line of a request, `method SP request-target SP
/// HTTP-version` (RFC 9112 section 3). Chapter 08's exercise writes it.
#pragma once

#include <string_view>

#include "http_min/request_parser.hpp"

namespace http_min {

/// What parse_request_line() concluded: the line is good, or the status to answer and why.
struct RequestLineResult {
    int status = 0;           ///< 0 if the line is good, else 400, 414, 501 or 505
    std::string_view reason;  ///< for an error: a short reason (a string literal)

    /// True if the line is good.
    bool ok() const noexcept { return status == 0; }
};

/// Parses a request line, given without its CRLF. On success sets `request.method`,
/// `request.target` (views into `line`) and `request.version_minor` (0 for HTTP/1.0, else
/// 1). The answer, checked in this order:
/// - 400: not exactly three parts separated by single spaces; a method that is not a token;
///   an empty request-target;
/// - 414: a request-target longer than `limits.max_target`;
/// - 400: a request-target with whitespace, a control character or a byte above 0x7F (raw
///   UTF-8 must be percent-encoded, RFC 3986 section 2), or with a fragment (`#`: a client
///   never sends one), or not one of the forms origin-form (`/path?query`), absolute-form
///   (`http://host/path` or `https://host/path`, the scheme in any case, the host not empty;
///   any other scheme is refused), or asterisk-form (`*`, OPTIONS only);
/// - 400: a version that is not `HTTP/` DIGIT `.` DIGIT (nor `HTTP/` DIGIT for a major
///   version other than 1, as in "HTTP/2" and "HTTP/3");
/// - 505: a well-formed version whose major is not 1 (HTTP/2.0, HTTP/0.9); a higher minor
///   version of HTTP/1 (HTTP/1.2) is served as HTTP/1.1 (RFC 9110 section 2.5);
/// - 501: a method other than GET, HEAD, POST, PUT, DELETE, OPTIONS, PATCH (methods are
///   case-sensitive: "get" is unknown).
RequestLineResult parse_request_line(std::string_view line, const ParserLimits& limits,
                                     Request& request);

/// True if `c` may appear in a token (RFC 9110 section 5.6.2, tchar): a letter, a digit, or
/// a visible ASCII symbol other than the delimiters `"(),/:;<=>?@[\]{}`.
/// Shared by the request line and the header fields.
bool is_tchar(char c) noexcept;

/// True if `text` is a token: one or more tchar.
bool is_token(std::string_view text) noexcept;

}  // namespace http_min
