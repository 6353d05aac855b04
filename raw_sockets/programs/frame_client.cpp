// frame_client: sends each argument as one length-prefixed message and prints each answer.
//
// The other half of frame_server.cpp. An argument may contain newlines or be empty: the
// length prefix, not a delimiter, marks where it ends. Chapter 03.
//
//   frame_client unix:/tmp/frames.sock "first" "$(printf 'two\nlines')" ""
#include <iostream>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS [MESSAGE...]", [](std::span<char*> args) {
        if (args.empty()) throw UsageError("expected an address");
        Socket server = connect_to(Address::parse(args[0]));
        // Send everything first, then read: the answers still come back one per message.
        for (const char* message : args.subspan(1)) send_frame(server, message);
        server.shutdown_write();
        while (const auto answer = recv_frame(server)) std::cout << '[' << *answer << "]\n";
        return 0;
    });
}
