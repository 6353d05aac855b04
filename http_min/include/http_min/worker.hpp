/// \file
/// \brief One worker: an epoll loop serving HTTP/1.1 on the listeners it is given.
#pragma once

#include <cstdio>
#include <span>

#include "http_min/config.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "raw_sockets/socket.hpp"

namespace http_min {

/// Serves connections from `listeners` until `stop` is requested, then stops accepting,
/// finishes the requests in flight and returns: at the latest once `config.graceful_timeout`
/// has passed, closing what is left. Every connection is timed meanwhile (the keep-alive,
/// request and send timeouts of Config).
/// `access_log` may be null (no log). Several workers may share the same listening
/// sockets: each listener is watched with EPOLLEXCLUSIVE, so a new connection wakes one
/// or more of the waiting workers (on Linux, the first registered), not all of them.
void run_worker(std::span<raw_sockets::Socket> listeners, const Config& config,
                const raw_sockets::StopSignals& stop, std::FILE* access_log);

}  // namespace http_min
