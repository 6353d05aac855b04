// Helpers shared by the unit tests: short temporary directories for socket files, checks on
// thrown exceptions, a round trip through a peer that echoes, and a way to catch a thread
// asleep inside a system call, to interrupt it or to feed it one piece at a time.
#pragma once

#include <gtest/gtest.h>
#include <pthread.h>
#include <sys/types.h>

#include <atomic>
#include <cstddef>
#include <exception>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <typeinfo>
#include <utility>

#include "raw_sockets/socket.hpp"

namespace test_support {

/// A fresh directory under /tmp (short, unlike most test frameworks' temp dirs, because
/// sun_path holds 108 bytes), removed with everything in it when the object goes.
class TempDir {
  public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    /// The directory's path.
    const std::string& path() const { return path_; }
    /// `path()/name`.
    std::string file(const std::string& name) const { return path_ + "/" + name; }
    /// `unix:path()/name`, the course's address syntax.
    std::string unix_address(const std::string& name) const { return "unix:" + file(name); }

  private:
    std::string path_;
};

/// The readable name of a type, for failure messages.
std::string type_name(const std::type_info& type);

/// The `Exception` that `action` throws, or std::nullopt (and a test failure that says what
/// happened instead) if it throws nothing or something else.
template <class Exception, class Action>
std::optional<Exception> thrown(Action&& action) {
    try {
        std::forward<Action>(action)();
    } catch (const Exception& error) {
        return error;
    } catch (const std::exception& error) {
        ADD_FAILURE() << "expected " << type_name(typeid(Exception)) << ", but got "
                      << type_name(typeid(error)) << ": " << error.what();
        return std::nullopt;
    }
    ADD_FAILURE() << "expected " << type_name(typeid(Exception)) << ", but nothing was thrown";
    return std::nullopt;
}

/// Success if `text` contains `part`; the failure shows both.
testing::AssertionResult contains(std::string_view text, std::string_view part);

/// `size` bytes whose pattern does not repeat at any power-of-two stride, so a lost,
/// repeated or reordered chunk shows up in a comparison.
std::string patterned_data(std::size_t size);

/// Receives until the peer ends the stream, and returns everything.
std::string receive_all(raw_sockets::Socket& socket);

/// Sends `data` on `client` from another thread while receiving here, then half-closes, and
/// returns everything received until the peer ends the stream. With an echoing peer neither
/// side waits for the other to drain, however large `data` is.
std::string round_trip(raw_sockets::Socket& client, std::string_view data);

/// True if thread `tid` of this process is asleep inside system call `syscall_number` (such
/// as SYS_epoll_wait), as /proc/self/task/TID/syscall says.
bool is_blocked_in(pid_t tid, long syscall_number);

/// What a watcher thread sees of the thread it watches (see watch_blocking_calls()).
class Watch {
  public:
    Watch(pid_t tid, pthread_t thread, const std::atomic<bool>& finished)
        : tid_(tid), thread_(thread), finished_(finished) {}

    /// Waits until the watched thread is asleep inside system call `syscall_number` (such
    /// as SYS_recvfrom), by polling /proc/self/task/TID/syscall. Returns false if the
    /// watched code finished first or nothing happened for 5 seconds.
    bool wait_until_blocked_in(long syscall_number) const;
    /// Sends SIGUSR1 to the watched thread and waits until its handler has run. The handler
    /// is installed without SA_RESTART, so a blocked call returns EINTR, or a short count if
    /// it had already moved some bytes. Returns false if the handler did not run within 5 s.
    bool interrupt() const;
    /// Sends `signal_number` to the watched thread.
    void send_signal(int signal_number) const;
    /// How many SIGUSR1 the handler has caught since watching began.
    int interruptions() const;
    /// True once the watched code has returned or thrown.
    bool watched_finished() const { return finished_; }

  private:
    pid_t tid_;
    pthread_t thread_;
    const std::atomic<bool>& finished_;
    int interruptions_at_start_ = 0;
    friend void watch_blocking_calls(const std::function<void()>&,
                                     const std::function<void(Watch&)>&);
};

/// Runs `watched` in this thread and `watcher` in another one that can see where this thread
/// blocks and interrupt it. A counting SIGUSR1 handler without SA_RESTART is installed for
/// the duration. Rethrows an exception from `watched` (first) or `watcher` once both ended.
void watch_blocking_calls(const std::function<void()>& watched,
                          const std::function<void(Watch&)>& watcher);

}  // namespace test_support

namespace test_support {

/// A forked child process, for tests that need a second process: a peer with another pid, or
/// one that switches to another user. The child runs `body` and _exit()s without running
/// the parent's destructors (so a TempDir is not removed twice). `body` returns the child's
/// report, empty when all went as expected; an exception becomes its what(). Keep `body`
/// simple (system calls and the library, no gtest assertions): it runs in a copy of this
/// process made by fork().
class Child {
  public:
    explicit Child(const std::function<std::string()>& body);
    /// Kills (SIGKILL) and reaps the child if finish() has not.
    ~Child();
    Child(const Child&) = delete;
    Child& operator=(const Child&) = delete;

    /// The child's process id.
    pid_t pid() const { return pid_; }
    /// Waits at most `seconds` for the child to end and returns its report. A non-zero exit,
    /// a signal or the deadline (the child is then killed) is described in the result, so a
    /// test that compares the report sees what went wrong.
    std::string finish(int seconds = 10);

  private:
    pid_t pid_ = -1;
    int report_ = -1;  // read end of the pipe that carries the report
};

}  // namespace test_support
