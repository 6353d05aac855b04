// The worker's event loop: non-blocking sockets on epoll, one Connection per client, bounded
// buffers, no allocation per request once a connection is warm. The same shape as chapter
// 04's echo_epoll, with HTTP in the middle.
//
// Every connection is timed and bounded, because a client may be careless or hostile:
// - waiting for a request: --request-timeout from accept() or the end of the previous
//   response until the whole request (head and body) is in; a partial one gets a 408;
// - idle between requests: --keepalive-timeout without a byte;
// - sending: --send-timeout without progress (a client that stopped reading);
// - stopping: --graceful-timeout after SIGTERM, then whatever is left is closed;
// - memory: nothing is read from a client while its answers wait to be sent, at most
//   max_pending_output of answers is produced ahead, and an idle connection holds no buffer.
#include "http_min/worker.hpp"

#include <malloc.h>
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
#include <vector>

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

// Answers are produced only while less than this waits to be sent: a client that pipelines
// without reading gets at most this much (plus one answer) buffered for it, and nothing more
// is read from it until that has drained. It slows itself down instead of growing our memory.
constexpr std::size_t max_pending_output = 64 * 1024;
constexpr std::size_t read_chunk = 64 * 1024;
// A read is only started with at least this much free space (else the buffer is compacted
// or grown first): smaller reads would cost more system calls for the same bytes.
constexpr std::size_t min_read_space = 16 * 1024;
// The output buffer a workspace starts with; one that grew past twice the cap is not reused.
constexpr std::size_t output_reserve = 16 * 1024;
// Spare workspaces a worker keeps for the next requests (each about 85 KiB).
constexpr std::size_t max_spare_workspaces = 16;

// The lingering close (RFC 9112 section 9.6). A server that closes while the client may still
// be sending (an early 413, any error, a Connection: close with more pipelined behind it)
// must not close at once: the client's unread bytes would make our kernel send a reset, and
// the client's kernel would throw the answer away before the client read it. So the server
// half-closes (shutdown(SHUT_WR): the client reads the answer, then the end), reads and
// discards what still comes until the client closes too, and then closes. Bounded: at most
// linger_quiet without a byte, linger_total in all, and linger_max_bytes discarded.
constexpr auto linger_quiet = std::chrono::seconds(2);
constexpr auto linger_total = std::chrono::seconds(10);
constexpr std::uint64_t linger_max_bytes = 16 * 1024 * 1024;
// Paused accepting for want of descriptors: how often the sweep tries again anyway.
constexpr auto accept_retry_interval = std::chrono::seconds(1);

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
    /// How much memory it holds: more than read_chunk after a large request.
    std::size_t capacity() const { return bytes_.size(); }

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
    /// Forgets every pending byte.
    void clear() { start_ = end_ = 0; }

  private:
    std::string bytes_;  // its size is the capacity in use; only [start_, end_) is meaningful
    std::size_t start_ = 0;
    std::size_t end_ = 0;
};

// What a connection needs only while a request is in progress: the bytes received, the
// parser, the answers not yet sent. An idle keep-alive connection holds none of it, so it
// costs a few hundred bytes rather than a workspace's 85 KiB; the worker keeps a few spare
// workspaces (WorkspacePool), so a request still allocates nothing.
struct Workspace {
    InputBuffer in;  // received, not yet parsed into a finished request
    RequestParser parser;
    std::string out;             // answers not yet sent
    bool continue_sent = false;  // "100 Continue" answered for the current request
    bool grown = false;          // a large chunked body grew the parser's buffer

    Workspace() { out.reserve(output_reserve); }
    /// False once a large request or answer grew a buffer: then it is freed, not kept.
    bool small() const {
        return !grown && in.capacity() <= read_chunk && out.capacity() <= 2 * max_pending_output;
    }
    /// Ready for another connection's request.
    void clear() {
        in.clear();
        parser.reset();
        out.clear();
        continue_sent = false;
    }
};

// The spare workspaces of one worker: taken when a connection starts reading a request,
// given back when it goes idle. A pool of a few is enough, since a worker serves one
// connection at a time: only connections in the middle of a request hold one.
class WorkspacePool {
  public:
    WorkspacePool() { spare_.reserve(max_spare_workspaces); }

    std::unique_ptr<Workspace> take() {
        if (spare_.empty()) return std::make_unique<Workspace>();
        std::unique_ptr<Workspace> workspace = std::move(spare_.back());
        spare_.pop_back();
        return workspace;
    }
    /// Keeps `workspace` for a later request, or frees it (enough are spare, or it grew).
    /// Returns true if memory was freed that the worker may give back to the kernel.
    bool give_back(std::unique_ptr<Workspace> workspace) {
        if (spare_.size() < max_spare_workspaces && workspace->small()) {
            workspace->clear();
            spare_.push_back(std::move(workspace));
            return false;
        }
        return true;  // the unique_ptr frees it here
    }

  private:
    std::vector<std::unique_ptr<Workspace>> spare_;
};

// Edge-triggered interest (EPOLLET) in one connection. What it buys: no epoll_ctl per
// request. Level-triggered epoll reports a socket at every epoll_wait while bytes wait;
// edge-triggered reports each change once, so in the common request-response cycle the
// interest never changes and a keep-alive request costs one recv and one send.
// The price: an edge is reported once, so the loop must never leave work undone that no new
// edge would announce. Worker::serve() keeps to that: it sends until EAGAIN (then EPOLLOUT
// brings it back), and reads until EAGAIN or a short read, except while output waits, and
// output that waits is always followed by an EPOLLOUT event after which reading resumes.
class EdgeTriggered {
  public:
    /// What a new connection is registered with.
    static constexpr std::uint32_t initial = EPOLLIN | EPOLLRDHUP | EPOLLET;

    /// After an event: `wanted` is what the connection needs now (EPOLLIN, EPOLLOUT...).
    /// Calls epoll_ctl only when that changed.
    void settle(raw_sockets::Epoll& epoll, int fd, std::uint32_t wanted) {
        wanted |= EPOLLET;
        if (wanted != watched_) {
            epoll.modify(fd, wanted);
            watched_ = wanted;
        }
    }

  private:
    std::uint32_t watched_ = initial;  // what epoll is watching for
};

struct Connection {
    Socket socket;
    Peer peer;
    std::unique_ptr<Workspace> work;  // while a request is in progress; null while idle
    raw_sockets::Fd file;             // a static file body to send after `out` (sendfile)
    off_t file_offset = 0;
    std::uint64_t file_left = 0;
    EdgeTriggered interest;
    bool closing = false;    // no more requests: once the output is sent, a lingering close
    bool peer_done = false;  // the client ended its side
    bool hangup = false;     // epoll reported the end (read on to it: no new edge will come)
    bool finished = false;   // close at once: a reset, or the lingering close is over
    bool lingering = false;  // half-closed, discarding input until the client closes
    bool served = false;     // answered a request: being idle now counts as keep-alive
    bool answered = false;   // an answer is on its way: its end restarts the request timer
    // The clocks enforce_timeouts() reads, each for one state of the connection.
    Clock::time_point waiting_since;    // accept(), or the end of the previous answer
    Clock::time_point last_progress;    // sending: when output last moved
    Clock::time_point lingering_since;  // lingering: since when, and the last byte thrown away
    Clock::time_point last_input;
    std::uint64_t discarded = 0;  // lingering: bytes thrown away

    Connection(Socket s, Peer p, Clock::time_point now)
        : socket(std::move(s)), peer(std::move(p)), waiting_since(now) {}
    /// Bytes of a request not yet complete (or held back behind pending output).
    bool has_input() const { return work && !work->in.empty(); }
    bool sending() const { return (work && !work->out.empty()) || static_cast<bool>(file); }
    bool idle() const { return !has_input() && !sending() && !lingering; }
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
            // Wake now and then to enforce the timeouts.
            const auto events = epoll_.wait(ready, connections_.empty() ? 1000 : 250);
            now_ = Clock::now();
            for (const epoll_event& event : events) dispatch(event);
            log_.flush();  // never blocks: lines that find no room are dropped and counted
            // The sweep visits every connection: under load, once per batch would cost more
            // than the requests themselves. A tenth of a second is precise enough.
            if (now_ >= next_sweep_) {
                enforce_timeouts();
                give_memory_back();
                retry_paused_accept();
                next_sweep_ = now_ + std::chrono::milliseconds(100);
            }
            // --graceful-timeout: the connections still open are closed with the worker.
            if (stopping_ && now_ >= stop_deadline_) break;
        }
    }

  private:
    using Connections = std::unordered_map<int, std::unique_ptr<Connection>>;

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
        if (event.events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR)) connection.hangup = true;
        if (connection.lingering) {
            discard_input(connection);
        } else {
            serve(connection);
        }
        settle(found);
    }

    void accept_all(const Socket& listener) {
        while (auto client = acceptor_.accept(listener)) {
            raw_sockets::set_nonblocking(*client);
            const int fd = client->native_handle();
            Peer peer;
            try {
                peer = describe_peer(*client);
                // Small answers must not wait for the client's ACK of the previous segment
                // (Nagle's algorithm against delayed ACKs: 40 ms each).
                if (!peer.is_unix) raw_sockets::set_tcp_nodelay(*client);
            } catch (const SocketError&) {
                continue;  // reset before we could ask who it was (ENOTCONN): drop it
            }
            auto connection =
                std::make_unique<Connection>(std::move(*client), std::move(peer), now_);
            connections_.emplace(fd, std::move(connection));
            epoll_.add(fd, EdgeTriggered::initial);
        }
        // Out of descriptors (chapter 04's Acceptor): stop watching the listeners until a
        // connection closes, or the readable listeners would make epoll_wait spin.
        if (acceptor_.paused()) {
            unwatch_listeners();
            accept_retry_ = now_ + accept_retry_interval;
        }
    }

    // A pause ends when one of our connections closes; but ENFILE (the whole system is out
    // of descriptors) can pause a worker that has none, so the sweep tries again too.
    void retry_paused_accept() {
        if (acceptor_.paused() && now_ >= accept_retry_ && acceptor_.resume()) watch_listeners();
    }

    //! [watch-listeners]
    void watch_listeners() {
        if (listening_ || stopping_) return;
        for (Socket& listener : listeners_) {
            // EPOLLEXCLUSIVE: a connection wakes one or more of the workers waiting on this
            // listener, not all of them (no thundering herd); Linux wakes the first that
            // registered and is waiting. A busy worker registered earlier may find the
            // listener readable too, so accept() may say EAGAIN. It forbids EPOLL_CTL_MOD,
            // so a pause removes the listener and a resume adds it again (at the back).
            if (listener) epoll_.add(listener.native_handle(), EPOLLIN | EPOLLEXCLUSIVE);
        }
        listening_ = true;
    }
    //! [watch-listeners]

    void unwatch_listeners() {
        if (!listening_) return;
        for (Socket& listener : listeners_) {
            if (listener) epoll_.remove(listener.native_handle());
        }
        listening_ = false;
    }

    // Sends and reads in turn until the connection has to wait: for the client to take more
    // output (EAGAIN on send: EPOLLOUT brings us back), or to send more (EAGAIN, or a short
    // read that took everything queued). Nothing is read while output waits: a client that
    // does not read its answers is not read from either, so the requests it keeps sending
    // stay in its own socket buffers, not in our memory.
    void serve(Connection& connection) {
        bool more_to_read = true;
        while (!connection.finished) {
            if (connection.sending() && !flush(connection)) return;
            if (!more_to_read || connection.closing || connection.peer_done) return;
            more_to_read = read_some(connection);
        }
    }

    // One recv() into the connection's workspace (taken from the pool if it has none), then
    // answers what that completed. Returns true if more may wait in the socket: the read
    // filled the space, or the client hung up (read on to the end of the stream, which no
    // later event would announce).
    bool read_some(Connection& connection) {
        if (!connection.work) connection.work = pool_.take();
        InputBuffer& in = connection.work->in;
        try {
            const std::span<std::byte> space = in.space();
            const auto received = connection.socket.try_recv(space);
            if (!received) return false;  // EAGAIN
            if (*received == 0) {
                connection.peer_done = true;
                return false;
            }
            in.commit(*received);
            process(connection);
            return *received == space.size() || connection.hangup;
        } catch (const SocketError&) {
            // A reset or a vanished client ends this connection only.
            connection.finished = true;
            return false;
        }
    }

    // Answers the complete requests in the input (several when pipelined), in order, while
    // less than max_pending_output waits to be sent and no file is being sent: the rest
    // stays in the input until flush() has sent what is ahead of it.
    void process(Connection& connection) {
        Workspace& work = *connection.work;
        const bool was_sending = connection.sending();
        while (!connection.closing && !work.in.empty() && !connection.file &&
               work.out.size() < max_pending_output) {
            const RequestParser::State state = work.parser.parse(work.in.pending());
            ResponseWriter response(work.out);
            if (state == RequestParser::State::incomplete) {
                const Request& partial = work.parser.request();
                if (work.parser.headers_complete() && partial.expect_continue &&
                    !work.continue_sent) {
                    response.write_continue();
                    work.continue_sent = true;
                }
                break;
            }
            if (state == RequestParser::State::error) {
                // The framing is in doubt: answer, then close (a lingering close: the client
                // may still be sending the body we refused).
                const int status = work.parser.error_status();
                std::string body(work.parser.error_reason());
                body += '\n';
                // A refused HEAD still gets no content (RFC 9110 section 9.3.2). The method is
                // known once the request line was good; until then it is empty.
                const bool head_only = work.parser.request().method == "HEAD";
                response.write(status, "text/plain", body, false, head_only);
                log(connection, "-", status);
                connection.closing = true;
                break;
            }
            const Request& request = work.parser.request();
            // --keepalive-timeout 0: every connection closes after its answer, and says so.
            const bool keep_alive =
                request.keep_alive && !stopping_ && config_.keepalive_timeout.count() > 0;
            // HTTP/1.0 closes by default: a kept connection must be announced.
            response.announce_keep_alive(request.version_minor == 0);
            Routed routed = route(request, connection.peer, site_, response, keep_alive);
            log(connection, request, routed.status);
            if (routed.file) {
                connection.file = std::move(routed.file);
                connection.file_offset = 0;
                connection.file_left = routed.file_size;
            }
            // A large chunked body grew the parser's buffer: free it once idle.
            if (request.framing == BodyFraming::chunked && request.body.size() > read_chunk) {
                work.grown = true;
            }
            work.in.consume(work.parser.consumed());
            work.parser.reset();
            work.continue_sent = false;
            connection.served = connection.answered = true;
            if (!keep_alive) connection.closing = true;
        }
        if (!was_sending && connection.sending()) connection.last_progress = now_;
    }

    // Sends the buffered answers, then the file, then answers the requests held back
    // meanwhile, and so on. Returns true once everything is sent, false if the client's
    // buffer filled up first (wait for EPOLLOUT) or the connection failed.
    bool flush(Connection& connection) {
        try {
            for (;;) {
                if (!send_buffered(connection)) return false;
                if (connection.file && !send_file(connection)) return false;
                if (connection.closing || !connection.has_input()) break;
                process(connection);  // the requests held back while output waited
                if (!connection.sending()) break;
            }
        } catch (const SocketError&) {
            connection.finished = true;
            return false;
        }
        if (connection.answered) {  // the end of the previous answer: the request timer starts
            connection.answered = false;
            connection.waiting_since = now_;
        }
        return true;
    }

    // Sends what the workspace's output holds; true once all of it is sent.
    bool send_buffered(Connection& connection) {
        if (!connection.work) return true;
        std::string& out = connection.work->out;
        // A file follows: over TCP, MSG_MORE holds the head back to leave in one segment with
        // the file's first bytes, instead of a small segment of its own.
        const bool more = connection.file && connection.file_left > 0 && !connection.peer.is_unix;
        std::size_t sent_total = 0;
        while (sent_total < out.size()) {
            const auto sent =
                connection.socket.try_send(raw_sockets::as_bytes(out).subspan(sent_total), more);
            if (!sent) break;  // EAGAIN: wait for EPOLLOUT
            sent_total += *sent;
        }
        if (sent_total > 0) {
            out.erase(0, sent_total);
            connection.last_progress = now_;
        }
        return out.empty();
    }

    //! [sendfile]
    // The file goes from the page cache to the socket in the kernel: no copy through us.
    // Returns true once it is all sent, false when the socket is full (resume on EPOLLOUT).
    bool send_file(Connection& connection) {
        while (connection.file_left > 0) {
            const ssize_t sent = ::sendfile(connection.socket.native_handle(),
                                            connection.file.get(), &connection.file_offset,
                                            std::min<std::uint64_t>(connection.file_left, 1 << 20));
            if (sent < 0 && errno == EINTR) continue;
            if (sent < 0 && errno == EAGAIN) return false;  // resume on EPOLLOUT
            if (sent < 0) raw_sockets::throw_errno("sendfile", connection.socket.name());
            if (sent == 0) break;  // the file shrank under us: the response is cut short
            connection.file_left -= static_cast<std::uint64_t>(sent);
            connection.last_progress = now_;
        }
        if (connection.file_left > 0) connection.closing = true;  // promised bytes are missing
        connection.file.reset();
        return true;
    }
    //! [sendfile]

    // After an event: close a finished connection, begin the lingering close of one that
    // said its last word, or watch for what the connection needs next.
    void settle(Connections::iterator found) {
        Connection& connection = *found->second;
        if (!connection.finished && !connection.lingering && !connection.sending()) {
            // The client has ended its side and everything answerable has been answered
            // (flush() answers what was held back): what is left is a request that can never
            // complete, and nothing more can arrive to be discarded. Close at once.
            if (connection.peer_done) {
                connection.finished = true;
            } else if (connection.closing) {
                begin_lingering(connection);
            } else if (stopping_ && !connection.has_input()) {
                connection.finished = true;  // idle, and no more requests are taken
            }
            // Idle: the workspace goes back to the pool (and its memory with it).
            if (!connection.has_input() && connection.work) release_workspace(connection);
        }
        if (connection.finished) {
            close(found);
            return;
        }
        std::uint32_t wanted = EPOLLIN | EPOLLRDHUP;
        if (connection.sending()) wanted |= EPOLLOUT;
        connection.interest.settle(epoll_, found->first, wanted);
    }

    // RFC 9112 section 9.6 (see linger_quiet above): half-close, then discard until the client
    // closes. The answer is sent already; nothing of the connection is needed but its socket.
    void begin_lingering(Connection& connection) {
        if (connection.work) release_workspace(connection);
        try {
            connection.socket.shutdown_write();
        } catch (const SocketError&) {
            connection.finished = true;  // already gone (ENOTCONN)
            return;
        }
        connection.lingering = true;
        connection.lingering_since = connection.last_input = now_;
        discard_input(connection);  // what came already, and perhaps the end
    }

    // Lingering: reads and throws away what the client still sends; finished at its end of
    // the stream, on an error, or past linger_max_bytes (the timeouts are the sweep's).
    void discard_input(Connection& connection) {
        try {
            for (;;) {
                const auto received = connection.socket.try_recv(discard_);
                if (!received) return;      // EAGAIN: wait for more
                if (*received == 0) break;  // the client has closed too
                connection.discarded += *received;
                connection.last_input = now_;
                if (connection.discarded > linger_max_bytes) break;
            }
        } catch (const SocketError&) {
            // reset by the client: nothing left to wait for
        }
        connection.finished = true;
    }

    void release_workspace(Connection& connection) {
        if (pool_.give_back(std::move(connection.work))) trim_due_ = true;
    }

    Connections::iterator close(Connections::iterator found) {
        if (found->second->work) release_workspace(*found->second);
        const auto next = connections_.erase(found);  // closing the socket removes it from epoll
        // A descriptor is free again (chapter 04's Acceptor).
        if (acceptor_.resume()) watch_listeners();
        ++closed_since_trim_;
        return next;
    }

    void begin_stop() {
        stopping_ = true;  // from here on, watch_listeners() does nothing
        stop_deadline_ = now_ + config_.graceful_timeout;
        epoll_.remove(stop_.event_fd());
        // Close our copies of the listeners, not just stop watching them: once the master and
        // every worker have, a new client's connect() is refused at once instead of waiting
        // in the backlog for the graceful timeout, and if the master died, a new server
        // finds the socket file stale and replaces it.
        unwatch_listeners();
        for (Socket& listener : listeners_) listener.close();
        // Idle keep-alive connections have nothing in flight: close them now. An answer on
        // its way with no request behind it is the connection's last.
        for (auto it = connections_.begin(); it != connections_.end();) {
            Connection& connection = *it->second;
            if (connection.idle()) {
                it = close(it);
                continue;
            }
            if (!connection.has_input()) connection.closing = true;
            ++it;
        }
    }

    // What a connection has waited for too long, if anything (see the top of the file).
    enum class Overdue { nothing, close, request };

    Overdue overdue(const Connection& connection) const {
        if (connection.lingering) {
            const bool over = now_ - connection.last_input > linger_quiet ||
                              now_ - connection.lingering_since > linger_total;
            return over ? Overdue::close : Overdue::nothing;
        }
        if (connection.sending()) {
            const bool stalled = now_ - connection.last_progress > config_.send_timeout;
            return stalled ? Overdue::close : Overdue::nothing;
        }
        const auto waited = now_ - connection.waiting_since;
        if (connection.has_input()) {  // a request has begun
            return waited > config_.request_timeout ? Overdue::request : Overdue::nothing;
        }
        // Nothing received since accept() (the request timeout), or since the last answer
        // (both; the keep-alive timeout is usually the shorter). An idle close says nothing.
        const bool over = waited > config_.request_timeout ||
                          (connection.served && waited >= config_.keepalive_timeout);
        return over ? Overdue::close : Overdue::nothing;
    }

    void enforce_timeouts() {
        for (auto it = connections_.begin(); it != connections_.end();) {
            Connection& connection = *it->second;
            const Overdue what = overdue(connection);
            if (what == Overdue::request) time_out_request(connection);
            if (what == Overdue::close || connection.finished) {
                it = close(it);
            } else {
                ++it;
            }
        }
    }

    // --request-timeout ended a request that had begun: a 408 if the socket takes it at once
    // (never wait for a client that is already too slow; logged only if sent), then the
    // lingering close, as after any error.
    void time_out_request(Connection& connection) {
        std::string& out = connection.work->out;
        out.clear();
        ResponseWriter(out).write(408, "text/plain", "request timeout\n", false);
        try {
            if (connection.socket.try_send(raw_sockets::as_bytes(out)) != out.size()) {
                connection.finished = true;
                return;
            }
        } catch (const SocketError&) {
            connection.finished = true;
            return;
        }
        out.clear();
        log(connection, "-", 408);
        begin_lingering(connection);
    }

    // glibc keeps freed memory for the next malloc(); after many connections or a large
    // request have come and gone, give it back to the kernel, at most once per sweep.
    void give_memory_back() {
        if (!trim_due_ && closed_since_trim_ < 1024) return;
        ::malloc_trim(0);
        trim_due_ = false;
        closed_since_trim_ = 0;
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
    Connections connections_;
    WorkspacePool pool_;
    std::vector<std::byte> discard_ = std::vector<std::byte>(read_chunk);  // lingering reads
    Clock::time_point now_ = Clock::now();
    Clock::time_point next_sweep_{};     // when enforce_timeouts() is due
    Clock::time_point stop_deadline_{};  // stopping: --graceful-timeout runs out
    Clock::time_point accept_retry_{};   // paused accepting: when the sweep tries again
    bool stopping_ = false;
    bool listening_ = false;  // the listeners are in the epoll set
    bool trim_due_ = false;   // a grown workspace was freed
    std::size_t closed_since_trim_ = 0;
};

}  // namespace

void run_worker(std::span<Socket> listeners, const Config& config,
                const raw_sockets::StopSignals& stop, std::FILE* access_log) {
    Worker(listeners, config, stop, access_log).run();
}

}  // namespace http_min
