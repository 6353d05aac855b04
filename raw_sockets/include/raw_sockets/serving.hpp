/// \file
/// \brief What chapter 04's servers share: serving one echo client, counting client threads,
/// and one policy for running out of descriptors.
///
/// With these in the library, each step of the chapter's progression (echo_server,
/// echo_fork, echo_threads, echo_poll, echo_epoll) differs from the one before only by its
/// own idea, which `diff` then shows.
#pragma once

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

// [serve-echo-client]
/// Serves one client of a blocking echo server from start to end (echo_until_eof()), then
/// says on stderr how it went: `client NAME done, N bytes echoed` or `client NAME lost: WHY`.
///
/// It never throws: a client that resets or leaves without reading (EPIPE) ends its own
/// connection, not the server, and not the child process or thread that serves it either.
/// Returns true if the client was served to its end of stream.
bool serve_echo_client(Socket& client) noexcept;
// [serve-echo-client]

// [acceptor]
/// What an Acceptor does when accept() fails with a given error.
enum class AcceptFailure {
    pause,  ///< out of descriptors (EMFILE, ENFILE): stop accepting until resume()
    skip,   ///< this client could not be accepted (a network error, ENOBUFS, ENOMEM, EPERM...)
    fatal,  ///< the listener itself is wrong (EBADF, EINVAL, ENOTSOCK...): throw
};

/// How an Acceptor treats accept()'s error `code` (an errno value). accept(2): the errors of
/// the network under a connection (EPROTO, ENETDOWN, EHOSTUNREACH...) are to be treated like
/// EAGAIN; a shortage of memory (ENOBUFS, ENOMEM) or a security module's refusal (EPERM)
/// concerns one client too. Only the errors that say the program is wrong end it.
AcceptFailure classify_accept_error(int code) noexcept;

/// Accepts clients, with the course's one policy for running out of descriptors.
///
/// When accept() fails with EMFILE or ENFILE, the client stays queued in the listen backlog
/// and the listener stays readable: a loop that only logs the error spins at full CPU, and
/// one that lets it escape dies with all its clients. So: say so, stop accepting
/// (paused()), and accept again when one of the server's own connections has closed
/// (resume()); the waiting clients are served then, in order. Errors that concern one client
/// only (classify_accept_error()) skip it, and serving goes on.
///
/// Its reports to stderr are bounded whatever clients do: at most one every
/// report_interval, with the number kept quiet since. Clients that churn at the descriptor
/// limit would otherwise get a line written per connection, and once a pipe nobody reads is
/// full, a blocking write to stderr hangs the server.
///
/// For servers that hold their clients' descriptors: echo_threads, echo_poll, echo_epoll,
/// canned_http, http_min. echo_server and echo_fork's parent hold no client for long; for
/// them no closing connection would ever end the pause, so they let the error end the
/// program, which names it.
class Acceptor {
  public:
    /// At most one report to stderr per this long.
    static constexpr std::chrono::seconds report_interval{10};

    /// The next client on `listener`, or std::nullopt when none is waiting (a non-blocking
    /// listener), when paused, when there is no descriptor left (then paused() becomes true),
    /// or when this client could not be accepted. Throws SocketError for a fatal error.
    std::optional<Socket> accept(const Socket& listener);
    /// True from running out of descriptors until resume(). An event loop stops watching the
    /// listener meanwhile.
    bool paused() const noexcept { return paused_; }
    /// Call when one of the server's connections has closed, freeing a descriptor (or now and
    /// then, to try again). Returns true if that ends a pause (an event loop then watches the
    /// listener again).
    bool resume() noexcept { return std::exchange(paused_, false); }

  private:
    /// Writes `what` to stderr unless a report was written less than report_interval ago;
    /// then it only counts it.
    void report(const std::string& what);

    bool paused_ = false;
    bool reported_ = false;  // at least one report written, at last_report_
    std::chrono::steady_clock::time_point last_report_{};
    long unreported_ = 0;  // errors kept quiet since the last report
};
// [acceptor]

/// Counts a thread-per-client server's running client threads (echo_threads). The threads
/// are detached, so the server needs the count to wait for the last one when it stops, and
/// for one of them to end when it has run out of descriptors.
class RunningClients {
  public:
    /// A client thread is starting.
    void started();
    /// A client thread is done (call it last: the thread touches nothing afterwards).
    void finished();
    /// Waits until no client thread is running.
    void wait_until_idle();
    /// Waits until at least one of the client threads running now has finished.
    void wait_for_one_to_finish();

  private:
    std::mutex mutex_;
    std::condition_variable changed_;
    int count_ = 0;
};

}  // namespace raw_sockets
