/// \file
/// \brief A worker's access log: bounded, written without ever blocking the event loop.
///
/// Why not fprintf and fflush: the log goes to stdout by default, and stdout is often a pipe
/// (a test fixture, a supervisor, `| tee`). When its reader stops reading, a blocking write
/// stops the whole event loop with it: every client waits, and so does SIGTERM. Two cures
/// were possible: a writer thread with a bounded queue, or a bounded buffer written with
/// non-blocking writes from the loop itself. This is the second: no thread, no lock, and
/// the loop is the only place that touches the log, so the code stays as simple as the
/// loop. When the buffer is full, lines are dropped and counted, never silently: once
/// writing resumes the log itself says how many, and the total goes to stderr at exit.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

#include "raw_sockets/fd.hpp"

namespace http_min {

/// One process's access log (each http_min worker makes its own from the descriptor it is
/// given). Lines are composed by `text`/`escaped`/`number`, queued by `end_line`, and
/// written by `flush` (once per turn of the event loop) as far as the destination takes
/// them without blocking. Memory is bounded by the capacity given at construction. The
/// program must ignore SIGPIPE (http_min's main() does): a pipe whose reader has gone then
/// fails with EPIPE. A write error costs the lines queued (counted as dropped); the next
/// flush tries again. Every line is cut to at most PIPE_BUF bytes, the client's text in it
/// to about 1 KiB, each cut marked with `...`.
class AccessLog {
  public:
    /// 64 KiB: as much as a pipe holds, so a reader that falls behind has twice that much
    /// slack before a line is dropped.
    static constexpr std::size_t default_capacity = 64 * 1024;
    /// How long the destructor waits for a slow reader to take what is left.
    static constexpr std::chrono::milliseconds exit_patience{1000};

    /// A log to `destination`'s descriptor (its stdio buffer is flushed first and not used
    /// afterwards); null: no log, every call does nothing.
    explicit AccessLog(std::FILE* destination, std::size_t capacity = default_capacity);
    /// A log to descriptor `fd`, which stays the caller's (-1: no log).
    explicit AccessLog(int fd, std::size_t capacity = default_capacity);
    /// Writes what it can within exit_patience and reports lines dropped on stderr.
    ~AccessLog();
    AccessLog(const AccessLog&) = delete;
    AccessLog& operator=(const AccessLog&) = delete;

    /// False for "no log": callers may skip composing lines.
    bool enabled() const { return fd_ >= 0; }

    /// Adds text the server made itself (a peer label, a status) to the line being composed.
    AccessLog& text(std::string_view part);
    /// Adds client-supplied text, escaped with raw_sockets::escape_for_log: control bytes,
    /// 0x7F, bytes of 0x80 and above, `"` and `\` become `\xHH`. Cut to 1 KiB escaped
    /// (never inside an escape), then `...`.
    AccessLog& escaped(std::string_view part);
    /// Adds a decimal number.
    AccessLog& number(long value);
    /// Ends the line being composed (cut to PIPE_BUF bytes with its newline) and queues it.
    /// Once the buffer is half full it first writes what the destination takes (a regular
    /// file: everything, so a file never loses a line). If there is still no room, the line
    /// is dropped and counted. Once a line was dropped, later lines are dropped too until
    /// everything queued is written; then a note of how many goes first (one note per gap,
    /// where the gap is). Never blocks on a reader.
    void end_line();

    /// Writes queued lines as far as the destination takes them now, in whole lines of at
    /// most PIPE_BUF bytes (so lines of several workers sharing a pipe never interleave).
    /// Never blocks on a pipe, FIFO, terminal or socket; a regular file is written as usual.
    void flush();
    /// flush(), waiting up to `patience` for a slow reader; then lines still queued are
    /// counted as dropped. Returns the report for stderr ("" if nothing was lost). After
    /// this, the log is closed: further lines are dropped and counted.
    std::string finish(std::chrono::milliseconds patience);

    /// Lines dropped so far (not queued, or not written when the log was finished).
    std::uint64_t dropped() const { return dropped_total_; }
    /// Bytes queued and not yet written.
    std::size_t pending_bytes() const { return buffer_.size() - written_; }

  private:
    enum class Kind { file, socket, pipe_like, polled };

    void open_for_non_blocking_writes(int fd);
    void announce_drops();
    bool queue(std::string_view line);
    std::size_t next_chunk() const;
    long write_some(std::string_view bytes);
    void lose_what_is_queued();

    int fd_ = -1;            // where lines are written: owned_, or the caller's descriptor
    raw_sockets::Fd owned_;  // our own open file description of a pipe, with O_NONBLOCK
    Kind kind_ = Kind::file;
    std::size_t capacity_;
    std::string buffer_;  // queued lines; [written_, size()) is still to be written
    std::size_t written_ = 0;
    std::size_t note_end_ = 0;  // > written_: the first pending line is a note of drops
    std::string line_;          // the line being composed (reused: no allocation per line)
    std::uint64_t dropped_total_ = 0;
    std::uint64_t dropped_unannounced_ = 0;  // dropped since the last note in the log
    std::uint64_t noted_ = 0;                // the count in the queued note, if any
    std::string gap_reason_;                 // why those were dropped, for the note
    std::string write_error_;                // the last write error, for the exit report
    bool finished_ = false;
};

}  // namespace http_min
