/// \file
/// \brief Measuring sockets (chapter 11): order statistics, and round trips, bulk transfers
/// and connection set-ups timed between two processes.
///
/// Each measurement forks a server process, connects to it over one Transport, and times the
/// client's side. Two processes, as a real client and server would be, so that the figures
/// include the kernel waking the other side, which one process talking to itself would not.
///
/// A library of its own (CMake target `course_measure`), apart from raw_sockets: statistics,
/// CPU pinning and a fork harness are what a benchmark needs, not what a socket program does.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "raw_sockets/lifecycle.hpp"

/// Chapter 11's measurements of raw_sockets, for ipc_bench and the chapter's tests.
namespace measure {

// --- Statistics --------------------------------------------------------------------------

/// The middle sample, or the mean of the two middle ones when their number is even.
/// Throws std::invalid_argument for no samples.
double median(std::vector<double> samples);

/// The `p`th percentile (0 < p <= 100) by the nearest-rank rule: the smallest sample that at
/// least p% of all samples do not exceed. Always a value that was measured, never one
/// interpolated between two; p = 100 gives the maximum. Throws std::invalid_argument for no
/// samples or a `p` out of range.
double percentile(std::vector<double> samples, double p);

/// What ipc_bench reports of a set of round-trip times. Not the mean: latency has a long
/// tail (a preemption, an interrupt), and a few slow samples drag the mean away from what
/// a typical request sees. The median says what is typical, p99 what one request in a
/// hundred waits at least, and the max what the worst one did.
struct LatencySummary {
    double median = 0;      ///< half the samples were at most this
    double p99 = 0;         ///< 99% were at most this
    double max = 0;         ///< the slowest
    std::size_t count = 0;  ///< how many samples
};

/// median, p99 and max of `samples`. Throws std::invalid_argument for no samples.
LatencySummary summarize(const std::vector<double>& samples);

// --- Where the two processes talk, and where they run -------------------------------------

/// One way for two local processes to talk.
struct Transport {
    /// Its name in results: unix_path, unix_abstract, socketpair, tcp_ipv4, tcp_ipv6.
    std::string name;
    /// Where the server listens, in the course's syntax (port 0: any free port); empty for a
    /// socketpair, made before fork() and shared by inheritance.
    std::string address;
};

/// The CPUs the client and the server run on; -1 leaves a process to the scheduler.
struct Placement {
    int client_cpu = -1;  ///< the measuring process
    int server_cpu = -1;  ///< the forked server
};

/// The first two CPUs this process may run on (sched_getaffinity), or {-1, -1} when it may
/// use only one: pinning both processes to one core would make them take turns.
Placement choose_cpus();

/// Pins the calling process to `cpu` (sched_setaffinity); does nothing for -1.
void pin_to_cpu(int cpu);

// --- Measurements --------------------------------------------------------------------------
//
// Each takes an optional `stop`: the program's raw_sockets::StopSignals. Once SIGINT or
// SIGTERM has requested a stop, the measurement throws std::runtime_error instead of running
// to its end, and unwinds: the destructors hang up, kill and reap the server process, and
// remove the socket file. (Ctrl-C also reaches the server, in the same process group, which
// just dies: the client's next send or recv fails, with the same unwinding.)

/// Round trips of one message: the client sends `size` bytes, the server (another process)
/// reads all of them and sends them back, the client reads all of them. `warmup` round trips
/// first, untimed, then `count` timed ones. Returns each timed round trip, in microseconds.
/// On TCP both ends set TCP_NODELAY, so that Nagle's algorithm does not hold small messages.
/// Stops before the next round trip once `stop` (if given) is requested.
std::vector<double> time_round_trips(const Transport& transport, const Placement& placement,
                                     std::size_t size, int warmup, int count,
                                     const raw_sockets::StopSignals* stop = nullptr);

/// What time_bulk_transfer() measured.
struct BulkResult {
    double megabytes_per_second = 0;  ///< 1 MB = 10^6 bytes
    int send_buffer = 0;     ///< the sender's SO_SNDBUF at the end, as getsockopt() reads it
    int receive_buffer = 0;  ///< the receiver's SO_RCVBUF at the end, as getsockopt() reads it
};

/// One-way bulk transfer: the client sends `total_bytes` in writes of `write_size`; the
/// server reads them with reads of the same size and acknowledges the last byte. An eighth
/// as much goes first, untimed. `buffer_request` > 0 asks for that SO_SNDBUF and SO_RCVBUF on
/// both ends (Linux doubles the figure for its bookkeeping and caps it at
/// net.core.wmem_max and rmem_max); 0 keeps the kernel's defaults, which TCP grows during a
/// transfer (autotuning) and a setsockopt() switches off. Over TCP the server asks on its
/// listener, before the handshake, and the accepted socket inherits the sizes; an accepted
/// Unix socket inherits nothing, so there the server asks after accept(). Over a Unix stream
/// only the sender's SO_SNDBUF limits what is in flight: the receiver's SO_RCVBUF is
/// reported but not used. Stops before the next write once
/// `stop` (if given) is requested.
BulkResult time_bulk_transfer(const Transport& transport, const Placement& placement,
                              std::size_t write_size, std::size_t total_bytes, int buffer_request,
                              const raw_sockets::StopSignals* stop = nullptr);

/// Connection set-ups per second, one at a time: the client connects, the server accepts and
/// closes, the client sees the end of stream and closes. `warmup` untimed first. Throws
/// std::invalid_argument for a socketpair, which has no connecting to time. Stops before the
/// next connection once `stop` (if given) is requested.
double time_connections(const Transport& transport, const Placement& placement, int warmup,
                        int count, const raw_sockets::StopSignals* stop = nullptr);

}  // namespace measure
