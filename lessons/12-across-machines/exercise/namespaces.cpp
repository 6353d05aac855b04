// Chapter 12 exercise: a child in a network namespace of its own.
//
// run_in_new_network_namespace(body) runs body in a child process whose network namespace is
// new, and returns the child's exit status. The tests bind a pathname and an abstract socket
// in their own process and call body to connect to them from the other side. Write it:
//   1. Make a pipe (pipe2 with O_CLOEXEC) for the child to report a failed unshare(), then
//      fork(). A failed pipe2 or fork is thrown with throw_errno("pipe2" or "fork", ...).
//   2. In the child: unshare(CLONE_NEWNET). If that fails with EPERM (not root), try
//      unshare(CLONE_NEWUSER | CLONE_NEWNET). If it still fails, body must not run: write the
//      errno into the pipe and leave with _exit().
//   3. Otherwise run body. Its return value is the exit status. An exception from body is
//      written to stderr and becomes body_threw_status (125): it must not unwind out of the
//      child into the caller's code.
//   4. The child always leaves with _exit(status): never return (the caller's code would run
//      twice, once per process) and never exit() (the caller's atexit handlers would run in
//      the child).
//   5. In the parent: close the pipe's write end, read the child's errno (end of file: none),
//      and waitpid() for the child, retrying on EINTR, so that no zombie is left. A reported
//      errno is thrown as SocketError("unshare", "CLONE_NEWNET", errno), after the wait.
//   6. Return WEXITSTATUS of a child that exited, 128 + WTERMSIG of one killed by a signal.
//   7. The caller's own process never changes namespace, and every descriptor it opened is
//      closed on every way out (hold them in an Fd).
//
// Check:  scripts/exercise 12   (stuck? scripts/exercise 12 --hint)
#include <functional>
#include <stdexcept>

#include "raw_sockets/namespaces.hpp"

namespace raw_sockets {

int run_in_new_network_namespace(const std::function<int()>& body) {
    (void)body;
    // TODO(lesson12): pipe, fork, unshare in the child, body, _exit; waitpid in the parent.
    throw std::logic_error(
        "TODO(lesson12): run_in_new_network_namespace() is not written yet: edit "
        "lessons/12-across-machines/exercise/namespaces.cpp");
}

}  // namespace raw_sockets
