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
    // O_NONBLOCK: look before waiting. Opening a FIFO for reading waits for a writer, and
    // this server serves one client at a time: every later client, and SIGTERM, would wait
    // with it. With O_NONBLOCK open() returns at once, and fstat() tells what we have.
    Fd file(::openat(root.get(), name.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
    if (!file) {
        why = "open(" + name + "): " + errno_name(errno) + " (" + std::strerror(errno) + ")";
        return file;
    }
    struct stat info {};
    if (::fstat(file.get(), &info) != 0 || !S_ISREG(info.st_mode)) {
        why = name + " is not a regular file";
        return Fd();
    }
    // The client shares this open file description, and with it the file status flags
    // (O_NONBLOCK among them; FD_CLOEXEC is each descriptor's own): hand it over as an
    // ordinary blocking file.
    const int flags = ::fcntl(file.get(), F_GETFL);
    if (flags < 0 || ::fcntl(file.get(), F_SETFL, flags & ~O_NONBLOCK) != 0) {
        throw_errno("fcntl", name);
    }
    return file;
}

struct Options {
    std::string address;
    std::string root;
    ListenOptions listen;
};

Options parse(std::span<char*> args) {
    expect_leading_arguments(args, {"ADDRESS"});
    Options options{args[0], {}, {}};
    for (std::size_t i = 1; i < args.size(); i += 2) {
        const std::string_view flag = args[i];
        if (flag == "--root") {
            options.root = option_value(args, i);
            if (options.root.empty()) throw UsageError("--root '' is not a directory");
        } else if (flag == "--mode") {
            options.listen.unix_mode = parse_mode_option(flag, option_value(args, i));
        } else if (flag.starts_with('-')) {
            throw UsageError("unknown option '" + std::string(flag) + "'");
        } else {
            throw UsageError("unexpected argument '" + std::string(flag) + "'");
        }
    }
    if (options.root.empty()) throw UsageError("missing --root DIR");
    return options;
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, "ADDRESS --root DIR [--mode OCTAL]", [](std::span<char*> args) {
        const Options options = parse(args);
        const Fd root(::open(options.root.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (!root) throw_errno("open", options.root);

        StopSignals stop;
        Socket listener = listen_on(Address::parse(options.address), options.listen);
        SocketFileCleanup cleanup(listener);
        std::cerr << "listening on " << listener.name() << std::endl;
        while (stop.wait_readable(listener)) {
            Socket client = accept_connection(listener);
            // One client at a time, but a stop is not kept waiting by one that sends nothing
            // or half a name: its recv() gives up (ECANCELED, caught below).
            client.set_stop_event(stop.event_fd());
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
                // The name is the client's text: escaped, it can neither forge a log line nor
                // send terminal escapes to whoever reads the log.
                std::cerr << to_string(peer_credentials(client)) << " asked for "
                          << escape_for_log(*name) << ": " << (file ? "sent" : escape_for_log(why))
                          << std::endl;
            } catch (const SocketError& error) {
                std::cerr << "client lost: " << error.what() << std::endl;
            } catch (const ProtocolError& error) {
                std::cerr << "client dropped: " << error.what() << std::endl;
            }
        }
        return 0;
    });
}
