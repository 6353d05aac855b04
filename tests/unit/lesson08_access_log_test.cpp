// Chapter 08: the access log never blocks the event loop. AccessLog is written against a
// pipe the test fills and drains itself: appending never blocks, lines that find no room are
// dropped and counted, a later flush says in the log how many, and finish() reports the
// total without waiting forever. And raw_sockets::escape_for_log, which makes the client's
// text safe to put in a log line.
#include <fcntl.h>
#include <limits.h>  // PIPE_BUF
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <future>
#include <regex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "http_min/access_log.hpp"
#include "raw_sockets/fd.hpp"
#include "raw_sockets/program.hpp"
#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using http_min::AccessLog;
using raw_sockets::escape_for_log;
using test_support::contains;

// ---------------------------------------------------------------------------------------
// escape_for_log

TEST(EscapeForLog, LeavesPlainTextAsItIs) {
    EXPECT_EQ(escape_for_log("GET /static/a.txt?x=1&y=%20 HTTP/1.1"),
              "GET /static/a.txt?x=1&y=%20 HTTP/1.1");
    EXPECT_EQ(escape_for_log(""), "");
}

TEST(EscapeForLog, WritesControlBytesAsHex) {
    EXPECT_EQ(escape_for_log(std::string_view("a\0b", 3)), "a\\x00b");
    EXPECT_EQ(escape_for_log("\r\n\t"), "\\x0D\\x0A\\x09");
    EXPECT_EQ(escape_for_log("\x1b[31mred"), "\\x1B[31mred");  // no terminal escapes
    EXPECT_EQ(escape_for_log("\x7f"), "\\x7F");                // DEL
}

TEST(EscapeForLog, WritesBytesFrom0x80AsHex) {
    EXPECT_EQ(escape_for_log("\x80\xc3\xa9\xff"), "\\x80\\xC3\\xA9\\xFF");
}

TEST(EscapeForLog, WritesQuoteAndBackslashAsHex) {
    // A quote would end the request field of a log line early; a backslash would make
    // "\x41" written by the client look like an escape the server wrote.
    EXPECT_EQ(escape_for_log("/a\"b\\c"), "/a\\x22b\\x5Cc");
}

// ---------------------------------------------------------------------------------------
// AccessLog against a pipe

// A pipe whose read end the test holds. SIGPIPE is ignored, as http_min's main() does, so
// a write after the reader went away fails with EPIPE instead of killing the test.
class LogPipe {
  public:
    LogPipe() {
        ::signal(SIGPIPE, SIG_IGN);
        int ends[2];
        if (::pipe2(ends, O_CLOEXEC) != 0) throw std::runtime_error("pipe2 failed");
        read_end_.reset(ends[0]);
        write_end_.reset(ends[1]);
    }
    int write_end() const { return write_end_.get(); }
    void close_read_end() { read_end_.reset(); }

    /// Writes filler until the pipe is full, through the test's own non-blocking write,
    /// then makes the write end blocking again, as stdout normally is.
    void fill() {
        set_nonblocking(write_end(), true);
        const std::string filler(4096, 'f');
        while (::write(write_end(), filler.data(), filler.size()) > 0) {
        }
        set_nonblocking(write_end(), false);
        filler_ = true;
    }

    /// Everything in the pipe now (the filler left out), without waiting for more.
    std::string drain() {
        set_nonblocking(read_end_.get(), true);
        std::string all;
        char chunk[65536];
        ssize_t got = 0;
        while ((got = ::read(read_end_.get(), chunk, sizeof chunk)) > 0) {
            all.append(chunk, static_cast<std::size_t>(got));
        }
        set_nonblocking(read_end_.get(), false);
        if (filler_) all.erase(0, all.find_first_not_of('f'));
        filler_ = false;
        return all;
    }

    static bool nonblocking(int fd) { return (::fcntl(fd, F_GETFL) & O_NONBLOCK) != 0; }

  private:
    static void set_nonblocking(int fd, bool on) {
        const int flags = ::fcntl(fd, F_GETFL);
        ::fcntl(fd, F_SETFL, on ? flags | O_NONBLOCK : flags & ~O_NONBLOCK);
    }

    raw_sockets::Fd read_end_;
    raw_sockets::Fd write_end_;
    bool filler_ = false;
};

// Runs `work` in another thread and fails if it has not returned within 5 s: a blocked
// write would hang the test otherwise. `unblock` then frees the thread (drains the pipe).
void finishes_without_blocking(const std::function<void()>& work,
                               const std::function<void()>& unblock) {
    auto done = std::async(std::launch::async, work);
    if (done.wait_for(5s) != std::future_status::ready) {
        ADD_FAILURE() << "blocked: still not done after 5 s";
        unblock();
    }
    done.get();
}

void log_request(AccessLog& log, int number) {
    log.text("unix pid=1 uid=2 gid=3 \"GET ").escaped("/healthz?n=").number(number);
    log.text(" HTTP/1.1\" ").number(200).end_line();
}

std::string request_line(int number) {
    return "unix pid=1 uid=2 gid=3 \"GET /healthz?n=" + std::to_string(number) +
           " HTTP/1.1\" 200\n";
}

// request_line(0) + ... + request_line(count - 1).
std::string first_lines(std::size_t count) {
    std::string lines;
    for (std::size_t number = 0; number < count; ++number) {
        lines += request_line(static_cast<int>(number));
    }
    return lines;
}

// How many of the first request lines fit in `capacity` bytes.
std::size_t lines_that_fit(std::size_t capacity) {
    std::size_t count = 0;
    while (first_lines(count + 1).size() <= capacity) ++count;
    return count;
}

const std::regex note_of_drops(R"(http_min pid \d+: dropped (\d+) access log lines \([^)]*\)\n)");

// The counts in the notes of dropped lines in `text`, added up.
std::uint64_t noted_drops(const std::string& text) {
    std::uint64_t total = 0;
    std::smatch match;
    for (auto it = text.cbegin(); std::regex_search(it, text.cend(), match, note_of_drops,
                                                    std::regex_constants::match_default);
         it = match.suffix().first) {
        total += std::stoull(match[1]);
    }
    return total;
}

TEST(AccessLog, WritesEachLineOnFlush) {
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    log_request(log, 1);
    log_request(log, 2);
    EXPECT_EQ(log.pending_bytes(), 2 * request_line(1).size());
    log.flush();
    EXPECT_EQ(pipe.drain(), request_line(1) + request_line(2));
    EXPECT_EQ(log.dropped(), 0u);
    EXPECT_EQ(log.finish(0ms), "");  // nothing lost: nothing to report
}

TEST(AccessLog, EscapesWhatTheClientSentAsEscapeForLogDoes) {
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    std::string expected;
    for (int byte = 0; byte < 256; ++byte) {
        const std::string text = "<" + std::string(1, static_cast<char>(byte)) + ">";
        log.escaped(text).end_line();
        expected += escape_for_log(text) + "\n";
    }
    log.flush();
    EXPECT_EQ(pipe.drain(), expected);
}

TEST(AccessLog, LeavesTheSharedDescriptorBlocking) {
    // O_NONBLOCK on stdout's open file description would reach the shell that started us.
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    log_request(log, 1);
    log.flush();
    EXPECT_FALSE(LogPipe::nonblocking(pipe.write_end()));
}

TEST(AccessLog, AppendAndFlushNeverBlockOnAFullPipe) {
    LogPipe pipe;
    pipe.fill();
    AccessLog log(pipe.write_end(), 1024);
    finishes_without_blocking(
        [&] {
            for (int number = 0; number < 1000; ++number) {
                log_request(log, number);
                log.flush();
            }
        },
        [&] { pipe.drain(); });
    // What fits in the buffer is kept; every other line is dropped and counted.
    const std::size_t kept = lines_that_fit(1024);
    EXPECT_EQ(log.pending_bytes(), first_lines(kept).size());
    EXPECT_EQ(log.dropped(), 1000 - kept);
    log.finish(0ms);  // not the destructor's patience: nobody will read
}

TEST(AccessLog, LaterFlushWritesTheNoteOfDroppedLines) {
    LogPipe pipe;
    pipe.fill();
    AccessLog log(pipe.write_end(), 1024);
    for (int number = 0; number < 100; ++number) log_request(log, number);
    log.flush();  // the pipe is full: nothing goes
    const std::uint64_t dropped = log.dropped();
    ASSERT_GT(dropped, 0u);

    pipe.drain();  // the reader catches up
    log.flush();
    log_request(log, 100);
    log.flush();
    const std::string text = pipe.drain();

    // The lines that were kept, then the note, then logging as before.
    EXPECT_EQ(dropped, 100 - lines_that_fit(1024));
    EXPECT_TRUE(text.starts_with(first_lines(lines_that_fit(1024)))) << text;
    EXPECT_TRUE(text.ends_with(request_line(100))) << text;
    EXPECT_EQ(noted_drops(text), dropped) << text;
    const std::string report = log.finish(0ms);
    EXPECT_TRUE(contains(report, "dropped " + std::to_string(dropped) + " access log lines"));
}

TEST(AccessLog, KeepsLoggingAfterDropsEvenIfTheNoteDoesNotFit) {
    LogPipe pipe;
    AccessLog log(pipe.write_end(), request_line(0).size() + 10);  // one line, not a note
    pipe.fill();
    log_request(log, 0);
    log_request(log, 1);                  // no room, in the pipe nor in the buffer: dropped
    std::string received = pipe.drain();  // the reader catches up
    log.flush();
    log_request(log, 2);
    log.flush();
    received += pipe.drain();
    EXPECT_EQ(received, request_line(0) + request_line(2));
    EXPECT_EQ(log.dropped(), 1u);
    EXPECT_TRUE(contains(log.finish(0ms), "dropped 1 access log lines"));
}

TEST(AccessLog, FinishGivesUpOnAFullPipeAndCountsWhatWasLeft) {
    LogPipe pipe;
    pipe.fill();
    AccessLog log(pipe.write_end(), 1024);
    for (int number = 0; number < 100; ++number) log_request(log, number);
    std::string report;
    const auto started = std::chrono::steady_clock::now();
    finishes_without_blocking([&] { report = log.finish(200ms); }, [&] { pipe.drain(); });
    EXPECT_GE(std::chrono::steady_clock::now() - started, 190ms);  // it did wait for a reader
    // Nothing was written: all 100 lines are lost, and the report says so.
    EXPECT_EQ(log.dropped(), 100u);
    EXPECT_TRUE(contains(report, "dropped 100 access log lines")) << report;
    EXPECT_EQ(pipe.drain(), "");
}

TEST(AccessLog, FinishWritesWhatAReaderTakes) {
    LogPipe pipe;
    pipe.fill();
    AccessLog log(pipe.write_end(), 1024);
    for (int number = 0; number < 100; ++number) log_request(log, number);
    const std::uint64_t dropped = log.dropped();
    std::string received;
    auto reader = std::async(std::launch::async, [&] {
        std::this_thread::sleep_for(50ms);
        received = pipe.drain();  // makes room: finish() then writes the rest and the note
    });
    const std::string report = log.finish(5s);
    reader.get();
    received += pipe.drain();
    EXPECT_EQ(log.dropped(), dropped);  // nothing more was lost at the end
    EXPECT_EQ(noted_drops(received), dropped) << received;
    EXPECT_TRUE(contains(report, "dropped " + std::to_string(dropped) + " access log lines"));
}

TEST(AccessLog, AVanishedReaderCostsTheLinesNotTheServer) {
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    pipe.close_read_end();
    log_request(log, 1);
    log.flush();  // EPIPE: the log is given up, every line from now on is counted
    log_request(log, 2);
    log.flush();
    EXPECT_EQ(log.dropped(), 2u);
    EXPECT_TRUE(contains(log.finish(1s), "EPIPE"));
}

TEST(AccessLog, NeverBlocksOnASocketThatIsNotRead) {
    int ends[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends), 0);
    raw_sockets::Fd reader(ends[0]), writer(ends[1]);
    AccessLog log(writer.get(), 1024);
    finishes_without_blocking(
        [&] {
            for (int number = 0; number < 20000; ++number) {
                log_request(log, number);
                log.flush();
            }
        },
        [&] { reader.reset(); });
    EXPECT_GT(log.dropped(), 0u);
    EXPECT_FALSE(LogPipe::nonblocking(writer.get()));
    log.finish(0ms);
}

TEST(AccessLog, WritesEveryLineToARegularFile) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    {
        AccessLog log(file);
        for (int number = 0; number < 5000; ++number) {
            log_request(log, number);
            if (number % 100 == 0) log.flush();
        }
    }  // the destructor writes the rest
    std::rewind(file);
    std::string text;
    char chunk[65536];
    std::size_t got = 0;
    while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) text.append(chunk, got);
    std::fclose(file);
    std::string expected;
    for (int number = 0; number < 5000; ++number) expected += request_line(number);
    EXPECT_EQ(text, expected);
}

// Point 1 of issue 11: a regular file never makes the log drop a line, however many lines
// come between two flushes (the worker flushes once per batch of events; one pipelining
// client can make thousands of lines in one batch).
TEST(AccessLog, NeverDropsALineToARegularFileEvenWithoutFlush) {
    std::FILE* file = std::tmpfile();
    ASSERT_NE(file, nullptr);
    {
        AccessLog log(file, 1024);
        for (int number = 0; number < 5000; ++number) log_request(log, number);
        EXPECT_EQ(log.dropped(), 0u);
    }
    std::rewind(file);
    std::string text;
    char chunk[65536];
    std::size_t got = 0;
    while ((got = std::fread(chunk, 1, sizeof chunk, file)) > 0) text.append(chunk, got);
    std::fclose(file);
    EXPECT_EQ(text, first_lines(5000));
}

// A pipe with room takes lines as they come once the buffer is half full: a reader that
// keeps up loses nothing, even with many lines between two flushes.
TEST(AccessLog, WritesFromEndLineOnceTheBufferIsHalfFull) {
    LogPipe pipe;
    AccessLog log(pipe.write_end(), 1024);
    std::string received;
    for (int number = 0; number < 2000; ++number) {
        log_request(log, number);
        if (number % 100 == 99) received += pipe.drain();  // a reader keeping up, no flush
    }
    log.flush();
    received += pipe.drain();
    EXPECT_EQ(log.dropped(), 0u);
    EXPECT_EQ(received, first_lines(2000));
}

// Point 2: no line is longer than PIPE_BUF (a write that small to a pipe is never torn by
// another worker's), whatever the client sent: the target is cut, visibly.
TEST(AccessLog, CutsALongTargetSoTheLineFitsInPipeBuf) {
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    log.text("unix \"GET ").escaped(std::string(8000, '"')).text(" HTTP/1.1\" ").number(404);
    log.end_line();
    log.flush();
    const std::string line = pipe.drain();
    EXPECT_LE(line.size(), static_cast<std::size_t>(PIPE_BUF));
    EXPECT_LE(line.size(), 1024u + 100u);             // the target's share is about 1 KiB
    EXPECT_TRUE(contains(line, "\\x22...")) << line;  // cut between escapes, marked
    EXPECT_TRUE(line.ends_with(" HTTP/1.1\" 404\n")) << line;
}

TEST(AccessLog, CutsAnyLineLongerThanPipeBuf) {
    LogPipe pipe;
    AccessLog log(pipe.write_end());
    for (int part = 0; part < 10; ++part) log.escaped(std::string(1000, 'a'));
    log.end_line();
    log.flush();
    const std::string line = pipe.drain();
    EXPECT_EQ(line.size(), static_cast<std::size_t>(PIPE_BUF));
    EXPECT_TRUE(line.ends_with("...\n"));
}

// Point 4: a write error (a full disk, a log shipper restarting) costs the lines in hand,
// not the rest of the log: the next flush tries again, and says how many were lost.
TEST(AccessLog, AfterAWriteErrorTheNextFlushTriesAgain) {
    ::signal(SIGPIPE, SIG_IGN);
    int broken[2], working[2];
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, broken), 0);
    ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, working), 0);
    raw_sockets::Fd broken_reader(broken[0]), destination(broken[1]);
    raw_sockets::Fd reader(working[0]), working_writer(working[1]);
    ASSERT_EQ(::shutdown(destination.get(), SHUT_WR), 0);  // every send now fails: EPIPE
    AccessLog log(destination.get());
    log_request(log, 1);
    log.flush();
    EXPECT_EQ(log.dropped(), 1u);
    // The destination works again (the same descriptor, now a working socket).
    ASSERT_GE(::dup3(working_writer.get(), destination.get(), O_CLOEXEC), 0);
    log_request(log, 2);
    log.flush();
    char chunk[4096];
    const ssize_t got = ::recv(reader.get(), chunk, sizeof chunk, MSG_DONTWAIT);
    ASSERT_GT(got, 0);
    const std::string text(chunk, static_cast<std::size_t>(got));
    EXPECT_EQ(noted_drops(text), 1u) << text;
    EXPECT_TRUE(text.ends_with(request_line(2))) << text;
    const std::string report = log.finish(1s);
    EXPECT_TRUE(contains(report, "dropped 1 access log lines")) << report;
    EXPECT_TRUE(contains(report, "EPIPE")) << report;
}

TEST(AccessLog, WithoutADestinationDoesNothing) {
    AccessLog log(static_cast<std::FILE*>(nullptr));
    EXPECT_FALSE(log.enabled());
    log_request(log, 1);
    log.flush();
    EXPECT_EQ(log.pending_bytes(), 0u);
    EXPECT_EQ(log.dropped(), 0u);
    EXPECT_EQ(log.finish(0ms), "");
}

}  // namespace
