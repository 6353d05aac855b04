/// \file
/// \brief Passing open file descriptors between processes over a Unix socket (chapter 07).
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "raw_sockets/fd.hpp"
#include "raw_sockets/socket.hpp"

namespace raw_sockets {

/// Most descriptors one message may carry here (the kernel's limit, SCM_MAX_FD, is 253).
inline constexpr std::size_t max_fds_per_message = 16;

/// Sends `data` with duplicates of `fds` attached (SCM_RIGHTS). The receiver gets new
/// descriptor numbers for the same open files, offsets and flags included. `data` must hold
/// at least one byte: the descriptors travel with it, and a stream of zero bytes carries
/// nothing. Throws std::invalid_argument for empty data or too many descriptors.
void send_fds(Socket& socket, std::string_view data, std::span<const int> fds);

/// What recv_fds() received: the bytes and the descriptors, each owned (close-on-exec).
struct ReceivedFds {
    std::string data;     ///< the bytes of the message; empty at end of stream
    std::vector<Fd> fds;  ///< the descriptors that came with it
};

/// Receives up to `max_data` bytes and up to `max_fds` descriptors, which arrive with
/// close-on-exec already set (MSG_CMSG_CLOEXEC). If more descriptors were sent than fit,
/// the kernel drops the rest and sets MSG_CTRUNC: that throws ProtocolError, after closing
/// the ones that did arrive, so that nothing leaks. (Chapter 07's exercise.)
ReceivedFds recv_fds(Socket& socket, std::size_t max_data, std::size_t max_fds);

}  // namespace raw_sockets
