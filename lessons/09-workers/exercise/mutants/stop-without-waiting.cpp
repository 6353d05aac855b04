// Mutant: on a stop the master signals its workers and returns without waiting for them.
// Caught by: lesson09.test_lesson09_signals.py::test_the_master_exits_only_once_its_workers_have
// main() then removes the socket file and exits while they still finish their requests.

// The pre-fork master. Chapter 09's exercise (lessons/09-workers/exercise/master.cpp)
// replaces this file.
//
// Signals: SIGTERM, SIGINT and SIGHUP to the master stop the server gracefully: the master
// passes SIGTERM to every worker and waits for them, at most --graceful-timeout and a
// margin, then kills what is left. A signal to one worker stops that worker only, and the
// master replaces it: within 200 ms, but never sooner than a second after the dead worker's
// start, so that a worker that dies at once is not restarted in a loop. If the master dies,
// however it dies, the kernel sends each worker SIGTERM (StopSignals::fork_child), so no
// worker outlives it.
#include "http_min/master.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstddef>
#include <iostream>
#include <vector>

#include "http_min/worker.hpp"

namespace http_min {

namespace {

using raw_sockets::Socket;
using raw_sockets::StopSignals;
using Clock = std::chrono::steady_clock;

// How long past --graceful-timeout the master still waits for a worker: a worker applies
// the graceful timeout itself, and needs a moment after it to close and exit.
constexpr std::chrono::seconds stop_margin{2};

// How often the master looks for dead workers when nothing wakes it: waitpid() with WNOHANG
// costs next to nothing, and a dead worker is noticed within this time.
constexpr std::chrono::milliseconds look_interval{200};

// A worker is started at most once per restart_interval in each slot: one that dies at once
// (a crash at start-up, a bad configuration) is restarted once a second, not as fast as
// fork() allows, which would burn a core and flood the log.
constexpr std::chrono::seconds restart_interval{1};

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

// One worker the master keeps running. `pid` is 0 while none runs; `dead` is the pid of the
// worker that died and awaits its replacement (0 if none).
struct Slot {
    pid_t pid = 0;
    pid_t dead = 0;
    Clock::time_point started{};
};

void start_in(Slot& slot, std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
              std::FILE* log) {
    slot.started = Clock::now();
    slot.pid = start_worker(listeners, config, stop, log);
    slot.dead = 0;
}

// Reaps every worker that has exited, and marks its slot as waiting for a replacement.
// WNOHANG, in a loop: several workers may have died since the last look, and a blocking wait
// would keep the master from noticing a stop request.
void reap_dead_workers(std::vector<Slot>& slots) {
    pid_t dead = 0;
    while ((dead = ::waitpid(-1, nullptr, WNOHANG)) > 0) {
        for (Slot& slot : slots) {
            if (slot.pid != dead) continue;
            slot.pid = 0;
            slot.dead = dead;
        }
    }
}

// Forks a replacement for each worker that died, unless a stop has been requested (then
// nothing is said: no worker is started), but never sooner than restart_interval after the
// dead worker was started. Returns how long the master may wait before it must look again.
//
// The line on stderr is written with a blocking write, which clients cannot make frequent:
// one per restart, at most one a second per worker, and a worker dies only of a bug or a
// signal, not of what a client sends (its errors end a connection, not the worker).
Clock::duration replace_dead_workers(std::vector<Slot>& slots, std::vector<Socket>& listeners,
                                     const Config& config, StopSignals& stop, std::FILE* log) {
    Clock::duration wait = look_interval;
    for (Slot& slot : slots) {
        if (slot.dead == 0 || stop.requested()) continue;
        const Clock::time_point due = slot.started + restart_interval;
        const Clock::time_point now = Clock::now();
        if (now < due) {
            wait = std::min(wait, due - now);  // too soon: a worker that dies at once
            continue;                          // would otherwise be restarted in a loop
        }
        std::cerr << "http_min: worker " << slot.dead << " died; starting another" << std::endl;
        start_in(slot, listeners, config, stop, log);
    }
    return wait;
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
    return;  // the workers stop by themselves
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
// Keeps config.workers workers running until a stop is requested, replacing each that dies,
// then stops them, giving each at most the graceful timeout to finish its requests in flight.
void run_master(std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
                std::FILE* log) {
    std::vector<Slot> slots(static_cast<std::size_t>(std::max(config.workers, 0)));
    for (Slot& slot : slots) {
        if (stop.requested()) break;
        start_in(slot, listeners, config, stop, log);
    }
    pollfd stop_event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
    Clock::duration wait = look_interval;
    while (!stop.requested()) {
        // A stop request wakes the master at once; otherwise it looks for dead workers at
        // least every look_interval, sooner if a replacement falls due.
        const auto timeout = std::chrono::ceil<std::chrono::milliseconds>(wait);
        ::poll(&stop_event, 1, static_cast<int>(timeout.count()));
        reap_dead_workers(slots);
        wait = replace_dead_workers(slots, listeners, config, stop, log);
    }
    std::vector<pid_t> workers;
    for (const Slot& slot : slots) {
        if (slot.pid > 0) workers.push_back(slot.pid);
    }
    stop_workers(workers, listeners, config.graceful_timeout);
}
//! [master]

}  // namespace http_min
