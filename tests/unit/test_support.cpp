#include "test_support.hpp"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cxxabi.h>

#include <array>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <stdexcept>
#include <thread>

namespace test_support {

TempDir::TempDir() {
    char pattern[] = "/tmp/rs-XXXXXX";
    if (::mkdtemp(pattern) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = pattern;
}

TempDir::~TempDir() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
}

std::string type_name(const std::type_info& type) {
    int status = 0;
    char* demangled = abi::__cxa_demangle(type.name(), nullptr, nullptr, &status);
    std::string name = status == 0 && demangled != nullptr ? demangled : type.name();
    std::free(demangled);
    return name;
}

testing::AssertionResult contains(std::string_view text, std::string_view part) {
    if (text.find(part) != std::string_view::npos) return testing::AssertionSuccess();
    return testing::AssertionFailure() << "\"" << text << "\" does not contain \"" << part << "\"";
}

std::string patterned_data(std::size_t size) {
    std::string data(size, '\0');
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>((i * 131 + i / 4093) & 0xff);
    return data;
}

std::string receive_all(raw_sockets::Socket& socket) {
    std::string received;
    std::array<std::byte, 64 * 1024> buffer;
    while (const std::size_t count = socket.recv_some(buffer)) {
        received.append(reinterpret_cast<const char*>(buffer.data()), count);
    }
    return received;
}

std::string round_trip(raw_sockets::Socket& client, std::string_view data) {
    auto sending = std::async(std::launch::async, [&client, data] {
        client.send_all(data);
        client.shutdown_write();
    });
    std::string received;
    try {
        received = receive_all(client);
    } catch (...) {
        sending.wait();
        throw;
    }
    sending.get();
    return received;
}

namespace {

using Clock = std::chrono::steady_clock;
constexpr auto patience = std::chrono::seconds(5);

std::atomic<int> usr1_caught{0};
static_assert(std::atomic<int>::is_always_lock_free, "the handler needs a lock-free counter");

void count_usr1(int) {
    usr1_caught.fetch_add(1, std::memory_order_relaxed);
}

// The number before the first space of /proc/self/task/TID/syscall: the system call the
// thread is asleep in, or "running".
std::string current_syscall(pid_t tid) {
    const std::string path = "/proc/self/task/" + std::to_string(tid) + "/syscall";
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return {};
    std::array<char, 64> text{};
    const ssize_t length = ::read(fd, text.data(), text.size() - 1);
    ::close(fd);
    if (length <= 0) return {};
    const std::string_view line(text.data(), static_cast<std::size_t>(length));
    return std::string(line.substr(0, line.find(' ')));
}

}  // namespace

bool is_blocked_in(pid_t tid, long syscall_number) {
    return current_syscall(tid) == std::to_string(syscall_number);
}

bool Watch::wait_until_blocked_in(long syscall_number) const {
    const auto deadline = Clock::now() + patience;
    while (!finished_ && Clock::now() < deadline) {
        if (is_blocked_in(tid_, syscall_number)) return true;
        std::this_thread::yield();
    }
    return false;
}

bool Watch::interrupt() const {
    const int before = usr1_caught.load();
    send_signal(SIGUSR1);
    const auto deadline = Clock::now() + patience;
    while (usr1_caught.load() == before) {
        if (Clock::now() >= deadline) return false;
        std::this_thread::yield();
    }
    return true;
}

void Watch::send_signal(int signal_number) const {
    ::pthread_kill(thread_, signal_number);
}

int Watch::interruptions() const {
    return usr1_caught.load() - interruptions_at_start_;
}

void watch_blocking_calls(const std::function<void()>& watched,
                          const std::function<void(Watch&)>& watcher) {
    // No SA_RESTART: the point is to see the library's calls come back with EINTR.
    struct sigaction action {};
    action.sa_handler = count_usr1;
    sigemptyset(&action.sa_mask);
    action.sa_flags = 0;
    struct sigaction previous {};
    ::sigaction(SIGUSR1, &action, &previous);
    sigset_t usr1, previous_mask;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    ::pthread_sigmask(SIG_UNBLOCK, &usr1, &previous_mask);

    std::atomic<bool> finished{false};
    Watch watch(::gettid(), ::pthread_self(), finished);
    watch.interruptions_at_start_ = usr1_caught.load();
    std::exception_ptr watcher_error;
    std::thread watching([&] {
        try {
            watcher(watch);
        } catch (...) {
            watcher_error = std::current_exception();
        }
    });
    std::exception_ptr watched_error;
    try {
        watched();
    } catch (...) {
        watched_error = std::current_exception();
    }
    finished = true;
    // A SIGUSR1 sent before the watcher ended is handled before join() returns, so restoring
    // the old disposition afterwards cannot let one through to a default action.
    watching.join();
    ::pthread_sigmask(SIG_SETMASK, &previous_mask, nullptr);
    ::sigaction(SIGUSR1, &previous, nullptr);
    if (watched_error) std::rethrow_exception(watched_error);
    if (watcher_error) std::rethrow_exception(watcher_error);
}

}  // namespace test_support

// ---- Child (chapters 06, 07) -----------------------------------------------------------------

#include <poll.h>
#include <sys/wait.h>

#include <cerrno>

namespace test_support {

Child::Child(const std::function<std::string()>& body) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
    pid_ = ::fork();
    if (pid_ < 0) {
        ::close(ends[0]);
        ::close(ends[1]);
        throw std::runtime_error("fork failed");
    }
    if (pid_ == 0) {
        ::close(ends[0]);
        std::string report;
        try {
            report = body();
        } catch (const std::exception& error) {
            report = std::string("exception: ") + error.what();
        } catch (...) {
            report = "exception of an unknown type";
        }
        for (std::size_t sent = 0; sent < report.size();) {
            const ssize_t count = ::write(ends[1], report.data() + sent, report.size() - sent);
            if (count < 0 && errno == EINTR) continue;
            if (count <= 0) ::_exit(3);
            sent += static_cast<std::size_t>(count);
        }
        ::_exit(0);  // no destructors, no atexit handlers: they belong to the parent
    }
    ::close(ends[1]);
    report_ = ends[0];
}

Child::~Child() {
    if (pid_ > 0) {
        ::kill(pid_, SIGKILL);
        while (::waitpid(pid_, nullptr, 0) < 0 && errno == EINTR) {
        }
    }
    if (report_ >= 0) ::close(report_);
}

std::string Child::finish(int seconds) {
    if (pid_ <= 0) return "finish() called twice";
    std::string report;
    bool timed_out = false;
    const auto deadline = Clock::now() + std::chrono::seconds(seconds);
    std::array<char, 4096> buffer;
    for (;;) {
        const auto left =
            std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) {
            timed_out = true;
            break;
        }
        pollfd wait{.fd = report_, .events = POLLIN, .revents = 0};
        const int ready = ::poll(&wait, 1, static_cast<int>(left.count()));
        if (ready < 0 && errno == EINTR) continue;
        if (ready == 0) {
            timed_out = true;
            break;
        }
        const ssize_t count = ::read(report_, buffer.data(), buffer.size());
        if (count < 0 && errno == EINTR) continue;
        if (count <= 0) break;  // end of the report: the child has exited
        report.append(buffer.data(), static_cast<std::size_t>(count));
    }
    if (timed_out) ::kill(pid_, SIGKILL);
    int status = 0;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    if (timed_out) {
        return report + " [the child did not finish within " + std::to_string(seconds) +
               " s and was killed]";
    }
    if (WIFSIGNALED(status)) {
        return report + " [the child was killed by signal " + std::to_string(WTERMSIG(status)) +
               "]";
    }
    if (WEXITSTATUS(status) != 0) {
        return report + " [the child exited with status " + std::to_string(WEXITSTATUS(status)) +
               "]";
    }
    return report;
}

}  // namespace test_support
