/// \file
/// \brief What every course program's main() shares: argument checks and one-line errors.
#pragma once

#include <sys/types.h>
#include <functional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

namespace raw_sockets {

/// Thrown for a wrong command line; run_program() prints the usage and exits 2.
class UsageError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

/// Parses a socket file's permission bits written in octal ("0660", "660"): 0 to 0777, since
/// setuid, setgid and sticky bits mean nothing on a socket. Throws UsageError naming the text
/// otherwise.
mode_t parse_mode(std::string_view text);

/// Client-supplied text made safe for a log line: bytes below 0x20, 0x7F, 0x80 and above,
/// `"` and `\\` become `\\xHH` (as nginx writes them), so a client can neither forge a line
/// nor send terminal escapes to whoever reads the log.
std::string escape_for_log(std::string_view text);

/// Runs `body` with the arguments after the program name. Any exception becomes exactly one
/// line on stderr, `program: what went wrong`, and a non-zero exit status: 2 for a
/// UsageError (followed by `usage`), 1 for anything else. Only here does a program exit.
/// An argument `--help` or `-h` anywhere prints the usage on stdout and returns 0 without
/// running `body`.
int run_program(int argc, char** argv, std::string_view usage,
                const std::function<int(std::span<char*> args)>& body);

}  // namespace raw_sockets
