// The pre-fork master. Chapter 09's exercise (lessons/09-workers/exercise/master.cpp)
// replaces this file.
#include "http_min/master.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "http_min/worker.hpp"
#include "raw_sockets/error.hpp"

namespace http_min {

namespace {

using raw_sockets::Socket;
using raw_sockets::StopSignals;

//! [start-worker]
// Forks one worker; the child serves until told to stop and never returns.
pid_t start_worker(std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
                   std::FILE* log) {
    const pid_t pid = ::fork();
    if (pid < 0) raw_sockets::throw_errno("fork", "worker");
    if (pid > 0) return pid;
    int status = 0;
    try {
        stop.renew_after_fork();  // its own stop requests, apart from the master's
        run_worker(listeners, config, stop, log);
    } catch (const std::exception& error) {
        std::cerr << "http_min worker " << ::getpid() << ": " << error.what() << std::endl;
        status = 1;
    }
    if (log != nullptr) std::fflush(log);
    ::_exit(status);  // the master's destructors (socket file removal) are not ours to run
}
//! [start-worker]

}  // namespace

//! [master]
// Keeps config.workers workers running until a stop is requested, then stops them and waits
// for each to finish its requests in flight.
void run_master(std::vector<Socket>& listeners, const Config& config, StopSignals& stop,
                std::FILE* log) {
    std::vector<pid_t> workers;
    for (int i = 0; i < config.workers; ++i) {
        workers.push_back(start_worker(listeners, config, stop, log));
    }
    pollfd stop_event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
    while (!stop.requested()) {
        ::poll(&stop_event, 1, 200);  // a stop request, or a look for dead workers
        int status = 0;
        pid_t dead = 0;
        while ((dead = ::waitpid(-1, &status, WNOHANG)) > 0) {
            for (pid_t& worker : workers) {
                if (worker != dead) continue;
                std::cerr << "http_min: worker " << dead << " died; starting another" << std::endl;
                worker = stop.requested() ? 0 : start_worker(listeners, config, stop, log);
            }
        }
    }
    for (const pid_t worker : workers) {
        if (worker > 0) ::kill(worker, SIGTERM);
    }
    for (const pid_t worker : workers) {
        while (worker > 0 && ::waitpid(worker, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
}
//! [master]

}  // namespace http_min
