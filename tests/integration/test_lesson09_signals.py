"""Chapter 09, signals and processes: a stop signal is never lost, not even while the
workers are being forked; a signal to one worker stops that worker only; workers never
outlive their master; SIGHUP is a graceful stop; and a worker that does not stop in time
is killed once the graceful timeout has passed.

Each test demonstrates one claim of lessons/09-workers/README.md against the real server.
None of them stops the server through server.stop() first where that would hide the bug:
it kills the whole process group, workers left behind included."""

import os
import signal
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
