/// \file
/// \brief What every course program's main() shares: argument checks and one-line errors.
#pragma once

#include <sys/types.h>
#include <cstddef>
#include <functional>
#include <initializer_list>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

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

// Strict command lines (issue 11). Each function throws a UsageError whose one line names
// the argument or option and the text it refused, so run_program() exits 2 with it.

/// Checks a command line of exactly the arguments `names`, in order, each required (as the
/// usage writes them: {"ADDRESS", "NAME"}). Refuses the first one missing ("missing NAME"),
/// the first that starts with '-' ("unknown option '-x'": none of them is an option), and
/// the first one too many ("unexpected argument 'x'").
void expect_arguments(std::span<char*> args, std::initializer_list<std::string_view> names);

/// As expect_arguments() for the first `names.size()` arguments only, for a command line
/// that goes on with free text (echo_client's WORDs), which may be anything.
void expect_leading_arguments(std::span<char*> args, std::initializer_list<std::string_view> names);

/// The value of the option at `args[index]` ("--mode 0660"): `args[index + 1]`, or a
/// UsageError "--mode needs a value" when the command line ends first.
std::string_view option_value(std::span<char*> args, std::size_t index);

/// parse_mode() for the value of `option`: the error names the option too
/// ("--mode: mode '9' is not ...").
mode_t parse_mode_option(std::string_view option, std::string_view text);

/// The user ids in `text`, the value of `option`: decimal numbers separated by commas
/// ("0,65534"). Every entry must be a number, whole, below 4294967295 ((uid_t)-1 means "no
/// user" to the kernel); an empty entry ("0,", ",0", "0,,1") or an empty text is refused,
/// never read as uid 0 or skipped.
std::vector<uid_t> parse_uid_list(std::string_view option, std::string_view text);

}  // namespace raw_sockets
