"""Chapter 07, passing descriptors: file_broker, a privileged helper, opens files under its
--root and hands the open descriptor to file_client over a Unix socket (SCM_RIGHTS). The
client reads a file it could not open itself; the broker refuses names that would lead out
of the root, and says why a file cannot be had.

Each test demonstrates one claim of lessons/07-passing-descriptors/README.md against the
real programs."""

import os
import re
import shutil
import subprocess

import pytest

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
