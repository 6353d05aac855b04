// What chapter 04's servers share (see serving.hpp): one client-serving function for the
// blocking echo servers, one policy for EMFILE, and a count of client threads.
#include "raw_sockets/serving.hpp"

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

std::optional<Socket> Acceptor::accept(const Socket& listener) {
    if (paused_) return std::nullopt;
    try {
        return try_accept(listener);
    } catch (const SocketError& error) {
        if (!out_of_descriptors(error)) throw;
        std::cerr << error.what() << ": not accepting until a client leaves" << std::endl;
        paused_ = true;
        return std::nullopt;
    }
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
