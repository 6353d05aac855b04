// Epoll: epoll_create1, epoll_ctl and epoll_wait, each checked, in one place (as redis's
// ae_epoll.c does), so that no event loop can forget to check an epoll_ctl.
#include "raw_sockets/epoll.hpp"

#include <cerrno>
#include <string>

#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

const char* describe_operation(int operation) {
    switch (operation) {
        case EPOLL_CTL_ADD:
            return "epoll_ctl ADD";
        case EPOLL_CTL_MOD:
            return "epoll_ctl MOD";
        default:
            return "epoll_ctl DEL";
    }
}

}  // namespace

Epoll::Epoll() : fd_(::epoll_create1(EPOLL_CLOEXEC)) {
    if (!fd_) throw_errno("epoll_create1", "epoll");
}

void Epoll::add(int fd, std::uint32_t events) {
    control(EPOLL_CTL_ADD, fd, events);
}

void Epoll::modify(int fd, std::uint32_t events) {
    control(EPOLL_CTL_MOD, fd, events);
}

void Epoll::remove(int fd) {
    control(EPOLL_CTL_DEL, fd, 0);
}

void Epoll::control(int operation, int fd, std::uint32_t events) {
    // DEL ignores the event, but kernels before 2.6.9 required a non-null pointer.
    epoll_event event{.events = events, .data = {.fd = fd}};
    if (::epoll_ctl(fd_.get(), operation, fd, &event) != 0) {
        throw_errno(describe_operation(operation), "fd:" + std::to_string(fd));
    }
}

std::span<const epoll_event> Epoll::wait(std::span<epoll_event> ready, int timeout_ms) {
    const int count =
        ::epoll_wait(fd_.get(), ready.data(), static_cast<int>(ready.size()), timeout_ms);
    if (count < 0) {
        if (errno == EINTR) return {};  // see the header: the caller's loop decides
        throw_errno("epoll_wait", "epoll fd:" + std::to_string(fd_.get()));
    }
    return ready.first(static_cast<std::size_t>(count));
}

}  // namespace raw_sockets
