"""Chapter 05, socket files: the lifecycle of a Unix socket file, made safe, seen from outside.

echo_server binds with listen_on(), which probes the path first: a stale socket file (its
server died) is replaced, a live one is refused, and anything that is not a socket is
refused and left exactly as it was. On SIGTERM the server removes its file, but only if
the file is still its own. An abstract name has no file at all. Each test demonstrates one
claim of lessons/05-socket-files/README.md against the real program."""

import errno
import os
import re
import signal
import socket
import stat
import subprocess
import time

import pytest

from course_support.timeouts import READY_TIMEOUT
from course_support.polling import poll_until
from course_support.programs import program_path
from course_support.sockets import connect_to
from course_support.processes import Server, StartedProcess

LIVE_SERVER = "a server is listening on it; it was left untouched"


def _assert_one_line_refusal(result: subprocess.CompletedProcess, expected: str) -> None:
    """The server refused to start: exit status 1 and one line of stderr saying why."""
    assert result.returncode == 1, f"exit status {result.returncode}:\n{result.stderr}"
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{result.stderr}"
    assert expected in lines[0], lines[0]


def _leave_a_stale_file(start_server) -> str:
    """Starts echo_server on a path and kills it with SIGKILL: its cleanup never runs, so
    the socket file stays, with nobody listening. Returns the address."""
    server = start_server("echo_server", "unix")
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert stat.S_ISSOCK(os.lstat(server.path).st_mode), f"{server.path} vanished"
    return server.address


def _wait_until(condition, timeout: float, what: str):
    """Polls `condition` until it returns something true; fails the test after `timeout`."""
    result = poll_until(condition, timeout, interval=0.01)
    if not result:
        pytest.fail(f"{what} did not happen within {timeout} s", pytrace=False)
    return result


def test_killed_server_leaves_a_stale_file_and_restart_replaces_it(start_server):
    address = _leave_a_stale_file(start_server)
    path = address[len("unix:"):]

    # The file is there, but connecting to it is refused: the mark of a stale socket.
    with pytest.raises(ConnectionRefusedError) as refused:
        connect_to(address).close()
    assert refused.value.errno == errno.ECONNREFUSED

    # A new server on the same path probes, finds it stale, replaces it, and serves.
    restarted = start_server("echo_server", address=address)
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    with restarted.connect() as client:
        assert client.send_then_read_until_eof(b"back again") == b"back again"


def test_server_refuses_a_path_that_is_a_regular_file(short_dir, run_program):
    path = os.path.join(short_dir, "notes.txt")
    with open(path, "wb") as notes:
        notes.write(b"a file somebody cares about\n")
    before = os.lstat(path)

    result = run_program("echo_server", f"unix:{path}", timeout=10)

    _assert_one_line_refusal(result, "a regular file, not a socket; it was left untouched")
    after = os.lstat(path)
    assert stat.S_ISREG(after.st_mode)
    with open(path, "rb") as notes:
        assert notes.read() == b"a file somebody cares about\n"
    assert (after.st_ino, after.st_mode, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino, before.st_mode, before.st_mtime_ns, before.st_ctime_ns)


def test_server_refuses_a_symlink_to_a_precious_file(short_dir, run_program):
    precious = os.path.join(short_dir, "precious")
    with open(precious, "wb") as target:
        target.write(b"do not lose me\n")
    link = os.path.join(short_dir, "echo.sock")
    os.symlink(precious, link)
    before = os.lstat(precious)

    result = run_program("echo_server", f"unix:{link}", timeout=10)

    _assert_one_line_refusal(result, "a symbolic link, not a socket; it was left untouched")
    assert os.path.islink(link) and os.readlink(link) == precious
    after = os.lstat(precious)
    assert stat.S_ISREG(after.st_mode)
    with open(precious, "rb") as target:
        assert target.read() == b"do not lose me\n"
    assert (after.st_ino, after.st_mtime_ns, after.st_ctime_ns) == (
        before.st_ino, before.st_mtime_ns, before.st_ctime_ns)


def test_second_server_refuses_a_live_path(start_server, run_program):
    first = start_server("echo_server", "unix")
    inode = os.lstat(first.path).st_ino

    second = run_program("echo_server", first.address, timeout=10)

    _assert_one_line_refusal(second, LIVE_SERVER)
    assert f"bind({first.address}): EADDRINUSE" in second.stderr
    # The live server saw the probe as a client that connected and sent nothing.
    first.wait_for_output(r"^client .* done, 0 bytes echoed$")
    # The first server still owns the file and keeps serving.
    assert os.lstat(first.path).st_ino == inode
    with first.connect() as client:
        assert client.send_then_read_until_eof(b"still mine") == b"still mine"
    assert first.returncode is None, first.describe()


def _start_racers(start_server, short_dir: str, address: str, count: int) -> list[Server]:
    """Starts `count` echo_servers on `address` that all go at the same instant: each is a
    shell waiting to read one line from a FIFO before it execs echo_server, and the line
    for every one of them is written at once, when all are waiting."""
    fifo = os.path.join(short_dir, "starting-gun")
    if not os.path.exists(fifo):
        os.mkfifo(fifo, 0o600)
    # `<>` opens the FIFO without waiting for a writer; `read` then waits for the line.
    command = ["/bin/sh", "-c", 'read -r line <>"$1" && exec "$2" "$3"', "racer", fifo,
               program_path("echo_server"), address]
    # Kept by start_server at once: whatever happens, teardown reaps them.
    racers = [start_server.keep(Server("echo_server", address, command, cwd=short_dir))
              for _ in range(count)]

    def waiting(racer: Server) -> bool:
        try:
            return os.readlink(f"/proc/{racer.process.pid}/fd/0") == fifo
        except OSError:  # not there yet
            return False

    _wait_until(lambda: all(waiting(racer) for racer in racers), READY_TIMEOUT,
                "every racer waiting at the start")
    gun = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    try:
        os.write(gun, b"\n" * count)
    finally:
        os.close(gun)
    return racers


def test_two_servers_racing_for_a_stale_path_exactly_one_wins(start_server, short_dir):
    # Without the directory lock, two servers could both find the file stale, and the
    # second would delete the socket the first had just bound: both would say they listen.
    rounds, count = 5, 4
    address = _leave_a_stale_file(start_server)
    path = address[len("unix:"):]

    for round_number in range(1, rounds + 1):
        racers = _start_racers(start_server, short_dir, address, count)

        def settled():
            """True once every racer has either exited or said it is listening."""
            return all(racer.returncode is not None
                       or re.search(r"^listening on ", racer.output(), re.MULTILINE)
                       for racer in racers)

        _wait_until(settled, READY_TIMEOUT, f"round {round_number}: every racer settling")
        winners = [racer for racer in racers if racer.returncode is None]
        report = "\n\n".join(racer.describe() for racer in racers)
        assert len(winners) == 1, f"round {round_number}: {len(winners)} winners\n{report}"
        winner = winners[0]
        assert re.search(f"^listening on {re.escape(address)}$", winner.output(), re.MULTILINE)
        for loser in racers:
            if loser is not winner:
                assert loser.stop() == 1, report  # already exited: stop() only reaps
                lines = loser.output().splitlines()
                assert len(lines) == 1 and LIVE_SERVER in lines[0], report

        # The file at the path is the winner's: it answers.
        with winner.connect() as client:
            assert client.send_then_read_until_eof(b"winner") == b"winner"
        if round_number < rounds:
            # SIGKILL leaves the file stale again for the next round.
            assert winner.stop(signal.SIGKILL) == -signal.SIGKILL
            assert stat.S_ISSOCK(os.lstat(path).st_mode)
        else:
            assert winner.stop(signal.SIGTERM) == 0, winner.describe()
            assert not os.path.lexists(path), f"{path} is still there"


def test_server_leaves_a_replaced_socket_file_alone_on_exit(start_server, short_dir):
    server = start_server("echo_server", "unix")
    # Somebody moves the server's file away and binds another socket at its path.
    os.rename(server.path, os.path.join(short_dir, "moved-away.sock"))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as other:
        other.bind(server.path)
        other.listen()
        inode = os.lstat(server.path).st_ino
        try:
            # The server removes only the file it made; this one is not it.
            assert server.stop(signal.SIGTERM) == 0, server.describe()
            assert os.path.lexists(server.path), f"the server removed {server.path}"
            assert os.lstat(server.path).st_ino == inode
            # And it is still the other socket's: a client reaches it.
            with connect_to(f"unix:{server.path}") as client:
                other.settimeout(10)
                accepted, _ = other.accept()
                accepted.close()
                client.close()
        finally:
            os.unlink(server.path)  # ours to clean up (the test stopped the server itself)


def test_abstract_socket_shows_in_ss_with_an_at_sign(start_server, require_tool):
    ss = require_tool("ss")
    server = start_server("echo_server", "abstract")
    name = server.address[len("unix:"):]  # "@course-..."
    assert name.startswith("@")

    listing = subprocess.run([ss, "-xl"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        pytest.skip(f"ss -xl does not work here: {listing.stderr.strip()}")
    listening = [line for line in listing.stdout.splitlines() if name in line.split()]
    assert listening, f"{name} is not in `ss -xl`:\n{listing.stdout}"
    assert "LISTEN" in listening[0].split()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGKILL],
                         ids=["SIGTERM", "SIGKILL"])
def test_abstract_name_is_free_again_after_the_server_exits(start_server, short_dir,
                                                            stop_signal):
    first = start_server("echo_server", "abstract")
    # Even SIGKILL, which runs no cleanup at all, leaves nothing behind to remove.
    expected_status = -signal.SIGKILL if stop_signal == signal.SIGKILL else 0
    assert first.stop(stop_signal) == expected_status, first.describe()
    assert os.listdir(short_dir) == []

    # The name is free at once: bind it here, then let a new server have it.
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
        probe.bind(b"\0" + first.address[len("unix:@"):].encode())
    second = start_server("echo_server", address=first.address)
    with second.connect() as client:
        assert client.send_then_read_until_eof(b"same name") == b"same name"


@pytest.mark.parametrize("umask", [0o022, 0o000], ids=["umask022", "umask000"])
def test_socket_file_mode_is_0660(start_server, umask):
    # The server inherits our umask; even 000 must not make the file more open than 0660.
    previous = os.umask(umask)
    try:
        server = start_server("echo_server", "unix")
    finally:
        os.umask(previous)
    mode = stat.S_IMODE(os.lstat(server.path).st_mode)
    assert mode == 0o660, f"{server.path} has mode {oct(mode)}"


# -- the directory lock: never wait for it forever ----------------------------------------
#
# listen_on() takes an exclusive flock() on the socket's directory while it probes and binds
# (the race above). flock() needs only a descriptor opened for reading, so any user who can
# open the directory can take that lock and keep it. A server that waited for it without end
# would never start, and (its SIGTERM handler restarting the wait) would not even stop.

LOCK_WAIT = 5.0  # raw_sockets::directory_lock_wait


def _hold_the_directory_lock(start_server, directory: str, as_nobody: bool, require_tool):
    """Starts `flock DIRECTORY` (util-linux) holding an exclusive lock on the directory, as
    the nobody user or as ourselves, and returns once it holds it."""
    command = [require_tool("flock"), directory, "-c", "echo locked; exec sleep 600"]
    if as_nobody:
        if os.geteuid() != 0:
            pytest.skip("needs root: only root can run the lock holder as the nobody user")
        os.chmod(directory, 0o755)  # nobody may open it for reading, like /tmp
        command = [require_tool("setpriv"), "--reuid=nobody", "--regid=nogroup",
                   "--clear-groups", *command]
    holder = start_server.keep(StartedProcess("flock", command))
    holder.wait_for_output("^locked$")
    return holder


def _handles_sigterm(pid: int) -> bool:
    """True once process `pid` catches SIGTERM (its StopSignals are installed): the server
    has got as far as listen_on()."""
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("SigCgt:"):
                    return bool(int(line.split()[1], 16) & (1 << (signal.SIGTERM - 1)))
    except FileNotFoundError:
        return False
    return False


@pytest.mark.parametrize("as_nobody", [True, False], ids=["held-by-nobody", "held-by-same-user"])
def test_a_held_directory_lock_makes_start_up_fail_with_a_clear_error(
        start_server, short_dir, require_tool, as_nobody):
    holder = _hold_the_directory_lock(start_server, short_dir, as_nobody, require_tool)
    address = f"unix:{short_dir}/echo.sock"

    started = time.monotonic()
    server = start_server.keep(StartedProcess(
        "echo_server", [program_path("echo_server"), address], cwd=short_dir))
    # It gives up after LOCK_WAIT seconds; a loaded machine may add a few more, never 20.
    ended = poll_until(server.has_ended, LOCK_WAIT + 15, interval=0.05)
    waited = time.monotonic() - started
    assert ended, (f"echo_server still waits for the directory lock after {waited:.1f} s\n"
                   f"{server.describe()}")
    assert waited >= LOCK_WAIT - 0.5, f"it gave up after {waited:.1f} s\n{server.describe()}"
    assert server.stop() == 1, server.describe()
    lines = server.output().splitlines()
    assert len(lines) == 1, server.describe()
    assert f"flock({address}): EAGAIN" in lines[0], lines[0]
    assert f"the lock on directory {short_dir}" in lines[0], lines[0]
    assert "lslocks" in lines[0], lines[0]
    assert not os.path.lexists(f"{short_dir}/echo.sock")

    # Once the holder lets go, the same server starts.
    holder.stop(signal.SIGKILL)
    again = start_server("echo_server", address=address)
    with again.connect() as client:
        assert client.send_then_read_until_eof(b"unlocked") == b"unlocked"


def test_sigterm_stops_a_server_waiting_for_the_directory_lock(start_server, short_dir,
                                                               require_tool):
    holder = _hold_the_directory_lock(start_server, short_dir, False, require_tool)
    address = f"unix:{short_dir}/echo.sock"
    server = start_server.keep(StartedProcess(
        "echo_server", [program_path("echo_server"), address], cwd=short_dir))
    _wait_until(lambda: _handles_sigterm(server.process.pid) or server.has_ended(),
                READY_TIMEOUT, "echo_server installing its SIGTERM handler")
    assert not server.has_ended(), server.describe()

    os.kill(server.process.pid, signal.SIGTERM)
    # Well before the lock's deadline: the signal, not the deadline, ends the wait.
    assert poll_until(server.has_ended, LOCK_WAIT - 1, interval=0.02), (
        f"echo_server did not stop within {LOCK_WAIT - 1} s of SIGTERM while waiting for "
        f"the directory lock\n{server.describe()}")
    assert server.stop() == 1, server.describe()
    lines = server.output().splitlines()
    assert len(lines) == 1 and "a stop signal came while waiting for the lock on directory " \
        f"{short_dir}" in lines[0], server.describe()
    assert not os.path.lexists(f"{short_dir}/echo.sock")
    holder.stop(signal.SIGKILL)


def test_echo_server_binds_in_a_directory_too_long_for_sun_path_through_proc_self_fd(
        start_server, short_dir):
    # The operator's workaround for a long path: hand the server a descriptor of the
    # directory (a shell does it with `exec 3< DIR`) and bind /proc/self/fd/3/NAME.
    directory = short_dir
    while len(directory) <= 120:
        directory = os.path.join(directory, "d" * 40)
        os.mkdir(directory)
    full_path = os.path.join(directory, "echo.sock")
    assert len(full_path.encode()) > 108
    held = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        # The server inherits the descriptor under the same number, so the same short name
        # means the same directory in this process too: the fixture connects through it.
        address = f"unix:/proc/self/fd/{held}/echo.sock"
        server = start_server("echo_server", address=address, pass_fds=(held,))
        assert stat.S_ISSOCK(os.lstat(full_path).st_mode)
        with server.connect() as client:
            assert client.send_then_read_until_eof(b"long way round") == b"long way round"
        assert server.stop(signal.SIGTERM) == 0, server.describe()
        assert not os.path.lexists(full_path), "the server left its file behind"
    finally:
        os.close(held)


# Moved from chapter 01: the refusal runs through probe_socket_path(), chapter 05's exercise.
def test_second_server_on_the_same_path_fails_with_eaddrinuse(start_server, run_program):
    first = start_server("echo_server", "unix")

    second = run_program("echo_server", first.address, timeout=10)

    assert second.returncode != 0
    lines = second.stderr.splitlines()
    assert len(lines) == 1, f"expected one line, got:\n{second.stderr}"
    assert "bind(unix:" in lines[0] and "EADDRINUSE" in lines[0], lines[0]
    # The refused server touched nothing: the first one still owns the file and answers.
    assert stat.S_ISSOCK(os.lstat(first.path).st_mode)
    with first.connect() as client:
        assert client.send_then_read_until_eof(b"still here") == b"still here"
