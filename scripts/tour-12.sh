# tour-12.sh: chapter 12 of the tour, across machines. Sourced by scripts/tour, which
# provides say, run, start_server, stop_server, $work and pids[]; its cleanup trap calls
# chapter_12_cleanup, so the namespaces made here go even if the tour is interrupted.
#
# Network namespaces stand in for containers and hosts: each has its own interfaces, its
# own 127.0.0.1 and ports, its own abstract socket names; the filesystem stays shared.

# work, dim, plain and pids (an associative array) are scripts/tour's.
# shellcheck shell=bash disable=SC2154,SC2004

chapter_12_namespaces=()  # created here, deleted by chapter_12_cleanup
chapter_12_links=()       # "NAMESPACE LINK": veth ends, deleted with their namespace anyway

# chapter_12_netns ROLE: creates the namespace tour12-PID-ROLE; sets $netns to its name.
chapter_12_netns() {
    netns=tour12-$$-$1
    chapter_12_namespaces+=("$netns")  # listed first: an interruption right after still cleans up
    run ip netns add "$netns"
}

# chapter_12_start NAME NAMESPACE PROGRAM ARGS...: runs the program inside the namespace in
# the background (ip netns exec execs it: $! is the program itself, so stop_server NAME
# works) and waits (5 s at most) for its "listening on" line.
chapter_12_start() {
    local name=$1 namespace=$2 log=$work/logs/$1.log
    shift 2
    printf '%s$ ip netns exec %s %s &%s\n' "$dim" "$namespace" "$*" "$plain"
    ip netns exec "$namespace" "$@" 2>"$log" &
    pids[$name]=$!
    for _ in $(seq 50); do
        grep -q '^listening on ' "$log" && { echo "  (server says: $(grep '^listening on ' "$log"))"; return 0; }
        kill -0 "${pids[$name]}" 2>/dev/null || break
        sleep 0.1
    done
    echo "tour: $1 did not start:"; cat "$log"; exit 1
}

chapter_12_cleanup() {
    local entry namespace pid
    for namespace in "${chapter_12_namespaces[@]}"; do
        # A namespace lives on, nameless, while a process is inside it: stop ours first.
        for pid in $(ip netns pids "$namespace" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    done
    for entry in "${chapter_12_links[@]}"; do
        ip -n "${entry% *}" link del "${entry#* }" 2>/dev/null || true
    done
    for namespace in "${chapter_12_namespaces[@]}"; do
        ip netns del "$namespace" 2>/dev/null || true
    done
    chapter_12_namespaces=() chapter_12_links=()
}

chapter_12() {
    say "Chapter 12: across machines. Network namespaces play the containers and the hosts."
    if [[ $(id -u) -ne 0 ]] || ! command -v ip >/dev/null; then
        echo "  (skipped: creating network namespaces needs root and ip (iproute2); run the tour as root)"
        return 0
    fi
    local a b netns
    chapter_12_netns a; a=$netns
    chapter_12_netns b; b=$netns

    say "1. A pathname socket is a file, and the filesystem is shared: a client inside namespace"
    echo "$a reaches a server outside it, as a container reaches a socket in a mounted volume."
    start_server shared echo_server "unix:$work/shared.sock"
    run ip netns exec "$a" echo_client "unix:$work/shared.sock" hello from inside "$a"
    say "Yet ss inside $a does not list that socket: /proc/net/unix shows the reader's namespace."
    run ip netns exec "$a" ss -xl src "$work/shared.sock"
    run ss -xl src "$work/shared.sock"
    stop_server shared

    say "2. An abstract name has no file: it belongs to the network namespace that bound it."
    start_server abstract echo_server "unix:@tour12-$$"
    run ip netns exec "$a" echo_client "unix:@tour12-$$" hello || true
    echo "  (refused: in $a nobody listens under that name)"
    run echo_client "unix:@tour12-$$" hello from the same namespace
    stop_server abstract

    say "3. Each namespace has its own loopback, and a new one's is down:"
    run ip netns exec "$b" echo_client 127.0.0.1:8000 hello || true
    run ip -n "$a" link set lo up
    run ip -n "$b" link set lo up
    chapter_12_start loop_a "$a" echo_server 127.0.0.1:8000
    say "127.0.0.1:8000 in $b is not $a's: nobody listens there."
    run ip netns exec "$b" echo_client 127.0.0.1:8000 hello || true
    run ip netns exec "$a" echo_client 127.0.0.1:8000 hello from "$a"
    stop_server loop_a

    say "4. Two hosts: a virtual Ethernet cable (veth pair) between $a and $b, addresses from"
    echo "198.18.0.0/15 (reserved for benchmark networks) given inside the namespaces only."
    local end_a=t12-$$a end_b=t12-$$b  # interface names: 15 characters at most
    chapter_12_links+=("$a $end_a" "$b $end_b")
    # Created directly inside the namespaces: the ends never exist out here.
    run ip link add "$end_a" netns "$a" type veth peer name "$end_b" netns "$b"
    run ip -n "$a" addr add 198.18.0.1/24 dev "$end_a"
    run ip -n "$b" addr add 198.18.0.2/24 dev "$end_b"
    run ip -n "$a" link set "$end_a" up
    run ip -n "$b" link set "$end_b" up
    chapter_12_start host_a "$a" http_min --bind 198.18.0.1:8000 --no-access-log
    say "From host $b, over TCP; http_min sees the peer 198.18.0.2, host $b's address:"
    run ip netns exec "$b" curl -sS -w '\n' http://198.18.0.1:8000/whoami
    say "A Unix socket cannot make this trip: there is no file shared between two machines."
    stop_server host_a

    say "Deleting the namespaces (the veth pair goes with them):"
    chapter_12_cleanup
    run ip netns list
}
