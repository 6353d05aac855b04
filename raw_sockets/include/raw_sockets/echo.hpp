/// \file
/// \brief The echo service: send back every byte received.
#pragma once

#include <cstddef>

#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// Sends back every byte received on `connection` until the peer ends the stream, then
/// returns the number of bytes echoed. (Chapter 01's exercise.)
std::size_t echo_until_eof(Socket& connection);

}  // namespace raw_sockets
