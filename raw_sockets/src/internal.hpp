// Declarations shared between the library's source files, not part of its interface.
#pragma once

#include <chrono>

#include "raw_sockets/address.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/socket.hpp"

namespace raw_sockets::internal {

/// socket(), then the safe bind of chapter 05, mode and group, then listen(), for a
/// pathname Unix address. See listen_on().
Fd listen_unix_path(const Address& address, const ListenOptions& options);

/// Waits up to `wait` for a stop signal (see StopSignals) and returns true if one has come,
/// now or before; without a StopSignals in the process, just sleeps and returns false.
bool stop_requested_within(std::chrono::milliseconds wait);

/// socket() of `type` for `address`'s family, close-on-exec.
Fd open_socket(const Address& address, int type);

}  // namespace raw_sockets::internal
