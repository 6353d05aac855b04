// sock_request: connects, sends one line (if given), ends its side, prints every answer.
//
// A tiny netcat for the course's address syntax: `sock_request unix:/tmp/who.sock` asks
// whoami_server who we are. Chapter 06 runs it as different users.
//
//   sock_request ADDRESS [TEXT...]
#include <array>
#include <iostream>
#include <string>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS [TEXT...]", [](std::span<char*> args) {
        expect_leading_arguments(args, {"ADDRESS"});
        Socket server = connect_to(Address::parse(args[0]));
        if (args.size() > 1) {
            std::string line = args[1];
            for (const char* word : args.subspan(2)) line += std::string(" ") + word;
            send_line(server, line);
        }
        server.shutdown_write();
        std::array<std::byte, 4096> buffer;
        while (const std::size_t received = server.recv_some(buffer)) {
            std::cout.write(reinterpret_cast<const char*>(buffer.data()),
                            static_cast<std::streamsize>(received));
        }
        std::cout.flush();
        return 0;
    });
}
