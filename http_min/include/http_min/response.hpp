/// \file
/// \brief Writing HTTP/1.1 responses into a connection's output buffer, without allocating.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace http_min {

/// Appends `value` in decimal to `out` (std::to_chars: no locale, no allocation beyond `out`).
void append_number(std::string& out, std::uint64_t value);

/// "OK", "Not Found", ... for the statuses http_min sends; "Unknown" otherwise.
std::string_view reason_phrase(int status) noexcept;

/// The current time as an HTTP date ("Tue, 24 Nov 2026 06:12:56 GMT"), formatted at most
/// once a second per thread.
std::string_view http_date();

/// Appends responses to `out`. The buffer's capacity is reused from request to request, so
/// a response costs no allocation once the connection is warm.
class ResponseWriter {
  public:
    /// Writes into `out`, which must outlive the writer.
    explicit ResponseWriter(std::string& out) : out_(out) {}

    /// A whole response with a body. `head_only` (HEAD requests) sends the headers the body
    /// would have, Content-Length included, and no body.
    /// `extra_headers` are preformatted lines, each ending in CRLF ("Allow: GET\r\n").
    void write(int status, std::string_view content_type, std::string_view body, bool keep_alive,
               bool head_only = false, std::string_view extra_headers = {});
    /// Only the status line and headers, for a body that follows separately (sendfile).
    void write_head(int status, std::string_view content_type, std::uint64_t length,
                    bool keep_alive, std::string_view extra_headers = {});
    /// "HTTP/1.1 100 Continue": the client may send the body it announced.
    void write_continue();
    /// Send "Connection: keep-alive" with responses that keep the connection (HTTP/1.0
    /// clients, which otherwise wait for the close).
    void announce_keep_alive(bool announce) noexcept { announce_keep_alive_ = announce; }

  private:
    std::string& out_;
    bool announce_keep_alive_ = false;
};

}  // namespace http_min
