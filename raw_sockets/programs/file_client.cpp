// file_client: asks file_broker for a file and prints it, reading through the descriptor
// the broker sent.
//
// The other half of file_broker.cpp. The client never opens the file: it receives an open
// descriptor and reads from it, which works even when the file's permissions would have
// refused this user. Chapter 07.
//
//   file_client unix:/tmp/broker.sock secret.txt
#include <unistd.h>

#include <array>
#include <iostream>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS NAME", [](std::span<char*> args) {
        expect_arguments(args, {"ADDRESS", "NAME"});
        Socket broker = connect_to(Address::parse(args[0]));
        send_line(broker, args[1]);
        //! [receive]
        ReceivedFds reply = recv_fds(broker, 4096, 1);
        if (reply.fds.empty()) {  // the broker said why, on one line
            while (!reply.data.empty() && reply.data.back() == '\n') reply.data.pop_back();
            throw std::runtime_error("the broker sent no descriptor: " + reply.data);
        }
        const Fd& file = reply.fds.front();  // a file we never opened ourselves
        //! [receive]
        std::array<char, 16 * 1024> buffer;
        ssize_t n = 0;
        while ((n = ::read(file.get(), buffer.data(), buffer.size())) > 0) {
            std::cout.write(buffer.data(), n);
        }
        if (n < 0) throw_errno("read", "the received descriptor");
        return 0;
    });
}
