"""Chapter 07, passing descriptors: file_broker, a privileged helper, opens files under its
--root and hands the open descriptor to file_client over a Unix socket (SCM_RIGHTS). The
client reads a file it could not open itself; the broker refuses names that would lead out
of the root, and says why a file cannot be had.

Each test demonstrates one claim of lessons/07-passing-descriptors/README.md against the
real programs."""

import os
import re
import shutil
import signal
import socket
import subprocess

import pytest

from course_support.usage import assert_refused_usage

SECRET = "only root may open this file\n"
OUTSIDE = "this file is outside the broker's root\n"


def write_private_file(path: str, content: str) -> None:
    with open(path, "w") as file:
        file.write(content)
    os.chmod(path, 0o600)


@pytest.fixture
def broker_root(short_dir: str) -> str:
    """short_dir/root holding secret.txt (mode 0600), with private files next to the root
    that no name given to the broker may reach: ../outside.txt, and outside/secret.txt
    through the symbolic links root/link-to-outside (a file) and root/dir-link (a
    directory)."""
    os.chmod(short_dir, 0o755)  # mkdtemp's 0700 would keep other users from the socket
    root = os.path.join(short_dir, "root")
    os.mkdir(root, 0o755)
    write_private_file(os.path.join(root, "secret.txt"), SECRET)
    write_private_file(os.path.join(short_dir, "outside.txt"), OUTSIDE)
    outside = os.path.join(short_dir, "outside")
    os.mkdir(outside, 0o755)
    write_private_file(os.path.join(outside, "secret.txt"), OUTSIDE)
    os.symlink(os.path.join(outside, "secret.txt"), os.path.join(root, "link-to-outside"))
    os.symlink(outside, os.path.join(root, "dir-link"))
    return root


def start_broker(start_server, root: str):
    # --mode 0666: the broker's clients are other users; the files are what it guards.
    return start_server("file_broker", "unix", ["{address}", "--root", root, "--mode", "0666"])


def refusal_line(result: subprocess.CompletedProcess, broker) -> str:
    """file_client's one line of refusal, after checking that it failed and printed nothing
    of any file."""
    assert result.returncode != 0, f"file_client printed:\n{result.stdout}\n{broker.describe()}"
    assert result.stdout == "", result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    assert "the broker sent no descriptor" in lines[0], f"{lines[0]}\n{broker.describe()}"
    return lines[0]


def test_broker_hands_over_a_file_the_client_may_not_open(start_server, run_program_as_nobody,
                                                          broker_root):
    secret = os.path.join(broker_root, "secret.txt")
    info = os.stat(secret)
    assert (info.st_uid, oct(info.st_mode & 0o777)) == (0, "0o600")
    broker = start_broker(start_server, broker_root)

    # nobody may not open the file...
    cat = run_program_as_nobody(shutil.which("cat") or "/bin/cat", secret)
    assert cat.returncode != 0 and cat.stdout == "", cat
    assert "Permission denied" in cat.stderr, cat.stderr  # EACCES
    # ...but reads it through the descriptor the broker opened and sent.
    got = run_program_as_nobody("file_client", broker.address, "secret.txt")
    assert (got.returncode, got.stdout, got.stderr) == (0, SECRET, ""), broker.describe()
    broker.wait_for_output(r"^pid=\d+ uid=65534 gid=65534 asked for secret\.txt: sent$")


@pytest.mark.parametrize("name, reason", [
    ("../outside.txt", r"only plain names under the root are served"),
    ("/etc/passwd", r"only plain names under the root are served"),
    ("link-to-outside", r"open\(link-to-outside\): ELOOP"),
    pytest.param(
        "dir-link/secret.txt", r"only plain names"),
], ids=["dot-dot", "absolute", "symlink", "symlink-to-directory"])
def test_broker_refuses_names_that_escape_the_root(start_server, run_program, broker_root, name,
                                                   reason):
    broker = start_broker(start_server, broker_root)

    refused = run_program("file_client", broker.address, name)

    line = refusal_line(refused, broker)
    assert re.search(reason, line), f"{line}\n{broker.describe()}"
    broker.wait_for_output(rf"asked for {re.escape(name)}: ")
    # Refusing one client does not stop the broker.
    served = run_program("file_client", broker.address, "secret.txt")
    assert (served.returncode, served.stdout) == (0, SECRET), served.stderr


def test_broker_reports_missing_files(start_server, run_program, broker_root):
    broker = start_broker(start_server, broker_root)

    missing = run_program("file_client", broker.address, "missing.txt")

    line = refusal_line(missing, broker)
    assert "open(missing.txt): ENOENT" in line, line


def test_broker_refuses_a_fifo_and_serves_the_next_client(start_server, run_program,
                                                          broker_root):
    # open() of a FIFO for reading waits for a writer: a broker that opened before looking
    # would wait there for ever, with every later client queued behind.
    os.mkfifo(os.path.join(broker_root, "pipe"))
    broker = start_broker(start_server, broker_root)

    refused = run_program("file_client", broker.address, "pipe", timeout=10)

    line = refusal_line(refused, broker)
    assert "pipe is not a regular file" in line, f"{line}\n{broker.describe()}"
    served = run_program("file_client", broker.address, "secret.txt", timeout=10)
    assert (served.returncode, served.stdout) == (0, SECRET), served.stderr
    assert broker.stop(signal.SIGTERM, timeout=8) == 0, broker.describe()
    assert not os.path.lexists(broker.path), f"{broker.path} is still there"


def test_broker_escapes_control_bytes_of_names_in_its_log(start_server, run_program,
                                                          broker_root):
    broker = start_broker(start_server, broker_root)
    name = "evil\x1b[2J\rforged\x7f\u00e9"  # ESC, CR, DEL and a byte above 0x7F (UTF-8)

    refused = run_program("file_client", broker.address, name, timeout=10)

    # (file_client prints the broker's answer as it came: the client's own text, raw.)
    assert refused.returncode != 0 and refused.stdout == "", refused
    escaped = "evil\\x1B[2J\\x0Dforged\\x7F\\xC3\\xA9"
    broker.wait_for_output(rf"asked for {re.escape(escaped)}: open\({re.escape(escaped)}\): "
                           r"ENOENT")
    assert "\x1b" not in broker.output() and "\r" not in broker.output(), broker.describe()


@pytest.mark.parametrize("hold", ["silent", "mid-line"])
def test_broker_stops_on_sigterm_while_a_client_holds_it(start_server, broker_root, hold):
    broker = start_broker(start_server, broker_root)
    with broker.connect() as client:
        if hold == "mid-line":
            client.sendall(b"secret")  # and the rest of the name, ".txt\n", never comes
        # Once the broker has accepted this client it waits on it, and on nothing else.
        with broker.connect() as second:
            second.sendall(b"secret.txt\n")
            second.settimeout(1)
            with pytest.raises(socket.timeout):
                second.recv(1)

        status = broker.stop(signal.SIGTERM, timeout=8)

        assert status == 0, broker.describe()
        assert not os.path.lexists(broker.path), f"{broker.path} is still there"


@pytest.mark.parametrize("program, arguments, named", [
    ("file_broker", [], ["ADDRESS"]),
    ("file_broker", ["unix:never.sock"], ["--root"]),
    ("file_broker", ["unix:never.sock", "--root"], ["--root"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode", "9"], ["--mode", "'9'"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode", "0666abc"],
     ["--mode", "'0666abc'"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode", ""], ["--mode", "''"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode", "-1"], ["--mode", "'-1'"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode", "0x1ff"],
     ["--mode", "'0x1ff'"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--mode"], ["--mode"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "--bogus", "1"], ["--bogus"]),
    ("file_broker", ["unix:never.sock", "--root", ".", "extra"], ["extra"]),
    ("file_client", [], ["ADDRESS"]),
    ("file_client", ["unix:never.sock"], ["NAME"]),
    ("file_client", ["unix:never.sock", "a.txt", "b.txt"], ["b.txt"]),
    ("file_client", ["-x", "unix:never.sock", "a.txt"], ["-x"]),
])
def test_bad_command_line_is_refused_in_one_line(run_program, short_dir, program, arguments,
                                                 named):
    result = run_program(program, *arguments, timeout=10)

    assert_refused_usage(result, program, *named)
    assert os.listdir(short_dir) == [], "a refused command line must not bind anything"
