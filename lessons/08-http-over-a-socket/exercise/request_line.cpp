// Chapter 08 exercise: parse an HTTP request line.
//
// Write parse_request_line() (declared, with every rule, in
// http_min/include/http_min/request_line.hpp). It gets the first line of a request without
// its CRLF, such as "GET /healthz?x=1 HTTP/1.1", and either fills request.method and
// request.target (as views into `line`, not copies) and request.version_minor (1 or 0), and
// returns {} (ok), or returns {status, "a short reason"} and the server answers that status.
// Check in exactly this order (the first fault found decides the status):
//   1. 400  not exactly "method SP target SP version" with single spaces; the method is not
//           a token (is_token() is there for you); the target is empty
//   2. 414  a target longer than limits.max_target (compare the view's size: copy nothing)
//   3. 400  the target has whitespace, a control character or a byte above 0x7F (raw UTF-8:
//           it must arrive percent-encoded), has a fragment ("#": a client never sends one),
//           or is none of: "/..." (origin-form); "http://host..." or "https://host..."
//           (absolute-form, RFC 9112 section 3.2.2: the scheme in any case, "HTTP://h/" too,
//           the host not empty; any other scheme such as "ftp://h/", and "http:///x", is 400);
//           "*" (asterisk-form, only with OPTIONS)
//   4. 400  a malformed version: not "HTTP/" DIGIT "." DIGIT ("HTTP/1", "http/1.1",
//           "HTTP/1.1 ", "HTTP/1.10"), except "HTTP/" DIGIT for a major other than 1
//   5. 505  a well-formed version whose major is not 1 ("HTTP/2.0", "HTTP/3", "HTTP/0.9");
//           a higher HTTP/1 minor version ("HTTP/1.2") is served as HTTP/1.1 (version_minor 1)
//   6. 501  a well-formed method other than GET HEAD POST PUT DELETE OPTIONS PATCH ("get"
//           too: methods are case-sensitive)
// std::string_view's find(), substr() and == do all the work; nothing
// here needs to allocate. RequestParser (http_min/src/request_parser.cpp) calls you once it
// has the whole line, so you never see a CR or LF, and it answers 414 itself for a target
// that grows too long before the line ends.
//
// Check:  scripts/exercise 08   (stuck? scripts/exercise 08 --hint)
#include <stdexcept>

#include "http_min/request_line.hpp"

namespace http_min {

RequestLineResult parse_request_line(std::string_view line, const ParserLimits& limits,
                                     Request& request) {
    (void)line;
    (void)limits;
    (void)request;
    // TODO(lesson08): split at the two spaces, check method, target and version in the
    // order above, then fill `request`. Then delete this throw.
    throw std::logic_error(
        "TODO(lesson08): parse_request_line() is not written yet: edit "
        "lessons/08-http-over-a-socket/exercise/request_line.cpp");
}

}  // namespace http_min
