// The access log of one worker: a bounded buffer of whole lines, written without blocking
// once per turn of the event loop. Why this design rather than a writer thread: see
// access_log.hpp.
#include "http_min/access_log.hpp"

#include <fcntl.h>
#include <limits.h>  // PIPE_BUF
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <exception>

#include "raw_sockets/error.hpp"
#include "raw_sockets/program.hpp"

namespace http_min {

namespace {

// The same rule as raw_sockets::escape_for_log, asked first so that plain text (nearly every
// request) is copied as it is: escape_for_log returns a new string, and the worker
// allocates nothing per request. (A unit test checks that the two agree on every byte.)
bool needs_escaping(char c) {
    const auto byte = static_cast<unsigned char>(c);
    return byte < 0x20 || byte >= 0x7F || c == '"' || c == '\\';
}

// The client's share of a line (a target, a header value), escaped: about 1 KiB, so that a
// whole line stays well under PIPE_BUF (4 KiB on Linux) however many such parts it has.
constexpr std::size_t max_client_text = 1024;
constexpr std::string_view cut_marker = "...";

// `escaped` cut to at most max_client_text bytes, never inside an escape: every escape is
// `\xHH`, and a backslash in escaped text always starts one.
std::string_view cut_between_escapes(std::string_view escaped) {
    if (escaped.size() <= max_client_text) return escaped;
    std::size_t cut = max_client_text;
    const std::size_t last_escape = escaped.rfind('\\', cut - 1);
    if (last_escape != std::string_view::npos && last_escape + 4 > cut) cut = last_escape;
    return escaped.substr(0, cut);
}

std::string note_of_drops(std::uint64_t count, std::string_view why) {
    return "http_min pid " + std::to_string(::getpid()) + ": dropped " + std::to_string(count) +
           " access log lines (" + std::string(why) + ")\n";
}

}  // namespace

AccessLog::AccessLog(std::FILE* destination, std::size_t capacity)
    : AccessLog(destination == nullptr ? -1 : (std::fflush(destination), ::fileno(destination)),
                capacity) {}

AccessLog::AccessLog(int fd, std::size_t capacity) : capacity_(capacity) {
    if (fd < 0) return;
    open_for_non_blocking_writes(fd);
    buffer_.reserve(capacity_);  // the only allocation: the buffer never grows past it
}

AccessLog::~AccessLog() {
    try {
        const std::string report = finish(exit_patience);
        if (!report.empty()) std::fputs(report.c_str(), stderr);
    } catch (const std::exception&) {
        // Out of memory for the report at exit: nothing better to do than exit quietly.
    }
}

// How each kind of destination is written without blocking:
// - a socket (journald's stdout is one): send() with MSG_DONTWAIT, for this call only;
// - a pipe, FIFO or terminal: O_NONBLOCK on `fd` itself would change its open file
//   description, which is shared with whoever else holds it: the shell that started us,
//   sibling workers, the next program in a pipeline would all start seeing EAGAIN. Opening
//   /proc/self/fd/N makes a new open file description of the same pipe or device, ours
//   alone, on which O_NONBLOCK is ours to set;
// - a regular file: written as usual. It never waits for a reader (only for the disk).
// Without /proc, a pipe is written only when poll() says it has room: a write of at most
// PIPE_BUF bytes then fits, unless a sibling worker fills the pipe in between (rare, short).
void AccessLog::open_for_non_blocking_writes(int fd) {
    fd_ = fd;
    struct stat info {};
    if (::fstat(fd, &info) != 0 || S_ISREG(info.st_mode) || S_ISBLK(info.st_mode)) {
        kind_ = Kind::file;
    } else if (S_ISSOCK(info.st_mode)) {
        kind_ = Kind::socket;
    } else {
        const std::string path = "/proc/self/fd/" + std::to_string(fd);
        owned_.reset(::open(path.c_str(), O_WRONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC));
        kind_ = owned_ ? Kind::pipe_like : Kind::polled;
        if (owned_) fd_ = owned_.get();
    }
}

AccessLog& AccessLog::text(std::string_view part) {
    if (enabled()) line_ += part;
    return *this;
}

// A client controls the length of what it sends: cut to max_client_text escaped bytes, with
// a visible marker, so that no client can make a line long enough to be torn in a pipe
// (or fill the buffer with a few requests). Only the start is escaped: the rest is cut anyway.
AccessLog& AccessLog::escaped(std::string_view part) {
    if (!enabled()) return *this;
    const std::string_view start = part.substr(0, max_client_text);
    std::string escaped_start;
    std::string_view escaped = start;
    if (std::ranges::any_of(start, needs_escaping)) {
        escaped_start = raw_sockets::escape_for_log(start);
        escaped = escaped_start;
    }
    const std::string_view kept = cut_between_escapes(escaped);
    line_ += kept;
    if (kept.size() < escaped.size() || start.size() < part.size()) line_ += cut_marker;
    return *this;
}

AccessLog& AccessLog::number(long value) {
    if (!enabled()) return *this;
    char digits[24];
    const auto [end, error] = std::to_chars(std::begin(digits), std::end(digits), value);
    line_.append(digits, end);
    return *this;
}

// Once a line has been dropped, every later line is dropped too until all that was queued
// has been written; then the note of how many goes in first. So the note stands exactly
// where lines are missing, and a reader that keeps falling behind gets one note per gap,
// not a note between every two lines.
//
// Before dropping anything, end_line writes itself once the buffer is half full: a reader
// that keeps up then loses nothing however many lines one turn of the loop makes, and a
// regular file (which never waits for a reader) is written in full there and then.
void AccessLog::end_line() {
    if (!enabled()) return;
    if (line_.size() >= PIPE_BUF) {  // text() parts too long together: cut, visibly
        line_.resize(PIPE_BUF - 1 - cut_marker.size());
        line_ += cut_marker;
    }
    line_ += '\n';  // at most PIPE_BUF bytes now: written whole or not at all
    if (!finished_ && pending_bytes() + line_.size() > capacity_ / 2) flush();
    announce_drops();
    if (!finished_ && dropped_unannounced_ == 0 && queue(line_)) {
        line_.clear();
        return;
    }
    line_.clear();
    ++dropped_total_;
    ++dropped_unannounced_;
    if (gap_reason_.empty()) gap_reason_ = "its reader did not keep up";
}

// Once everything queued is out, writing has resumed: the note of how many lines are
// missing goes first.
void AccessLog::announce_drops() {
    if (finished_ || dropped_unannounced_ == 0 || pending_bytes() > 0) return;
    buffer_.clear();
    written_ = note_end_ = 0;
    const std::string note = note_of_drops(dropped_unannounced_, gap_reason_);
    if (queue(note)) {  // else a buffer smaller than the note: only stderr will tell
        note_end_ = note.size();
        noted_ = dropped_unannounced_;
    }
    dropped_unannounced_ = 0;  // logging resumes, with the note or without
    gap_reason_.clear();
}

bool AccessLog::queue(std::string_view line) {
    if (capacity_ - pending_bytes() < line.size()) return false;
    if (buffer_.size() + line.size() > capacity_) {
        // Room only if what was written goes: move the rest to the front (at most 64 KiB,
        // and only when the buffer is nearly full).
        buffer_.erase(0, written_);
        note_end_ = note_end_ > written_ ? note_end_ - written_ : 0;
        written_ = 0;
    }
    buffer_ += line;
    return true;
}

// A write error (ENOSPC, EPIPE from a log shipper that restarts) costs the lines in hand,
// counted; the next flush tries again, starting with a note of how many were lost.
void AccessLog::flush() {
    if (!enabled()) return;
    while (true) {
        announce_drops();
        if (pending_bytes() == 0) {
            buffer_.clear();
            written_ = note_end_ = 0;
            return;
        }
        const long sent = write_some({buffer_.data() + written_, next_chunk()});
        if (sent == 0) return;  // the destination is full: the next turn of the loop
        if (sent < 0) {
            write_error_ = "write: " + raw_sockets::errno_name(errno);
            gap_reason_ = write_error_;
            lose_what_is_queued();
            return;
        }
        written_ += static_cast<std::size_t>(sent);
    }
}

// At most PIPE_BUF bytes, ending at the end of a line: a write that small to a pipe is
// atomic (all or nothing, even non-blocking), so several workers sharing the pipe never
// tear each other's lines. (end_line keeps every line within PIPE_BUF.)
std::size_t AccessLog::next_chunk() const {
    const std::string_view pending(buffer_.data() + written_, pending_bytes());
    const std::size_t last_end = pending.substr(0, PIPE_BUF).rfind('\n');
    if (last_end != std::string_view::npos) return last_end + 1;
    const std::size_t first_end = pending.find('\n');
    return first_end == std::string_view::npos ? pending.size() : first_end + 1;
}

// Bytes written (0: none, the destination is full), or -1 with errno for an error.
long AccessLog::write_some(std::string_view bytes) {
    while (true) {
        ssize_t sent = 0;
        if (kind_ == Kind::socket) {
            sent = ::send(fd_, bytes.data(), bytes.size(), MSG_DONTWAIT | MSG_NOSIGNAL);
        } else {
            if (kind_ == Kind::polled) {
                pollfd room{.fd = fd_, .events = POLLOUT, .revents = 0};
                if (::poll(&room, 1, 0) == 0) return 0;
            }
            sent = ::write(fd_, bytes.data(), bytes.size());
        }
        if (sent >= 0) return static_cast<long>(sent);
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
        return -1;
    }
}

// The queued lines will never be written: count them, to be announced in the log when
// writing resumes. A note among them was no request: what it announced is announced again.
void AccessLog::lose_what_is_queued() {
    const std::string_view pending(buffer_.data() + written_, pending_bytes());
    auto lines = static_cast<std::uint64_t>(std::ranges::count(pending, '\n'));
    if (written_ < note_end_) {
        --lines;
        dropped_unannounced_ += noted_;
    }
    dropped_total_ += lines;
    dropped_unannounced_ += lines;
    buffer_.clear();
    written_ = note_end_ = 0;
}

std::string AccessLog::finish(std::chrono::milliseconds patience) {
    if (!enabled() || finished_) return {};
    using Clock = std::chrono::steady_clock;
    const Clock::time_point deadline = Clock::now() + patience;
    flush();
    while (pending_bytes() > 0) {
        const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
        if (left.count() <= 0) break;
        pollfd room{.fd = fd_, .events = POLLOUT, .revents = 0};
        const int ready = ::poll(&room, 1, static_cast<int>(left.count()));
        if (ready == 0 || (ready < 0 && errno != EINTR)) break;  // EINTR: look again
        flush();
    }
    lose_what_is_queued();
    finished_ = true;
    if (dropped_total_ == 0) return {};
    return note_of_drops(dropped_total_,
                         write_error_.empty() ? "its reader did not keep up" : write_error_);
}

}  // namespace http_min
