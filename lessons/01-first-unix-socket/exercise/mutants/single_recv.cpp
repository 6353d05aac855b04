// Mutant: Receives once and echoes that, instead of looping until the end of the stream.
// Caught by: lesson01.Echo.EchoesEveryByteAndCountsThem

// The echo service, reference solution with one mistake.
#include "raw_sockets/echo.hpp"

#include <array>

namespace raw_sockets {

//! [echo]
std::size_t echo_until_eof(Socket& connection) {
    std::array<std::byte, 16 * 1024> buffer;
    std::size_t total = 0;
    for (;;) {
        const std::size_t received = connection.recv_some(buffer);
        connection.send_all(std::span(buffer).first(received));
        total += received;
        return total;  // one message in, one message out
    }
}
//! [echo]

}  // namespace raw_sockets
