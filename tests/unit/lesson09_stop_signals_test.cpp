// Chapter 09: StopSignals::fork_child(), the fork() of http_min's master. A stop signal sent
// to a worker the moment it is forked is neither lost nor taken for the master's, and a
// worker is told to stop when its master dies. Also: the signals that count as a stop
// request are the program's choice (http_min adds SIGHUP; the example programs do not).
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <optional>

#include "raw_sockets/lifecycle.hpp"

namespace {

using Clock = std::chrono::steady_clock;

// In a child: waits up to five seconds for a stop request, then exits 0 if one came.
[[noreturn]] void exit_once_stopped(const raw_sockets::StopSignals& stop) {
    pollfd event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
    while (!stop.requested() && Clock::now() < deadline) ::poll(&event, 1, 100);
    ::_exit(stop.requested() ? 0 : 1);
}

// The exit status of child `pid` once it ends, or nullopt if it has not within ten seconds
// (it is then killed and reaped).
std::optional<int> exit_status_of(pid_t pid) {
    const Clock::time_point deadline = Clock::now() + std::chrono::seconds(10);
    int status = 0;
    while (::waitpid(pid, &status, WNOHANG) == 0) {
        if (Clock::now() > deadline) {
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            return std::nullopt;
        }
        ::poll(nullptr, 0, 10);
    }
    if (!WIFEXITED(status)) return -WTERMSIG(status);
    return WEXITSTATUS(status);
}

bool readable_now(int fd) {
    pollfd event{.fd = fd, .events = POLLIN, .revents = 0};
    return ::poll(&event, 1, 0) == 1;
}

TEST(ForkChild, ASignalSentTheMomentTheChildIsForkedIsNeitherLostNorTheParents) {
    // The race of a master that stops while it forks: SIGTERM at once, many times over.
    raw_sockets::StopSignals stop;
    for (int round = 0; round < 100; ++round) {
        const pid_t child = stop.fork_child();
        if (child == 0) exit_once_stopped(stop);
        ASSERT_EQ(::kill(child, SIGTERM), 0);
        EXPECT_EQ(exit_status_of(child), 0) << "round " << round << ": the child's stop was lost";
        ASSERT_FALSE(stop.requested()) << "round " << round << ": the parent took it as its own";
        ASSERT_FALSE(readable_now(stop.event_fd()))
            << "round " << round << ": the child wrote to the parent's stop pipe";
    }
}

TEST(ForkChild, TheChildHasAStopStateOfItsOwn) {
    raw_sockets::StopSignals stop;
    const pid_t child = stop.fork_child();
    if (child == 0) {
        // No stop inherited, and a pipe that is not the parent's.
        ::_exit(!stop.requested() && !readable_now(stop.event_fd()) ? 0 : 1);
    }
    EXPECT_EQ(exit_status_of(child), 0);
}

TEST(ForkChild, TheChildIsToldToStopWhenItsParentDies) {
    // A middle process forks the child with fork_child(), then dies at once of SIGKILL: it
    // cleans nothing up and signals nobody. The child reports through a pipe whether its stop
    // came, within its five seconds.
    raw_sockets::StopSignals stop;
    int report[2];
    ASSERT_EQ(::pipe(report), 0);
    const pid_t middle = ::fork();
    ASSERT_GE(middle, 0);
    if (middle == 0) {
        ::close(report[0]);
        if (stop.fork_child() == 0) {
            pollfd event{.fd = stop.event_fd(), .events = POLLIN, .revents = 0};
            const Clock::time_point deadline = Clock::now() + std::chrono::seconds(5);
            while (!stop.requested() && Clock::now() < deadline) ::poll(&event, 1, 100);
            const char outcome = stop.requested() ? 'y' : 'n';
            [[maybe_unused]] const ssize_t ignored = ::write(report[1], &outcome, 1);
            ::_exit(0);
        }
        ::raise(SIGKILL);
    }
    ::close(report[1]);
    EXPECT_EQ(exit_status_of(middle), -SIGKILL);
    char outcome = '?';
    EXPECT_EQ(::read(report[0], &outcome, 1), 1);
    ::close(report[0]);
    EXPECT_EQ(outcome, 'y') << "the child did not learn that its parent died";
}

TEST(StopSignals, SighupIsAStopRequestOnlyWhenChosen) {
    {
        const raw_sockets::StopSignals stop;  // the example programs: SIGINT and SIGTERM
        struct sigaction hangup {};
        ::sigaction(SIGHUP, nullptr, &hangup);
        EXPECT_EQ(hangup.sa_handler, SIG_DFL);
    }
    const raw_sockets::StopSignals stop({SIGINT, SIGTERM, SIGHUP});  // http_min
    ASSERT_EQ(::raise(SIGHUP), 0);
    EXPECT_TRUE(stop.requested());
    EXPECT_EQ(stop.signal_number(), SIGHUP);
    EXPECT_TRUE(readable_now(stop.event_fd()));
}

}  // namespace
