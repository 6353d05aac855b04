// file_broker: a privileged helper that opens files for clients and hands them the open
// descriptor (SCM_RIGHTS).
//
// The client may not open the file itself; the broker, running with more privilege, decides
// (here: any regular file under --root, never through a symbolic link or `..`), opens it,
// and sends the descriptor. The client then reads the file through it, with no copy through
// the broker. This is privilege separation (OpenSSH, systemd, Chrome work this way).
// Its other half is file_client.cpp. Chapter 07.
//
//   file_broker unix:/tmp/broker.sock --root /etc/app-secrets --mode 0666
#include <fcntl.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <string>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// Opens `name` under `root`, or returns an Fd holding nothing and sets `why`.
Fd open_under(const Fd& root, const std::string& name, std::string& why) {
    // A plain name: no '/', so no absolute path, no `..` step and no directory on the way
    // (O_NOFOLLOW checks only the last component: a link to a directory in the middle of a
    // path would be followed out of the root).
    if (name.empty() || name == "." || name == ".." || name.find('/') != std::string::npos) {
        why = "only plain names under the root are served";
        return Fd();
    }
    // openat() relative to the root directory; O_NOFOLLOW refuses a symbolic link.
    Fd file(::openat(root.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (!file) {
        why = "open(" + name + "): " + errno_name(errno) + " (" + std::strerror(errno) + ")";
        return file;
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        why = name + " is not a regular file";
        return Fd();
    }
    return file;
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS --root DIR [--mode OCTAL]", [](std::span<char*> args) {
        if (args.size() != 3 && args.size() != 5) throw UsageError("wrong arguments");
        if (std::string(args[1]) != "--root") throw UsageError("expected --root DIR");
        ListenOptions options;
        if (args.size() == 5) {
            if (std::string(args[3]) != "--mode") throw UsageError("expected --mode OCTAL");
            options.unix_mode = static_cast<mode_t>(std::stoul(args[4], nullptr, 8));
        }
        const Fd root(::open(args[2], O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root) throw_errno("open", args[2]);

        StopSignals stop;
        Socket listener = listen_on(Address::parse(args[0]), options);
        SocketFileCleanup cleanup(listener);
        std::cerr << "listening on " << listener.name() << std::endl;
        while (stop.wait_readable(listener)) {
            Socket client = accept_connection(listener);
            try {
                LineReader lines(client, 4096);
                const auto name = lines.read_line();
                if (!name) continue;
                //! [hand-over]
                std::string why;
                const Fd file = open_under(root, *name, why);
                if (file) {
                    const int fds[] = {file.get()};
                    send_fds(client, "ok\n", fds);  // the client gets its own copy
                } else {
                    client.send_all("error: " + why + "\n");
                }
                //! [hand-over]
                std::cerr << to_string(peer_credentials(client)) << " asked for " << *name << ": "
                          << (file ? "sent" : why) << std::endl;
            } catch (const SocketError& error) {
                std::cerr << "client lost: " << error.what() << std::endl;
            } catch (const ProtocolError& error) {
                std::cerr << "client dropped: " << error.what() << std::endl;
            }
        }
        return 0;
    });
}
