/// \file
/// \brief decide_framing(): what a request's header fields mean for its body and its
/// connection (RFC 9110, RFC 9112), as a pure function of the parsed head.
///
/// This is the second of the request parser's three parts: RequestParser reads the head (the
/// request line and the header fields), decide_framing() judges it, and a ChunkedDecoder reads
/// a chunked body. The judgement needs no bytes and no state, only the fields and the version,
/// so every rule can be tested alone: tests/unit/lesson08_framing_test.cpp has one row per
/// rule, each naming its section of RFC 9110 or RFC 9112.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

namespace http_min {

/// One header field as received: the name keeps its case, the value has no surrounding
/// whitespace.
struct Header {
    std::string_view name;   ///< field name, as sent
    std::string_view value;  ///< field value, leading and trailing spaces and tabs removed
};

/// How the request's body is framed (RFC 9112 section 6).
enum class BodyFraming {
    none,            ///< no body
    content_length,  ///< exactly content_length bytes
    chunked,         ///< Transfer-Encoding: chunked
};

/// What decide_framing() concluded: either an error to answer (then close the connection,
/// since where this request ends is in doubt), or how to read the body and what to do with
/// the connection afterwards.
struct FramingDecision {
    int status = 0;           ///< 0 if the request may proceed, else 400, 413 or 501
    std::string_view reason;  ///< for an error: a short reason (a string literal)
    BodyFraming framing = BodyFraming::none;  ///< how the body is delimited
    std::uint64_t content_length = 0;         ///< for BodyFraming::content_length
    std::string_view host;         ///< the Host field's value; empty, with no data, if none
    bool keep_alive = true;        ///< the connection persists after this request
    bool expect_continue = false;  ///< the client waits for "100 Continue" before the body

    /// True if the request may proceed.
    bool ok() const noexcept { return status == 0; }
};

/// Decides, from a request's header fields and its HTTP version (1.`version_minor`), how its
/// body is framed and what it asks of the connection. The checks, in this order (the first
/// fault is the answer, so a request with several faults always gets the same one):
/// - Host (RFC 9112 section 3.2): 400 for more than one, for none in HTTP/1.1, for an invalid
///   value;
/// - Transfer-Encoding (RFC 9112 section 6.1): 400 in HTTP/1.0, 400 with Content-Length
///   (request smuggling), 400 if malformed or not ending with chunked (section 6.3), 400 for
///   chunked twice, 501 for any coding before chunked (only chunked is implemented);
/// - Content-Length (RFC 9110 section 8.6): 400 for a repeat (even identical) or a list, for
///   anything but digits, for a value over 64 bits; 413 over `max_body`;
/// - Connection (RFC 9112 section 9.3): HTTP/1.1 persists unless "close"; HTTP/1.0 only with
///   "keep-alive" (and without "close");
/// - Expect (RFC 9110 section 10.1.1): "100-continue" in HTTP/1.1 sets expect_continue; other
///   expectations, and any in HTTP/1.0, are ignored.
///
/// Field names are compared case-insensitively, as are the tokens "chunked", "close",
/// "keep-alive" and "100-continue". The returned views point into `fields`' values.
FramingDecision decide_framing(std::span<const Header> fields, int version_minor,
                               std::uint64_t max_body) noexcept;

}  // namespace http_min
