// Mutant: Stops when recv returns less than a full buffer, taking a short read for the end.
// Caught by: lesson01.test_lesson01_echo.py::test_server_serves_clients_one_after_another

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
        if (received < buffer.size()) {  // a short read taken for the end of the stream
            connection.send_all(std::span(buffer).first(received));
            return total + received;
        }
        // recv() returns whatever has arrived, so echo exactly that many bytes.
        connection.send_all(std::span(buffer).first(received));
        total += received;
    }
}
//! [echo]

}  // namespace raw_sockets
