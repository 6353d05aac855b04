// echo_fork: the echo server of chapter 01, with one child process per client.
//
// Step 2 of chapter 04's progression (echo_server is step 1, echo_threads step 3): the only
// change is that the parent hands each connection to a fork()ed child and goes straight
// back to accept(). Compare them with `diff`.
//
//   echo_fork unix:/tmp/echo.sock
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <iostream>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        if (args.size() != 1) throw UsageError("expected one address");
        // With SIGCHLD ignored, the kernel reaps exited children itself: no zombies, and no
        // handler racing with the accept loop.
        ::signal(SIGCHLD, SIG_IGN);
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        std::cerr << "listening on " << listener.name() << std::endl;

        //! [fork]
        while (stop.wait_readable(listener)) {
            Socket client = accept_connection(listener);
            const pid_t child = ::fork();
            if (child < 0) throw_errno("fork", listener.name());
            if (child == 0) {  // the child serves this client and nothing else
                listener.close();
                int status = 0;
                try {
                    echo_until_eof(client);
                } catch (const std::exception& error) {
                    std::cerr << "client " << client.name() << ": " << error.what() << std::endl;
                    status = 1;
                }
                ::_exit(status);  // not exit(): the parent's destructors are not the child's to run
            }
            // The parent's copy of the connection closes here; the child keeps its own.
        }
        //! [fork]
        listener.close();
        // With SIGCHLD ignored, wait() returns only when every child has finished.
        while (::wait(nullptr) > 0 || errno == EINTR) {
        }
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
