# tour-14.sh: chapter 14 of the tour, diagnosing sockets. Sourced by scripts/tour, which
# provides say, run, skip, need, wait_until, start_server, stop_server, free_port, $work and
# pids[].
#
# The tools look at the course's own programs: strace at echo_server's system calls, ss and
# lsof at who holds which socket, /proc at the descriptors and the kernel's list, socat as a
# client, a tap and a TCP-to-Unix proxy. Everything it starts is in pids[], so the tour's
# cleanup stops it even after a failure.

# work, dim, plain, pids and listening are scripts/tour's.
# shellcheck shell=bash disable=SC2154

# chapter_14_end NAME STATUS: sends SIGTERM to the process started as NAME and waits for it;
# fails the chapter unless it ends with STATUS (socat says 143: 128 + SIGTERM).
chapter_14_end() {
    local name=$1 expected=$2 pid=${pids[$1]} status=0
    printf '%s$ kill %s%s\n' "$dim" "$pid" "$plain"
    kill "$pid"
    wait_until "$name (pid $pid) to end" is_gone "$pid"
    wait "$pid" || status=$?
    unset "pids[$name]"
    ((status == expected)) || fail "$name ended with status $status, not $expected"
}

# chapter_14_connected PORT: true once a TCP connection to 127.0.0.1:PORT is established.
chapter_14_connected() { [[ -n $(ss -tH state established "( sport = :$1 )") ]]; }
# chapter_14_received PORT: true once the server's end on PORT has received 6 bytes.
chapter_14_received() { ss -tiH state established "( sport = :$1 )" | grep -q 'bytes_received:6'; }

chapter_14() {
    need strace strace
    need ss iproute2
    need lsof lsof
    need socat socat
    need curl curl
    local sock=$work/diag.sock server trace=$work/trace.txt

    say "Chapter 14: diagnosing sockets. strace runs echo_server and writes down every network"
    echo "and descriptor system call it makes (-f: of its children too) in $trace:"
    start_server traced strace -f -e trace=network,desc -o "$trace" echo_server "unix:$sock"
    server=$(pgrep -P "${pids[traced]}")
    run echo_client "unix:$sock" hello
    say "Stop the traced server (strace then ends with it) and read the calls that matter:"
    run kill "$server"
    wait_until "strace to end with echo_server" is_gone "${pids[traced]}"
    wait "${pids[traced]}" || fail "strace (and echo_server) ended with status $?"
    unset "pids[traced]"
    grep -E '(socket|bind|listen|accept4|recvfrom|sendto)\(' "$trace" | sed 's/^/  /'
    echo "  (socket, bind, listen; accept4 once for the tour's readiness probe, once for the"
    echo "  client; the bytes as they were read and written)"

    say "ss: the listening socket, its inode, and the process holding it (-p):"
    start_server echo echo_server "unix:$sock"
    run ss -xlp src "$sock"
    say "One connection has two ends. An echo_client that stays connected:"
    coproc CLIENT { echo_client "unix:$sock" >/dev/null; }
    pids[client]=$CLIENT_PID
    wait_until "the server to accept the client" has_connection "$sock"
    echo "Each end lists its own inode, then its peer's: the numbers match crosswise."
    ss -xp | grep -E '"echo_(server|client)"' | sed 's/^/  /'

    say "lsof -U: Unix sockets among the open files; NODE is the same inode:"
    run lsof -U -a -p "${pids[echo]}"
    say "/proc/PID/fd: each socket descriptor is a link to socket:[INODE]..."
    ls -l "/proc/${pids[echo]}/fd" | grep socket | sed 's/^/  /'
    echo "...and /proc/net/unix lists those inodes (Flags 00010000: listening; St 03: connected):"
    grep -F "$sock" /proc/net/unix | sed 's/^/  /'
    exec {CLIENT[1]}>&-
    wait "${pids[client]}" 2>/dev/null || true
    unset "pids[client]"

    say "socat as a client: standard input to the socket, the socket to standard output."
    printf '%s$ echo "hello from socat" | socat - UNIX-CONNECT:%s%s\n' "$dim" "$sock" "$plain"
    echo "hello from socat" | socat - "UNIX-CONNECT:$sock"
    stop_server echo

    say "socat as a tap: a second socket in front of http_min; -v writes every block of bytes"
    echo "to stderr, '>' from the client, '<' from the server."
    start_server http http_min --uds "$work/http.sock" --no-access-log
    start_server --connect "unix:$work/tap.sock" tap \
        socat -v "UNIX-LISTEN:$work/tap.sock,fork" "UNIX-CONNECT:$work/http.sock"
    run curl -sS -o /dev/null -w '%{http_code}\n' --unix-socket "$work/tap.sock" http://localhost/healthz
    wait_until "socat to show the response" grep -q 'HTTP/1.1 200' "$work/logs/tap.log"
    grep -vE '^$' "$work/logs/tap.log" | sed 's/^/  tap: /'
    chapter_14_end tap 143

    say "socat as a proxy from TCP to the Unix socket. http_min sees a Unix peer: socat."
    local port
    port=$(free_port)
    start_server --connect "127.0.0.1:$port" proxy \
        socat "TCP-LISTEN:$port,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$work/http.sock"
    run curl -sS -w '\n' "http://127.0.0.1:$port/whoami"
    chapter_14_end proxy 143
    stop_server http

    say "ss -tie: TCP's own view of a connection (round-trip time, congestion window, bytes)."
    start_server tcp echo_server 127.0.0.1:0
    port=${listening##*:}
    coproc TCPCLIENT { echo_client "$listening" >/dev/null; }
    pids[tcpclient]=$TCPCLIENT_PID
    wait_until "the TCP connection" chapter_14_connected "$port"
    echo hello >&"${TCPCLIENT[1]}"  # 6 bytes: bytes_received:6 on the server's side
    wait_until "the server to receive hello" chapter_14_received "$port"
    run ss -tie state established "( sport = :$port )"
    exec {TCPCLIENT[1]}>&-
    wait "${pids[tcpclient]}" 2>/dev/null || true
    unset "pids[tcpclient]"
    stop_server tcp
}
