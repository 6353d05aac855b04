/// \file
/// \brief Running code in a network namespace of its own (chapter 12).
///
/// A pathname Unix socket is a file: any process that can see the file reaches it, whatever
/// its network namespace. An abstract one is a name in the network namespace that bound it,
/// and only there. run_in_new_network_namespace() lets a test (or a learner) see both sides
/// without `ip netns`: it runs a function in a child process that has a network namespace of
/// its own, and leaves the caller where it was.
#pragma once

#include <functional>

namespace raw_sockets {

/// The exit status a child gives when `body` throws (its what() goes to stderr first).
inline constexpr int body_threw_status = 125;

/// Runs `body` in a forked child that first moves into a new network namespace, and returns
/// the child's exit status. The caller's process never changes namespace.
///
/// - The child calls unshare(CLONE_NEWNET); refused with EPERM (not root), it tries again with
///   unshare(CLONE_NEWUSER | CLONE_NEWNET), since a new user namespace gives it the right to
///   make a network namespace. Only the new namespace's loopback exists, and it is down.
/// - If unshare() fails, `body` does not run and the call throws SocketError("unshare", ...)
///   with the child's errno (the child reports it over a pipe).
/// - The child never returns into the caller's code: it leaves with _exit(), with `body`'s
///   return value as the status (only its low 8 bits survive, as for any exit status). An
///   exception from `body` is reported on stderr and becomes body_threw_status.
/// - The child is always waited for (no zombie is left) and no descriptor is left open.
///
/// \param body what to run in the new namespace; its return value is the exit status
/// \return `body`'s return value (0 to 255); 128 + the signal number if the child was killed
///         by a signal, as a shell reports it
/// \throws SocketError if pipe2(), fork(), unshare() or waitpid() fails
int run_in_new_network_namespace(const std::function<int()>& body);

}  // namespace raw_sockets
