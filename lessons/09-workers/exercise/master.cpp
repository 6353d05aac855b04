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
//   2. In the master, until stop.requested(): wait (poll stop.event_fd() with a timeout of
//      200 ms, say), reap dead children with waitpid(-1, &status, WNOHANG) in a loop,
//      and fork exactly one replacement for each worker that died, printing
//      "http_min: worker PID died; starting another" to std::cerr as you fork it. Reap
//      every dead worker (a dead child left unreaped stays a zombie), within 2 s of its
//      death. A replacement is never forked sooner than 1 s after the start of the worker
//      it replaces (a worker that dies at once must not be restarted in a loop: at most
//      once a second per worker), and once a stop is requested none is forked or announced.
//   3. Keep the master's copies of the listeners open while it may fork workers: each
//      replacement inherits them. Leave nothing else of the master's open in a worker: a
//      worker shares no pipe or socket with its master but the listeners (fork() copies
//      every descriptor; O_CLOEXEC closes one only on exec). If you wake on SIGCHLD, do it
//      without a race: a flag checked before a blocking wait misses a death that lands in
//      between (block the signal until the wait, or use a pipe, or keep the timeout).
//   4. Once a stop is requested (SIGTERM, SIGINT or SIGHUP to the master): kill(worker,
//      SIGTERM) each worker (not SIGKILL: they finish the requests in flight), close the
//      master's copies of the listeners (so a new client is refused at once), then reap
//      each worker, so that they have all exited before main() removes the socket file and
//      exits 0. Wait at most config.graceful_timeout plus a margin of a second or two, never
//      less than config.graceful_timeout: then kill(worker, SIGKILL) whatever is left (a
//      frozen worker cannot act on its SIGTERM) and reap it too.
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
