#include "raw_sockets/lifecycle.hpp"

#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>
#include <utility>
#include <vector>

#include "internal.hpp"
#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

// Shared with the signal handler, hence plain globals of the types a handler may touch.
volatile sig_atomic_t stop_requested = 0;  // the signal's number, 0 until one comes
int stop_pipe[2] = {-1, -1};
bool installed = false;
sigset_t stop_set;                                               // the signals we handle
std::vector<std::pair<int, struct sigaction>> previous_actions;  // to put back at the end

void on_stop_signal(int number) {
    const int saved = errno;  // a handler must not disturb the errno of the code it interrupted
    stop_requested = number;
    const char byte = 1;
    [[maybe_unused]] const ssize_t ignored = ::write(stop_pipe[1], &byte, 1);
    errno = saved;
}

}  // namespace

StopSignals::StopSignals(std::initializer_list<int> signals) {
    if (installed) throw std::logic_error("StopSignals: only one instance per process");
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2", "stop signals");
    stop_requested = 0;
    sigemptyset(&stop_set);
    for (const int number : signals) sigaddset(&stop_set, number);
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    action.sa_mask = stop_set;
    action.sa_flags = SA_RESTART;  // blocking recv/send resume; poll() returns EINTR anyway
    previous_actions.clear();
    for (const int number : signals) {
        struct sigaction previous {};
        ::sigaction(number, &action, &previous);
        previous_actions.emplace_back(number, previous);
    }
    installed = true;
}

StopSignals::~StopSignals() {
    for (const auto& [number, previous] : previous_actions) {
        if (stop_requested != 0) {
            // The process was told to stop and is on its way out: a second SIGTERM or Ctrl-C
            // must not turn that clean exit into a death by signal. Ignore them from now on.
            ::signal(number, SIG_IGN);
        } else {
            ::sigaction(number, &previous, nullptr);
        }
    }
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
    installed = false;
}

pid_t StopSignals::fork_child() {
    // Everything that can fail is done here, in the parent, where it can be reported.
    int child_pipe[2];
    if (::pipe2(child_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2", "stop signals");
    // A stop signal that came to the child before its state is its own would set the flag
    // that the child then clears, or write to the pipe it shares with its parent: lost, or
    // taken for the parent's. Blocked, it waits until the child is ready.
    sigset_t previous_mask;
    ::pthread_sigmask(SIG_BLOCK, &stop_set, &previous_mask);
    const pid_t parent = ::getpid();
    const pid_t pid = ::fork();
    if (pid != 0) {
        const int fork_error = errno;
        ::close(child_pipe[0]);
        ::close(child_pipe[1]);
        ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);  // pending signals come now
        if (pid < 0) {
            errno = fork_error;
            throw_errno("fork", "child");
        }
        return pid;
    }
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    stop_pipe[0] = child_pipe[0];
    stop_pipe[1] = child_pipe[1];
    stop_requested = 0;  // the parent's request, if it had one, is the parent's
    // If the parent dies, even of SIGKILL, the kernel sends us SIGTERM: no orphan goes on
    // serving. ("Parent" means the thread that forked: fork from the main thread.) The parent
    // may have died before this call took effect: then we were re-parented already.
    ::prctl(PR_SET_PDEATHSIG, SIGTERM);
    if (::getppid() != parent) ::raise(SIGTERM);  // held until the mask below lets it through
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    return 0;
}

bool StopSignals::requested() const noexcept {
    return stop_requested != 0;
}

int StopSignals::signal_number() const noexcept {
    return stop_requested;
}

int StopSignals::event_fd() const noexcept {
    return stop_pipe[0];
}

bool StopSignals::wait_readable(const Socket& socket) const {
    pollfd fds[2] = {{.fd = socket.native_handle(), .events = POLLIN, .revents = 0},
                     {.fd = stop_pipe[0], .events = POLLIN, .revents = 0}};
    while (!requested()) {
        if (::poll(fds, 2, -1) < 0) {
            if (errno == EINTR) continue;  // most likely our own signal: loop to check
            throw_errno("poll", socket.name());
        }
        if (fds[1].revents != 0) return false;
        if (fds[0].revents != 0) return true;
    }
    return false;
}

namespace internal {

bool stop_requested_within(std::chrono::milliseconds wait) {
    if (stop_requested != 0) return true;
    if (!installed) {
        std::this_thread::sleep_for(wait);
        return false;
    }
    pollfd stop{.fd = stop_pipe[0], .events = POLLIN, .revents = 0};
    ::poll(&stop, 1, static_cast<int>(wait.count()));  // EINTR: most likely the stop itself
    return stop_requested != 0;
}

}  // namespace internal

SocketFileCleanup::SocketFileCleanup(const Socket& listener) {
    const Address bound = local_address(listener);
    if (bound.kind() != Address::Kind::unix_path) return;  // no file: nothing to clean
    struct stat info {};
    if (::lstat(std::string(bound.unix_name()).c_str(), &info) != 0 || !S_ISSOCK(info.st_mode)) {
        return;
    }
    path_ = bound.unix_name();
    device_ = info.st_dev;
    inode_ = info.st_ino;
    owner_ = ::getpid();
}

SocketFileCleanup::~SocketFileCleanup() {
    if (path_.empty() || ::getpid() != owner_) return;
    struct stat info {};
    // Another server may have replaced the file since: then it is theirs, not ours.
    if (::lstat(path_.c_str(), &info) == 0 && S_ISSOCK(info.st_mode) && info.st_dev == device_ &&
        info.st_ino == inode_) {
        ::unlink(path_.c_str());
    }
}

}  // namespace raw_sockets
