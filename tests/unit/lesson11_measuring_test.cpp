// Chapter 11: measuring. The statistics ipc_bench reports (the median, and percentiles by the
// nearest-rank rule) on data whose answers are known, including the small and even-sized
// sets where off-by-one mistakes hide; then each measurement run end to end with tiny counts
// over a socketpair and a Unix socket, and stopped in flight by a signal.
#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <limits>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "measure/measure.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "test_support.hpp"

namespace {

using measure::median;
using measure::percentile;
using measure::Transport;

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
    for (const Transport& transport : local_transports(dir)) {
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
