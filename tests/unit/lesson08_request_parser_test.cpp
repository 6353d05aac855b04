// Chapter 08: http_min's request parser. One test per rule of RFC 9112 the parser enforces,
// each named for what it shows; the request line alone (the chapter's exercise); then the
// properties every request must have: fed whole or one byte at a time it gives the same
// answer, pipelined requests come out one at a time, and parsing allocates nothing.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <new>
#include <ostream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "http_min/request_line.hpp"
#include "http_min/request_parser.hpp"
#include "parse_outcome.hpp"

// This program counts heap allocations, to show that parsing makes none: it replaces the
// global operator new (the array and nothrow forms call this one).
namespace {
std::atomic<std::size_t> allocations{0};
}  // namespace

// GCC 12 at -O2 inlines these into the standard allocator and then warns that free() meets
// memory from operator new (-Wmismatched-new-delete): a false positive, since this very
// operator new allocates with malloc().
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif
void* operator new(std::size_t size) {
    allocations.fetch_add(1, std::memory_order_relaxed);
    if (void* memory = std::malloc(size == 0 ? 1 : size)) return memory;
    throw std::bad_alloc();
}
void operator delete(void* memory) noexcept {
    std::free(memory);
}
void operator delete(void* memory, std::size_t) noexcept {
    std::free(memory);
}
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif

// Failure messages name the state.
namespace http_min {
[[maybe_unused]] void PrintTo(RequestParser::State state, std::ostream* out) {
    switch (state) {
        case RequestParser::State::incomplete:
            *out << "incomplete";
            return;
        case RequestParser::State::complete:
            *out << "complete";
            return;
        case RequestParser::State::error:
            *out << "error";
            return;
    }
}
}  // namespace http_min

namespace {

using namespace std::string_literals;
using http_min::BodyFraming;
using http_min::ParserLimits;
using http_min::Request;
using http_min::RequestParser;
using State = RequestParser::State;

// Small limits, so that every limit can be reached with a short request.
ParserLimits small_limits() {
    ParserLimits limits;
    limits.max_target = 16;
    limits.max_header_bytes = 128;
    limits.max_headers = 4;
    limits.max_body = 16;
    return limits;
}

using Outcome = http_min::testing::ParseOutcome;
using http_min::testing::outcome_of;

[[maybe_unused]] void PrintTo(const Outcome& o, std::ostream* out) {
    http_min::PrintTo(o.state, out);
    if (o.state == State::error) *out << " " << o.status << " (" << o.reason << ")";
    *out << ", consumed " << o.consumed << ", headers_complete " << o.headers_complete;
    if (o.state != State::complete) return;
    *out << ", [" << o.method << "] [" << o.target << "] HTTP/1." << o.version_minor << ", "
         << o.headers.size() << " headers, host [" << o.host << "], keep_alive " << o.keep_alive
         << ", expect_continue " << o.expect_continue << ", framing " << static_cast<int>(o.framing)
         << ", content_length " << o.content_length << ", body [" << o.body << "]";
}

Outcome parse_whole(std::string_view input, const ParserLimits& limits = {}) {
    RequestParser parser(limits);
    const State state = parser.parse(input);
    return outcome_of(parser, state);
}

// Feeds `input` one byte at a time, as a server does that appends what it receives to a
// std::string (which moves in memory as it grows), until the parser answers. `fed` gets the
// number of bytes it took.
Outcome parse_byte_at_a_time(std::string_view input, const ParserLimits& limits = {},
                             std::size_t* fed = nullptr) {
    RequestParser parser(limits);
    std::string received;
    State state = State::incomplete;
    for (const char c : input) {
        received.push_back(c);
        state = parser.parse(received);
        if (state != State::incomplete) break;
    }
    if (fed != nullptr) *fed = received.size();
    return outcome_of(parser, state);
}

// Parses `input` whole, checks that one byte at a time gives the same, returns the outcome.
Outcome parse(std::string_view input, const ParserLimits& limits = {}) {
    const Outcome whole = parse_whole(input, limits);
    EXPECT_EQ(whole, parse_byte_at_a_time(input, limits)) << "fed one byte at a time";
    return whole;
}

testing::AssertionResult rejected_with(int status, std::string_view input,
                                       const ParserLimits& limits = {}) {
    const Outcome o = parse(input, limits);
    if (o.state == State::error && o.status == status) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "expected " << status << " for \"" << input << "\", got "
                                       << testing::PrintToString(o);
}

testing::AssertionResult accepted(std::string_view input, const ParserLimits& limits = {}) {
    const Outcome o = parse(input, limits);
    if (o.state == State::complete && o.consumed == input.size()) {
        return testing::AssertionSuccess();
    }
    return testing::AssertionFailure() << "expected \"" << input << "\" to be one complete "
                                       << "request, got " << testing::PrintToString(o);
}

// A GET with the given request line and fields ("Name: value\r\n" each).
std::string request_line_with_host(std::string_view line) {
    return std::string(line) + "\r\nHost: example.com\r\n\r\n";
}
std::string get_with(std::string_view fields) {
    return "GET / HTTP/1.1\r\nHost: example.com\r\n" + std::string(fields) + "\r\n";
}
std::string post_with(std::string_view fields, std::string_view body) {
    return "POST /echo HTTP/1.1\r\nHost: example.com\r\n" + std::string(fields) + "\r\n" +
           std::string(body);
}

// ---- the request line ------------------------------------------------------------------

TEST(RequestParser, SimpleGetIsParsed) {
    const std::string input = "GET /static/a.css?x=1 HTTP/1.1\r\nHost: localhost\r\n\r\n";
    const Outcome o = parse(input);
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.method, "GET");
    EXPECT_EQ(o.target, "/static/a.css?x=1");
    EXPECT_EQ(o.version_minor, 1);
    EXPECT_EQ(o.host, "localhost");
    EXPECT_TRUE(o.keep_alive);
    EXPECT_EQ(o.framing, BodyFraming::none);
    EXPECT_EQ(o.body, "");
    EXPECT_EQ(o.consumed, input.size());
}

TEST(RequestParser, KnownMethodsAreAccepted) {
    for (const char* method : {"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}) {
        EXPECT_TRUE(accepted(request_line_with_host(method + " / HTTP/1.1"s)));
    }
}

TEST(RequestParser, MethodThatIsNotATokenIsRejected) {
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GE(T / HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GE\x01T / HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("G\xc3\x89T / HTTP/1.1")));
}

TEST(RequestParser, UnknownMethodGives501) {
    EXPECT_TRUE(rejected_with(501, request_line_with_host("BREW / HTTP/1.1")));
    EXPECT_TRUE(rejected_with(501, request_line_with_host("CONNECT / HTTP/1.1")));
    // Methods are case-sensitive (RFC 9110 section 9.1).
    EXPECT_TRUE(rejected_with(501, request_line_with_host("get / HTTP/1.1")));
}

TEST(RequestParser, PartsAreSeparatedByExactlyOneSpace) {
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET  / HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /  HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host(" GET / HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET\t/ HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET")));
}

TEST(RequestParser, TargetWithWhitespaceOrControlCharacterIsRejected) {
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a\x01z HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a\tz HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a\x7fz HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a\0z HTTP/1.1"s)));
}

// RFC 3986 section 2 allows only ASCII in a URI: raw UTF-8 (or any byte above 0x7F) in the
// target is refused, as llhttp's strict mode does; the same text percent-encoded is fine.
TEST(RequestParser, TargetWithRawBytesAbove0x7FIsRejectedButPercentEncodedIsNot) {
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /caf\xc3\xa9 HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /\x80 HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a?q=\xff HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET /caf%C3%A9 HTTP/1.1")));
}

TEST(RequestParser, TargetFormsAreChecked) {
    EXPECT_TRUE(accepted(request_line_with_host("OPTIONS * HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET http://example.com/x?y HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET * HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET example.com:80 HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET index.html HTTP/1.1")));
}

TEST(RequestParser, FragmentInTheTargetIsRejected) {
    // A client never sends a fragment (RFC 9112 section 3.2 has no place for one).
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /#x HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a?b#c HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET http://h/# HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET /a%23b HTTP/1.1")));  // an encoded '#'
}

TEST(RequestParser, AbsoluteFormIsForHttpAndHttpsWithAHost) {
    // RFC 9112 section 3.2.2; the scheme is case-insensitive (RFC 3986 section 3.1); an http
    // URI with an empty host must be rejected (RFC 9110 section 4.2.1).
    EXPECT_TRUE(accepted(request_line_with_host("GET https://example.com/x HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET HTTP://example.com/x HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET hTtPs://example.com HTTP/1.1")));
    EXPECT_TRUE(accepted(request_line_with_host("GET http://h?/x HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET ftp://example.com/x HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET httpx://example.com/ HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET ws://example.com/ HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET http:///x HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET http://?x HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET http:// HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET http:/x HTTP/1.1")));
}

TEST(RequestParser, TooLongTargetGives414BeforeTheLineEnds) {
    const ParserLimits limits = small_limits();  // max_target 16
    EXPECT_TRUE(
        accepted(request_line_with_host("GET /" + std::string(15, 'a') + " HTTP/1.1"), limits));
    // 17 target bytes and no end of line yet: the answer does not wait for the rest.
    EXPECT_TRUE(rejected_with(414, "GET /" + std::string(16, 'a'), limits));
}

TEST(RequestParser, UnsupportedVersionGives505) {
    for (const char* version : {"HTTP/2.0", "HTTP/3", "HTTP/2", "HTTP/0.9"}) {
        EXPECT_TRUE(rejected_with(505, request_line_with_host("GET / "s + version)));
    }
}

// RFC 9110 section 2.5: a higher minor version of HTTP/1 is processed as the highest minor
// version the recipient implements, here HTTP/1.1 (nginx does the same).
TEST(RequestParser, AHigherMinorVersionIsServedAsHttp11) {
    for (const char* version : {"HTTP/1.2", "HTTP/1.9"}) {
        const Outcome o = parse(request_line_with_host("GET / "s + version));
        ASSERT_EQ(o.state, State::complete) << version << ": " << testing::PrintToString(o);
        EXPECT_EQ(o.version_minor, 1) << version;
    }
}

TEST(RequestParser, MalformedVersionIsRejected) {
    for (const char* version : {"HTTP/1", "http/1.1", "HTTP/1.1 ", "HTTP/11.1", "HTTP/1.10",
                                "HTTP/1.x", "HTTP/1.1x", "HTTP", ""}) {
        EXPECT_TRUE(rejected_with(400, request_line_with_host("GET / "s + version)));
    }
}

TEST(RequestParser, Http10IsAccepted) {
    const Outcome o = parse("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.version_minor, 0);
}

// ---- line endings ------------------------------------------------------------------------

TEST(RequestParser, BareCRIsRejected) {
    EXPECT_TRUE(rejected_with(400, request_line_with_host("GET /a\rb HTTP/1.1")));
    EXPECT_TRUE(rejected_with(400, get_with("X-A: 1\rX-B: 2\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X-A: 1\r\r\n")));
    // Known as soon as the byte after the CR arrives.
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\rH"));
}

TEST(RequestParser, BareLFIsRejected) {
    // RFC 9112 section 2.2 allows a recipient to accept a bare LF; we do not.
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\nHost: a\n\n"));
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\nHost: a\n\r\n"));
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\nHost: a\r\n\n"));
}

TEST(RequestParser, EmptyLinesBeforeTheRequestLineAreSkipped) {
    // RFC 9112 section 2.2: a server SHOULD ignore at least one empty line before it.
    const std::string input = "\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n";
    const Outcome o = parse(input);
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.method, "GET");
    EXPECT_EQ(o.consumed, input.size());
}

// ---- header fields -----------------------------------------------------------------------

TEST(RequestParser, HeaderFieldsKeepTheirOrderAndNameCaseWithValuesTrimmed) {
    const Outcome o = parse(get_with("X-Long:  two  words \t\r\nx-empty:\r\nX-Tab:\ta\tb\r\n"));
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"Host", "example.com"}, {"X-Long", "two  words"}, {"x-empty", ""}, {"X-Tab", "a\tb"}};
    EXPECT_EQ(o.headers, expected);
}

TEST(RequestParser, HeaderLookupIgnoresCase) {
    RequestParser parser;
    const std::string input = get_with("Content-Type: text/plain\r\ncontent-type: second\r\n");
    ASSERT_EQ(parser.parse(input), State::complete);
    const Request& request = parser.request();
    EXPECT_EQ(request.header("content-type"), "text/plain");  // the first one
    EXPECT_EQ(request.header("CONTENT-TYPE"), "text/plain");
    EXPECT_EQ(request.header("host"), "example.com");
    EXPECT_EQ(request.header("Accept"), "");
    EXPECT_EQ(request.header("Content-Typ"), "");
}

TEST(RequestParser, FieldNameThatIsNotATokenIsRejected) {
    EXPECT_TRUE(rejected_with(400, get_with("X(A): 1\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with(": no name\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X A: 1\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X-\xc3\xa9: 1\r\n")));
}

TEST(RequestParser, HeaderLineWithoutColonIsRejected) {
    EXPECT_TRUE(rejected_with(400, get_with("X-No-Colon\r\n")));
}

TEST(RequestParser, WhitespaceBeforeTheColonIsRejected) {
    // RFC 9112 section 5.1: MUST be rejected (proxies disagree about what it means).
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\nHost : example.com\r\n\r\n"));
    EXPECT_TRUE(rejected_with(400, get_with("X-A\t: 1\r\n")));
}

TEST(RequestParser, ObsFoldIsRejected) {
    EXPECT_TRUE(rejected_with(400, get_with("X-A: 1\r\n  continued\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X-A: 1\r\n\tcontinued\r\n")));
    // Whitespace right after the request line (RFC 9112 section 2.2).
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\n Host: example.com\r\n\r\n"));
}

TEST(RequestParser, ControlCharacterInValueIsRejected) {
    EXPECT_TRUE(rejected_with(400, get_with("X-A: a\x01z\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X-A: a\x7fz\r\n")));
    EXPECT_TRUE(rejected_with(400, get_with("X-A: a\0z\r\n"s)));
    EXPECT_TRUE(accepted(get_with("X-A: tab\tinside\r\n")));
    EXPECT_TRUE(accepted(get_with("X-A: caf\xc3\xa9\r\n")));  // obs-text is allowed
}

TEST(RequestParser, TooManyHeaderFieldsGive431BeforeTheSectionEnds) {
    const ParserLimits limits = small_limits();  // max_headers 4
    EXPECT_TRUE(accepted("GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\n\r\n", limits));
    EXPECT_TRUE(rejected_with(431, "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n",
                              limits));
}

TEST(RequestParser, TooLargeHeaderSectionGives431BeforeItEnds) {
    const ParserLimits limits = small_limits();  // max_header_bytes 128, CRLFs included
    const std::string head = "GET / HTTP/1.1\r\nHost: a\r\nX: ";
    const std::string at_limit = head + std::string(128 - head.size() - 4, 'v') + "\r\n\r\n";
    ASSERT_EQ(at_limit.size(), 128u);
    EXPECT_TRUE(accepted(at_limit, limits));
    // One byte over, without the end of the line: answered at once.
    EXPECT_TRUE(rejected_with(431, head + std::string(128 - head.size() + 1, 'v'), limits));
    // A request line that never ends is held to the same limit.
    EXPECT_TRUE(rejected_with(431, std::string(200, 'G'), limits));
}

TEST(RequestParser, MaxHeadersAboveCapacityIsRefused) {
    ParserLimits limits;
    limits.max_headers = RequestParser::header_capacity + 1;
    EXPECT_THROW(RequestParser{limits}, std::invalid_argument);
}

// ---- Host ---------------------------------------------------------------------------------

TEST(RequestParser, MissingHostIsRejectedInHttp11) {
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\n\r\n"));
}

TEST(RequestParser, HostMayBeOmittedInHttp10) {
    const Outcome o = parse("GET / HTTP/1.0\r\n\r\n");
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.host, "");
}

TEST(RequestParser, DuplicateHostIsRejected) {
    EXPECT_TRUE(rejected_with(400, get_with("Host: example.com\r\n")));
    EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.0\r\nHost: a\r\nhost: b\r\n\r\n"));
}

TEST(RequestParser, InvalidHostIsRejected) {
    for (const char* host : {"exa mple.com", "a/b", "[::1", "a:b", "x@y", "%zz"}) {
        EXPECT_TRUE(rejected_with(400, "GET / HTTP/1.1\r\nHost: "s + host + "\r\n\r\n"));
    }
    for (const char* host : {"localhost", "localhost:8080", "127.0.0.1", "[::1]:80", "a%41b", ""}) {
        EXPECT_TRUE(accepted("GET / HTTP/1.1\r\nHost: "s + host + "\r\n\r\n"));
    }
}

// ---- Connection and Expect ----------------------------------------------------------------

TEST(RequestParser, ConnectionCloseEndsKeepAlive) {
    EXPECT_TRUE(parse(get_with("")).keep_alive);
    EXPECT_FALSE(parse(get_with("Connection: close\r\n")).keep_alive);
    EXPECT_FALSE(parse(get_with("Connection: upgrade, CLOSE\r\n")).keep_alive);
    EXPECT_FALSE(parse(get_with("Connection: te\r\nConnection: Close\r\n")).keep_alive);
    EXPECT_TRUE(parse(get_with("Connection: closed\r\n")).keep_alive);  // another token
}

TEST(RequestParser, Http10KeepsAliveOnlyWhenAsked) {
    EXPECT_FALSE(parse("GET / HTTP/1.0\r\n\r\n").keep_alive);
    EXPECT_TRUE(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keep_alive);
    EXPECT_FALSE(parse("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n").keep_alive);
}

TEST(RequestParser, ExpectContinueIsReportedOnceTheHeadersAreComplete) {
    RequestParser parser;
    const std::string head = post_with("Content-Length: 5\r\nExpect: 100-Continue\r\n", "");
    EXPECT_EQ(parser.parse(head), State::incomplete);
    EXPECT_TRUE(parser.headers_complete());  // the moment to send "100 Continue"
    EXPECT_TRUE(parser.request().expect_continue);
    const std::string whole = head + "hello";  // the views point into it: keep it alive
    EXPECT_EQ(parser.parse(whole), State::complete);
    EXPECT_EQ(parser.request().body, "hello");
}

TEST(RequestParser, OtherExpectationsAreIgnored) {
    // RFC 9110 section 10.1.1: a server MAY answer 417; we do not have it, and ignore them.
    const Outcome o = parse(post_with("Content-Length: 2\r\nExpect: something-else\r\n", "hi"));
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_FALSE(o.expect_continue);
}

TEST(RequestParser, ExpectContinueIsIgnoredInHttp10) {
    // RFC 9110 section 10.1.1: MUST ignore it in an HTTP/1.0 request.
    const Outcome o =
        parse("POST / HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\nx");
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_FALSE(o.expect_continue);
}

// ---- Content-Length ------------------------------------------------------------------------

TEST(RequestParser, ContentLengthBodyIsRead) {
    const std::string input = post_with("Content-Length: 5\r\n", "hello");
    const Outcome o = parse(input);
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.framing, BodyFraming::content_length);
    EXPECT_EQ(o.content_length, 5u);
    EXPECT_EQ(o.body, "hello");
    EXPECT_EQ(o.consumed, input.size());
    EXPECT_EQ(parse_whole(input.substr(0, input.size() - 1)).state, State::incomplete);
}

TEST(RequestParser, ZeroContentLengthIsComplete) {
    const Outcome o = parse(post_with("Content-Length: 0\r\n", ""));
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.body, "");
}

TEST(RequestParser, InvalidContentLengthIsRejected) {
    for (const char* value : {"-1", "+5", "5a", "0x5", "5 5", "", "1.0", "18446744073709551616",
                              "99999999999999999999999"}) {
        EXPECT_TRUE(rejected_with(400, post_with("Content-Length: "s + value + "\r\n", "")));
    }
}

TEST(RequestParser, RepeatedContentLengthIsRejected) {
    // RFC 9110 section 8.6 lets a recipient accept identical repeats; we take the simpler way.
    EXPECT_TRUE(
        rejected_with(400, post_with("Content-Length: 5\r\nContent-Length: 5\r\n", "hello")));
    EXPECT_TRUE(rejected_with(400, post_with("Content-Length: 5, 5\r\n", "hello")));
    EXPECT_TRUE(rejected_with(400, post_with("Content-Length: 5, 6\r\n", "hello")));
}

TEST(RequestParser, ContentLengthWithTransferEncodingIsRejected) {
    EXPECT_TRUE(rejected_with(
        400, post_with("Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", "0\r\n\r\n")));
    EXPECT_TRUE(rejected_with(
        400, post_with("Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", "0\r\n\r\n")));
}

TEST(RequestParser, DeclaredBodyOverLimitGives413WithoutReadingIt) {
    const ParserLimits limits = small_limits();  // max_body 16
    EXPECT_TRUE(accepted(post_with("Content-Length: 16\r\n", std::string(16, 'b')), limits));
    EXPECT_TRUE(rejected_with(413, post_with("Content-Length: 17\r\n", ""), limits));
    EXPECT_TRUE(rejected_with(413, post_with("Content-Length: 18446744073709551615\r\n", "")));
}

// ---- Transfer-Encoding and chunked ---------------------------------------------------------

TEST(RequestParser, ChunkedBodyIsDecoded) {
    const std::string input =
        post_with("Transfer-Encoding: chunked\r\n", "5\r\nhello\r\nB\r\n, world!..\n\r\n0\r\n\r\n");
    const Outcome o = parse(input);
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.framing, BodyFraming::chunked);
    EXPECT_EQ(o.body, "hello, world!..\n");
    EXPECT_EQ(o.consumed, input.size());
    EXPECT_TRUE(accepted(post_with("Transfer-Encoding: Chunked\r\n", "000\r\n\r\n")));
}

TEST(RequestParser, TransferEncodingNotEndingWithChunkedIsRejected) {
    // RFC 9112 section 6.3: the length cannot be known, the server MUST answer 400.
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: gzip\r\n", "")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked, gzip\r\n", "")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked;x=1\r\n", "")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked, chunked\r\n", "")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: \r\n", "")));
    EXPECT_TRUE(rejected_with(
        400, post_with("Transfer-Encoding: chunked\r\nTransfer-Encoding: gzip\r\n", "")));
}

TEST(RequestParser, UnsupportedCodingBeforeChunkedGives501) {
    // RFC 9112 section 6.1: a coding the server does not understand: 501. Only chunked is.
    EXPECT_TRUE(rejected_with(501, post_with("Transfer-Encoding: gzip, chunked\r\n", "")));
    EXPECT_TRUE(rejected_with(
        501, post_with("Transfer-Encoding: gzip\r\nTransfer-Encoding: chunked\r\n", "")));
}

TEST(RequestParser, TransferEncodingInHttp10IsRejected) {
    EXPECT_TRUE(
        rejected_with(400, "POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"));
}

TEST(RequestParser, ChunkExtensionsAreIgnored) {
    const Outcome o = parse(post_with("Transfer-Encoding: chunked\r\n",
                                      "5;a=b ; c ;d=\"q \\\" s\"\r\nhello\r\n0;end\r\n\r\n"));
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.body, "hello");
}

TEST(RequestParser, MalformedChunkExtensionIsRejected) {
    for (const char* line : {"5;", "5 x", "5;=b", "5;a=", "5;a=\"open", "5 "}) {
        EXPECT_TRUE(rejected_with(
            400, post_with("Transfer-Encoding: chunked\r\n", line + "\r\nhello\r\n0\r\n\r\n"s)));
    }
}

TEST(RequestParser, BadChunkSizeIsRejected) {
    for (const char* size : {"x", "", "-5", "+5", "0x5", " 5"}) {
        EXPECT_TRUE(rejected_with(
            400, post_with("Transfer-Encoding: chunked\r\n", size + "\r\nhello\r\n0\r\n\r\n"s)));
    }
}

TEST(RequestParser, MissingCRLFAfterChunkDataIsRejected) {
    // Known at the first wrong byte, without waiting for more.
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked\r\n", "5\r\nhelloX")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked\r\n", "5\r\nhello\rX")));
    EXPECT_TRUE(rejected_with(400, post_with("Transfer-Encoding: chunked\r\n", "5\r\nhello\n")));
}

TEST(RequestParser, ChunkedBodyOverLimitGives413) {
    const ParserLimits limits = small_limits();  // max_body 16
    EXPECT_TRUE(accepted(
        post_with("Transfer-Encoding: chunked\r\n", "8\r\n12345678\r\n8\r\n12345678\r\n0\r\n\r\n"),
        limits));
    // The size line of a chunk that would go over is enough.
    EXPECT_TRUE(rejected_with(
        413, post_with("Transfer-Encoding: chunked\r\n", "8\r\n12345678\r\n9\r\n"), limits));
    EXPECT_TRUE(rejected_with(
        413, post_with("Transfer-Encoding: chunked\r\n", "fffffffffffffffffffffff\r\n")));
}

TEST(RequestParser, TooLongChunkSizeLineIsRejectedBeforeItEnds) {
    EXPECT_TRUE(rejected_with(
        400, post_with("Transfer-Encoding: chunked\r\n", "5;x=" + std::string(1100, 'v'))));
    EXPECT_TRUE(
        rejected_with(400, post_with("Transfer-Encoding: chunked\r\n", std::string(1100, '0'))));
}

TEST(RequestParser, ChunkFramingIsBoundedByTheBodyLimit) {
    // Many small chunks with long extensions: the framing may take max_body + 1 KiB at most.
    const ParserLimits limits = small_limits();  // max_body 16
    const std::string chunk = "1;x=" + std::string(500, 'v') + "\r\nb\r\n";
    EXPECT_TRUE(rejected_with(
        413, post_with("Transfer-Encoding: chunked\r\n", chunk + chunk + chunk), limits));
}

TEST(RequestParser, TrailerFieldsAreCheckedThenDropped) {
    const Outcome o = parse(post_with("Transfer-Encoding: chunked\r\n",
                                      "2\r\nhi\r\n0\r\nX-Checksum: 1234\r\nX-More: x\r\n\r\n"));
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.body, "hi");
    EXPECT_EQ(o.headers.size(), 2u);  // Host and Transfer-Encoding only
    EXPECT_TRUE(
        rejected_with(400, post_with("Transfer-Encoding: chunked\r\n", "0\r\nX-Bad : 1\r\n\r\n")));
    EXPECT_TRUE(rejected_with(
        400, post_with("Transfer-Encoding: chunked\r\n", "0\r\nX-A: 1\r\n folded\r\n\r\n")));
}

TEST(RequestParser, TooLargeTrailerSectionGives431) {
    const ParserLimits limits = small_limits();  // max_header_bytes 128
    EXPECT_TRUE(
        rejected_with(431,
                      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: " +
                          std::string(130, 't'),
                      limits));
}

// ---- incremental parsing, pipelining, memory ---------------------------------------------

TEST(RequestParser, RequestIsIncompleteUntilItsLastByte) {
    const std::string input = post_with("Transfer-Encoding: chunked\r\n", "3\r\nabc\r\n0\r\n\r\n");
    std::size_t fed = 0;
    const Outcome o = parse_byte_at_a_time(input, {}, &fed);
    EXPECT_EQ(o.state, State::complete);
    EXPECT_EQ(fed, input.size());  // no answer before the last byte
    EXPECT_EQ(parse_whole("").state, State::incomplete);
}

TEST(RequestParser, PipelinedRequestsAreParsedOneAtATime) {
    const std::string first = get_with("");
    const std::string second = post_with("Content-Length: 3\r\n", "abc");
    const std::string third = post_with("Transfer-Encoding: chunked\r\n", "1\r\nx\r\n0\r\n\r\n");
    std::string buffer = first + second + third + "GET /partial";
    RequestParser parser;
    std::vector<std::string> targets;
    std::vector<std::string> bodies;
    while (parser.parse(buffer) == State::complete) {
        targets.emplace_back(parser.request().target);
        bodies.emplace_back(parser.request().body);
        buffer.erase(0, parser.consumed());  // as the server does
        parser.reset();
    }
    EXPECT_EQ(targets, (std::vector<std::string>{"/", "/echo", "/echo"}));
    EXPECT_EQ(bodies, (std::vector<std::string>{"", "abc", "x"}));
    EXPECT_EQ(buffer, "GET /partial");
    EXPECT_EQ(parser.parse(buffer), State::incomplete);
}

TEST(RequestParser, BytesAfterTheRequestAreNotLookedAt) {
    const std::string request = get_with("");
    const Outcome o = parse_whole(request + "\x01\x02 not HTTP at all\n");
    ASSERT_EQ(o.state, State::complete) << testing::PrintToString(o);
    EXPECT_EQ(o.consumed, request.size());
}

TEST(RequestParser, ViewsFollowTheBufferWhenItMoves) {
    RequestParser parser;
    std::string received = "GET /moving HTTP/1.1\r\nHost: a\r\nX-A: 1\r\n";
    EXPECT_EQ(parser.parse(received), State::incomplete);
    std::string moved = received + "\r\n";  // a new buffer, same bytes, and more
    received.assign(received.size(), '#');  // the old buffer's bytes change
    ASSERT_EQ(parser.parse(moved), State::complete);
    EXPECT_EQ(parser.request().target, "/moving");
    EXPECT_EQ(parser.request().header("x-a"), "1");
    EXPECT_EQ(parser.request().host, "a");
}

TEST(RequestParser, BodyViewFollowsTheBufferWhenItMoves) {
    RequestParser parser;
    const std::string first = post_with("Content-Length: 4\r\n", "body");
    ASSERT_EQ(parser.parse(first), State::complete);
    const std::string copy = first;  // asked again, from another buffer
    ASSERT_EQ(parser.parse(copy), State::complete);
    EXPECT_EQ(parser.request().body, "body");
    EXPECT_EQ(parser.request().body.data(), copy.data() + copy.size() - 4);
    EXPECT_EQ(parser.request().method.data(), copy.data());
}

TEST(RequestParser, InputShorterThanBeforeIsALogicError) {
    RequestParser parser;
    EXPECT_EQ(parser.parse("GET / HTTP/1.1\r\n"), State::incomplete);
    EXPECT_THROW(parser.parse("GET"), std::logic_error);
}

TEST(RequestParser, ParsingAllocatesNothingWithoutAChunkedBody) {
    const std::string input = post_with(
        "Content-Length: 5\r\nConnection: keep-alive\r\nExpect: 100-continue\r\n"
        "Accept: */*\r\nUser-Agent: test\r\n",
        "hello");
    RequestParser parser;
    {  // the counter counts (or this test would prove nothing)
        const std::size_t start = allocations.load();
        const auto probe = std::make_unique<int>(1);
        ASSERT_EQ(allocations.load() - start, 1u);
    }
    const std::size_t before = allocations.load();
    State whole = parser.parse(input);
    parser.reset();
    State bytewise = State::incomplete;
    for (std::size_t n = 1; n <= input.size() && bytewise == State::incomplete; ++n) {
        bytewise = parser.parse(std::string_view(input).substr(0, n));
    }
    const std::size_t made = allocations.load() - before;
    EXPECT_EQ(whole, State::complete);
    EXPECT_EQ(bytewise, State::complete);
    EXPECT_EQ(made, 0u);
}

TEST(RequestParser, ResetKeepsTheChunkedBodyCapacity) {
    const std::string input = post_with("Transfer-Encoding: chunked\r\n",
                                        "40\r\n" + std::string(64, 'c') + "\r\n0\r\n\r\n");
    RequestParser parser;
    ASSERT_EQ(parser.parse(input), State::complete);  // the first one may allocate
    parser.reset();
    const std::size_t before = allocations.load();
    const State state = parser.parse(input);
    const std::size_t made = allocations.load() - before;
    EXPECT_EQ(state, State::complete);
    EXPECT_EQ(parser.request().body, std::string(64, 'c'));
    EXPECT_EQ(made, 0u);
}

TEST(RequestParser, ByteAtATimeFeedingIsLinear) {
    // A 1 MB header section fed one byte at a time: a parser that went back to the start on
    // every call would take hours (about 5 * 10^11 byte visits), a resuming one milliseconds.
    ParserLimits limits;
    limits.max_header_bytes = 2 * 1024 * 1024;
    std::string input = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (int i = 0; i < 60; ++i) {
        input += "X-" + std::to_string(i) + ": " + std::string(16000, 'v') + "\r\n";
    }
    input += "\r\n";
    RequestParser parser(limits);
    const auto start = std::chrono::steady_clock::now();
    State state = State::incomplete;
    for (std::size_t n = 1; n <= input.size() && state == State::incomplete; ++n) {
        state = parser.parse(std::string_view(input).substr(0, n));
    }
    const auto took = std::chrono::steady_clock::now() - start;
    EXPECT_EQ(state, State::complete);
    EXPECT_LT(took, std::chrono::seconds(10));
}

// ---- the table: every kind of request, fed whole and one byte at a time ---------------------

struct Row {
    const char* what;
    std::string input;
    State state;
    int status;  // for State::error
    ParserLimits limits = {};
    std::size_t after = 0;  // bytes after the request (pipelined), for State::complete
};

std::vector<Row> table() {
    const ParserLimits small = small_limits();
    const std::string chunked = "Transfer-Encoding: chunked\r\n";
    return {
        {"simple GET", get_with(""), State::complete, 0},
        {"HTTP/1.0 without Host", "GET / HTTP/1.0\r\n\r\n", State::complete, 0},
        {"OPTIONS *", request_line_with_host("OPTIONS * HTTP/1.1"), State::complete, 0},
        {"absolute-form", request_line_with_host("GET http://a/b HTTP/1.1"), State::complete, 0},
        {"empty lines first", "\r\n\r\n" + get_with(""), State::complete, 0},
        {"fields", get_with("A: 1\r\nb:2\r\nC:  \t3 \r\n"), State::complete, 0},
        {"Content-Length body", post_with("Content-Length: 5\r\n", "hello"), State::complete, 0},
        {"Content-Length 0", post_with("Content-Length: 0\r\n", ""), State::complete, 0},
        {"chunked", post_with(chunked, "5\r\nhello\r\n1;e=\"v\"\r\n!\r\n0\r\n\r\n"),
         State::complete, 0},
        {"chunked with trailers", post_with(chunked, "1\r\nx\r\n0\r\nT: 1\r\n\r\n"),
         State::complete, 0},
        {"pipelined", get_with("") + get_with(""), State::complete, 0, {}, get_with("").size()},
        {"Content-Length, then more",
         post_with("Content-Length: 1\r\n", "xGET"),
         State::complete,
         0,
         {},
         3},
        {"chunked, then more", post_with(chunked, "0\r\n\r\nGET / HT"), State::complete, 0, {}, 8},
        {"expect continue", post_with("Expect: 100-continue\r\nContent-Length: 1\r\n", "x"),
         State::complete, 0},
        {"connection close", get_with("Connection: close\r\n"), State::complete, 0},
        {"header section at the limit",
         "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(96, 'v') + "\r\n\r\n", State::complete, 0,
         small},
        {"partial request line", "GET /ind", State::incomplete, 0},
        {"partial headers", "GET / HTTP/1.1\r\nHost: a\r\n", State::incomplete, 0},
        {"partial body", post_with("Content-Length: 5\r\n", "hel"), State::incomplete, 0},
        {"partial chunk", post_with(chunked, "5\r\nhel"), State::incomplete, 0},
        {"partial trailers", post_with(chunked, "0\r\nT: 1\r\n"), State::incomplete, 0},
        {"ends in CR", "GET / HTTP/1.1\r", State::incomplete, 0},
        {"method not a token", request_line_with_host("G@T / HTTP/1.1"), State::error, 400},
        {"unknown method", request_line_with_host("BREW / HTTP/1.1"), State::error, 501},
        {"lowercase method", request_line_with_host("get / HTTP/1.1"), State::error, 501},
        {"two spaces", request_line_with_host("GET  / HTTP/1.1"), State::error, 400},
        {"trailing space", request_line_with_host("GET / HTTP/1.1 "), State::error, 400},
        {"control char in target", request_line_with_host("GET /\x01 HTTP/1.1"), State::error, 400},
        {"* with GET", request_line_with_host("GET * HTTP/1.1"), State::error, 400},
        {"relative target", request_line_with_host("GET a HTTP/1.1"), State::error, 400},
        {"long target, no line end", "GET /" + std::string(40, 'a'), State::error, 414, small},
        {"long target, bad method", "G\x01T /" + std::string(40, 'a'), State::error, 414, small},
        {"HTTP/2.0", request_line_with_host("GET / HTTP/2.0"), State::error, 505},
        {"HTTP/3", request_line_with_host("GET / HTTP/3"), State::error, 505},
        {"HTTP/1", request_line_with_host("GET / HTTP/1"), State::error, 400},
        {"http/1.1", request_line_with_host("GET / http/1.1"), State::error, 400},
        {"bare CR", "GET / HTTP/1.1\rHost: a\r\n\r\n", State::error, 400},
        {"bare LF", "GET / HTTP/1.1\nHost: a\n\n", State::error, 400},
        {"bare LF ending headers", "GET / HTTP/1.1\r\nHost: a\r\n\n", State::error, 400},
        {"name not a token", get_with("A B: 1\r\n"), State::error, 400},
        {"space before colon", get_with("A : 1\r\n"), State::error, 400},
        {"no colon", get_with("ABC\r\n"), State::error, 400},
        {"obs-fold", get_with("A: 1\r\n 2\r\n"), State::error, 400},
        {"control char in value", get_with("A: \x1b[0m\r\n"), State::error, 400},
        {"too many fields", "GET / HTTP/1.1\r\nHost: a\r\nA: 1\r\nB: 2\r\nC: 3\r\nD: 4\r\n",
         State::error, 431, small},
        {"header section too large", "GET / HTTP/1.1\r\nHost: a\r\nX: " + std::string(200, 'v'),
         State::error, 431, small},
        {"request line too large", std::string(300, 'G'), State::error, 431, small},
        {"no Host", "GET / HTTP/1.1\r\n\r\n", State::error, 400},
        {"two Hosts", get_with("Host: b\r\n"), State::error, 400},
        {"bad Host", "GET / HTTP/1.1\r\nHost: a b\r\n\r\n", State::error, 400},
        {"bad Content-Length", post_with("Content-Length: -1\r\n", ""), State::error, 400},
        {"Content-Length list", post_with("Content-Length: 1, 1\r\n", "x"), State::error, 400},
        {"two Content-Length", post_with("Content-Length: 1\r\nContent-Length: 1\r\n", "x"),
         State::error, 400},
        {"huge Content-Length", post_with("Content-Length: 99999999999999999999\r\n", ""),
         State::error, 400},
        {"Content-Length over limit", post_with("Content-Length: 17\r\n", ""), State::error, 413,
         small},
        {"Content-Length and chunked", post_with("Content-Length: 5\r\n" + chunked, "0\r\n\r\n"),
         State::error, 400},
        {"gzip", post_with("Transfer-Encoding: gzip\r\n", ""), State::error, 400},
        {"gzip, chunked", post_with("Transfer-Encoding: gzip, chunked\r\n", ""), State::error, 501},
        {"chunked in HTTP/1.0", "POST / HTTP/1.0\r\n" + chunked + "\r\n0\r\n\r\n", State::error,
         400},
        {"bad chunk size", post_with(chunked, "g\r\n"), State::error, 400},
        {"bad chunk extension", post_with(chunked, "1;\r\nx\r\n0\r\n\r\n"), State::error, 400},
        {"no CRLF after chunk", post_with(chunked, "1\r\nxy"), State::error, 400},
        {"chunked over limit", post_with(chunked, "11\r\n"), State::error, 413, small},
        {"chunk-size line too long", post_with(chunked, "1;a=" + std::string(2000, 'x')),
         State::error, 400},
        {"chunk framing too large",
         post_with(chunked,
                   "1;a=" + std::string(900, 'x') + "\r\nb\r\n1;a=" + std::string(900, 'x')),
         State::error, 413, small},
        {"bad trailer", post_with(chunked, "0\r\nT : 1\r\n\r\n"), State::error, 400},
        {"trailers too large", post_with(chunked, "0\r\nT: " + std::string(200, 't')), State::error,
         431, small},
    };
}

TEST(RequestParser, TableRequestsGiveTheirExpectedOutcome) {
    for (const Row& row : table()) {
        const Outcome o = parse_whole(row.input, row.limits);
        EXPECT_EQ(o.state, row.state) << row.what << ": " << testing::PrintToString(o);
        if (row.state == State::error) {
            EXPECT_EQ(o.status, row.status) << row.what;
        }
        if (row.state == State::complete) {
            EXPECT_EQ(o.consumed, row.input.size() - row.after) << row.what;
        }
    }
}

TEST(RequestParser, ByteAtATimeEqualsWhole) {
    for (const Row& row : table()) {
        std::size_t fed = 0;
        const Outcome whole = parse_whole(row.input, row.limits);
        const Outcome bytewise = parse_byte_at_a_time(row.input, row.limits, &fed);
        EXPECT_EQ(whole, bytewise) << row.what;
        // A complete request is recognised at its last byte, not before, not after.
        if (whole.state == State::complete) {
            EXPECT_EQ(fed, whole.consumed) << row.what;
        }
    }
}

// ---- the request line alone (chapter 08's exercise) ----------------------------------------

TEST(RequestLine, SplitsIntoMethodTargetAndVersion) {
    const std::string_view line = "PATCH /items/7?dry=1 HTTP/1.0";
    Request request;
    const http_min::RequestLineResult result = parse_request_line(line, {}, request);
    ASSERT_TRUE(result.ok()) << result.status << " " << result.reason;
    EXPECT_EQ(request.method, "PATCH");
    EXPECT_EQ(request.target, "/items/7?dry=1");
    EXPECT_EQ(request.version_minor, 0);
    // Views into the line, not copies.
    EXPECT_EQ(request.method.data(), line.data());
    EXPECT_EQ(request.target.data(), line.data() + 6);
}

TEST(RequestLine, AnswersEachFaultWithItsStatus) {
    const ParserLimits limits = small_limits();  // max_target 16
    const std::vector<std::pair<std::string, int>> cases = {
        {"GET / HTTP/1.1", 0},
        {"OPTIONS * HTTP/1.1", 0},
        {"GET http://a.b/ HTTP/1.1", 0},
        {"GET HTTPS://a.b HTTP/1.1", 0},
        {"GET ftp://a.b/ HTTP/1.1", 400},
        {"GET http:///x HTTP/1.1", 400},
        {"GET /a#b HTTP/1.1", 400},
        {"GET /", 400},
        {"GET  / HTTP/1.1", 400},
        {"G=T / HTTP/1.1", 400},
        {"GET /a\x7f HTTP/1.1", 400},
        {"GET * HTTP/1.1", 400},
        {"GET /" + std::string(16, 'a') + " HTTP/1.1", 414},
        {"GET / HTTP/1.1 ", 400},
        {"GET / HTTP/1", 400},
        {"GET / HTTP/1.2", 0},
        {"GET /\xc3\xa9 HTTP/1.1", 400},
        {"GET / HTTP/2", 505},
        {"PUT / HTTP/1.1", 0},
        {"FETCH / HTTP/1.1", 501},
        // In the documented order: a bad version before an unknown method.
        {"FETCH / HTTP/2.0", 505},
        {"FETCH / HTTP/1", 400},
    };
    for (const auto& [line, status] : cases) {
        Request request;
        const http_min::RequestLineResult result = parse_request_line(line, limits, request);
        EXPECT_EQ(result.status, status) << "\"" << line << "\": " << result.reason;
        EXPECT_EQ(result.ok(), status == 0) << line;
        if (status != 0) {
            EXPECT_FALSE(result.reason.empty()) << line;
        }
    }
}

// Each line has two faults; the one checked first in request_line.hpp's order decides.
TEST(RequestLine, ChecksFaultsInTheDocumentedOrder) {
    const ParserLimits limits = small_limits();  // max_target 16
    const std::string long_target = "/" + std::string(16, 'a');
    const std::vector<std::pair<std::string, int>> cases = {
        {"G(T " + long_target + " HTTP/1.1", 400},    // not a token, before the length
        {"GET " + long_target + " HTTP/1", 414},      // the length, before the version
        {"GET " + long_target + " HTTP/2.0", 414},    // the length, before the version
        {"FETCH " + long_target + " HTTP/1.1", 414},  // the length, before the method
        {"GET * HTTP/2.0", 400},                      // the target, before the version
        {"GET ftp://a/ HTTP/2.0", 400},               // the target, before the version
        {"G(T / HTTP/2.0", 400},                      // not a token, before the version
        {"get / HTTP/2.0", 505},                      // the version, before the method
    };
    for (const auto& [line, status] : cases) {
        Request request;
        const http_min::RequestLineResult result = parse_request_line(line, limits, request);
        EXPECT_EQ(result.status, status) << "\"" << line << "\": " << result.reason;
    }
}

// The limit is inclusive: a target of exactly max_target bytes is fine.
TEST(RequestLine, TargetOfExactlyTheLimitIsAccepted) {
    const ParserLimits limits = small_limits();  // max_target 16
    const std::string line = "GET /" + std::string(15, 'a') + " HTTP/1.1";
    Request request;
    const http_min::RequestLineResult result = parse_request_line(line, limits, request);
    EXPECT_TRUE(result.ok()) << result.status << " " << result.reason;
}

}  // namespace
