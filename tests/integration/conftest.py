"""Fixtures that start the course's real programs and talk to them over real sockets.

Every chapter's integration tests use these, so they are written for any program that
takes an address in the course syntax (`unix:/path`, `unix:@name`, `127.0.0.1:PORT`,
`[::1]:PORT`) and prints `listening on ADDRESS` once it accepts connections: echo_server
today, http_min from chapter 08 on.

    def test_echo(start_server):
        server = start_server("echo_server", "unix")     # or "abstract", "tcp", "tcp6"
        with server.connect() as client:
            assert client.send_then_read_until_eof(b"hi") == b"hi"

What the fixtures promise, because a flaky or littering socket test teaches nothing:

- Socket paths are short (`mkdtemp` under /tmp, not pytest's long `tmp_path`): sun_path
  holds 108 bytes. Every test gets its own directory, abstract name and TCP port (port 0),
  so `pytest -n 4` is safe.
- A server is ready when a connection to it succeeds, polled against a deadline; nothing
  sleeps a fixed time and hopes.
- Output goes to an anonymous file (a pipe nobody reads could fill up and block the
  server), and every failure message carries it.
- At teardown every server still running gets SIGTERM and must exit 0 within the time
  limit (or is killed with SIGKILL and the test fails), and its socket file must be gone.
  The test's directory is removed, so nothing stays behind in /tmp.

Binaries come from $COURSE_BIN_DIR (CTest sets it to <build>/bin), or build/default/bin.
"""

from __future__ import annotations

import itertools
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable, Iterator, Optional, Sequence, TypeVar

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
READY_TIMEOUT = 10.0  # seconds for a server to accept its first connection
STOP_TIMEOUT = 10.0  # seconds for a server to exit after SIGTERM/SIGINT
RUN_TIMEOUT = 30.0  # seconds for a one-shot program (a client, a demo) to finish
IO_TIMEOUT = 10.0  # seconds any single socket operation of a test may block
TEST_TIMEOUT = 90  # seconds per test, if pytest-timeout is installed (CTest allows 120)

TRANSPORTS = ("unix", "abstract", "tcp", "tcp6")

_LISTENING_LINE = re.compile(r"^listening on (\S+)\s*$", re.MULTILINE)

T = TypeVar("T")


# --------------------------------------------------------------------------------------
# Small helpers


def _poll_until(condition: Callable[[], Optional[T]], timeout: float,
                interval: float = 0.02) -> Optional[T]:
    """Calls `condition` until it returns something other than None or False, or until
    `timeout` seconds have passed (then returns None). The short sleep between calls only
    paces the polling; the deadline is what bounds the wait."""
    deadline = time.monotonic() + timeout
    while True:
        result = condition()
        if result is not None and result is not False:
            return result
        if time.monotonic() >= deadline:
            return None
        time.sleep(min(interval, max(0.0, deadline - time.monotonic())))


def bin_dir() -> Path:
    """Where the built programs are: $COURSE_BIN_DIR, or <repo>/build/default/bin."""
    configured = os.environ.get("COURSE_BIN_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / "build" / "default" / "bin"


def program_path(program: str) -> str:
    """The full path of a course binary; fails the test, saying to build first, if it is
    missing."""
    path = bin_dir() / program
    if not (path.is_file() and os.access(path, os.X_OK)):
        pytest.fail(
            f"{program} is not built: no executable {path}.\n"
            f"Build first: cmake --preset default && cmake --build --preset default\n"
            f"(or point COURSE_BIN_DIR at the bin/ directory of your build).",
            pytrace=False)
    return str(path)


def socket_address(address: str) -> tuple[int, object]:
    """(family, Python sockaddr) for an address in the course syntax.

    `unix:@name` becomes b"\\0name": the leading NUL is what puts a name in Linux's
    abstract namespace instead of the filesystem."""
    if address.startswith("unix:@"):
        return socket.AF_UNIX, b"\0" + address[len("unix:@"):].encode()
    if address.startswith("unix:"):
        return socket.AF_UNIX, address[len("unix:"):]
    host, colon, port = address.rpartition(":")
    if not colon or not port.isdigit():
        raise ValueError(f"not an address in the course syntax: {address!r}")
    if host.startswith("[") and host.endswith("]"):
        return socket.AF_INET6, (host[1:-1], int(port))
    return socket.AF_INET, ("127.0.0.1" if host == "localhost" else host, int(port))


class ClientSocket(socket.socket):
    """A connected socket.socket with the read loops that stream tests keep needing."""

    def recv_until_eof(self) -> bytes:
        """Everything the peer sends until it closes or shuts down its sending side."""
        chunks = []
        while chunk := self.recv(65536):
            chunks.append(chunk)
        return b"".join(chunks)

    def recv_exact(self, size: int) -> bytes:
        """Exactly `size` bytes; AssertionError if the stream ends first."""
        data = bytearray()
        while len(data) < size:
            chunk = self.recv(size - len(data))
            if not chunk:
                raise AssertionError(f"the peer closed after {len(data)} of {size} bytes")
            data += chunk
        return bytes(data)

    def send_then_read_until_eof(self, data: bytes) -> bytes:
        """Sends `data`, shuts down the sending side, and returns everything read until EOF.

        The sending runs in a thread: an echo-like server writes back while we are still
        writing, and with both socket buffers full a single thread would wait forever."""
        failure: list[BaseException] = []

        def send() -> None:
            try:
                self.sendall(data)
                self.shutdown(socket.SHUT_WR)
            except BaseException as error:  # reported by the test's thread below
                failure.append(error)

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        try:
            received = self.recv_until_eof()
        finally:
            sender.join(IO_TIMEOUT)
        if failure:
            raise failure[0]
        return received


def connect_to(address: str, timeout: float = IO_TIMEOUT) -> ClientSocket:
    """A ClientSocket connected to `address` (course syntax). Every later operation on it
    times out after `timeout` seconds, so a silent server fails the test instead of
    hanging it."""
    family, sockaddr = socket_address(address)
    client = ClientSocket(family, socket.SOCK_STREAM)
    client.settimeout(timeout)
    try:
        client.connect(sockaddr)
    except BaseException:
        client.close()
        raise
    return client


def _ipv6_loopback_problem() -> Optional[str]:
    """None if this machine can listen on [::1], else why not."""
    if not socket.has_ipv6:
        return "Python was built without IPv6"
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError as error:
        return f"cannot bind [::1]:0 ({error})"
    return None


def status_text(status: Optional[int]) -> str:
    """'exit status 1', 'killed by SIGPIPE' or 'running', from a Popen returncode."""
    if status is None:
        return "running"
    if status < 0:
        try:
            return f"killed by {signal.Signals(-status).name}"
        except ValueError:
            return f"killed by signal {-status}"
    return f"exit status {status}"


def _as_text(data) -> str:
    """What a killed subprocess had printed: bytes even in text mode, or None."""
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def _remove_tree(directory: str) -> None:
    """shutil.rmtree that also gets through directories a test made unreadable or
    unwritable (chapter 06 plays with permissions): they are opened up first."""

    def open_up(path: str) -> None:
        if not os.path.islink(path):
            try:
                os.chmod(path, 0o700)
            except OSError:
                pass

    open_up(directory)
    for root, subdirectories, _ in os.walk(directory, onerror=lambda _: None):
        for name in subdirectories:  # before os.walk goes into them
            open_up(os.path.join(root, name))
    shutil.rmtree(directory, ignore_errors=True)


def _shorten(text: str) -> str:
    return text if len(text) < 4000 else text[:2000] + "\n[...]\n" + text[-2000:]


# --------------------------------------------------------------------------------------
# A started server


class Server:
    """One running program that listens on one address (made by the `start_server` fixture).

    address   the address in the course syntax, with the real port when port 0 was asked
    path      the socket file's path for a `unix:/path` address, else None
    process   the subprocess.Popen
    """

    def __init__(self, program: str, transport: str, address: str, command: Sequence[str],
                 cwd: str, env: Optional[dict]) -> None:
        self.program = program
        self.transport = transport
        self.address = address
        self.path: Optional[str] = address[len("unix:"):] if (
            address.startswith("unix:") and not address.startswith("unix:@")) else None
        self.command = list(command)
        # An anonymous file: it cannot fill up like a pipe, and it vanishes with us.
        self._log = tempfile.TemporaryFile(prefix="course-log-", dir="/tmp")
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT, cwd=cwd, env=env,
            start_new_session=True)  # its own process group: a forking server is killed whole
        self.stopped_by_test = False

    def __repr__(self) -> str:
        return f"<Server {self.program} {self.address} pid {self.process.pid}>"

    # What it said ----------------------------------------------------------------------

    def output(self) -> str:
        """Everything the program wrote to stdout and stderr so far."""
        # pread: the child shares the file offset with us, so we must not move it.
        size = os.fstat(self._log.fileno()).st_size
        return os.pread(self._log.fileno(), size, 0).decode(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match:
        """The first match of regular expression `pattern` (multi-line mode) in the
        output, polled until `timeout`; fails the test with the output if it does not
        appear, or as soon as the program has ended without printing it."""
        regex = re.compile(pattern, re.MULTILINE)

        def printed_or_ended():
            ended = self._has_ended()  # checked first: no output can follow an end
            return regex.search(self.output()) or ("ended" if ended else None)

        match = _poll_until(printed_or_ended, timeout)
        if not isinstance(match, re.Match):
            why = "before it ended" if match == "ended" else f"within {timeout} s"
            pytest.fail(f"{self.program} did not print /{pattern}/ {why}.\n"
                        f"{self.describe()}", pytrace=False)
        return match

    def describe(self) -> str:
        return (f"{' '.join(self.command)} ({status_text(self.returncode)})\n"
                f"--- its output ---\n{_shorten(self.output())}--- end of output ---")

    # Talking to it ---------------------------------------------------------------------

    @property
    def port(self) -> Optional[int]:
        """The TCP port, or None for a Unix socket."""
        family, sockaddr = socket_address(self.address)
        return None if family == socket.AF_UNIX else sockaddr[1]

    def connect(self, timeout: float = IO_TIMEOUT) -> ClientSocket:
        """A new connection to the server (AF_UNIX, abstract, AF_INET or AF_INET6). If
        connecting fails, the test fails with the server's output (often it has died)."""
        try:
            return connect_to(self.address, timeout)
        except OSError as error:
            failure = f"connecting to {self.address} failed: {error}"
        pytest.fail(f"{failure}\n{self.describe()}", pytrace=False)

    # Stopping it -----------------------------------------------------------------------

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once the program has ended (negative: the signal that killed
        it), else None. Use this rather than process.poll(), see _has_ended()."""
        if not self._has_ended():
            return None
        self._reap()
        return self.process.returncode

    def stop(self, sig: int = signal.SIGTERM, timeout: float = STOP_TIMEOUT) -> int:
        """Sends `sig` (if the program still runs) and returns its exit status (negative:
        killed by that signal). If it has not exited after `timeout` seconds it is killed
        with SIGKILL and the test fails. The test then owns the result: teardown will not
        check the status or the socket file again."""
        self.stopped_by_test = True
        return self._stop(sig, timeout)

    def _has_ended(self) -> bool:
        """True once the process has ended. It is left unreaped (WNOWAIT): until it is
        reaped its pid, and so its process group id, cannot be given to another process,
        which keeps killing the group safe."""
        if self.process.returncode is not None:
            return True
        try:
            flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
            return os.waitid(os.P_PID, self.process.pid, flags) is not None
        except ChildProcessError:  # reaped outside subprocess: Popen cannot know the status
            self.process.poll()
            return True

    def _stop(self, sig: int, timeout: float) -> int:
        if not self._has_ended():
            os.kill(self.process.pid, sig)  # safe: not reaped, so the pid is still this one
            if not _poll_until(self._has_ended, timeout, interval=0.01):
                self._reap()  # SIGKILL
                pytest.fail(f"{self.program} did not exit within {timeout} s of "
                            f"{signal.Signals(sig).name}, so it was killed with SIGKILL.\n"
                            f"{self.describe()}", pytrace=False)
        self._reap()
        return self.process.returncode

    def _reap(self) -> None:
        """SIGKILL for the process group, then wait(). After the main process has exited
        this only removes children it forked (workers, in later chapters): none of them
        may outlive the test."""
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()

    def close_log(self) -> None:
        self._log.close()


class _ServerStarter:
    """The callable behind the `start_server` fixture; remembers what to stop at teardown."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.servers: list[Server] = []
        self._numbers = itertools.count(1)

    def __call__(self, program: str, transport: str = "unix", extra_args: Sequence[str] = (),
                 *, address: Optional[str] = None, env: Optional[dict] = None,
                 ready_timeout: float = READY_TIMEOUT) -> Server:
        requested = address if address is not None else self._address_for(program, transport)
        command = [program_path(program)] + self._arguments(extra_args, requested)
        full_env = None if env is None else {**os.environ, **env}
        server = Server(program, transport, requested, command, self.directory, full_env)
        self.servers.append(server)
        try:
            self._wait_until_ready(server, requested, ready_timeout)
        except BaseException:
            server.stopped_by_test = True  # already reported: teardown only cleans up
            server._reap()
            raise
        return server

    def _address_for(self, program: str, transport: str) -> str:
        number = next(self._numbers)
        if transport == "unix":
            name = f"{program}.sock" if number == 1 else f"{program}-{number}.sock"
            return f"unix:{os.path.join(self.directory, name)}"
        if transport == "abstract":
            # One abstract namespace per network namespace, shared by every user and every
            # parallel test: the random part keeps the name ours.
            return f"unix:@course-{program}-{os.getpid()}-{number}-{secrets.token_hex(4)}"
        if transport == "tcp":
            return "127.0.0.1:0"
        if transport == "tcp6":
            problem = _ipv6_loopback_problem()
            if problem is not None:
                pytest.skip(f"IPv6 loopback is not available: {problem}")
            return "[::1]:0"
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")

    @staticmethod
    def _arguments(extra_args: Sequence[str], address: str) -> list[str]:
        """`extra_args` with {address}, {path}, {host} and {port} filled in; if none of them
        appears, the address is passed as the last argument (as echo_server expects)."""
        family, sockaddr = socket_address(address)
        values = {"{address}": address}
        if family == socket.AF_UNIX:
            if isinstance(sockaddr, str):
                values["{path}"] = sockaddr
        else:
            values["{host}"], values["{port}"] = sockaddr[0], str(sockaddr[1])
        arguments, placed = [], False
        for argument in extra_args:
            argument = str(argument)
            for placeholder, value in values.items():
                if placeholder in argument:
                    argument, placed = argument.replace(placeholder, value), True
            if re.search(r"\{(address|path|host|port)\}", argument):
                raise ValueError(f"{argument!r}: that placeholder does not fit {address}")
            arguments.append(argument)
        return arguments if placed else arguments + [address]

    def _wait_until_ready(self, server: Server, requested: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        family, sockaddr = socket_address(requested)

        def exited() -> None:
            pytest.fail(f"{server.program} exited before accepting connections on "
                        f"{requested}.\n{server.describe()}", pytrace=False)

        if family != socket.AF_UNIX and sockaddr[1] == 0:
            # Port 0: the kernel picks the port, and only the program's own line tells us.
            host = requested.rpartition(":")[0]
            host = "127.0.0.1" if host == "localhost" else host  # as the course parses it

            def announced_address() -> Optional[str]:
                for line_address in _LISTENING_LINE.findall(server.output()):
                    announced_host, _, port = line_address.rpartition(":")
                    if announced_host == host and port.isdigit() and int(port) != 0:
                        return line_address
                if server._has_ended():
                    exited()
                return None

            found = _poll_until(announced_address, deadline - time.monotonic())
            if found is None:
                pytest.fail(f"{server.program} did not print 'listening on {host}:PORT' with a "
                            f"real port within {timeout} s.\n{server.describe()}",
                            pytrace=False)
            server.address = found

        # Ready means: a client can connect. The probe connection is closed at once.
        last_error: list[OSError] = []

        def accepts_a_connection() -> bool:
            if server._has_ended():
                exited()
            try:
                connect_to(server.address, timeout=1.0).close()
                return True
            except OSError as error:  # not yet: ENOENT, ECONNREFUSED, ...
                last_error[:] = [error]
                return False

        if not _poll_until(accepts_a_connection, max(0.0, deadline - time.monotonic())):
            pytest.fail(f"{server.program} did not accept a connection on {server.address} "
                        f"within {timeout} s (last error: {last_error[0] if last_error else '-'})."
                        f"\n{server.describe()}", pytrace=False)

    def teardown(self) -> list[str]:
        """Stops every server the test left running; returns what went wrong."""
        problems = []
        for server in self.servers:
            if server.stopped_by_test:
                server._stop(signal.SIGKILL, STOP_TIMEOUT)  # only makes sure it is gone
                server.close_log()
                continue
            crashed_earlier = server._has_ended()
            try:
                status = server._stop(signal.SIGTERM, STOP_TIMEOUT)
            except pytest.fail.Exception as error:
                problems.append(str(error))
                server.close_log()
                continue
            if status != 0:
                when = "before the end of the test" if crashed_earlier else "after SIGTERM"
                problems.append(f"{server.program} ended {when} ({status_text(status)}); "
                                f"it should exit 0 on SIGTERM.\n{server.describe()}")
            elif server.path is not None and os.path.lexists(server.path):
                problems.append(f"{server.program} exited 0 but left its socket file "
                                f"{server.path} behind.\n{server.describe()}")
            server.close_log()
        return problems


# --------------------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def short_dir() -> Iterator[str]:
    """A new, empty directory with a short path (/tmp/course-XXXXXXXX), removed afterwards.

    Socket files go here: pytest's own tmp_path can be longer than the 107 bytes sun_path
    allows for a path."""
    directory = tempfile.mkdtemp(prefix="course-", dir="/tmp")
    try:
        yield directory
    finally:
        _remove_tree(directory)


@pytest.fixture
def start_server(short_dir: str) -> Iterator[_ServerStarter]:
    """Factory: `start_server(program, transport="unix", extra_args=(), *, address=None,
    env=None, ready_timeout=10.0) -> Server`.

    transport: "unix" (a path in short_dir), "abstract" (unix:@unique-name), "tcp"
    (127.0.0.1:0) or "tcp6" ([::1]:0; the test is skipped if ::1 is unavailable); or pass
    `address=` to choose it yourself (transport is then ignored). `extra_args` may use
    {address}, {path}, {host} and {port} (say `["--uds", "{path}"]`); without them the
    address is the last argument.
    The program runs in short_dir. Returns once a connection succeeds, with the real port
    in `server.address`; fails with the program's output if it exits or the deadline passes.

    At teardown each server still running gets SIGTERM and must exit 0 and leave no socket
    file; a server the test stopped itself (`server.stop()`) is only made sure to be gone.
    """
    starter = _ServerStarter(short_dir)
    yield starter
    problems = starter.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.fixture
def run_program(short_dir: str) -> Callable[..., subprocess.CompletedProcess]:
    """`run_program(program, *args, input=None, timeout=30.0, env=None, text=True)
    -> subprocess.CompletedProcess` with stdout and stderr captured separately.

    For one-shot programs: clients, demos, a server expected to refuse to start. It runs
    in short_dir; if it does not finish within `timeout` it is killed and the test fails
    with whatever it printed."""

    def run(program: str, *args: str, input=None, timeout: float = RUN_TIMEOUT,
            env: Optional[dict] = None, text: bool = True) -> subprocess.CompletedProcess:
        command = [program_path(program), *map(str, args)]
        try:
            return subprocess.run(command, input=input, capture_output=True, text=text,
                                  timeout=timeout, cwd=short_dir,
                                  env=None if env is None else {**os.environ, **env},
                                  stdin=None if input is not None else subprocess.DEVNULL)
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = _as_text(expired.stdout), _as_text(expired.stderr)
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s and was killed.\n"
                    f"--- its stdout ---\n{_shorten(stdout)}\n"
                    f"--- its stderr ---\n{_shorten(stderr)}", pytrace=False)

    return run


@pytest.fixture
def require_tool() -> Callable[[str], str]:
    """`require_tool("ss") -> path`: skips the test, saying why, if the tool is missing."""

    def require(name: str) -> str:
        path = shutil.which(name)
        if path is None:
            pytest.skip(f"{name} is not installed")
        return path

    return require


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # A hung test should fail on its own rather than wait for CTest's limit, when
    # pytest-timeout is there to enforce it (python3-pytest-timeout on Debian).
    if config.pluginmanager.hasplugin("timeout"):
        for item in items:
            if item.get_closest_marker("timeout") is None:
                item.add_marker(pytest.mark.timeout(TEST_TIMEOUT))


# --------------------------------------------------------------------------------------
# Another user (chapters 06 and 07)

NOBODY = 65534  # uid of nobody and gid of nogroup on Debian


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

    def run(program: str, *args: str, timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        path = program if os.path.isabs(program) else reachable_copy(program)
        command = [path, *map(str, args)]
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  cwd="/", stdin=subprocess.DEVNULL, user=NOBODY, group=NOBODY,
                                  extra_groups=[])
        except subprocess.TimeoutExpired as expired:
            stdout, stderr = _as_text(expired.stdout), _as_text(expired.stderr)
        pytest.fail(f"{' '.join(command)} (as nobody) did not finish within {timeout} s and was "
                    f"killed.\n--- its stdout ---\n{_shorten(stdout)}\n"
                    f"--- its stderr ---\n{_shorten(stderr)}", pytrace=False)

    yield run
    shutil.rmtree(copies, ignore_errors=True)
