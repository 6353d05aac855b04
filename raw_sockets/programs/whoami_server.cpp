// whoami_server: tells each client who the kernel says it is, and can admit only some users.
//
// Over a Unix socket, SO_PEERCRED gives the connecting process's pid, uid and gid, recorded
// by the kernel at connect() time: the client cannot lie about them. Over TCP there is no
// such thing: the peer is an address and a port, possibly on another machine. Chapter 06.
//
//   whoami_server unix:/tmp/who.sock                  answers everyone
//   whoami_server unix:/tmp/who.sock --allow-uid 0    answers root, refuses everyone else
//   whoami_server unix:/tmp/who.sock --allow-uid 0,1000   answers root and uid 1000
//   whoami_server unix:/tmp/who.sock --mode 0666      socket file writable by all users
#include <iostream>
#include <set>
#include <string>

#include "raw_sockets/raw_sockets.hpp"

using namespace raw_sockets;

namespace {

struct Options {
    Address address;
    ListenOptions listen;
    std::set<uid_t> allowed;  // empty: everyone
};

Options parse(std::span<char*> args) {
    expect_leading_arguments(args, {"ADDRESS"});
    Options options{Address::parse(args[0]), {}, {}};
    for (std::size_t i = 1; i < args.size(); i += 2) {
        const std::string_view flag = args[i];
        if (flag == "--allow-uid") {  // repeatable, and each may be a list: 0,65534
            for (const uid_t uid : parse_uid_list(flag, option_value(args, i))) {
                options.allowed.insert(uid);
            }
        } else if (flag == "--mode") {
            options.listen.unix_mode = parse_mode_option(flag, option_value(args, i));
        } else if (flag == "--group") {
            options.listen.unix_group = option_value(args, i);
            if (options.listen.unix_group.empty())
                throw UsageError("--group '' is not a group name");
        } else if (flag.starts_with('-')) {
            throw UsageError("unknown option '" + std::string(flag) + "'");
        } else {
            throw UsageError("unexpected argument '" + std::string(flag) + "'");
        }
    }
    return options;
}

//! [authorise]
// What to say to one client: its identity, or a refusal if its uid is not on the list.
std::string answer(const Socket& client, const std::set<uid_t>& allowed) {
    if (!local_address(client).is_unix()) {
        return "peer " + client.name() + ": over TCP the kernel cannot say which user\n";
    }
    const Credentials peer = peer_credentials(client);
    if (!allowed.empty() && !allowed.contains(peer.uid)) {
        return "denied: uid " + std::to_string(peer.uid) + " is not allowed\n";
    }
    return to_string(peer) + "\n";
}
//! [authorise]

}  // namespace

int main(int argc, char** argv) {
    return run_program(argc, argv,
                       "ADDRESS [--allow-uid UID[,UID]...]... [--mode OCTAL] [--group NAME]",
                       [](std::span<char*> args) {
                           const Options options = parse(args);
                           StopSignals stop;
                           Socket listener = listen_on(options.address, options.listen);
                           SocketFileCleanup cleanup(listener);
                           std::cerr << "listening on " << listener.name() << std::endl;
                           while (stop.wait_readable(listener)) {
                               Socket client = accept_connection(listener);
                               try {
                                   const std::string reply = answer(client, options.allowed);
                                   client.send_all(reply);
                                   std::cerr << "answered: " << reply << std::flush;
                               } catch (const SocketError& error) {
                                   std::cerr << "client lost: " << error.what() << std::endl;
                               }
                           }
                           return 0;
                       });
}
