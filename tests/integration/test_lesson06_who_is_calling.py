"""Chapter 06, who is calling: access control of a Unix socket (file mode, directories, the
server asking the kernel who connected) against TCP, where any local user, and on 0.0.0.0
the network, can connect. Runs whoami_server and sock_request, the client sometimes as the
user nobody (which needs root: those tests are skipped otherwise).

Each test demonstrates one claim of lessons/06-who-is-calling/README.md against the real
programs."""

import ipaddress
import os
import re
import shutil
import socket
import stat
import subprocess
from typing import Optional

import pytest

from course_support.processes import Server, run
from course_support.programs import program_path
from course_support.usage import assert_refused_usage

NOBODY = 65534


def let_others_in(directory: str) -> None:
    """mkdtemp makes directories 0700: other users could not even reach a socket inside.
    0755 lets them search it, so that the socket file's own mode is what decides."""
    os.chmod(directory, 0o755)


def one_line(result: subprocess.CompletedProcess) -> str:
    lines = result.stderr.splitlines()
    assert len(lines) == 1, f"expected one line on stderr, got:\n{result.stderr}"
    return lines[0]


def answer_of(result: subprocess.CompletedProcess, server) -> str:
    """What sock_request printed, after checking that it succeeded."""
    assert result.returncode == 0, f"sock_request failed: {result.stderr}\n{server.describe()}"
    return result.stdout


def test_whoami_reports_the_callers_uid(start_server, run_program, run_program_as_nobody,
                                        short_dir):
    let_others_in(short_dir)
    server = start_server("whoami_server", "unix", ["{address}", "--mode", "0666"])

    as_root = answer_of(run_program("sock_request", server.address), server)
    as_nobody = answer_of(run_program_as_nobody("sock_request", server.address), server)

    assert re.fullmatch(r"pid=\d+ uid=0 gid=0\n", as_root), as_root
    assert re.fullmatch(rf"pid=\d+ uid={NOBODY} gid={NOBODY}\n", as_nobody), as_nobody
    # Two processes, two pids: the kernel names the very process that connected.
    assert as_root.split()[0] != as_nobody.split()[0]
    server.wait_for_output(rf"^answered: pid=\d+ uid={NOBODY} gid={NOBODY}$")


def test_socket_mode_0660_keeps_other_users_out(start_server, run_program, run_program_as_nobody,
                                                short_dir):
    let_others_in(short_dir)
    server = start_server("whoami_server", "unix")  # the default mode
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o660

    refused = run_program_as_nobody("sock_request", server.address)

    assert refused.returncode != 0 and refused.stdout == "", refused
    line = one_line(refused)
    assert "connect(unix:" in line and "EACCES" in line, line
    # The owner still gets in.
    assert answer_of(run_program("sock_request", server.address), server).startswith("pid=")


def test_server_can_authorise_by_uid(start_server, run_program, run_program_as_nobody,
                                     short_dir):
    let_others_in(short_dir)
    server = start_server("whoami_server", "unix",
                          ["{address}", "--allow-uid", "0", "--mode", "0666"])

    # The file lets everyone connect; the server decides by the uid the kernel reports.
    as_root = answer_of(run_program("sock_request", server.address), server)
    as_nobody = answer_of(run_program_as_nobody("sock_request", server.address), server)

    assert re.fullmatch(r"pid=\d+ uid=0 gid=0\n", as_root), as_root
    assert as_nobody == f"denied: uid {NOBODY} is not allowed\n"


def test_tcp_loopback_is_open_to_every_local_user(start_server, run_program_as_nobody):
    server = start_server("whoami_server", "tcp")  # 127.0.0.1, a port the kernel picks

    as_nobody = answer_of(run_program_as_nobody("sock_request", server.address), server)

    # No file, no mode, no directory: a port is reachable by every process on the machine,
    # and all the server learns is an address and a port.
    assert re.fullmatch(r"peer 127\.0\.0\.1:\d+: over TCP the kernel cannot say which user\n",
                        as_nobody), as_nobody


def local_ipv4_candidates() -> list[str]:
    """IPv4 addresses this machine may have, from `ip -4 -o addr`, and the source address
    the kernel would pick for an outside destination (a UDP connect() sends no packet)."""
    candidates = []
    ip = shutil.which("ip")
    if ip is not None:
        listing = subprocess.run([ip, "-4", "-o", "addr", "show"], capture_output=True,
                                 text=True, timeout=10)
        candidates += re.findall(r"\binet (\d+\.\d+\.\d+\.\d+)/", listing.stdout)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # TEST-NET-1: nothing is sent
            candidates.append(probe.getsockname()[0])
        except OSError:
            pass
    return candidates


def non_loopback_ipv4() -> Optional[str]:
    """An IPv4 address of this machine outside 127.0.0.0/8, or None. Connections to it never
    leave the machine: the kernel delivers traffic for its own addresses locally."""
    for candidate in local_ipv4_candidates():
        if ipaddress.ip_address(candidate).is_loopback:
            continue
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as check:
                check.bind((candidate, 0))  # only an address of this machine can be bound
        except OSError:
            continue
        return candidate
    return None


def test_wildcard_address_is_reachable_from_other_interfaces(start_server, run_program):
    address = non_loopback_ipv4()
    if address is None:
        pytest.skip("this machine has no IPv4 address besides loopback to connect through")
    everywhere = start_server("whoami_server", address="0.0.0.0:0")
    loopback_only = start_server("whoami_server", address="127.0.0.1:0")

    # 0.0.0.0 listens on every interface: a client arriving at another address of this
    # machine (as one on the network would) gets in.
    reached = answer_of(run_program("sock_request", f"{address}:{everywhere.port}"), everywhere)
    assert re.fullmatch(rf"peer {re.escape(address)}:\d+: over TCP the kernel cannot say which "
                        r"user\n", reached), reached

    # 127.0.0.1 listens on loopback only: the same request is refused.
    refused = run_program("sock_request", f"{address}:{loopback_only.port}")
    assert refused.returncode != 0 and refused.stdout == "", refused
    line = one_line(refused)
    assert f"connect({address}:{loopback_only.port})" in line and "ECONNREFUSED" in line, line


def test_server_allows_every_uid_of_a_list(start_server, run_program, run_program_as_nobody,
                                           short_dir):
    let_others_in(short_dir)
    server = start_server("whoami_server", "unix",
                          ["{address}", "--allow-uid", f"{NOBODY},0", "--mode", "0666"])

    as_root = answer_of(run_program("sock_request", server.address), server)
    as_nobody = answer_of(run_program_as_nobody("sock_request", server.address), server)

    assert re.fullmatch(r"pid=\d+ uid=0 gid=0\n", as_root), as_root
    assert re.fullmatch(rf"pid=\d+ uid={NOBODY} gid=\d+\n", as_nobody), as_nobody


@pytest.mark.parametrize("program, arguments, named", [
    ("whoami_server", [], ["ADDRESS"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "0,"], ["--allow-uid", "'0,'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", ",0"], ["--allow-uid", "',0'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "0,,1"], ["--allow-uid", "'0,,1'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", ""], ["--allow-uid", "''"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "root"], ["--allow-uid", "'root'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "0x1"], ["--allow-uid", "'0x1'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "-1"], ["--allow-uid", "'-1'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "+1"], ["--allow-uid", "'+1'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "1 "], ["--allow-uid", "'1 '"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "4294967295"],
     ["--allow-uid", "'4294967295'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid", "99999999999999999999"],
     ["--allow-uid", "'99999999999999999999'"]),
    ("whoami_server", ["unix:never.sock", "--allow-uid"], ["--allow-uid"]),
    ("whoami_server", ["unix:never.sock", "--mode", "9"], ["--mode", "'9'"]),
    ("whoami_server", ["unix:never.sock", "--mode", "0666abc"], ["--mode", "'0666abc'"]),
    ("whoami_server", ["unix:never.sock", "--group", ""], ["--group", "''"]),
    ("whoami_server", ["unix:never.sock", "--bogus", "1"], ["--bogus"]),
    ("whoami_server", ["unix:never.sock", "extra"], ["extra"]),
    ("sock_request", [], ["ADDRESS"]),
    ("sock_request", ["--bogus", "unix:never.sock"], ["--bogus"]),
])
def test_bad_command_line_is_refused_in_one_line(run_program, short_dir, program, arguments,
                                                 named):
    result = run_program(program, *arguments, timeout=10)

    assert_refused_usage(result, program, *named)
    assert os.listdir(short_dir) == [], "a refused command line must not bind anything"


# --------------------------------------------------------------------------------------
# Containers: user namespaces and abstract names


def overflow_uid() -> int:
    """The uid a process sees for a user its user namespace does not map (the sysctl
    kernel.overflowuid, 65534 unless changed): read, not assumed."""
    with open("/proc/sys/kernel/overflowuid") as sysctl:
        return int(sysctl.read())


def user_namespace_problem(*wrapper: str) -> Optional[str]:
    """Why `wrapper + ["true"]` (an unshare command) cannot run here, or None."""
    if shutil.which("unshare") is None:
        return "util-linux's unshare is not installed"
    probe = subprocess.run([*wrapper, "true"], capture_output=True, text=True, timeout=10)
    if probe.returncode != 0:
        return f"{' '.join(wrapper)} fails here: {probe.stderr.strip()}"
    return None


AS_NOBODY = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups"]


def test_allow_uid_65534_admits_host_root_to_a_server_in_a_user_namespace(start_server,
                                                                        run_program, short_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root: the client must be root, and the server another user")
    in_a_namespace = [*AS_NOBODY, "unshare", "--user", "--map-current-user"]
    problem = user_namespace_problem(*in_a_namespace)
    if problem is not None:
        pytest.skip(f"unprivileged user namespaces are unavailable: {problem}")
    if overflow_uid() != NOBODY:
        pytest.skip(f"kernel.overflowuid is {overflow_uid()} here, not {NOBODY}: the numbers "
                    "of root and nobody no longer coincide in a namespace")
    # The server runs as nobody, in a directory of its own and from a copy of the program
    # it can reach (the build tree may be private to root).
    os.chmod(short_dir, 0o755)
    home = os.path.join(short_dir, "ns")
    os.mkdir(home)
    os.chown(home, NOBODY, NOBODY)
    program = os.path.join(home, "whoami_server")
    shutil.copy2(program_path("whoami_server"), program)
    os.chmod(program, 0o755)
    address = f"unix:{home}/who.sock"

    # A server inside a user namespace that maps only its own uid, as a rootless container
    # runs, allowing "65534" to mean nobody.
    contained = start_server.keep(Server(
        "whoami_server", address,
        [*in_a_namespace, program, address, "--allow-uid", str(NOBODY), "--mode", "0666"],
        cwd=home))
    contained.wait_until_accepting()
    # The same server on the host.
    on_the_host = start_server("whoami_server", "unix",
                               ["{address}", "--allow-uid", str(NOBODY), "--mode", "0666"])

    # On the host, root is uid 0 and refused...
    refused = answer_of(run_program("sock_request", on_the_host.address), on_the_host)
    assert refused == "denied: uid 0 is not allowed\n"
    # ...but root has no number inside the namespace: the kernel shows the overflow uid,
    # which is nobody's, and the list lets root in.
    admitted = answer_of(run_program("sock_request", contained.address), contained)
    assert re.fullmatch(rf"pid=\d+ uid={NOBODY} gid={NOBODY}\n", admitted), admitted


def test_every_local_user_reaches_an_abstract_socket(start_server, run_program_as_nobody):
    server = start_server("whoami_server", "abstract")

    # No file, hence no mode, no owner, no directory: nothing for the kernel to check.
    as_nobody = answer_of(run_program_as_nobody("sock_request", server.address), server)

    assert re.fullmatch(rf"pid=\d+ uid={NOBODY} gid={NOBODY}\n", as_nobody), as_nobody


def test_another_network_namespace_cannot_reach_an_abstract_name(start_server, run_program,
                                                                 short_dir):
    # As root `unshare --net` alone; a normal user needs a user namespace to be allowed it.
    in_another_netns = (["unshare", "--net"] if os.geteuid() == 0
                        else ["unshare", "--user", "--net"])
    problem = user_namespace_problem(*in_another_netns)
    if problem is not None:
        pytest.skip(f"cannot create a network namespace: {problem}")
    abstract = start_server("whoami_server", "abstract")
    pathname = start_server("whoami_server", "unix")
    client = program_path("sock_request")

    # From our network namespace both answer (what `--network host` gives a container).
    for server in (abstract, pathname):
        assert answer_of(run_program("sock_request", server.address), server).startswith("pid=")

    # From another one (a container with its own network), the abstract name does not exist;
    # the socket file, reached through the same file system, still works.
    unreachable = run([*in_another_netns, client, abstract.address], cwd=short_dir)
    assert unreachable.returncode != 0 and unreachable.stdout == "", unreachable
    assert "ECONNREFUSED" in one_line(unreachable), unreachable.stderr
    through_the_file = run([*in_another_netns, client, pathname.address], cwd=short_dir)
    assert through_the_file.returncode == 0, f"{through_the_file.stderr}\n{pathname.describe()}"
    assert through_the_file.stdout.startswith("pid="), through_the_file.stdout
