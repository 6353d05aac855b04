"""Chapter 13, your app on a Unix socket: several processes serving one app.

- uvicorn --workers 2 --uds: both workers accept on the one socket (the bug of uvicorn issue
  428 is fixed in this version), but a killed worker is never replaced, and once all are
  dead the socket still accepts connections that nobody answers.
- gunicorn's pre-fork master replaces a killed worker.
- supervisord runs three uvicorn processes on numbered sockets (nginx/supervisor/
  app-pool.conf), nginx balances over them (nginx/snippets/upstream-app-pool.conf), and
  killing one under load loses no GET.
"""

from __future__ import annotations

import concurrent.futures
import os
import pwd
import signal
import threading
import time
from pathlib import Path
from typing import Optional

import pytest
import uvicorn

from course_support.app_workers import (MODULE, PYTHON, SUPPORT_DIR, app_request,
                                        gunicorn_command, pid_at, start_app, uvicorn_command)
from course_support.http import HttpConnection, http_request
from course_support.nginx import SNIPPETS
from course_support.polling import poll_until, wait_until
from course_support.processes import Server, children_of, has_exited, proc_stat
from course_support.programs import REPO_ROOT
from course_support.sockets import connect_to
from course_support.timeouts import READY_TIMEOUT, STOP_TIMEOUT

SUPERVISOR_CONF = REPO_ROOT / "nginx" / "supervisor" / "app-pool.conf"
POOL_SNIPPET = SNIPPETS / "upstream-app-pool.conf"
FIXED_IN = (0, 15, 0)  # uvicorn pull request 1009: --workers with --uds binds the socket
NO_REPLACEMENT_WINDOW = 2.0  # gunicorn replaces a worker in about 0.1 s
HANG_WINDOW = 1.5  # how long a request with no worker left is watched for an answer


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def pids_answering(path: str, requests: int = 64, threads: int = 8) -> set[int]:
    """The pids that answered `requests` GET /pid sent from `threads` threads at once (one
    request after another would mostly reach the same worker)."""
    with concurrent.futures.ThreadPoolExecutor(threads) as pool:
        return set(pool.map(lambda _: pid_at(path), range(requests)))


def wait_for_pids(path: str, count: int, what: str) -> set[int]:
    """Sends batches of concurrent requests until `count` different pids have answered."""
    seen: set[int] = set()

    def enough() -> Optional[set[int]]:
        seen.update(pids_answering(path))
        return set(seen) if len(seen) >= count else None

    return wait_until(enough, what)


# --------------------------------------------------------------------------------------
# uvicorn --workers


@pytest.fixture
def uvicorn_two_workers(start_server, short_dir) -> tuple[Server, str, set[int]]:
    path = os.path.join(short_dir, "app.sock")
    server = start_app(start_server, "uvicorn",
                       uvicorn_command("--uds", path, "--workers", "2"), path)
    pids = wait_for_pids(path, 2, "two uvicorn workers answering")
    return server, path, pids


def test_uvicorn_workers_both_serve_one_unix_socket(uvicorn_two_workers):
    # uvicorn issue 428: before 0.15.0, --workers ignored --uds and listened on TCP.
    assert version_tuple(uvicorn.__version__) >= FIXED_IN, uvicorn.__version__
    server, path, pids = uvicorn_two_workers
    assert len(pids) == 2, pids
    for pid in pids:
        assert proc_stat(pid)["ppid"] == server.process.pid, f"{pid} is not the master's child"
    assert server.process.pid not in pids, "the master itself should not serve"


def test_uvicorn_never_replaces_a_killed_worker_and_hangs_with_none_left(uvicorn_two_workers):
    server, path, pids = uvicorn_two_workers
    victim, survivor = sorted(pids)
    before = children_of(server.process.pid)  # the workers, and multiprocessing's helper
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: proc_stat(victim) is None or proc_stat(victim)["state"] == "Z",
               f"worker {victim} dying")

    # Watched for a while (the window is 20 times what gunicorn needs): no new worker.
    def replacement() -> Optional[set[int]]:
        return (children_of(server.process.pid) - before) or None

    assert poll_until(replacement, NO_REPLACEMENT_WINDOW) is None, "uvicorn replaced it"
    assert pids_answering(path) == {survivor}

    # No worker left: the master still holds the listening socket, so connect() succeeds
    # and the request waits in the queue, unanswered.
    os.kill(survivor, signal.SIGKILL)
    wait_until(lambda: proc_stat(survivor) is None or proc_stat(survivor)["state"] == "Z",
               f"worker {survivor} dying")
    with HttpConnection(connect_to(server.address)) as connection:
        connection.send(http_request("GET", "/pid"))
        assert connection.nothing_arrives_within(HANG_WINDOW), "something answered"
    assert not server.has_ended(), "the master should still run"
    server.stop()  # SIGTERM: the master exits; the teardown checks nothing more
    if os.path.lexists(path):
        os.unlink(path)


# --------------------------------------------------------------------------------------
# gunicorn's pre-fork master


def test_gunicorn_master_replaces_a_killed_worker(start_server, short_dir):
    path = os.path.join(short_dir, "app.sock")
    server = start_app(start_server, "gunicorn",
                       gunicorn_command("--bind", f"unix:{path}", "--workers", "2"), path)
    pids = wait_for_pids(path, 2, "two gunicorn workers answering")
    victim = min(pids)
    os.kill(victim, signal.SIGKILL)
    started = time.monotonic()

    def new_worker() -> Optional[set[int]]:
        workers = children_of(server.process.pid)
        return workers if len(workers) == 2 and victim not in workers else None

    workers = wait_until(new_worker, "gunicorn starting a new worker")
    replaced_after = time.monotonic() - started
    (newcomer,) = workers - pids
    assert wait_for_pids(path, 2, "the new worker answering") >= {newcomer}
    assert replaced_after < NO_REPLACEMENT_WINDOW, replaced_after
