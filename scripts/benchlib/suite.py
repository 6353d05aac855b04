"""What every suite shares: the run's settings and folders, tools, builds and servers.

A suite is a subclass of Suite, listed in benchlib.cli.SUITES: it names the files it
writes into the results folder, plans its steps for the progress line, and runs. Adding
one (`scripts/bench hostile`, say) is one more class there.
"""
import os
import shutil
import string
import subprocess
import sys
from dataclasses import dataclass

from . import processes
from .processes import BenchError

SYSTEM_PYTHON = "/usr/bin/python3"  # Debian's: the one that sees python3-uvicorn, python3-aiohttp


@dataclass
class Settings:
    """The command line, resolved."""
    quick: bool
    requests: int
    connections: int
    rounds: int


class Bench:
    """One run of scripts/bench: where it writes, what it says, what it started."""

    def __init__(self, root, out, work, settings, console, progress, pinning, environ):
        self.root, self.out, self.work = root, out, work
        self.settings, self.console, self.progress = settings, console, progress
        self.pinning, self.environ = pinning, environ
        self.servers = []

    def path(self, *parts):
        """A path under the project root."""
        return os.path.join(self.root, *parts)

    def scratch(self, name):
        """A path in the scratch directory (short: sun_path holds 108 bytes)."""
        return os.path.join(self.work, name)

    # --- tools and programs -------------------------------------------------------------

    def require_tools(self, *pairs):
        """pairs of (Debian package, command): installs through scripts/setup the packages
        whose command is missing (as root; otherwise setup says what to run), or fails."""
        missing = [package for package, command in pairs if find_command(command) is None]
        self._install(missing, "missing tools")

    def require_modules(self, *pairs):
        """The same for (Debian package, Python module), as Debian's python3 sees them."""
        missing = [package for package, module in pairs
                   if subprocess.run([SYSTEM_PYTHON, "-c", f"import {module}"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode]
        self._install(missing, "missing Python modules")

    def _install(self, packages, what):
        if packages and subprocess.run([self.path("scripts", "setup"), *packages]).returncode:
            raise BenchError(f"{what}: {' '.join(packages)}")

    def program(self, target, variable):
        """The path of a program the project builds: $variable if the environment names it,
        else build/default's, built with the default preset first."""
        if self.environ.get(variable):
            path = self.environ[variable]
        else:
            self._build(target)
            path = self.path("build", "default", "bin", target)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise BenchError(f"{path} is not an executable file")
        return path

    def _build(self, target):
        if shutil.which("cmake") is None:
            raise BenchError("cmake is missing: run ./scripts/setup first")
        self.console.line(f"building {target}: cmake --build --preset default --target {target}")
        steps = [["cmake", "--build", "--preset", "default", "--target", target]]
        # A configured build directory reconfigures itself when it has to; a new one needs
        # the configure step first.
        if not os.path.isfile(self.path("build", "default", "build.ninja")):
            steps.insert(0, ["cmake", "--preset", "default"])
        log_path = self.scratch(f"build-{target}.log")
        with open(log_path, "wb") as log:
            for step in steps:
                if subprocess.run(step, cwd=self.root, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT).returncode:
                    with open(log_path, errors="replace") as text:
                        sys.stderr.write("".join(text.readlines()[-30:]))
                    raise BenchError(f"building {target} failed (the last lines of the build are above)")

    def run_tool(self, command, output, seconds, **options):
        """A measuring tool, pinned to the loader's core, its output into the file output."""
        with open(output, "wb") as out:
            return processes.run_tool(command, out, cpu=self.pinning.loader, seconds=seconds, **options)

    # --- servers ------------------------------------------------------------------------

    def show(self, command, cpu):
        """Shows a command about to run, pinned to cpu with sched_setaffinity: as the taskset
        command that does the same, so that it can be copied into a shell."""
        shown = " ".join(command).replace(self.work, "$work")
        self.console.command(shown if cpu is None else f"taskset -c {cpu} {shown}")

    def start_server(self, name, command, socket_files=()):
        """Starts a server pinned to the server core, its output in the scratch directory."""
        self.show(command, self.pinning.server)
        server = processes.Server(name, command, self.scratch(f"{name}.log"),
                                  cpu=self.pinning.server, socket_files=socket_files)
        self.servers.append(server)
        return server.start()

    def stop_server(self, server):
        said = server.stop()
        if server in self.servers:
            self.servers.remove(server)
        if said:
            self.console.line(f"  {said}")

    def stop_servers(self):
        for server in list(self.servers):
            self.stop_server(server)


def find_command(command):
    """The path of command on PATH, or in /usr/sbin (nginx lives there, which an ordinary
    user's PATH may leave out); None if neither has it."""
    return shutil.which(command) or shutil.which(command, path="/usr/sbin")


class Suite:
    """One suite of measurements. Subclasses set name, outputs and report, and define plan
    and run."""
    name = ""
    outputs = ()   # the files it writes into the results folder
    report = None  # the Markdown file of them that summary.md includes

    def __init__(self, bench):
        self.bench = bench
        self.console, self.settings = bench.console, bench.settings

    def out(self, name):
        return os.path.join(self.bench.out, name)

    def plan(self, progress):
        """Adds this suite's steps, with the seconds each should take, to progress."""
        raise NotImplementedError

    def run(self):
        """Measures and writes self.outputs; raises BenchError when something fails to run."""
        raise NotImplementedError


def render(template, destination, **fields):
    """Writes scripts/bench-templates/template, its $fields filled in, to destination."""
    source = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                          "bench-templates", template)
    with open(source) as file:
        text = string.Template(file.read()).substitute(fields)
    with open(destination, "w") as file:
        file.write(text)
    return destination
