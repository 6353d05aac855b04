# tour-04.sh: chapter 04 of the tour, many clients. Sourced by scripts/tour, which provides
# say, run, need, fail, start_server, stop_server, hold_connection, release_connection,
# $work and pids[].

# work is scripts/tour's.
# shellcheck shell=bash disable=SC2154

chapter_04() {
    need ss iproute2
    need timeout coreutils
    say "Chapter 04: many clients. The iterative server serves one client at a time:"
    start_server iterative echo_server "unix:$work/many.sock"
    hold_connection "unix:$work/many.sock"
    say "A second client gets no answer while the first one is connected (2 s timeout):"
    local status=0
    run timeout --foreground 2 echo_client "unix:$work/many.sock" am I served || status=$?
    ((status == 124)) || fail "the second client was not left waiting (status $status, not 124)"
    echo "  (no answer: the server is busy with the first client)"
    release_connection
    stop_server iterative
    for server in echo_fork echo_threads; do
        say "The same with $server: the second client is answered at once."
        start_server "$server" "$server" "unix:$work/many.sock"
        hold_connection "unix:$work/many.sock"
        run timeout --foreground 2 echo_client "unix:$work/many.sock" am I served
        release_connection
        stop_server "$server"
    done
    # The bare loops take a plain path, and print "listening on PATH" like the others.
    for server in bare_poll_echo bare_epoll_echo; do
        say "$server: one thread, plain system calls. Three clients at once, and one held open:"
        start_server "$server" "$server" "$work/many.sock"
        hold_connection "unix:$work/many.sock"
        local clients=() client n
        for n in 1 2 3; do
            run timeout --foreground 2 echo_client "unix:$work/many.sock" client "$n" &
            clients+=($!)
        done
        for client in "${clients[@]}"; do
            wait "$client" || fail "a client of $server was not answered"
        done
        release_connection
        stop_server "$server"
    done
    for server in echo_poll echo_epoll; do
        say "$server: the same loop, hardened (non-blocking, buffered, a self-pipe for the stop):"
        start_server "$server" "$server" "unix:$work/many.sock"
        hold_connection "unix:$work/many.sock"
        run timeout --foreground 2 echo_client "unix:$work/many.sock" am I served
        release_connection
        stop_server "$server"
    done
}
