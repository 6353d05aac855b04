/// \file
/// \brief Socket, and the calls that make one: listen_on(), connect_to(), accept_connection().
///
/// Every function here works for every address form, which is what lets the Unix and the TCP
/// versions of a program be one program. Every descriptor is created close-on-exec, so a
/// child started with exec() inherits none by accident.
#pragma once

#include <sys/socket.h>
#include <sys/types.h>

#include <chrono>
#include <cstddef>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include "raw_sockets/address.hpp"
#include "raw_sockets/fd.hpp"

namespace raw_sockets {

/// A socket descriptor together with the name used in its error messages.
///
/// The I/O calls are members so that a failure can say which socket failed:
/// `send(unix:/tmp/a.sock): EPIPE (Broken pipe)`.
class Socket {
  public:
    /// An empty Socket.
    Socket() = default;
    /// Takes ownership of `fd`; `name` is how errors will refer to it.
    Socket(Fd fd, std::string name) : fd_(std::move(fd)), name_(std::move(name)) {}

    /// The descriptor number (still owned by this Socket).
    int native_handle() const noexcept { return fd_.get(); }
    /// The owned descriptor.
    const Fd& fd() const noexcept { return fd_; }
    /// The name used in error messages: an address, or an address and a role.
    const std::string& name() const noexcept { return name_; }
    /// True when this holds a descriptor.
    explicit operator bool() const noexcept { return static_cast<bool>(fd_); }

    /// One send() with MSG_NOSIGNAL, retried on EINTR. Returns how many bytes the kernel
    /// took, which may be fewer than offered.
    std::size_t send_some(std::span<const std::byte> data);
    /// Sends every byte, looping over short writes. A closed peer gives SocketError(EPIPE),
    /// never a SIGPIPE that would kill the process.
    void send_all(std::span<const std::byte> data);
    /// send_all() for text.
    void send_all(std::string_view text);

    /// One recv(), retried on EINTR. Returns the number of bytes read; 0 means the peer
    /// will send no more (end of stream).
    std::size_t recv_some(std::span<std::byte> buffer);
    /// Fills `buffer` completely, looping over short reads. Returns false if the stream ended
    /// before the first byte; throws ProtocolError if it ended part way.
    bool recv_exact(std::span<std::byte> buffer);

    /// Non-blocking send (chapter 04): the number of bytes the kernel took, or std::nullopt
    /// when its buffer is full (EAGAIN) and the caller should wait for writability.
    /// `more` (TCP): more bytes follow at once (MSG_MORE), so the kernel holds a partial
    /// segment back for them instead of sending it alone; the next send without `more`
    /// (or a sendfile() that ends) lets it go.
    std::optional<std::size_t> try_send(std::span<const std::byte> data, bool more = false);
    /// Non-blocking recv (chapter 04): bytes read (0 at end of stream), or std::nullopt when
    /// nothing has arrived yet (EAGAIN).
    std::optional<std::size_t> try_recv(std::span<std::byte> buffer);

    /// Half-close: tells the peer we will send no more (it reads end of stream) while we
    /// can still receive its answer.
    void shutdown_write();
    /// Closes now rather than at destruction.
    void close() noexcept { fd_.reset(); }

    /// Makes this socket's blocking calls (send_some(), send_all(), recv_some(),
    /// recv_exact()) give up when `event_fd` becomes readable, such as
    /// StopSignals::event_fd(): each then waits with poll() for the socket and the event
    /// together, and throws SocketError(ECANCELED) if the event comes first. An iterative
    /// server uses it so that a client that sends nothing, or stops mid-message, cannot
    /// hold up its stop (chapter 04). -1, the default, waits for the socket alone.
    void set_stop_event(int event_fd) noexcept { stop_event_ = event_fd; }

  private:
    /// With a stop event: waits until the socket reports `events` (POLLIN, POLLOUT), or
    /// throws SocketError(ECANCELED) for `operation` once the stop event is readable.
    void wait_unless_stopped(short events, const char* operation) const;

    Fd fd_;
    std::string name_;
    int stop_event_ = -1;  // not owned
};

/// Options for listen_on().
struct ListenOptions {
    int type = SOCK_STREAM;     ///< SOCK_STREAM, or SOCK_SEQPACKET / SOCK_DGRAM over Unix
    int backlog = SOMAXCONN;    ///< queue of connections not yet accepted
    bool reuse_address = true;  ///< SO_REUSEADDR on TCP: rebind while old connections linger
    /// Unix paths: the socket file's permission bits, set before listen() (chapters 05, 06).
    /// Connecting needs write permission, so 0660 admits the owner and the group.
    mode_t unix_mode = 0660;
    /// Unix paths: the socket file's group (a name), set before listen(); empty keeps the
    /// process's group.
    std::string unix_group{};
};

/// How long listen_on() tries for the lock on a Unix socket's directory (see listen_on())
/// before it gives up with an error that names the directory.
inline constexpr std::chrono::seconds directory_lock_wait{5};

/// socket(), bind() and listen() on `address` (for SOCK_DGRAM, no listen()). For `fd:N`,
/// adopts the inherited descriptor after checking that it is a listening socket.
/// Throws SocketError naming the call that failed and the address.
///
/// For a Unix path it is careful about what is already there (chapter 05): nothing →
/// bind; a stale socket file (connect refused) → replace it; a live server's socket → refuse;
/// anything that is not a socket (a file, a directory, a symbolic link) → refuse and touch
/// nothing. Two servers racing for one path are serialised by a lock on the directory, so
/// exactly one wins. That lock is never waited for without end: after directory_lock_wait,
/// or at once on a stop signal (StopSignals), listen_on() throws SocketError naming
/// `flock` and the directory. The file is created under a umask that keeps it private, then given
/// `unix_mode` and `unix_group` before listen(): no client ever sees looser permissions.
Socket listen_on(const Address& address, const ListenOptions& options = {});

/// socket() and connect() to `address`, retrying EINTR. Throws SocketError; a Unix path
/// with no server behind it gives ECONNREFUSED (stale file) or ENOENT (no file).
Socket connect_to(const Address& address, int type = SOCK_STREAM);

/// Accepts one connection, retrying EINTR and ECONNABORTED (a client that gave up while
/// queued is not the server's error). The result is named after the peer.
Socket accept_connection(const Socket& listener);

/// Accepts one connection if one is waiting, std::nullopt if none is (EAGAIN on a
/// non-blocking listener). Retries EINTR and ECONNABORTED like accept_connection().
std::optional<Socket> try_accept(const Socket& listener);

/// Puts the socket in non-blocking mode: calls that would wait fail with EAGAIN instead,
/// which try_send(), try_recv() and try_accept() report as std::nullopt.
void set_nonblocking(const Socket& socket);

/// Turns off Nagle's algorithm on a TCP socket (TCP_NODELAY): small writes go out at once
/// instead of waiting for the peer to acknowledge the previous ones, which a peer that
/// delays its ACKs (most do, by up to 40 ms) makes every short response wait for.
void set_tcp_nodelay(const Socket& socket);

/// A connected pair of Unix sockets of `type` (socketpair()), named "pair:0" and "pair:1".
std::pair<Socket, Socket> socket_pair(int type = SOCK_STREAM);

/// The address the socket is bound to (getsockname()): how a server learns the port that
/// port 0 picked.
Address local_address(const Socket& socket);

/// The address of the connected peer (getpeername()).
Address peer_address(const Socket& socket);

/// Bytes of text as the std::byte span the I/O calls take.
inline std::span<const std::byte> as_bytes(std::string_view text) noexcept {
    return std::as_bytes(std::span(text.data(), text.size()));
}

}  // namespace raw_sockets
