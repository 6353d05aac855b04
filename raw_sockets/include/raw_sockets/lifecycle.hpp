/// \file
/// \brief Stopping cleanly: stop signals as an event, and removing the socket file we made.
#pragma once

#include <signal.h>
#include <sys/types.h>

#include <initializer_list>
#include <string>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// Turns SIGINT and SIGTERM (or the signals you name) into something a server can wait for.
///
/// The handler only writes a byte to a pipe (the self-pipe trick: write() is
/// async-signal-safe, almost nothing else is), so the server's main loop sees the request
/// and runs its destructors, which remove its socket file. A client in hand does not hold
/// the stop up if its Socket waits on event_fd() too (Socket::set_stop_event()): that is
/// how echo_server, frame_server and file_broker abandon it at a stop. http_min instead
/// finishes its requests in flight, for at most its graceful timeout. One instance per
/// process. On destruction the old handlers return, unless a stop was requested: then the
/// stop signals stay ignored while the process exits, so a second signal cannot turn a
/// clean exit into a death by signal.
class StopSignals {
  public:
    /// Handles `signals` as stop requests. http_min adds SIGHUP, so that a hangup stops it
    /// gracefully instead of killing it and leaving its socket file behind.
    explicit StopSignals(std::initializer_list<int> signals = {SIGINT, SIGTERM});
    ~StopSignals();
    StopSignals(const StopSignals&) = delete;
    StopSignals& operator=(const StopSignals&) = delete;

    /// fork() for a child that has stop signals of its own (chapter 09's workers). Returns
    /// as fork() does: the child's pid in the parent, 0 in the child; throws in the parent
    /// if it fails.
    ///
    /// In the child: its own pipe and no stop requested yet, so that a signal to the child
    /// and a signal to its parent are told apart; and SIGTERM when the parent dies, however
    /// it dies (prctl(PR_SET_PDEATHSIG)), or at once if it died before that was set. The stop
    /// signals are blocked from before fork() until the child's state is ready: one that
    /// arrives in between waits, then counts, instead of being lost or taken for the parent's.
    pid_t fork_child();

    /// True once a stop signal has arrived.
    bool requested() const noexcept;
    /// The signal that requested the stop (the last, if several came), or 0: for a program that
    /// cleans up and then dies of it, so that a shell running it knows it was interrupted.
    int signal_number() const noexcept;
    /// A descriptor that becomes readable when a stop is requested (for poll/epoll loops).
    int event_fd() const noexcept;
    /// Waits until `socket` is readable (for a listener: a client is waiting) and returns
    /// true, or returns false as soon as a stop is requested.
    bool wait_readable(const Socket& socket) const;
};

/// Removes a Unix socket file when the server that created it is done.
///
/// bind() creates the file and close() does not remove it: without an unlink() it stays
/// behind, and the next bind() fails with EADDRINUSE (chapter 01). This removes the file
/// only if it is still the very socket this process bound (same device and inode) and only
/// in the process that bound it, never in a forked child.
class SocketFileCleanup {
  public:
    /// Remembers the socket file of `listener`; does nothing for other address kinds.
    explicit SocketFileCleanup(const Socket& listener);
    /// Removes the file if it is still ours.
    ~SocketFileCleanup();
    SocketFileCleanup(const SocketFileCleanup&) = delete;
    SocketFileCleanup& operator=(const SocketFileCleanup&) = delete;

  private:
    std::string path_;  // empty: nothing to remove
    dev_t device_ = 0;
    ino_t inode_ = 0;
    pid_t owner_ = 0;
};

}  // namespace raw_sockets
