// Chapter 04 exercise: the connection logic of the event-driven echo servers.
//
// echo_poll and echo_epoll call on_readable() when a client's socket is readable (or hung
// up) and on_writable() when it is writable. The socket is non-blocking, so:
//   on_readable(): while wants_read(), try_recv() into a buffer no larger than the room left
//     in pending_ (max_pending_ - pending_.size()), so pending_ never holds more than
//     max_pending_ bytes and a client that sends without reading cannot make the server
//     hoard memory; std::nullopt (EAGAIN) means nothing more for now, NOT the end of the
//     stream; 0 means the peer ended its stream (set peer_done_); append what arrived to
//     pending_. Then call on_writable() to start sending it back.
//   on_writable(): while wants_write(), try_send(pending_); std::nullopt means the peer's
//     buffer is full (stop, poll will say when to go on); erase exactly the bytes sent (a
//     short send takes only part: the rest waits for the next call).
// After peer_done_, what pending_ still holds is still sent: a client that half-closed
// (shutdown(SHUT_WR)) reads its whole echo, and finished() only then becomes true.
// A SocketError with ECONNRESET, EPIPE or ETIMEDOUT means the client vanished: set failed_
// instead of throwing, so the server goes on with its other clients. Any other error is
// the server's own bug: let it propagate.
//
// Check:  scripts/exercise 04   (stuck? scripts/exercise 04 --hint)
#include <stdexcept>

#include "raw_sockets/echo.hpp"

namespace raw_sockets {

EchoConnection::EchoConnection(Socket socket, std::size_t max_pending)
    : socket_(std::move(socket)), max_pending_(max_pending) {}

bool EchoConnection::wants_read() const noexcept {
    return !failed_ && !peer_done_ && pending_.size() < max_pending_;
}

void EchoConnection::on_readable() {
    // TODO(lesson04): read what has arrived into pending_, then call on_writable().
    throw std::logic_error(
        "TODO(lesson04): EchoConnection::on_readable() is not written yet: edit "
        "lessons/04-many-clients/exercise/echo_connection.cpp");
}

void EchoConnection::on_writable() {
    // TODO(lesson04): send what pending_ holds until it is empty or try_send() says EAGAIN.
    throw std::logic_error(
        "TODO(lesson04): EchoConnection::on_writable() is not written yet: edit "
        "lessons/04-many-clients/exercise/echo_connection.cpp");
}

}  // namespace raw_sockets
