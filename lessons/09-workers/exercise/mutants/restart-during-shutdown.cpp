// Mutant: a worker that exits during shutdown is replaced: the loop restarts every dead worker
// without checking whether a stop was requested.

// The pre-fork master. Chapter 09's exercise (lessons/09-workers/exercise/master.cpp)
// replaces this file.
//
// Signals: SIGTERM, SIGINT and SIGHUP to the master stop the server gracefully: the master
// passes SIGTERM to every worker and waits for them, at most --graceful-timeout and a
// margin, then kills what is left. A signal to one worker stops that worker only, and the
// master replaces it. If the master dies, however it dies, the kernel sends each worker
// SIGTERM (StopSignals::fork_child), so no worker outlives it.
#include "http_min/master.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <iostream>

#include "http_min/worker.hpp"

namespace http_min {

namespace {

using raw_sockets::Socket;
using raw_sockets::StopSignals;
using Clock = std::chrono::steady_clock;

// How long past --graceful-timeout the master still waits for a worker: a worker applies
// the graceful timeout itself, and needs a moment after it to close and exit.
constexpr std::chrono::seconds stop_margin{2};

//! [start-worker]
// Forks one worker; the child serves until told to stop and never returns. fork_child()
// gives the child a stop state of its own, and ends it with SIGTERM if the master dies.
pid_t start_worker(std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
                   std::FILE* log) {
    const pid_t pid = stop.fork_child();
    if (pid > 0) return pid;
    int status = 0;
    try {
        run_worker(listeners, config, stop, log);
    } catch (const std::exception& error) {
        std::cerr << "http_min worker " << ::getpid() << ": " << error.what() << std::endl;
        status = 1;
    }
    if (log != nullptr) std::fflush(log);
    ::_exit(status);  // the master's destructors (socket file removal) are not ours to run
}
//! [start-worker]

// Reaps the workers that have exited and forks a replacement for each, unless a stop has
// been requested (then its slot is 0, and nothing is said: no worker is started).
//
// The line on stderr is written with a blocking write, which clients cannot make frequent:
// one per restart, and a worker dies only of a bug or a signal, not of what a client sends
// (its errors end a connection, not the worker).
void replace_dead_workers(std::vector<pid_t>& workers, std::vector<Socket>& listeners,
                          const Config& config, StopSignals& stop, std::FILE* log) {
    pid_t dead = 0;
    while ((dead = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
        for (pid_t& worker : workers) {
            if (worker != dead) continue;
            worker = 0;
            std::cerr << "http_min: worker " << dead << " died; starting another" << std::endl;
            worker = start_worker(listeners, config, stop, log);
        }
    }
}

//! [stop-workers]
// Tells every worker to stop (SIGTERM), then reaps them. A worker finishes its requests in
// flight within the graceful timeout; one that has not exited by then and a margin (frozen,
// stuck) is killed, so that the master can still remove its socket files and exit.
//
// Each worker closes its copies of the listeners as it begins to stop, and the master closes
// its own here: once no copy is left, a new client's connect() is refused at once instead of
// waiting in the backlog for a worker that will never accept it. (The socket files are
// removed later, by main(), which remembers them by path and inode, not by listener.)
void stop_workers(std::vector<pid_t>& workers, std::vector<Socket>& listeners,
                  std::chrono::seconds graceful_timeout) {
    for (const pid_t worker : workers) {
        if (worker > 0) ::kill(worker, SIGTERM);
    }
    for (Socket& listener : listeners) listener.close();
    const Clock::time_point deadline = Clock::now() + graceful_timeout + stop_margin;
    auto running = [&] { return std::ranges::any_of(workers, [](pid_t pid) { return pid > 0; }); };
    while (running()) {
        const pid_t dead = ::waitpid(-1, nullptr, WNOHANG);
        if (dead > 0) {
            std::ranges::replace(workers, dead, 0);
        } else if (dead < 0 && errno != EINTR) {
            return;  // ECHILD: none left to wait for
        } else if (Clock::now() < deadline) {
            ::poll(nullptr, 0, 10);  // not yet: look again shortly
        } else {
            for (pid_t& worker : workers) {
                if (worker <= 0) continue;
                std::cerr << "http_min: worker " << worker << " did not stop within "
                          << graceful_timeout.count() << " s; killing it" << std::endl;
                ::kill(worker, SIGKILL);
                while (::waitpid(worker, nullptr, 0) < 0 && errno == EINTR) {
                }
                worker = 0;
            }
        }
    }
}
//! [stop-workers]

}  // namespace

//! [master]
// Keeps config.workers workers running until a stop is requested, then stops them, giving
// each at most the graceful timeout to finish its requests in flight.
void run_master(std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
                std::FILE* log) {
    std::vector<pid_t> workers;
    for (int i = 0; i < config.workers && !stop.requested(); ++i) {
        workers.push_back(start_worker(listeners, config, stop, log));
    }
    pollfd stop_event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
    while (!stop.requested()) {
        ::poll(&stop_event, 1, 200);  // a stop request, or a look for dead workers
        replace_dead_workers(workers, listeners, config, stop, log);
    }
    stop_workers(workers, listeners, config.graceful_timeout);
}
//! [master]

}  // namespace http_min
