"""The real nginx for chapters 10 and 12's tests: run as the current user, in a temporary
prefix, on the course's configuration files (nginx/snippets, nginx/examples) with only their
paths changed.

    proxy = nginx.start(read(EXAMPLES / "unix-backend.conf"), sockets=short_dir)
    assert proxy.get("/").status == 200        # `nginx` is the fixture made of NginxRunner

What a test can rely on, besides what processes.StartedProcess promises:

- The files are used as shipped. for_test() only moves what must move: /run/http_min/ (and
  chapter 13's /run/app/) to the test's socket directory, /run/nginx/ and /var/log/nginx/ and the pid file into the
  prefix, /etc/nginx/snippets/http_min/ to rewritten copies of nginx/snippets (or to the
  files a test names instead), `listen 80` to a free port on 127.0.0.1, backend addresses
  to the ones the test started. It also sets the error log level (notice), the number of
  worker processes (2) and the `user` (below), and adds the temporary-file paths nginx
  would otherwise create under /var/lib/nginx. Any production path left over fails the test
  before nginx runs: a test never writes to the system's nginx directories.
- Who nginx's workers run as: without root, as the current user (there is no `user` line:
  nginx could not switch anyway). As root, nginx would switch them to the `user` directive's
  user, or to nobody without one, and nobody cannot reach a test's 0700 directory: so as
  root the configuration says `user root;` unless the test asks for another user (the
  permission test asks for nobody).
- `nginx -t` checks every configuration before nginx starts, and a refusal fails the test
  with nginx's words and the numbered configuration. nginx runs in the foreground
  (-g 'daemon off;') as the leader of its own process group, with a master and worker
  processes as in production (the workers are what connect to the backends); it is ready
  once it has written its pid file and a connection to it succeeds.
- A port taken between choosing it and nginx's bind() (another test running in parallel)
  is retried with another port; any other start-up failure fails the test.
- Stopping is SIGQUIT (nginx's graceful stop: workers finish their requests).
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Mapping, Optional, Sequence

import pytest

from .http import HttpConnection, Response, http_request, start_http_min
from .processes import StartedProcess, processes
from .programs import REPO_ROOT
from .sockets import free_port
from .timeouts import IO_TIMEOUT, READY_TIMEOUT, RUN_TIMEOUT

SNIPPETS = REPO_ROOT / "nginx" / "snippets"
EXAMPLES = REPO_ROOT / "nginx" / "examples"

# Where the shipped files expect things on a production host.
INSTALLED_SNIPPETS = "/etc/nginx/snippets/http_min/"
PRODUCTION_SOCKETS = "/run/http_min/"
PRODUCTION_APP_SOCKETS = "/run/app/"  # chapter 13's app servers (upstream-app-unix.conf)
PRODUCTION_NGINX_RUN = "/run/nginx/"
PRODUCTION_LOGS = "/var/log/nginx/"

TEST_WORKER_PROCESSES = 2  # `auto` would start one per core, for every parallel test
ERROR_LOG_LEVEL = "notice"  # warn and crit lines (upstream failures) included, debug not
PORT_ATTEMPTS = 5

AS_ROOT = os.geteuid() == 0
DEFAULT_USER = "root" if AS_ROOT else None  # see the module's docstring


def nginx_binary() -> str:
    """nginx's path (it lives in /usr/sbin, which an ordinary user's PATH may leave out);
    skips the test, saying how to install it, when there is none."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if os.access("/usr/sbin/nginx", os.X_OK)
                                      else None)
    if found is None:
        pytest.skip("nginx is not installed (scripts/setup installs nginx-light)")
    return found


def read(path: Path) -> str:
    return Path(path).read_text()


def numbered(text: str) -> str:
    return "".join(f"{number:4} {line}\n" for number, line in enumerate(text.splitlines(), 1))


def without_comments(text: str) -> str:
    """The configuration without its comments (none of the course's files has a # inside
    quotes)."""
    return "\n".join(line.partition("#")[0] for line in text.splitlines())


# --------------------------------------------------------------------------------------
# A temporary prefix and the configuration rewritten for it


class NginxPrefix:
    """One nginx's directory: conf/ (the configuration and rewritten snippet copies), logs/,
    run/ (what /run/nginx/ becomes), temp/ (request bodies and the like), and the pid file."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.conf_dir = os.path.join(directory, "conf")
        self.logs_dir = os.path.join(directory, "logs")
        self.run_dir = os.path.join(directory, "run")
        self.temp_dir = os.path.join(directory, "temp")
        for path in (self.conf_dir, self.logs_dir, self.run_dir, self.temp_dir):
            os.makedirs(path, exist_ok=True)
        self.conf = os.path.join(self.conf_dir, "nginx.conf")
        self.pid_file = os.path.join(self.run_dir, "nginx.pid")
        self.error_log = os.path.join(self.logs_dir, "error.log")
        self.access_log = os.path.join(self.logs_dir, "access.log")

    def temp_paths(self, indent: str = "    ") -> str:
        """http{} directives that keep nginx's temporary files in the prefix (the compiled-in
        defaults are under /var/lib/nginx, which only root may write)."""
        return "".join(f"{indent}{kind}_temp_path {os.path.join(self.temp_dir, kind)};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))

    def main_context(self, user: Optional[str] = DEFAULT_USER) -> str:
        """The main-context lines of a configuration written from scratch (for a snippet)."""
        return (user_line(user)
                + f"worker_processes 1;\n"
                  f"pid {self.pid_file};\n"
                  f"error_log {self.error_log} {ERROR_LOG_LEVEL};\n"
                  f"events {{\n    worker_connections 64;\n}}\n")

    def http_context(self) -> str:
        """The first lines of an http{} block written from scratch."""
        return f"    access_log {self.access_log};\n" + self.temp_paths()


def user_line(user: Optional[str]) -> str:
    """The `user` directive for `user` ("nobody nogroup", "root"), or none for None."""
    return f"user {user};\n" if user else ""


def _sub_directive(name: str, replacement: str, text: str) -> str:
    """Replaces every `name ...;` directive (at the start of a line) by `replacement`
    (a whole line, or "" to drop it)."""
    pattern = re.compile(rf"^[ \t]*{name}\b[^;#\n]*;[^\n]*\n?", re.MULTILINE)
    return pattern.sub(lambda match: replacement, text)


def for_test(text: str, prefix: NginxPrefix, *, port: int, sockets: str,
             user: Optional[str] = DEFAULT_USER, backends: Mapping[str, str] = {},
             snippets: Mapping[str, str] = {}) -> str:
    """A shipped configuration file (or snippet) with its production paths moved into the
    test's directories: see the module's docstring. `backends` maps addresses as shipped
    ("127.0.0.1:8000") to the test's; `snippets` maps a snippet's file name to the file to
    include instead of nginx/snippets/NAME. Included snippets are rewritten the same way,
    into prefix.conf_dir. Fails the test if a production path would remain."""
    for shipped, actual in backends.items():
        text = text.replace(shipped, actual)
    text = text.replace(PRODUCTION_SOCKETS, sockets.rstrip("/") + "/")
    text = text.replace(PRODUCTION_APP_SOCKETS, sockets.rstrip("/") + "/")
    text = text.replace(PRODUCTION_NGINX_RUN, prefix.run_dir + "/")

    def include(match: re.Match) -> str:
        name = match.group(2)
        source = Path(snippets.get(name, SNIPPETS / name))
        if not source.is_file():
            pytest.fail(f"the configuration includes {INSTALLED_SNIPPETS}{name}, but there "
                        f"is no {source}", pytrace=False)
        copy = os.path.join(prefix.conf_dir, name)
        Path(copy).write_text(for_test(read(source), prefix, port=port, sockets=sockets,
                                       user=user, backends=backends, snippets=snippets))
        return match.group(1) + copy

    text = re.sub(rf"(\binclude\s+){re.escape(INSTALLED_SNIPPETS)}([\w.-]+)", include, text)

    text = _sub_directive("user", user_line(user), text)
    text = _sub_directive("pid", f"pid {prefix.pid_file};\n", text)
    text = _sub_directive("error_log", f"error_log {prefix.error_log} {ERROR_LOG_LEVEL};\n",
                          text)
    text = _sub_directive("worker_processes", f"worker_processes {TEST_WORKER_PROCESSES};\n",
                          text)
    text = text.replace(PRODUCTION_LOGS, prefix.logs_dir + "/")
    # TCP listeners (`listen 80;`, `listen 0.0.0.0:80 ...`) move to 127.0.0.1:PORT.
    text = re.sub(r"^([ \t]*listen\s+)(?!unix:)[^\s;]+", rf"\g<1>127.0.0.1:{port}", text,
                  flags=re.MULTILINE)
    text = re.sub(r"^([ \t]*http\s*\{[^\n]*\n)", lambda match: match.group(1)
                  + prefix.temp_paths(), text, count=1, flags=re.MULTILINE)

    leftovers = [line.strip() for line in without_comments(text).splitlines()
                 if re.search(r"(?<![\w.-])/(run|var|etc)/", line)]
    if leftovers:
        pytest.fail("production paths left in the configuration after rewriting it for the "
                    "test (course_support.nginx.for_test must learn them):\n  "
                    + "\n  ".join(leftovers), pytrace=False)
    return text


def config_around(context: str, snippet: str, prefix: NginxPrefix, port: int,
                  user: Optional[str] = DEFAULT_USER) -> str:
    """A complete configuration that includes the file `snippet` in `context` ("http",
    "server", "location" or "upstream"), with the least around it that nginx needs: a server
    on 127.0.0.1:PORT, and for a location or upstream an upstream "http_min" to proxy to."""
    include = f"include {snippet};"
    upstream = ("    upstream http_min {\n"
                f"        server unix:{os.path.join(prefix.run_dir, 'backend.sock')};\n"
                + (f"        {include}\n" if context == "upstream" else "")
                + "    }\n")
    location = ("            proxy_pass http://http_min;\n"
                + (f"            {include}\n" if context == "location" else ""))
    server = (f"    server {{\n        listen 127.0.0.1:{port};\n"
              + (f"        {include}\n" if context == "server" else "")
              + f"        location / {{\n{location}        }}\n    }}\n")
    if context == "http":
        body = f"    {include}\n"
    elif context in ("server", "location", "upstream"):
        body = upstream + server
    else:
        raise ValueError(f"no such context: {context!r}")
    return prefix.main_context(user) + "http {\n" + prefix.http_context() + body + "}\n"


# --------------------------------------------------------------------------------------
# Running it


def nginx_test(prefix: NginxPrefix, conf: str) -> subprocess.CompletedProcess:
    """`nginx -t` on `conf`, in `prefix`."""
    command = [nginx_binary(), "-t", "-p", prefix.directory + "/", "-c", conf]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT,
                              stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(command)} did not finish within {RUN_TIMEOUT} s",
                    pytrace=False)


def check_config(prefix: NginxPrefix, text: str, what: str) -> subprocess.CompletedProcess:
    """Writes `text` as prefix.conf and runs `nginx -t`; fails the test with nginx's output
    and the numbered configuration unless nginx accepts it."""
    Path(prefix.conf).write_text(text)
    result = nginx_test(prefix, prefix.conf)
    if result.returncode != 0:
        pytest.fail(f"nginx -t rejects {what} (exit status {result.returncode}):\n"
                    f"{result.stderr}{result.stdout}\n--- {prefix.conf} ---\n{numbered(text)}"
                    + included_files(prefix), pytrace=False)
    return result


def included_files(prefix: NginxPrefix) -> str:
    """The rewritten snippet copies in prefix.conf_dir, numbered, for failure messages."""
    parts = []
    for name in sorted(os.listdir(prefix.conf_dir)):
        path = os.path.join(prefix.conf_dir, name)
        if path != prefix.conf:
            parts.append(f"--- {path} ---\n{numbered(read(Path(path)))}")
    return "".join(parts)


def _tail(path: str, size: int = 6000) -> str:
    try:
        with open(path, "rb") as log:
            log.seek(max(0, os.fstat(log.fileno()).st_size - size))
            return log.read().decode(errors="replace")
    except OSError as error:
        return f"({error})\n"


class Nginx(StartedProcess):
    """One running nginx (made by NginxRunner.start), a StartedProcess stopped with SIGQUIT.

    prefix   its NginxPrefix (logs, configuration)
    port     the TCP port it listens on, on 127.0.0.1 (None if it listens on none)
    address  "127.0.0.1:PORT", or its first `listen unix:` path as "unix:PATH"
    process  the master's subprocess.Popen
    """

    stop_signal = signal.SIGQUIT  # nginx's graceful stop: workers finish their requests

    def __init__(self, prefix: NginxPrefix, text: str, port: Optional[int],
                 launcher: Sequence[str] = ()) -> None:
        """`launcher`: a command prefix that execs nginx (such as nsenter, for another
        network namespace): the process started is still nginx's master."""
        self.prefix = prefix
        self.text = text
        # The configuration and the snippet copies it includes, for its listen directives.
        everything = without_comments(text + "".join(
            read(Path(prefix.conf_dir) / name) for name in sorted(os.listdir(prefix.conf_dir))
            if os.path.join(prefix.conf_dir, name) != prefix.conf))
        self.unix_listeners = re.findall(r"^[ \t]*listen\s+unix:([^\s;]+)", everything,
                                         re.MULTILINE)
        self.port = port if re.search(r"^[ \t]*listen\s+127\.0\.0\.1:", everything,
                                      re.MULTILINE) else None
        address = (f"127.0.0.1:{self.port}" if self.port is not None
                   else f"unix:{self.unix_listeners[0]}")
        command = [*launcher, nginx_binary(), "-p", prefix.directory + "/", "-c", prefix.conf,
                   "-g", "daemon off;"]
        super().__init__("nginx", command, address=address)

    # What it said ----------------------------------------------------------------------

    def error_log(self) -> str:
        try:
            return read(Path(self.prefix.error_log))
        except FileNotFoundError:
            return ""

    def access_log_lines(self) -> int:
        try:
            with open(self.prefix.access_log, "rb") as log:
                return log.read().count(b"\n")
        except FileNotFoundError:
            return 0

    def describe(self) -> str:
        return (f"{super().describe()}\n"
                f"--- the end of its error log ---\n{_tail(self.prefix.error_log)}"
                f"--- end ---")

    # Its processes ---------------------------------------------------------------------

    def pid_file_written(self) -> bool:
        """True once nginx has written its pid (it binds its listeners before that)."""
        try:
            return read(Path(self.prefix.pid_file)).strip() == str(self.process.pid)
        except FileNotFoundError:
            return False

    def group(self) -> set[int]:
        """Live processes of its process group: the master and its workers."""
        return processes(lambda info: info["pgrp"] == self.process.pid)

    def worker_pids(self) -> set[int]:
        return processes(lambda info: info["ppid"] == self.process.pid)

    # Talking to it ---------------------------------------------------------------------

    def connection(self, timeout: float = IO_TIMEOUT) -> HttpConnection:
        """A new raw HTTP connection to nginx (course_support.http.HttpConnection)."""
        return HttpConnection(self.connect(timeout))

    def request(self, method: str, target: str, body: bytes = b"",
                headers: Sequence[tuple[str, str]] = ()) -> Response:
        """One request on a new connection; returns the response."""
        with self.connection() as connection:
            connection.send(http_request(method, target, headers, body))
            return connection.read_response(head=method == "HEAD")

    def get(self, target: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return self.request("GET", target, headers=headers)


class NginxRunner:
    """Starts nginx processes for one test, each in its own prefix under `directory`, and
    stops them all at teardown (`stop_all`)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.running: list[Nginx] = []
        self._count = 0

    def new_prefix(self) -> NginxPrefix:
        self._count += 1
        return NginxPrefix(os.path.join(self.directory, f"nginx-{self._count}"))

    def start(self, text: str, *, sockets: str, user: Optional[str] = DEFAULT_USER,
              backends: Mapping[str, str] = {}, snippets: Mapping[str, str] = {},
              what: str = "the configuration") -> Nginx:
        """nginx running `text` (a shipped configuration; for_test() rewrites it with these
        arguments), once it accepts connections."""
        for _ in range(PORT_ATTEMPTS):
            prefix = self.new_prefix()
            port = free_port()
            config = for_test(text, prefix, port=port, sockets=sockets, user=user,
                              backends=backends, snippets=snippets)
            check_config(prefix, config, what)
            written = config + included_files(prefix)
            for shipped, actual in backends.items():
                if actual not in written:
                    pytest.fail(f"{what} never names the backend {shipped} that the test "
                                f"moves to {actual}: the test and the file disagree.\n"
                                f"--- {prefix.conf} ---\n{numbered(config)}"
                                + included_files(prefix), pytrace=False)
            nginx = Nginx(prefix, config, port)
            self.running.append(nginx)
            if self.wait_until_ready(nginx):
                return nginx
            # Only a port taken in the meantime is worth another try.
        pytest.fail(f"nginx could not bind a free port in {PORT_ATTEMPTS} tries.\n"
                    f"{nginx.describe()}", pytrace=False)

    def wait_until_ready(self, nginx: Nginx) -> bool:
        """True once nginx has written its pid file and accepts a connection; False if it
        exited because its port was taken; fails the test on any other end or delay."""
        outcome, error = nginx.accepting_or_ended(READY_TIMEOUT, first=nginx.pid_file_written)
        if outcome == "accepting":
            return True
        said = nginx.output() + nginx.error_log()
        nginx.finish()  # its exit status is no news: the failure below says what happened
        taken = f"bind() to 127.0.0.1:{nginx.port} failed (98: Address already in use)"
        if outcome == "ended" and nginx.port is not None and taken in said:
            return False
        why = ("exited instead of starting" if outcome == "ended" else
               f"did not accept a connection on {nginx.address} within {READY_TIMEOUT} s "
               f"(last error: {error})")
        pytest.fail(f"nginx {why}.\n{nginx.describe()}", pytrace=False)

    def finish_all(self) -> list[str]:
        """Stops every nginx still running (StartedProcess.finish); returns what went wrong."""
        return [problem for nginx in self.running for problem in nginx.finish()]


# The complete example nginx.conf for each transport to http_min.
EXAMPLE_FOR = {"tcp": "tcp-backend.conf", "unix": "unix-backend.conf"}


def behind_nginx(start_server, nginx, short_dir, transport, *args, user=None, text=None):
    """http_min on `transport` with `args`, and nginx running the example for it (or `text`).
    The example's socket /run/http_min/http_min.sock becomes short_dir/http_min.sock, where
    start_server puts the first server; its 127.0.0.1:8000 becomes http_min's real port."""
    server = start_http_min(start_server, transport, "--no-access-log", *args)
    if transport == "unix":
        assert server.path == os.path.join(short_dir, "http_min.sock")
    backends = {"127.0.0.1:8000": server.address} if transport == "tcp" else {}
    extra = {} if user is None else {"user": user}
    proxy = nginx.start(text if text is not None else read(EXAMPLES / EXAMPLE_FOR[transport]),
                        sockets=short_dir, backends=backends, what=EXAMPLE_FOR[transport],
                        **extra)
    return server, proxy
