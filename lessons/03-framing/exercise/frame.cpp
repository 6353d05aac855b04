// Chapter 03 exercise: length-prefix framing.
//
// send_frame(): send the payload's length as 4 bytes, most significant first, then the
// payload. recv_frame(): read exactly 4 bytes (std::nullopt if the stream ended cleanly
// before them), decode the length, refuse a length above max_size with ProtocolError
// BEFORE allocating, then read exactly that many bytes (ProtocolError if the stream ends
// first). Socket::recv_exact() does the looping over short reads for you.
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
