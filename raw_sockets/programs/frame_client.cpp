// frame_client: sends each argument as one length-prefixed message and prints each answer.
//
// The other half of frame_server.cpp. An argument may contain newlines or be empty: the
// length prefix, not a delimiter, marks where it ends. Chapter 03.
//
//   frame_client unix:/tmp/frames.sock "first" "$(printf 'two\nlines')" ""
#include <sys/socket.h>

#include <exception>
#include <iostream>
#include <thread>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS [MESSAGE...]", [](std::span<char*> args) {
        expect_leading_arguments(args, {"ADDRESS"});
        Socket server = connect_to(Address::parse(args[0]));
        // Read the answers while still sending. The server answers each message as it reads
        // it; a client that sent everything first would leave those answers unread, and once
        // they fill the socket buffers the server waits for us to read while we wait for it
        // to read: neither ever moves again. A second thread reads, so both directions flow.
        // When one side fails, shutdown(SHUT_RDWR) wakes the other from its wait; the
        // reader's error, the first cause, is the one reported.
        std::exception_ptr reader_failed;
        std::thread reader([&server, &reader_failed] {
            try {
                while (const auto answer = recv_frame(server)) std::cout << '[' << *answer << "]\n";
            } catch (...) {
                reader_failed = std::current_exception();
                ::shutdown(server.native_handle(), SHUT_RDWR);
            }
        });
        try {
            for (const char* message : args.subspan(1)) send_frame(server, message);
            server.shutdown_write();  // no more messages: the server ends its answers too
        } catch (...) {
            ::shutdown(server.native_handle(), SHUT_RDWR);
            reader.join();  // before the socket it reads from is gone
            if (reader_failed) std::rethrow_exception(reader_failed);
            throw;
        }
        reader.join();
        if (reader_failed) std::rethrow_exception(reader_failed);
        return 0;
    });
}
