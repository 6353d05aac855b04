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

#include "http_min/access_log.hpp"
#include "http_min/request_parser.hpp"
#include "http_min/response.hpp"
#include "http_min/routes.hpp"
#include "raw_sockets/credentials.hpp"
#include "raw_sockets/epoll.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/serving.hpp"

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

// Received bytes not yet answered: bytes_[start_, end_). What the start offset buys: a read
// goes straight into the free space after end_, and an answered request only moves start_,
// so nothing is zero-filled, moved or allocated per request. (A plain std::string would
// need resize() before each read, zeroing 64 KiB every time, and erase() after each request,
// moving the pipelined rest.)
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

// Edge-triggered interest (EPOLLET) in one connection, and its bookkeeping. What it buys: no
// epoll_ctl per request. Level-triggered epoll reports a socket at every epoll_wait while
// bytes wait; edge-triggered reports each change once, so in the common request-response
// cycle the interest never changes and a keep-alive request costs one recv and one send.
// The price: work left undone when reading or sending stops early (bytes left in the
// socket, output the peer could not take) is announced by no new edge, so the connection
// must be re-armed: EPOLL_CTL_MOD makes epoll report its present state once more.
class EdgeTriggered {
  public:
    /// What a new connection is registered with.
    static constexpr std::uint32_t initial = EPOLLIN | EPOLLRDHUP | EPOLLET;

    /// A read starts: the edge that announced it is used up.
    void reading() { unread_ = false; }
    /// Reading stopped with bytes possibly left in the socket.
    void stopped_reading_early() { unread_ = true; }
    /// After an event: `wanted` is what the connection needs now (EPOLLIN, EPOLLOUT...).
    /// Calls epoll_ctl only when that changed, or to re-arm after work left undone.
    void settle(raw_sockets::Epoll& epoll, int fd, std::uint32_t wanted) {
        wanted |= EPOLLET;
        const bool left_undone = unread_ || (wanted & EPOLLOUT) != 0;
        if (wanted != watched_ || left_undone) {
            epoll.modify(fd, wanted);
            watched_ = wanted;
        }
    }

  private:
    std::uint32_t watched_ = initial;  // what epoll is watching for
    bool unread_ = false;  // reading stopped with bytes maybe left that no new edge announces
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
    EdgeTriggered interest;
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
        epoll_.add(stop_.event_fd(), EPOLLIN);
        for (Socket& listener : listeners_) raw_sockets::set_nonblocking(listener);
        watch_listeners();
    }

    void run() {
        std::array<epoll_event, 128> ready;
        while (!stopping_ || !connections_.empty()) {
            // Wake at least once a second to enforce the request timeout.
            const auto events = epoll_.wait(ready, 1000);  // a signal: no events
            now_ = Clock::now();
            for (const epoll_event& event : events) dispatch(event);
            log_.flush();  // never blocks: lines that find no room are dropped and counted
            // The sweep visits every connection: under load, once per batch would cost more
            // than the requests themselves. A tenth of a second is precise enough.
            if (now_ >= next_sweep_) {
                enforce_timeouts();
                next_sweep_ = now_ + std::chrono::milliseconds(100);
            }
        }
    }

  private:
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
        while (auto client = acceptor_.accept(listener)) {
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
            epoll_.add(fd, EdgeTriggered::initial);
        }
        // Out of descriptors (chapter 04's Acceptor): stop watching the listeners until a
        // connection closes, or the readable listeners would make epoll_wait spin.
        if (acceptor_.paused()) unwatch_listeners();
    }

    void watch_listeners() {
        if (listening_ || stopping_) return;
        for (Socket& listener : listeners_) {
            // EPOLLEXCLUSIVE: of the workers waiting on this listener, one is woken per
            // connection, not all of them (no thundering herd). It forbids EPOLL_CTL_MOD,
            // so a pause removes the listener and a resume adds it again.
            if (listener) epoll_.add(listener.native_handle(), EPOLLIN | EPOLLEXCLUSIVE);
        }
        listening_ = true;
    }

    void unwatch_listeners() {
        if (!listening_) return;
        for (Socket& listener : listeners_) {
            if (listener) epoll_.remove(listener.native_handle());
        }
        listening_ = false;
    }

    // A connection closed: a descriptor is free again.
    void connection_closed() {
        if (acceptor_.resume()) watch_listeners();
    }

    // Connections are edge-triggered (EdgeTriggered above), so read until the socket is
    // empty: EAGAIN, or a short read (it took everything queued; bytes that come later are a
    // new edge). After a hangup, read on to the end of the stream, which no later event would
    // announce. Stopping earlier (output piling up) must be reported to `interest`.
    void read_from(Connection& connection, bool hangup) {
        connection.interest.reading();
        try {
            while (!connection.closing && !connection.peer_done) {
                if (connection.out.size() >= max_pending_output) {
                    connection.interest.stopped_reading_early();  // settle() re-arms it
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
                // A refused HEAD still gets no content (RFC 9110 section 9.3.2). The method is
                // known once the request line was good; until then it is empty.
                const bool head_only = connection.parser.request().method == "HEAD";
                response.write(status, "text/plain", body, false, head_only);
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
        std::uint32_t wanted = 0;
        if (!connection.closing && !connection.peer_done &&
            connection.out.size() < max_pending_output) {
            wanted |= EPOLLIN | EPOLLRDHUP;
        }
        if (connection.sending()) wanted |= EPOLLOUT;
        connection.interest.settle(epoll_, found->first, wanted);
    }

    void close(std::unordered_map<int, std::unique_ptr<Connection>>::iterator found) {
        connections_.erase(found);  // closing the socket also removes it from epoll
        connection_closed();
    }

    void begin_stop() {
        stopping_ = true;  // from here on, watch_listeners() does nothing
        epoll_.remove(stop_.event_fd());
        unwatch_listeners();
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
                connection_closed();
            } else {
                ++it;
            }
        }
    }

    // The method and the target are the client's bytes: escaped, so that a client can
    // neither forge a field or a line nor send terminal escapes to whoever reads the log.
    void log(const Connection& connection, const Request& request, int status) {
        log_.text(connection.peer.label).text(" \"").escaped(request.method).text(" ");
        log_.escaped(request.target).text(" HTTP/1.").number(request.version_minor);
        log_.text("\" ").number(status).end_line();
    }

    void log(const Connection& connection, const char* what, int status) {
        log_.text(connection.peer.label).text(" \"").text(what).text("\" ").number(status);
        log_.end_line();
    }

    std::span<Socket> listeners_;
    const Config& config_;
    const raw_sockets::StopSignals& stop_;
    AccessLog log_;  // this worker's own: bounded, written without blocking
    Site site_;
    std::optional<StaticFiles> files_;
    raw_sockets::Epoll epoll_;
    raw_sockets::Acceptor acceptor_;  // chapter 04's policy for running out of descriptors
    std::unordered_map<int, std::unique_ptr<Connection>> connections_;
    Clock::time_point now_ = Clock::now();
    Clock::time_point next_sweep_{};  // when enforce_timeouts() is due
    bool stopping_ = false;
    bool listening_ = false;  // the listeners are in the epoll set
};

}  // namespace

void run_worker(std::span<Socket> listeners, const Config& config,
                const raw_sockets::StopSignals& stop, std::FILE* access_log) {
    Worker(listeners, config, stop, access_log).run();
}

}  // namespace http_min
