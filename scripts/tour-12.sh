# tour-12.sh: chapter 12 of the tour, across machines. Sourced by scripts/tour, which
# provides say, run, skip, need, wait_until, start_server, stop_server, $work and pids[].
#
# Network namespaces stand in for containers and hosts: each has its own interfaces, its
# own 127.0.0.1 and ports, its own abstract socket names; the filesystem stays shared.
#
# Each namespace is held by a process (`unshare --net sleep infinity`), not by a name: no
# `ip netns add`, so nothing under /run/netns (which `ip netns add` leaves as a mount point),
# and programs enter it with `nsenter --net=/proc/PID/ns/net`, not `ip netns exec`, which
# also remounts /sys and fails where / is not a mount point (a chroot). When its holder and
# the servers in it have ended, the kernel frees the namespace with its interfaces: the
# tour's cleanup, which stops every process in pids[], is all it takes, even after a failure.

# work, dim, plain, pids and listening are scripts/tour's.
# shellcheck shell=bash disable=SC2154

# chapter_12_namespace ROLE: starts a process that holds a new network namespace, as the
# server "ns_ROLE", and sets $holder to its pid once it is inside.
chapter_12_namespace() {
    printf '%s$ unshare --net sleep infinity &%s   (holds host %s'"'"'s namespace)\n' "$dim" "$plain" "$1"
    unshare --net sleep infinity &
    holder=$!
    pids[ns_$1]=$holder
    wait_until "the namespace of host $1" chapter_12_in_own_namespace "$holder"
}

# chapter_12_in_own_namespace PID: true once PID has left our network namespace.
chapter_12_in_own_namespace() {
    local theirs
    theirs=$(readlink "/proc/$1/ns/net" 2>/dev/null) || return 1
    [[ $theirs != "$(readlink /proc/self/ns/net)" ]]
}

# chapter_12_release ROLE: ends the holder of host ROLE's namespace.
chapter_12_release() {
    local pid=${pids[ns_$1]}
    kill "$pid"
    wait "$pid" 2>/dev/null || true  # ended by our SIGTERM: status 143, as intended
    unset "pids[ns_$1]"
}

chapter_12() {
    say "Chapter 12: across machines. Network namespaces play the containers and the hosts."
    if [[ $(id -u) -ne 0 ]]; then
        skip "creating network namespaces and virtual cables needs root (CAP_SYS_ADMIN and" \
             "CAP_NET_ADMIN); run the tour as root to see this chapter"
        return 0
    fi
    need unshare util-linux
    need nsenter util-linux
    local refusal
    if ! refusal=$(unshare --net true 2>&1); then
        skip "this machine refuses a new network namespace even to root (a container without" \
             "CAP_SYS_ADMIN?): unshare --net says: $refusal"
        return 0
    fi
    need ip iproute2
    need ss iproute2
    need curl curl
    local holder a b
    say "Two namespaces, hosts A and B, each held by a process; a program enters one with"
    echo "nsenter --net=/proc/PID/ns/net, PID being its holder."
    chapter_12_namespace A; a=$holder
    chapter_12_namespace B; b=$holder
    local in_a=(nsenter "--net=/proc/$a/ns/net") in_b=(nsenter "--net=/proc/$b/ns/net")

    say "1. A pathname socket is a file, and the filesystem is shared: a client inside host A"
    echo "reaches a server outside it, as a container reaches a socket in a mounted volume."
    start_server shared echo_server "unix:$work/shared.sock"
    run "${in_a[@]}" echo_client "unix:$work/shared.sock" hello from inside A
    say "Yet ss inside A does not list that socket: ss asks the kernel over netlink"
    echo "(NETLINK_SOCK_DIAG), and the kernel answers with the sockets of ss's own namespace."
    run "${in_a[@]}" ss -xl src "$work/shared.sock"
    run ss -xl src "$work/shared.sock"
    stop_server shared

    say "2. An abstract name has no file: it belongs to the network namespace that bound it."
    start_server abstract echo_server "unix:@tour12-$$"
    run "${in_a[@]}" echo_client "unix:@tour12-$$" hello || true
    echo "  (refused: in A nobody listens under that name)"
    run echo_client "unix:@tour12-$$" hello from the same namespace
    stop_server abstract

    say "3. Each namespace has its own loopback, and a new one's is down:"
    run "${in_b[@]}" echo_client 127.0.0.1:8000 hello || true
    run "${in_a[@]}" ip link set lo up
    run "${in_b[@]}" ip link set lo up
    start_server loop_a "${in_a[@]}" echo_server 127.0.0.1:8000
    say "127.0.0.1:8000 in B is not A's: nobody listens there."
    run "${in_b[@]}" echo_client 127.0.0.1:8000 hello || true
    run "${in_a[@]}" echo_client 127.0.0.1:8000 hello from A
    stop_server loop_a

    say "4. Two hosts: a virtual Ethernet cable (veth pair) between A and B, addresses from"
    echo "198.18.0.0/15 (reserved for benchmark networks) given inside the namespaces only."
    echo "The ends are made directly inside them (netns PID): they never exist out here."
    run ip link add to-b netns "$a" type veth peer name to-a netns "$b"
    run "${in_a[@]}" ip addr add 198.18.0.1/24 dev to-b
    run "${in_b[@]}" ip addr add 198.18.0.2/24 dev to-a
    run "${in_a[@]}" ip link set to-b up
    run "${in_b[@]}" ip link set to-a up
    start_server host_a "${in_a[@]}" http_min --bind 198.18.0.1:8000 --no-access-log
    say "From host B, over TCP; http_min sees the peer 198.18.0.2, host B's address:"
    run "${in_b[@]}" curl -sS -w '\n' http://198.18.0.1:8000/whoami
    say "Between real machines a Unix socket cannot make this trip: it is an object in one kernel"
    echo "(unix(7): processes on the same machine). These namespaces share a kernel; hosts do not."
    stop_server host_a

    say "Ending the holders: a namespace with no process left in it is freed, cable and all."
    chapter_12_release A
    chapter_12_release B
}
