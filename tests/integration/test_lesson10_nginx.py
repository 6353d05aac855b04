"""Chapter 10, behind nginx: the configuration files in nginx/snippets and nginx/examples do
what their comments say, in the real nginx in front of the real http_min.

nginx runs as the current user in a temporary prefix, on the files as shipped with only
their paths moved (course_support/nginx.py says exactly what changes, and who nginx's workers
run as when the tests run as root).

The balancing tests take the upstream block from $COURSE_LESSON10_UPSTREAM when it is set
(the chapter's exercise), else from nginx/snippets/upstream-unix-balanced.conf."""

import grp
import itertools
import os
import pwd
import re
import signal
import socket
import stat
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from course_support.timeouts import IO_TIMEOUT, RUN_TIMEOUT
from course_support.polling import poll_until, wait_until
from course_support.programs import REPO_ROOT
from course_support.sockets import connect_to, free_port
from course_support.http import (GREETING, HttpConnection, http_request, random_bytes,
                                 start_http_min)
from course_support.nginx import (AS_ROOT, EXAMPLES, EXAMPLE_FOR, INSTALLED_SNIPPETS, Nginx,
                                  NginxRunner, SNIPPETS, TEST_WORKER_PROCESSES, behind_nginx,
                                  check_config, config_around, for_test, read)

EXERCISE_VARIABLE = "COURSE_LESSON10_UPSTREAM"
EXERCISE_MARK = "TODO(lesson10)"
POOL_SIZE = 3


# --------------------------------------------------------------------------------------
# Every shipped file is valid where its comment says it goes


def shipped_files():
    return sorted(SNIPPETS.glob("*.conf")) + sorted(EXAMPLES.glob("*.conf"))


def header(path):
    """The comment lines a file starts with."""
    lines = []
    for line in read(path).splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def placements(path):
    """Where the file's "Goes in:" line says it goes: "nginx -c" for a complete nginx.conf,
    else the contexts it names ("http {}", "location {} (or server {})": http, location,
    server). Empty if it names none."""
    goes_in = [line for line in header(path) if line.startswith("# Goes in: ")]
    if not goes_in:
        return []
    where = goes_in[0][len("# Goes in: "):]
    if where.startswith("nginx -c"):
        return ["nginx -c"]
    return list(dict.fromkeys(re.findall(r"\b(http|server|location|upstream) \{\}", where)))


@pytest.mark.parametrize("path", shipped_files(),
                         ids=lambda path: f"{path.parent.name}/{path.name}")
def test_every_file_passes_nginx_t_where_its_comment_says_it_goes(path, short_dir):
    # Each file opens with what it does, where it goes and what it needs; nginx -t accepts
    # it in every context it names, wrapped in the least a configuration needs (a snippet),
    # or as it is (a complete nginx.conf). A new file is covered as soon as it exists.
    lines = header(path)
    assert lines and lines[0].startswith(f"# {path.name}: "), (
        f"{path} must start with '# {path.name}: what it does'")
    assert any(line.startswith("# Needs: ") for line in lines), (
        f"{path}'s first comment must say what it needs ('# Needs: ...')")
    contexts = placements(path)
    assert contexts, (f"{path} has no test-able placement: its first comment needs a line "
                      f"'# Goes in: http {{}}' (or server {{}}, location {{}}, upstream {{}}), "
                      f"or '# Goes in: nginx -c' for a complete nginx.conf")
    runner = NginxRunner(short_dir)
    for context in contexts:
        prefix = runner.new_prefix()
        port = free_port()  # nginx -t binds no port: any one will do
        text = for_test(read(path), prefix, port=port, sockets=short_dir)
        if context == "nginx -c":
            config = text
        else:
            copy = os.path.join(prefix.conf_dir, path.name)
            Path(copy).write_text(text)
            config = config_around(context, copy, prefix, port)
        result = check_config(prefix, config, f"{path.name} in {context}")
        warnings = [line for line in result.stderr.splitlines() if "[warn]" in line]
        assert not warnings, f"nginx -t warns about {path.name} in {context}:\n{result.stderr}"


def test_the_tcp_and_unix_examples_differ_only_in_the_upstream():
    # The TCP twin of chapter 02, for nginx: moving http_min from a port to a socket file
    # changes which upstream file is included, and nothing else.
    def directives(name):
        return [line for line in read(EXAMPLES / name).splitlines()
                if not line.lstrip().startswith("#")]

    tcp, unix = directives("tcp-backend.conf"), directives("unix-backend.conf")
    different = [(a.strip(), b.strip()) for a, b in zip(tcp, unix) if a != b]
    assert len(tcp) == len(unix) and different == [
        (f"include {INSTALLED_SNIPPETS}upstream-tcp.conf;",
         f"include {INSTALLED_SNIPPETS}upstream-unix.conf;")], different


# --------------------------------------------------------------------------------------
# One http_min behind nginx (examples/tcp-backend.conf and examples/unix-backend.conf)

TRUSTED_PROXY = {"tcp": "127.0.0.1", "unix": "unix"}  # http_min --forwarded-allow for nginx


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_nginx_passes_requests_to_http_min(start_server, nginx, short_dir, transport):
    server, proxy = behind_nginx(start_server, nginx, short_dir, transport)
    response = proxy.get("/")
    assert (response.status, response.body) == (200, GREETING), response
    assert proxy.get("/whoami").json()["transport"] == transport
    # A body larger than nginx's buffer goes through a temporary file (client_body_temp_path)
    # on its way to http_min, and comes back unchanged.
    body = random_bytes(300 * 1024, seed=10)
    response = proxy.request("POST", "/echo", body, [("Content-Type", "application/x-test")])
    assert response.status == 200, response
    assert response.body == body
    assert response.header("Content-Type") == "application/x-test"


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_http_mins_early_413_reaches_the_client_through_nginx(start_server, nginx, short_dir,
                                                              transport):
    # nginx allows 16 MiB here, http_min 1 MiB: nginx sends the whole 8 MiB body on, and
    # http_min refuses it after the head. Closing at once would reset nginx's connection
    # while it still sends, and nginx would answer 502; http_min half-closes and drains
    # instead (RFC 9112 section 9.6), so nginx reads the 413 and passes it on.
    text = read(EXAMPLES / EXAMPLE_FOR[transport]).replace(
        "        listen 80;\n", "        listen 80;\n        client_max_body_size 16m;\n")
    assert "client_max_body_size" in text
    server, proxy = behind_nginx(start_server, nginx, short_dir, transport, text=text)
    body = random_bytes(8 * 1024 * 1024, seed=11)
    for attempt in range(3):
        response = proxy.request("POST", "/echo", body)
        assert response.status == 413, (attempt, response, proxy.error_log())
    assert proxy.get("/").status == 200


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_http_min_believes_x_forwarded_for_from_the_proxy_it_trusts(start_server, nginx,
                                                                   short_dir, transport):
    server, proxy = behind_nginx(start_server, nginx, short_dir, transport,
                                 "--forwarded-allow", TRUSTED_PROXY[transport])
    answer = proxy.get("/whoami").json()
    # http_min's peer is nginx; the client's address arrives in the header nginx added.
    assert answer["forwarded_for"] == "127.0.0.1", answer
    if transport == "unix":
        # SO_PEERCRED names the nginx worker that connected, not the client.
        assert answer["peer"]["pid"] in proxy.worker_pids(), answer
    # A client's own X-Forwarded-For is kept in front (nginx sends "203.0.113.7, 127.0.0.1"):
    # only the last entry is nginx's word, and that is all http_min reports.
    answer = proxy.get("/whoami", [("X-Forwarded-For", "203.0.113.7")]).json()
    assert answer["forwarded_for"] == "127.0.0.1", answer


@pytest.mark.parametrize("transport", ["tcp", "unix"])
def test_http_min_ignores_x_forwarded_for_unless_told_to_trust_it(start_server, nginx,
                                                                  short_dir, transport):
    # The same nginx sends the same header (the test above), but trust is opt-in.
    server, proxy = behind_nginx(start_server, nginx, short_dir, transport)
    answer = proxy.get("/whoami").json()
    assert "forwarded_for" not in answer, answer


# --------------------------------------------------------------------------------------
# nginx's worker user and the socket's permissions


def error_log_line(proxy, needle, timeout=IO_TIMEOUT):
    """The first line of nginx's error log that contains `needle`, polled until `timeout`."""
    def find():
        return next((line for line in proxy.error_log().splitlines() if needle in line), None)

    line = poll_until(find, timeout)
    assert line is not None, (f"nginx's error log has no line with {needle!r} within "
                              f"{timeout} s:\n{proxy.error_log()}")
    return line


@pytest.mark.skipif(not AS_ROOT, reason="runs nginx's workers as nobody, which needs root; "
                    "test_a_socket_in_a_directory_nginx_cannot_search_gives_502 is its "
                    "variant for an ordinary user")
def test_a_socket_nginx_may_not_open_gives_502_until_its_group_may(start_server, nginx,
                                                                   short_dir):
    # nginx's master runs as root, its workers as the `user` directive's user, and the
    # workers connect to the backend. Here they are nobody:nogroup, as www-data is on Debian.
    try:
        nogroup = grp.getgrnam("nogroup").gr_gid
        pwd.getpwnam("nobody")
    except KeyError:
        pytest.skip("there is no user nobody or no group nogroup to run nginx's workers as")
    os.chmod(short_dir, 0o711)  # nobody may pass through the test's directory, not list it
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix", "--uds-mode", "0600",
                                 user="nobody nogroup")
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o600  # root's alone
    response = proxy.get("/")
    assert response.status == 502, response
    line = error_log_line(proxy, "(13: Permission denied)")
    assert f"connect() to unix:{server.path} failed (13: Permission denied)" in line, line
    assert "while connecting to upstream" in line, line

    # The fix: mode 0660 (http_min's default) and the group nginx's workers run in.
    assert server.stop() == 0, server.describe()
    fixed = start_http_min(start_server, "unix", "--no-access-log", "--uds-group", "nogroup",
                           address=f"unix:{server.path}")
    status = os.stat(fixed.path)
    assert (stat.S_IMODE(status.st_mode), status.st_gid) == (0o660, nogroup)
    response = proxy.get("/")
    assert (response.status, response.body) == (200, GREETING), response


# [dead-backend]
def test_a_socket_file_left_by_a_dead_backend_gives_502_and_connection_refused(
        start_server, nginx, short_dir):
    # A backend killed with SIGKILL cannot remove its socket file: the file is there, nobody
    # listens on it, and connect() fails at once with ECONNREFUSED.
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix")
    server.stop(signal.SIGKILL)
    assert stat.S_ISSOCK(os.stat(server.path).st_mode), "the socket file should be left"
    try:
        response = proxy.get("/")
        assert response.status == 502, response
        line = error_log_line(proxy, "(111: Connection refused)")
        assert f"connect() to unix:{server.path} failed (111: Connection refused)" in line, line
    finally:
        os.unlink(server.path)
# [dead-backend]


def test_a_backend_with_a_full_listen_queue_gives_502_and_eagain_at_once(start_server, nginx,
                                                                          short_dir):
    # nginx connects without blocking. A Unix listener whose queue is full makes that
    # connect() fail at once with EAGAIN (TCP would drop the SYN and nginx would wait for
    # proxy_connect_timeout). Here the backend is a listener that never accepts, with
    # backlog 0 (it queues one connection), filled by the test first.
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix")
    server.stop()
    stuck = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    fillers = []
    try:
        stuck.bind(server.path)
        stuck.listen(0)
        while True:
            filler = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            filler.setblocking(False)
            fillers.append(filler)
            try:
                filler.connect(server.path)
            except BlockingIOError:
                break  # the queue is full
            assert len(fillers) < 100, "the listen queue never filled"
        response = proxy.get("/")
        assert response.status == 502, response
        line = error_log_line(proxy, "(11: Resource temporarily unavailable)")
        assert f"connect() to unix:{server.path} failed" in line, line
    finally:
        for filler in fillers:
            filler.close()
        stuck.close()
        os.unlink(server.path)


@pytest.mark.skipif(AS_ROOT, reason="root searches any directory; as root, "
                    "test_a_socket_nginx_may_not_open_gives_502_until_its_group_may shows "
                    "the same error with nginx's workers running as nobody")
def test_a_socket_in_a_directory_nginx_cannot_search_gives_502(start_server, nginx, short_dir):
    # Without root nginx's workers run as we do, so the socket's own mode cannot keep them
    # out; a directory without search (x) permission on the way to it does, for anyone.
    locked = os.path.join(short_dir, "locked")
    os.mkdir(locked, 0o700)
    server = start_http_min(start_server, "unix", "--no-access-log",
                            address=f"unix:{locked}/http_min.sock")
    proxy = nginx.start(read(EXAMPLES / "unix-backend.conf"), sockets=locked,
                        what="unix-backend.conf")
    os.chmod(locked, 0o600)
    try:
        response = proxy.get("/")
        assert response.status == 502, response
        line = error_log_line(proxy, "(13: Permission denied)")
        assert f"connect() to unix:{server.path} failed (13: Permission denied)" in line, line
    finally:
        os.chmod(locked, 0o700)  # the fix, and http_min can remove its socket at the end
    response = proxy.get("/")
    assert (response.status, response.body) == (200, GREETING), response


# --------------------------------------------------------------------------------------
# nginx listening on a Unix socket itself (snippets/listen-unix.conf)


def with_listen_unix(text):
    """An example with listen-unix.conf included beside its TCP listen, as its comment says."""
    listen = "        listen 80;\n"
    assert listen in text
    return text.replace(listen, listen + f"        include {INSTALLED_SNIPPETS}listen-unix.conf;\n")


def test_nginx_listens_on_a_unix_socket_of_mode_0666(start_server, nginx, short_dir):
    text = with_listen_unix(read(EXAMPLES / "unix-backend.conf"))
    server, proxy = behind_nginx(start_server, nginx, short_dir, "unix", "--forwarded-allow",
                                 "unix", text=text)
    [path] = proxy.unix_listeners
    assert path == os.path.join(proxy.prefix.run_dir, "site.sock")
    status = os.stat(path)
    assert stat.S_ISSOCK(status.st_mode)
    assert stat.S_IMODE(status.st_mode) == 0o666  # whoever reaches the directory may connect
    with HttpConnection(connect_to(f"unix:{path}")) as client:
        client.send(http_request("GET", "/whoami"))
        answer = client.read_response().json()
    assert answer["forwarded_for"] == "unix:", answer  # $remote_addr of a Unix-socket client
    assert proxy.finish() == []
    assert not os.path.lexists(path), "nginx left its socket file behind"


def test_a_socket_file_left_by_a_crash_stops_nginx_from_starting(nginx, short_dir):
    # nginx does not remove a socket file it finds at its listen path (it cannot know that
    # no one uses it): the next start fails until someone removes the file.
    runner = nginx
    prefix = runner.new_prefix()
    config = for_test(with_listen_unix(read(EXAMPLES / "unix-backend.conf")), prefix,
                      port=free_port(), sockets=short_dir)
    check_config(prefix, config, "unix-backend.conf with listen-unix.conf")
    path = os.path.join(prefix.run_dir, "site.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as crashed:
        crashed.bind(path)  # bound, never unlinked: what a killed nginx leaves
    failed = Nginx(prefix, config, None)
    runner.running.append(failed)
    wait_until(failed.has_ended, "nginx exiting")
    said = failed.output() + failed.error_log()
    assert f"bind() to unix:{path} failed (98: Address already in use)" in said, said
    failed.stop()  # reaps it; its exit status (1) is the point of this test
    os.unlink(path)  # by hand, or by a start-up script that knows no nginx runs
    started = Nginx(prefix, config, None)
    runner.running.append(started)
    assert started.address == f"unix:{path}"
    assert runner.wait_until_ready(started)


# --------------------------------------------------------------------------------------
# Three http_min behind one nginx (examples/three-unix-workers.conf)


def pool_upstream():
    """The file with the `upstream http_min_pool` block: $COURSE_LESSON10_UPSTREAM (the
    exercise), else the shipped snippet. A file still holding the exercise's TODO fails the
    test, saying which file to edit."""
    chosen = os.environ.get(EXERCISE_VARIABLE)
    path = Path(chosen) if chosen else SNIPPETS / "upstream-unix-balanced.conf"
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not path.is_file():
        pytest.fail(f"{path} does not exist (set by {EXERCISE_VARIABLE})" if chosen
                    else f"{path} does not exist", pytrace=False)
    if EXERCISE_MARK in read(path):
        pytest.fail(f"{EXERCISE_MARK}: write the `upstream http_min_pool {{ ... }}` block in "
                    f"{path}, as its comment asks: nginx then runs it in front of three "
                    f"http_min processes, one on each of its sockets.", pytrace=False)
    return str(path)


def start_pool(start_server, nginx, short_dir, upstream, *args):
    """http_min on /run/http_min/http_min-{1,2,3}.sock (moved to short_dir), and nginx
    running three-unix-workers.conf with `upstream` as its upstream-unix-balanced.conf."""
    servers = [start_http_min(start_server, "unix", "--no-access-log", *args,
                              address=f"unix:{os.path.join(short_dir, f'http_min-{n}.sock')}")
               for n in range(1, POOL_SIZE + 1)]
    proxy = nginx.start(read(EXAMPLES / "three-unix-workers.conf"), sockets=short_dir,
                        snippets={"upstream-unix-balanced.conf": upstream},
                        what=f"three-unix-workers.conf with {upstream}")
    return servers, proxy


def served_by(proxy):
    response = proxy.get("/whoami")
    assert response.status == 200, response
    return response.json()["worker_pid"]


def test_requests_are_spread_over_the_three_backends(start_server, nginx, short_dir):
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream())
    seen = {served_by(proxy) for _ in range(10 * POOL_SIZE)}
    assert seen == {server.process.pid for server in servers}


def parse_h2load(output):
    """The request counters and status-code counts of h2load's summary."""
    requests = re.search(r"^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, "
                         r"(\d+) failed, (\d+) errored, (\d+) timeout$", output, re.MULTILINE)
    codes = re.search(r"^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx$", output,
                      re.MULTILINE)
    assert requests and codes, f"no h2load summary in:\n{output}"
    names = ("total", "started", "done", "succeeded", "failed", "errored", "timeout")
    counts = dict(zip(names, map(int, requests.groups())))
    counts.update(zip(("2xx", "3xx", "4xx", "5xx"), map(int, codes.groups())))
    return counts


LOAD_REQUESTS = 2400
LOAD_CLIENTS = 8
LOAD_RATE = 100  # requests per second per client: the load lasts about 3 s


def test_killing_a_backend_under_load_fails_no_request(start_server, nginx, short_dir,
                                                       require_tool):
    h2load = require_tool("h2load")
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream())
    victim = servers[1]
    command = [h2load, "--h1", "-n", str(LOAD_REQUESTS), "-c", str(LOAD_CLIENTS),
               "--rps", str(LOAD_RATE), f"http://{proxy.address}/"]
    with tempfile.TemporaryFile(prefix="course-h2load-", dir="/tmp") as output:
        load = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=output,
                                stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # A quarter of the way through, one backend dies as in a crash, and its socket
            # file goes: from then on connect() to it fails with ENOENT.
            wait_until(lambda: proxy.access_log_lines() >= LOAD_REQUESTS // 4
                       or load.poll() is not None, "a quarter of the load done", RUN_TIMEOUT)
            assert load.poll() is None, "h2load finished before the backend was killed"
            victim.stop(signal.SIGKILL)
            os.unlink(victim.path)
            done_at_kill = proxy.access_log_lines()
            load.wait(timeout=RUN_TIMEOUT)
        finally:
            if load.poll() is None:
                os.killpg(load.pid, signal.SIGKILL)
                load.wait()
        output.seek(0)
        said = output.read().decode(errors="replace")
    assert load.returncode == 0, f"{' '.join(command)} exited {load.returncode}:\n{said}"
    assert done_at_kill < LOAD_REQUESTS, "the load was over before the backend was killed"
    counts = parse_h2load(said)
    assert (counts["total"], counts["succeeded"], counts["2xx"]) == (LOAD_REQUESTS,) * 3, said
    assert counts["failed"] == counts["errored"] == counts["timeout"] == 0, said
    # nginx did try the dead backend, and passed those requests on to the others.
    error_log_line(proxy, f"connect() to unix:{victim.path} failed")
    # A POST whose connect() failed never reached a backend, so it is passed on as well.
    # (nginx tries the dead backend again about once a second: POST until one of them did.)
    failed_post = re.compile(rf"connect\(\) to unix:{re.escape(victim.path)} failed .*"
                             rf"request: \"POST /echo ")
    posts = itertools.count()

    def a_post_met_the_dead_backend():
        body = f"order {next(posts)}".encode()
        response = proxy.request("POST", "/echo", body)
        assert (response.status, response.body) == (200, body), response
        return failed_post.search(proxy.error_log())

    wait_until(a_post_met_the_dead_backend, "a POST meeting the dead backend")


def test_a_restarted_backend_is_back_in_the_rotation_within_seconds(start_server, nginx,
                                                                     short_dir):
    # With nginx's default fail_timeout=10s one refused connect keeps a backend out of the
    # rotation for 10 s; a local socket is worth trying again at once.
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream())
    victim = servers[1]
    victim.stop(signal.SIGKILL)
    os.unlink(victim.path)
    survivors = {servers[0].process.pid, servers[2].process.pid}
    for _ in range(2 * POOL_SIZE):
        assert served_by(proxy) in survivors
    error_log_line(proxy, f"connect() to unix:{victim.path} failed (2: No such file or directory)")
    restarted = start_http_min(start_server, "unix", "--no-access-log",
                               address=f"unix:{victim.path}")
    wait_until(lambda: served_by(proxy) == restarted.process.pid,
               "a request reaching the restarted backend (nginx skips a backend that failed "
               "for fail_timeout, 10 s by default)", timeout=3.0)


def failed_connects(proxy, path):
    """How many lines of nginx's error log say that connect() to `path` failed."""
    needle = f"connect() to unix:{path} failed"
    return sum(needle in line for line in proxy.error_log().splitlines())


DEAD_BACKEND_REQUESTS = 30 * POOL_SIZE


def test_a_dead_backend_costs_a_failed_connect_about_once_a_second_not_every_round(
        start_server, nginx, short_dir):
    # max_fails=1 fail_timeout=0: after a failure the backend is skipped for the rest of
    # that second, so a dead one costs at most one failed connect() per second (per worker,
    # should the block have no zone). max_fails=0 never skips it: every round of the
    # rotation tries it again, and every third request pays a failed connect() before being
    # passed on (90 requests here take well under a second, even on a loaded machine).
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream())
    victim = servers[1]
    victim.stop(signal.SIGKILL)
    os.unlink(victim.path)
    survivors = {servers[0].process.pid, servers[2].process.pid}
    started = time.monotonic()
    for _ in range(DEAD_BACKEND_REQUESTS):
        assert served_by(proxy) in survivors
    seconds = time.monotonic() - started
    # Requests spread over `seconds` touch at most int(seconds) + 2 distinct seconds of
    # nginx's clock, each allowing one retry of the dead backend per worker.
    allowed = TEST_WORKER_PROCESSES * (int(seconds) + 2)
    failed = failed_connects(proxy, victim.path)
    assert 1 <= failed <= allowed, (
        f"{DEAD_BACKEND_REQUESTS} requests in {seconds:.2f} s tried the dead backend {failed} "
        f"times (at most {allowed} expected: one per second per worker). max_fails=0 turns "
        f"the failure count off, so nginx tries a dead backend on every round; use max_fails=1 "
        f"with fail_timeout=0.\n{proxy.error_log()}")


def backend_connections(paths):
    """Inodes of the connected server-side sockets of the Unix sockets at `paths` (an
    accepted socket shows its listener's path in /proc/net/unix)."""
    inodes = set()
    with open("/proc/net/unix") as table:
        for row in (line.split() for line in table.readlines()[1:]):
            if len(row) == 8 and row[7] in paths and row[5] == "03":  # 03: connected
                inodes.add(row[6])
    return inodes


def requests_on(client, count):
    for _ in range(count):
        client.send(http_request("GET", "/healthz"))
        response = client.read_response()
        assert response.status == 200, response


def assert_backend_connections_are_reused(proxy, paths):
    # One client connection keeps us on one nginx worker. After a first round every backend
    # has been used once; with keep-alive the next rounds use those same connections.
    with proxy.connection() as client:
        requests_on(client, len(paths))
        first = backend_connections(paths)
        requests_on(client, 3 * len(paths))
        later = backend_connections(paths)
    assert first and later == first, (
        f"nginx did not reuse its connections to the backends (open after the first round: "
        f"{sorted(first)}, after three more: {sorted(later)}): keep-alive needs `keepalive` in "
        f"the upstream block and proxy_http_version 1.1 with an empty Connection header in the "
        f"location")


def test_connections_to_the_pool_are_kept_alive(start_server, nginx, short_dir):
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream())
    assert_backend_connections_are_reused(proxy, {server.path for server in servers})


# How long nginx may keep an idle connection to the pool: the reference's keepalive_timeout
# (4 s) and a margin for a loaded machine; nginx's default, 60 s, is far beyond it.
IDLE_CLOSE_DEADLINE = 4.0 + 4.0


def test_nginx_closes_idle_connections_to_the_pool_itself_within_seconds(start_server, nginx,
                                                                          short_dir):
    # http_min closes a connection idle for 5 s (--keepalive-timeout); nginx must close its
    # idle ones first (keepalive_timeout 4s), or it may send a request on a connection the
    # backend is closing at that moment. Here http_min waits a minute, so every connection
    # that closes within the deadline was closed by nginx.
    servers, proxy = start_pool(start_server, nginx, short_dir, pool_upstream(),
                                "--keepalive-timeout", "60")
    paths = {server.path for server in servers}
    with proxy.connection() as client:
        requests_on(client, 2 * len(paths))
    idle_since = time.monotonic()
    assert backend_connections(paths), (
        "no connection to the backends stayed open after the requests: keep-alive needs "
        "`keepalive` in the upstream block")
    closed = poll_until(lambda: not backend_connections(paths), IDLE_CLOSE_DEADLINE)
    assert closed, (
        f"nginx still holds idle connections to the backends {time.monotonic() - idle_since:.1f}"
        f" s after the last request: set keepalive_timeout in the upstream below http_min's "
        f"5 s --keepalive-timeout (nginx's default is 60 s)")


def test_keepalive_snippets_keep_the_connection_to_one_backend(start_server, nginx, short_dir):
    # upstream-keepalive.conf goes inside the upstream block, proxy-keepalive.conf beside
    # proxy_pass: unix-backend.conf with both placed there, as an operator would.
    upstream = read(SNIPPETS / "upstream-unix.conf")
    assert upstream.rstrip().endswith("}")
    kept = Path(short_dir) / "upstream-unix-keepalive.conf"
    kept.write_text(upstream.rstrip()[:-1]
                    + f"    include {INSTALLED_SNIPPETS}upstream-keepalive.conf;\n}}\n")
    headers = f"include {INSTALLED_SNIPPETS}proxy-headers.conf;\n"
    text = read(EXAMPLES / "unix-backend.conf")
    assert headers in text
    text = text.replace(headers, headers + f"            include {INSTALLED_SNIPPETS}"
                                           f"proxy-keepalive.conf;\n")
    server = start_http_min(start_server, "unix", "--no-access-log")
    proxy = nginx.start(text, sockets=short_dir, what="unix-backend.conf with keep-alive",
                        snippets={"upstream-unix.conf": str(kept)})
    assert_backend_connections_are_reused(proxy, {server.path})


class DroppingBackend:
    """A backend on a Unix socket that reads each request whole, then closes the connection
    without answering: a process that dies while handling a request. Records the requests'
    methods and bodies."""

    def __init__(self, path):
        self.path = path
        self.received = []
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.listener.bind(path)
        self.listener.listen(16)
        self.listener.settimeout(0.1)
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except socket.timeout:
                continue
            with connection:
                connection.settimeout(IO_TIMEOUT)
                try:
                    self._read_request(connection)
                except OSError:
                    pass

    def _read_request(self, connection):
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = connection.recv(65536)
            if not chunk:
                return
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        length = re.search(rb"(?im)^content-length:\s*(\d+)\s*$", head)
        while length and len(body) < int(length.group(1)):
            chunk = connection.recv(65536)
            if not chunk:
                return
            body += chunk
        self.received.append((head.split(b" ", 1)[0].decode(), body))

    def close(self):
        self.stopping.set()
        self.thread.join(IO_TIMEOUT)
        self.listener.close()
        if os.path.lexists(self.path):
            os.unlink(self.path)


def test_a_post_that_reached_a_dying_backend_is_not_retried(start_server, nginx, short_dir):
    # proxy-retry.conf: a GET the backend dropped goes to the next backend; a POST that was
    # sent may already have had its effect, so nginx answers 502 rather than send it again.
    # (The shipped upstream, not the exercise's: this test needs a backend that failed to be
    # tried again within seconds, which fail_timeout=0 gives.)
    upstream = str(SNIPPETS / "upstream-unix-balanced.conf")
    dropping = DroppingBackend(os.path.join(short_dir, "http_min-2.sock"))
    try:
        for n in (1, 3):
            start_http_min(start_server, "unix", "--no-access-log",
                           address=f"unix:{os.path.join(short_dir, f'http_min-{n}.sock')}")
        proxy = nginx.start(read(EXAMPLES / "three-unix-workers.conf"), sockets=short_dir,
                            snippets={"upstream-unix-balanced.conf": upstream},
                            what=f"three-unix-workers.conf with {upstream}")
        statuses = {}

        def post_reached_the_dropping_backend():
            body = f"order {len(statuses)}".encode()
            response = proxy.request("POST", "/echo", body)
            statuses[body] = response.status
            assert response.status in (200, 502), response
            assert response.status == 502 or response.body == body, response
            return any(method == "POST" for method, _ in dropping.received)

        # The dropping backend fails once and is skipped for the rest of that second, so
        # this may take a little more than a round.
        wait_until(post_reached_the_dropping_backend, "a POST reaching the dropping backend")
        [dropped] = [body for method, body in dropping.received if method == "POST"]
        assert statuses.pop(dropped) == 502
        assert set(statuses.values()) <= {200}, statuses  # all the others were answered

        def get_reached_the_dropping_backend():
            response = proxy.get("/whoami")
            assert response.status == 200, response  # passed on to the next backend
            return any(method == "GET" for method, _ in dropping.received)

        wait_until(get_reached_the_dropping_backend, "a GET reaching the dropping backend")
        error_log_line(proxy, "upstream prematurely closed connection while reading response "
                              "header from upstream")
    finally:
        dropping.close()
