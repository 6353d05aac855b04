// Mutant: Unshares CLONE_NEWNS (a mount namespace) instead of CLONE_NEWNET, so the child keeps the
// caller's network.
// Caught by: lesson12.Namespaces.BodyRunsInAnotherNamespaceWhoseLoopbackIsDown
//
// A child process in a network namespace of its own: what `unshare --net` does,
// as one function. Chapter 12's exercise (lessons/12-across-machines/exercise/namespaces.cpp)
// replaces this file.
#include <fcntl.h>
#include <sched.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <exception>
#include <functional>
#include <string>
#include <utility>

#include "raw_sockets/error.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/namespaces.hpp"

namespace raw_sockets {
namespace {

// What the child reports when unshare() fails: the errno, so that the parent can throw it.
constexpr int unshare_failed_status = 126;

// In the child: a new network namespace. Not root, the kernel refuses CLONE_NEWNET alone
// (EPERM); a new user namespace makes the child its owner, which is enough to create one.
int enter_new_network_namespace() {
    if (::unshare(CLONE_NEWNS) == 0) return 0;
    if (errno == EPERM && ::unshare(CLONE_NEWUSER | CLONE_NEWNS) == 0) return 0;
    return errno;
}

// In the child: body's status. An exception must not unwind into the caller's frames, which
// belong to the parent's copy of the program: it becomes a status.
int run_body(const std::function<int()>& body) {
    try {
        return body();
    } catch (const std::exception& error) {
        std::fprintf(stderr, "run_in_new_network_namespace: body threw: %s\n", error.what());
    } catch (...) {
        std::fprintf(stderr, "run_in_new_network_namespace: body threw a non-exception\n");
    }
    return body_threw_status;
}

// The child's whole life. It ends in _exit(), never in return or exit(): either would run
// the parent's code (its caller's frames, or its atexit handlers and static destructors) in
// this copy of the process.
[[noreturn]] void child(Fd report, const std::function<int()>& body) {
    const int error_number = enter_new_network_namespace();
    if (error_number != 0) {
        // A short write on a fresh pipe cannot happen; if the write fails, the parent still
        // sees the reserved status.
        [[maybe_unused]] const auto written =
            ::write(report.get(), &error_number, sizeof error_number);
        ::_exit(unshare_failed_status);
    }
    report.reset();  // end of file for the parent: unshare() succeeded
    const int status = run_body(body);
    std::fflush(nullptr);  // body's own output: _exit() does not flush stdio
    ::_exit(status);
}

// In the parent: the errno the child sent, or 0 once the pipe is closed without one.
int read_child_error(const Fd& report) {
    int error_number = 0;
    ssize_t got = 0;
    do {
        got = ::read(report.get(), &error_number, sizeof error_number);
    } while (got < 0 && errno == EINTR);
    return got == static_cast<ssize_t>(sizeof error_number) ? error_number : 0;
}

// In the parent: the child's wait status, once it has ended (so no zombie is left).
int wait_for(pid_t pid) {
    int status = 0;
    while (::waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) throw_errno("waitpid", "child " + std::to_string(pid));
    }
    return status;
}

// A wait status as a shell reports it: the exit status, or 128 + the signal that killed it.
int exit_status(int wait_status) {
    if (WIFSIGNALED(wait_status)) return 128 + WTERMSIG(wait_status);
    return WEXITSTATUS(wait_status);
}

}  // namespace

//! [run_in_new_network_namespace]
int run_in_new_network_namespace(const std::function<int()>& body) {
    int ends[2];
    if (::pipe2(ends, O_CLOEXEC) != 0) throw_errno("pipe2", "unshare report");
    Fd report_read(ends[0]);
    Fd report_write(ends[1]);

    std::fflush(nullptr);  // or the child would inherit, and later print, our buffered output
    const pid_t pid = ::fork();
    if (pid < 0) throw_errno("fork", "network namespace child");
    if (pid == 0) {
        report_read.reset();
        child(std::move(report_write), body);
    }
    report_write.reset();  // else our read() would wait for our own write end
    const int error_number = read_child_error(report_read);
    const int wait_status = wait_for(pid);
    if (error_number != 0) throw SocketError("unshare", "CLONE_NEWNET", error_number);
    return exit_status(wait_status);
}
//! [run_in_new_network_namespace]

}  // namespace raw_sockets
