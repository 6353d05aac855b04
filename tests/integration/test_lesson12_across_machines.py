"""Chapter 12, across machines: network namespaces stand in for containers and hosts.

A network namespace has its own interfaces, its own 127.0.0.1, its own TCP and UDP ports,
and its own abstract Unix socket names; the filesystem stays shared. So:

- a pathname Unix socket is reached from another network namespace through its file, as a
  container reaches a socket in a mounted volume;
- an abstract name, 127.0.0.1 and the ports on it belong to one namespace only;
- between "hosts" (namespaces joined by a veth pair, a virtual Ethernet cable) only TCP
  crosses, and nginx on a front host balances over http_min on two others
  (nginx/examples/two-hosts.conf, as shipped).

The tests create their namespaces (`ip netns add`), cables (`ip link add ... type veth`) and
addresses (198.18.0.0/15, reserved for benchmark networks by RFC 2544) themselves, run the
course's programs inside them with `nsenter --net`, and remove all of it at teardown, even
after a failure. That needs root: without it every test is skipped, saying so.

Each test demonstrates one claim of lessons/12-across-machines/README.md."""

from __future__ import annotations

import itertools
import json
import os
import re
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

import pytest

from course_support.timeouts import READY_TIMEOUT, RUN_TIMEOUT
from course_support.polling import poll_until
from course_support.programs import program_path
from course_support.sockets import connect_to, socket_address
from course_support.processes import Server, ServerStarter, shorten, status_text
from course_support.http import GREETING, http_client
from course_support.nginx import (EXAMPLES, Nginx, NginxPrefix, check_config, for_test, read,
                                  without_comments)

SKIP_WITHOUT_ROOT = "needs root to create network namespaces: sudo ctest -L lesson12"
PORT = 8000  # every namespace a test makes is new and empty: any port is free in it
NGINX_PORT = 8080  # where nginx listens in the front namespace (`listen 80` moved)

# Addresses from 198.18.0.0/15, one /24 per cable. Two hosts: A and B on one cable. nginx's
# front host: cabled to HOST_1 and to HOST_2, which nginx/examples/two-hosts.conf names.
HOST_A, HOST_B = "198.18.0.1", "198.18.0.2"
HOST_1, FRONT_TO_1 = "198.18.0.1", "198.18.0.2"
HOST_2, FRONT_TO_2 = "198.18.1.1", "198.18.1.2"

HERE = ""  # as a namespace argument: this test's own network namespace

# Names made unique by our pid and a counter: namespace names are global to the machine,
# and tests run in parallel.
_numbers = itertools.count(1)


# --------------------------------------------------------------------------------------
# Programs that run inside a namespace (with `ip netns exec`)

# One connection attempt to an address, from inside a namespace: exit status 0 if it was
# accepted, else the error. argv: family, the sockaddr as JSON. (The test repeats it against
# a deadline, with course_support's poll_until.)
CONNECT_PROBE = """
import json, socket, sys
family, target = int(sys.argv[1]), json.loads(sys.argv[2])
target = target if family == socket.AF_UNIX else tuple(target)
try:
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        probe.connect(target)
except OSError as error:
    sys.exit(str(error))
"""

# GETs a URL `count` times, each on a new connection, and prints [[status, body], ...].
HTTP_GETS = """
import json, sys, httpx
url, count = sys.argv[1], int(sys.argv[2])
answers = []
for _ in range(count):
    with httpx.Client(timeout=10.0, trust_env=False) as client:
        response = client.get(url)
    answers.append([response.status_code, response.text])
print(json.dumps(answers))
"""


def ip_binary() -> Optional[str]:
    """The path of iproute2's `ip` (in /usr/sbin, which an ordinary PATH may leave out)."""
    return shutil.which("ip") or next(
        (path for path in ("/usr/sbin/ip", "/sbin/ip") if os.access(path, os.X_OK)), None)


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    """`ip ARGS...`; fails the test with ip's words if it fails and `check` is set."""
    command = [ip_binary() or "ip", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if check and result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({status_text(result.returncode)}):\n"
                    f"{result.stderr}{result.stdout}", pytrace=False)
    return result


def entering(namespace: str) -> list[str]:
    """A command prefix that runs a program in `namespace`'s network (and only that):
    nsenter --net=/run/netns/NAME. Not `ip netns exec` or `ip -n`: they also remount /sys,
    which fails where / is not a mount point (a chroot: "mount --make-rslave /" failed)."""
    nsenter = shutil.which("nsenter") or "/usr/bin/nsenter"
    return [nsenter, f"--net=/run/netns/{namespace}"]


def ip_in(namespace: str, *args: str) -> subprocess.CompletedProcess:
    """`ip ARGS...` run inside `namespace`; fails the test if it fails."""
    command = [*entering(namespace), ip_binary() or "ip", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0:
        pytest.fail(f"{' '.join(command)} failed ({status_text(result.returncode)}):\n"
                    f"{result.stderr}{result.stdout}", pytrace=False)
    return result


def namespaces_listed() -> set[str]:
    """The names `ip netns list` shows ("NAME" or "NAME (id: N)" on each line)."""
    return {line.split()[0] for line in ip("netns", "list").stdout.splitlines() if line.strip()}


# --------------------------------------------------------------------------------------
# The machines of one test: namespaces, cables between them, processes inside them


class Machines:
    """Network namespaces made for one test (the `machines` fixture), and the processes the
    test runs in them. teardown() stops the processes, then deletes the namespaces, which
    takes their interfaces with them."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.namespaces: list[str] = []
        # start_server's own bookkeeping: at teardown every server gets SIGTERM and must exit 0
        # and leave no socket file.
        self.servers = ServerStarter(directory)
        self.proxies: list[Nginx] = []

    # Building the network ---------------------------------------------------------------

    def namespace(self, role: str, loopback: bool = True) -> str:
        """A new network namespace; its `lo` is brought up unless `loopback` is False (a new
        namespace has only `lo`, and down)."""
        name = f"c12-{os.getpid()}-{next(_numbers)}-{role}"
        result = ip("netns", "add", name, check=False)
        if result.returncode != 0:
            if not self.namespaces:  # the very first one: this machine does not allow it
                pytest.skip(f"cannot create a network namespace here: {result.stderr.strip()}")
            pytest.fail(f"ip netns add {name} failed: {result.stderr}", pytrace=False)
        self.namespaces.append(name)
        if loopback:
            ip_in(name, "link", "set", "lo", "up")
        return name

    def cable(self, a: str, address_a: str, b: str, address_b: str) -> tuple[str, str]:
        """A veth pair, one end in namespace `a` with `address_a` (CIDR), the other in `b`
        with `address_b`, both up. The ends are created directly inside the namespaces, so
        they never exist outside them and go when the namespaces go."""
        number = next(_numbers)
        end_a, end_b = f"v{os.getpid()}-{number}a", f"v{os.getpid()}-{number}b"  # <= 15 chars
        ip("link", "add", end_a, "netns", a, "type", "veth", "peer", "name", end_b, "netns", b)
        for namespace, end, address in ((a, end_a, address_a), (b, end_b, address_b)):
            ip_in(namespace, "addr", "add", address, "dev", end)
            ip_in(namespace, "link", "set", end, "up")
        return end_a, end_b

    # Running programs inside -------------------------------------------------------------

    @staticmethod
    def inside(namespace: str, *command: str) -> list[str]:
        return [*entering(namespace), *command]

    def run(self, namespace: str, program: str, *args: str,
            timeout: float = RUN_TIMEOUT) -> subprocess.CompletedProcess:
        """A one-shot program (a course program's name, or an absolute path) run inside
        `namespace`, its output captured; fails the test if it does not finish in time."""
        path = program if os.path.isabs(program) else program_path(program)
        command = self.inside(namespace, path, *args)
        try:
            return subprocess.run(command, capture_output=True, text=True, timeout=timeout,
                                  cwd=self.directory, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as expired:
            said = f"{expired.stdout or ''}{expired.stderr or ''}"
        pytest.fail(f"{' '.join(command)} did not finish within {timeout} s.\n{said}",
                    pytrace=False)

    def start(self, namespace: str, program: str, address: str, args: Sequence[str] = (),
              probe_from: Optional[str] = None) -> Server:
        """`program ARGS...` (the address last if `args` is empty) running inside
        `namespace`, once a connection to `address` from inside `probe_from` (default: the
        same namespace; HERE: this test's) succeeds."""
        command = self.inside(namespace, program_path(program), *(args or [address]))
        server = self.servers.keep(Server(program, address, command, cwd=self.directory))
        self.wait_until_accepting(namespace if probe_from is None else probe_from, address,
                                  server.describe, server.has_ended)
        return server

    def start_nginx(self, namespace: str, text: str, what: str) -> Nginx:
        """nginx running the shipped configuration `text` inside `namespace`, with its paths
        moved into the test's directory (course_support.nginx.for_test) and `listen 80` moved to
        127.0.0.1:NGINX_PORT; once it has written its pid file and accepts a connection
        made inside the namespace."""
        prefix = NginxPrefix(os.path.join(self.directory, f"nginx-{len(self.proxies) + 1}"))
        config = for_test(text, prefix, port=NGINX_PORT, sockets=self.directory)
        check_config(prefix, config, what)
        # nsenter execs nginx (no fork): the pid is the master's, and Nginx.stop() works.
        proxy = Nginx(prefix, config, NGINX_PORT, launcher=entering(namespace))
        self.proxies.append(proxy)
        if not poll_until(lambda: proxy.pid_file_written() or proxy.has_ended(), READY_TIMEOUT):
            pytest.fail(f"nginx wrote no pid file within {READY_TIMEOUT} s.\n"
                        f"{proxy.describe()}", pytrace=False)
        self.wait_until_accepting(namespace, proxy.address, proxy.describe, proxy.has_ended)
        return proxy

    def wait_until_accepting(self, namespace: str, address: str, describe, has_ended) -> None:
        """Returns once a connection to `address` made inside `namespace` succeeds (HERE:
        this test connects; elsewhere a CONNECT_PROBE runs there), retrying until
        READY_TIMEOUT; fails the test with what `describe()` says if `has_ended()` first, or
        if the deadline passes."""
        family, sockaddr = socket_address(address)
        target = sockaddr.decode() if isinstance(sockaddr, bytes) else sockaddr
        errors: list[str] = []

        def accepts() -> bool:
            if has_ended():
                return True
            if namespace == HERE:
                try:
                    connect_to(address, timeout=1.0).close()
                    return True
                except OSError as error:
                    errors[:] = [str(error)]
                    return False
            probe = self.run(namespace, sys.executable, "-c", CONNECT_PROBE, str(int(family)),
                             json.dumps(target))
            errors[:] = [probe.stderr.strip() or probe.stdout.strip()]
            return probe.returncode == 0

        if not poll_until(accepts, READY_TIMEOUT) or has_ended():
            why = "it ended first" if has_ended() else errors[-1] if errors else "-"
            where = "this test's namespace" if namespace == HERE else f"inside {namespace}"
            pytest.fail(f"no connection to {address} from {where}: {why}\n{describe()}",
                        pytrace=False)

    def get(self, namespace: str, url: str, count: int = 1) -> list[tuple[int, str]]:
        """GETs `url` `count` times from inside `namespace` (httpx, a new connection each
        time); returns [(status, body), ...]."""
        result = self.run(namespace, sys.executable, "-c", HTTP_GETS, url, str(count))
        assert result.returncode == 0, (f"GET {url} from inside {namespace} failed:\n"
                                        f"{shorten(result.stderr)}")
        return [(status, body) for status, body in json.loads(result.stdout)]

    def whoami(self, namespace: str, url: str, count: int = 1) -> list[dict]:
        answers = self.get(namespace, url + "/whoami", count)
        assert all(status == 200 for status, _ in answers), (
            f"not every GET {url}/whoami from inside {namespace} got 200: {answers}")
        return [json.loads(body) for _, body in answers]

    # Cleaning up -------------------------------------------------------------------------

    def teardown(self) -> list[str]:
        """Stops every process, then deletes every namespace; returns what went wrong.
        Nothing it made may outlive the test: a namespace lives on, unnamed, as long as a
        process is still inside it."""
        problems: list[str] = []
        try:
            problems += self.servers.finish_all()
            for proxy in self.proxies:
                problems += proxy.finish()
        finally:
            for name in reversed(self.namespaces):
                problems += self._delete(name)
        left = namespaces_listed() & set(self.namespaces)
        if left:
            problems.append(f"ip netns list still shows {sorted(left)} after ip netns del")
        return problems

    @staticmethod
    def _delete(name: str) -> list[str]:
        problems = []
        pids = [int(pid) for pid in ip("netns", "pids", name, check=False).stdout.split()]
        if pids:
            # Only this test ran anything in its namespace: these are ours, left behind.
            problems.append(f"processes {pids} were still running in {name}; killed them")
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        result = ip("netns", "del", name, check=False)
        if result.returncode != 0:
            problems.append(f"ip netns del {name} failed: {result.stderr}")
        return problems


@pytest.fixture
def machines(short_dir):
    """Machines: `machines.namespace(role)`, `machines.cable(a, "198.18.0.1/24", b, ...)`,
    `machines.start(namespace, program, address, args)`, `machines.run(namespace, program,
    *args)`, ... Everything is stopped and deleted at teardown."""
    if os.geteuid() != 0:
        pytest.skip(SKIP_WITHOUT_ROOT)
    if ip_binary() is None:
        pytest.skip("needs ip (iproute2) to create network namespaces: "
                    "sudo apt-get install iproute2")
    lab = Machines(short_dir)
    yield lab
    problems = lab.teardown()
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


def refusal(result: subprocess.CompletedProcess) -> str:
    """echo_client failed: exit status 1, nothing on stdout and one line on stderr; the line."""
    lines = result.stderr.splitlines()
    assert (result.returncode, result.stdout, len(lines)) == (1, "", 1), (
        f"expected exit status 1 and one line on stderr, got {result.returncode}:\n"
        f"--- stdout ---\n{result.stdout}--- stderr ---\n{result.stderr}")
    return lines[0]


def echoed(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"echo_client failed:\n{result.stderr}"
    return result.stdout


def unix_sockets_seen(machines: Machines, namespace: Optional[str]) -> str:
    """/proc/net/unix as a process inside `namespace` (None: this test's own) reads it."""
    if namespace is None:
        return read(Path("/proc/net/unix"))
    result = machines.run(namespace, "/bin/cat", "/proc/net/unix")
    assert result.returncode == 0, result.stderr
    return result.stdout


def listening_paths(table: str) -> set[str]:
    """The paths of the listening sockets (Flags 00010000) in a /proc/net/unix table. Only
    the listeners: the server's end of a connection is created by connect() in the client's
    network namespace, and shows there, with the listener's path, until the server closes
    it."""
    paths = set()
    for line in table.splitlines()[1:]:
        fields = line.split()
        if len(fields) == 8 and fields[3] == "00010000":
            paths.add(fields[7])
    return paths


# --------------------------------------------------------------------------------------
# Unix sockets: the file crosses, the abstract name does not


def test_a_pathname_socket_is_reachable_from_another_network_namespace(machines,
                                                                       start_server):
    # The server runs here; the client in a namespace of its own, like a container that has
    # the socket's directory mounted. It finds the socket by its path and is served.
    server = start_server("echo_server", "unix")
    container = machines.namespace("container")
    result = machines.run(container, "echo_client", server.address, "hello", "from", "inside")
    assert echoed(result) == "hello from inside\n"
    # Yet /proc/net/unix (what `ss -x` reads) lists only the sockets of the reader's own
    # network namespace: inside the container the listening socket does not show.
    assert server.path in listening_paths(unix_sockets_seen(machines, None))
    assert server.path not in listening_paths(unix_sockets_seen(machines, container))


def test_a_server_inside_a_namespace_serves_this_one_through_its_socket_file(machines,
                                                                            short_dir):
    # The other way round: http_min in the "container", its socket in the shared directory,
    # the client (this test) outside. SO_PEERCRED still names the client: network
    # namespaces share the process IDs.
    container = machines.namespace("container")
    path = os.path.join(short_dir, "http.sock")
    server = machines.start(container, "http_min", f"unix:{path}",
                            ["--uds", path, "--no-access-log"], probe_from=HERE)
    with http_client(server) as client:
        assert client.get("/").content == GREETING
        answer = client.get("/whoami").json()
    assert answer["transport"] == "unix", answer
    assert answer["peer"] == {"pid": os.getpid(), "uid": os.geteuid(), "gid": os.getegid()}, (
        answer)
    assert path in listening_paths(unix_sockets_seen(machines, container))
    assert path not in listening_paths(unix_sockets_seen(machines, None))


def tool(name: str) -> str:
    """The path of `name` (also found in /usr/sbin and /sbin); skips the test if missing."""
    found = shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(path, os.X_OK)),
        None)
    if found is None:
        pytest.skip(f"{name} is not installed (./scripts/setup installs it)")
    return found


def test_ss_asks_the_kernel_over_netlink_sock_diag_not_proc_net_unix(short_dir):
    # No root needed. strace shows where `ss -xl` gets its list: a NETLINK_SOCK_DIAG socket
    # (sock_diag(7), unix_diag), not the file /proc/net/unix.
    strace, ss = tool("strace"), tool("ss")
    trace = os.path.join(short_dir, "trace.txt")
    result = subprocess.run([strace, "-f", "-e", "trace=socket,open,openat", "-o", trace, ss,
                             "-xl"], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip(f"strace may not trace here (ptrace refused): {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    calls = read(Path(trace))
    assert "socket(AF_NETLINK, SOCK_RAW|SOCK_CLOEXEC, NETLINK_SOCK_DIAG)" in calls, calls
    assert "net/unix" not in calls, calls


def test_ss_reads_proc_net_unix_only_when_told_to(short_dir):
    # The older way remains: with PROC_ROOT (or PROC_NET_UNIX) set, or when the kernel has
    # no unix_diag, ss reads the file instead. Both views are per network namespace.
    strace, ss = tool("strace"), tool("ss")
    trace = os.path.join(short_dir, "trace.txt")
    result = subprocess.run([strace, "-f", "-e", "trace=socket,open,openat", "-o", trace, ss,
                             "-xl"], capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL, env={**os.environ, "PROC_ROOT": "/proc"})
    if result.returncode != 0 and "Operation not permitted" in result.stderr:
        pytest.skip(f"strace may not trace here (ptrace refused): {result.stderr.strip()}")
    assert result.returncode == 0, result.stderr
    calls = read(Path(trace))
    assert re.search(r'open(at)?\(.*"/proc/net/unix", O_RDONLY', calls), calls
    assert "NETLINK_SOCK_DIAG" not in calls, calls


def test_ss_lists_only_the_sockets_of_its_own_network_namespace(machines, start_server):
    # The netlink socket ss opens belongs to the namespace ss runs in, and the kernel
    # answers with that namespace's sockets: a socket reachable through its file from
    # inside the container is not listed there.
    ss = tool("ss")
    server = start_server("echo_server", "unix")
    container = machines.namespace("container")
    assert echoed(machines.run(container, "echo_client", server.address, "hi")) == "hi\n"
    inside = machines.run(container, ss, "-xlH")
    assert inside.returncode == 0, inside.stderr
    assert server.path not in inside.stdout, inside.stdout
    outside = subprocess.run([ss, "-xlH"], capture_output=True, text=True, timeout=RUN_TIMEOUT)
    assert f" {server.path} " in outside.stdout, outside.stdout


# [mount_enoent]
def test_a_socket_file_outside_the_containers_mounts_gives_enoent(start_server, short_dir):
    # A container has its own mount namespace too. Here: a new mount namespace in which a
    # fresh tmpfs hides the directory holding the socket, as a container that does not
    # mount that volume. connect() finds no file: ENOENT, not ECONNREFUSED.
    if os.geteuid() != 0:
        pytest.skip("needs root to make a mount namespace and mount a tmpfs in it")
    unshare = tool("unshare")
    server = start_server("echo_server", "unix")
    command = [unshare, "--mount", "sh", "-c", 'mount -t tmpfs none "$1" && exec "$2" "$3" hi',
               "sh", short_dir, program_path("echo_client"), server.address]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    if result.returncode != 0 and ("unshare failed" in result.stderr
                                   or "cannot change root filesystem propagation" in result.stderr):
        # The second: / is not a mount point (a chroot), so it cannot be made private.
        pytest.skip(f"this machine refuses a new mount namespace: {result.stderr.strip()}")
    line = refusal(result)
    assert line == (f"echo_client: connect({server.address}): "
                    f"ENOENT (No such file or directory)")
    # Out here nothing was mounted: the same path still works.
    assert os.path.exists(server.path)
# [mount_enoent]


def test_an_abstract_socket_is_not_reachable_from_another_network_namespace(machines,
                                                                           start_server,
                                                                           run_program):
    # An abstract name has no file to share: it lives in the network namespace where it was
    # bound, and a client anywhere else finds nobody listening under that name.
    server = start_server("echo_server", "abstract")
    other = machines.namespace("other")
    line = refusal(machines.run(other, "echo_client", server.address, "hello"))
    assert line == f"echo_client: connect({server.address}): ECONNREFUSED (Connection refused)"
    # From the server's own namespace the same name works.
    assert echoed(run_program("echo_client", server.address, "hello")) == "hello\n"


def test_each_network_namespace_has_its_own_abstract_names(machines, start_server,
                                                           run_program):
    server = start_server("echo_server", "abstract")
    # Here the name is taken: a second server cannot bind it...
    line = refusal(run_program("echo_server", server.address))
    assert line == f"echo_server: bind({server.address}): EADDRINUSE (Address already in use)"
    # ...while in another namespace the same name is free, and serves that namespace.
    other = machines.namespace("other")
    machines.start(other, "echo_server", server.address)
    assert echoed(machines.run(other, "echo_client", server.address, "hello")) == "hello\n"
    assert echoed(run_program("echo_client", server.address, "hello")) == "hello\n"


def test_any_user_in_the_namespace_reaches_an_abstract_socket_but_not_a_0660_file(
        start_server, run_program_as_nobody):
    # What `--network host` hands a container: the host's abstract names, with no
    # permission check (unix(7): permissions have no meaning for abstract sockets). The
    # pathname socket next to it (mode 0660, in a directory only root may enter) refuses
    # the same user.
    abstract = start_server("echo_server", "abstract")
    pathname = start_server("echo_server", "unix")
    assert echoed(run_program_as_nobody("echo_client", abstract.address, "hi")) == "hi\n"
    line = refusal(run_program_as_nobody("echo_client", pathname.address, "hi"))
    assert line == (f"echo_client: connect({pathname.address}): "
                    f"EACCES (Permission denied)"), line


# --------------------------------------------------------------------------------------
# The loopback: one per namespace


def test_127_0_0_1_in_one_namespace_is_not_127_0_0_1_in_another(machines):
    a, b = machines.namespace("a"), machines.namespace("b")
    machines.start(a, "echo_server", f"127.0.0.1:{PORT}")
    line = refusal(machines.run(b, "echo_client", f"127.0.0.1:{PORT}", "hello"))
    assert line == f"echo_client: connect(127.0.0.1:{PORT}): ECONNREFUSED (Connection refused)"
    assert echoed(machines.run(a, "echo_client", f"127.0.0.1:{PORT}", "hello")) == "hello\n"
    # Its own ports too: the same port is free in b, and b's client gets b's server.
    machines.start(b, "echo_server", f"127.0.0.1:{PORT}")
    assert echoed(machines.run(b, "echo_client", f"127.0.0.1:{PORT}", "hello")) == "hello\n"


def test_a_new_namespace_has_its_loopback_down(machines):
    # `ip netns add` gives a namespace with one interface, lo, and lo is down: 127.0.0.1 is
    # not even routed until `ip link set lo up`.
    bare = machines.namespace("bare", loopback=False)
    line = refusal(machines.run(bare, "echo_client", f"127.0.0.1:{PORT}", "hello"))
    assert line == (f"echo_client: connect(127.0.0.1:{PORT}): "
                    f"ENETUNREACH (Network is unreachable)")
    ip_in(bare, "link", "set", "lo", "up")
    line = refusal(machines.run(bare, "echo_client", f"127.0.0.1:{PORT}", "hello"))
    assert line == f"echo_client: connect(127.0.0.1:{PORT}): ECONNREFUSED (Connection refused)"


# --------------------------------------------------------------------------------------
# Two hosts joined by a cable: TCP crosses


def two_hosts(machines: Machines) -> tuple[str, str]:
    """Namespaces host-a (198.18.0.1/24) and host-b (198.18.0.2/24), joined by a veth pair."""
    host_a, host_b = machines.namespace("host-a"), machines.namespace("host-b")
    machines.cable(host_a, f"{HOST_A}/24", host_b, f"{HOST_B}/24")
    return host_a, host_b


def test_two_hosts_joined_by_a_veth_pair_speak_http_over_tcp(machines):
    host_a, host_b = two_hosts(machines)
    address = f"{HOST_A}:{PORT}"
    server = machines.start(host_a, "http_min", address, ["--bind", address, "--no-access-log"],
                            probe_from=host_b)
    [(status, body)] = machines.get(host_b, f"http://{address}/")
    assert (status, body.encode()) == (200, GREETING)
    [answer] = machines.whoami(host_b, f"http://{address}")
    # http_min sees the other host's address: the request came over the cable.
    assert answer["transport"] == "tcp", answer
    assert answer["peer"]["ip"] == HOST_B, answer
    assert answer["worker_pid"] == server.process.pid, answer


def test_a_server_bound_to_127_0_0_1_is_not_reachable_from_the_other_host(machines):
    # The classic "it works inside the container": a server on host a's loopback answers on
    # host a only. Host b reaches host a's kernel, which has nothing listening on
    # 198.18.0.1:PORT and refuses.
    host_a, host_b = two_hosts(machines)
    machines.start(host_a, "echo_server", f"127.0.0.1:{PORT}")
    line = refusal(machines.run(host_b, "echo_client", f"{HOST_A}:{PORT}", "hello"))
    assert line == f"echo_client: connect({HOST_A}:{PORT}): ECONNREFUSED (Connection refused)"
    assert echoed(machines.run(host_a, "echo_client", f"127.0.0.1:{PORT}", "hello")) == "hello\n"


def test_a_server_bound_to_0_0_0_0_is_reachable_from_the_other_host(machines):
    # 0.0.0.0 (INADDR_ANY): every address of host a, the cable's included.
    host_a, host_b = two_hosts(machines)
    machines.start(host_a, "echo_server", f"{HOST_A}:{PORT}", [f"0.0.0.0:{PORT}"],
                   probe_from=host_b)
    assert echoed(machines.run(host_b, "echo_client", f"{HOST_A}:{PORT}", "hello")) == "hello\n"
    assert echoed(machines.run(host_a, "echo_client", f"127.0.0.1:{PORT}", "hello")) == "hello\n"


# --------------------------------------------------------------------------------------
# nginx on a front host, http_min on two others (nginx/examples/two-hosts.conf)


def two_hosts_behind_nginx(machines: Machines) -> tuple[str, dict[str, Server]]:
    """Namespaces front, host1 and host2, cables front-host1 (198.18.0.0/24) and front-host2
    (198.18.1.0/24), http_min on each host at the address two-hosts.conf names (trusting
    X-Forwarded-For from the front's address on its cable), and nginx running two-hosts.conf
    in front. Returns the front namespace and {host address: its http_min}."""
    text = read(EXAMPLES / "two-hosts.conf")
    front = machines.namespace("front")
    hosts = {}
    for number, (host, front_side) in enumerate(((HOST_1, FRONT_TO_1), (HOST_2, FRONT_TO_2)), 1):
        assert f"server {host}:{PORT}" in without_comments(text), (
            f"two-hosts.conf has no `server {host}:{PORT}`: the test and the file disagree")
        namespace = machines.namespace(f"host{number}")
        machines.cable(front, f"{front_side}/24", namespace, f"{host}/24")
        hosts[host] = machines.start(namespace, "http_min", f"{host}:{PORT}",
                                     ["--bind", f"{host}:{PORT}", "--forwarded-allow",
                                      front_side, "--no-access-log"], probe_from=front)
    machines.start_nginx(front, text, "two-hosts.conf")
    return front, hosts


def test_nginx_in_front_balances_over_http_min_on_two_hosts(machines):
    front, hosts = two_hosts_behind_nginx(machines)
    answers = machines.whoami(front, f"http://127.0.0.1:{NGINX_PORT}", count=6)
    # Both hosts answered, each reached over its own cable (the peer is the front's address
    # on that cable), and each trusted nginx's word that the client was 127.0.0.1.
    by_host = {HOST_1: FRONT_TO_1, HOST_2: FRONT_TO_2}
    answered = {answer["worker_pid"] for answer in answers}
    assert answered == {server.process.pid for server in hosts.values()}, answers
    for answer in answers:
        host = next(host for host, server in hosts.items()
                    if server.process.pid == answer["worker_pid"])
        assert answer["transport"] == "tcp", answer
        assert answer["peer"]["ip"] == by_host[host], answer
        assert answer["forwarded_for"] == "127.0.0.1", answer


def test_when_one_host_is_down_nginx_sends_everything_to_the_other(machines):
    # proxy-retry.conf at work across hosts: host2's port refuses connections, nginx passes
    # each request it gave host2 on to host1, and no client sees an error.
    front, hosts = two_hosts_behind_nginx(machines)
    assert hosts[HOST_2].stop() == 0, hosts[HOST_2].describe()
    answers = machines.whoami(front, f"http://127.0.0.1:{NGINX_PORT}", count=4)
    assert {answer["worker_pid"] for answer in answers} == {hosts[HOST_1].process.pid}, answers

