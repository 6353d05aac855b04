"""Chapter 13: the fixture to copy for your own app (lessons/13-your-app/uds_app_fixture.py).

Two kinds of tests:
- the fixture file, copied with a small project into a new directory, runs that project's
  tests under pytest-xdist (-n 2) against each of five servers, and leaves no socket file;
- its core, serve_on_unix_socket(), against a toy server that misbehaves on request (slow to
  listen, exits at once, never listens, leaves its socket file, ignores SIGTERM, forks a
  worker). Those tests take the function from $COURSE_LESSON13_FIXTURE when it is set: the
  chapter's exercise (lessons/13-your-app/exercise/serve_on_unix_socket.py) or a mutant.
"""

import contextlib
import gc
import importlib.util
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

import pytest

from course_support import app_servers
from course_support.polling import poll_until, wait_until
from course_support.processes import proc_stat, remove_tree, run
from course_support.timeouts import RUN_TIMEOUT

HERE = Path(__file__).resolve().parent
CHAPTER = HERE.parents[1] / "lessons" / "13-your-app"
FIXTURE_FILE = CHAPTER / "uds_app_fixture.py"
EXAMPLE = CHAPTER / "fixture-example"
TOY = HERE / "course_support" / "toy_app_server.py"
EXERCISE_VARIABLE = "COURSE_LESSON13_FIXTURE"

# The three that leave their socket file on SIGTERM: the fixture then removes it, as
# $UDS_APP_LEAVES_SOCKET=1 tells it to.
LEAVE_SOCKET_FILE = ("hypercorn", "aiohttp", "asyncio")


# --------------------------------------------------------------------------------------
# The fixture file in a project of its own, under pytest-xdist


@pytest.fixture(scope="module")
def project_runs():
    """A project made of the chapter's apps (apps/), the example tests (fixture-example/) and
    the fixture file, copied once per server into a new directory and run there with
    `pytest -n 2`, all five at once (each test then waits for its own):
    {server: (its pytest process, its output file, its socket base)}."""
    top = tempfile.mkdtemp(prefix="course-", dir="/tmp")
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith(("PYTEST_", "UDS_APP_"))}  # our pytest's are ours
    runs = {}
    try:
        for server in app_servers.SERVERS:
            project, sockets = Path(top) / server, Path(top) / f"{server}-sockets"
            shutil.copytree(app_servers.APPS, project,
                            ignore=shutil.ignore_patterns("__pycache__"))
            for source in [FIXTURE_FILE, *EXAMPLE.glob("*.py")]:
                shutil.copy(source, project)
            sockets.mkdir()
            output = open(project / "pytest-output.txt", "w+")
            process = subprocess.Popen(
                [app_servers.PYTHON, "-m", "pytest", "-n", "2", "-p", "xdist",
                 "-p", "no:cacheprovider", "-v"],
                cwd=project, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
                start_new_session=True,
                env={**environment,
                     "UDS_APP_COMMAND": shlex.join(app_servers.command(server, uds="{path}")),
                     "UDS_APP_DIR": str(sockets),
                     "UDS_APP_LEAVES_SOCKET": "1" if server in LEAVE_SOCKET_FILE else "0"})
            runs[server] = (process, output, sockets)
        yield runs
    finally:
        for process, output, _ in runs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # a run a test gave up on, if any
            process.wait()
            output.close()
        remove_tree(top)


@pytest.mark.parametrize("server", app_servers.SERVERS)
def test_the_copied_fixture_runs_a_projects_tests_in_parallel_and_cleans_up(server,
                                                                           project_runs):
    process, output, sockets = project_runs[server]
    try:
        process.wait(RUN_TIMEOUT)
    except subprocess.TimeoutExpired:
        pass
    output.seek(0)
    text = output.read()
    assert process.returncode is not None, f"{server}: not done in {RUN_TIMEOUT} s:\n{text}"
    tests = len([line for line in (EXAMPLE / "test_app.py").read_text().splitlines()
                 if line.startswith("def test_")])
    assert process.returncode == 0 and f"{tests} passed" in text and "error" not in text, (
        f"{server}:\n{text}")
    # Each xdist worker (gw0, gw1) ran tests, so each started a server of its own.
    assert re.search(r"\[gw0\].*PASSED", text) and re.search(r"\[gw1\].*PASSED", text), (
        f"not run by two workers:\n{text}")
    assert list(sockets.iterdir()) == [], "a socket directory or file was left behind"


# --------------------------------------------------------------------------------------
# serve_on_unix_socket against a toy server that misbehaves


def fixture_module_path() -> Path:
    chosen = os.environ.get(EXERCISE_VARIABLE)
    return Path(chosen) if chosen else FIXTURE_FILE


@pytest.fixture(scope="module")
def serve_on_unix_socket():
    """serve_on_unix_socket from $COURSE_LESSON13_FIXTURE, else from uds_app_fixture.py."""
    path = fixture_module_path()
    spec = importlib.util.spec_from_file_location("lesson13_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.serve_on_unix_socket


def toy(*options: str) -> list[str]:
    return [sys.executable, str(TOY), "{path}", *options]


def pids(pid_file: Path) -> list[int]:
    return [int(line) for line in pid_file.read_text().split()] if pid_file.exists() else []


def alive_or_zombie(pid: int) -> str:
    """'running', 'zombie' (ended, not reaped) or '' (gone)."""
    stat = proc_stat(pid)
    return "" if stat is None else "zombie" if stat["state"] == "Z" else "running"


@pytest.fixture
def pid_file(short_dir):
    """Where the toy writes its pids; whatever is still running at the end is killed (a test
    failed: the fixture under test leaked it)."""
    path = Path(short_dir) / "pids"
    yield path
    for pid in pids(path):
        if alive_or_zombie(pid) == "running":
            os.kill(pid, signal.SIGKILL)


def get(path: str) -> bytes:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
        client.settimeout(5.0)
        client.connect(path)
        return client.recv(1024)


def test_a_server_slow_to_listen_is_waited_for_by_connecting(serve_on_unix_socket):
    # The toy binds at once and listens only after 1.5 s: a fixed sleep shorter than that
    # yields too early, and so does waiting for the socket file to exist; meanwhile connect()
    # is refused (ECONNREFUSED), which means "not yet", not a failure.
    with serve_on_unix_socket(toy("--bind-early", "--listen-after", "1.5")) as path:
        assert get(path).startswith(b"HTTP/1.0 200 OK"), "not accepting once yielded"


def test_every_probe_and_file_is_closed(serve_on_unix_socket):
    # The toy listens after 0.3 s: several probes are refused before one connects. Whatever
    # the fixture opened and forgot (a probe, the output file, an unwaited Popen) warns.
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        with serve_on_unix_socket(toy("--listen-after", "0.3")):
            pass
        gc.collect()
    unclosed = [str(warning.message) for warning in caught
                if issubclass(warning.category, ResourceWarning)]
    assert unclosed == [], "left open: " + "; ".join(unclosed)


def test_a_path_inside_an_argument_is_replaced(serve_on_unix_socket):
    # gunicorn takes --bind unix:{path}: the placeholder is part of an argument.
    command = [sys.executable, str(TOY), "unix:{path}"]
    with serve_on_unix_socket(command) as path:
        assert get(path).startswith(b"HTTP/1.0 200 OK"), "not accepting once yielded"


def test_a_server_that_prints_a_lot_is_not_blocked_by_its_output(serve_on_unix_socket):
    # 256 KiB before it listens: more than a pipe holds (64 KiB), so a pipe nobody reads
    # blocks the server's write, and it never listens.
    with serve_on_unix_socket(toy("--print-first", str(256 * 1024)), ready_timeout=5.0) as path:
        assert get(path).startswith(b"HTTP/1.0 200 OK"), "not accepting once yielded"


def test_a_failure_in_the_with_block_stops_the_server_and_propagates(serve_on_unix_socket,
                                                                     pid_file):
    class Failure(Exception):
        pass

    with pytest.raises(Failure):
        with serve_on_unix_socket(toy("--pid-file", str(pid_file))) as path:
            raise Failure("a test failed")
    assert [alive_or_zombie(pid) for pid in pids(pid_file)] == [""], "the server was not reaped"
    assert not os.path.lexists(path), "its socket file is still there"


def test_a_server_that_exits_at_once_fails_fast_with_its_output(serve_on_unix_socket):
    started = time.monotonic()
    with pytest.raises(Exception) as raised:
        with serve_on_unix_socket(toy("--exit-at-once"), ready_timeout=8.0):
            pytest.fail("yielded, though the server exited at once")
    elapsed = time.monotonic() - started
    assert "pretend configuration error" in str(raised.value), "the server's output is missing"
    assert "exited" in str(raised.value), str(raised.value)
    assert elapsed < 4.0, f"took {elapsed:.1f} s: the exit was not noticed before the deadline"
    # The toy printed the path it was given: the directory made for it must be gone.
    path = re.search(r"cannot start: (\S+): pretend", str(raised.value)).group(1)
    assert not os.path.exists(os.path.dirname(path)), f"{os.path.dirname(path)} was left behind"


NEVER_LISTENS = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("piece", sys.argv[1])
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
try:
    with module.serve_on_unix_socket(sys.argv[2:], ready_timeout=1.0):
        print("yielded")
except Exception as error:
    print(f"raised: {error}")
"""


def fails_at_the_ready_deadline(pid_file: Path, *toy_options: str) -> str:
    """Runs the fixture with ready_timeout=1.0 on a toy that never becomes ready, in a
    process of its own (a version that waits forever is killed at 15 s); checks it raised
    at the deadline and left nothing running. Returns what it printed."""
    started = time.monotonic()
    result = run([sys.executable, "-c", NEVER_LISTENS, str(fixture_module_path()),
                  *toy(*toy_options, "--pid-file", str(pid_file))], timeout=15.0,
                 env={**os.environ, "UDS_APP_DIR": str(pid_file.parent)})  # if killed: ours
    elapsed = time.monotonic() - started
    assert result.stdout.startswith("raised: ") and "within 1.0 s" in result.stdout, (
        f"{result.stdout}{result.stderr}")
    assert elapsed < 10.0, f"took {elapsed:.1f} s with ready_timeout=1.0"
    left = [pid for pid in pids(pid_file) if alive_or_zombie(pid) == "running"]
    assert left == [], f"the server that was never ready still runs: pid {left}"
    return result.stdout


def test_a_server_that_never_listens_fails_at_the_deadline_and_is_killed(pid_file):
    output = fails_at_the_ready_deadline(pid_file, "--never-listen")
    assert "busy, not listening yet" in output, (
        f"the server's output is missing from the failure:\n{output}")


def test_a_server_whose_listen_queue_is_full_fails_at_the_deadline(pid_file):
    # The toy listens with a full queue and never accepts: connect() blocks. A probe without
    # a timeout of its own never returns to look at the deadline.
    fails_at_the_ready_deadline(pid_file, "--full-queue")


def test_a_socket_file_left_behind_fails_unless_allowed_then_is_removed(serve_on_unix_socket,
                                                                         short_dir):
    with pytest.raises(Exception, match="left its socket file"):
        with serve_on_unix_socket(toy("--leave-socket"), short_dir):
            pass
    assert os.listdir(short_dir) == [], "the socket file the server left was not removed"
    with serve_on_unix_socket(toy("--leave-socket"), short_dir, leaves_socket_file=True):
        pass
    assert os.listdir(short_dir) == [], "the socket file the server left was not removed"


def test_the_server_gets_sigterm_so_it_can_clean_up(serve_on_unix_socket, short_dir):
    signal_file = Path(short_dir) / "signal"
    with serve_on_unix_socket(toy("--signal-file", str(signal_file))):
        pass
    assert signal_file.exists() and signal_file.read_text() == "SIGTERM", (
        "the server was not stopped with SIGTERM")


def test_a_server_that_ignores_sigterm_is_killed_after_the_deadline(serve_on_unix_socket,
                                                                     pid_file):
    started = time.monotonic()
    with pytest.raises(Exception, match="did not exit within 1.0 s"):
        with serve_on_unix_socket(toy("--ignore-sigterm", "--pid-file", str(pid_file)),
                                  stop_timeout=1.0):
            pass
    assert time.monotonic() - started < 8.0
    assert [alive_or_zombie(pid) for pid in pids(pid_file)] == [""]


def test_the_server_is_reaped_and_its_workers_killed(serve_on_unix_socket, pid_file):
    with serve_on_unix_socket(toy("--fork-worker", "--pid-file", str(pid_file))):
        server, worker = wait_until(lambda: len(pids(pid_file)) == 2 and pids(pid_file),
                                    "the toy server and its worker wrote their pids")
    assert alive_or_zombie(server) == "", f"the server (pid {server}) was not reaped"
    # SIGKILL takes effect a moment later; then init reaps the orphan.
    assert poll_until(lambda: alive_or_zombie(worker) != "running", 5.0), (
        f"its worker (pid {worker}) outlived it")


def test_the_socket_goes_in_a_short_directory_when_tmpdir_is_long(serve_on_unix_socket,
                                                                  short_dir, monkeypatch):
    long_directory = os.path.join(short_dir, "a-directory-as-long-as-pytest-tmp-path-can-be-"
                                             "with-a-long-test-name-in-it-" + "x" * 40)
    os.mkdir(long_directory)
    monkeypatch.setenv("TMPDIR", long_directory)
    monkeypatch.setattr(tempfile, "tempdir", long_directory)
    monkeypatch.delenv("UDS_APP_DIR", raising=False)
    with serve_on_unix_socket(toy()) as path:
        assert len(os.fsencode(path)) < 108 and path.startswith("/tmp/"), path
        directory = os.path.dirname(path)
    assert not os.path.exists(directory), f"{directory} was not removed"


def test_a_socket_path_too_long_is_refused_naming_the_limit(serve_on_unix_socket, short_dir,
                                                            pid_file):
    long_directory = os.path.join(short_dir, "d" * 120)
    os.mkdir(long_directory)
    with pytest.raises(Exception, match="108") as raised:
        with serve_on_unix_socket(toy("--pid-file", str(pid_file)), long_directory):
            pytest.fail("yielded a path longer than sun_path")
    assert "107" in str(raised.value), str(raised.value)
    assert pids(pid_file) == [], "the server was started anyway"


def test_a_socket_path_of_107_bytes_is_served_and_108_refused(serve_on_unix_socket, short_dir):
    # Bytes, not characters: "é" is two bytes in UTF-8. (At 108 bytes the toy's own bind()
    # fails, "AF_UNIX path too long": the fixture must refuse before it starts anything.)
    tail = len(os.fsencode(short_dir)) + len("/") + len("/app.sock")
    fits = os.path.join(short_dir, "é" * ((107 - tail) // 2) + "f" * ((107 - tail) % 2))
    too_long = os.path.join(short_dir, "é" * ((108 - tail) // 2) + "t" * ((108 - tail) % 2))
    for directory in (fits, too_long):
        os.mkdir(directory)
    with serve_on_unix_socket(toy(), fits) as path:
        assert len(os.fsencode(path)) == 107 and get(path).startswith(b"HTTP/1.0 200 OK")
    assert len(os.fsencode(os.path.join(too_long, "app.sock"))) == 108
    with pytest.raises(Exception, match="107"):
        with serve_on_unix_socket(toy(), too_long):
            pytest.fail("yielded a path of 108 bytes")


def test_a_server_that_died_during_the_test_is_reported(serve_on_unix_socket, pid_file):
    with pytest.raises(Exception, match="ended before it was asked to stop"):
        with serve_on_unix_socket(toy("--pid-file", str(pid_file))):
            os.kill(pids(pid_file)[0], signal.SIGKILL)  # as a crash would
            wait_until(lambda: alive_or_zombie(pids(pid_file)[0]) != "running",
                       "the server died")
