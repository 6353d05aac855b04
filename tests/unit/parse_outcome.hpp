// What a RequestParser concluded, copied out of it (its views die with the input), so that
// two ways of parsing the same bytes can be compared with ==. Shared by the chapter 08 unit
// tests and the fuzzer, which both check that the ways agree.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "http_min/request_parser.hpp"

namespace http_min::testing {

struct ParseOutcome {
    RequestParser::State state = RequestParser::State::incomplete;
    int status = 0;      // error only
    std::string reason;  // error only
    std::size_t consumed = 0;
    bool headers_complete = false;
    std::string method;  // this and the rest: complete requests only
    std::string target;
    int version_minor = 0;
    std::vector<std::pair<std::string, std::string>> headers;
    std::string host;
    bool keep_alive = false;
    bool expect_continue = false;
    BodyFraming framing = BodyFraming::none;
    std::uint64_t content_length = 0;
    std::string body;

    bool operator==(const ParseOutcome&) const = default;
};

/// The outcome of `parser`'s last parse(), which returned `state`.
inline ParseOutcome outcome_of(const RequestParser& parser, RequestParser::State state) {
    ParseOutcome o;
    o.state = state;
    o.headers_complete = parser.headers_complete();
    if (state == RequestParser::State::error) {
        o.status = parser.error_status();
        o.reason = parser.error_reason();
        return o;
    }
    if (state != RequestParser::State::complete) return o;
    const Request& r = parser.request();
    o.consumed = parser.consumed();
    o.method = r.method;
    o.target = r.target;
    o.version_minor = r.version_minor;
    for (const Header& field : r.headers) o.headers.emplace_back(field.name, field.value);
    o.host = r.host;
    o.keep_alive = r.keep_alive;
    o.expect_continue = r.expect_continue;
    o.framing = r.framing;
    o.content_length = r.content_length;
    o.body = r.body;
    return o;
}

}  // namespace http_min::testing
