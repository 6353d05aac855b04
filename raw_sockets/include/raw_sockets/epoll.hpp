/// \file
/// \brief Epoll: the one wrapper of Linux's epoll, used by every event loop in the course.
#pragma once

#include <sys/epoll.h>

#include <cstdint>
#include <span>

#include "raw_sockets/fd.hpp"

namespace raw_sockets {

// [epoll]
/// An epoll instance (epoll(7)): the kernel keeps the list of descriptors a loop watches,
/// and wait() returns only the ones that are ready.
///
/// Each call reports failure the library's way: a SocketError naming the call, the
/// descriptor and the errno, such as `epoll_ctl ADD(fd:7): EEXIST (File exists)`. Every
/// event carries the descriptor it is about in `data.fd`.
class Epoll {
  public:
    /// Creates the instance, close-on-exec (epoll_create1).
    Epoll();

    /// Starts watching `fd` for `events` (EPOLLIN, EPOLLOUT, EPOLLET...). EEXIST if it is
    /// watched already.
    void add(int fd, std::uint32_t events);
    /// Changes what `fd` is watched for; 0 keeps it registered but silent. ENOENT if it is
    /// not watched. For an edge-triggered descriptor this also re-arms it: epoll reports its
    /// present state once more, as if a new edge had come.
    void modify(int fd, std::uint32_t events);
    /// Stops watching `fd`. ENOENT if it is not watched. (Closing a descriptor removes it
    /// too, once no other descriptor refers to the same open socket.)
    void remove(int fd);

    /// Waits at most `timeout_ms` (-1: no limit) and returns the ready events, stored in
    /// `ready`. It returns an empty span when the time ran out or a signal interrupted the
    /// wait (EINTR): not an error, because the loop around it must look at its conditions
    /// again, and a stop request (StopSignals) arrives exactly that way.
    std::span<const epoll_event> wait(std::span<epoll_event> ready, int timeout_ms = -1);

    /// The epoll descriptor itself (to nest it in another poll, or for tests).
    int native_handle() const noexcept { return fd_.get(); }

  private:
    void control(int operation, int fd, std::uint32_t events);

    Fd fd_;
};
// [epoll]

}  // namespace raw_sockets
