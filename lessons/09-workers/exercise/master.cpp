// Chapter 09 exercise: the pre-fork master of http_min.
//
// run_master() receives the listening sockets, already bound by main() (so a Unix socket
// file is created once, by the master, and every worker shares it). Write it:
//   1. Start config.workers workers. Fork each with stop.fork_child(), not fork(): it gives
//      the child a stop state of its own (a SIGTERM to one worker stops that worker only,
//      and one that arrives while it is being forked is not lost), and the kernel sends the
//      child SIGTERM if the master dies, even of SIGKILL. fork_child() returns 0 in the
//      child: there run_worker(listeners, config, stop, access_log), then fflush the log
//      and _exit(0) (_exit(1) if run_worker threw). Never return into main(): its
//      destructors would remove the master's socket files. Stop forking once
//      stop.requested().
//   2. In the master, until stop.requested(): wait (poll stop.event_fd() with a timeout),
//      reap dead children with waitpid(-1, &status, WNOHANG), print
//      "http_min: worker PID died; starting another" to std::cerr and fork exactly one
//      replacement for each one that died.
//   3. Once a stop is requested (SIGTERM, SIGINT or SIGHUP to the master): kill(worker,
//      SIGTERM) each worker, then reap each one, so that they finish the requests in flight
//      before main() removes the socket file and exits 0. Wait at most
//      config.graceful_timeout plus a margin of a second or two: then kill(worker, SIGKILL)
//      whatever is left (a frozen worker cannot act on its SIGTERM) and reap it too.
//
// Check:  scripts/exercise 09   (stuck? scripts/exercise 09 --hint)
#include <stdexcept>

#include "http_min/master.hpp"

namespace http_min {

void run_master(std::vector<raw_sockets::Socket>& listeners, const Config& config,
                raw_sockets::StopSignals& stop, std::FILE* access_log) {
    (void)listeners;
    (void)config;
    (void)stop;
    (void)access_log;
    // TODO(lesson09): fork the workers, restart the ones that die, stop them all on request.
    throw std::logic_error(
        "TODO(lesson09): run_master() is not written yet: edit "
        "lessons/09-workers/exercise/master.cpp");
}

}  // namespace http_min
