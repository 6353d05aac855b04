// bare_send_recv: chapter 03's two loops, send-all and recv-exact, in plain system calls.
//
// A parent and its child are joined by socketpair(). The child sends SIZE bytes (8 MiB by
// default) with a send-all loop while a timer interrupts it with SIGALRM every 100 µs, so
// that send() returns short counts and EINTR; then it half-closes and waits for an answer.
// The parent reads exactly SIZE bytes with a recv-exact loop, checks them, sees the end of
// the stream, and answers. The library's Socket::send_all() and recv_exact() are the same
// loops (chapter 03 shows them next).
//
//   bare_send_recv [SIZE]
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace {

[[noreturn]] void fail(const char* call) {
    std::fprintf(stderr, "bare_send_recv: %s: %s\n", call, std::strerror(errno));
    std::exit(1);
}

//! [send-all]
// Sends all `size` bytes, however many calls it takes; counts what each call did.
void send_all(int fd, const char* data, std::size_t size, int& calls, int& shorts, int& eintrs) {
    while (size > 0) {
        ++calls;
        const ssize_t sent = send(fd, data, size, MSG_NOSIGNAL);
        if (sent < 0) {
            if (errno == EINTR) {  // a signal came before any byte was taken: try again
                ++eintrs;
                continue;
            }
            fail("send");
        }
        if (static_cast<std::size_t>(sent) < size) ++shorts;  // a part: send the rest
        data += sent;
        size -= static_cast<std::size_t>(sent);
    }
}
//! [send-all]

//! [recv-exact]
// Reads exactly `size` bytes. False if the stream ended before the first byte (a clean
// end); an end after some bytes but before all of them is the peer's error.
bool recv_exact(int fd, char* buffer, std::size_t size, int& calls) {
    std::size_t filled = 0;
    while (filled < size) {
        ++calls;
        const ssize_t received = recv(fd, buffer + filled, size - filled, 0);
        if (received < 0) {
            if (errno == EINTR) continue;
            fail("recv");
        }
        if (received == 0) {
            if (filled == 0) return false;
            std::fprintf(stderr, "bare_send_recv: the stream ended after %zu of %zu bytes\n",
                         filled, size);
            std::exit(1);
        }
        filled += static_cast<std::size_t>(received);
    }
    return true;
}
//! [recv-exact]

void on_alarm(int) {}  // its only job is to interrupt send()

// The child's half: sends `size` bytes under a rain of signals, half-closes, awaits "ok".
int run_child(int parent, std::size_t size) {
    struct sigaction action {};
    action.sa_handler = on_alarm;  // no SA_RESTART: an interrupted send() returns
    if (sigaction(SIGALRM, &action, nullptr) != 0) fail("sigaction");
    const itimerval every_100us{{0, 100}, {0, 100}};
    if (setitimer(ITIMER_REAL, &every_100us, nullptr) != 0) fail("setitimer");
    std::vector<char> data(size);
    for (std::size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i % 251);
    int calls = 0, shorts = 0, eintrs = 0;
    send_all(parent, data.data(), size, calls, shorts, eintrs);
    const itimerval off{};
    setitimer(ITIMER_REAL, &off, nullptr);
    if (shutdown(parent, SHUT_WR) != 0) fail("shutdown");  // half-close: "that is all"
    char answer[3] = {};
    int reads = 0;
    if (!recv_exact(parent, answer, 2, reads)) return 1;  // "ok", though we sent our FIN
    std::printf("child: sent %zu bytes in %d send() calls: %d short counts, %d EINTR\n", size,
                calls, shorts, eintrs);
    std::printf("child: the parent answered \"%s\" after our half-close\n", answer);
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    const std::size_t size = argc > 1 ? std::strtoul(argv[1], nullptr, 10) : 8u << 20;
    //! [socketpair]
    int pair[2];  // two connected sockets: no name, no file, no listen() and no accept()
    if (socketpair(AF_UNIX, SOCK_STREAM, 0, pair) != 0) fail("socketpair");
    const pid_t child = fork();  // the child inherits both descriptors; each keeps one end
    if (child < 0) fail("fork");
    if (child == 0) {
        close(pair[0]);
        return run_child(pair[1], size);
    }
    close(pair[1]);
    //! [socketpair]
    const int child_socket = pair[0];
    std::vector<char> buffer(size);
    int calls = 0;
    if (!recv_exact(child_socket, buffer.data(), size, calls)) {
        std::fprintf(stderr, "bare_send_recv: the child sent nothing\n");
        return 1;
    }
    for (std::size_t i = 0; i < size; ++i) {
        if (buffer[i] != static_cast<char>(i % 251)) {
            std::fprintf(stderr, "bare_send_recv: byte %zu is wrong\n", i);
            return 1;
        }
    }
    std::printf("parent: received %zu bytes in %d recv() calls, all in order\n", size, calls);
    char more;
    if (recv(child_socket, &more, 1, 0) == 0)
        std::printf("parent: recv() returned 0: end of stream\n");
    std::fflush(stdout);  // before the child prints: one terminal, in order
    if (send(child_socket, "ok", 2, MSG_NOSIGNAL) != 2) fail("send");
    int status = 0;
    if (waitpid(child, &status, 0) < 0) fail("waitpid");
    return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}
