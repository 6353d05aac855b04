// echo_threads: the echo server with one thread per client.
//
// Step 3 of chapter 04's progression; `diff` it with step 2, echo_fork.cpp. A thread is
// cheaper than a process and shares the server's memory, which is both its advantage and
// its danger; here the threads share nothing but a count of how many are running.
//
//   echo_threads unix:/tmp/echo.sock
#include <iostream>
#include <thread>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS"});
        RunningClients running;  // the threads are detached: count them to wait for them
        const Address address = Address::parse(args[0]);
        StopSignals stop;                      // SIGINT/SIGTERM end the loop below
        Socket listener = listen_on(address);  // socket() + bind() + listen()
        SocketFileCleanup cleanup(listener);   // bind() made a file; remove it on the way out
        std::cerr << "listening on " << listener.name() << std::endl;

        //! [loop]
        Acceptor acceptor;  // out of descriptors, it stops accepting until a client leaves
        while (stop.wait_readable(listener)) {  // a client is waiting, or we were told to stop
            std::optional<Socket> client = acceptor.accept(listener);
            if (!client) {  // out of descriptors: wait for a client to leave
                running.wait_for_one_to_finish();
                acceptor.resume();
                continue;
            }
            running.started();
            // The thread owns the connection: it is moved in, and closed when the thread ends.
            std::thread([&running, client = std::move(*client)]() mutable {
                serve_echo_client(client);
                client.close();
                running.finished();
            }).detach();
        }
        //! [loop]
        listener.close();
        running.wait_until_idle();
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
