/// \file
/// \brief The pre-fork master (chapter 09): N workers sharing the listening sockets.
#pragma once

#include <cstdio>
#include <vector>

#include "http_min/config.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "raw_sockets/socket.hpp"

namespace http_min {

/// Forks config.workers workers that all serve the same `listeners` (bound once, here, by
/// the master: a Unix socket path is created once and shared, never re-bound per worker),
/// and restarts any worker that dies. Each worker is forked with `stop.fork_child()`: a
/// signal to one worker stops that worker only, and every worker is sent SIGTERM if the
/// master dies. When `stop` is requested (SIGTERM, SIGINT or SIGHUP, as main() sets it up)
/// it sends SIGTERM to every worker and waits for each to finish its requests in flight, at
/// most config.graceful_timeout and a margin; then it kills and reaps what is left.
/// (Chapter 09's exercise.)
void run_master(std::vector<raw_sockets::Socket>& listeners, const Config& config,
                raw_sockets::StopSignals& stop, std::FILE* access_log);

}  // namespace http_min
