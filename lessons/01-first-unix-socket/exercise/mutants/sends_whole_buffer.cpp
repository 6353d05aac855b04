// Mutant: Sends the whole buffer back instead of only the bytes recv returned.
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
        if (received == 0) return total;  // the client shut down its sending side
        // recv() returns whatever has arrived, so echo exactly that many bytes.
        connection.send_all(buffer);
        total += received;
    }
}
//! [echo]

}  // namespace raw_sockets
