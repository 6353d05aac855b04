/// \file
/// \brief RequestParser: an incremental, strict HTTP/1.1 request parser (RFC 9110, RFC 9112).
///
/// The parser is in three parts, split where the protocol splits (as picohttpparser and nginx
/// split theirs): RequestParser reads the head, the request line (parse_request_line(),
/// request_line.hpp) and the header fields; decide_framing() (framing.hpp), a pure function,
/// judges what the fields mean for the body and the connection; a ChunkedDecoder
/// (chunked_decoder.hpp) reads a chunked body. RequestParser drives all three.
///
/// The parser never copies the request line or headers: it returns views into the caller's
/// buffer, and keeps the headers in a fixed array, so parsing a request without a chunked body
/// allocates nothing (a chunked body is decoded into the parser, whose buffer reset() keeps).
/// It is incremental: call parse() with everything received so far for the current request;
/// feeding a request one byte at a time gives the same result as feeding it whole, and costs
/// no more than once over each byte.
///
/// Where RFC 9112 leaves a choice it takes the strict one: lines end with CRLF (a bare LF or
/// CR is 400); the framing rules are decide_framing()'s; the 414 and 431 limits are answered
/// as soon as they are passed, without waiting for the line's end.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>

#include "http_min/chunked_decoder.hpp"
#include "http_min/framing.hpp"

namespace http_min {

/// A parsed request. Views point into the buffer given to RequestParser::parse() (and, for
/// a chunked body, into the parser): valid until that buffer changes or the parser is reset.
struct Request {
    std::string_view method;          ///< e.g. "GET"
    std::string_view target;          ///< request-target as sent, e.g. "/static/a.css?x=1"
    int version_minor = 1;            ///< 1 for HTTP/1.1, 0 for HTTP/1.0
    std::span<const Header> headers;  ///< in the order received
    std::string_view host;            ///< the Host header's value (may be empty for HTTP/1.0)
    bool keep_alive = true;           ///< persistent after this request (version and Connection)
    bool expect_continue = false;     ///< "Expect: 100-continue" was sent
    BodyFraming framing = BodyFraming::none;  ///< how the body is delimited
    std::uint64_t content_length = 0;         ///< for BodyFraming::content_length
    std::string_view body;                    ///< the whole body, once the request is complete

    /// The first header named `name` (compared case-insensitively), or an empty view.
    std::string_view header(std::string_view name) const noexcept;
};

/// Limits that bound what a client can make the server hold.
struct ParserLimits {
    std::size_t max_target = 8 * 1024;         ///< longer request-target: 414
    std::size_t max_header_bytes = 16 * 1024;  ///< longer request line + header section: 431
    std::size_t max_headers = 64;              ///< more header fields: 431 (64 at most)
    std::size_t max_body = 1024 * 1024;        ///< larger body (declared or received): 413
};

/// Incremental request parser. One instance per connection; reset() between requests.
class RequestParser {
  public:
    /// What parse() concluded.
    enum class State {
        incomplete,  ///< valid so far; call again with more bytes
        complete,    ///< request() is ready; consumed() bytes belong to it
        error,       ///< error_status() says which 4xx/5xx to answer; close after answering
    };

    /// The most header fields a parser can hold: ParserLimits::max_headers may not be larger.
    static constexpr std::size_t header_capacity = 64;

    /// A parser with the given limits. Throws std::invalid_argument if
    /// `limits.max_headers` is larger than #header_capacity.
    explicit RequestParser(const ParserLimits& limits = {});

    /// Parses `input`: all bytes received for the current request so far, starting with its
    /// first byte (bytes already given may not change between calls, more may follow).
    /// Bytes after the end of this request (a pipelined next request) are left alone.
    State parse(std::string_view input);

    /// True once the request line and headers are parsed (even if the body is still to
    /// come): the moment to answer "Expect: 100-continue".
    bool headers_complete() const noexcept;
    /// The request; complete after State::complete, headers only after headers_complete().
    const Request& request() const noexcept { return request_; }
    /// After State::complete: how many bytes of the input the request used.
    std::size_t consumed() const noexcept { return consumed_; }
    /// After State::error: the status to answer: 400, 413, 414, 431, 501 or 505.
    int error_status() const noexcept { return error_status_; }
    /// After State::error: a short reason for logs and the response body.
    std::string_view error_reason() const noexcept { return error_reason_; }

    /// Forgets the current request, ready for the next one (keeps allocated capacity).
    void reset() noexcept;

  private:
    // Where the parser is in the request. Each byte is examined once, in order, and every
    // decision is taken at a definite byte: so any split of the input gives the same result.
    enum class Phase : unsigned char {
        request_line,    // before the request line's LF (empty lines before it are skipped)
        header_lines,    // field lines, up to the empty line
        body_by_length,  // waiting for Content-Length bytes
        chunked_body,    // chunked_ decodes the bytes from body_start_ on
        done,            // complete
        failed,          // error_status_ says why
    };
    // A part of the input, as offsets: the caller's buffer may move between calls (a
    // std::string that grows), so views are rebuilt from these when it does.
    struct Slice {
        std::size_t offset = 0;
        std::size_t size = 0;
    };
    struct FieldSlices {
        Slice name;
        Slice value;
    };

    State run(std::string_view input);
    bool next_line(std::string_view input, std::string_view& line);
    bool target_too_long(std::string_view input, std::size_t from, std::size_t to) noexcept;
    void begin_line(std::size_t start) noexcept;
    State on_request_line(std::string_view input, std::string_view line);
    State on_header_line(std::string_view input, std::string_view line);
    State finish_headers(std::string_view input);
    State finish(std::size_t end) noexcept;
    State fail(int status, std::string_view reason) noexcept;
    State state_now() const noexcept;
    void rebase(std::string_view input) noexcept;

    ParserLimits limits_;
    Request request_;
    std::array<Header, header_capacity> header_storage_{};  // views published in request_.headers
    std::array<FieldSlices, header_capacity> field_slices_{};  // the same fields, as offsets
    ChunkedDecoder chunked_;  // its body buffer's capacity is reused across requests
    std::size_t consumed_ = 0;
    int error_status_ = 0;
    std::string_view error_reason_;

    Phase phase_ = Phase::request_line;
    bool headers_done_ = false;
    std::uintptr_t base_ = 0;       // input.data() the views point into
    std::size_t pos_ = 0;           // first input byte not yet examined
    std::size_t line_start_ = 0;    // first byte of the line being read
    std::size_t target_start_ = 0;  // request line: first target byte (0: no SP seen yet)
    bool target_done_ = false;      // request line: the byte after the target has been seen
    Slice method_;
    Slice target_;
    std::size_t field_count_ = 0;
    Slice host_;  // the Host field's value, if has_host_
    bool has_host_ = false;
    std::size_t body_start_ = 0;
};

}  // namespace http_min
