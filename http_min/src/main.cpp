// http_min: a minimal HTTP/1.1 server over Unix sockets and TCP. Command line: see usage in
// config.cpp and the contract in the course plan. With --workers 1 it serves in this
// process; with more, this process is a master that forks the workers, restarts any that
// dies, and on SIGTERM stops them all and removes its socket files. SIGTERM, SIGINT and
// SIGHUP all stop it gracefully (see master.cpp for what happens to the workers).
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string_view>
#include <vector>

#include "http_min/config.hpp"
#include "http_min/master.hpp"
#include "http_min/static_files.hpp"
#include "http_min/worker.hpp"
#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

// systemd's socket activation: LISTEN_PID names this process, LISTEN_FDS counts listening
// sockets passed as descriptors 3, 4, ... (sd_listen_fds(3)). The variables are removed so
// that a child process does not take the sockets for its own.
std::vector<Socket> inherited_listeners() {
    std::vector<Socket> listeners;
    const char* pid_text = std::getenv("LISTEN_PID");
    const char* count_text = std::getenv("LISTEN_FDS");
    if (pid_text != nullptr && count_text != nullptr) {
        long pid = 0, count = 0;
        std::from_chars(pid_text, pid_text + std::char_traits<char>::length(pid_text), pid);
        std::from_chars(count_text, count_text + std::char_traits<char>::length(count_text), count);
        if (pid == ::getpid()) {
            for (long fd = 3; fd < 3 + count; ++fd) {
                listeners.push_back(listen_on(Address::parse("fd:" + std::to_string(fd))));
            }
        }
    }
    ::unsetenv("LISTEN_PID");
    ::unsetenv("LISTEN_FDS");
    ::unsetenv("LISTEN_FDNAMES");
    return listeners;
}

// O_NONBLOCK: opening a FIFO for writing waits until a reader opens it, here before a single
// client is served and with SIGTERM not yet looked at; non-blocking, it fails at once with
// ENXIO instead. (The flag stays on this descriptor, our own: AccessLog writes a FIFO
// without blocking anyway, and the flag means nothing to a regular file.)
std::FILE* open_access_log(const std::string& where) {
    if (where.empty()) return nullptr;
    if (where == "-") return stdout;
    const int fd =
        ::open(where.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
    if (fd < 0 && errno == ENXIO) {
        throw std::runtime_error("--access-log " + where +
                                 " is a FIFO with no reader: start its reader first");
    }
    if (fd < 0) throw_errno("open", where);
    std::FILE* file = ::fdopen(fd, "a");
    if (file == nullptr) {
        const int error = errno;
        ::close(fd);
        errno = error;
        throw_errno("fdopen", where);
    }
    return file;
}

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv, http_min::usage, [](std::span<char*> args) {
        const http_min::Config config = http_min::parse_command_line(args);
        std::vector<Socket> listeners = inherited_listeners();
        if (config.listen.empty() && listeners.empty()) {
            throw UsageError("nothing to listen on: give --uds PATH, --bind ADDR or --port P");
        }
        if (config.root) http_min::StaticFiles check(*config.root);  // a bad --root fails now
        // MSG_NOSIGNAL covers send() only: sendfile() to a client that has gone would raise
        // SIGPIPE. Ignored here, before the workers are forked: they inherit it (chapter 03).
        ::signal(SIGPIPE, SIG_IGN);
        // SIGHUP too: a hangup must not kill the server and leave its socket file behind.
        StopSignals stop({SIGINT, SIGTERM, SIGHUP});
        // Before binding: a bad log path must not leave a socket file behind.
        std::FILE* log = open_access_log(config.access_log);
        ListenOptions options;
        options.unix_mode = config.uds_mode;
        options.unix_group = config.uds_group;
        //! [bind-once]
        // Files this process creates are removed on exit; inherited sockets never are.
        std::vector<std::unique_ptr<SocketFileCleanup>> cleanups;
        for (const Address& address : config.listen) {
            listeners.push_back(listen_on(address, options));
            if (address.kind() == Address::Kind::unix_path) {
                cleanups.push_back(std::make_unique<SocketFileCleanup>(listeners.back()));
            }
        }
        for (const Socket& listener : listeners) {
            std::cerr << "listening on " << listener.name() << std::endl;
        }
        if (config.workers == 1) {
            http_min::run_worker(listeners, config, stop, log);
        } else {
            http_min::run_master(listeners, config, stop, log);
        }
        //! [bind-once]
        if (log != nullptr) std::fflush(log);
        return 0;
    });
}
