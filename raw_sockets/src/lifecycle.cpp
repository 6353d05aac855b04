#include "raw_sockets/lifecycle.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

#include "raw_sockets/error.hpp"

namespace raw_sockets {

namespace {

// Shared with the signal handler, hence plain globals of the types a handler may touch.
volatile sig_atomic_t stop_requested = 0;  // the signal's number, 0 until one comes
int stop_pipe[2] = {-1, -1};
bool installed = false;
struct sigaction previous_int {
}, previous_term{};

void on_stop_signal(int number) {
    const int saved = errno;  // a handler must not disturb the errno of the code it interrupted
    stop_requested = number;
    const char byte = 1;
    [[maybe_unused]] const ssize_t ignored = ::write(stop_pipe[1], &byte, 1);
    errno = saved;
}

}  // namespace

StopSignals::StopSignals() {
    if (installed) throw std::logic_error("StopSignals: only one instance per process");
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2", "stop signals");
    stop_requested = 0;
    struct sigaction action {};
    action.sa_handler = on_stop_signal;
    sigemptyset(&action.sa_mask);
    action.sa_flags = SA_RESTART;  // blocking recv/send resume; poll() returns EINTR anyway
    ::sigaction(SIGINT, &action, &previous_int);
    ::sigaction(SIGTERM, &action, &previous_term);
    installed = true;
}

StopSignals::~StopSignals() {
    if (stop_requested != 0) {
        // The process was told to stop and is on its way out: a second SIGTERM or Ctrl-C
        // must not turn that clean exit into a death by signal. Ignore them from now on.
        ::signal(SIGINT, SIG_IGN);
        ::signal(SIGTERM, SIG_IGN);
    } else {
        ::sigaction(SIGINT, &previous_int, nullptr);
        ::sigaction(SIGTERM, &previous_term, nullptr);
    }
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    stop_pipe[0] = stop_pipe[1] = -1;
    installed = false;
}

void StopSignals::renew_after_fork() {
    ::close(stop_pipe[0]);
    ::close(stop_pipe[1]);
    if (::pipe2(stop_pipe, O_CLOEXEC | O_NONBLOCK) != 0) throw_errno("pipe2", "stop signals");
    stop_requested = 0;
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
