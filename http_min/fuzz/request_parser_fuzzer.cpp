// libFuzzer target for RequestParser. Not only "it does not crash" (ASan and UBSan see to
// that): for every input, under the default limits and under small ones, it checks
//   - the same answer whether the input comes whole, one byte at a time (in a std::string that
//     grows and moves, as a server's buffer does) or in pieces of 1 to 7 bytes: state, status,
//     reason, consumed, method, target, version, headers, host, keep-alive, expect, framing,
//     length and body;
//   - a complete request is recognised at its last byte (fed == consumed), and an error is
//     already certain from the bytes fed so far (the shorter input gives the same error);
//   - consumed() <= input size; views point inside this request's bytes, a chunked body
//     into the parser's own storage;
//   - what a complete request holds respects the limits and the grammar (known method,
//     version 1.0 or 1.1, token names, trimmed values without control characters);
//   - error_status() is one of 400, 413, 414, 431, 501, 505, with a reason;
//   - reset() forgets everything: parsing again gives the same answer, and asking again
//     with the same bytes in another buffer gives it too, with the views in that buffer;
//   - pipelined requests: the rest of the input is parsed as the next request, and so on;
//   - the ChunkedDecoder alone, given the input as a body: the same answer and body whole or
//     one byte at a time, complete at the body's last byte, the body within max_body.
// Run: cmake --preset fuzz && cmake --build --preset fuzz && ctest --preset fuzz
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <string_view>

#include "http_min/chunked_decoder.hpp"
#include "http_min/request_line.hpp"
#include "http_min/request_parser.hpp"
#include "parse_outcome.hpp"

namespace {

using http_min::BodyFraming;
using http_min::ChunkedDecoder;
using http_min::Header;
using http_min::ParserLimits;
using http_min::Request;
using http_min::RequestParser;
using State = RequestParser::State;
using Snapshot = http_min::testing::ParseOutcome;  // one answer, copied out of the parser
using http_min::testing::outcome_of;

void require(bool ok, const char* what) {
    if (ok) return;
    std::fprintf(stderr, "request_parser_fuzzer: invariant broken: %s\n", what);
    std::abort();
}

bool inside(std::string_view part, std::string_view whole) {
    if (part.empty()) return true;
    const std::less_equal<const char*> not_after;
    return not_after(whole.data(), part.data()) &&
           not_after(part.data() + part.size(), whole.data() + whole.size());
}

bool is_ows(char c) {
    return c == ' ' || c == '\t';
}

bool equals_ignoring_case(std::string_view a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t i = 0; i < a.size(); ++i) {
        const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? char(c - 'A' + 'a') : c; };
        if (lower(a[i]) != lower(b[i])) return false;
    }
    return true;
}

// The checks on one answer, with the views still pointing into `input`.
void check_answer(const RequestParser& parser, State state, std::string_view input,
                  const ParserLimits& limits) {
    if (state == State::error) {
        const int status = parser.error_status();
        require(status == 400 || status == 413 || status == 414 || status == 431 || status == 501 ||
                    status == 505,
                "error_status() is one of 400, 413, 414, 431, 501, 505");
        require(!parser.error_reason().empty(), "an error has a reason");
        return;
    }
    if (state != State::complete) return;
    const Request& r = parser.request();
    require(parser.consumed() > 0 && parser.consumed() <= input.size(),
            "0 < consumed() <= input size");
    require(parser.headers_complete(), "a complete request has complete headers");
    const std::string_view own = input.substr(0, parser.consumed());
    require(inside(r.method, own) && inside(r.target, own), "method and target inside the request");
    require(r.method == "GET" || r.method == "HEAD" || r.method == "POST" || r.method == "PUT" ||
                r.method == "DELETE" || r.method == "OPTIONS" || r.method == "PATCH",
            "a known method");
    require(!r.target.empty() && r.target.size() <= limits.max_target,
            "target non-empty, within max_target");
    require(r.version_minor == 0 || r.version_minor == 1, "HTTP/1.0 or HTTP/1.1");
    require(r.headers.size() <= limits.max_headers, "at most max_headers fields");
    for (const Header& field : r.headers) {
        require(inside(field.name, own) && inside(field.value, own), "fields inside the request");
        require(http_min::is_token(field.name), "field names are tokens");
        require(
            field.value.empty() || (!is_ows(field.value.front()) && !is_ows(field.value.back())),
            "field values are trimmed");
        for (const char c : field.value) {
            const auto byte = static_cast<unsigned char>(c);
            require((byte >= 0x20 || c == '\t') && byte != 0x7f, "no control characters in values");
        }
    }
    require(inside(r.host, own), "host inside the request");
    require(r.host == r.header("Host"), "host is the Host field's value");
    std::size_t hosts = 0;
    for (const Header& field : r.headers) hosts += equals_ignoring_case(field.name, "host") ? 1 : 0;
    require(hosts == 1 || (hosts == 0 && r.version_minor == 0), "one Host (none: HTTP/1.0 only)");
    require(r.body.size() <= limits.max_body, "body within max_body");
    switch (r.framing) {
        case BodyFraming::none:
            require(r.body.empty(), "no framing, no body");
            break;
        case BodyFraming::content_length:
            require(r.body.size() == r.content_length, "body size is Content-Length");
            require(inside(r.body, own), "a Content-Length body is inside the request");
            require(r.body.empty() || r.body.data() + r.body.size() == own.data() + own.size(),
                    "a Content-Length body ends the request");
            break;
        case BodyFraming::chunked:
            require(r.version_minor == 1, "chunked only in HTTP/1.1");
            require(r.body.empty() || !inside(r.body, input), "a chunked body is the parser's");
            break;
    }
}

// Whole: one call with everything.
Snapshot parse_whole(RequestParser& parser, std::string_view input, const ParserLimits& limits) {
    const State state = parser.parse(input);
    check_answer(parser, state, input, limits);
    return outcome_of(parser, state);
}

// One byte at a time into a growing std::string: the buffer moves as it grows.
Snapshot parse_bytewise(std::string_view input, const ParserLimits& limits, std::size_t& fed) {
    RequestParser parser(limits);
    std::string received;
    State state = State::incomplete;
    for (const char c : input) {
        received.push_back(c);
        state = parser.parse(received);
        if (state != State::incomplete) break;
    }
    fed = received.size();
    check_answer(parser, state, received, limits);
    return outcome_of(parser, state);
}

// Pieces of 1 to 7 bytes from the same buffer.
Snapshot parse_in_pieces(std::string_view input, const ParserLimits& limits) {
    RequestParser parser(limits);
    State state = parser.parse(input.substr(0, 0));
    require(state == State::incomplete, "nothing is incomplete");
    std::size_t size = 0;
    for (std::size_t step = 1; size < input.size() && state == State::incomplete; ++step) {
        size = std::min(input.size(), size + 1 + step % 7);
        state = parser.parse(input.substr(0, size));
    }
    check_answer(parser, state, input.substr(0, size), limits);
    return outcome_of(parser, state);
}

void check_all_ways(std::string_view input, const ParserLimits& limits) {
    RequestParser parser(limits);
    for (int request = 0; request < 16 && !input.empty(); ++request) {
        const Snapshot whole = parse_whole(parser, input, limits);
        std::size_t fed = 0;
        require(parse_bytewise(input, limits, fed) == whole, "byte at a time == whole");
        require(parse_in_pieces(input, limits) == whole, "in pieces == whole");
        if (whole.state == State::complete) {
            require(fed == whole.consumed, "complete exactly at the request's last byte");
        }
        if (whole.state == State::error) {
            RequestParser fresh(limits);
            require(parse_whole(fresh, input.substr(0, fed), limits) == whole,
                    "an error is certain from the bytes fed so far");
        }
        parser.reset();
        require(parse_whole(parser, input, limits) == whole, "reset() forgets everything");
        {  // asked again with the same bytes in another buffer: the views follow it
            const std::string moved(input);
            require(parse_whole(parser, moved, limits) == whole, "the same answer from a copy");
        }
        if (whole.state != State::complete) return;
        // The next pipelined request, as the server does it.
        input.remove_prefix(whole.consumed);
        parser.reset();
    }
}

// The chunked decoder fed directly: the parser reaches it only after a valid head, and most
// mutations of a chunked request break the head first.
void check_chunked_decoder(std::string_view input, const ParserLimits& limits) {
    ChunkedDecoder whole(limits.max_body, limits.max_header_bytes);
    const ChunkedDecoder::State state = whole.decode(input);
    ChunkedDecoder bytewise(limits.max_body, limits.max_header_bytes);
    std::string received;  // grows and moves: the decoder may keep no view of it
    ChunkedDecoder::State state_bytewise = ChunkedDecoder::State::incomplete;
    for (const char c : input) {
        received.push_back(c);
        state_bytewise = bytewise.decode(received);
        if (state_bytewise != ChunkedDecoder::State::incomplete) break;
    }
    require(state == state_bytewise, "decoder: byte at a time == whole");
    require(whole.body() == bytewise.body(), "decoder: the same body byte at a time");
    require(whole.body().size() <= limits.max_body, "decoder: body within max_body");
    if (state == ChunkedDecoder::State::complete) {
        require(whole.consumed() == received.size() && whole.consumed() == bytewise.consumed(),
                "decoder: complete exactly at the body's last byte");
    }
    if (state == ChunkedDecoder::State::error) {
        const int status = whole.error_status();
        require(status == 400 || status == 413 || status == 431, "decoder: 400, 413 or 431");
        require(
            status == bytewise.error_status() && whole.error_reason() == bytewise.error_reason(),
            "decoder: the same error byte at a time");
    }
    whole.reset();
    require(whole.decode(input) == state && whole.body() == bytewise.body(),
            "decoder: reset() forgets everything");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    check_all_ways(input, ParserLimits{});
    ParserLimits small;
    small.max_target = 16;
    small.max_header_bytes = 160;
    small.max_headers = 4;
    small.max_body = 24;
    check_all_ways(input, small);
    check_chunked_decoder(input, ParserLimits{});
    check_chunked_decoder(input, small);
    return 0;
}
