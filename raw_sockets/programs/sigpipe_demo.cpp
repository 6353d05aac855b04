// sigpipe_demo: write to a socket whose reader has gone.
//
// With a plain send(), the kernel raises SIGPIPE and its default action ends the process
// on the spot: the shell reports exit status 141 (128 + 13). With MSG_NOSIGNAL, as
// Socket::send_all uses, the same write fails with EPIPE and the program carries on and
// can report it. Chapter 03.
//
//   sigpipe_demo             (killed by SIGPIPE)
//   sigpipe_demo --nosignal  (prints the EPIPE error and exits 0)
#include <sys/socket.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string_view>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

int main(int argc, char** argv) {
    return run_program(argc, argv, "[--nosignal]", [](std::span<char*> args) {
        const bool nosignal = !args.empty() && std::string_view(args[0]) == "--nosignal";
        expect_arguments(args.subspan(nosignal ? 1 : 0), {});  // nothing else
        auto [writer, reader] = socket_pair(SOCK_STREAM);
        reader.close();
        std::cout << "the reader has closed; sending with "
                  << (nosignal ? "MSG_NOSIGNAL" : "plain send()") << std::endl;
        //! [sigpipe]
        const int flags = nosignal ? MSG_NOSIGNAL : 0;
        if (::send(writer.native_handle(), "x", 1, flags) < 0) {
            std::cout << "send failed with " << errno_name(errno) << " (" << std::strerror(errno)
                      << "); the process is still alive" << std::endl;
        }
        //! [sigpipe]
        return 0;
    });
}
