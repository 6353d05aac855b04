// Chapter 05: what goes wrong with the usual way of binding a Unix path, shown with raw
// system calls so that the library's own care plays no part.
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>

#include <gtest/gtest.h>

#include "raw_sockets/raw_sockets.hpp"
#include "test_support.hpp"

namespace {

using raw_sockets::Address;
using raw_sockets::Fd;
using test_support::TempDir;

// socket() + bind() + listen() with no checks at all, as most examples do.
Fd naive_listener(const Address& address, int backlog = 16) {
    Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    EXPECT_TRUE(fd);
    EXPECT_EQ(::bind(fd.get(), address.sockaddr_data(), address.sockaddr_length()), 0)
        << raw_sockets::errno_name(errno);
    EXPECT_EQ(::listen(fd.get(), backlog), 0);
    return fd;
}

// Accepts if a connection is queued; -1 with EAGAIN if none is. (accept4's SOCK_NONBLOCK
// would only make the *new* socket non-blocking: the listener itself must be.)
int accept_now(const Fd& listener) {
    ::fcntl(listener.get(), F_SETFL, ::fcntl(listener.get(), F_GETFL) | O_NONBLOCK);
    return ::accept4(listener.get(), nullptr, nullptr, SOCK_CLOEXEC);
}

TEST(NaivePattern, UnlinkThenBindStealsALiveServersPath) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("app.sock"));
    const Fd first = naive_listener(address);

    // A second instance "cleans up" before binding: unlink() succeeds on a live socket.
    ASSERT_EQ(::unlink(dir.file("app.sock").c_str()), 0);
    const Fd second = naive_listener(address);

    // Every new client now reaches the second server; the first still listens, on a
    // socket no path leads to any more.
    const raw_sockets::Socket client = raw_sockets::connect_to(address);
    const Fd accepted_by_second(accept_now(second));
    EXPECT_TRUE(accepted_by_second);
    const Fd accepted_by_first(accept_now(first));
    EXPECT_FALSE(accepted_by_first);
    EXPECT_EQ(errno, EAGAIN);
    int listening = 0;
    socklen_t length = sizeof listening;
    ASSERT_EQ(::getsockopt(first.get(), SOL_SOCKET, SO_ACCEPTCONN, &listening, &length), 0);
    EXPECT_EQ(listening, 1);
}

TEST(NaivePattern, BlockingConnectWaitsWhenTheBacklogIsFull) {
    const TempDir dir;
    const Address address = Address::parse(dir.unix_address("busy.sock"));
    const Fd listener = naive_listener(address, 1);
    // Fill the accept queue with connections nobody accepts.
    std::vector<Fd> queued;
    for (int i = 0; i < 64; ++i) {
        Fd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
        if (::connect(fd.get(), address.sockaddr_data(), address.sockaddr_length()) != 0) {
            ASSERT_EQ(errno, EAGAIN) << raw_sockets::errno_name(errno);
            break;  // full
        }
        queued.push_back(std::move(fd));
    }
    // A blocking connect() now waits for room; SO_SNDTIMEO bounds the wait to 300 ms, after
    // which it fails with EAGAIN. A probe that used it would hang on a busy live server.
    const Fd blocking(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
    const timeval limit{.tv_sec = 0, .tv_usec = 300'000};
    ASSERT_EQ(::setsockopt(blocking.get(), SOL_SOCKET, SO_SNDTIMEO, &limit, sizeof limit), 0);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_NE(::connect(blocking.get(), address.sockaddr_data(), address.sockaddr_length()), 0);
    EXPECT_EQ(errno, EAGAIN) << raw_sockets::errno_name(errno);
    EXPECT_GE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(250));
}

}  // namespace
