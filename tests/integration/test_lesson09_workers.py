"""Chapter 09, workers: http_min's pre-forked workers share the listening sockets the master
bound once.

Each test demonstrates one claim of lessons/09-workers/README.md against the real server."""

import os
import signal
import socket

import httpx

from conftest import STOP_TIMEOUT, _poll_until


def _workers_of(master_pid):
    """The pids of the master's children (its workers)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
        except OSError:
            continue  # gone meanwhile
        if int(fields[1]) == master_pid and fields[0] != "Z":
            children.append(int(entry))
    return sorted(children)


def _state(pid):
    with open(f"/proc/{pid}/stat") as stat:
        return stat.read().rsplit(")", 1)[1].split()[0]


def _whoami(path):
    with httpx.Client(transport=httpx.HTTPTransport(uds=path), timeout=10) as client:
        response = client.get("http://localhost/whoami")
    assert response.status_code == 200, response.text
    return response.json()


def _start_workers(start_server, count=2):
    server = start_server("http_min", "unix",
                          ["--uds", "{path}", "--workers", str(count), "--no-access-log"])
    pid = server.process.pid
    assert _poll_until(lambda: len(_workers_of(pid)) == count, STOP_TIMEOUT), server.describe()
    return server


def test_workers_serve_the_unix_socket_not_tcp(start_server):
    # The bug of uvicorn issue 428: with --workers, --uds was ignored and the workers served
    # TCP on 127.0.0.1:8000, so nginx, pointed at the socket, answered 503. Here: a worker
    # answers on the Unix socket, and no process of the server listens on TCP at all.
    server = _start_workers(start_server)
    answer = _whoami(server.path)
    assert answer["transport"] == "unix"
    assert answer["worker_pid"] in _workers_of(server.process.pid)
    for pid in [server.process.pid, *_workers_of(server.process.pid)]:
        inodes = {os.readlink(f"/proc/{pid}/fd/{fd}")[len("socket:["):-1]
                  for fd in os.listdir(f"/proc/{pid}/fd")
                  if os.readlink(f"/proc/{pid}/fd/{fd}").startswith("socket:")}
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            with open(table) as listing:
                rows = [line.split() for line in listing.readlines()[1:]]
            listening = {row[9] for row in rows if row[3] == "0A"}  # 0A: LISTEN
            assert not inodes & listening, f"process {pid} listens on TCP"


def test_every_worker_accepts_from_the_one_socket(start_server):
    # Both workers wait on the same listening socket. Freeze the one that answers (SIGSTOP):
    # the next connection is accepted by the other, from the very same socket file.
    server = _start_workers(start_server)
    first = _whoami(server.path)["worker_pid"]
    os.kill(first, signal.SIGSTOP)
    try:
        assert _poll_until(lambda: _state(first) == "T", STOP_TIMEOUT)
        second = _whoami(server.path)["worker_pid"]
    finally:
        os.kill(first, signal.SIGCONT)
    assert second != first
    assert sorted([first, second]) == _workers_of(server.process.pid)


def test_a_dead_worker_is_replaced(start_server):
    server = _start_workers(start_server)
    victim = _workers_of(server.process.pid)[0]
    os.kill(victim, signal.SIGKILL)
    assert _poll_until(lambda: len(_workers_of(server.process.pid)) == 2
                       and victim not in _workers_of(server.process.pid), STOP_TIMEOUT), \
        server.describe()
    server.wait_for_output(rf"worker {victim} died")
    assert _whoami(server.path)["transport"] == "unix"


def test_sigterm_stops_the_master_and_every_worker(start_server):
    server = _start_workers(start_server, 3)
    workers = _workers_of(server.process.pid)
    # A client in the middle of a keep-alive connection does not hold the shutdown up.
    with socket.socket(socket.AF_UNIX) as idle:
        idle.connect(server.path)
        idle.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        assert idle.recv(4096).startswith(b"HTTP/1.1 200")
        assert server.stop() == 0, server.describe()
    assert not os.path.exists(server.path)
    for worker in workers:
        assert not os.path.exists(f"/proc/{worker}") or _state(worker) == "Z"


def test_whoami_names_the_worker_not_the_master(start_server):
    server = _start_workers(start_server)
    answer = _whoami(server.path)
    assert answer["worker_pid"] != server.process.pid
    assert answer["worker_pid"] in _workers_of(server.process.pid)
    assert answer["peer"]["pid"] == os.getpid()  # and the peer is still us, via SO_PEERCRED
