"""Chapter 13, each server on a Unix socket behind nginx: uvicorn, gunicorn, hypercorn,
aiohttp and a plain asyncio server run the apps of lessons/13-your-app/apps/ on a socket
file, and one nginx configuration (nginx/examples/app-unix.conf with
nginx/snippets/upstream-app-unix.conf) reaches each of them, unchanged.

The servers are started by course_support.app_servers with the command lines the chapter
and the apps' docstrings show; nginx is the real one, on the shipped files with only their
paths moved (course_support.nginx). One nginx serves the whole file: the servers take turns
behind it on the same socket path, as they would in production."""

import os
import re
import tempfile

import pytest

from course_support import app_servers
from course_support.nginx import EXAMPLES, NginxRunner, read
from course_support.processes import remove_tree, run
from course_support.programs import REPO_ROOT

CHAPTER = REPO_ROOT / "lessons" / "13-your-app" / "README.md"
EXAMPLE = "app-unix.conf"
SOCKET_NAME = "app.sock"  # /run/app/app.sock in the shipped files
# The client address each server hands its app for a peer on a Unix socket, which has none.
UNIX_CLIENT = {"uvicorn": None, "hypercorn": None, "gunicorn": "", "aiohttp": "", "asyncio": ""}


@pytest.fixture(scope="module")
def proxy():
    """nginx on the shipped app-unix.conf, its upstream moved to DIRECTORY/app.sock, where
    no server listens yet. Yields (nginx, DIRECTORY)."""
    directory = tempfile.mkdtemp(prefix="c13-", dir="/tmp")  # sun_path: keep it short
    runner = NginxRunner(directory)
    try:
        yield runner.start(read(EXAMPLES / EXAMPLE), sockets=directory, what=EXAMPLE), directory
    finally:
        problems = runner.finish_all()
        remove_tree(directory)
    if problems:
        pytest.fail("\n\n".join(problems), pytrace=False)


@pytest.mark.parametrize("server", app_servers.SERVERS)
def test_each_server_answers_through_nginx_over_its_unix_socket(proxy, server):
    nginx, directory = proxy
    with app_servers.start(server, uds=os.path.join(directory, SOCKET_NAME)) as app:
        # The request goes to nginx over TCP, and from nginx to the app over the socket file.
        response = nginx.get("/")
        assert response.status == 200, f"{response}\n{nginx.describe()}\n{app.describe()}"
        assert response.json()["server"] == server
        # The process that answered is this server's (gunicorn's: one of its workers).
        whoami = nginx.get("/whoami").json()
        assert whoami["pid"] in app.processes(), whoami
        # Over the socket the app learns no client address (None or ""): the client's own
        # address reaches it only as the X-Forwarded-For that proxy-headers.conf sets.
        assert whoami["client"] == UNIX_CLIENT[server], whoami
        assert whoami["forwarded_for"] == "127.0.0.1", whoami
    # The server has stopped and its socket file is gone (start() removes what a server
    # leaves): nginx answers 502 and logs why.
    logged = len(nginx.error_log())
    assert nginx.get("/").status == 502
    assert "(2: No such file or directory)" in nginx.error_log()[logged:]


def test_nginx_passes_on_hypercorns_status_line_without_a_reason_phrase(proxy):
    # hypercorn 0.13 writes "HTTP/1.1 200 " (test_lesson13_bench); nginx copies the
    # upstream's status line rather than writing its own "200 OK".
    nginx, directory = proxy
    with app_servers.start("hypercorn", uds=os.path.join(directory, SOCKET_NAME)):
        response = nginx.get("/")
    assert response.status == 200, response
    assert response.head.startswith(b"HTTP/1.1 200 \r\n"), response.head[:40]


@pytest.mark.parametrize("server", ["aiohttp", "asyncio"])
def test_one_handler_answers_over_the_unix_socket_and_tcp(server, short_dir):
    # aiohttp: a UnixSite and a TCPSite on one runner; asyncio: start_unix_server and
    # start_server with the same coroutine. One process serves both.
    with app_servers.start(server, uds=os.path.join(short_dir, SOCKET_NAME), tcp=True) as app:
        over_unix = app.whoami()
        over_tcp = app.whoami(address=app.tcp_address)
    assert over_unix["pid"] == over_tcp["pid"] == app.process.pid
    assert over_unix["client"] == UNIX_CLIENT[server]  # the client's socket has no name
    host = over_tcp["client"][0] if isinstance(over_tcp["client"], list) else over_tcp["client"]
    assert host == "127.0.0.1", over_tcp


def test_the_chapter_and_the_apps_show_the_commands_the_tests_run():
    # What the reader copies is what these tests run: each server's command line (with the
    # example path /tmp/app.sock) is in its app's docstring and in the chapter.
    chapter = CHAPTER.read_text()
    for server in app_servers.SERVERS:
        shown = app_servers.shown_command(server)
        assert shown in app_servers.documented_commands(server), (
            f"{app_servers.APP_FILE[server]}'s docstring does not show {shown!r}")
        assert shown in chapter, f"the chapter does not show {shown!r}"
    # and the nginx files the chapter shows are the ones the proxy fixture runs
    for name in (f"nginx/examples/{EXAMPLE}", "nginx/snippets/upstream-app-unix.conf"):
        assert re.search(rf"<!-- (include|snippet|diff) [^>]*{re.escape(name)}\b", chapter), (
            f"the chapter shows no excerpt of {name}")


def test_the_app_example_is_chapter_10s_with_the_upstream_swapped():
    # Moving from http_min to your app changes which upstream nginx includes and the name
    # proxy_pass uses; nothing else (comments aside).
    def directives(name):
        return [line.strip() for line in read(EXAMPLES / name).splitlines()
                if not line.lstrip().startswith("#")]

    chapter10, app = directives("unix-backend.conf"), directives(EXAMPLE)
    different = [(a, b) for a, b in zip(chapter10, app) if a != b]
    assert len(chapter10) == len(app) and different == [
        ("include /etc/nginx/snippets/http_min/upstream-unix.conf;",
         "include /etc/nginx/snippets/http_min/upstream-app-unix.conf;"),
        ("proxy_pass http://http_min;", "proxy_pass http://app;")], different


@pytest.mark.parametrize("server, complaint", [
    ("gunicorn", "Can't connect to ('{path}', 8000)"),
    ("hypercorn", "socket.gaierror: [Errno -2] Name or service not known")],
    ids=["gunicorn", "hypercorn"])
def test_a_bind_without_unix_prefix_is_taken_for_a_host_name(server, complaint, short_dir):
    # `--bind /run/app/app.sock` (no `unix:`) is read as a host name: gunicorn tries port
    # 8000 of a host called /run/app/app.sock, and gives up after five tries, a second
    # apart; hypercorn's name lookup fails at once. Neither makes a socket file.
    path = os.path.join(short_dir, SOCKET_NAME)
    argv = [path if argument == f"unix:{path}" else argument
            for argument in app_servers.command(server, uds=path)]
    result = run(argv, cwd=str(app_servers.APPS))
    assert result.returncode != 0, result
    assert complaint.format(path=path) in result.stdout + result.stderr, result
    assert not os.path.lexists(path)


@pytest.mark.parametrize("server, complaint", [
    ("uvicorn", 'Could not import module "fastapi_app"'),
    ("gunicorn", "No module named 'flask_app'"),
    ("hypercorn", "hypercorn.utils.NoAppError")], ids=["uvicorn", "gunicorn", "hypercorn"])
def test_a_server_started_outside_the_apps_folder_cannot_import_the_app(server, complaint,
                                                                        short_dir):
    # The three import the app by module name from the current directory: started anywhere
    # else, each exits at once with its own words for it, and leaves no socket file.
    path = os.path.join(short_dir, SOCKET_NAME)
    result = run(app_servers.command(server, uds=path), cwd=short_dir)
    assert result.returncode != 0, result
    assert complaint in result.stdout + result.stderr, result
    assert not os.path.lexists(path)
