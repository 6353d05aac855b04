// Mutant: The length limit is checked only after the payload buffer has been allocated, so a
// hostile length makes the receiver reserve up to 4 GiB.
// Caught by: lesson03.Frame.RefusesTooLargeBeforeReadingPayload
// Length-prefix framing: each message
// travels as a 4-byte big-endian length, then the bytes. Any payload works, newlines and NUL bytes
// included, and the receiver knows how much to expect before reading it. Chapter 03's exercise
// (lessons/03-framing/exercise/frame.cpp) replaces this file.
#include <array>
#include <cstdint>
#include <limits>
#include <stdexcept>

#include "raw_sockets/error.hpp"
#include "raw_sockets/framing.hpp"

namespace raw_sockets {

//! [frame]
void send_frame(Socket& socket, std::string_view payload) {
    if (payload.size() > std::numeric_limits<std::uint32_t>::max()) {
        throw std::length_error("send_frame: payload larger than 4 GiB");
    }
    const auto length = static_cast<std::uint32_t>(payload.size());
    const std::array<std::byte, 4> header = {std::byte(length >> 24), std::byte(length >> 16),
                                             std::byte(length >> 8), std::byte(length)};
    socket.send_all(header);
    socket.send_all(payload);
}

std::optional<std::string> recv_frame(Socket& socket, std::size_t max_size) {
    std::array<std::byte, 4> header;
    if (!socket.recv_exact(header)) return std::nullopt;  // clean end between messages
    std::uint32_t length = 0;
    for (const std::byte b : header) length = (length << 8) | std::to_integer<std::uint32_t>(b);
    std::string payload(length, '\0');
    if (length > max_size) {
        throw ProtocolError("recv(" + socket.name() + "): frame of " + std::to_string(length) +
                            " bytes exceeds the limit of " + std::to_string(max_size));
    }
    if (length > 0 && !socket.recv_exact(std::as_writable_bytes(std::span(payload)))) {
        throw ProtocolError("recv(" + socket.name() + "): peer closed after a frame header");
    }
    return payload;
}
//! [frame]

}  // namespace raw_sockets
