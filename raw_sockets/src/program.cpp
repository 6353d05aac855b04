#include "raw_sockets/program.hpp"

#include <charconv>
#include <cstring>
#include <exception>
#include <iostream>
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

}  // namespace raw_sockets
