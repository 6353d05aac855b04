// Creating, connecting and using sockets. The same code serves every address family: only
// the Address differs, which is chapter 02's point.
#include "raw_sockets/socket.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "internal.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

void Socket::wait_unless_stopped(short events, const char* operation) const {
    pollfd fds[2] = {{.fd = fd_.get(), .events = events, .revents = 0},
                     {.fd = stop_event_, .events = POLLIN, .revents = 0}};
    for (;;) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;  // most likely the stop signal itself: look again
            throw_errno("poll", name_);
        }
        if (fds[1].revents != 0) {
            throw SocketError(operation, name_, ECANCELED,
                              "the server is stopping and gave up on this peer");
        }
        if (fds[0].revents != 0) return;  // ready, or hung up or failed: the call will say
    }
}

std::size_t Socket::send_some(std::span<const std::byte> data) {
    for (;;) {
        // With a stop event, never block inside send(): wait in poll() for room or the stop,
        // then take what fits now (MSG_DONTWAIT), since a blocking send() would wait until
        // all of `data` is gone.
        int flags = 0;
        if (stop_event_ >= 0) {
            wait_unless_stopped(POLLOUT, "send");
            flags = MSG_DONTWAIT;
        }
        // MSG_NOSIGNAL: writing to a peer that has gone returns EPIPE instead of raising
        // SIGPIPE, whose default action would end the whole process (chapter 03).
        const ssize_t sent = ::send(fd_.get(), data.data(), data.size(), MSG_NOSIGNAL | flags);
        if (sent >= 0) return static_cast<std::size_t>(sent);
        if (errno == EAGAIN && stop_event_ >= 0) continue;  // beaten to the room: wait again
        if (errno != EINTR) throw_errno("send", name_);
    }
}

//! [send-all]
void Socket::send_all(std::span<const std::byte> data) {
    // A stream socket may accept only part of a large write; the rest is our job.
    while (!data.empty()) {
        data = data.subspan(send_some(data));
    }
}
//! [send-all]

void Socket::send_all(std::string_view text) {
    send_all(as_bytes(text));
}

std::size_t Socket::recv_some(std::span<std::byte> buffer) {
    for (;;) {
        int flags = 0;
        if (stop_event_ >= 0) {  // wait for data or the stop, whichever comes first
            wait_unless_stopped(POLLIN, "recv");
            flags = MSG_DONTWAIT;
        }
        const ssize_t received = ::recv(fd_.get(), buffer.data(), buffer.size(), flags);
        if (received >= 0) return static_cast<std::size_t>(received);
        if (errno == EAGAIN && stop_event_ >= 0) continue;
        if (errno != EINTR) throw_errno("recv", name_);
    }
}

//! [recv-exact]
bool Socket::recv_exact(std::span<std::byte> buffer) {
    std::size_t filled = 0;
    while (filled < buffer.size()) {
        const std::size_t received = recv_some(buffer.subspan(filled));
        if (received == 0) {
            if (filled == 0) return false;  // a clean end between messages
            throw ProtocolError("recv(" + name_ + "): peer closed after " + std::to_string(filled) +
                                " of " + std::to_string(buffer.size()) + " bytes");
        }
        filled += received;
    }
    return true;
}
//! [recv-exact]

std::optional<std::size_t> Socket::try_send(std::span<const std::byte> data, bool more) {
    const int flags = MSG_NOSIGNAL | (more ? MSG_MORE : 0);
    for (;;) {
        const ssize_t sent = ::send(fd_.get(), data.data(), data.size(), flags);
        if (sent >= 0) return static_cast<std::size_t>(sent);
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
        if (errno != EINTR) throw_errno("send", name_);
    }
}

std::optional<std::size_t> Socket::try_recv(std::span<std::byte> buffer) {
    for (;;) {
        const ssize_t received = ::recv(fd_.get(), buffer.data(), buffer.size(), 0);
        if (received >= 0) return static_cast<std::size_t>(received);
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
        if (errno != EINTR) throw_errno("recv", name_);
    }
}

void Socket::shutdown_write() {
    if (::shutdown(fd_.get(), SHUT_WR) != 0) throw_errno("shutdown", name_);
}

Fd internal::open_socket(const Address& address, int type) {
    const int fd = ::socket(address.family(), type | SOCK_CLOEXEC, 0);
    if (fd < 0) throw_errno("socket", address.to_string());
    return Fd(fd);
}

namespace {

using internal::open_socket;
using AddressGetter = int (*)(int, sockaddr*, socklen_t*);

Address query_address(int fd, AddressGetter getter, const char* what, const std::string& name) {
    sockaddr_storage storage{};
    socklen_t length = sizeof storage;
    if (getter(fd, reinterpret_cast<sockaddr*>(&storage), &length) != 0) throw_errno(what, name);
    return Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&storage), length);
}

Socket adopt_inherited_listener(const Address& address) {
    const std::string name = address.to_string();
    const int fd = address.inherited_fd();
    int listening = 0;
    socklen_t length = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length) != 0) {
        throw_errno("getsockopt(SO_ACCEPTCONN)", name);
    }
    if (!listening) throw SocketError("listen", name + ", a socket that is not listening", EINVAL);
    // Inherited descriptors arrive without close-on-exec; from here on we own this one.
    if (::fcntl(fd, F_SETFD, FD_CLOEXEC) != 0) throw_errno("fcntl(FD_CLOEXEC)", name);
    const Address bound = query_address(fd, ::getsockname, "getsockname", name);
    return Socket(Fd(fd), name + " (" + bound.to_string() + ")");
}

void enable_option(const Fd& fd, int level, int option, const char* what, const std::string& name) {
    const int on = 1;
    if (::setsockopt(fd.get(), level, option, &on, sizeof on) != 0) throw_errno(what, name);
}

}  // namespace

//! [listen-on]
Socket listen_on(const Address& address, const ListenOptions& options) {
    if (address.kind() == Address::Kind::inherited_fd) return adopt_inherited_listener(address);
    const std::string name = address.to_string();
    if (address.kind() == Address::Kind::unix_unnamed) throw SocketError("bind", name, EINVAL);
    if (address.kind() == Address::Kind::unix_path) {
        // Probe, replace only a stale file, set mode and group: see unix_listener.cpp.
        return Socket(internal::listen_unix_path(address, options), name);
    }

    Fd fd = open_socket(address, options.type);
    if (!address.is_unix() && options.reuse_address) {
        // Lets a restarted server bind its port while connections of the previous run
        // still sit in TIME_WAIT (chapter 02). Unix sockets have no TIME_WAIT.
        enable_option(fd, SOL_SOCKET, SO_REUSEADDR, "setsockopt(SO_REUSEADDR)", name);
    }
    if (address.family() == AF_INET6) {
        // [::]:80 then means IPv6 only, so that 0.0.0.0:80 can be bound beside it.
        enable_option(fd, IPPROTO_IPV6, IPV6_V6ONLY, "setsockopt(IPV6_V6ONLY)", name);
    }
    if (::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()) != 0) {
        throw_errno("bind", name);
    }
    if (options.type != SOCK_DGRAM && ::listen(fd.get(), options.backlog) != 0) {
        throw_errno("listen", name);
    }
    // Named after the address actually bound: port 0 becomes the port the kernel chose.
    const Address bound = query_address(fd.get(), ::getsockname, "getsockname", name);
    return Socket(std::move(fd), bound.to_string());
}
//! [listen-on]

Socket connect_to(const Address& address, int type) {
    const std::string name = address.to_string();
    if (address.kind() == Address::Kind::inherited_fd ||
        address.kind() == Address::Kind::unix_unnamed) {
        throw SocketError("connect", name + ", which is not an address one can connect to", EINVAL);
    }
    Fd fd = open_socket(address, type);
    if (::connect(fd.get(), address.sockaddr_data(), address.sockaddr_length()) != 0) {
        if (errno != EINTR) throw_errno("connect", name);
        // An interrupted connect() goes on in the background; calling it again would give
        // EALREADY. Wait until the socket is writable, then ask how it ended.
        pollfd waiting{.fd = fd.get(), .events = POLLOUT, .revents = 0};
        while (::poll(&waiting, 1, -1) < 0) {
            if (errno != EINTR) throw_errno("poll", name);
        }
        int error = 0;
        socklen_t length = sizeof error;
        if (::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &error, &length) != 0) {
            throw_errno("getsockopt(SO_ERROR)", name);
        }
        if (error != 0) throw SocketError("connect", name, error);
    }
    return Socket(std::move(fd), name);
}

//! [accept-connection]
std::optional<Socket> try_accept(const Socket& listener) {
    for (;;) {
        sockaddr_storage peer{};
        socklen_t length = sizeof peer;
        const int fd = ::accept4(listener.native_handle(), reinterpret_cast<sockaddr*>(&peer),
                                 &length, SOCK_CLOEXEC);
        if (fd >= 0) {
            Fd connection(fd);
            const Address from =
                Address::from_sockaddr(reinterpret_cast<const sockaddr*>(&peer), length);
            // A Unix client rarely binds, so its address is empty: name it by the listener.
            std::string name = from.kind() == Address::Kind::unix_unnamed
                                   ? listener.name() + " peer"
                                   : from.to_string();
            return Socket(std::move(connection), std::move(name));
        }
        if (errno == EAGAIN || errno == EWOULDBLOCK) return std::nullopt;
        // EINTR: a signal arrived. ECONNABORTED: a client gave up while it waited in the
        // queue. Neither is this server's failure, so wait for the next client.
        if (errno != EINTR && errno != ECONNABORTED) throw_errno("accept", listener.name());
    }
}

Socket accept_connection(const Socket& listener) {
    // On a blocking listener accept4() waits, so "nothing waiting" cannot happen.
    std::optional<Socket> connection = try_accept(listener);
    if (!connection) throw SocketError("accept", listener.name(), EAGAIN);
    return std::move(*connection);
}
//! [accept-connection]

void set_nonblocking(const Socket& socket) {
    const int flags = ::fcntl(socket.native_handle(), F_GETFL);
    if (flags < 0 || ::fcntl(socket.native_handle(), F_SETFL, flags | O_NONBLOCK) != 0) {
        throw_errno("fcntl(O_NONBLOCK)", socket.name());
    }
}

void set_tcp_nodelay(const Socket& socket) {
    const int on = 1;
    if (::setsockopt(socket.native_handle(), IPPROTO_TCP, TCP_NODELAY, &on, sizeof on) != 0) {
        throw_errno("setsockopt(TCP_NODELAY)", socket.name());
    }
}

std::pair<Socket, Socket> socket_pair(int type) {
    int fds[2];
    if (::socketpair(AF_UNIX, type | SOCK_CLOEXEC, 0, fds) != 0) throw_errno("socketpair", "unix");
    return {Socket(Fd(fds[0]), "pair:0"), Socket(Fd(fds[1]), "pair:1")};
}

Address local_address(const Socket& socket) {
    return query_address(socket.native_handle(), ::getsockname, "getsockname", socket.name());
}

Address peer_address(const Socket& socket) {
    return query_address(socket.native_handle(), ::getpeername, "getpeername", socket.name());
}

}  // namespace raw_sockets
