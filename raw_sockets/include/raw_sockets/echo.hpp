/// \file
/// \brief The echo service: send back every byte received.
#pragma once

#include <cstddef>
#include <string>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// Sends back every byte received on `connection` until the peer ends the stream, then
/// returns the number of bytes echoed. (Chapter 01's exercise.)
std::size_t echo_until_eof(Socket& connection);

/// One client of an event-driven echo server (chapter 04): a non-blocking socket and the
/// bytes received from it that have not been sent back yet.
///
/// An event loop must never block on one client, so a write that the kernel takes only in
/// part leaves the rest here until the socket is writable again. The buffer is bounded:
/// when it is full the connection stops reading, so a client that sends without reading
/// slows itself down (its own sends block) instead of growing the server's memory.
class EchoConnection {
  public:
    /// Takes `socket`, which must be non-blocking; buffers at most `max_pending` bytes.
    explicit EchoConnection(Socket socket, std::size_t max_pending = 256 * 1024);

    /// The connection's socket, for the event loop's interest set.
    const Socket& socket() const noexcept { return socket_; }
    /// Call when the socket is readable (or reports hang-up or error): reads what has
    /// arrived, then tries to send it back.
    void on_readable();
    /// Call when the socket is writable: sends what is waiting.
    void on_writable();
    /// True while the loop should watch for input: the peer has not ended its stream and
    /// the buffer has room.
    bool wants_read() const noexcept;
    /// True while bytes wait to be sent.
    bool wants_write() const noexcept { return !failed_ && !pending_.empty(); }
    /// True when the loop should close the connection: everything is echoed and the peer
    /// has ended its stream, or the peer vanished (reset, broken pipe).
    bool finished() const noexcept { return failed_ || (peer_done_ && pending_.empty()); }

  private:
    Socket socket_;
    std::string pending_;  // received, not yet sent back
    std::size_t max_pending_;
    bool peer_done_ = false;  // recv() returned 0
    bool failed_ = false;     // the peer reset the connection or stopped reading for good
};

}  // namespace raw_sockets
