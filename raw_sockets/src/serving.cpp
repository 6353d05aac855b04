// What chapter 04's servers share (see serving.hpp): one client-serving function for the
// blocking echo servers, one policy for EMFILE, and a count of client threads.
#include "raw_sockets/serving.hpp"

#include <cerrno>
#include <iostream>

#include "raw_sockets/echo.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

bool serve_echo_client(Socket& client) noexcept {
    try {
        const std::size_t echoed = echo_until_eof(client);
        std::cerr << "client " << client.name() << " done, " << echoed << " bytes echoed"
                  << std::endl;
        return true;
    } catch (const std::exception& error) {
        std::cerr << "client " << client.name() << " lost: " << error.what() << std::endl;
        return false;
    }
}

AcceptFailure classify_accept_error(int code) noexcept {
    switch (code) {
        case EMFILE:  // this process's descriptors are all in use
        case ENFILE:  // the whole system's are
            return AcceptFailure::pause;
        case EBADF:  // not a descriptor, not a socket, not listening: the program is wrong
        case ENOTSOCK:
        case EINVAL:
        case EFAULT:
            return AcceptFailure::fatal;
        default:  // ECONNABORTED, EPROTO, ENETDOWN..., ENOBUFS, ENOMEM, EPERM: this client only
            return AcceptFailure::skip;
    }
}

std::optional<Socket> Acceptor::accept(const Socket& listener) {
    if (paused_) return std::nullopt;
    try {
        return try_accept(listener);
    } catch (const SocketError& error) {
        switch (classify_accept_error(error.code().value())) {
            case AcceptFailure::fatal:
                throw;
            case AcceptFailure::pause:
                report(std::string(error.what()) + ": not accepting until a client leaves");
                paused_ = true;
                return std::nullopt;
            case AcceptFailure::skip:
                report(std::string(error.what()) + ": that client is dropped");
                return std::nullopt;
        }
        throw;  // not reached: every kind is handled above
    }
}

void Acceptor::report(const std::string& what) {
    const auto now = std::chrono::steady_clock::now();
    if (reported_ && now - last_report_ < report_interval) {
        ++unreported_;
        return;
    }
    std::cerr << what;
    if (unreported_ > 0) {
        std::cerr << " (" << unreported_ << " more accept errors since)";
    }
    std::cerr << std::endl;
    reported_ = true;
    last_report_ = now;
    unreported_ = 0;
}

void RunningClients::started() {
    std::lock_guard lock(mutex_);
    ++count_;
}

void RunningClients::finished() {
    std::lock_guard lock(mutex_);
    --count_;
    // Under the lock: a waiter that sees the new count may return and destroy *this at once,
    // and by then this thread touches nothing of ours but the unlock.
    changed_.notify_all();
}

void RunningClients::wait_until_idle() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return count_ == 0; });
}

void RunningClients::wait_for_one_to_finish() {
    std::unique_lock lock(mutex_);
    const int now = count_;
    changed_.wait(lock, [this, now] { return count_ < now || count_ == 0; });
}

}  // namespace raw_sockets
