// Chapter 09 exercise: the pre-fork master of http_min.
//
// run_master() receives the listening sockets, already bound by main() (so a Unix socket
// file is created once, by the master, and every worker shares it). Write it:
//   1. fork() config.workers children. In each child: stop.renew_after_fork(), then
//      run_worker(listeners, config, stop, access_log), then fflush the log and _exit(0)
//      (never return into main(): its destructors would remove the master's socket files).
//   2. In the master, until stop.requested(): wait (poll stop.event_fd() with a timeout),
//      reap dead children with waitpid(-1, &status, WNOHANG), and fork a replacement for
//      each one that died.
//   3. Once stop is requested: kill(worker, SIGTERM) each worker, then waitpid() each one,
//      so that they finish the requests in flight before main() removes the socket file.
//
// Check:  cmake --preset exercises -DCOURSE_EXERCISES=09 && cmake --build --preset exercises
//         ctest --preset exercises -L lesson09
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
