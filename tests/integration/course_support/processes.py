"""Programs a test starts: servers that must be stopped, reaped and cleaned up after, and
one-shot programs whose output is checked.

What a StartedProcess promises, because a flaky or littering socket test teaches nothing:

- It runs as the leader of its own process group, so a forking program (workers, nginx) is
  killed whole, and its pid is never reaped behind our back while we may still signal it.
- Its output goes to an anonymous file (a pipe nobody reads could fill up and block it), and
  every failure message carries that output.
- It is ready when a connection to it succeeds, polled against a deadline; nothing sleeps a
  fixed time and hopes.
- It is stopped with its graceful signal (SIGTERM; nginx: SIGQUIT), killed with SIGKILL if it
  has not exited by the deadline (and the test fails), reaped, and must have exited 0 and
  removed its socket file.
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
from typing import Callable, Iterable, Mapping, Optional, Sequence

import pytest

from .polling import poll_until, wait_until
from .sockets import ClientSocket, connect_to, ipv6_loopback_problem, socket_address, socket_file
from .timeouts import IO_TIMEOUT, READY_TIMEOUT, RUN_TIMEOUT, STOP_TIMEOUT

TRANSPORTS = ("unix", "abstract", "tcp", "tcp6")
LISTENING_LINE = re.compile(r"^listening on (\S+)\s*$", re.MULTILINE)
NOBODY = 65534  # uid of nobody and gid of nogroup on Debian


# --------------------------------------------------------------------------------------
# Small helpers


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


def shorten(text: str) -> str:
    """`text`, or its first and last 2000 characters if it is long (for failure messages)."""
    return text if len(text) < 4000 else text[:2000] + "\n[...]\n" + text[-2000:]


def as_text(data) -> str:
    """What a killed subprocess had printed: bytes even in text mode, or None."""
    return data.decode(errors="replace") if isinstance(data, bytes) else (data or "")


def remove_tree(directory: str) -> None:
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


def run(command: Sequence[str], *, timeout: float = RUN_TIMEOUT, input=None,
        who: str = "", **popen_arguments) -> subprocess.CompletedProcess:
    """subprocess.run with stdout and stderr captured separately (stdin from /dev/null unless
    `input` is given). If `command` does not finish within `timeout` it is killed and the
    test fails with whatever it printed; `who` (" (as nobody)") is said in that message."""
    popen_arguments.setdefault("text", True)
    try:
        return subprocess.run(command, input=input, capture_output=True, timeout=timeout,
                              stdin=None if input is not None else subprocess.DEVNULL,
                              **popen_arguments)
    except subprocess.TimeoutExpired as expired:
        stdout, stderr = as_text(expired.stdout), as_text(expired.stderr)
    pytest.fail(f"{' '.join(map(str, command))}{who} did not finish within {timeout} s and was "
                f"killed.\n--- its stdout ---\n{shorten(stdout)}\n"
                f"--- its stderr ---\n{shorten(stderr)}", pytrace=False)


# --------------------------------------------------------------------------------------
# What /proc says


def proc_stat(pid: int) -> Optional[dict]:
    """state, ppid, pgrp and starttime of a process from /proc/PID/stat, or None if it is
    gone. (The command name may hold spaces and parentheses: split after the last ')'.)"""
    try:
        with open(f"/proc/{pid}/stat") as stat_file:
            fields = stat_file.read().rpartition(")")[2].split()
    except OSError:
        return None
    return {"state": fields[0], "ppid": int(fields[1]), "pgrp": int(fields[2]),
            "starttime": int(fields[19])}


def processes(where: Callable[[dict], bool]) -> set[int]:
    """The pids of live (not zombie) processes whose /proc stat satisfies `where`."""
    found = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            info = proc_stat(int(entry))
            if info is not None and info["state"] != "Z" and where(info):
                found.add(int(entry))
    return found


def children_of(pid: int) -> set[int]:
    return processes(lambda info: info["ppid"] == pid)


def has_exited(pid: int) -> bool:
    """True once `pid` (our child) has ended; it is left unreaped (WNOWAIT): until it is
    reaped its pid, and so its process group id, cannot be given to another process, which
    keeps signalling it (or its group) safe."""
    return os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None


def wait_for_workers(master: int, count: int, without: int = 0) -> set[int]:
    """The master's children once there are `count` of them (and `without` is not one)."""
    def ready():
        workers = children_of(master)
        return workers if len(workers) == count and without not in workers else None

    what = f"{count} workers running" + (f", {without} not among them" if without else "")
    return wait_until(ready, what)


# --------------------------------------------------------------------------------------
# A process we started


class StartedProcess:
    """A program a test started, in its own process group, its output in an anonymous file.

    program   a short name for messages ("http_min", "nginx")
    command   the command line
    address   where it accepts connections, in the course syntax (or None)
    path      the socket file it must remove when it stops, or None
    process   the subprocess.Popen
    """

    stop_signal = signal.SIGTERM  # the graceful stop teardown asks for

    def __init__(self, program: str, command: Sequence[str], *, address: Optional[str] = None,
                 path: Optional[str] = None, cwd: Optional[str] = None,
                 env: Optional[Mapping[str, str]] = None, pass_fds: Iterable[int] = ()) -> None:
        """`env`: variables added to ours. `pass_fds`: descriptors the program inherits
        (every other one but 0, 1 and 2 is closed in it)."""
        self.program = program
        self.command = [str(argument) for argument in command]
        self.address = address
        self.path = path
        # An anonymous file: it cannot fill up like a pipe, and it vanishes with us.
        self._log = tempfile.TemporaryFile(prefix=f"course-{program}-", dir="/tmp")
        self._final_output = ""
        self.process = subprocess.Popen(
            self.command, stdin=subprocess.DEVNULL, stdout=self._log, stderr=subprocess.STDOUT,
            cwd=cwd, env=None if env is None else {**os.environ, **env},
            pass_fds=tuple(pass_fds), start_new_session=True)
        self.stopped_by_test = False
        self.finished = False

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.program} {self.address} pid {self.process.pid}>"

    # What it said ----------------------------------------------------------------------

    def output(self) -> str:
        """Everything the program wrote to stdout and stderr so far."""
        if self._log.closed:
            return self._final_output
        # pread: the child shares the file offset with us, so we must not move it.
        size = os.fstat(self._log.fileno()).st_size
        return os.pread(self._log.fileno(), size, 0).decode(errors="replace")

    def wait_for_output(self, pattern: str, timeout: float = READY_TIMEOUT) -> re.Match:
        """The first match of regular expression `pattern` (multi-line mode) in the
        output, polled until `timeout`; fails the test with the output if it does not
        appear, or as soon as the program has ended without printing it."""
        regex = re.compile(pattern, re.MULTILINE)

        def printed_or_ended():
            ended = self.has_ended()  # checked first: no output can follow an end
            return regex.search(self.output()) or ("ended" if ended else None)

        match = poll_until(printed_or_ended, timeout)
        if not isinstance(match, re.Match):
            why = "before it ended" if match == "ended" else f"within {timeout} s"
            pytest.fail(f"{self.program} did not print /{pattern}/ {why}.\n"
                        f"{self.describe()}", pytrace=False)
        return match

    def describe(self) -> str:
        """The command, how it is doing, and its output: for failure messages."""
        return (f"{' '.join(self.command)} ({status_text(self.returncode)})\n"
                f"--- its output ---\n{shorten(self.output())}--- end of output ---")

    # Talking to it ---------------------------------------------------------------------

    def connect(self, timeout: float = IO_TIMEOUT) -> ClientSocket:
        """A new connection to the program's address. If connecting fails, the test fails
        with the program's output (often it has died)."""
        try:
            return connect_to(self.address, timeout)
        except OSError as error:
            failure = f"connecting to {self.address} failed: {error}"
        pytest.fail(f"{failure}\n{self.describe()}", pytrace=False)

    def accepting_or_ended(self, timeout: float = READY_TIMEOUT,
                           first: Callable[[], bool] = lambda: True) -> tuple[str, str]:
        """Polls, until `timeout`, for a connection to the address to succeed (the probe
        connection is closed at once), once `first()` is true (say, a pid file written).
        Returns ("accepting", ""), ("ended", "") if the program ended first, or
        ("late", the last error) when the deadline passed."""
        last_error = ["-"]

        def accepting() -> Optional[str]:
            if self.has_ended():
                return "ended"
            try:
                if not first():
                    return None
                connect_to(self.address, timeout=1.0).close()
                return "accepting"
            except OSError as error:  # not yet: ENOENT, ECONNREFUSED, ...
                last_error[0] = str(error)
                return None

        outcome = poll_until(accepting, timeout)
        return (outcome, "") if outcome else ("late", last_error[0])

    def wait_until_accepting(self, timeout: float = READY_TIMEOUT) -> None:
        """Returns once a connection to the address succeeds; fails the test with the
        program's output if it ends first or the deadline passes. On failure the program is
        killed, and teardown only makes sure it is gone."""
        outcome, error = self.accepting_or_ended(timeout)
        if outcome == "accepting":
            return
        self.stopped_by_test = True  # reported here
        why = ("exited before accepting connections" if outcome == "ended"
               else f"did not accept a connection within {timeout} s (last error: {error})")
        self.kill()
        pytest.fail(f"{self.program} {why} on {self.address}.\n{self.describe()}",
                    pytrace=False)

    # Its end ---------------------------------------------------------------------------

    def has_ended(self) -> bool:
        """True once the process has ended. It is left unreaped (see has_exited): use this
        rather than process.poll()."""
        if self.process.returncode is not None:
            return True
        try:
            return has_exited(self.process.pid)
        except ChildProcessError:  # reaped outside subprocess: Popen cannot know the status
            self.process.poll()
            return True

    @property
    def returncode(self) -> Optional[int]:
        """The exit status once the program has ended (negative: the signal that killed
        it), else None."""
        if not self.has_ended():
            return None
        self.kill()
        return self.process.returncode

    def kill(self) -> None:
        """SIGKILL for the process group, then wait(). After the main process has exited
        this only removes children it forked (workers): none of them may outlive the test."""
        if self.process.returncode is None:
            try:
                os.killpg(self.process.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            self.process.wait()

    def _signal_and_wait(self, sig: int, timeout: float) -> Optional[str]:
        """Sends `sig` if the program still runs and waits for it to exit; then kills what is
        left of its group and reaps it. Returns None, or what went wrong (it did not exit
        within `timeout`: it was killed with SIGKILL)."""
        problem = None
        if not self.has_ended():
            os.kill(self.process.pid, sig)  # safe: not reaped, so the pid is still this one
            if not poll_until(self.has_ended, timeout, interval=0.01):
                problem = (f"{self.program} did not exit within {timeout} s of "
                           f"{signal.Signals(sig).name}, so it was killed with SIGKILL.")
        self.kill()
        return problem

    def stop(self, sig: Optional[int] = None, timeout: float = STOP_TIMEOUT) -> int:
        """Sends `sig` (default: its graceful stop signal) if the program still runs and
        returns its exit status (negative: killed by that signal). If it has not exited
        after `timeout` seconds it is killed with SIGKILL and the test fails. The test then
        owns the result: teardown will not check the status or the socket file again."""
        self.stopped_by_test = True
        problem = self._signal_and_wait(self.stop_signal if sig is None else sig, timeout)
        if problem:
            pytest.fail(f"{problem}\n{self.describe()}", pytrace=False)
        return self.process.returncode

    def finish(self, timeout: float = STOP_TIMEOUT) -> list[str]:
        """Teardown: the graceful stop signal, then the program must exit 0 within `timeout`
        and leave no socket file behind. Returns what went wrong (empty: nothing). A program
        the test stopped itself is only made sure to be gone. Idempotent."""
        if self.finished:
            return []
        self.finished = True
        problems = []
        if self.stopped_by_test:
            self.kill()
        else:
            crashed_earlier = self.has_ended()
            problem = self._signal_and_wait(self.stop_signal, timeout)
            status = self.process.returncode
            if problem:
                problems.append(problem)
            elif status != 0:
                when = ("before the end of the test" if crashed_earlier
                        else f"after {signal.Signals(self.stop_signal).name}")
                problems.append(f"{self.program} ended {when} ({status_text(status)}); it "
                                f"should exit 0 on {signal.Signals(self.stop_signal).name}.")
            elif self.path is not None and os.path.lexists(self.path):
                problems.append(f"{self.program} exited 0 but left its socket file "
                                f"{self.path} behind.")
            if problems:
                problems[-1] += "\n" + self.describe()
        self._final_output = self.output()
        self._log.close()
        return problems


class Server(StartedProcess):
    """A program listening on one address in the course syntax (made by `start_server`, or
    directly). Its socket file, for a `unix:/path` address, must be gone once it stopped,
    unless `owns_socket_file` is False (an inherited socket: the file is whoever made it's)."""

    def __init__(self, program: str, address: str, command: Sequence[str], *,
                 owns_socket_file: bool = True, **options) -> None:
        super().__init__(program, command, address=address,
                         path=socket_file(address) if owns_socket_file else None, **options)

    @property
    def port(self) -> Optional[int]:
        """The TCP port, or None for a Unix socket."""
        family, sockaddr = socket_address(self.address)
        return None if family == socket.AF_UNIX else sockaddr[1]


class ServerStarter:
    """The callable behind the `start_server` fixture: starts servers in `directory` and
    remembers them, so that `finish_all()` stops and checks every one at teardown."""

    def __init__(self, directory: str,
                 program_path: Callable[[str], str] = lambda program: program) -> None:
        """`program_path` turns a program's name into the path to run."""
        self.directory = directory
        self.program_path = program_path
        self.servers: list[StartedProcess] = []
        self._numbers = itertools.count(1)

    def __call__(self, program: str, transport: str = "unix", extra_args: Sequence[str] = (),
                 *, address: Optional[str] = None, env: Optional[dict] = None,
                 ready_timeout: float = READY_TIMEOUT, pass_fds: Iterable[int] = ()) -> Server:
        requested = address if address is not None else self.address_for(program, transport)
        command = [self.program_path(program), *fill_in_address(extra_args, requested)]
        server = self.keep(Server(program, requested, command, cwd=self.directory, env=env,
                                  pass_fds=pass_fds))
        family, sockaddr = socket_address(requested)
        if family != socket.AF_UNIX and sockaddr[1] == 0:
            self._learn_the_port(server, ready_timeout)
        server.wait_until_accepting(ready_timeout)
        return server

    def keep(self, process: StartedProcess) -> StartedProcess:
        """Hands `process` (started by the test) to teardown, which stops and checks it."""
        self.servers.append(process)
        return process

    def address_for(self, program: str, transport: str) -> str:
        """A fresh address for `transport`: a path in the directory, a unique abstract name,
        or port 0 on the loopback (the test is skipped if ::1 is not available)."""
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
            problem = ipv6_loopback_problem()
            if problem is not None:
                pytest.skip(f"IPv6 loopback is not available: {problem}")
            return "[::1]:0"
        raise ValueError(f"transport must be one of {TRANSPORTS}, not {transport!r}")

    @staticmethod
    def _learn_the_port(server: Server, timeout: float) -> None:
        """Port 0: the kernel picks the port, and only the program's own line tells us."""
        host = server.address.rpartition(":")[0]
        host = "127.0.0.1" if host == "localhost" else host  # as the course parses it

        def announced_address() -> Optional[str]:
            for line_address in LISTENING_LINE.findall(server.output()):
                announced_host, _, port = line_address.rpartition(":")
                if announced_host == host and port.isdigit() and int(port) != 0:
                    return line_address
            return "ended" if server.has_ended() else None

        found = poll_until(announced_address, timeout)
        if found is None or found == "ended":
            server.stopped_by_test = True  # reported here
            server.kill()
            why = "exited before it printed" if found else f"did not print within {timeout} s"
            pytest.fail(f"{server.program} {why} 'listening on {host}:PORT' with a real port."
                        f"\n{server.describe()}", pytrace=False)
        server.address = found

    def finish_all(self) -> list[str]:
        """Stops every process the test left running (see StartedProcess.finish); returns
        what went wrong."""
        return [problem for server in self.servers for problem in server.finish()]


def fill_in_address(extra_args: Sequence[str], address: str) -> list[str]:
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
