#include "raw_sockets/program.hpp"

#include <charconv>
#include <cstdint>
#include <cstring>
#include <exception>
#include <iostream>
#include <limits>
#include <string>

namespace raw_sockets {

std::string escape_for_log(std::string_view text) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(text.size());
    for (const char c : text) {
        const auto byte = static_cast<unsigned char>(c);
        if (byte < 0x20 || byte >= 0x7F || c == '"' || c == '\\') {
            out += "\\x";
            out += hex[byte >> 4];
            out += hex[byte & 0xF];
        } else {
            out += c;
        }
    }
    return out;
}

mode_t parse_mode(std::string_view text) {
    unsigned value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value, 8);
    // Permission bits only: setuid, setgid and sticky (07000) mean nothing on a socket file,
    // so a mode that has them is a mistake, not a wish to honour in part.
    if (text.empty() || error != std::errc() || end != text.data() + text.size() || value > 0777) {
        throw UsageError("mode '" + std::string(text) +
                         "' is not an octal permission mode from 0 to 0777, such as 0660");
    }
    return static_cast<mode_t>(value);
}

int run_program(int argc, char** argv, std::string_view usage,
                const std::function<int(std::span<char*> args)>& body) {
    const char* slash = argc > 0 ? std::strrchr(argv[0], '/') : nullptr;
    const char* program = argc > 0 ? (slash != nullptr ? slash + 1 : argv[0]) : "program";
    const std::span<char*> args(argv + 1, argc > 0 ? static_cast<std::size_t>(argc - 1) : 0);
    // Asked for the usage: that is an answer, not an error (stdout, exit status 0).
    for (const char* arg : args) {
        if (std::strcmp(arg, "--help") == 0 || std::strcmp(arg, "-h") == 0) {
            std::cout << "usage: " << program << ' ' << usage << '\n';
            return 0;
        }
    }
    try {
        return body(args);
    } catch (const UsageError& error) {
        std::cerr << program << ": " << error.what() << "\nusage: " << program << ' ' << usage
                  << '\n';
        return 2;
    } catch (const std::exception& error) {
        std::cerr << program << ": " << error.what() << '\n';
        return 1;
    } catch (...) {
        std::cerr << program << ": an exception that is not a std::exception\n";
        return 1;
    }
}

namespace {

std::string quoted(std::string_view text) {
    return "'" + std::string(text) + "'";
}

// Whatever a program's command line holds, its options start with '-'; no address or file
// name of the course's programs does.
bool looks_like_an_option(std::string_view argument) {
    return argument.size() > 1 && argument.front() == '-';
}

}  // namespace

void expect_leading_arguments(std::span<char*> args,
                              std::initializer_list<std::string_view> names) {
    std::size_t index = 0;
    for (const std::string_view name : names) {
        if (index >= args.size()) throw UsageError("missing " + std::string(name));
        if (looks_like_an_option(args[index])) {
            throw UsageError("unknown option " + quoted(args[index]));
        }
        ++index;
    }
}

void expect_arguments(std::span<char*> args, std::initializer_list<std::string_view> names) {
    // Options first: "--verbose ADDRESS" is better told "unknown option" than "unexpected".
    for (const std::string_view argument : args) {
        if (looks_like_an_option(argument)) throw UsageError("unknown option " + quoted(argument));
    }
    expect_leading_arguments(args, names);
    if (args.size() > names.size()) {
        throw UsageError("unexpected argument " + quoted(args[names.size()]));
    }
}

std::string_view option_value(std::span<char*> args, std::size_t index) {
    if (index + 1 >= args.size()) throw UsageError(std::string(args[index]) + " needs a value");
    return args[index + 1];
}

mode_t parse_mode_option(std::string_view option, std::string_view text) {
    try {
        return parse_mode(text);
    } catch (const UsageError& error) {
        throw UsageError(std::string(option) + ": " + error.what());
    }
}

std::vector<uid_t> parse_uid_list(std::string_view option, std::string_view text) {
    const auto refuse = [&] {
        return UsageError(std::string(option) + " " + quoted(text) +
                          " is not a list of user ids such as 0 or 0,65534 (numbers below "
                          "4294967295, separated by commas)");
    };
    std::vector<uid_t> uids;
    std::string_view rest = text;
    for (;;) {
        const std::string_view entry = rest.substr(0, rest.find(','));
        // from_chars takes no sign, no space and no 0x, and says where it stopped: the
        // entry must be digits and nothing else. std::stoul would take " 1", "-1", "1abc".
        std::uint64_t value = 0;
        const auto [end, error] = std::from_chars(entry.data(), entry.data() + entry.size(), value);
        if (entry.empty() || error != std::errc() || end != entry.data() + entry.size() ||
            value >= std::numeric_limits<uid_t>::max()) {
            throw refuse();
        }
        uids.push_back(static_cast<uid_t>(value));
        if (entry.size() == rest.size()) return uids;  // no comma after it
        rest.remove_prefix(entry.size() + 1);
    }
}

}  // namespace raw_sockets
