// Chapter 01 exercise: the heart of the echo server.
//
// Write echo_until_eof(): receive from `connection` and send every byte back, until the
// client ends its side of the stream (recv returns 0). Return how many bytes you echoed.
// It is bare_echo_server.cpp's echo() in the library's terms.
//
// The tests check that:
// - every byte comes back unchanged and in order, for 1 MiB as for one line: a recv()
//   shorter than your buffer is not the end, only a return of 0 is;
// - only the bytes received are sent back (not the whole buffer);
// - nothing is lost when a signal cuts a blocked send() short: send everything;
// - the return value counts the bytes echoed (0 when the client sends nothing).
//
// Useful: connection.recv_some(buffer) returns how many bytes arrived (0 at the end);
//         connection.send_all(bytes) sends all of them (send_some() may send fewer).
// Check:  scripts/exercise 01   (stuck? scripts/exercise 01 --hint)
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
