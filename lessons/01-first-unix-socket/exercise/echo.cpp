// Chapter 01 exercise: the heart of the echo server.
//
// Write echo_until_eof(): receive from `connection` and send every byte back, until the
// client ends its side of the stream (recv returns 0). Return how many bytes you echoed.
// It is bare_echo_server.cpp's echo() in the library's terms.
//
// Useful: connection.recv_some(buffer) returns how many bytes arrived (0 at the end);
//         connection.send_all(bytes) sends all of them.
// Check:  cmake --preset exercises -DCOURSE_EXERCISES=01 && cmake --build --preset exercises
//         ctest --preset exercises -L lesson01
#include <stdexcept>

#include "raw_sockets/echo.hpp"

namespace raw_sockets {

std::size_t echo_until_eof(Socket& connection) {
    (void)connection;
    // TODO(lesson01): loop: recv_some into a buffer; stop when it returns 0; send_all what
    // you received; count the bytes. Then delete this throw.
    throw std::logic_error(
        "TODO(lesson01): echo_until_eof() is not written yet: edit "
        "lessons/01-first-unix-socket/exercise/echo.cpp");
}

}  // namespace raw_sockets
