// echo_fork: the echo server of chapter 01, with one child process per client.
//
// Step 2 of chapter 04's progression; `diff` it with step 1, echo_server.cpp. The parent
// hands each client to a fork()ed child and goes straight back to accept().
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
        expect_arguments(args, {"ADDRESS"});
        // With SIGCHLD ignored, the kernel reaps exited children itself: no zombies, and no
        // handler racing with the accept loop.
        ::signal(SIGCHLD, SIG_IGN);
        const Address address = Address::parse(args[0]);
        StopSignals stop;                      // SIGINT/SIGTERM end the loop below
        Socket listener = listen_on(address);  // socket() + bind() + listen()
        SocketFileCleanup cleanup(listener);   // bind() made a file; remove it on the way out
        std::cerr << "listening on " << listener.name() << std::endl;

        //! [loop]
        while (stop.wait_readable(listener)) {  // a client is waiting, or we were told to stop
            Socket client = accept_connection(listener);
            const pid_t child = ::fork();
            if (child < 0) throw_errno("fork", listener.name());
            if (child == 0) {  // the child serves this client and nothing else
                listener.close();
                // _exit(), not exit() or return: the parent's destructors are not the child's
                ::_exit(serve_echo_client(client) ? 0 : 1);
            }
        }  // the parent's copy of each client closes here; the child keeps its own
        //! [loop]
        listener.close();
        // With SIGCHLD ignored, wait() returns only when every child has finished.
        while (::wait(nullptr) > 0 || errno == EINTR) {
        }
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
