"""scripts/bench's command line: which suites, where the results go, and the run itself.

The suites run in SUITES' order; `all` (the default) runs every one. A failing suite is
reported and the others still run; the exit status is then 1. Ctrl-C (or SIGTERM) stops
everything the bench started and removes its scratch directory: nothing is left running
and no socket file behind, only the results folder.
"""
import argparse
import os
import shutil
import signal
import sys
import tempfile
import time

from . import machine
from .apps_suite import AppsSuite
from .console import Console, Progress, duration_text
from .hostile_suite import HostileSuite
from .http_suite import HttpSuite
from .markdown import one_level_down
from .processes import BenchError, indented
from .raw_suite import RawSuite
from .suite import Bench, Settings

SUITES = (RawSuite, HttpSuite, HostileSuite, AppsSuite)  # a new suite is one more class here
ENVIRONMENT = ("HTTP_MIN", "CANNED_HTTP", "IPC_BENCH")  # programs to measure instead of building them

DESCRIPTION = """\
Chapter 11's measurements, run side by side on this machine, written to a results folder.

Suites (none given: all of them, raw, http, hostile, then apps):
  raw    Unix sockets against TCP without HTTP: round-trip latency, throughput, connections
         (ipc_bench, checked against sockperf).
  http   the same JSON response from canned_http (the floor: no parsing at all), http_min
         (1 and 2 workers), nginx, uvicorn, gunicorn and aiohttp, over a Unix socket and over
         TCP, and from nginx in front of http_min (Unix-socket upstream against TCP upstream):
         requests/s (h2load, checked against wrk) and the servers' CPU time per request.
         Servers run pinned to one core, the load generator to the other.
  hostile  http_min next to nginx under hostile and careless clients (issue 11's targets):
         server memory per idle keep-alive connection (3,000 open), after 10,000 churned
         connections, and with 4 clients that pipeline without reading; the median latency
         of a keep-alive static GET over TCP and over a Unix socket. About a minute.
  apps   chapter 13's table: uvicorn, gunicorn, aiohttp, hypercorn and a plain asyncio
         server, with http_min beside them, each over a Unix socket and over TCP, directly
         and through an nginx of its own (with keep-alive to the server, and without):
         requests/s, the server's CPU time per request and nginx's. Runs of about 1.5 s
         (--quick 0.2 s), three rounds: about three minutes."""

EPILOG = """\
The results folder gets machine.txt, raw.csv, raw.md, latency.svg, http.csv, http.md,
hostile.csv, hostile.md, apps.csv, apps.md and summary.md (the machine and every table). Progress, with the time left, goes to stderr.
It is a measurement, not a test: it exits 0 whatever the figures say, and non-zero only when
something failed to run.
Environment: HTTP_MIN=/path/to/http_min, CANNED_HTTP=/path/to/canned_http and
IPC_BENCH=/path/to/ipc_bench measure those binaries instead of building them with the default
preset."""


class Terminated(BaseException):
    """SIGTERM, handled as Ctrl-C is."""


def positive(text):
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"needs a positive whole number, not '{text}'")
    return int(text)


def parse_arguments(argv):
    parser = argparse.ArgumentParser(prog="scripts/bench", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("suite", nargs="?", default="all",
                        choices=["all"] + [suite.name for suite in SUITES])
    parser.add_argument("--out", metavar="DIR",
                        help="where the results go (default results/YYYY-MM-DD-HHMMSS/)")
    parser.add_argument("--quick", action="store_true",
                        help="a smoke run of every suite, about a minute: fewer requests, one "
                             "round, smaller counts in the hostile suite")
    parser.add_argument("--requests", metavar="N", type=positive,
                        help="http: requests per h2load run for the fast servers (default 200000, "
                             "--quick 20000); the slower ones get fewer, so that every run takes "
                             "about as long; apps: the most requests a run gets")
    parser.add_argument("--connections", metavar="C", type=positive, default=32,
                        help="http, apps: concurrent connections (default 32)")
    parser.add_argument("--rounds", metavar="R", type=positive,
                        help="http, apps: measured runs per server and transport, in rotating order "
                             "(default 3, --quick 1)")
    args = parser.parse_args(argv)
    args.requests = args.requests or (20000 if args.quick else 200000)
    args.rounds = args.rounds or (1 if args.quick else 3)
    if args.requests < args.connections:
        parser.error(f"--requests must be at least --connections ({args.connections})")
    return args


def write_summary(out, pinning, suites):
    """summary.md: the machine and every table of this run, each a level down."""
    with open(os.path.join(out, "machine.txt")) as file:
        facts = file.read().splitlines()
    date = next((line.split(": ", 1)[1] for line in facts if line.startswith("date: ")), "")
    parts = [f"# Benchmark results, {date}\n\n## Machine\n\n"
             + "".join(f"    {line}\n" for line in facts + [f"pinning: {pinning}"])]
    for suite in suites:
        path = os.path.join(out, suite.report)
        if os.path.isfile(path) and os.path.getsize(path):
            with open(path) as file:
                parts.append(one_level_down(file.read()))
    with open(os.path.join(out, "summary.md"), "w") as file:
        file.write("\n".join(parts))


def main(argv=None):
    args = parse_arguments(argv)
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    # Paths given relative to where scripts/bench was started.
    environ = {name: os.path.abspath(os.environ[name]) for name in ENVIRONMENT if os.environ.get(name)}
    out = os.path.abspath(args.out) if args.out else os.path.join(
        root, "results", time.strftime("%Y-%m-%d-%H%M%S"))
    os.makedirs(out, exist_ok=True)
    chosen = [suite for suite in SUITES if args.suite in ("all", suite.name)]
    # What this run writes, so that nothing stale from an earlier run into the same folder stays.
    for name in ["machine.txt", "summary.md"] + [name for suite in chosen for name in suite.outputs]:
        if os.path.exists(os.path.join(out, name)):
            os.remove(os.path.join(out, name))

    def terminate(signum, frame):
        raise Terminated()
    signal.signal(signal.SIGTERM, terminate)

    console = Console()
    progress = Progress(console)
    work = tempfile.mkdtemp(prefix="bench-", dir="/tmp")  # short on purpose: sun_path holds 108 bytes
    settings = Settings(args.quick, args.requests, args.connections, args.rounds)
    bench = Bench(root, out, work, settings, console, progress, machine.Pinning.choose(), environ)
    started, failed, status = time.monotonic(), False, 0
    try:
        facts = machine.machine_txt()
        with open(os.path.join(out, "machine.txt"), "w") as file:
            file.write(facts)
        console.say(f"scripts/bench {args.suite}{' --quick' if args.quick else ''}: results in {out}")
        console.line(indented(facts).rstrip("\n"))
        suites = []
        for suite_class in chosen:
            suite = suite_class(bench)
            before = len(progress.planned)
            suite.plan(progress)
            suites.append((suite, len(progress.planned) - before))
        for suite, steps in suites:
            first = progress.count
            try:
                suite.run()
            except BenchError as error:
                # The other suites still run: their figures do not depend on this one's.
                console.warn(f"the {suite.name} suite failed: {error}")
                failed = True
                progress.finish()
                progress.skip(steps - (progress.count - first))
            finally:
                bench.stop_servers()
        progress.finish()
        write_summary(out, bench.pinning, [suite for suite, _ in suites])
        console.say(f"Done in {duration_text(time.monotonic() - started)}: "
                    f"{os.path.join(out, 'summary.md')}")
    except (KeyboardInterrupt, Terminated) as interruption:
        status = 130 if isinstance(interruption, KeyboardInterrupt) else 143
        console.warn("interrupted: stopping what it started")
    finally:
        # A second Ctrl-C must not cut the clean-up short.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        bench.stop_servers()
        shutil.rmtree(work, ignore_errors=True)
        console.clear_status()
    return status or (1 if failed else 0)


if __name__ == "__main__":
    sys.exit(main())
