// Chapter 03 exercise: length-prefix framing.
//
// send_frame(): send the payload's length as 4 bytes, most significant first, then the
// payload. A payload a 4-byte length cannot count (more than 4294967295 bytes) is refused with
// std::length_error before anything is sent, not even the header.
//
// recv_frame(), in this order:
// 1. read exactly 4 bytes: std::nullopt if the stream ended cleanly before the first of
//    them, ProtocolError if it ended inside them;
// 2. decode the length; if it is above max_size (a frame of exactly max_size is fine),
//    throw ProtocolError BEFORE allocating or reading any payload, with a message that
//    names both numbers in decimal and says "exceeds the limit", such as
//    "recv(NAME): frame of 4294967295 bytes exceeds the limit of 1024" (NAME:
//    socket.name()); chapter 03's frame_server prints it when it drops a client;
// 3. read exactly that many bytes, and throw ProtocolError if the stream ends first, even
//    right after the header (an empty frame, length 0, is a valid message: return "").
// Socket::recv_exact() does the looping over short reads for you, and throws ProtocolError
// itself when the stream ends part way through its buffer; it returns false when the
// stream ended before its first byte.
//
// Check:  scripts/exercise 03   (stuck? scripts/exercise 03 --hint)
#include <stdexcept>

#include "raw_sockets/error.hpp"
#include "raw_sockets/framing.hpp"

namespace raw_sockets {

void send_frame(Socket& socket, std::string_view payload) {
    (void)socket;
    (void)payload;
    // TODO(lesson03): the 4-byte big-endian length, then the payload.
    throw std::logic_error(
        "TODO(lesson03): send_frame() is not written yet: edit "
        "lessons/03-framing/exercise/frame.cpp");
}

std::optional<std::string> recv_frame(Socket& socket, std::size_t max_size) {
    (void)socket;
    (void)max_size;
    // TODO(lesson03): header with recv_exact, length check, then the payload.
    throw std::logic_error(
        "TODO(lesson03): recv_frame() is not written yet: edit "
        "lessons/03-framing/exercise/frame.cpp");
}

}  // namespace raw_sockets
