/// \file
/// \brief Putting message boundaries back on a byte stream: lines, and length prefixes.
///
/// A stream socket delivers bytes, not messages: two sends may arrive in one recv(), and
/// one send in several. Framing is the rule both sides agree on to find where a message
/// ends (chapter 03).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// Longest length-prefixed message recv_frame() accepts unless told otherwise (1 MiB).
inline constexpr std::size_t default_max_frame = std::size_t{1} << 20;

/// Sends `payload` preceded by its length as 4 bytes, most significant byte first.
/// Throws std::length_error if the payload does not fit in 32 bits.
void send_frame(Socket& socket, std::string_view payload);

/// Receives one message sent by send_frame(). Returns std::nullopt if the stream ended
/// cleanly before a new message; throws ProtocolError if it ended inside one or if the
/// announced length exceeds `max_size` (checked before allocating anything).
std::optional<std::string> recv_frame(Socket& socket, std::size_t max_size = default_max_frame);

/// Sends `line` followed by '\n'. Throws std::invalid_argument if `line` contains '\n'.
void send_line(Socket& socket, std::string_view line);

/// Reads '\n'-terminated lines from a socket, buffering what arrives past the newline.
class LineReader {
  public:
    /// Reads from `socket`, which must outlive the reader; lines longer than `max_line`
    /// bytes are refused with ProtocolError rather than buffered without end.
    explicit LineReader(Socket& socket, std::size_t max_line = 64 * 1024)
        : socket_(socket), max_line_(max_line) {}

    /// The next line without its '\n'. std::nullopt when the stream ends between lines;
    /// ProtocolError when it ends inside one or the line is too long.
    std::optional<std::string> read_line();

  private:
    Socket& socket_;
    std::size_t max_line_;
    std::string buffer_;  // bytes received but not yet returned
};

}  // namespace raw_sockets
