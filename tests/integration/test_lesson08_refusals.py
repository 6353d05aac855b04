"""Chapter 08: input http_min must refuse (issue 11, "Input that should be refused").

A command line that cannot mean what it says is a usage error (exit status 2, naming the bad
part) rather than a server that starts and quietly does something else: a socket mode with
setuid/setgid/sticky bits, a file mode for an abstract socket (which has no file), a
--forwarded-allow entry that is not an address. A request target with a fragment, or in
absolute-form with a scheme other than http or https, is a 400. X-Forwarded-For is believed
only for its last entry, the one the trusted proxy wrote. Static files: a FIFO or a device
node under --root is refused without ever being opened, and running out of descriptors is a
503 (try again later), not a 403.
"""

from __future__ import annotations

import ctypes
import os
import resource
import socket
import stat

import pytest

from course_support.http import (GREETING, SHORT_TIMEOUT, connect, exchange, get, http_request,
                                 start_http_min, start_on_both)
from course_support.polling import wait_until

# A server that wrongly accepts its command line starts and runs: this long is plenty for
# one that refuses it to have said so and exited.
REFUSAL_TIMEOUT = 10.0


def refused_command_line(run_program, *args: str) -> str:
    """http_min was started with `args` and refused them: exit status 2, a first line on
    stderr saying what is wrong (returned), and the usage after it."""
    result = run_program("http_min", *args, timeout=REFUSAL_TIMEOUT)
    lines = result.stderr.splitlines()
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert lines and lines[0].startswith("http_min: "), result.stderr
    assert any(line.startswith("usage: http_min ") for line in lines[1:]), result.stderr
    return lines[0]


# --------------------------------------------------------------------------------------
# --help


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_prints_the_usage_on_stdout_and_exits_0(run_program, flag):
    # Before commit e58e03e: "http_min: --help needs a value" on stderr, exit status 2.
    result = run_program("http_min", flag, timeout=REFUSAL_TIMEOUT)
    assert result.returncode == 0, (result.returncode, result.stderr)
    assert result.stdout.startswith("usage: http_min "), result.stdout
    assert "--uds-mode OCTAL" in result.stdout and "--forwarded-allow LIST" in result.stdout
    assert result.stderr == ""


# --------------------------------------------------------------------------------------
# --uds-mode and --uds-group


@pytest.mark.parametrize("mode", ["1777", "2770", "4755", "01660", "7777"])
def test_uds_mode_accepts_only_permission_bits(run_program, short_dir, mode):
    # setuid, setgid and sticky bits mean nothing on a socket file: a mode that has them is
    # a typo or a misunderstanding, and is refused rather than half applied.
    path = os.path.join(short_dir, "s.sock")
    error = refused_command_line(run_program, "--uds", path, "--uds-mode", mode)
    assert f"'{mode}'" in error and "0777" in error, error
    assert not os.path.lexists(path)


def test_uds_mode_0777_is_accepted(start_server):
    server = start_http_min(start_server, "unix", "--uds-mode", "0777")
    assert stat.S_IMODE(os.stat(server.path).st_mode) == 0o777


ABSTRACT_NAME = f"course-refusals-{os.getpid()}"


@pytest.mark.parametrize("listen", [["--bind", f"unix:@{ABSTRACT_NAME}"],
                                    ["--uds", f"@{ABSTRACT_NAME}"]])
@pytest.mark.parametrize("option", [["--uds-mode", "0600"], ["--uds-group", "root"]])
@pytest.mark.parametrize("option_first", [False, True])
def test_abstract_socket_with_a_file_mode_or_group_is_refused(run_program, listen, option,
                                                              option_first):
    # An abstract socket has no file, so no mode and no group: access to it is decided by
    # the network namespace and SO_PEERCRED alone. Saying otherwise on the command line
    # would leave the operator believing in a protection that does not exist.
    args = [*option, *listen] if option_first else [*listen, *option]
    error = refused_command_line(run_program, *args)
    assert "abstract" in error and "no file mode" in error and option[0] in error, error


# --------------------------------------------------------------------------------------
# --forwarded-allow and X-Forwarded-For


@pytest.mark.parametrize("entry", ["localhost", "10.0.0.0/8", "127.0.0.1:80", "[::1]",
                                   "127.0.0.256", "unix:", "UNIX", "::1%lo"])
def test_forwarded_allow_entry_that_is_not_an_address_is_refused(run_program, short_dir,
                                                                 entry):
    path = os.path.join(short_dir, "s.sock")
    error = refused_command_line(run_program, "--uds", path, "--forwarded-allow",
                                 f"unix, {entry}")
    assert "--forwarded-allow" in error and f"'{entry}'" in error, error


def whoami_forwarded_for(server, value, address=None):
    response = exchange(server, http_request("GET", "/whoami", [("X-Forwarded-For", value)]),
                        address)
    assert response.status == 200, response
    return response.json().get("forwarded_for")


def test_forwarded_allow_compares_ipv6_addresses_in_canonical_form(start_server):
    # The peer ::1 is trusted whichever way the operator spelled it.
    for spelling in ["0:0:0:0:0:0:0:1", "0000::0001", "::1"]:
        server = start_server("http_min", "tcp6", ["--bind", "{address}",
                                                   "--forwarded-allow", spelling])
        assert whoami_forwarded_for(server, "203.0.113.7") == "203.0.113.7", spelling
        server.stop()


def test_forwarded_allow_takes_an_ipv4_mapped_address_as_the_ipv4_address(start_server):
    # ::ffff:127.0.0.1 is how a dual-stack socket names the IPv4 peer 127.0.0.1: the same
    # host, so the same trust, in both directions.
    server, tcp = start_on_both(start_server, "--forwarded-allow", "::ffff:127.0.0.1")
    assert whoami_forwarded_for(server, "203.0.113.7", tcp) == "203.0.113.7"
    assert whoami_forwarded_for(server, "203.0.113.7") is None  # not the Unix peers


def test_forwarded_for_is_the_last_entry_the_trusted_proxy_wrote(start_server):
    # nginx's $proxy_add_x_forwarded_for appends the address it saw to whatever the client
    # sent: only the last entry is the proxy's word, everything before it is the client's.
    server = start_http_min(start_server, "unix", "--forwarded-allow", "unix")
    assert whoami_forwarded_for(server, "203.0.113.7") == "203.0.113.7"
    assert whoami_forwarded_for(server, "10.6.6.6, 203.0.113.7") == "203.0.113.7"
    assert whoami_forwarded_for(server, "10.6.6.6,203.0.113.7 ") == "203.0.113.7"
    # Nothing after the last comma: the proxy vouched for nobody, so nothing is reported.
    assert whoami_forwarded_for(server, "203.0.113.7, ") is None


def test_forwarded_for_is_the_last_entry_of_the_last_field(start_server):
    # A client may send its own X-Forwarded-For field, and a proxy that adds a field of its
    # own (rather than appending) puts it after the client's.
    server = start_http_min(start_server, "unix", "--forwarded-allow", "unix")
    request = http_request("GET", "/whoami", [("X-Forwarded-For", "10.6.6.6, 10.7.7.7"),
                                              ("x-forwarded-for", "10.8.8.8, 203.0.113.7")])
    response = exchange(server, request)
    assert response.status == 200, response
    assert response.json()["forwarded_for"] == "203.0.113.7"


# --------------------------------------------------------------------------------------
# Request targets


def test_absolute_form_query_before_any_slash_leaves_the_path_empty(start_server):
    # In http://h?/healthz the authority ends at "?": the path is empty (served as "/"),
    # and "/healthz" is part of the query.
    server = start_http_min(start_server, "unix")
    response = exchange(server, http_request("GET", "http://h?/healthz", host="h"))
    assert (response.status, response.body) == (200, GREETING), response
    response = exchange(server, http_request("GET", "http://h/healthz?/x", host="h"))
    assert (response.status, response.body) == (200, b"ok"), response


@pytest.mark.parametrize("target", ["/#x", "/healthz#", "/a?b#c", "http://h/healthz#top",
                                    "http://h#/x"])
def test_fragment_in_the_target_is_400(start_server, target):
    # A fragment is for the client's own use and never sent (RFC 9112 section 3.2): a
    # target with "#" is malformed, not a path to guess at.
    server = start_http_min(start_server, "unix")
    with connect(server) as connection:
        connection.send(http_request("GET", target, host="h"))
        response = connection.read_response()
        assert response.status == 400, response
        assert connection.closed_by_server()


@pytest.mark.parametrize("target", ["http://h/healthz", "HTTP://h/healthz", "https://h/healthz",
                                    "HttpS://h/healthz"])
def test_absolute_form_with_http_or_https_is_served(start_server, target):
    server = start_http_min(start_server, "unix")
    response = exchange(server, http_request("GET", target, host="h"))
    assert (response.status, response.body) == (200, b"ok"), response


@pytest.mark.parametrize("target", ["ftp://h/healthz", "httpx://h/healthz", "ws://h/healthz",
                                    "a+b.c-d://h/healthz", "http:///healthz"])
def test_absolute_form_with_another_scheme_or_no_host_is_400(start_server, target):
    # RFC 9112 section 3.2.2: absolute-form is for http and https URIs; an http URI with an
    # empty host is invalid and must be rejected (RFC 9110 section 4.2.1).
    server = start_http_min(start_server, "unix")
    response = exchange(server, http_request("GET", target, host="h"))
    assert response.status == 400, response


# --------------------------------------------------------------------------------------
# Static files: what is not a regular file is never opened; no descriptors is a 503

libc = ctypes.CDLL(None, use_errno=True)
IN_OPEN = 0x20


class OpenWatch:
    """Counts open(2)s of one file with inotify (IN_OPEN). An O_PATH descriptor is not an
    open of the file (no driver, no FIFO end), and inotify does not report it."""

    def __init__(self, path: str) -> None:
        self.fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
        if self.fd < 0:
            pytest.skip(f"inotify_init1: {os.strerror(ctypes.get_errno())}")
        if libc.inotify_add_watch(self.fd, os.fsencode(path), IN_OPEN) < 0:
            os.close(self.fd)
            pytest.skip(f"inotify_add_watch({path}): {os.strerror(ctypes.get_errno())}")

    def opens(self) -> int:
        count = 0
        try:
            while data := os.read(self.fd, 4096):
                count += len(data) // 16  # struct inotify_event, no name for a file watch
        except BlockingIOError:
            pass
        return count

    def close(self) -> None:
        os.close(self.fd)


def static_server(start_server, root: str):
    with open(os.path.join(root, "a.txt"), "w") as file:
        file.write("hello\n")
    return start_http_min(start_server, "unix", "--root", root)


def assert_refused_unopened_and_still_serving(server, root: str, name: str) -> None:
    watch, control = OpenWatch(os.path.join(root, name)), OpenWatch(os.path.join(root, "a.txt"))
    try:
        with connect(server, timeout=SHORT_TIMEOUT) as connection:
            connection.send(http_request("GET", f"/static/{name}"))
            response = connection.read_response()  # within SHORT_TIMEOUT, or this fails
            assert response.status == 403, response
            # The same connection, and the same (only) worker, go on serving.
            connection.send(http_request("GET", "/static/a.txt"))
            response = connection.read_response()
            assert (response.status, response.body) == (200, b"hello\n"), response
        assert control.opens() >= 1  # the watch does see opens
        assert watch.opens() == 0, f"http_min opened {name} before refusing it"
    finally:
        watch.close()
        control.close()


def test_fifo_under_root_is_refused_without_being_opened(start_server, short_dir):
    # Opening a FIFO for reading blocks until a writer comes (without O_NONBLOCK), and even
    # with O_NONBLOCK it releases a writer waiting in open() into a pipe that then closes.
    root = os.path.join(short_dir, "root")
    os.mkdir(root)
    os.mkfifo(os.path.join(root, "fifo"))
    server = static_server(start_server, root)
    assert_refused_unopened_and_still_serving(server, root, "fifo")


def test_device_node_under_root_is_refused_without_being_opened(start_server, short_dir):
    # Opening a device runs its driver (a tape rewinds, a modem line hangs up on close): it
    # must not happen because of a URL. /dev/null's numbers (1, 3) make a harmless example.
    if os.geteuid() != 0:
        pytest.skip("needs root: only root may mknod a device node")
    root = os.path.join(short_dir, "root")
    os.mkdir(root)
    try:
        os.mknod(os.path.join(root, "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except PermissionError as error:
        pytest.skip(f"mknod is not allowed here (a container without CAP_MKNOD?): {error}")
    server = static_server(start_server, root)
    assert_refused_unopened_and_still_serving(server, root, "null")


def open_descriptors(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def test_static_file_at_emfile_is_503_and_serving_resumes(start_server, short_dir):
    root = os.path.join(short_dir, "root")
    os.mkdir(root)
    server = static_server(start_server, root)
    pid = server.process.pid
    first = connect(server)
    others = []
    try:
        first.send(http_request("GET", "/healthz"))
        assert first.read_response().status == 200
        # A few descriptors more than it has now (the limit counts descriptor numbers, and
        # the ones in use are the lowest), then connections until it has none left: it
        # says so (chapter 04's Acceptor) and stops accepting.
        limit = open_descriptors(pid) + 4
        resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))

        def out_of_descriptors() -> bool:
            if "EMFILE" in server.output():
                return True
            others.append(socket.socket(socket.AF_UNIX, socket.SOCK_STREAM))
            others[-1].connect(server.path)
            return False

        wait_until(out_of_descriptors, "http_min to run out of descriptors", SHORT_TIMEOUT)
        first.send(http_request("GET", "/static/a.txt"))
        response = first.read_response()
        assert response.status == 503, response  # try again later, not "forbidden"
        # Descriptors come back: the same request now succeeds.
        for sock in others:
            sock.close()
        others.clear()

        def served() -> bool:
            first.send(http_request("GET", "/static/a.txt"))
            return first.read_response().status == 200

        wait_until(served, "the static file to be served again", SHORT_TIMEOUT)
    finally:
        for sock in others:
            sock.close()
        first.sock.close()
