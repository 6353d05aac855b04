"""Chapter 10, behind nginx: the operator's files that put http_min on a Unix socket under
Apache, systemd and supervisord (nginx/apache/, nginx/systemd/, nginx/supervisor/), each run
for real from the Debian packages, with its paths moved to the test's directory.

- Apache proxies to http_min's socket with the very ProxyPass line of nginx/apache/, at
  server level and inside a <VirtualHost>.
- systemd-analyze verifies the two units; then the socket is made as http_min.socket says
  (path, mode, group) and the ExecStart of http_min.service runs on it as descriptor 3 with
  LISTEN_FDS and LISTEN_PID, directly or through systemd-socket-activate. (Nothing here
  needs a running systemd.) And why none of the files puts the socket under /tmp: a
  service with PrivateTmp=yes cannot see it there.
- supervisord runs the three numbered http_min processes of nginx/supervisor/, restarts one
  that is killed, and stops them all, leaving no socket file.

As root, Apache's workers and supervisord's programs switch to www-data, as on a real
server, so the socket permissions are tested too; as another user everything runs as that
user. Whatever happens, no process started here outlives its test (see the
`nothing_left_running` fixture) and the test's directory is removed."""

from __future__ import annotations

import grp
import os
import pwd
import re
import shlex
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path
from typing import Optional

import httpx
import pytest

from course_support.timeouts import IO_TIMEOUT, READY_TIMEOUT, RUN_TIMEOUT, STOP_TIMEOUT
from course_support.polling import poll_until, wait_until
from course_support.programs import REPO_ROOT, program_path
from course_support.sockets import connect_to, free_port
from course_support.processes import Server, has_exited, proc_stat, processes
from course_support.http import GREETING, HttpConnection, get, http_request, start_http_min
from course_support.managers import (SUPERVISORD_CONFIG, LoggingServer, processes_mentioning,
                                     rewritten, supervisord_program, write_file)
from course_support.activation import (as_descriptor_3, bind_like_systemd, read_unit,
                                       stop_and_keep_the_file, unit_setting, verify_units)

APACHE_CONF = REPO_ROOT / "nginx" / "apache" / "http_min.conf"
SOCKET_UNIT = REPO_ROOT / "nginx" / "systemd" / "http_min.socket"
SERVICE_UNIT = REPO_ROOT / "nginx" / "systemd" / "http_min.service"
SUPERVISOR_CONF = REPO_ROOT / "nginx" / "supervisor" / "http_min.conf"

# What the operator's files name, and the tests replace with the build and a temporary
# directory.
INSTALLED_BINARY = "/usr/local/bin/http_min"
RUN_DIR = "/run/http_min/"
SUPERVISOR_LOG_DIR = "/var/log/supervisor/"
PROXY_ACCOUNT = "www-data"  # Debian's user (and group) for nginx and Apache workers

APACHE_MODULES = "/usr/lib/apache2/modules"  # Debian's apache2-bin puts them here


# --------------------------------------------------------------------------------------
# Helpers (specific to this file: the servers in front of http_min and the managers that
# run it)


def find_program(name: str) -> str:
    """A system program, also looked for in /usr/sbin and /sbin (apache2 lives there, and
    a normal user's PATH may lack them); skips the test if it is not installed."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"])
    path = shutil.which(name, path=search)
    if path is None:
        pytest.skip(f"{name} is not installed (./scripts/setup installs it)")
    return path


def proxy_account() -> tuple[str, int, int]:
    """(user name, uid, gid) the proxy's workers and the supervised programs run as: as
    root, www-data (Apache and supervisord switch to it, as in production); otherwise the
    current user, since only root can switch."""
    if os.geteuid() == 0:
        try:
            entry = pwd.getpwnam(PROXY_ACCOUNT)
            return entry.pw_name, entry.pw_uid, entry.pw_gid
        except KeyError:
            pytest.skip(f"there is no user {PROXY_ACCOUNT} to run the proxy as (Debian has one)")
    return pwd.getpwuid(os.getuid()).pw_name, os.getuid(), os.getgid()


def group_name(gid: int) -> str:
    return grp.getgrgid(gid).gr_name


def real_uid(pid: int) -> Optional[int]:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("Uid:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def whoami_at(path: str) -> Optional[dict]:
    """http_min's /whoami over the Unix socket at `path`, or None if nothing accepts there
    (yet): no file, or a file nobody listens on."""
    try:
        with HttpConnection(connect_to(f"unix:{path}")) as connection:
            connection.send(http_request("GET", "/whoami"))
            return connection.read_response().json()
    except OSError:
        return None


# --------------------------------------------------------------------------------------
# Apache


APACHE_CONFIG = """\
# Written by test_lesson10_service_managers.py: just enough of an Apache to proxy.
ServerRoot "{dir}"
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
LoadModule proxy_module {modules}/mod_proxy.so
LoadModule proxy_http_module {modules}/mod_proxy_http.so
ServerName localhost
Listen 127.0.0.1:{port}
PidFile "{dir}/apache.pid"
ErrorLog "{dir}/apache-error.log"
DefaultRuntimeDir "{dir}"
# Few processes and threads: tests run in parallel.
StartServers 1
ThreadsPerChild 4
MinSpareThreads 1
MaxSpareThreads 8
MaxRequestWorkers 8
{account}
{site}
"""

SITES = {
    "server-level": 'Include "{include}"',
    "virtualhost": '<VirtualHost 127.0.0.1:{port}>\n    Include "{include}"\n</VirtualHost>',
}


def start_apache(start_server, short_dir: str, include: str, site: str) -> LoggingServer:
    """apache2 -DFOREGROUND with a minimal configuration of our own that Includes `include`
    at server level or inside a <VirtualHost>, on a free port of 127.0.0.1; returns once it
    accepts connections (its address is then 127.0.0.1:PORT)."""
    apache = find_program("apache2")
    for module in ("mpm_event", "authz_core", "proxy", "proxy_http"):
        if not os.path.exists(f"{APACHE_MODULES}/mod_{module}.so"):
            pytest.skip(f"{APACHE_MODULES}/mod_{module}.so is missing (package apache2-bin)")
    account = ""
    if os.geteuid() == 0:  # root: the workers switch user, as Debian's apache2.conf has it
        user, _, gid = proxy_account()
        account = f"User {user}\nGroup {group_name(gid)}"
    config = os.path.join(short_dir, "httpd.conf")
    error_log = os.path.join(short_dir, "apache-error.log")
    for _ in range(3):  # another test may take the free port first
        port = free_port()
        write_file(config, APACHE_CONFIG.format(
            dir=short_dir, modules=APACHE_MODULES, port=port, account=account,
            site=SITES[site].format(include=include, port=port)))
        server = LoggingServer("apache2", f"127.0.0.1:{port}",
                               [apache, "-f", config, "-DFOREGROUND"], short_dir, error_log)
        start_server.keep(server)  # whatever happens, teardown stops it
        outcome, _ = server.accepting_or_ended(READY_TIMEOUT)
        if outcome == "accepting":
            return server
        server.stopped_by_test = True  # reported here; teardown only makes sure it is gone
        server.kill()
        if "Address already in use" not in server.output() + server.log():
            break
    pytest.fail(f"apache2 did not accept connections on {server.address}.\n{server.describe()}",
                pytrace=False)


@pytest.mark.parametrize("site", SITES)
def test_apache_proxies_to_http_min_over_its_unix_socket(nothing_left_running, start_server,
                                                         short_dir, site):
    # The Apache file as an operator installs it, with /run/http_min/ moved here. http_min
    # listens where ProxyPass points, in a socket file its worker user may connect to.
    user, uid, gid = proxy_account()
    socket_path = os.path.join(short_dir, "http_min.sock")
    include = write_file(os.path.join(short_dir, "http_min.conf"), rewritten(APACHE_CONF, {
        f'"unix:{RUN_DIR}http_min.sock|http://localhost/"':
            f'"unix:{socket_path}|http://localhost/"'}))
    os.chown(short_dir, -1, gid)
    os.chmod(short_dir, 0o710)  # the proxy's group may pass through, not list
    backend = start_server("http_min", address=f"unix:{socket_path}", extra_args=[
        "--uds", "{path}", "--uds-group", group_name(gid), "--forwarded-allow", "unix"])
    apache = start_apache(start_server, short_dir, include, site)

    with httpx.Client(base_url=f"http://{apache.address}", timeout=IO_TIMEOUT,
                      trust_env=False) as client:
        greeting = client.get("/")
        assert greeting.status_code == 200 and greeting.content == GREETING, apache.describe()
        assert greeting.headers["server"] == "http_min"
        whoami = client.get("/whoami")
        assert whoami.status_code == 200, apache.describe()
        answer = whoami.json()
        # It came over the Unix socket, from one of Apache's worker processes, as the worker
        # user; Apache added X-Forwarded-For, which http_min believes from a Unix peer.
        assert answer["transport"] == "unix", answer
        assert answer["worker_pid"] == backend.process.pid
        peer = proc_stat(answer["peer"]["pid"])
        assert peer is not None and peer["ppid"] == apache.process.pid, (
            f"the peer {answer['peer']} is not a child of apache2 ({apache.process.pid})")
        assert answer["peer"]["uid"] == uid, f"Apache's workers should run as {user}: {answer}"
        assert answer.get("forwarded_for") == "127.0.0.1", answer

        # No http_min on the socket: Apache cannot connect and answers 503 itself.
        assert backend.stop() == 0 and not os.path.lexists(socket_path), backend.describe()
        assert client.get("/").status_code == 503

    # SIGTERM: Apache exits 0, having stopped its children itself.
    os.kill(apache.process.pid, signal.SIGTERM)
    wait_until(lambda: has_exited(apache.process.pid), "apache2 exiting", STOP_TIMEOUT)
    left = processes(lambda info: info["pgrp"] == apache.process.pid)
    assert not left, f"apache2's children outlived it: {sorted(left)}"
    assert apache.stop() == 0, apache.describe()


# --------------------------------------------------------------------------------------
# systemd


def test_systemd_analyze_verify_accepts_the_units(short_dir, require_tool):
    # The units as they are, but for ExecStart's binary (verify checks that it exists and is
    # executable): no unknown key, no bad value, Requires= resolves. verify only warns about
    # most mistakes, so any line naming the units fails the test, not only the exit status.
    analyze = require_tool("systemd-analyze")
    socket_unit = os.path.join(short_dir, "http_min.socket")
    service_unit = os.path.join(short_dir, "http_min.service")
    shutil.copyfile(SOCKET_UNIT, socket_unit)
    write_file(service_unit, rewritten(SERVICE_UNIT, {
        f"ExecStart={INSTALLED_BINARY} ": f"ExecStart={program_path('http_min')} "}))
    verify_units(analyze, [socket_unit, service_unit], short_dir)


# Run inside the private mount namespace: what connect() says about the path in argv[1].
CONNECT_AND_TELL = """
import errno, socket, sys
client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
try:
    client.connect(sys.argv[1])
    print("connected")
except OSError as error:
    print(errno.errorcode.get(error.errno, error.errno))
"""


def test_a_service_with_private_tmp_cannot_see_a_socket_under_tmp(start_server, short_dir):
    # Why every file here puts the socket in /run/http_min: PrivateTmp=yes (Debian's
    # apache2.service has it, http_min.service too) mounts a /tmp of the service's own over
    # /tmp. Modelled with unshare: a new mount namespace with an empty tmpfs on /tmp, as
    # such a proxy sees the machine. (As another user, unshare needs user namespaces.)
    debian_apache = Path("/lib/systemd/system/apache2.service")
    if debian_apache.exists():
        assert unit_setting(read_unit(debian_apache), "Service", "PrivateTmp") in (
            "true", "yes"), f"{debian_apache} no longer has PrivateTmp: fix the comments"
    unshare = find_program("unshare")
    server = start_http_min(start_server, "unix", "--no-access-log")
    assert server.path.startswith("/tmp/")
    namespace = [unshare, "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        namespace[1:1] = ["--map-root-user"]
    script = 'mount -t tmpfs private-tmp /tmp && exec "$0" -c "$1" "$2"'
    command = [*namespace, "--", "/bin/sh", "-c", script, sys.executable, CONNECT_AND_TELL,
               server.path]
    result = subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                            stdin=subprocess.DEVNULL)
    said = result.stdout.strip()
    if result.returncode != 0 or not said:
        pytest.skip(f"cannot make a private /tmp here ({' '.join(namespace)}: exit status "
                    f"{result.returncode}): {result.stderr.strip()}")
    assert said == "ENOENT", f"inside a private /tmp, connect({server.path}) gave {said}"
    assert get(server, "/healthz").body == b"ok"  # while, outside, it serves


@pytest.mark.parametrize("handover", ["sd_listen_fds", "systemd-socket-activate"])
def test_the_service_serves_the_socket_the_socket_unit_describes(start_server, short_dir,
                                                                 require_tool, handover):
    socket_unit, service_unit = read_unit(SOCKET_UNIT), read_unit(SERVICE_UNIT)
    listen = unit_setting(socket_unit, "Socket", "ListenStream")
    assert listen == f"{RUN_DIR}http_min.sock", (
        f"ListenStream={listen}: Apache's, nginx's and supervisord's files use {RUN_DIR}")
    assert (unit_setting(socket_unit, "Socket", "Accept") or "no") == "no", (
        "http_min accepts by itself: Accept=yes would start one service per connection")
    assert "http_min.socket" in " ".join(service_unit["Unit"].get("Requires", []))
    mode = int(unit_setting(socket_unit, "Socket", "SocketMode") or "0666", 8)
    group = unit_setting(socket_unit, "Socket", "SocketGroup")
    assert mode == 0o660 and group == PROXY_ACCOUNT, (mode, group)
    try:
        gid = grp.getgrnam(group).gr_gid if os.geteuid() == 0 else os.getegid()
    except KeyError:  # no such group here: only the mode is exercised
        gid = os.getegid()
    exec_start = shlex.split(unit_setting(service_unit, "Service", "ExecStart") or "")
    assert exec_start[:1] == [INSTALLED_BINARY], f"ExecStart={' '.join(exec_start)}"
    assert "--uds" not in exec_start and "--bind" not in exec_start, (
        "with socket activation http_min must not bind a socket of its own")

    # systemd's part: the socket file, listening before any http_min runs.
    path = os.path.join(short_dir, os.path.basename(listen))
    listener = bind_like_systemd(path, mode, gid)
    launcher = [require_tool("systemd-socket-activate")] if handover != "sd_listen_fds" else []
    command = [*as_descriptor_3(listener, "self"), *launcher, program_path("http_min"),
               *exec_start[1:]]
    # A client that comes early waits in the socket's backlog, not refused.
    with HttpConnection(connect_to(f"unix:{path}")) as early:
        early.send(http_request("GET", "/healthz"))
        with listener:  # http_min has its own copy from here on
            # The socket file is systemd's: teardown must not expect it gone.
            server = start_server.keep(Server("http_min", f"unix:{path}", command,
                                              owns_socket_file=False, cwd=short_dir,
                                              pass_fds=[listener.fileno()]))
        server.wait_for_output(rf"^listening on fd:3 \(unix:{re.escape(path)}\)$")
        early_answer = early.read_response()
        assert (early_answer.status, early_answer.body) == (200, b"ok")

    assert get(server, "/").body == GREETING
    answer = get(server, "/whoami", headers=[("X-Forwarded-For", "203.0.113.7")]).json()
    assert answer["transport"] == "unix"
    # The process systemd started (LISTEN_PID) is the one serving, and ExecStart's
    # --forwarded-allow unix is in effect.
    assert answer["worker_pid"] == server.process.pid, answer
    assert answer.get("forwarded_for") == "203.0.113.7", answer
    assert server.output().count("listening on") == 1, server.describe()
    # The socket file is still as the unit made it: http_min does not touch what it inherits.
    info = os.stat(path)
    assert stat.S_ISSOCK(info.st_mode) and stat.S_IMODE(info.st_mode) == mode, oct(info.st_mode)
    assert info.st_gid == gid
    stop_and_keep_the_file(server)  # SIGTERM: exit 0, and the file is systemd's: kept


# --------------------------------------------------------------------------------------
# supervisord


def test_supervisord_runs_three_http_min_restarts_a_killed_one_and_stops_them(
        nothing_left_running, start_server, short_dir):
    supervisord = supervisord_program()
    user, uid, gid = proxy_account()
    # The programs run as `user`: they need to reach the binary and to create their sockets
    # in the run directory, as in production (/run/http_min owned by www-data).
    os.chmod(short_dir, 0o711)
    binary = os.path.join(short_dir, "bin", "http_min")
    os.mkdir(os.path.dirname(binary), 0o755)
    shutil.copy2(program_path("http_min"), binary)
    os.chmod(binary, 0o755)
    run_dir, log_dir = os.path.join(short_dir, "run"), os.path.join(short_dir, "log")
    os.mkdir(run_dir, 0o750)
    os.chown(run_dir, uid, gid)
    os.mkdir(log_dir, 0o755)
    program = rewritten(SUPERVISOR_CONF, {
        f"command={INSTALLED_BINARY} ": f"command={binary} ",
        f" --uds {RUN_DIR}": f" --uds {run_dir}/",
        f" --uds-group {PROXY_ACCOUNT} ": f" --uds-group {group_name(gid)} ",
        f"\nuser={PROXY_ACCOUNT}\n": f"\nuser={user}\n",
        f"stdout_logfile={SUPERVISOR_LOG_DIR}": f"stdout_logfile={log_dir}/"})
    include = write_file(os.path.join(short_dir, "http_min.conf"), program)
    config = write_file(os.path.join(short_dir, "supervisord.conf"),
                        SUPERVISORD_CONFIG.format(dir=short_dir, include=include))
    sockets = [os.path.join(run_dir, f"http_min-{number}.sock") for number in (1, 2, 3)]
    manager = LoggingServer("supervisord", f"unix:{sockets[0]}",
                            [supervisord, "-n", "-c", config], short_dir,
                            os.path.join(short_dir, "supervisord.log"))
    start_server.keep(manager)  # whatever happens, teardown stops it

    def serving_pids() -> Optional[list[int]]:
        answers = [whoami_at(path) for path in sockets]
        if manager.has_ended():
            pytest.fail(f"supervisord ended.\n{manager.describe()}", pytrace=False)
        return [a["worker_pid"] for a in answers] if all(answers) else None

    pids = poll_until(serving_pids, READY_TIMEOUT)
    assert pids, f"the three sockets did not all answer.\n{manager.describe()}"
    assert len(set(pids)) == 3, f"three processes, one per socket: {pids}"
    for pid in pids:
        assert proc_stat(pid)["ppid"] == manager.process.pid, f"{pid} is not supervisord's"
        assert real_uid(pid) == uid, f"http_min {pid} should run as {user}"
    for path in sockets:
        info = os.stat(path)
        assert stat.S_IMODE(info.st_mode) == 0o660 and info.st_gid == gid, (path, info)

    # A process that dies within startsecs of its start is a failed start, retried whatever
    # autorestart says: wait until supervisord counts them as running.
    for number in (1, 2, 3):
        manager.wait_for_output(rf"success: http_min_{number} entered RUNNING state")

    # SIGKILL: no clean-up by http_min, its socket file stays behind. supervisord starts a
    # new one (autorestart), which finds the stale file, replaces it and answers on the
    # same path.
    os.kill(pids[1], signal.SIGKILL)

    def replaced() -> Optional[int]:
        answer = whoami_at(sockets[1])
        return answer["worker_pid"] if answer and answer["worker_pid"] != pids[1] else None

    new_pid = poll_until(replaced, READY_TIMEOUT)
    assert new_pid, f"supervisord did not restart the killed http_min.\n{manager.describe()}"
    assert proc_stat(new_pid)["ppid"] == manager.process.pid
    assert [whoami_at(sockets[0])["worker_pid"], whoami_at(sockets[2])["worker_pid"]] == [
        pids[0], pids[2]], "the other two should not have been touched"
    pids[1] = new_pid

    # SIGTERM to supervisord: it stops every http_min (stopsignal=TERM), each removes its
    # socket file, and supervisord exits 0 after them.
    os.kill(manager.process.pid, signal.SIGTERM)
    wait_until(lambda: has_exited(manager.process.pid), "supervisord exiting", STOP_TIMEOUT)
    alive = [pid for pid in pids if (info := proc_stat(pid)) and info["state"] != "Z"]
    assert not alive, f"http_min processes outlived supervisord: {alive}"
    assert not processes_mentioning(short_dir + "/"), "processes outlived supervisord"
    assert manager.stop() == 0, manager.describe()
    left = sorted(os.listdir(run_dir))
    assert not left, f"files left in the run directory: {left}\n{manager.describe()}"

