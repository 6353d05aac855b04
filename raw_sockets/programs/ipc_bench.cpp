// ipc_bench: Unix sockets against TCP on this machine (chapter 11), three ways:
//
//   latency     round trips of one message (16 B, 256 B, 4 KiB, 64 KiB): median, p99, max
//   throughput  one-way bulk transfer in writes of 4 KiB, 64 KiB, 1 MiB, with the default
//               socket buffers and with 4 MiB asked for: MB/s, and the buffers the kernel gave
//   connect     connect + accept + close, one at a time: connections per second
//
// over a Unix socket file, an abstract Unix socket, a socketpair, TCP on 127.0.0.1 and TCP
// on ::1. The client is this process, the server a forked child; they are pinned to two
// different CPUs.
//
//   ipc_bench [--quick] [--rounds N] [--only latency|throughput|connect] [--transport NAME]
//
// --transport keeps one of unix_path, unix_abstract, socketpair, tcp_ipv4, tcp_ipv6 (for a
// quick look at one, or a check against another tool).
//
// Results go to stdout as CSV, one figure a line, each the median of the rounds; progress
// goes to stderr. Ctrl-C stops it cleanly: no server left running, no socket file left.
#include <unistd.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <csignal>
#include <filesystem>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "measure/measure.hpp"
#include "raw_sockets/raw_sockets.hpp"

using namespace measure;
using namespace raw_sockets;

namespace {

constexpr std::string_view usage =
    "[--quick] [--rounds N] [--only latency|throughput|connect] [--transport NAME]";

constexpr std::array<std::size_t, 4> payload_sizes{16, 256, 4096, 64 * 1024};
constexpr std::array<std::size_t, 3> write_sizes{4096, 64 * 1024, 1024 * 1024};
constexpr int raised_buffer = 4 * 1024 * 1024;

// Fixed counts, so that a run takes a bounded time whatever the machine does.
struct Counts {
    int rounds;
    int round_trips;      // timed, per payload size
    int warmup_trips;     // untimed, before them
    std::size_t bulk;     // bytes timed per throughput figure (an eighth more go first)
    int connections;      // timed
    int warmup_connects;  // untimed
};
constexpr Counts full_counts{5, 10000, 1000, 128 * 1024 * 1024, 2000, 200};
constexpr Counts quick_counts{3, 2000, 200, 16 * 1024 * 1024, 500, 50};

// One figure of the CSV and its value in each round.
struct Row {
    std::string test, transport;
    std::size_t size;
    std::string buffer, stat, unit;
    std::vector<double> rounds;
};

class Results {
  public:
    void add(const std::string& test, const std::string& transport, std::size_t size,
             const std::string& buffer, const std::string& stat, const std::string& unit,
             double value) {
        const auto same = [&](const Row& row) {
            return row.test == test && row.transport == transport && row.size == size &&
                   row.buffer == buffer && row.stat == stat;
        };
        auto row = std::find_if(rows_.begin(), rows_.end(), same);
        if (row == rows_.end()) {
            rows_.push_back({test, transport, size, buffer, stat, unit, {}});
            row = rows_.end() - 1;
        }
        row->rounds.push_back(value);
    }

    // The median of the rounds is the figure; the smallest and largest round show how much
    // the machine let it move.
    void print_csv(std::ostream& out) const {
        out << "test,transport,size_bytes,buffer,stat,value,unit,rounds,round_min,round_max\n";
        for (const Row& row : rows_) {
            const auto [low, high] = std::minmax_element(row.rounds.begin(), row.rounds.end());
            out << row.test << ',' << row.transport << ',' << row.size << ',' << row.buffer << ','
                << row.stat << ',' << number(median(row.rounds), row.unit) << ',' << row.unit << ','
                << row.rounds.size() << ',' << number(*low, row.unit) << ','
                << number(*high, row.unit) << '\n';
        }
    }

    static std::string number(double value, const std::string& unit) {
        std::ostringstream text;
        text << std::fixed << std::setprecision(unit == "us" ? 2 : unit == "MB/s" ? 1 : 0) << value;
        return text.str();
    }

  private:
    std::vector<Row> rows_;  // in the order first measured: round 1 goes in the list's order
};

// A short directory for the socket file: sun_path holds 108 bytes, and $TMPDIR may be long.
class ScratchDir {
  public:
    ScratchDir() {
        char pattern[] = "/tmp/ipc_bench-XXXXXX";
        if (::mkdtemp(pattern) == nullptr) throw_errno("mkdtemp", pattern);
        path_ = pattern;
    }
    ~ScratchDir() {
        std::error_code ignored;  // each socket file is gone already (SocketFileCleanup)
        std::filesystem::remove_all(path_, ignored);
    }
    ScratchDir(const ScratchDir&) = delete;
    ScratchDir& operator=(const ScratchDir&) = delete;
    const std::string& path() const { return path_; }

  private:
    std::string path_;
};

std::vector<Transport> choose_transports(const ScratchDir& dir) {
    std::vector<Transport> transports{
        {"unix_path", "unix:" + dir.path() + "/s"},
        {"unix_abstract", "unix:@ipc_bench-" + std::to_string(::getpid())},
        {"socketpair", ""},
        {"tcp_ipv4", "127.0.0.1:0"},
    };
    try {
        listen_on(Address::parse("[::1]:0"));  // a container may have no IPv6 loopback
        transports.push_back({"tcp_ipv6", "[::1]:0"});
    } catch (const SocketError& error) {
        std::cerr << "ipc_bench: note: TCP over ::1 skipped, no IPv6 loopback here ("
                  << error.what() << ")" << std::endl;
    }
    return transports;
}

std::string size_text(std::size_t bytes) {
    if (bytes >= 1024 * 1024) return std::to_string(bytes / (1024 * 1024)) + " MiB";
    if (bytes >= 1024) return std::to_string(bytes / 1024) + " KiB";
    return std::to_string(bytes) + " B";
}

// Between measurements, a Ctrl-C that came while nothing was in flight.
void check_stop(const StopSignals& stop) {
    if (stop.requested()) throw std::runtime_error("interrupted");
}

void measure_latency(const Transport& transport, const Placement& cpus, const Counts& counts,
                     const StopSignals& stop, Results& results, std::ostream& progress) {
    progress << "  median round trip:";
    for (const std::size_t size : payload_sizes) {
        check_stop(stop);
        const LatencySummary summary = summarize(time_round_trips(
            transport, cpus, size, counts.warmup_trips, counts.round_trips, &stop));
        results.add("latency", transport.name, size, "default", "median", "us", summary.median);
        results.add("latency", transport.name, size, "default", "p99", "us", summary.p99);
        results.add("latency", transport.name, size, "default", "max", "us", summary.max);
        progress << "  " << size_text(size) << ' ' << Results::number(summary.median, "us")
                 << " us";
    }
    progress << '\n';
}

void measure_throughput(const Transport& transport, const Placement& cpus, const Counts& counts,
                        const StopSignals& stop, Results& results, std::ostream& progress) {
    for (const int request : {0, raised_buffer}) {
        const std::string buffer = request == 0 ? "default" : std::to_string(request);
        progress << "  MB/s, " << (request == 0 ? "default buffers:" : "4 MiB buffers asked:");
        for (const std::size_t size : write_sizes) {
            check_stop(stop);
            const BulkResult bulk =
                time_bulk_transfer(transport, cpus, size, counts.bulk, request, &stop);
            results.add("throughput", transport.name, size, buffer, "rate", "MB/s",
                        bulk.megabytes_per_second);
            results.add("throughput", transport.name, size, buffer, "sndbuf", "bytes",
                        bulk.send_buffer);
            results.add("throughput", transport.name, size, buffer, "rcvbuf", "bytes",
                        bulk.receive_buffer);
            progress << "  " << size_text(size) << ' '
                     << Results::number(bulk.megabytes_per_second, "MB/s");
        }
        progress << '\n';
    }
}

void measure_connect(const Transport& transport, const Placement& cpus, const Counts& counts,
                     const StopSignals& stop, Results& results, std::ostream& progress) {
    check_stop(stop);
    const double rate =
        time_connections(transport, cpus, counts.warmup_connects, counts.connections, &stop);
    results.add("connect", transport.name, 0, "default", "rate", "conn/s", rate);
    progress << "  connect + accept + close: " << Results::number(rate, "conn/s") << " per s\n";
}

int parse_rounds(std::string_view text) {
    int value = 0;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc() || end != text.data() + text.size() || value < 1 || value > 100) {
        throw UsageError("--rounds takes a whole number from 1 to 100, not '" + std::string(text) +
                         "'");
    }
    return value;
}

// Every test on every transport, round after round; the CSV on stdout at the end.
void measure_all(const Counts& counts, const std::vector<std::string>& tests,
                 const std::string& only_transport, const StopSignals& stop) {
    // Pinned to two different cores, client and server run at the same time, as they would
    // on a real machine, and the scheduler cannot move them between measurements. On one
    // core they would take turns, and every round trip would include a context switch.
    const Placement cpus = choose_cpus();
    if (cpus.client_cpu < 0) {
        std::cerr << "ipc_bench: note: only one CPU allowed: client and server share it, "
                     "unpinned, so every round trip includes switching between them"
                  << std::endl;
    } else {
        std::cerr << "ipc_bench: server pinned to CPU " << cpus.server_cpu << ", client to CPU "
                  << cpus.client_cpu << std::endl;
    }
    pin_to_cpu(cpus.client_cpu);

    const ScratchDir dir;
    std::vector<Transport> transports = choose_transports(dir);
    if (!only_transport.empty()) {
        std::erase_if(transports, [&](const Transport& t) { return t.name != only_transport; });
        if (transports.empty()) throw UsageError("no transport '" + only_transport + "' here");
    }
    std::cerr << "ipc_bench: " << counts.rounds << " round(s); in each, every transport once, "
              << "starting one further along the list each round" << std::endl;

    Results results;
    for (int round = 0; round < counts.rounds; ++round) {
        for (const std::string& test : tests) {
            // Alternating the transports inside each round, rather than measuring one
            // transport after the other, spreads any drift of the machine (another program
            // waking up, the CPU clocking down when hot) over all of them alike; rotating
            // the order keeps any one from always going first.
            for (std::size_t k = 0; k < transports.size(); ++k) {
                const Transport& transport =
                    transports[(k + static_cast<std::size_t>(round)) % transports.size()];
                if (test == "connect" && transport.address.empty()) continue;  // socketpair
                std::ostringstream progress;
                progress << "round " << round + 1 << '/' << counts.rounds << ' ' << test << ' '
                         << transport.name << '\n';
                if (test == "latency") {
                    measure_latency(transport, cpus, counts, stop, results, progress);
                }
                if (test == "throughput") {
                    measure_throughput(transport, cpus, counts, stop, results, progress);
                }
                if (test == "connect") {
                    measure_connect(transport, cpus, counts, stop, results, progress);
                }
                std::cerr << progress.str() << std::flush;
            }
        }
    }
    results.print_csv(std::cout);
}

// Sets `stopped_by` to the SIGINT or SIGTERM that stopped the run, if one did.
int run(std::span<char*> args, int& stopped_by) {
    Counts counts = full_counts;
    int rounds = 0;  // 0: the default of full or quick counts
    std::vector<std::string> tests{"latency", "throughput", "connect"};
    std::string only_transport;  // empty: all of them
    for (std::size_t i = 0; i < args.size(); ++i) {
        const std::string_view option = args[i];
        const bool has_value = i + 1 < args.size();
        if (option == "--quick") {
            counts = quick_counts;
        } else if (option == "--rounds" && has_value) {
            rounds = parse_rounds(args[++i]);
        } else if (option == "--only" && has_value) {
            const std::string test = args[++i];
            if (std::find(tests.begin(), tests.end(), test) == tests.end()) {
                throw UsageError("--only takes latency, throughput or connect, not '" + test + "'");
            }
            tests = {test};
        } else if (option == "--transport" && has_value) {
            only_transport = args[++i];
        } else {
            throw UsageError("unknown option or missing value: '" + std::string(option) + "'");
        }
    }
    if (rounds != 0) counts.rounds = rounds;

    const StopSignals stop;
    try {
        measure_all(counts, tests, only_transport, stop);
    } catch (const std::exception&) {
        // Stopped by a signal: whatever failed did so because the run was cut short. By now
        // the destructors have reaped the servers and removed the files.
        if (!stop.requested()) throw;
        std::cerr << "ipc_bench: stopped by signal " << stop.signal_number() << "; no results"
                  << std::endl;
    }
    stopped_by = stop.signal_number();
    return stopped_by == 0 ? 0 : 128 + stopped_by;
}

}  // namespace

int main(int argc, char** argv) {
    int stopped_by = 0;
    const int status = run_program(
        argc, argv, usage, [&stopped_by](std::span<char*> args) { return run(args, stopped_by); });
    if (stopped_by != 0) {
        // Everything is cleaned up: now die of the signal, rather than exit with a status, so
        // that a shell script running us knows the user interrupted and stops as well.
        std::signal(stopped_by, SIG_DFL);
        std::raise(stopped_by);
    }
    return status;
}
