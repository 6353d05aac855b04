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
/// restarts any worker that dies, and when `stop` is requested sends SIGTERM to every
/// worker and waits for each to finish its requests in flight. (Chapter 09's exercise.)
void run_master(std::vector<raw_sockets::Socket>& listeners, const Config& config,
                raw_sockets::StopSignals& stop, std::FILE* access_log);

}  // namespace http_min
