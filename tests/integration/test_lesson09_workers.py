"""Chapter 09, workers: http_min's pre-forked workers share the listening sockets the master
bound once, are replaced when they die, and finish their requests in flight when told to stop.

Each test demonstrates one claim of lessons/09-workers/README.md against the real server."""

import os
import signal
import socket

from course_support.timeouts import STOP_TIMEOUT
from course_support.polling import poll_until, wait_until
from course_support.processes import (children_of, has_exited, proc_stat, processes,
                                      wait_for_workers)
from course_support.http import get, start_http_min, stop_with_a_request_in_flight
from course_support.activation import start_inheriting, stop_and_keep_the_file


def start_workers(start_server, count=2, *args):
    """http_min --workers `count` on a fresh Unix socket, once all its workers run. Returns
    the server and the workers' pids."""
    server = start_http_min(start_server, "unix", "--workers", str(count), "--no-access-log",
                            *args)
    return server, wait_for_workers(server.process.pid, count)


def whoami(server):
    return get(server, "/whoami").json()


def listening_tcp_sockets(pid):
    """The socket inodes of process `pid` that are listening TCP sockets (IPv4 or IPv6)."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        target = os.readlink(f"/proc/{pid}/fd/{fd}")
        if target.startswith("socket:["):
            inodes.add(target[len("socket:["):-1])
    listening = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table) as listing:
            rows = [line.split() for line in listing.readlines()[1:]]
        listening |= {row[9] for row in rows if row[3] == "0A"}  # 0A: LISTEN
    return inodes & listening


# [uvicorn-428]
def test_workers_serve_the_unix_socket_not_tcp(start_server):
    # The bug of uvicorn issue 428: with --workers, --uds was ignored and the workers served
    # TCP on 127.0.0.1:8000, and nginx, pointed at the socket, gave 503s. Here: the master
    # binds the socket file once, a worker answers on it, and no process listens on TCP.
    server, workers = start_workers(start_server)
    assert server.output().count("listening on") == 1, server.output()
    answer = whoami(server)
    assert answer["transport"] == "unix"
    assert answer["worker_pid"] in workers
    for pid in [server.process.pid, *workers]:
        assert not listening_tcp_sockets(pid), f"process {pid} listens on TCP"
# [uvicorn-428]


def test_every_worker_accepts_from_the_one_socket(start_server):
    # Both workers wait on the same listening socket. Freeze the one that answers (SIGSTOP):
    # the next connection is accepted by the other, from the very same socket file.
    server, workers = start_workers(start_server)
    first = whoami(server)["worker_pid"]
    os.kill(first, signal.SIGSTOP)
    try:
        wait_until(lambda: proc_stat(first)["state"] == "T", f"worker {first} stopping")
        second = whoami(server)["worker_pid"]
    finally:
        os.kill(first, signal.SIGCONT)
    assert second != first
    assert {first, second} == workers


def test_whoami_names_the_worker_not_the_master(start_server):
    server, workers = start_workers(start_server)
    answer = whoami(server)
    assert answer["worker_pid"] != server.process.pid
    assert answer["worker_pid"] in workers
    assert answer["peer"]["pid"] == os.getpid()  # and the peer is still us, via SO_PEERCRED


# [dead-worker]
def test_a_dead_worker_is_replaced(start_server):
    server, workers = start_workers(start_server)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    replaced = wait_for_workers(server.process.pid, 2, without=victim)
    server.wait_for_output(rf"worker {victim} died")
    for _ in range(10):
        assert whoami(server)["worker_pid"] in replaced
# [dead-worker]


def test_sigterm_lets_workers_finish_requests_in_flight_then_stops_them_all(start_server):
    server, workers = start_workers(start_server, 3)
    master = server.process.pid
    starts = {pid: proc_stat(pid)["starttime"] for pid in workers}
    # Each worker finishes the request it is in the middle of before it leaves.
    stop_with_a_request_in_flight(server, lambda: os.kill(master, signal.SIGTERM),
                                  one_worker=False)
    # Not server.stop() first: it would SIGKILL the process group and hide a worker left
    # running. The master exits only after every worker has.
    wait_until(lambda: has_exited(master), "the master exiting", STOP_TIMEOUT)
    left = [pid for pid, start in starts.items()
            if (info := proc_stat(pid)) is not None and info["starttime"] == start
            and info["state"] != "Z"]
    in_group = processes(lambda info: info["pgrp"] == master) - {master}
    assert not left and not in_group, f"workers outlived the master: {left or in_group}"
    assert server.stop() == 0, server.describe()
    assert not os.path.lexists(server.path), f"{server.path} was left behind"


def test_workers_share_a_socket_handed_over_by_systemd(start_server, short_dir):
    # Socket activation with workers: systemd binds, the master inherits descriptor 3 through
    # LISTEN_FDS, and its workers inherit it from the master. The file is systemd's: kept.
    server = start_inheriting(start_server, "self", "--workers", "2")
    workers = wait_for_workers(server.process.pid, 2)
    answer = whoami(server)
    assert answer["transport"] == "unix" and answer["worker_pid"] in workers
    stop_and_keep_the_file(server)


def test_a_unix_listener_and_a_tcp_listener_are_shared_alike(start_server):
    server = start_server("http_min", "unix", ["--uds", "{path}", "--bind", "127.0.0.1:0",
                                               "--workers", "2", "--no-access-log"])
    tcp = server.wait_for_output(r"^listening on (127\.0\.0\.1:[1-9]\d*)$").group(1)
    workers = wait_for_workers(server.process.pid, 2)
    assert get(server, "/whoami", address=tcp).json()["worker_pid"] in workers
    assert whoami(server)["worker_pid"] in workers
    # One listening TCP socket, bound by the master, inherited: the same inode everywhere.
    sockets = [listening_tcp_sockets(pid) for pid in [server.process.pid, *workers]]
    assert len(sockets[0]) == 1 and all(found == sockets[0] for found in sockets), sockets
    with socket.create_connection(tuple(tcp.rsplit(":", 1))):
        pass  # and it accepts


def zombie_or_alive(pid):
    """True while `pid` is still in /proc: running, or dead and not yet reaped (a zombie)."""
    return proc_stat(pid) is not None


def test_a_dead_worker_is_reaped_not_left_a_zombie(start_server):
    # A worker that died stays a zombie, its pid and its entry in the process table taken,
    # until its parent waits for it. The master must waitpid() every dead worker, not only
    # notice that it is gone: a master that never does piles up one zombie per restart.
    server, workers = start_workers(start_server)
    victim = min(workers)
    os.kill(victim, signal.SIGKILL)
    wait_for_workers(server.process.pid, 2, without=victim)
    reaped = poll_until(lambda: not zombie_or_alive(victim), 2.0)
    state = (proc_stat(victim) or {}).get("state")
    assert reaped, f"worker {victim} is still in state {state!r} (Z: a zombie, never " \
                   "reaped) 2 s after the master replaced it"


def test_a_worker_that_keeps_dying_is_restarted_at_most_once_a_second(start_server):
    # A worker that dies at once (a crash at start-up) must not be restarted as fast as the
    # master can fork: that burns a core and floods the log. Here every worker the master
    # starts is killed as soon as it is seen, for 3 s: each of the 2 slots may be restarted
    # once a second, so at most 2 * (3 + 1) restarts; a master without that limit restarts
    # each slot every time it looks (every 200 ms: 30 restarts, or thousands).
    server, workers = start_workers(start_server, 2)
    master = server.process.pid
    killed = set()
    window = 3.0

    def kill_new_workers():
        for pid in children_of(master) - killed:
            os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        return False  # never done: kill every newcomer for the whole window

    poll_until(kill_new_workers, window, interval=0.005)
    restarts = len(killed - workers)
    said = server.output().count("died; starting another")
    assert restarts <= 2 * (window + 1), \
        f"{restarts} workers started in {window} s while each died at once ({said} said)"
    assert restarts >= 2, f"only {restarts} restarts in {window} s: the test proves nothing"


def listener_inode(path):
    """The inode of the listening Unix socket bound to `path` (from /proc/net/unix)."""
    with open("/proc/net/unix") as table:
        for row in (line.split() for line in table.readlines()[1:]):
            if len(row) == 8 and row[7] == path and int(row[3], 16) & 0x10000:  # ACCEPTCON
                return row[6]
    return None


def descriptor_targets(pid):
    """What each descriptor of process `pid` refers to ("socket:[123]", "pipe:[45]", a
    path), by descriptor number; empty if the process is gone."""
    targets = {}
    try:
        for fd in os.listdir(f"/proc/{pid}/fd"):
            targets[int(fd)] = os.readlink(f"/proc/{pid}/fd/{fd}")
    except FileNotFoundError:
        pass
    return targets


def test_a_replacement_worker_accepts_from_the_same_socket(start_server):
    # The master keeps its copy of the listening socket for as long as it may start workers:
    # a replacement forked after the master closed it would have nothing to accept from.
    server, workers = start_workers(start_server)
    master = server.process.pid
    victim, other = min(workers), max(workers)
    os.kill(victim, signal.SIGKILL)
    replacement = (wait_for_workers(master, 2, without=victim) - {other}).pop()
    listener = f"socket:[{listener_inode(server.path)}]"
    held = descriptor_targets(replacement).values()
    assert listener in held, f"replacement {replacement} does not hold the listener {listener}"
    os.kill(other, signal.SIGSTOP)  # only the replacement can accept now
    try:
        wait_until(lambda: proc_stat(other)["state"] == "T", f"worker {other} stopping")
        assert whoami(server)["worker_pid"] == replacement
    finally:
        os.kill(other, signal.SIGCONT)


def test_a_worker_shares_no_pipe_or_socket_with_its_master_but_the_listener(start_server):
    # fork() copies every descriptor of the master into the worker (O_CLOEXEC closes one only
    # on exec). A worker needs the listener; a pipe or socket of the master's own (a pipe
    # that wakes it on SIGCHLD, say) left open in the worker is a leak: the master's stop
    # pipe, for one, is replaced by StopSignals::fork_child().
    server, workers = start_workers(start_server)
    master = server.process.pid
    listener = f"socket:[{listener_inode(server.path)}]"

    def pipes_and_sockets(pid):  # beyond stdin, stdout and stderr
        return {target for fd, target in descriptor_targets(pid).items()
                if fd > 2 and target.startswith(("pipe:", "socket:"))}

    masters = pipes_and_sockets(master)
    assert listener in masters, f"the master does not hold the listener: {masters}"

    def shared_with_master(worker):
        # The master's descriptors read again each time: just after a fork the master still
        # holds the pipe it made for that child (the child's own stop pipe), and closes it.
        return (pipes_and_sockets(worker) & pipes_and_sockets(master)) - {listener}

    # A worker just forked holds the master's stop pipe until fork_child() has replaced it:
    # what counts is what it still holds once it is under way, so look for a while.
    for worker in workers:
        alone = poll_until(lambda: not shared_with_master(worker), 2.0)
        assert alone, f"worker {worker} holds the master's {sorted(shared_with_master(worker))}"
