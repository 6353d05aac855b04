// echo_server: accepts one client at a time and sends back every byte it receives.
//
// Chapter 01 runs it on a Unix socket, chapter 02 on TCP: it is the same program, because
// only the address differs. Its other half is echo_client.cpp. Chapter 04 makes it serve
// many clients at once, one idea per step: diff it with echo_fork.cpp, the next step.
//
//   echo_server unix:/tmp/echo.sock     (or 127.0.0.1:7000, [::1]:0, unix:@echo)
//
// It prints `listening on ADDRESS` to stderr once clients can connect, and on SIGINT or
// SIGTERM removes its socket file and exits 0. It serves one client at a time, waiting for
// that client alone (chapter 04's lesson), but not at a stop: a client in hand that sends
// nothing, or does not read, is abandoned then rather than waited for.
#include <iostream>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS"});
        //! [server]
        const Address address = Address::parse(args[0]);
        StopSignals stop;                      // SIGINT/SIGTERM end the loop below
        Socket listener = listen_on(address);  // socket() + bind() + listen()
        SocketFileCleanup cleanup(listener);   // bind() made a file; remove it on the way out
        std::cerr << "listening on " << listener.name() << std::endl;

        while (stop.wait_readable(listener)) {  // a client is waiting, or we were told to stop
            Socket client = accept_connection(listener);
            client.set_stop_event(stop.event_fd());  // a stop ends the wait for this client too
            // echo_until_eof() until the client ends its stream; a client that resets or
            // leaves without reading ends its own connection, not the server.
            serve_echo_client(client);
        }  // each client Socket closes as it goes out of scope
        //! [server]
        std::cerr << "stopping" << std::endl;
        return 0;
    });
}
