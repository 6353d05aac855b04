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
import time
from typing import Iterator, Optional

import pytest
import uvicorn

from course_support import app_servers
from course_support.app_servers import APPS, PYTHON, AppServer
from course_support.http import HttpConnection, http_request
from course_support.managers import (SUPERVISORD_CONFIG, LoggingServer, processes_mentioning,
                                     rewritten, supervisord_program, write_file)
from course_support.nginx import INSTALLED_SNIPPETS
from course_support.polling import poll_until, wait_until
from course_support.processes import children_of, has_exited, proc_stat
from course_support.programs import REPO_ROOT
from course_support.sockets import connect_to
from course_support.timeouts import READY_TIMEOUT, STOP_TIMEOUT

SUPERVISOR_CONF = REPO_ROOT / "nginx" / "supervisor" / "app-pool.conf"
FIXED_IN = (0, 15, 0)  # uvicorn pull request 1009: --workers with --uds binds the socket
# How long uvicorn is watched for a new worker; gunicorn must start one within it.
NO_REPLACEMENT_WINDOW = 2.0
HANG_WINDOW = 1.5  # how long a request with no worker left is watched for an answer


def version_tuple(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in text.split(".")[:3])


def pid_at(path: str, timeout: float = 10.0) -> int:
    """GET /pid over the Unix socket at `path`: the pid of the process that answered."""
    with HttpConnection(connect_to(f"unix:{path}", timeout)) as connection:
        connection.send(http_request("GET", "/pid"))
        response = connection.read_response()
    assert response.status == 200, response
    return int(response.body)


def pids_answering(path: str, requests: int = 64, threads: int = 8) -> set[int]:
    """The pids that answered `requests` GET /pid sent from `threads` threads at once (sent
    one after another, they may all reach the same worker)."""
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
def uvicorn_two_workers(short_dir) -> Iterator[tuple[AppServer, str, set[int]]]:
    with app_servers.start("uvicorn", short_dir, workers=2) as server:
        yield server, server.path, wait_for_pids(server.path, 2, "two uvicorn workers answering")


def test_uvicorn_workers_both_serve_one_unix_socket(uvicorn_two_workers):
    # uvicorn issue 428: before 0.15.0, --workers ignored --uds and listened on TCP.
    assert version_tuple(uvicorn.__version__) >= FIXED_IN, uvicorn.__version__
    server, path, pids = uvicorn_two_workers
    assert len(pids) == 2, pids
    for pid in pids:
        assert proc_stat(pid)["ppid"] == server.process.pid, f"{pid} is not the master's child"
    assert server.process.pid not in pids, "the master itself should not serve"


def test_hypercorn_workers_both_serve_one_unix_socket(short_dir):
    with app_servers.start("hypercorn", short_dir, workers=2) as server:
        pids = wait_for_pids(server.path, 2, "two hypercorn workers answering")
        assert len(pids) == 2, pids
        for pid in pids:
            assert proc_stat(pid)["ppid"] == server.process.pid, f"{pid} is not the master's child"
        assert server.process.pid not in pids, "the master itself should not serve"


def test_uvicorn_never_replaces_a_killed_worker_and_hangs_with_none_left(uvicorn_two_workers):
    server, path, pids = uvicorn_two_workers
    victim, survivor = sorted(pids)
    before = children_of(server.process.pid)  # the workers, and multiprocessing's helper
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: gone(victim), f"worker {victim} dying")

    # Watched for as long as gunicorn may take (test_gunicorn_master_replaces_a_killed_worker):
    # no new process.
    def replacement() -> Optional[set[int]]:
        return (children_of(server.process.pid) - before) or None

    assert poll_until(replacement, NO_REPLACEMENT_WINDOW) is None, "uvicorn replaced it"
    assert pids_answering(path) == {survivor}

    # No worker left: the master still holds the listening socket, so connect() succeeds
    # and the request waits in the queue, unanswered.
    os.kill(survivor, signal.SIGKILL)
    wait_until(lambda: gone(survivor), f"worker {survivor} dying")
    with HttpConnection(connect_to(server.address)) as connection:
        connection.send(http_request("GET", "/pid"))
        assert connection.nothing_arrives_within(HANG_WINDOW), "something answered"
    assert not server.has_ended(), "the master should still run"
    server.stop()  # SIGTERM: the master exits; app_servers removes a file left behind


def gone(pid: int) -> bool:
    """True once `pid` has exited (a zombie its parent has not reaped counts as gone)."""
    info = proc_stat(pid)
    return info is None or info["state"] == "Z"


# --------------------------------------------------------------------------------------
# gunicorn's pre-fork master


def test_gunicorn_master_replaces_a_killed_worker(short_dir):
    with app_servers.start("gunicorn", short_dir, workers=2) as server:
        path = server.path
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


# --------------------------------------------------------------------------------------
# supervisord's numbered processes behind nginx's pool

# nginx in front of the pool: port 80 (the test moves it), the snippets as a reader would
# include them.
POOL_BEHIND_NGINX = f"""\
user www-data;
pid /run/nginx.pid;
error_log /var/log/nginx/error.log;
events {{
    worker_connections 256;
}}
http {{
    access_log /var/log/nginx/access.log;
    include {INSTALLED_SNIPPETS}upstream-app-pool.conf;
    server {{
        listen 80;
        location / {{
            proxy_pass http://app_pool;
            include {INSTALLED_SNIPPETS}proxy-retry.conf;
            include {INSTALLED_SNIPPETS}proxy-keepalive.conf;
            include {INSTALLED_SNIPPETS}proxy-headers-app.conf;
        }}
    }}
}}
"""
LOAD_REQUESTS = 300
LOAD_THREADS = 4


def start_pool(start_server, short_dir: str) -> tuple[LoggingServer, list[str]]:
    """supervisord running nginx/supervisor/app-pool.conf, its paths moved into short_dir,
    as the current user; returns it and the three socket paths once all three answer."""
    supervisord = supervisord_program()
    run_dir, log_dir = os.path.join(short_dir, "run"), os.path.join(short_dir, "log")
    os.mkdir(run_dir, 0o750)
    os.mkdir(log_dir, 0o755)
    program = rewritten(SUPERVISOR_CONF, {
        "command=/usr/bin/python3 ": f"command={PYTHON} ",
        " /run/app/": f" {run_dir}/",
        " app:app\n": " fastapi_app:app\n",
        "\ndirectory=/srv/app\n": f"\ndirectory={APPS}\n",
        "\nuser=app\n": f"\nuser={pwd.getpwuid(os.getuid()).pw_name}\n",
        "stdout_logfile=/var/log/supervisor/": f"stdout_logfile={log_dir}/"})
    include = write_file(os.path.join(short_dir, "app-pool.conf"), program)
    config = write_file(os.path.join(short_dir, "supervisord.conf"),
                        SUPERVISORD_CONFIG.format(dir=short_dir, include=include))
    sockets = [os.path.join(run_dir, f"app-{number}.sock") for number in (1, 2, 3)]
    manager = start_server.keep(LoggingServer("supervisord", f"unix:{sockets[0]}",
                                              [supervisord, "-n", "-c", config], short_dir,
                                              os.path.join(short_dir, "supervisord.log")))
    # A process that dies within startsecs is a failed start: wait until all are RUNNING.
    for number in (1, 2, 3):
        manager.wait_for_output(rf"success: app_{number} entered RUNNING state")
    # RUNNING only means alive for startsecs: uvicorn may still be importing.
    if not poll_until(lambda: all(pid_or_none(path) for path in sockets), READY_TIMEOUT):
        pytest.fail(f"the three sockets did not all answer.\n{manager.describe()}\n"
                    + "".join(f"--- {name} ---\n{open(os.path.join(log_dir, name)).read()}"
                              for name in sorted(os.listdir(log_dir))), pytrace=False)
    return manager, sockets


def pid_or_none(path: str) -> Optional[int]:
    try:
        return pid_at(path, timeout=2.0)
    except (OSError, AssertionError):
        return None


def test_killing_a_pool_process_under_load_fails_no_get_and_supervisord_restarts_it(
        nothing_left_running, start_server, nginx, short_dir):
    manager, sockets = start_pool(start_server, short_dir)
    pids = [pid_at(path) for path in sockets]
    assert len(set(pids)) == 3 and all(
        proc_stat(pid)["ppid"] == manager.process.pid for pid in pids), pids
    run_dir = os.path.dirname(sockets[0])
    proxy = nginx.start(POOL_BEHIND_NGINX, sockets=run_dir, what="the app pool behind nginx")

    answered_by: set[int] = set()
    victim = pids[1]

    def one_get(number: int) -> int | str:
        if number == LOAD_REQUESTS // 4:  # a quarter of the way: a crash, mid-load
            os.kill(victim, signal.SIGKILL)
        try:
            response = proxy.get("/pid")
        except AssertionError as error:
            # The process died between its response head (which nginx had already passed
            # on) and its body: bytes sent cannot be taken back, so nginx closes instead.
            if "closed the connection before" not in str(error):
                raise
            return "cut mid-response"
        if response.status == 200:
            answered_by.add(int(response.body))
        return response.status

    with concurrent.futures.ThreadPoolExecutor(LOAD_THREADS) as pool:
        statuses = list(pool.map(one_get, range(LOAD_REQUESTS)))
    # No GET gets an error status: every one the dead process had not begun to answer is
    # passed on. Only a response already under way when it died can be cut, and at most one
    # per thread was in flight.
    cut = statuses.count("cut mid-response")
    assert statuses.count(200) + cut == LOAD_REQUESTS and cut <= LOAD_THREADS, (
        f"{LOAD_REQUESTS - statuses.count(200)} of {LOAD_REQUESTS} GETs failed: "
        f"{sorted(set(map(str, statuses)))}\n{proxy.describe()}")
    assert {pids[0], pids[2]} <= answered_by, answered_by  # the survivors shared the load
    # nginx met the dead process (a failed connect(), or a connection reset mid-request),
    # and passed those requests on.
    assert f"upstream: \"http://unix:{sockets[1]}:/pid\"" in proxy.error_log(), (
        proxy.describe())

    # supervisord starts a new process, which takes the stale socket file's path back.
    new_pid = poll_until(lambda: (pid := pid_or_none(sockets[1])) not in (None, victim) and pid,
                         READY_TIMEOUT)
    assert new_pid, f"supervisord did not restart the killed process.\n{manager.describe()}"
    assert proc_stat(new_pid)["ppid"] == manager.process.pid

    # SIGTERM to supervisord: it stops the three, each removes its socket file.
    os.kill(manager.process.pid, signal.SIGTERM)
    wait_until(lambda: has_exited(manager.process.pid), "supervisord exiting", STOP_TIMEOUT)
    assert not processes_mentioning(run_dir + "/"), "app processes outlived supervisord"
    assert manager.stop() == 0, manager.describe()
    left = sorted(os.listdir(run_dir))
    assert not left, f"files left in the run directory: {left}"
