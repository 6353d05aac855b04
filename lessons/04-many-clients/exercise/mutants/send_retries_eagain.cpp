// Mutant: on_writable() retries at once when try_send() says EAGAIN instead of returning to the
// loop, so one client that stops reading keeps the server spinning and every other client waits.
// Caught by: lesson04.test_lesson04_many_clients.py::test_a_client_that_does_not_read_does_not_block_the_others[echo_poll]
// EchoConnection: one client of an event-driven echo server (chapter 04). Chapter 04's
// exercise (lessons/04-many-clients/exercise/echo_connection.cpp) replaces this file.
#include <algorithm>
#include <array>
#include <cerrno>

#include "raw_sockets/echo.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

// A client that resets its connection or disappears is an everyday event for a server,
// not an error in the server: the connection ends, the server goes on.
bool peer_vanished(const SocketError& error) {
    const int code = error.code().value();
    return code == ECONNRESET || code == EPIPE || code == ETIMEDOUT;
}

}  // namespace

EchoConnection::EchoConnection(Socket socket, std::size_t max_pending)
    : socket_(std::move(socket)), max_pending_(max_pending) {}

bool EchoConnection::wants_read() const noexcept {
    return !failed_ && !peer_done_ && pending_.size() < max_pending_;
}

//! [on-readable]
void EchoConnection::on_readable() {
    std::array<std::byte, 16 * 1024> buffer;
    try {
        while (wants_read()) {
            const std::size_t room = std::min(buffer.size(), max_pending_ - pending_.size());
            const auto received = socket_.try_recv(std::span(buffer).first(room));
            if (!received) break;  // EAGAIN: nothing more for now
            if (*received == 0) {
                peer_done_ = true;  // end of stream: echo what is left, then close
                break;
            }
            pending_.append(reinterpret_cast<const char*>(buffer.data()), *received);
        }
    } catch (const SocketError& error) {
        if (!peer_vanished(error)) throw;
        failed_ = true;
        return;
    }
    on_writable();
}
//! [on-readable]

void EchoConnection::on_writable() {
    try {
        while (wants_write()) {
            const auto sent = socket_.try_send(as_bytes(pending_));
            if (!sent) continue;  // EAGAIN: the peer's buffer is full; try again
            pending_.erase(0, *sent);
        }
    } catch (const SocketError& error) {
        if (!peer_vanished(error)) throw;
        failed_ = true;
    }
}

}  // namespace raw_sockets
