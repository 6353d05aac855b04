// frame_server: answers each length-prefixed message with "got N bytes: " and the message.
//
// Messages keep their boundaries over a byte stream because each one carries its length
// (send_frame/recv_frame in framing.hpp). Its other half is frame_client.cpp. Chapter 03.
//
//   frame_server unix:/tmp/frames.sock
#include <iostream>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS"});
        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]));
        SocketFileCleanup cleanup(listener);
        std::cerr << "listening on " << listener.name() << std::endl;
        while (stop.wait_readable(listener)) {
            Socket client = accept_connection(listener);
            // One client at a time, but a stop is not kept waiting by one that sends nothing
            // or stops mid-frame: its recv() or send() gives up (ECANCELED, caught below).
            client.set_stop_event(stop.event_fd());
            try {
                //! [serve-frames]
                while (const auto message = recv_frame(client)) {
                    send_frame(client,
                               "got " + std::to_string(message->size()) + " bytes: " + *message);
                }
                //! [serve-frames]
            } catch (const ProtocolError& error) {
                // A client that breaks the framing loses its connection, not the server.
                std::cerr << "dropping " << client.name() << ": " << error.what() << std::endl;
            } catch (const SocketError& error) {
                // So does one that resets or leaves without reading its answers (EPIPE).
                std::cerr << "client " << client.name() << " lost: " << error.what() << std::endl;
            }
        }
        return 0;
    });
}
