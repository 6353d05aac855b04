// Chapter 11's measurements. Each one forks a server, connects to it, and times the client's
// side with a monotonic clock. The server is a child process, not a thread: two processes
// are what a real client and server are, and a crash or a hang of one cannot hide in the
// other's address space.
#include "measure/measure.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <functional>
#include <iostream>
#include <optional>
#include <stdexcept>
#include <string>

#include "raw_sockets/address.hpp"
#include "raw_sockets/error.hpp"
#include "raw_sockets/lifecycle.hpp"
#include "raw_sockets/socket.hpp"

namespace measure {

// The socket library, which this measures.
using raw_sockets::accept_connection;
using raw_sockets::Address;
using raw_sockets::connect_to;
using raw_sockets::listen_on;
using raw_sockets::local_address;
using raw_sockets::ProtocolError;
using raw_sockets::Socket;
using raw_sockets::socket_pair;
using raw_sockets::SocketFileCleanup;
using raw_sockets::StopSignals;
using raw_sockets::throw_errno;

// --- Statistics --------------------------------------------------------------------------

double median(std::vector<double> samples) {
    if (samples.empty()) throw std::invalid_argument("median of no samples");
    std::sort(samples.begin(), samples.end());
    const std::size_t middle = samples.size() / 2;
    if (samples.size() % 2 == 1) return samples[middle];
    return (samples[middle - 1] + samples[middle]) / 2;
}

// percentile() is in statistics.cpp: chapter 11's exercise.

LatencySummary summarize(const std::vector<double>& samples) {
    return {.median = median(samples),
            .p99 = percentile(samples, 99),
            .max = percentile(samples, 100),
            .count = samples.size()};
}

// --- Placement ---------------------------------------------------------------------------

Placement choose_cpus() {
    cpu_set_t allowed;
    CPU_ZERO(&allowed);
    if (::sched_getaffinity(0, sizeof allowed, &allowed) != 0) throw_errno("sched_getaffinity", "");
    std::vector<int> cpus;
    for (int cpu = 0; cpu < CPU_SETSIZE && cpus.size() < 2; ++cpu) {
        if (CPU_ISSET(cpu, &allowed)) cpus.push_back(cpu);
    }
    if (cpus.size() < 2) return {};
    return {.client_cpu = cpus[1], .server_cpu = cpus[0]};
}

void pin_to_cpu(int cpu) {
    if (cpu < 0) return;
    cpu_set_t one;
    CPU_ZERO(&one);
    CPU_SET(cpu, &one);
    if (::sched_setaffinity(0, sizeof one, &one) != 0) {
        throw_errno("sched_setaffinity", "CPU " + std::to_string(cpu));
    }
}

// --- The two processes -------------------------------------------------------------------

namespace {

using Clock = std::chrono::steady_clock;  // monotonic: never jumps when the wall clock is set

double seconds_since(Clock::time_point start) {
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// Between two timed steps: a stop request ends the measurement. Reading a flag costs a few
// nanoseconds, nothing next to a round trip; polling the stop descriptor would add a system
// call to every one.
void check_stop(const StopSignals* stop) {
    if (stop != nullptr && stop->requested()) throw std::runtime_error("stopped by a signal");
}

// A forked child that runs `body` on the server's CPU and exits. Killed (if need be) and
// reaped when this object goes, so that no server outlives its measurement.
class ServerProcess {
  public:
    ServerProcess(int cpu, const std::function<void()>& body) {
        const pid_t parent = ::getpid();
        pid_ = ::fork();
        if (pid_ < 0) throw_errno("fork", "server");
        if (pid_ == 0) run_child(parent, cpu, body);  // never returns
    }
    ~ServerProcess() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        reap();
    }
    ServerProcess(const ServerProcess&) = delete;
    ServerProcess& operator=(const ServerProcess&) = delete;

    // Waits for the server to end; throws unless it ended with status 0.
    void wait() {
        const int status = reap();
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return;
        throw std::runtime_error(WIFSIGNALED(status)
                                     ? "the server process was killed by signal " +
                                           std::to_string(WTERMSIG(status))
                                     : "the server process failed (exit status " +
                                           std::to_string(WEXITSTATUS(status)) + ")");
    }

  private:
    [[noreturn]] static void run_child(pid_t parent, int cpu, const std::function<void()>& body) {
        // Ctrl-C reaches the whole process group: the server just dies, and the client
        // (whose StopSignals the child inherited, and must not keep) cleans up for both.
        ::signal(SIGINT, SIG_DFL);
        ::signal(SIGTERM, SIG_DFL);
        // And if the client dies however it dies, even by SIGKILL, the kernel ends us too.
        ::prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (::getppid() != parent) ::_exit(1);  // it died before prctl() took effect
        int status = 0;
        try {
            pin_to_cpu(cpu);
            body();
        } catch (const std::exception& error) {
            std::cerr << "server process: " << error.what() << std::endl;
            status = 1;
        } catch (...) {
            status = 1;
        }
        // _exit(), not exit(): the parent's destructors and atexit handlers are not ours.
        ::_exit(status);
    }

    int reap() {
        int status = 0;
        while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
        }
        pid_ = -1;
        return status;
    }

    pid_t pid_ = -1;
};

bool is_tcp(const Transport& transport) {
    return !transport.address.empty() && !Address::parse(transport.address).is_unix();
}

void set_option(const Socket& socket, int level, int option, int value, const char* what) {
    if (::setsockopt(socket.native_handle(), level, option, &value, sizeof value) != 0) {
        throw_errno(what, socket.name());
    }
}

int get_option(const Socket& socket, int option, const char* what) {
    int value = 0;
    socklen_t length = sizeof value;
    if (::getsockopt(socket.native_handle(), SOL_SOCKET, option, &value, &length) != 0) {
        throw_errno(what, socket.name());
    }
    return value;
}

void request_buffers(const Socket& socket, int bytes) {
    if (bytes <= 0) return;  // the kernel's defaults (and, for TCP, autotuning)
    set_option(socket, SOL_SOCKET, SO_SNDBUF, bytes, "setsockopt(SO_SNDBUF)");
    set_option(socket, SOL_SOCKET, SO_RCVBUF, bytes, "setsockopt(SO_RCVBUF)");
}

// What every connected socket of a measurement gets: no Nagle on TCP, so that a small message
// leaves at once instead of waiting for the previous one's acknowledgement.
void prepare(const Socket& socket, bool tcp) {
    if (tcp) set_option(socket, IPPROTO_TCP, TCP_NODELAY, 1, "setsockopt(TCP_NODELAY)");
}

// A connection to a fresh server process over `transport`: `serve` runs in the child on the
// server's end, the client's end stays here.
class ServedConnection {
  public:
    ServedConnection(const Transport& transport, const Placement& placement, int buffer_request,
                     const std::function<void(Socket&)>& serve) {
        const bool tcp = is_tcp(transport);
        if (transport.address.empty()) {
            std::pair<Socket, Socket> pair = socket_pair();
            Socket& mine = pair.first;
            Socket& theirs = pair.second;
            request_buffers(mine, buffer_request);
            request_buffers(theirs, buffer_request);
            server_.emplace(placement.server_cpu, [&] {
                mine.close();
                serve(theirs);
            });
            client_ = std::move(mine);  // `theirs` closes here: only the server has it now
            return;
        }
        Socket listener = listen_on(Address::parse(transport.address));
        const SocketFileCleanup cleanup(listener);  // the file goes once we are connected
        // TCP announces its window scale in the handshake, so the receiver's SO_RCVBUF must
        // be set before it: on the listener, whose buffers an accepted TCP socket inherits
        // (lesson11.SocketBuffers.AnAcceptedTcpSocketInheritsTheListenersBuffers). An
        // accepted Unix socket inherits nothing and gets the defaults, so over a Unix socket
        // the server asks again after accept().
        if (tcp) request_buffers(listener, buffer_request);
        server_.emplace(placement.server_cpu, [&] {
            Socket accepted = accept_connection(listener);
            listener.close();
            if (!tcp) request_buffers(accepted, buffer_request);
            prepare(accepted, tcp);
            serve(accepted);
        });
        const Address where = local_address(listener);  // the port that port 0 became
        listener.close();  // only the server listens now: if it dies, connect() is refused
        client_ = connect_to(where);
        request_buffers(client_, buffer_request);
        prepare(client_, tcp);
    }

    Socket& client() { return client_; }

    // Hangs up (the server sees the end of the stream) and waits for the server to finish.
    void finish() {
        client_.close();
        server_->wait();
    }

  private:
    std::optional<ServerProcess> server_;  // declared first, destroyed last: after the client
    Socket client_;                        // has hung up, so the server is done or killed
};

std::span<const std::byte> first(const std::vector<std::byte>& data, std::size_t count) {
    return std::span(data).first(std::min(count, data.size()));
}

}  // namespace

// --- Measurements ------------------------------------------------------------------------

std::vector<double> time_round_trips(const Transport& transport, const Placement& placement,
                                     std::size_t size, int warmup, int count,
                                     const StopSignals* stop) {
    ServedConnection connection(transport, placement, 0, [size](Socket& server) {
        std::vector<std::byte> message(size);
        // Whole messages: read all `size` bytes, then answer, until the client hangs up.
        while (server.recv_exact(message)) server.send_all(message);
    });
    Socket& client = connection.client();
    std::vector<std::byte> message(size, std::byte{'x'});
    std::vector<double> micros;
    micros.reserve(static_cast<std::size_t>(count));
    // The warm-up round trips fault in the buffers' pages, fill the caches and let the CPUs
    // leave their idle states; the first few round trips are slow for reasons that are not
    // the transport's.
    for (int i = 0; i < warmup + count; ++i) {
        check_stop(stop);
        const Clock::time_point start = Clock::now();
        client.send_all(message);
        if (!client.recv_exact(message)) throw ProtocolError("the echo server hung up");
        if (i >= warmup) micros.push_back(seconds_since(start) * 1e6);
    }
    connection.finish();
    return micros;
}

BulkResult time_bulk_transfer(const Transport& transport, const Placement& placement,
                              std::size_t write_size, std::size_t total_bytes, int buffer_request,
                              const StopSignals* stop) {
    const std::size_t warmup_bytes = std::max(write_size, total_bytes / 8);
    ServedConnection connection(transport, placement, buffer_request, [&](Socket& server) {
        std::vector<std::byte> buffer(write_size);
        for (const std::size_t part : {warmup_bytes, total_bytes}) {
            for (std::size_t received = 0; received < part;) {
                const std::size_t got = server.recv_some(
                    std::span(buffer).first(std::min(buffer.size(), part - received)));
                if (got == 0) throw ProtocolError("the client hung up mid-transfer");
                received += got;
            }
            // The acknowledgement carries the receive buffer as it now is, for the report.
            const std::int32_t receive_buffer = get_option(server, SO_RCVBUF, "getsockopt");
            server.send_all(std::as_bytes(std::span(&receive_buffer, 1)));
        }
    });
    Socket& client = connection.client();
    const std::vector<std::byte> data(write_size, std::byte{'x'});
    std::int32_t receive_buffer = 0;
    auto transfer = [&](std::size_t bytes) {
        for (std::size_t sent = 0; sent < bytes; sent += write_size) {
            check_stop(stop);
            client.send_all(first(data, bytes - sent));
        }
        // Done when the last byte is in the receiver's hands, not when the last send()
        // returns (that only means the kernel has buffered it).
        if (!client.recv_exact(std::as_writable_bytes(std::span(&receive_buffer, 1)))) {
            throw ProtocolError("the receiving server hung up");
        }
    };
    transfer(warmup_bytes);
    const Clock::time_point start = Clock::now();
    transfer(total_bytes);
    const double seconds = seconds_since(start);
    const BulkResult result{
        .megabytes_per_second = static_cast<double>(total_bytes) / seconds / 1e6,
        .send_buffer = get_option(client, SO_SNDBUF, "getsockopt"),
        .receive_buffer = receive_buffer};
    connection.finish();
    return result;
}

double time_connections(const Transport& transport, const Placement& placement, int warmup,
                        int count, const StopSignals* stop) {
    if (transport.address.empty()) {
        throw std::invalid_argument("a socketpair is born connected: no set-up to time");
    }
    Socket listener = listen_on(Address::parse(transport.address));
    const SocketFileCleanup cleanup(listener);
    const Address where = local_address(listener);
    ServerProcess server(placement.server_cpu, [&] {
        for (int i = 0; i < warmup + count; ++i) {
            accept_connection(listener).close();  // accept, and hang up at once
        }
    });
    listener.close();
    auto connect_once = [&] {
        check_stop(stop);
        Socket client = connect_to(where);
        // connect() may return while the connection only waits in the accept queue; the
        // end of stream proves the server accepted and closed it, so connections are timed
        // one whole cycle at a time and do not pile up in the queue.
        std::byte byte{};
        if (client.recv_some(std::span(&byte, 1)) != 0) throw ProtocolError("server sent data");
    };
    for (int i = 0; i < warmup; ++i) connect_once();
    const Clock::time_point start = Clock::now();
    for (int i = 0; i < count; ++i) connect_once();
    const double seconds = seconds_since(start);
    server.wait();
    return count / seconds;
}

}  // namespace measure
