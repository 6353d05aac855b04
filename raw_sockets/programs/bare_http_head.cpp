// bare_http_head: where does an HTTP/1.1 request end? Reads one request from standard input
// in pieces, as a server reads a socket, and says where its head ends and how long its body
// is. The framing is one function in plain C++ over a byte buffer: find the empty line that
// ends the head, then read Content-Length strictly. Chapter 08 shows it before http_min's
// parser, which does the same job incrementally and with every rule of RFC 9112
// (http_min/src/request_parser.cpp and framing.cpp).
//
// Usage: printf 'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi' | bare_http_head
// Exit status 0 for a whole request, 1 for a refused or unfinished one.
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>

namespace {

//! [frame]
constexpr std::size_t max_head = 8 * 1024;       // request line and header lines, CRLFs included
constexpr std::uint64_t max_body = 1024 * 1024;  // what this server is willing to hold

struct Frame {
    enum State { incomplete, complete, refused } state = incomplete;
    std::size_t head_size = 0;  // up to and including the empty line's CRLF
    std::uint64_t body_size = 0;
    const char* reason = "";  // why it was refused
};

bool is_named(std::string_view name, std::string_view lower_case) {  // names ignore case
    if (name.size() != lower_case.size()) return false;
    for (std::size_t i = 0; i < name.size(); ++i) {
        const char c = name[i] >= 'A' && name[i] <= 'Z' ? char(name[i] - 'A' + 'a') : name[i];
        if (c != lower_case[i]) return false;
    }
    return true;
}

// Called with everything received so far; says whether one whole request is there.
Frame frame_request(std::string_view buffer) {
    const std::size_t blank_line = buffer.find("\r\n\r\n");  // the head ends at an empty line
    if (blank_line == std::string_view::npos) {
        if (buffer.size() > max_head) return {Frame::refused, 0, 0, "431: head too large"};
        return {};  // incomplete: read more
    }
    const std::size_t head_size = blank_line + 4;
    if (head_size > max_head) return {Frame::refused, 0, 0, "431: head too large"};
    std::size_t lengths = 0;
    std::uint64_t length = 0;
    std::size_t at = buffer.find("\r\n") + 2;  // skip the request line
    while (at < head_size - 2) {               // one header line per turn
        const std::size_t end = buffer.find("\r\n", at);
        const std::string_view line = buffer.substr(at, end - at);
        at = end + 2;
        const std::size_t colon = line.find(':');
        if (colon == std::string_view::npos) return {Frame::refused, 0, 0, "400: no colon"};
        const std::string_view name = line.substr(0, colon);
        if (is_named(name, "transfer-encoding")) {
            return {Frame::refused, 0, 0, "501: Transfer-Encoding is not read here"};
        }
        if (!is_named(name, "content-length")) continue;
        if (++lengths > 1) return {Frame::refused, 0, 0, "400: more than one Content-Length"};
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) {
            value.remove_prefix(1);
        }
        while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) {
            value.remove_suffix(1);
        }
        if (value.empty()) return {Frame::refused, 0, 0, "400: empty Content-Length"};
        for (const char c : value) {  // 1*DIGIT: no sign, no spaces, no list, no hex
            if (c < '0' || c > '9') return {Frame::refused, 0, 0, "400: Content-Length not digits"};
            length = length * 10 + std::uint64_t(c - '0');
            if (length > max_body) return {Frame::refused, 0, 0, "413: body too large"};
        }
    }
    if (buffer.size() - head_size < length) return {};  // the body is still arriving
    return {Frame::complete, head_size, length, ""};
}
//! [frame]

}  // namespace

int main() {
    std::string buffer;
    Frame frame;
    char piece[512];
    while (frame.state == Frame::incomplete) {
        const ssize_t got = ::read(STDIN_FILENO, piece, sizeof piece);
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) {
            std::fprintf(stderr, "bare_http_head: read: %s\n", std::strerror(errno));
            return 1;
        }
        if (got == 0) break;  // end of input
        buffer.append(piece, static_cast<std::size_t>(got));
        frame = frame_request(buffer);
    }
    if (frame.state == Frame::refused) {
        std::fprintf(stderr, "bare_http_head: refused: %s\n", frame.reason);
        return 1;
    }
    if (frame.state == Frame::incomplete) {
        std::fprintf(
            stderr, "bare_http_head: the input ended %s\n",
            buffer.find("\r\n\r\n") == std::string::npos ? "inside the head" : "inside the body");
        return 1;
    }
    std::size_t after = buffer.size() - frame.head_size - frame.body_size;
    while (true) {  // what follows the request: the start of the next one, if any
        const ssize_t got = ::read(STDIN_FILENO, piece, sizeof piece);
        if (got < 0 && errno == EINTR) continue;
        if (got <= 0) break;
        after += static_cast<std::size_t>(got);
    }
    std::printf("head: %zu bytes, up to and including the empty line\n", frame.head_size);
    std::printf("body: %llu bytes, as Content-Length says\n",
                static_cast<unsigned long long>(frame.body_size));
    std::printf("after it: %zu bytes, the next request's\n", after);
    return 0;
}
