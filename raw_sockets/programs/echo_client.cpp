// echo_client: sends text to an echo server and prints what comes back.
//
// The other half of echo_server.cpp; the same binary talks over a Unix socket (chapter 01)
// or TCP (chapter 02).
//
//   echo_client unix:/tmp/echo.sock hello there    (sends "hello there\n")
//   echo_client 127.0.0.1:7000 < file              (sends standard input)
#include <unistd.h>
#include <array>
#include <iostream>
#include <string>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// Echo returns exactly the bytes we sent, so after each send we know how many to read:
// a stream has no message boundaries (chapter 03) and this is the framing we rely on.
void round_trip(Socket& server, std::string_view chunk) {
    server.send_all(chunk);
    std::string reply(chunk.size(), '\0');
    if (!server.recv_exact(std::as_writable_bytes(std::span(reply)))) {
        throw ProtocolError("the server closed the connection without answering");
    }
    std::cout << reply << std::flush;
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS [WORD...]", [](std::span<char*> args) {
        expect_leading_arguments(args, {"ADDRESS"});
        //! [client]
        Socket server = connect_to(Address::parse(args[0]));
        if (args.size() > 1) {
            std::string message = args[1];
            for (const char* word : args.subspan(2)) message += std::string(" ") + word;
            round_trip(server, message + "\n");
        } else {
            std::array<char, 16 * 1024> chunk;
            ssize_t n = 0;
            while ((n = ::read(STDIN_FILENO, chunk.data(), chunk.size())) > 0) {
                round_trip(server, std::string_view(chunk.data(), static_cast<std::size_t>(n)));
            }
            if (n < 0) throw_errno("read", "standard input");
        }
        server.shutdown_write();  // "no more from me": the server's recv() returns 0
        //! [client]
        return 0;
    });
}
