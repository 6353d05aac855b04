"""Chapter 09, signals and processes: a stop signal is never lost, not even while the
workers are being forked; a signal to one worker stops that worker only; workers never
outlive their master; SIGHUP is a graceful stop; and a worker that does not stop in time
is killed once the graceful timeout has passed.

Each test demonstrates one claim of lessons/09-workers/README.md against the real server.
None of them stops the server through server.stop() first where that would hide the bug:
it kills the whole process group, workers left behind included."""

import os
import signal
import socket
import time

from course_support.http import get, start_http_min
from course_support.polling import poll_until, wait_until
from course_support.processes import (StartedProcess, children_of, has_exited, proc_stat,
                                      processes, wait_for_workers)
from course_support.programs import program_path
from course_support.timeouts import READY_TIMEOUT, STOP_TIMEOUT


def start_workers(start_server, count, *args):
    """http_min --workers `count` on a fresh Unix socket, once all its workers run. Returns
    the server and the workers' pids."""
    server = start_http_min(start_server, "unix", "--workers", str(count), "--no-access-log",
                            *args)
    return server, wait_for_workers(server.process.pid, count)


def live_group_members(leader):
    """The live processes of the server's process group (the master and its workers,
    re-parented or not), the master left out."""
    return processes(lambda info: info["pgrp"] == leader) - {leader}


def assert_stopped_cleanly(server, how):
    """The master exits 0 within STOP_TIMEOUT, leaves no worker and no socket file."""
    master = server.process.pid
    ended = poll_until(lambda: has_exited(master), STOP_TIMEOUT, interval=0.01)
    left = live_group_members(master)  # before server.stop() kills the group
    assert ended, f"http_min did not exit within {STOP_TIMEOUT} s of {how}.\n{server.describe()}"
    assert not left, f"processes outlived the master after {how}: {left}"
    assert server.stop() == 0, server.describe()
    assert not os.path.lexists(server.path), f"{server.path} was left behind after {how}"


def test_sigterm_while_the_workers_start_is_never_lost(start_server, short_dir):
    # SIGTERM the master the moment it says "listening on": it is then forking its workers.
    # A signal that lands between a fork() and the moment the child has a stop state of its
    # own must be neither lost nor taken for the parent's. Fifteen rounds, each bounded.
    for round_number in range(15):
        path = os.path.join(short_dir, f"r{round_number}.sock")
        server = start_server.keep(StartedProcess(
            "http_min", [program_path("http_min"), "--uds", path, "--workers", "4",
                         "--no-access-log"], address=f"unix:{path}", path=path))
        said = poll_until(lambda: "listening on" in server.output() or server.has_ended(),
                          READY_TIMEOUT, interval=0.0005)
        assert said and not server.has_ended(), server.describe()
        os.kill(server.process.pid, signal.SIGTERM)
        assert_stopped_cleanly(server, f"SIGTERM in round {round_number + 1} of 15")


def test_sigterm_to_one_worker_restarts_that_worker_only(start_server):
    # The others keep serving, untouched; the master replaces the one that left, once.
    server, workers = start_workers(start_server, 3)
    master = server.process.pid
    started = {pid: proc_stat(pid)["starttime"] for pid in workers}
    victim = min(workers)
    os.kill(victim, signal.SIGTERM)
    now = wait_for_workers(master, 3, without=victim)
    server.wait_for_output(rf"worker {victim} died")
    # Give a restart storm time to show itself, while the workers serve.
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        assert get(server, "/whoami").json()["worker_pid"] in now
    for pid in workers - {victim}:
        info = proc_stat(pid)
        assert info is not None and info["starttime"] == started[pid], f"worker {pid} restarted"
    assert children_of(master) == now, "the set of workers changed again"
    assert server.output().count("died") == 1, server.describe()


def test_workers_exit_when_the_master_is_killed(start_server):
    # SIGKILL leaves the master no chance to stop its workers: the kernel must tell them
    # (PR_SET_PDEATHSIG). Then the socket file is stale, and a new server replaces it.
    server, workers = start_workers(start_server, 2)
    master = server.process.pid
    os.kill(master, signal.SIGKILL)
    wait_until(lambda: has_exited(master), "the master dying of SIGKILL", STOP_TIMEOUT)
    gone = poll_until(lambda: not live_group_members(master), STOP_TIMEOUT)
    left = live_group_members(master)
    assert server.stop() == -signal.SIGKILL  # reaps it (and kills anything left)
    assert gone, f"workers outlived their master by {STOP_TIMEOUT} s: {left}"
    # The stale file is left behind (nobody could remove it) and the next start replaces it.
    assert os.path.lexists(server.path)
    again = start_server("http_min", address=server.address,
                         extra_args=["--uds", "{path}", "--workers", "2", "--no-access-log"])
    assert get(again, "/healthz").status == 200


def test_sighup_to_the_master_is_a_graceful_stop(start_server):
    server, workers = start_workers(start_server, 2)
    assert get(server, "/healthz").status == 200
    os.kill(server.process.pid, signal.SIGHUP)
    assert_stopped_cleanly(server, "SIGHUP")


def test_sighup_to_a_single_process_server_is_a_graceful_stop(start_server):
    server = start_http_min(start_server, "unix", "--workers", "1", "--no-access-log")
    assert get(server, "/healthz").status == 200
    os.kill(server.process.pid, signal.SIGHUP)
    assert_stopped_cleanly(server, "SIGHUP")


def test_a_worker_that_does_not_stop_is_killed_after_the_graceful_timeout(start_server):
    # A frozen worker (SIGSTOP) cannot act on its SIGTERM. The master waits for it no longer
    # than --graceful-timeout and a margin, then kills it, and still exits 0 and removes the
    # socket file. It does not give up on it before the graceful timeout either.
    server, workers = start_workers(start_server, 2, "--graceful-timeout", "1")
    frozen = min(workers)
    os.kill(frozen, signal.SIGSTOP)
    wait_until(lambda: proc_stat(frozen)["state"] == "T", f"worker {frozen} stopping")
    began = time.monotonic()
    os.kill(server.process.pid, signal.SIGTERM)
    assert_stopped_cleanly(server, "SIGTERM with a frozen worker")
    took = time.monotonic() - began
    assert 1.0 <= took <= STOP_TIMEOUT, f"the master exited {took:.2f} s after SIGTERM"


def big_file_root(short_dir):
    """A --root directory holding big.bin, 16 MiB."""
    root = os.path.join(short_dir, "root")
    os.makedirs(root, exist_ok=True)
    with open(os.path.join(root, "big.bin"), "wb") as file:
        file.truncate(16 * 1024 * 1024)
    return root


def stall_a_download(server):
    """A client that asked for a large file and reads none of it: its answer holds the stop
    for the whole graceful timeout. Returns its connection (a raw socket)."""
    sock = socket.socket(socket.AF_UNIX)
    sock.settimeout(READY_TIMEOUT)
    sock.connect(server.path)
    sock.sendall(b"GET /static/big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
    assert sock.recv(100).startswith(b"HTTP/1.1 200 ")
    return sock


def refuses_connections(path):
    """True if connect() to the socket file `path` is refused (nobody listens any more)."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(1.0)
        try:
            sock.connect(path)
        except ConnectionRefusedError:
            return True
        return False


def test_a_new_client_is_refused_at_once_during_a_graceful_stop(start_server, short_dir):
    # A stop closes every copy of the listening socket (the workers' and the master's), so a
    # new client learns at once that nobody will serve it, instead of waiting in the backlog
    # for the whole graceful timeout and then being reset.
    server, _ = start_workers(start_server, 2, "--root", big_file_root(short_dir),
                              "--graceful-timeout", "20")
    with stall_a_download(server):
        os.kill(server.process.pid, signal.SIGTERM)
        refused = poll_until(lambda: refuses_connections(server.path), 3.0, interval=0.05)
        still_stopping = not has_exited(server.process.pid)
    server.stop()
    assert still_stopping, "the stop was not held by the download: the test proves nothing"
    assert refused, "connect() during a graceful stop was not refused within 3 s"


def test_the_master_exits_only_once_its_workers_have(start_server, short_dir):
    # A worker still sending a download holds the stop for its graceful timeout (2 s here);
    # the master must wait for it (and kill it at the timeout) before exiting, so that whoever
    # watches the master (a service manager, a shell) knows that nothing of it is left.
    server, _ = start_workers(start_server, 2, "--root", big_file_root(short_dir),
                              "--graceful-timeout", "2")
    master = server.process.pid
    with stall_a_download(server):
        os.kill(master, signal.SIGTERM)
        ended = poll_until(lambda: has_exited(master), STOP_TIMEOUT, interval=0.01)
        left = live_group_members(master)  # at once, before the download's worker ends
    server.stop()
    assert ended, f"http_min did not exit within {STOP_TIMEOUT} s of SIGTERM"
    assert not left, f"the master exited while its workers {sorted(left)} still ran"


def test_a_new_server_starts_at_once_after_the_master_is_killed_mid_request(start_server,
                                                                            short_dir):
    # After SIGKILL of the master, its worker finishes its requests in flight (up to the
    # graceful timeout) but has closed its copy of the listener: the socket file is stale at
    # once, and a new server on the same path replaces it instead of refusing (EADDRINUSE).
    # "At once" is as soon as the workers have acted on the SIGTERM the kernel sends them
    # (PR_SET_PDEATHSIG): until each has closed its copy, the socket still accepts, and a
    # new server rightly takes it for live. On a loaded machine that takes a moment.
    server, _ = start_workers(start_server, 2, "--root", big_file_root(short_dir),
                                    "--graceful-timeout", "30")
    with stall_a_download(server):
        os.kill(server.process.pid, signal.SIGKILL)
        wait_until(lambda: has_exited(server.process.pid), "the master dying", STOP_TIMEOUT)
        stale = poll_until(lambda: refuses_connections(server.path), 3.0, interval=0.02)
        try:
            again = start_server("http_min", address=server.address, ready_timeout=5.0,
                                 extra_args=["--uds", "{path}", "--no-access-log"])
            status = get(again, "/healthz").status
        finally:
            worker_alive = bool(live_group_members(server.process.pid))
            server.stop()  # kills the old worker, still serving the download
    assert stale, "the workers still held the listener 3 s after their master died"
    assert worker_alive, "the old worker had already exited: the test proves nothing"
    assert status == 200


def age_of(pid):
    """Seconds since the process started (/proc/PID/stat's starttime, in clock ticks since
    boot, against /proc/uptime)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rpartition(")")[2].split()
    started = int(fields[19]) / os.sysconf("SC_CLK_TCK")  # field 22 of proc(5)
    with open("/proc/uptime") as uptime:
        return float(uptime.read().split()[0]) - started


def test_the_master_says_it_starts_a_worker_only_when_it_does(start_server):
    # Workers that die once a stop is requested are not replaced, so the master must not
    # say "starting another". To make it certain that the master sees them dead only after
    # the stop request, it is frozen (SIGSTOP) while they die and while SIGTERM reaches it.
    # The workers are first let live past the master's restart interval (1 s): one that
    # dies younger is not due for a replacement yet, and the test would prove nothing.
    server, workers = start_workers(start_server, 2)
    master = server.process.pid
    wait_until(lambda: all(age_of(worker) > 1.2 for worker in workers),
               "the workers to be older than the restart interval", READY_TIMEOUT + 2)
    os.kill(master, signal.SIGSTOP)
    for worker in workers:
        os.kill(worker, signal.SIGTERM)
    wait_until(lambda: all((proc_stat(worker) or {"state": "Z"})["state"] == "Z"
                               for worker in workers),
               "the workers to exit", STOP_TIMEOUT)
    os.kill(master, signal.SIGTERM)
    os.kill(master, signal.SIGCONT)
    assert_stopped_cleanly(server, "SIGTERM")
    assert "starting another" not in server.output(), server.output()
