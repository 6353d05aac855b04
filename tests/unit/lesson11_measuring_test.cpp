// Chapter 11: measuring. The statistics ipc_bench reports (the median, and percentiles by the
// nearest-rank rule) on data whose answers are known, including the small and even-sized
// sets where off-by-one mistakes hide; which end's socket buffer limits a stream on each
// transport, and what an accepted socket inherits from its listener; then each measurement
// run end to end with tiny counts, and stopped in flight by a signal.
#include <netinet/in.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "measure/measure.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "test_support.hpp"

namespace {

using measure::median;
using measure::percentile;
using measure::Transport;
using raw_sockets::Address;

// 1, 2, ..., n, given in descending order so that a function that forgets to sort fails.
std::vector<double> one_to(int n) {
    std::vector<double> samples;
    for (int i = n; i >= 1; --i) samples.push_back(i);
    return samples;
}

TEST(Median, OfAnOddNumberOfSamplesIsTheMiddleOne) {
    EXPECT_EQ(median({7}), 7);
    EXPECT_EQ(median({5, 1, 3}), 3);
    EXPECT_EQ(median(one_to(101)), 51);
}

TEST(Median, OfAnEvenNumberOfSamplesIsTheMeanOfTheTwoMiddleOnes) {
    EXPECT_EQ(median({1, 2}), 1.5);
    EXPECT_EQ(median({4, 1, 3, 2}), 2.5);
    EXPECT_EQ(median({10, 30, 10, 30}), 20);
    EXPECT_EQ(median(one_to(100)), 50.5);
}

TEST(Median, OfNoSamplesIsAnError) {
    EXPECT_THROW(median({}), std::invalid_argument);
}

TEST(Percentile, ByNearestRankOnOneToAHundredIsTheRankItself) {
    const std::vector<double> samples = one_to(100);
    EXPECT_EQ(percentile(samples, 1), 1);
    EXPECT_EQ(percentile(samples, 50), 50);  // the median would say 50.5: not a sample
    EXPECT_EQ(percentile(samples, 99), 99);
    EXPECT_EQ(percentile(samples, 99.5), 100);
    EXPECT_EQ(percentile(samples, 100), 100);
    EXPECT_EQ(percentile(samples, 0.5), 1);
}

TEST(Percentile, OfFewSamplesIsAlwaysOneOfThem) {
    // With ten samples, "99% were at most this" can only be said of the largest.
    EXPECT_EQ(percentile(one_to(10), 99), 10);
    EXPECT_EQ(percentile(one_to(10), 90), 9);
    EXPECT_EQ(percentile(one_to(10), 91), 10);
    EXPECT_EQ(percentile(one_to(10), 50), 5);
    EXPECT_EQ(percentile({1, 2}, 50), 1);
    EXPECT_EQ(percentile({1, 2}, 51), 2);
    EXPECT_EQ(percentile({42}, 1), 42);
    EXPECT_EQ(percentile({42}, 99), 42);
}

TEST(Percentile, AWholeRankIsNotPushedUpByFloatingPoint) {
    // 64.4% of 1000 samples is rank 644, but 64.4 has no exact binary form and
    // 64.4 * 1000 / 100 computes as 644.0000000000001, which a bare ceil() makes 645.
    EXPECT_EQ(percentile(one_to(1000), 64.4), 644);
    EXPECT_EQ(percentile(one_to(1000), 99.9), 999);
    EXPECT_EQ(percentile(one_to(10000), 99.99), 9999);
    EXPECT_EQ(percentile(one_to(1000), 0.1), 1);
}

TEST(Percentile, RejectsNoSamplesAndOutOfRangeRanks) {
    EXPECT_THROW(percentile({}, 50), std::invalid_argument);
    EXPECT_THROW(percentile({1}, 0), std::invalid_argument);
    EXPECT_THROW(percentile({1}, -5), std::invalid_argument);
    EXPECT_THROW(percentile({1}, 100.5), std::invalid_argument);
    EXPECT_THROW(percentile({1}, std::numeric_limits<double>::quiet_NaN()), std::invalid_argument);
}

TEST(Percentile, SortsSamplesThatArriveInAnyOrder) {
    EXPECT_EQ(percentile({9, 1, 5, 3, 7}, 20), 1);
    EXPECT_EQ(percentile({9, 1, 5, 3, 7}, 60), 5);
    EXPECT_EQ(percentile({9, 1, 5, 3, 7}, 100), 9);
}

TEST(Percentile, SaysWhichInputIsWrongAndChecksTheSamplesFirst) {
    const auto message_of = [](const std::vector<double>& samples, double p) -> std::string {
        try {
            percentile(samples, p);
        } catch (const std::invalid_argument& error) {
            return error.what();
        }
        return "no exception";
    };
    EXPECT_EQ(message_of({}, 50), "percentile of no samples");
    EXPECT_EQ(message_of({}, 0), "percentile of no samples");
    EXPECT_EQ(message_of({1}, 0), "percentile must be in (0, 100]");
}

//! [p99_tail]
TEST(Summarize, P99AndMaxSeeTheTailThatTheMedianHides) {
    // 1000 round trips, 10 of them slow: exactly the 1% that p99 does not have to cover.
    std::vector<double> samples(990, 10.0);
    samples.insert(samples.end(), 10, 1000.0);
    measure::LatencySummary summary = measure::summarize(samples);
    EXPECT_EQ(summary.median, 10);
    EXPECT_EQ(summary.p99, 10);
    EXPECT_EQ(summary.max, 1000);
    EXPECT_EQ(summary.count, 1000u);
    // One more slow one and they are more than 1%: p99 now shows it.
    samples[0] = 1000.0;
    summary = measure::summarize(samples);
    EXPECT_EQ(summary.median, 10);
    EXPECT_EQ(summary.p99, 1000);
}
//! [p99_tail]

TEST(Placement, IsTwoDifferentAllowedCpusOrNone) {
    const measure::Placement cpus = measure::choose_cpus();
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    ASSERT_EQ(::sched_getaffinity(0, sizeof allowed, &allowed), 0);
    if (CPU_COUNT(&allowed) < 2) {
        EXPECT_EQ(cpus.client_cpu, -1);
        EXPECT_EQ(cpus.server_cpu, -1);
        return;
    }
    EXPECT_NE(cpus.client_cpu, cpus.server_cpu);
    EXPECT_TRUE(CPU_ISSET(cpus.client_cpu, &allowed));
    EXPECT_TRUE(CPU_ISSET(cpus.server_cpu, &allowed));
}

// A socketpair and a Unix socket file in `dir`: the two kinds of set-up (inherited before
// fork, connected after it) that every transport of ipc_bench uses one of.
std::vector<Transport> local_transports(const test_support::TempDir& dir) {
    return {{"socketpair", ""}, {"unix_path", dir.unix_address("bench.sock")}};
}

// True when every server process has been reaped: this process has no child, running or
// zombie, left.
bool no_children_left() {
    return ::waitpid(-1, nullptr, WNOHANG) == -1 && errno == ECHILD;
}

TEST(Measure, RoundTripsGiveOnePositiveTimePerTimedRoundTrip) {
    const test_support::TempDir dir;
    for (const Transport& transport : local_transports(dir)) {
        SCOPED_TRACE(transport.name);
        for (const std::size_t size : {std::size_t{16}, std::size_t{64 * 1024}}) {
            const std::vector<double> micros =
                measure::time_round_trips(transport, {}, size, 3, 20);
            ASSERT_EQ(micros.size(), 20u) << size << " bytes";
            for (const double time : micros) EXPECT_GT(time, 0) << size << " bytes";
        }
        EXPECT_TRUE(no_children_left());
    }
    // The socket file went once the client was connected.
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(Measure, BulkTransferGivesARateAndTheBuffersTheKernelGave) {
    const test_support::TempDir dir;
    constexpr int asked = 64 * 1024;  // below net.core.wmem_max and rmem_max on any Linux
    // Over TCP the server asks on the listener only, and the accepted socket inherits the
    // size; over a Unix socket it asks again after accept(). Both ends must report it.
    std::vector<Transport> transports = local_transports(dir);
    transports.push_back({"tcp_ipv4", "127.0.0.1:0"});
    for (const Transport& transport : transports) {
        SCOPED_TRACE(transport.name);
        const measure::BulkResult plain =
            measure::time_bulk_transfer(transport, {}, 4096, 1024 * 1024, 0);
        EXPECT_GT(plain.megabytes_per_second, 0);
        EXPECT_GT(plain.send_buffer, 0);
        EXPECT_GT(plain.receive_buffer, 0);
        // Linux doubles what setsockopt() asks for (half is for its own bookkeeping) and
        // getsockopt() reports the doubled figure, on both ends.
        const measure::BulkResult raised =
            measure::time_bulk_transfer(transport, {}, 1024, 256 * 1024, asked);
        EXPECT_GT(raised.megabytes_per_second, 0);
        EXPECT_EQ(raised.send_buffer, 2 * asked);
        EXPECT_EQ(raised.receive_buffer, 2 * asked);
        EXPECT_TRUE(no_children_left());
    }
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

// --------------------------------------------------------------------------------------
// Socket buffers: which end's size limits what a stream holds, and what accept() inherits.
// Every size asked for is below 208 KiB, the default net.core.wmem_max and rmem_max, so
// the kernel grants it (doubled) on any Linux without privileges.

int buffer_size(const raw_sockets::Socket& socket, int option) {
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, option, &value, &length) != 0) {
        ADD_FAILURE() << "getsockopt: " << std::strerror(errno);
    }
    return value;
}

void ask_buffer_size(const raw_sockets::Socket& socket, int option, int bytes) {
    ASSERT_EQ(::setsockopt(socket.native_handle(), SOL_SOCKET, option, &bytes, sizeof bytes), 0)
        << std::strerror(errno);
}

// Writes 1 KiB at a time into `sender` (made non-blocking here), never reading the other
// end, until no room comes back within 200 ms, and returns how many bytes it took. The wait
// lets TCP move what it can from the sender's buffer to the receiver's first.
long bytes_written_without_reading(const raw_sockets::Socket& sender) {
    raw_sockets::set_nonblocking(sender);
    const std::vector<char> chunk(1024, 'x');
    long total = 0;
    for (;;) {
        const ssize_t sent =
            ::send(sender.native_handle(), chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (sent > 0) {
            total += sent;
            continue;
        }
        if (sent < 0 && errno != EAGAIN) {
            ADD_FAILURE() << "send: " << std::strerror(errno);
            return total;
        }
        pollfd writable{.fd = sender.native_handle(), .events = POLLOUT, .revents = 0};
        if (::poll(&writable, 1, 200) == 0) return total;
        if (total > 64L * 1024 * 1024) {  // a buffer this large means no limit works at all
            ADD_FAILURE() << "more than 64 MiB written without reading";
            return total;
        }
    }
}

// An AF_UNIX stream socketpair whose sender asks for `send_buffer` and whose receiver asks
// for `receive_buffer` (0: the default); what the sender can write before it must wait.
long unix_stream_capacity(int send_buffer, int receive_buffer) {
    const auto [sender, receiver] = raw_sockets::socket_pair();
    if (send_buffer > 0) ask_buffer_size(sender, SO_SNDBUF, send_buffer);
    if (receive_buffer > 0) ask_buffer_size(receiver, SO_RCVBUF, receive_buffer);
    return bytes_written_without_reading(sender);
}

// The same over TCP on 127.0.0.1. The receiver's SO_RCVBUF is asked for on the listener,
// before the handshake that announces the window scale; the accepted socket inherits it.
long tcp_capacity(int send_buffer, int receive_buffer) {
    const raw_sockets::Socket listener = raw_sockets::listen_on(Address::parse("127.0.0.1:0"));
    if (receive_buffer > 0) ask_buffer_size(listener, SO_RCVBUF, receive_buffer);
    const raw_sockets::Socket sender =
        raw_sockets::connect_to(raw_sockets::local_address(listener));
    if (send_buffer > 0) ask_buffer_size(sender, SO_SNDBUF, send_buffer);
    const raw_sockets::Socket receiver = raw_sockets::accept_connection(listener);
    return bytes_written_without_reading(sender);
}

TEST(SocketBuffers, AUnixStreamIgnoresTheReceiversRcvbuf) {
    // The sender's SO_SNDBUF fixed at 32 KiB; the receiver's SO_RCVBUF 4 KiB or 128 KiB.
    const long small_receiver = unix_stream_capacity(32 * 1024, 4 * 1024);
    const long large_receiver = unix_stream_capacity(32 * 1024, 128 * 1024);
    // The same room either way (within 10%, for the kernel's own accounting)...
    EXPECT_LT(std::abs(small_receiver - large_receiver), large_receiver / 10)
        << small_receiver << " bytes with a 4 KiB SO_RCVBUF, " << large_receiver << " with 128 KiB";
    // ...and more than the small receive buffer could ever hold (the kernel's 8 KiB).
    EXPECT_GT(small_receiver, 2 * 8 * 1024) << small_receiver;
}

TEST(SocketBuffers, AUnixStreamHoldsWhatTheSendersSndbufAllows) {
    // The receiver's SO_RCVBUF fixed at 64 KiB; the sender's SO_SNDBUF 8 KiB or 128 KiB.
    const long small_sender = unix_stream_capacity(8 * 1024, 64 * 1024);
    const long large_sender = unix_stream_capacity(128 * 1024, 64 * 1024);
    EXPECT_GT(large_sender, 4 * small_sender)
        << small_sender << " bytes with an 8 KiB SO_SNDBUF, " << large_sender << " with 128 KiB";
    // What is buffered is charged to the sender, whose buffer the kernel doubled.
    EXPECT_LE(small_sender, 2 * 8 * 1024) << small_sender;
}

TEST(SocketBuffers, OverTcpBothTheSendersAndTheReceiversBufferCount) {
    const long small_receiver = tcp_capacity(16 * 1024, 4 * 1024);
    const long large_receiver = tcp_capacity(16 * 1024, 128 * 1024);
    EXPECT_GT(large_receiver, 2 * small_receiver)
        << small_receiver << " bytes with a 4 KiB SO_RCVBUF, " << large_receiver << " with 128 KiB";
    const long small_sender = tcp_capacity(4 * 1024, 16 * 1024);
    const long large_sender = tcp_capacity(128 * 1024, 16 * 1024);
    EXPECT_GT(large_sender, 2 * small_sender)
        << small_sender << " bytes with a 4 KiB SO_SNDBUF, " << large_sender << " with 128 KiB";
}

// The buffer sizes of the socket accept() returns, when the listener asked for 24 KiB to
// send and 40 KiB to receive before the client connected.
std::pair<int, int> accepted_buffers(const std::string& address) {
    const raw_sockets::Socket listener = raw_sockets::listen_on(Address::parse(address));
    ask_buffer_size(listener, SO_SNDBUF, 24 * 1024);
    ask_buffer_size(listener, SO_RCVBUF, 40 * 1024);
    const raw_sockets::Socket client =
        raw_sockets::connect_to(raw_sockets::local_address(listener));
    const raw_sockets::Socket accepted = raw_sockets::accept_connection(listener);
    return {buffer_size(accepted, SO_SNDBUF), buffer_size(accepted, SO_RCVBUF)};
}

TEST(SocketBuffers, AnAcceptedTcpSocketInheritsTheListenersBuffers) {
    EXPECT_EQ(accepted_buffers("127.0.0.1:0"), std::make_pair(2 * 24 * 1024, 2 * 40 * 1024));
}

TEST(SocketBuffers, AnAcceptedUnixSocketDoesNotInheritTheListenersBuffers) {
    const test_support::TempDir dir;
    // It gets what any new Unix socket gets: the defaults (net.core.wmem_default and
    // rmem_default), read here from a fresh socket rather than from the sysctls.
    const auto [fresh, unused] = raw_sockets::socket_pair();
    EXPECT_EQ(accepted_buffers(dir.unix_address("s")),
              std::make_pair(buffer_size(fresh, SO_SNDBUF), buffer_size(fresh, SO_RCVBUF)));
    EXPECT_NE(buffer_size(fresh, SO_SNDBUF), 2 * 24 * 1024);
}

// A Unix connection is made by connect() alone: it returns with the server's end already
// created and queued on the listener (the listener polls readable), and bytes sent at once
// wait in that end until the server accepts it.
TEST(Connections, AUnixConnectCreatesTheServersEndBeforeAnyAccept) {
    const test_support::TempDir dir;
    const raw_sockets::Socket listener =
        raw_sockets::listen_on(Address::parse(dir.unix_address("s")));
    raw_sockets::Socket client = raw_sockets::connect_to(raw_sockets::local_address(listener));
    pollfd queued{.fd = listener.native_handle(), .events = POLLIN, .revents = 0};
    ASSERT_EQ(::poll(&queued, 1, 0), 1) << "nothing queued on the listener after connect()";
    client.send_all(raw_sockets::as_bytes("before accept"));
    raw_sockets::Socket accepted = raw_sockets::accept_connection(listener);
    client.close();
    EXPECT_EQ(test_support::receive_all(accepted), "before accept");
}

TEST(Measure, ConnectionSetUpsGiveAPositiveRate) {
    const test_support::TempDir dir;
    const Transport path{"unix_path", dir.unix_address("bench.sock")};
    const Transport abstract{"unix_abstract", "unix:@rs-measure-" + std::to_string(::getpid())};
    EXPECT_GT(measure::time_connections(path, {}, 2, 20), 0);
    EXPECT_GT(measure::time_connections(abstract, {}, 2, 20), 0);
    EXPECT_TRUE(no_children_left());
    EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
    EXPECT_THROW(measure::time_connections({"socketpair", ""}, {}, 2, 20), std::invalid_argument);
}

TEST(Measure, ASetUpThatFailsLeavesNoServerBehind) {
    const Transport nowhere{"unix_path", "unix:/nonexistent-rs-dir/bench.sock"};
    EXPECT_THROW(measure::time_round_trips(nowhere, {}, 16, 1, 1), std::exception);
    EXPECT_TRUE(no_children_left());
}

TEST(Measure, SigtermStopsAMeasurementInFlightAndLeavesNothingBehind) {
    // In a child process, since StopSignals changes the process's signal handlers.
    test_support::Child child([] {
        const test_support::TempDir dir;
        const raw_sockets::StopSignals stop;
        std::thread signaller([] {
            std::this_thread::sleep_for(std::chrono::milliseconds(200));
            ::kill(::getpid(), SIGTERM);
        });
        std::string report;
        const auto start = std::chrono::steady_clock::now();
        try {
            // Ten million round trips would take minutes; the signal must cut them short.
            measure::time_round_trips({"unix_path", dir.unix_address("s")}, {}, 16, 0, 10'000'000,
                                      &stop);
            report = "the measurement ran to its end";
        } catch (const std::exception&) {
        }
        signaller.join();
        const auto took = std::chrono::steady_clock::now() - start;
        if (stop.signal_number() != SIGTERM) report += " the stop was not SIGTERM's;";
        if (took > std::chrono::seconds(3)) report += " it took more than 3 s to stop;";
        if (!no_children_left()) report += " a server process is left;";
        if (!std::filesystem::is_empty(dir.path())) report += " a socket file is left;";
        return report;
    });
    EXPECT_EQ(child.finish(20), "");
}

}  // namespace
