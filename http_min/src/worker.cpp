// The worker's event loop: non-blocking sockets on epoll, one Connection per client, bounded
// buffers, no allocation per request once a connection is warm. The same shape as chapter
// 04's echo_epoll, with HTTP in the middle.
#include "http_min/worker.hpp"

#include <sys/epoll.h>
#include <sys/sendfile.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "http_min/request_parser.hpp"
#include "http_min/response.hpp"
#include "http_min/routes.hpp"
#include "raw_sockets/credentials.hpp"
#include "raw_sockets/error.hpp"

namespace http_min {

namespace {

using Clock = std::chrono::steady_clock;
using raw_sockets::Socket;
using raw_sockets::SocketError;

// Stop reading from a client whose responses pile up unread (pipelining without reading):
// it slows itself down instead of growing our memory.
constexpr std::size_t max_pending_output = 1024 * 1024;
constexpr std::size_t read_chunk = 64 * 1024;
// A read is only started with at least this much free space (else the buffer is compacted
// or grown first): smaller reads would cost more system calls for the same bytes.
constexpr std::size_t min_read_space = 16 * 1024;

// Received bytes not yet answered: bytes_[start_, end_). A read goes straight into the free
// space after end_, and an answered request only moves start_: nothing is zero-filled or
// moved per request (std::string::resize before each read would zero 64 KiB every time,
// and erase() would move the pipelined rest).
class InputBuffer {
  public:
    InputBuffer() : bytes_(read_chunk, '\0') {}

    /// The bytes not yet consumed, starting with the first byte of the current request.
    std::string_view pending() const { return {bytes_.data() + start_, end_ - start_}; }
    bool empty() const { return start_ == end_; }

    /// Free space to read into, at least min_read_space bytes; then commit() what arrived.
    std::span<std::byte> space() {
        if (bytes_.size() - end_ < min_read_space) {
            // Rarely (a request split across reads near the end): move the pending bytes
            // to the front, and grow only if that does not free enough.
            std::memmove(bytes_.data(), bytes_.data() + start_, end_ - start_);
            end_ -= start_;
            start_ = 0;
            if (bytes_.size() - end_ < min_read_space) bytes_.resize(end_ + read_chunk);
        }
        return std::as_writable_bytes(std::span(bytes_)).subspan(end_);
    }
    void commit(std::size_t received) { end_ += received; }
    /// Forgets the first `count` pending bytes (an answered request).
    void consume(std::size_t count) {
        start_ += count;
        if (start_ == end_) start_ = end_ = 0;  // the common case: all answered, start over
    }

  private:
    std::string bytes_;  // its size is the capacity in use; only [start_, end_) is meaningful
    std::size_t start_ = 0;
    std::size_t end_ = 0;
};

struct Connection {
    Socket socket;
    Peer peer;
    InputBuffer in;   // received, not yet parsed into a finished request
    std::string out;  // responses not yet sent
    RequestParser parser;
    bool continue_sent = false;  // "100 Continue" answered for the current request
    bool closing = false;        // close once `out` is sent (error, Connection: close, stop)
    bool peer_done = false;      // the client ended its side
    raw_sockets::Fd file;        // a static file body to send after `out` (sendfile)
    off_t file_offset = 0;
    std::uint64_t file_left = 0;
    std::uint32_t watched = EPOLLIN | EPOLLRDHUP | EPOLLET;  // what epoll is watching for
    bool unread = false;  // reading stopped with bytes maybe left that no new edge will announce
    Clock::time_point request_started{};  // first byte of the current request; {} if none

    Connection(Socket s, Peer p) : socket(std::move(s)), peer(std::move(p)) {
        out.reserve(16 * 1024);
    }
    bool idle() const { return in.empty() && out.empty() && !file; }
    bool sending() const { return !out.empty() || static_cast<bool>(file); }
};

Peer describe_peer(const Socket& socket) {
    Peer peer;
    const raw_sockets::Address local = raw_sockets::local_address(socket);
    if (local.is_unix()) {
        peer.is_unix = true;
        peer.credentials = raw_sockets::peer_credentials(socket);
        peer.label = "unix " + raw_sockets::to_string(peer.credentials);
    } else {
        const raw_sockets::Address remote = raw_sockets::peer_address(socket);
        const std::string text = remote.to_string();  // "1.2.3.4:80" or "[::1]:80"
        peer.port = remote.port();
        peer.ip = text.substr(0, text.rfind(':'));
        if (peer.ip.starts_with('[')) peer.ip = peer.ip.substr(1, peer.ip.size() - 2);
        peer.label = text;
    }
    return peer;
}

class Worker {
  public:
    Worker(std::span<Socket> listeners, const Config& config, const raw_sockets::StopSignals& stop,
           std::FILE* access_log)
        : listeners_(listeners), config_(config), stop_(stop), log_(access_log) {
        site_.forwarded_allow = config.forwarded_allow;
        site_.worker_pid = ::getpid();
        if (config.root) {
            files_.emplace(*config.root);
            site_.files = &*files_;
        }
        epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
        if (!epoll_) raw_sockets::throw_errno("epoll_create1", "http_min");
        watch(stop_.event_fd(), EPOLLIN);
        for (Socket& listener : listeners_) {
            raw_sockets::set_nonblocking(listener);
            // EPOLLEXCLUSIVE: of the workers waiting on this listener, one is woken per
            // connection, not all of them (no thundering herd).
            watch(listener.native_handle(), EPOLLIN | EPOLLEXCLUSIVE);
        }
    }

    void run() {
        std::array<epoll_event, 128> ready;
        while (!stopping_ || !connections_.empty()) {
            // Wake at least once a second to enforce the request timeout.
            const int count = ::epoll_wait(epoll_.get(), ready.data(), ready.size(), 1000);
            if (count < 0) {
                if (errno == EINTR) continue;
                raw_sockets::throw_errno("epoll_wait", "http_min");
            }
            now_ = Clock::now();
            for (const epoll_event& event : std::span(ready).first(count)) dispatch(event);
            if (log_ != nullptr) std::fflush(log_);
            // The sweep visits every connection: under load, once per batch would cost more
            // than the requests themselves. A tenth of a second is precise enough.
            if (now_ >= next_sweep_) {
                enforce_timeouts();
                next_sweep_ = now_ + std::chrono::milliseconds(100);
            }
        }
    }

  private:
    void watch(int fd, std::uint32_t events) {
        epoll_event event{.events = events, .data = {.fd = fd}};
        if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, fd, &event) != 0) {
            raw_sockets::throw_errno("epoll_ctl", "fd:" + std::to_string(fd));
        }
    }

    void rewatch(int fd, std::uint32_t events) {
        epoll_event event{.events = events, .data = {.fd = fd}};
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_MOD, fd, &event);
    }

    void dispatch(const epoll_event& event) {
        const int fd = event.data.fd;
        if (fd == stop_.event_fd()) {
            begin_stop();
            return;
        }
        for (Socket& listener : listeners_) {
            if (listener && fd == listener.native_handle()) {
                accept_all(listener);
                return;
            }
        }
        const auto found = connections_.find(fd);
        if (found == connections_.end()) return;  // closed earlier in this batch
        Connection& connection = *found->second;
        if (event.events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
            read_from(connection, (event.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) != 0);
        }
        if (connection.sending()) flush(connection);
        settle(found);
    }

    void accept_all(const Socket& listener) {
        try {
            while (auto client = raw_sockets::try_accept(listener)) {
                raw_sockets::set_nonblocking(*client);
                const int fd = client->native_handle();
                Peer peer;
                try {
                    peer = describe_peer(*client);
                } catch (const SocketError&) {
                    continue;  // reset before we could ask who it was (ENOTCONN): drop it
                }
                auto connection = std::make_unique<Connection>(std::move(*client), std::move(peer));
                connections_.emplace(fd, std::move(connection));
                watch(fd, EPOLLIN | EPOLLRDHUP | EPOLLET);
            }
        } catch (const SocketError& error) {
            if (!raw_sockets::out_of_descriptors(error)) throw;
            // Stop watching the listeners until a connection closes (chapter 04): a
            // readable listener we cannot accept from would make epoll_wait spin.
            pause_accepting();
        }
    }

    void pause_accepting() {
        if (accepting_paused_) return;
        for (Socket& listener : listeners_) {
            if (listener)
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener.native_handle(), nullptr);
        }
        accepting_paused_ = true;
    }

    void resume_accepting() {
        if (!accepting_paused_ || stopping_) return;
        for (Socket& listener : listeners_) {
            if (listener) watch(listener.native_handle(), EPOLLIN | EPOLLEXCLUSIVE);
        }
        accepting_paused_ = false;
    }

    // Connections are watched edge-triggered (EPOLLET): epoll reports a socket once each time
    // bytes arrive, not again and again while bytes wait (level-triggered epoll re-checks
    // every reported socket at the next epoll_wait, which costs as much again). So read until
    // the socket is empty: EAGAIN, or a short read (it took everything queued; bytes that
    // come later are a new edge). After a hangup, read on to the end of the stream, which no
    // later event would announce.
    void read_from(Connection& connection, bool hangup) {
        connection.unread = false;
        try {
            while (!connection.closing && !connection.peer_done) {
                if (connection.out.size() >= max_pending_output) {
                    connection.unread = true;  // settle() asks epoll to report it again
                    break;
                }
                const bool was_empty = connection.in.empty();
                const std::span<std::byte> space = connection.in.space();
                const auto received = connection.socket.try_recv(space);
                if (!received) break;  // EAGAIN
                if (*received == 0) {
                    connection.peer_done = true;
                    break;
                }
                connection.in.commit(*received);
                if (was_empty && connection.request_started == Clock::time_point{}) {
                    connection.request_started = now_;
                }
                process(connection);
                // A short read emptied the socket's queue: asking again would only cost a
                // system call that ends in EAGAIN.
                if (*received < space.size() && !hangup) break;
            }
        } catch (const SocketError&) {
            // A reset or a vanished client ends this connection only.
            connection.closing = true;
            connection.out.clear();
        }
    }

    // Answers every complete request in `in` (several when pipelined), in order.
    void process(Connection& connection) {
        // A file still being sent must go before the next pipelined response.
        while (!connection.closing && !connection.in.empty() && !connection.file) {
            const RequestParser::State state = connection.parser.parse(connection.in.pending());
            ResponseWriter response(connection.out);
            if (state == RequestParser::State::incomplete) {
                const Request& partial = connection.parser.request();
                if (connection.parser.headers_complete() && partial.expect_continue &&
                    !connection.continue_sent) {
                    response.write_continue();
                    connection.continue_sent = true;
                }
                return;
            }
            if (state == RequestParser::State::error) {
                // The framing is in doubt: answer, then close.
                const int status = connection.parser.error_status();
                std::string body(connection.parser.error_reason());
                body += '\n';
                response.write(status, "text/plain", body, false);
                log(connection, "-", status);
                connection.closing = true;
                return;
            }
            const Request& request = connection.parser.request();
            const bool keep_alive = request.keep_alive && !stopping_;
            // HTTP/1.0 closes by default: a kept connection must be announced.
            response.announce_keep_alive(request.version_minor == 0);
            Routed routed = route(request, connection.peer, site_, response, keep_alive);
            log(connection, request, routed.status);
            if (routed.file) {
                connection.file = std::move(routed.file);
                connection.file_offset = 0;
                connection.file_left = routed.file_size;
            }
            connection.in.consume(connection.parser.consumed());
            connection.parser.reset();
            connection.continue_sent = false;
            connection.request_started = connection.in.empty() ? Clock::time_point{} : now_;
            if (!keep_alive) connection.closing = true;
        }
    }

    void flush(Connection& connection) {
        try {
            std::size_t sent_total = 0;
            while (sent_total < connection.out.size()) {
                const auto sent = connection.socket.try_send(
                    raw_sockets::as_bytes(connection.out).subspan(sent_total));
                if (!sent) break;  // EAGAIN: wait for EPOLLOUT
                sent_total += *sent;
            }
            connection.out.erase(0, sent_total);
            if (connection.out.empty() && connection.file) send_file(connection);
        } catch (const SocketError&) {
            connection.closing = true;
            connection.out.clear();
            connection.file.reset();
        }
        // Input held back while output piled up can be parsed now.
        if (!connection.closing && !connection.file && connection.out.size() < max_pending_output &&
            !connection.in.empty()) {
            process(connection);
        }
    }

    //! [sendfile]
    // The file goes from the page cache to the socket in the kernel: no copy through us.
    void send_file(Connection& connection) {
        while (connection.file_left > 0) {
            const ssize_t sent = ::sendfile(connection.socket.native_handle(),
                                            connection.file.get(), &connection.file_offset,
                                            std::min<std::uint64_t>(connection.file_left, 1 << 20));
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && errno == EAGAIN) return;  // resume on EPOLLOUT
            if (sent < 0) raw_sockets::throw_errno("sendfile", connection.socket.name());
            if (sent == 0) break;  // the file shrank under us: the response is cut short
            connection.file_left -= static_cast<std::uint64_t>(sent);
        }
        if (connection.file_left > 0) connection.closing = true;  // promised bytes are missing
        connection.file.reset();
    }
    //! [sendfile]

    // After an event: close a finished connection, or watch for what it needs next.
    void settle(std::unordered_map<int, std::unique_ptr<Connection>>::iterator found) {
        Connection& connection = *found->second;
        // Once the client has ended its side and everything answerable has been answered
        // (flush() parses what was held back), what is left is a request that can never
        // complete: no reason to keep the connection, nor to make a shutdown wait for it.
        const bool done_reading = connection.peer_done;
        if ((connection.closing || done_reading || (stopping_ && connection.idle())) &&
            !connection.sending()) {
            close(found);
            return;
        }
        std::uint32_t events = EPOLLET;
        if (!connection.closing && !connection.peer_done &&
            connection.out.size() < max_pending_output) {
            events |= EPOLLIN | EPOLLRDHUP;
        }
        if (connection.sending()) events |= EPOLLOUT;
        // Only when the interest changes: in the common request-response cycle it does not,
        // and an epoll_ctl per request would cost as much as the read. Edge-triggered epoll
        // reports changes only, so work left undone (bytes not read, output not sent) needs
        // it too: EPOLL_CTL_MOD makes epoll report the socket's present state once more.
        if (events != connection.watched || connection.unread || connection.sending()) {
            rewatch(found->first, events);
            connection.watched = events;
        }
    }

    void close(std::unordered_map<int, std::unique_ptr<Connection>>::iterator found) {
        connections_.erase(found);  // closing the socket also removes it from epoll
        resume_accepting();
    }

    void begin_stop() {
        stopping_ = true;
        ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, stop_.event_fd(), nullptr);
        for (Socket& listener : listeners_) {
            if (listener && !accepting_paused_) {
                ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, listener.native_handle(), nullptr);
            }
        }
        accepting_paused_ = true;
        // Idle keep-alive connections have nothing in flight: close them now.
        for (auto it = connections_.begin(); it != connections_.end();) {
            if (it->second->idle()) {
                it = connections_.erase(it);
            } else {
                it->second->closing = it->second->closing || it->second->in.empty();
                ++it;
            }
        }
    }

    // A request whose bytes started arriving more than request_timeout ago is cut off.
    void enforce_timeouts() {
        for (auto it = connections_.begin(); it != connections_.end();) {
            Connection& connection = *it->second;
            const bool waiting = connection.request_started != Clock::time_point{};
            if (waiting && now_ - connection.request_started > config_.request_timeout) {
                log(connection, "-", 408);
                it = connections_.erase(it);
                resume_accepting();
            } else {
                ++it;
            }
        }
    }

    void log(const Connection& connection, const Request& request, int status) {
        if (log_ == nullptr) return;
        std::fprintf(log_, "%s \"%.*s %.*s HTTP/1.%d\" %d\n", connection.peer.label.c_str(),
                     static_cast<int>(request.method.size()), request.method.data(),
                     static_cast<int>(request.target.size()), request.target.data(),
                     request.version_minor, status);
    }

    void log(const Connection& connection, const char* what, int status) {
        if (log_ != nullptr) {
            std::fprintf(log_, "%s \"%s\" %d\n", connection.peer.label.c_str(), what, status);
        }
    }

    std::span<Socket> listeners_;
    const Config& config_;
    const raw_sockets::StopSignals& stop_;
    std::FILE* log_;
    Site site_;
    std::optional<StaticFiles> files_;
    raw_sockets::Fd epoll_;
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    Clock::time_point now_ = Clock::now();
    Clock::time_point next_sweep_{};  // when enforce_timeouts() is due
    bool stopping_ = false;
    bool accepting_paused_ = false;
};

}  // namespace

void run_worker(std::span<Socket> listeners, const Config& config,
                const raw_sockets::StopSignals& stop, std::FILE* access_log) {
    Worker(listeners, config, stop, access_log).run();
}

}  // namespace http_min
