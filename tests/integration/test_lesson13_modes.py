"""Chapter 13, who else can connect: the mode each of the five Python servers gives its socket
file, what that lets another user do, and the fix for each.

The servers are the real ones from Debian's packages, running the chapter's apps
(course_support/app_servers.py). Each module-scoped group of servers starts once; the tests
only look at the files and connect. Connecting as another user needs root: those
tests are skipped otherwise."""

import contextlib
import grp
import os
import signal
import socket
import tempfile

import pytest

from course_support import app_servers
from course_support.app_servers import SERVERS
from course_support.socket_access import connect_as, mode_of
from course_support.nginx import EXAMPLES, NginxRunner, read
from course_support.polling import poll_until
from course_support.processes import remove_tree
from course_support.timeouts import STOP_TIMEOUT

UMASKS = (0o022, 0o077)

# Measured on this machine (Debian 12: uvicorn 0.17.6, gunicorn 20.1, aiohttp 3.8,
# hypercorn 0.13, Python 3.11's asyncio). uvicorn chmods its socket to 0666 after bind();
# gunicorn sets its own umask, 0 unless --umask says otherwise; the other three bind with
# the process's umask.
MODE = {
    ("uvicorn", 0o022): 0o666, ("uvicorn", 0o077): 0o666,
    ("gunicorn", 0o022): 0o777, ("gunicorn", 0o077): 0o777,
    ("aiohttp", 0o022): 0o755, ("aiohttp", 0o077): 0o700,
    ("hypercorn", 0o022): 0o755, ("hypercorn", 0o077): 0o700,
    ("asyncio", 0o022): 0o755, ("asyncio", 0o077): 0o700,
}


def needs_root():
    if os.geteuid() != 0:
        pytest.skip("needs root: only root can connect as another user (nobody)")


def proxy_group() -> int:
    """The gid of www-data, the group Debian's nginx workers run as."""
    try:
        return grp.getgrnam("www-data").gr_gid
    except KeyError:
        pytest.skip("needs a group www-data (Debian's nginx workers' group)")


@contextlib.contextmanager
def started(directory, cases):
    """Every server of `cases` ({key: (server, file name, umask, extra options)}) running in
    `directory`: {key: AppServer}; all stopped at the end."""
    with contextlib.ExitStack() as stack:
        servers = {key: stack.enter_context(app_servers.start(
                       server, uds=os.path.join(directory, name), umask=umask, extra=extra))
                   for key, (server, name, umask, extra) in cases.items()}
        try:
            yield servers
        finally:
            # SIGTERM to all at once, rather than one after the other as the ExitStack
            # would; each start() then finds its server ended, reaps it and cleans up.
            for server in servers.values():
                if not server.has_ended():
                    os.kill(server.process.pid, signal.SIGTERM)
            poll_until(lambda: all(server.has_ended() for server in servers.values()),
                       STOP_TIMEOUT)


@contextlib.contextmanager
def new_directory(mode, group_www_data=False):
    """A new directory /tmp/course-XXXXXXXX of `mode`, of group www-data if asked (as root
    only: another user may not give a file a group it is not in); removed at the end."""
    directory = tempfile.mkdtemp(prefix="course-", dir="/tmp")
    try:
        if group_www_data and os.geteuid() == 0:
            os.chown(directory, 0, proxy_group())
        os.chmod(directory, mode)
        yield directory
    finally:
        remove_tree(directory)


@pytest.fixture(scope="module")
def open_directory():
    """A directory every user may search (0755), as /run/app would be: only the socket's own
    mode decides who connects."""
    with new_directory(0o755) as directory:
        yield directory


@pytest.fixture(scope="module")
def default_servers(open_directory):
    """Each server with each umask of UMASKS, as it comes: {(server, umask): Server}."""
    cases = {(server, umask): (server, f"{server}-{umask:03o}.sock", umask, ())
             for server in SERVERS for umask in UMASKS}
    with started(open_directory, cases) as servers:
        yield servers


# --------------------------------------------------------------------------------------
# The mode each server gives its socket


@pytest.mark.parametrize("umask", UMASKS, ids=lambda umask: f"umask{umask:03o}")
@pytest.mark.parametrize("server", SERVERS)
def test_the_mode_each_server_gives_its_socket(default_servers, server, umask):
    path = default_servers[server, umask].path
    assert oct(mode_of(path)) == oct(MODE[server, umask]), (
        f"{server} started with umask {umask:03o}")


@pytest.mark.parametrize("server", SERVERS)
def test_another_user_connects_only_where_the_mode_lets_others_write(default_servers, server):
    # connect() needs write permission on the socket file: 0666 and 0777 let everyone in,
    # 0755 keeps out everyone but the owner, the proxy's group too.
    needs_root()
    path = default_servers[server, 0o022].path
    others_may_write = bool(mode_of(path) & 0o002)
    assert others_may_write == (server in ("uvicorn", "gunicorn"))
    assert connect_as(path) == ("connected" if others_may_write else "EACCES")


# --------------------------------------------------------------------------------------
# The fixes


@pytest.fixture(scope="module")
def private_directory():
    """A directory like /run/app after `install -d -m 0750 -g www-data`: only root and the
    group www-data may reach what is inside (as root; else the user's own group)."""
    with new_directory(0o750, group_www_data=True) as directory:
        yield directory


@pytest.fixture(scope="module")
def servers_in_a_private_directory(private_directory):
    cases = {server: (server, f"{server}.sock", 0o022, ())
             for server in ("uvicorn", "gunicorn", "aiohttp")}
    with started(private_directory, cases) as servers:
        yield servers


@pytest.mark.parametrize("server", ("uvicorn", "gunicorn"))
def test_a_private_directory_refuses_another_user_even_a_world_writable_socket(
        servers_in_a_private_directory, server):
    needs_root()
    path = servers_in_a_private_directory[server].path
    assert mode_of(path) & 0o002, "the socket itself lets others write"
    assert connect_as(path) == "EACCES"  # search permission on the directory: denied
    assert connect_as(path, groups=[proxy_group()]) == "connected"


def test_a_private_directory_does_not_open_a_0755_socket_to_the_group(
        servers_in_a_private_directory):
    # The directory only keeps people out: aiohttp's 0755 socket stays shut to the group.
    needs_root()
    path = servers_in_a_private_directory["aiohttp"].path
    assert oct(mode_of(path)) == oct(0o755)
    assert connect_as(path, groups=[proxy_group()]) == "EACCES"


# Each server's own fix: what it is told, and the mode it then gives. The outer umask is
# 022 except where the process umask is the fix. gunicorn reads --umask as octal when it
# starts with 0, else as decimal; hypercorn always as decimal: 117 is 0o165, which gives
# 0612; 79 is 0o117, which gives 0660.
FIXES = {
    "gunicorn --umask 0117": ("gunicorn", 0o022, ["--umask", "0117"], 0o660),
    "gunicorn --umask 117": ("gunicorn", 0o022, ["--umask", "117"], 0o612),
    "hypercorn --umask 0117": ("hypercorn", 0o022, ["--umask", "0117"], 0o612),
    "hypercorn --umask 79": ("hypercorn", 0o022, ["--umask", "79"], 0o660),
    "aiohttp, umask 0117": ("aiohttp", 0o117, [], 0o660),
    "asyncio, umask 0117": ("asyncio", 0o117, [], 0o660),
}


@pytest.fixture(scope="module")
def group_directory():
    """A directory every user may search, whose set-group-ID bit gives every file made in
    it its group (www-data, as root): the socket's group is then the proxy's, whoever binds."""
    with new_directory(0o2755, group_www_data=True) as directory:
        yield directory


@pytest.fixture(scope="module")
def fixed_servers(group_directory):
    cases = {fix: (server, f"fix{number}.sock", umask, extra)
             for number, (fix, (server, umask, extra, _)) in enumerate(FIXES.items())}
    with started(group_directory, cases) as servers:
        yield servers


@pytest.mark.parametrize("fix", FIXES)
def test_the_mode_each_fix_gives(fixed_servers, fix):
    assert oct(mode_of(fixed_servers[fix].path)) == oct(FIXES[fix][3])


FIXED = [fix for fix, (_, _, _, mode) in FIXES.items() if mode == 0o660]
TRAPS = [fix for fix, (_, _, _, mode) in FIXES.items() if mode == 0o612]


@pytest.mark.parametrize("fix", FIXED)
def test_with_the_fix_another_user_is_refused_and_the_group_connects(fixed_servers, fix):
    needs_root()
    path = fixed_servers[fix].path
    assert os.lstat(path).st_gid == proxy_group()  # from the directory's set-group-ID bit
    assert connect_as(path) == "EACCES"
    assert connect_as(path, groups=[proxy_group()]) == "connected"


@pytest.mark.parametrize("fix", TRAPS)
def test_a_decimal_umask_of_117_lets_every_user_in_and_keeps_the_group_out(fixed_servers, fix):
    # 0612: others may write, so connect; the group may only search.
    needs_root()
    path = fixed_servers[fix].path
    assert os.lstat(path).st_gid == proxy_group()
    assert connect_as(path) == "connected"
    assert connect_as(path, groups=[proxy_group()]) == "EACCES"


def test_uvicorn_gives_its_socket_the_mode_of_the_file_it_replaced(short_dir):
    # Its 0666 is for a new path; over an existing socket file it copies that file's mode.
    path = os.path.join(short_dir, "uvicorn.sock")
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as crashed:
        crashed.bind(path)
    os.chmod(path, 0o600)
    with app_servers.start("uvicorn", uds=path) as server:
        assert server.whoami()["server"] == "uvicorn"
        assert oct(mode_of(path)) == oct(0o600)


def test_nginx_as_www_data_gets_502_from_a_0755_socket_and_200_once_it_is_0660_www_data(
        short_dir):
    # The shipped app-unix.conf, its workers as www-data as on Debian; the socket in a
    # directory they may search, which gives new files the group www-data.
    if os.geteuid() != 0:
        pytest.skip("needs root: nginx switches its workers to www-data only as root")
    proxy_group()
    runner = NginxRunner(short_dir)
    try:
        with new_directory(0o2755, group_www_data=True) as sockets:
            nginx = runner.start(read(EXAMPLES / "app-unix.conf"), sockets=sockets,
                                 user="www-data", what="app-unix.conf")
            path = os.path.join(sockets, "app.sock")  # /run/app/app.sock in the file
            # aiohttp under umask 022: 0755, group www-data, who may not write it.
            with app_servers.start("aiohttp", uds=path, umask=0o022):
                assert oct(mode_of(path)) == oct(0o755)
                logged = len(nginx.error_log())
                assert nginx.get("/").status == 502
                assert "(13: Permission denied)" in nginx.error_log()[logged:]
            # The fix: umask 0117 (UMask=0117 under systemd): 0660.
            with app_servers.start("aiohttp", uds=path, umask=0o117):
                assert oct(mode_of(path)) == oct(0o660)
                response = nginx.get("/")
                assert response.status == 200, f"{response}\n{nginx.describe()}"
                assert response.json()["server"] == "aiohttp"
    finally:
        problems = runner.finish_all()
    assert not problems, "\n\n".join(problems)
