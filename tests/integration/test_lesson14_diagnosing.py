"""Chapter 14, diagnosing sockets: what strace, ss, lsof, socat and /proc show about the
course's own programs, asserted line by line.

Each test starts echo_server or http_min, looks at it with one tool, and checks that the
tool shows what lessons/14-diagnosing/README.md says it shows: the system calls in order,
the process and path behind a socket, the two ends of one Unix connection matched by inode,
TCP's internals, the bytes that cross a tap. A test whose tool is missing is skipped, naming
the Debian package (scripts/setup installs them all).

Each test demonstrates one claim of the chapter."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from typing import Optional

import pytest

from course_support.http import GREETING, connect, http_request
from course_support.polling import poll_until, wait_until
from course_support.processes import Server, children_of, run
from course_support.programs import program_path
from course_support.sockets import connect_to, free_port
from course_support.timeouts import READY_TIMEOUT, STOP_TIMEOUT

# The Debian package each tool comes in, for the skip message.
PACKAGES = {"strace": "strace", "ss": "iproute2", "lsof": "lsof", "socat": "socat",
            "ip": "iproute2", "nsenter": "util-linux"}


def tool(name: str) -> str:
    """The path of `name`; skips the test, naming the package to install, if it is missing.
    (ss lives in /usr/sbin on some systems, which an ordinary PATH leaves out.)"""
    found = shutil.which(name) or next(
        (path for path in (f"/usr/sbin/{name}", f"/sbin/{name}") if os.access(path, os.X_OK)),
        None)
    if found is None:
        pytest.skip(f"{name} is not installed: sudo apt-get install {PACKAGES[name]} "
                    f"(or ./scripts/setup)")
    return found


def output_of(*command: str) -> str:
    """The stdout of a command that must succeed (its stderr is shown if it does not)."""
    result = run(list(command))
    assert result.returncode == 0, f"{' '.join(command)} failed:\n{result.stderr}"
    return result.stdout


def listening_socket(server: Server) -> tuple[int, int]:
    """(descriptor, inode) of the server's listener, once it holds no other socket: the
    connection that found it ready may still be open on its side for a moment."""
    held: dict[int, int] = {}

    def listener_only() -> bool:
        held.clear()
        held.update(socket_inodes(server.process.pid))
        return len(held) == 1

    wait_until(listener_only, "the server to hold its listening socket only", READY_TIMEOUT)
    [(fd, inode)] = held.items()
    return fd, inode


def socket_inodes(pid: int) -> dict[int, int]:
    """{descriptor: inode} for every socket `pid` holds: /proc/PID/fd/N links read
    'socket:[INODE]'."""
    found = {}
    for entry in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{entry}")
        except OSError:
            continue  # closed while we looked
        matched = re.fullmatch(r"socket:\[(\d+)\]", target)
        if matched:
            found[int(entry)] = int(matched.group(1))
    return found


def proc_net_unix() -> dict[int, list[str]]:
    """/proc/net/unix by inode: {inode: [Num, RefCount, Protocol, Flags, Type, St, Inode,
    Path (if any)]}."""
    with open("/proc/net/unix") as table:
        rows = [line.split() for line in table.read().splitlines()[1:]]
    return {int(row[6]): row for row in rows}


def ss_rows(output: str) -> list[list[str]]:
    """The lines of `ss -H` output, split into fields."""
    return [line.split() for line in output.splitlines() if line.strip()]


# --------------------------------------------------------------------------------------
# strace: the system calls, in order


def test_strace_shows_the_servers_socket_bind_listen_accept4_and_the_bytes(short_dir,
                                                                          start_server,
                                                                          run_program):
    strace = tool("strace")
    path = os.path.join(short_dir, "traced.sock")
    trace = os.path.join(short_dir, "trace.txt")
    # strace runs echo_server as its child and writes every network and descriptor call
    # (-e trace=network,desc) of it, and of anything it forks (-f), to the file (-o).
    traced = start_server.keep(Server(
        "echo_server", f"unix:{path}",
        [strace, "-f", "-e", "trace=network,desc", "-o", trace, program_path("echo_server"),
         f"unix:{path}"], cwd=short_dir,
        # LeakSanitizer (in the sanitizer build) cannot run under ptrace and would abort.
        env={"ASAN_OPTIONS": ":".join(filter(None, [os.environ.get("ASAN_OPTIONS"),
                                                    "detect_leaks=0"]))}))
    outcome, error = traced.accepting_or_ended()
    if outcome == "ended" and "Operation not permitted" in traced.output():
        traced.stop()
        pytest.skip(f"strace may not trace here (ptrace refused):\n{traced.output()}")
    assert outcome == "accepting", f"{error}\n{traced.describe()}"
    assert run_program("echo_client", f"unix:{path}", "hello").stdout == "hello\n"
    # Stop the traced server itself: strace then ends with its exit status.
    [server] = children_of(traced.process.pid)
    os.kill(server, signal.SIGTERM)
    assert poll_until(traced.has_ended, STOP_TIMEOUT), traced.describe()
    assert traced.stop() == 0, traced.describe()
    with open(trace) as text:
        lines = text.read()
    listening = re.search(r"socket\(AF_UNIX, SOCK_STREAM\|SOCK_CLOEXEC, 0\)\s+= (\d+)", lines)
    assert listening, lines
    fd = listening.group(1)
    # The address length bind() was given: 2 bytes of sun_family, the path, its NUL.
    length = 2 + len(path) + 1
    address = rf"\{{sa_family=AF_UNIX, sun_path=\"{re.escape(path)}\"\}}"
    order = [rf"bind\({fd}, {address}, {length}\)\s+= 0",
             rf"listen\({fd}, \d+\)\s+= 0",
             rf"accept4\({fd}, .*SOCK_CLOEXEC\)\s+= (\d+)"]
    position = listening.end()
    for pattern in order:
        found = re.compile(pattern).search(lines, position)
        assert found, f"no {pattern!r} after position {position} in:\n{lines}"
        position = found.end()
    connection = found.group(1)
    # The bytes themselves, as the server read them from the accepted connection.
    assert re.search(rf"recvfrom\({connection}, \"hello\\n\", ", lines), lines
    assert re.search(rf"sendto\({connection}, \"hello\\n\", 6, .*MSG_NOSIGNAL", lines), lines
    assert not os.path.exists(path)


# --------------------------------------------------------------------------------------
# ss: the kernel's table of sockets, with the processes holding them


def test_ss_xlp_shows_the_listening_servers_path_pid_and_descriptor(start_server):
    ss = tool("ss")
    server = start_server("echo_server", "unix")
    fd, inode = listening_socket(server)
    rows = ss_rows(output_of(ss, "-xlpH", "src", server.path))
    assert len(rows) == 1, rows
    netid, state, _recv_q, _send_q, local, local_inode, *_ = rows[0]
    assert (netid, state, local, int(local_inode)) == ("u_str", "LISTEN", server.path, inode)
    assert f'users:(("echo_server",pid={server.process.pid},fd={fd}))' in rows[0][-1], rows


# [two_ends]
def test_ss_matches_the_two_ends_of_a_unix_connection_by_inode(start_server):
    ss = tool("ss")
    server = start_server("echo_server", "unix")
    listening = {listening_socket(server)[1]}
    with connect_to(server.address) as client:
        client.sendall(b"hello\n")
        assert client.recv(16) == b"hello\n"  # accepted and served: both ends exist
        mine = os.fstat(client.fileno()).st_ino  # the same number /proc/self/fd shows
        rows = ss_rows(output_of(ss, "-xpH"))
        by_inode = {int(row[5]): row for row in rows if row[0] == "u_str"}
        # Our end: no name of its own ('*'), its peer is the server's accepted socket...
        ours = by_inode[mine]
        assert ours[4] == "*", ours
        theirs = by_inode[int(ours[7])]
        # ...which carries the listener's path as its name, names our inode as its peer,
        # and is held by echo_server (a socket apart from the listening one).
        assert (theirs[4], int(theirs[7])) == (server.path, mine), theirs
        assert f"pid={server.process.pid}," in theirs[-1], theirs
        assert int(theirs[5]) not in listening
# [two_ends]


def test_ss_tie_shows_tcp_internals_and_the_socket_inode(start_server):
    ss = tool("ss")
    with open("/proc/sys/net/ipv4/tcp_congestion_control") as sysctl:
        congestion_control = sysctl.read().strip()
    server = start_server("echo_server", "tcp")
    listening = {listening_socket(server)[1]}
    with connect_to(server.address) as client:
        client.sendall(b"hello\n")
        assert client.recv(16) == b"hello\n"
        rows = output_of(ss, "-tieH", "state", "established",
                         f"( sport = :{server.port} )").splitlines()
        accepted = set(socket_inodes(server.process.pid).values()) - listening
    # One connection: a summary line, then the TCP_INFO line (indented).
    assert len(rows) == 2, rows
    summary, info = rows[0].split(), rows[1].split()
    assert any(field == f"ino:{inode}" for field in summary for inode in accepted), (rows,
                                                                                       accepted)
    # The congestion control in use is the sysctl's default (nothing here sets another).
    assert congestion_control in info, (congestion_control, rows)
    assert any(re.fullmatch(r"rtt:[\d.]+/[\d.]+", field) for field in info), rows
    assert any(re.fullmatch(r"cwnd:\d+", field) for field in info), rows
    assert "bytes_received:6" in info, rows  # "hello\n": what the server received


# --------------------------------------------------------------------------------------
# lsof: open files, sockets among them


def test_lsof_u_lists_the_listening_socket_with_its_inode_and_path(start_server):
    lsof = tool("lsof")
    server = start_server("echo_server", "unix")
    fd, inode = listening_socket(server)
    # -U: Unix sockets only; -a: and (not or) -p: of this process.
    result = run([lsof, "-U", "-a", "-p", str(server.process.pid)])
    rows = [line.split() for line in result.stdout.splitlines()[1:]]
    assert rows, f"lsof listed nothing:\n{result.stdout}{result.stderr}"
    [row] = [row for row in rows if row[3] == f"{fd}u"]
    # COMMAND PID USER FD TYPE DEVICE SIZE/OFF NODE NAME: the NODE is the inode.
    assert (row[1], row[4], row[7], row[8]) == (str(server.process.pid), "unix", str(inode),
                                                server.path), row
    assert "LISTEN" in " ".join(row[9:]), row


# --------------------------------------------------------------------------------------
# socat: a client, a proxy, a tap


def test_socat_as_a_client_speaks_http_to_http_min(start_server):
    socat = tool("socat")
    server = start_server("http_min", "unix", ["--uds", "{path}", "--no-access-log"])
    request = http_request("GET", "/", [("Connection", "close")])
    result = run([socat, "-", f"UNIX-CONNECT:{server.path}"], input=request, text=False)
    assert result.returncode == 0, result.stderr
    head, _, body = result.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 "), result.stdout
    assert body == GREETING


def start_socat(start_server, short_dir: str, listen: str, address: str,
                *options: str) -> Server:
    """socat OPTIONS LISTEN UNIX-CONNECT:PATH as a server reached at `address` (course
    syntax), once a connection to it succeeds."""
    socat = tool("socat")
    proxy = start_server.keep(Server("socat", address, [socat, *options, listen,
                                                        f"UNIX-CONNECT:{short_dir}/http.sock"],
                                     cwd=short_dir))
    proxy.wait_until_accepting(READY_TIMEOUT)
    return proxy


def stop_socat(proxy: Server) -> None:
    # socat ends with status 143 (128 + SIGTERM) when told to stop, and removes the socket
    # file it listened on.
    assert proxy.stop() == 143, proxy.describe()
    if proxy.path is not None:
        assert not os.path.exists(proxy.path)


def test_socat_proxies_tcp_to_a_unix_socket_and_the_server_sees_socat(start_server,
                                                                      short_dir):
    server = start_server("http_min", "unix", ["--uds", "{path}", "--no-access-log"],
                          address=f"unix:{short_dir}/http.sock")
    port = free_port()
    proxy = start_socat(start_server, short_dir,
                        f"TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork",
                        f"127.0.0.1:{port}")
    with connect(proxy) as connection:
        connection.send(http_request("GET", "/whoami"))
        answer = connection.read_response().json()
        forked = children_of(proxy.process.pid)  # while the connection is open
    # The client spoke TCP to socat; http_min saw a Unix socket, and as its peer the child
    # socat forked for this connection.
    assert answer["transport"] == "unix", answer
    assert answer["peer"]["pid"] in forked, (answer, forked)
    stop_socat(proxy)
    assert server.process.poll() is None


def test_socat_tap_between_two_unix_sockets_shows_the_bytes_both_ways(start_server,
                                                                     short_dir):
    start_server("http_min", "unix", ["--uds", "{path}", "--no-access-log"],
                 address=f"unix:{short_dir}/http.sock")
    tap = os.path.join(short_dir, "tap.sock")
    # -v: every block of bytes that passes is written to stderr, '>' for the client's,
    # '<' for the server's.
    proxy = start_socat(start_server, short_dir, f"UNIX-LISTEN:{tap},fork", f"unix:{tap}",
                        "-v")
    with connect(proxy) as connection:
        connection.send(http_request("GET", "/healthz", host="tapped"))
        response = connection.read_response()
    assert response.status == 200
    shown = wait_until(lambda: "HTTP/1.1 200" in proxy.output() and proxy.output(),
                       "socat -v showing the response")
    assert re.search(r"^> .* length=\d+ from=\d+ to=\d+$", shown, re.M), shown
    assert "GET /healthz HTTP/1.1" in shown and "Host: tapped" in shown, shown
    assert re.search(r"^< .* length=\d+ from=\d+ to=\d+$", shown, re.M), shown
    stop_socat(proxy)


# --------------------------------------------------------------------------------------
# /proc: descriptors and the kernel's list of Unix sockets


def test_proc_pid_fd_names_the_socket_inode_that_proc_net_unix_lists_with_its_path(
        start_server):
    server = start_server("echo_server", "unix")
    fd, inode = listening_socket(server)
    assert os.readlink(f"/proc/{server.process.pid}/fd/{fd}") == f"socket:[{inode}]"
    row = proc_net_unix()[inode]
    # Flags 00010000: listening (__SO_ACCEPTCON); Type 0001: SOCK_STREAM; St 01: not
    # connected; then the inode and the path.
    assert row[3:] == ["00010000", "0001", "01", str(inode), server.path], row
    with connect_to(server.address) as client:
        client.sendall(b"hello\n")
        assert client.recv(16) == b"hello\n"
        accepted = set(socket_inodes(server.process.pid).values()) - {inode}
        table = proc_net_unix()
        [connection] = accepted
        # The accepted socket: connected (St 03), and listed with the listener's path.
        assert table[connection][3:] == ["00000000", "0001", "03", str(connection),
                                         server.path], table[connection]
        # Our end has no path: its row ends at the inode.
        mine = os.fstat(client.fileno()).st_ino
        assert table[mine][5:] == ["03", str(mine)], table[mine]


# --------------------------------------------------------------------------------------
# ss -tio: a TCP peer that goes silent (root: two network namespaces and a cable)

# Inside host b, once the server listens: connects to host a, gets one line
# echoed, says "ready", then on "go" sends two more bytes, which will never be
# acknowledged, and waits until its input closes.
SILENCED_CLIENT = """
import socket, sys
connection = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=10)
connection.sendall(b"a\\n")
assert connection.recv(16) == b"a\\n"
print("ready", flush=True)
sys.stdin.readline()
connection.sendall(b"b\\n")
sys.stdin.read()
"""


def test_ss_tio_shows_the_retransmission_timer_when_the_peer_goes_silent(short_dir):
    if os.geteuid() != 0:
        pytest.skip("needs root to make two network namespaces and a veth cable")
    ip, ss, nsenter = tool("ip"), tool("ss"), tool("nsenter")
    names = [f"c14-{os.getpid()}-a", f"c14-{os.getpid()}-b"]
    ends = [f"v{os.getpid()}a", f"v{os.getpid()}b"]  # interface names: 15 bytes at most
    started: list[subprocess.Popen] = []
    made: list[str] = []

    def ip_ok(*args: str) -> None:
        result = run([ip, *args])
        assert result.returncode == 0, f"ip {' '.join(args)}: {result.stderr}"

    def inside(name: str, *command: str) -> list[str]:
        return [nsenter, f"--net=/run/netns/{name}", *command]

    def ip_in(name: str, *args: str) -> None:
        # nsenter, not `ip -n`: that also remounts /sys, which fails in a chroot.
        result = run(inside(name, ip, *args))
        assert result.returncode == 0, f"ip {' '.join(args)} in {name}: {result.stderr}"

    try:
        for name in names:
            result = run([ip, "netns", "add", name])
            if result.returncode != 0 and not made:
                pytest.skip(f"cannot create a network namespace here: {result.stderr.strip()}")
            assert result.returncode == 0, result.stderr
            made.append(name)
        ip_ok("link", "add", ends[0], "netns", names[0], "type", "veth", "peer", "name",
              ends[1], "netns", names[1])
        for name, end, address in zip(names, ends, ("198.18.7.1/24", "198.18.7.2/24")):
            ip_in(name, "addr", "add", address, "dev", end)
            ip_in(name, "link", "set", end, "up")
        started.append(subprocess.Popen(inside(names[0], program_path("echo_server"),
                                               "198.18.7.1:8000"),
                                        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL))
        # Ready when host a's kernel lists the listener: then the client connects once.
        def listening() -> bool:  # (poll_until takes an empty string for an answer)
            return bool(run(inside(names[0], ss, "-Htln", "sport", "=", ":8000")).stdout.strip())

        assert poll_until(listening, READY_TIMEOUT), "echo_server never listened in host a"
        client = subprocess.Popen(inside(names[1], "/usr/bin/python3", "-c", SILENCED_CLIENT,
                                         "198.18.7.1", "8000"),
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        started.append(client)
        assert client.stdout.readline() == "ready\n"
        # Host a's end of the cable goes down: host b's segments are sent into nothing.
        ip_in(names[0], "link", "set", ends[0], "down")
        client.stdin.write("go\n")
        client.stdin.flush()

        def retransmitting() -> Optional[list[str]]:
            lines = output_of(*inside(names[1], ss, "-tioH", "state", "established")).split()
            backoff = [field for field in lines if field.startswith("backoff:")]
            return lines if backoff and int(backoff[0].split(":")[1]) >= 2 else None

        fields = poll_until(retransmitting, 20.0)
        assert fields, output_of(*inside(names[1], ss, "-tioH", "state", "established"))
        # The two bytes wait in Send-Q, unacknowledged; the retransmission timer is on and
        # counts its retries; the congestion window has fallen to one segment.
        assert fields[1] == "2", fields
        timer = next(field for field in fields if field.startswith("timer:(on,"))
        assert int(timer.rstrip(")").split(",")[-1]) >= 2, timer
        assert "cwnd:1" in fields, fields
    finally:
        for process in started:
            process.kill()
            process.wait()
        for name in made:
            run([ip, "netns", "del", name])
