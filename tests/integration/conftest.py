"""Fixtures that start the course's real programs and talk to them over real sockets.

Every chapter's integration tests use these, so they are written for any program that
takes an address in the course syntax (`unix:/path`, `unix:@name`, `127.0.0.1:PORT`,
`[::1]:PORT`) and prints `listening on ADDRESS` once it accepts connections: echo_server
today, http_min from chapter 08 on.

    def test_echo(start_server):
        server = start_server("echo_server", "unix")     # or "abstract", "tcp", "tcp6"
        with server.connect() as client:
            assert client.send_then_read_until_eof(b"hi") == b"hi"

Socket paths are short (`mkdtemp` under /tmp, not pytest's long `tmp_path`): sun_path
holds 108 bytes. Every test gets its own directory, abstract name and TCP port (port 0), so
`pytest -n 4` is safe. What a started server promises (readiness by connecting, its output in
every failure, SIGTERM then SIGKILL at teardown, its socket file gone) is in
course_support/processes.py; the helpers the tests import are all in course_support/.

Binaries come from $COURSE_BIN_DIR (CTest sets it to <build>/bin), or build/default/bin; if
they are not built, the session stops at once, saying so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from typing import Callable, Iterator

import pytest

# Before the package is imported: its asserts then show the values that failed.
pytest.register_assert_rewrite("course_support")

from course_support.nginx import NginxRunner  # noqa: E402
from course_support.processes import NOBODY, ServerStarter, remove_tree, run, shorten  # noqa: E402
from course_support.programs import build_problem, program_path  # noqa: E402
from course_support.timeouts import RUN_TIMEOUT, TEST_TIMEOUT  # noqa: E402

# uds_server, uds_client and their session-scoped twins: a server on a Unix socket and an
# httpx client over it (uds_server_command below makes that server http_min); selection: the
# exercise runner's choice of a file's tests (COURSE_PYTEST_SELECT); managers: the fixture
# nothing_left_running, for tests of supervisord and the like.
pytest_plugins = ["course_support.uds", "course_support.selection", "course_support.managers"]


def pytest_sessionstart(session: pytest.Session) -> None:
    # Without the programs every test would fail alike: one line instead.
    problem = build_problem()
    if problem is not None and not session.config.option.collectonly:
        raise pytest.UsageError(problem)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    # A failing test shows what its servers wrote (an exercise's TODO message, a crash), once,
    # under the failure: the learner reads the cause, not only a reset connection.
    outcome = yield
    report = outcome.get_result()
    starter = getattr(item, "funcargs", {}).get("start_server")
    if report.when != "call" or not report.failed or starter is None:
        return
    for server in starter.servers:
        output = server.output().strip()
        if not output or output in str(report.longrepr):  # said already, by the failure
            continue
        title = f"{server.program}'s output"
        if hasattr(report.longrepr, "addsection"):
            report.longrepr.addsection(title, shorten(output))
        else:  # pytest.fail(..., pytrace=False) leaves a plain message
            report.longrepr = f"{report.longrepr}\n\n--- {title} ---\n{shorten(output)}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A hung test should fail on its own rather than wait for CTest's limit, when
    # pytest-timeout is there to enforce it (python3-pytest-timeout on Debian).
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A new, empty directory with a short path (/tmp/course-XXXXXXXX), removed afterwards.

    Socket files go here: pytest's own tmp_path can be longer than the 107 bytes sun_path
    allows for a path."""
    directory = tempfile.mkdtemp(prefix="course-", dir="/tmp")
    try:
        yield directory
    finally:
        remove_tree(directory)


@pytest.fixture
def start_server(short_dir: str) -> Iterator[ServerStarter]:
    """Factory: `start_server(program, transport="unix", extra_args=(), *, address=None,
    env=None, ready_timeout=10.0, pass_fds=()) -> Server`.

    transport: "unix" (a path in short_dir), "abstract" (unix:@unique-name), "tcp"
    (127.0.0.1:0) or "tcp6" ([::1]:0; the test is skipped if ::1 is unavailable); or pass
    `address=` to choose it yourself (transport is then ignored). `extra_args` may use
    {address}, {path}, {host} and {port} (say `["--uds", "{path}"]`); without them the
    address is the last argument.
    The program runs in short_dir. Returns once a connection succeeds, with the real port
    in `server.address`; fails with the program's output if it exits or the deadline passes.

    At teardown each server still running gets SIGTERM and must exit 0 and leave no socket
    file; a server the test stopped itself (`server.stop()`) is only made sure to be gone.
    A process the test started itself joins them with `start_server.keep(process)`.
    """
    starter = ServerStarter(short_dir, program_path)
    yield starter
    problems = starter.finish_all()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture(scope="session")
def uds_server_command() -> list[str]:
    """What uds_server starts (see course_support/uds.py): http_min on the socket."""
    return [program_path("http_min"), "--uds", "{path}"]


@pytest.fixture
def run_program(short_dir: str) -> Callable[..., subprocess.CompletedProcess]:
    """`run_program(program, *args, input=None, timeout=30.0, env=None, text=True)
    -> subprocess.CompletedProcess` with stdout and stderr captured separately.

    For one-shot programs: clients, demos, a server expected to refuse to start. It runs
    in short_dir; if it does not finish within `timeout` it is killed and the test fails
    with whatever it printed."""

    def run_in_short_dir(program: str, *args: str, input=None, timeout: float = RUN_TIMEOUT,
                         env: dict | None = None,
                         text: bool = True) -> subprocess.CompletedProcess:
        return run([program_path(program), *map(str, args)], input=input, timeout=timeout,
                   cwd=short_dir, env=None if env is None else {**os.environ, **env}, text=text)

    return run_in_short_dir


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """`require_tool("ss") -> path`: skips the test, saying why, if the tool is missing."""

    def require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed")
        return path

    return require


@pytest.fixture
def run_program_as_nobody() -> Iterator[Callable[..., subprocess.CompletedProcess]]:
    """`run_program_as_nobody(program, *args, timeout=30.0) -> subprocess.CompletedProcess`:
    run_program, but as uid and gid 65534 with no supplementary groups, in `/` (a test's
    directory is private to root unless the test opens it up). `program` is a course
    program's name, or the absolute path of any other (say `/usr/bin/cat`).

    Only root can start a process as another user, so a test that asks for this fixture is
    skipped, saying so, when not run as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root: only root can run a program as another user (nobody)")
    # The build tree may sit where nobody cannot reach it (a checkout under /root is 0700),
    # so course programs run from a copy in a directory of their own that nobody can enter.
    copies = tempfile.mkdtemp(prefix="course-bin-", dir="/tmp")
    os.chmod(copies, 0o755)

    def reachable_copy(program: str) -> str:
        copy = os.path.join(copies, program)
        if not os.path.exists(copy):
            shutil.copy2(program_path(program), copy)
            os.chmod(copy, 0o755)
        return copy

    def run_as_nobody(program: str, *args: str,
                      timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        path = program if os.path.isabs(program) else reachable_copy(program)
        return run([path, *map(str, args)], timeout=timeout, who=" (as nobody)", cwd="/",
                   user=NOBODY, group=NOBODY, extra_groups=[])

    yield run_as_nobody
    shutil.rmtree(copies, ignore_errors=True)


@pytest.fixture
def nginx(short_dir):
    """NginxRunner: `nginx.start(text, sockets=..., ...) -> Nginx`; every nginx it started
    is stopped at teardown (SIGQUIT, then its whole process group is killed)."""
    runner = NginxRunner(short_dir)
    yield runner
    problems = runner.finish_all()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)
