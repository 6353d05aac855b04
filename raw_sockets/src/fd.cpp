#include "raw_sockets/fd.hpp"

#include <unistd.h>

namespace raw_sockets {

void Fd::reset(int fd) noexcept {
    if (fd_ >= 0) {
        // No retry on EINTR: on Linux the descriptor is released even when close() reports
        // EINTR, and a second close() could close a descriptor another thread just opened.
        ::close(fd_);
    }
    fd_ = fd;
}

}  // namespace raw_sockets
