/// \file
/// \brief ChunkedDecoder: an incremental decoder of a chunked request body (RFC 9112
/// section 7.1).
///
/// The third of the request parser's three parts (RequestParser reads the head,
/// decide_framing() judges it). It is handed the bytes that follow the header section, as
/// RequestParser is handed a request: everything received so far, resumed where it stopped, so
/// that bytes fed one at a time decode as when fed whole. The decoded body is gathered in the
/// decoder, whose buffer reset() keeps: a server that reuses its decoder stops allocating once
/// the buffer is as large as its largest body.
///
/// Strict, like the rest of the parser: a size line is hex digits and well-formed extensions
/// (which are then ignored) ending with CRLF, at most 1 KiB long; the data is followed by
/// exactly CRLF; trailer fields are checked like header fields, then dropped. The body may not
/// pass `max_body` (413, answered at the size line of the chunk that would pass it), and the
/// framing around it (size lines and CRLFs) may not take more than `max_body` + 1 KiB (413),
/// so tiny chunks cannot make a client's request much larger than its body.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace http_min {

/// Decodes one chunked body at a time; reset() between bodies.
class ChunkedDecoder {
  public:
    /// What decode() concluded.
    enum class State {
        incomplete,  ///< valid so far; call again with more bytes
        complete,    ///< body() is the whole body; consumed() bytes belong to it
        error,       ///< error_status() says which status to answer; close after answering
    };

    /// A decoder for bodies of at most `max_body` bytes, with a trailer section of at most
    /// `max_trailer_bytes`.
    ChunkedDecoder(std::size_t max_body, std::size_t max_trailer_bytes) noexcept;

    /// Decodes `input`: every byte received from the body's first byte on (bytes already
    /// given may not change between calls, more may follow). The body ends with the empty
    /// line after the last chunk's trailer section; bytes after it are left alone.
    State decode(std::string_view input);

    /// The data of the chunks decoded so far; the whole body after State::complete.
    std::string_view body() const noexcept { return body_; }
    /// After State::complete: how many bytes of the input the chunked body took.
    std::size_t consumed() const noexcept { return consumed_; }
    /// After State::error: the status to answer: 400, 413 or 431.
    int error_status() const noexcept { return error_status_; }
    /// After State::error: a short reason for logs and the response body.
    std::string_view error_reason() const noexcept { return error_reason_; }

    /// Forgets the current body, ready for the next one (keeps the body's buffer).
    void reset() noexcept;

  private:
    // Where the decoder is: chunk = chunk-size [ chunk-ext ] CRLF chunk-data CRLF, then
    // last-chunk = 1*"0" [ chunk-ext ] CRLF, trailer-section, CRLF.
    enum class Phase : unsigned char { size_line, data, data_end, trailer_lines, done, failed };

    void begin_size_line() noexcept;
    State on_size_line(std::string_view line);
    State fail(int status, std::string_view reason) noexcept;

    std::size_t max_body_;
    std::size_t max_trailer_bytes_;
    std::string body_;  // capacity kept across bodies
    Phase phase_ = Phase::size_line;
    std::size_t pos_ = 0;         // first input byte not yet examined
    std::size_t line_start_ = 0;  // first byte of the current line (or of the data's CRLF)
    std::size_t line_limit_ = 0;  // a byte at this index or beyond, in this line, is too much
    int limit_status_ = 400;      // ... and is answered with this status and reason
    std::string_view limit_reason_;
    std::uint64_t chunk_left_ = 0;  // data bytes of the current chunk still to come
    std::size_t framing_ = 0;       // bytes of size lines and CRLFs so far
    std::size_t consumed_ = 0;
    int error_status_ = 0;
    std::string_view error_reason_;
};

}  // namespace http_min
