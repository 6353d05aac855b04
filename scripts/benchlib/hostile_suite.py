"""The hostile suite: http_min and nginx under clients that hold, churn and flood
connections, side by side in the same run (issue 11's four figures).

1. KiB of server RSS per idle keep-alive connection, with 3,000 of them open;
2. RSS growth after 10,000 churned connections, just after and after a short settle;
3. peak RSS growth while 4 clients pipeline GETs of a large file and never read;
4. the median latency of a keep-alive GET of a 2 KiB file over TCP and over a Unix socket.

Each test runs on a freshly started server, so that one test's leftovers (a grown heap)
do not count in the next one's figures. The clients are this process, on raw sockets
(benchlib.hostile_clients), pinned to the loader's core; the servers to the server core.
Writes hostile.csv (what was read off the machine) and hostile.md (the figures against
the targets, computed by benchlib.hostile_report).
"""
import csv
import grp
import os
import pwd
import resource
import time

from . import hostile_clients as clients
from . import hostile_report, processes, stats
from .hostile_report import Plan
from .http_suite import LISTENING
from .memory import tree_rss_kib
from .processes import BenchError
from .suite import Suite, find_command, render

TESTS = ("idle", "churn", "pipeline", "latency")
CONNECTING_AT_ONCE = 64      # idle connections being opened at a time
FILES_BESIDES = 200          # descriptors a process needs besides the idle connections
WARMUP_CONNECTIONS = 20      # one request each, one at a time, before the first RSS reading


class HostileSuite(Suite):
    name = "hostile"
    outputs = ("hostile.csv", "hostile.md")
    report = "hostile.md"

    def __init__(self, bench):
        super().__init__(bench)
        if self.settings.quick:   # a smoke run: the same tests, smaller
            self.counts = Plan(idle=1000, churn=2000, settle=1.0, pipeline_seconds=1.0, latency=200)
            self.latency_seconds = 3.0
        else:
            self.counts = Plan()
            self.latency_seconds = 8.0   # per transport: enough for ~150 GETs at 50 ms each
        self.notes, self.failures = [], []
        self.root_dir = bench.scratch("static")
        self.small = clients.get_request("/static/small.bin")
        self.big = clients.get_request("/static/big.bin")

    # --- the plan for the progress line -------------------------------------------------

    def seconds(self, test):
        """A guess at how long one test takes on one server."""
        counts = self.counts
        return {"idle": 1 + counts.idle / 1000,
                "churn": 1 + counts.churn / 2000 + counts.settle,
                "pipeline": 1 + counts.pipeline_seconds,
                "latency": 1 + self.latency_seconds / 2}[test]

    def plan(self, progress):
        for _ in hostile_report.SERVERS:
            for test in TESTS:
                progress.plan(self.seconds(test))

    # --- running ----------------------------------------------------------------------

    def run(self):
        bench, console = self.bench, self.console
        bench.require_tools(("nginx-light", "nginx"))
        self.nginx = find_command("nginx")
        self.http_min = bench.program("http_min", "HTTP_MIN")
        console.say("Hostile clients: memory and latency of http_min and nginx, side by side")
        console.line(f"pinning: {bench.pinning} (the clients are the bench itself)")
        console.line(f"http_min: {self.http_min}; nginx: {self.nginx}")
        self.raise_file_limit()
        self.write_files()
        with open(self.out("hostile.csv"), "w", newline="") as file:
            csv.writer(file, lineterminator="\n").writerow(hostile_report.HOSTILE_HEADER)

        affinity = os.sched_getaffinity(0)
        if bench.pinning.loader is not None:
            os.sched_setaffinity(0, {bench.pinning.loader})
        try:
            for server in hostile_report.SERVERS:
                console.say(f"{server}: each test on a fresh server")
                for test in TESTS:
                    bench.progress.step(f"hostile: {server}, {test}")
                    self.run_test(server, test)
        finally:
            os.sched_setaffinity(0, affinity)
            bench.stop_servers()

        with open(self.out("hostile.csv"), newline="") as file:
            text = hostile_report.hostile_markdown(list(csv.DictReader(file)), self.counts, self.notes)
        with open(self.out("hostile.md"), "w") as md:
            md.write(text)
        console.say(f"Result: {self.out('hostile.md')}")
        console.line(text[text.index("| Figure"):text.index("\n## ")].rstrip("\n"))
        for note in self.notes:
            console.line(f"note: {note}")
        if self.failures:
            raise BenchError("these tests failed to run (the table says 'not measured' or '—'): "
                             + "; ".join(self.failures))

    def raise_file_limit(self):
        """Soft limit on open files up to the hard one, before any server starts (they
        inherit it): 3,000 idle connections need 3,000 descriptors in the server and as many
        in the bench. With a hard limit too low for that, fewer connections, and a note."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        # An unlimited hard limit still stops at fs.nr_open: ask for plenty, not infinity.
        limit = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 16)
        if soft < limit:
            try:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, hard))
                self.console.line(f"open files: soft limit raised from {soft} to {limit}")
            except (ValueError, OSError) as error:
                self.console.line(f"open files: could not raise the limit of {soft}: {error}")
                limit = soft
        else:
            self.console.line(f"open files: limit {limit}")
        if limit < self.counts.idle + FILES_BESIDES:
            possible = max(0, limit - FILES_BESIDES)
            self.note(f"the hard limit on open files ({limit}) is too low for {self.counts.idle} "
                      f"idle connections: measured with {possible} (raise it with ulimit -Hn, or "
                      "LimitNOFILE=, to measure the full count)")
            self.counts = Plan(**{**self.counts.__dict__, "idle": possible})

    def write_files(self):
        """The files both servers serve under /static/: a small one (the latency test, and
        every request that only has to succeed) and one larger than any socket buffer."""
        os.makedirs(self.root_dir, exist_ok=True)
        for name, size in (("small.bin", self.counts.small_file), ("big.bin", self.counts.big_file)):
            with open(os.path.join(self.root_dir, name), "wb") as file:
                file.write(os.urandom(size))

    def note(self, text):
        self.notes.append(text)
        self.console.line(f"  note: {text}")

    def record(self, server, measures):
        """Rows of hostile.csv, written at once, so that an interrupted run keeps them."""
        with open(self.out("hostile.csv"), "a", newline="") as file:
            writer = csv.writer(file, lineterminator="\n")
            for measure, (value, unit) in measures.items():
                writer.writerow([server, measure, value, unit])

    def run_test(self, server, test):
        """One test on a fresh server. A client that fails is reported and the other tests
        still run; a server that does not start fails the suite."""
        instance, tcp, uds = self.start(server)
        try:
            warm_up = clients.exchange_many(tcp, self.small, WARMUP_CONNECTIONS, 1, keep=False, seconds=20)
            if warm_up.answered != WARMUP_CONNECTIONS:
                raise BenchError(f"{server} answered {warm_up.answered} of {WARMUP_CONNECTIONS} "
                                 f"warm-up requests ({warm_up.errors})")
            measures = getattr(self, f"measure_{test}")(server, instance.pid, tcp, uds)
            self.record(server, measures)
        except (OSError, ValueError) as error:
            self.failures.append(f"{test} on {server}: {error}")
            self.console.line(f"  the {test} test on {server} failed: {error}")
        finally:
            self.bench.stop_server(instance)

    # --- the servers --------------------------------------------------------------------

    def start(self, server):
        """A fresh server listening on a Unix socket and a TCP port; (Server, TCP address,
        Unix address) once it serves /static/small.bin on both. A port taken between
        free_port() and nginx's bind gets two more tries."""
        sock = self.bench.scratch(f"hostile-{server}.sock")
        for attempt in (1, 2, 3):
            port = None
            if server == "http_min":
                command = [self.http_min, "--uds", sock, "--bind", "127.0.0.1:0", "--workers", "1",
                           "--keepalive-timeout", "60", "--root", self.root_dir, "--no-access-log"]
            else:
                port = processes.free_port()
                command = self.nginx_command(sock, port)
            instance = self.bench.start_server(f"hostile-{server}", command, [sock])
            addresses = {}

            def ready():
                if "tcp" not in addresses:
                    found = port or self.port_from_log(instance)
                    if found is None:
                        return False
                    addresses["tcp"] = clients.Address(port=found)
                try:
                    return all(clients.get_status(address, self.small, timeout=1) == 200
                               for address in (addresses["tcp"], clients.Address(unix_path=sock)))
                except (OSError, ValueError):
                    return False
            try:
                instance.wait_ready(ready)
                return instance, addresses["tcp"], clients.Address(unix_path=sock)
            except BenchError:
                self.bench.stop_server(instance)
                if attempt == 3 or server == "http_min":
                    raise
                self.console.line(f"  {server} did not come up; trying again (a port may have been taken)")

    @staticmethod
    def port_from_log(instance):
        match = LISTENING.search(instance.log())
        return int(match[1]) if match else None

    def nginx_command(self, sock, port):
        directory = self.bench.scratch("hostile-nginx")
        os.makedirs(directory, exist_ok=True)
        conf = render("nginx-static.conf", os.path.join(directory, "nginx.conf"), dir=directory,
                      unix_socket=sock, port=port, root=self.root_dir,
                      user=pwd.getpwuid(os.getuid()).pw_name, group=grp.getgrgid(os.getgid()).gr_name)
        return [self.nginx, "-p", directory, "-c", conf, "-e", os.path.join(directory, "error.log")]

    # --- the four tests -------------------------------------------------------------------

    def measure_idle(self, server, pid, tcp, uds):
        """RSS before, then with counts.idle connections open, each having had one answer."""
        count = self.counts.idle
        before = tree_rss_kib(pid)
        opened = clients.exchange_many(tcp, self.small, count, CONNECTING_AT_ONCE, keep=True, seconds=60)
        try:
            after = tree_rss_kib(pid)
            still = clients.still_open(opened.kept)
        finally:
            clients.close_all(opened.kept)
        if opened.answered != count or still != opened.answered:
            self.note(f"{server}: {opened.answered} of {count} idle connections were answered "
                      f"({opened.failed} failed: {opened.errors}; {opened.unfinished} unfinished), "
                      f"{still} still open when RSS was read; the figure divides by {still}")
        per = (after - before) / still if still else 0
        self.console.line(f"  idle: {still} connections open, RSS {before} -> {after} KiB: "
                          f"{per:.1f} KiB each")
        return {"idle_open": (still, "connections"), "idle_rss_before_kib": (before, "KiB"),
                "idle_rss_after_kib": (after, "KiB")}

    def measure_churn(self, server, pid, tcp, uds):
        """RSS before, right after counts.churn connections that each made one request and
        closed, and again after counts.settle seconds."""
        counts = self.counts
        before = tree_rss_kib(pid)
        churned = clients.exchange_many(tcp, self.small, counts.churn, counts.streams, keep=False, seconds=90)
        after = tree_rss_kib(pid)
        time.sleep(counts.settle)  # the settle itself is what is measured, not a wait for readiness
        settled = tree_rss_kib(pid)
        if churned.answered != counts.churn:
            self.note(f"{server}: {churned.answered} of {counts.churn} churned connections were "
                      f"answered ({churned.failed} failed: {churned.errors}; "
                      f"{churned.unfinished} unfinished)")
        self.console.line(f"  churn: {churned.answered} connections, RSS {before} -> {after} KiB, "
                          f"{settled} KiB {counts.settle:g} s later")
        return {"churn_answered": (churned.answered, "connections"),
                "churn_rss_before_kib": (before, "KiB"), "churn_rss_after_kib": (after, "KiB"),
                "churn_rss_settled_kib": (settled, "KiB")}

    def measure_pipeline(self, server, pid, tcp, uds):
        """RSS before, and its peak while counts.pipeliners clients send GETs of the big
        file and never read."""
        counts = self.counts
        before = tree_rss_kib(pid)
        flood = clients.pipeline_without_reading(tcp, self.big, counts.pipeliners, counts.pipeline_seconds,
                                                 counts.receive_buffer, lambda: tree_rss_kib(pid))
        self.console.line(f"  pipelining: {flood.requests_sent} requests sent, RSS {before} KiB, "
                          f"peak {flood.peak_kib} KiB ({flood.samples} samples); "
                          f"{flood.reset} clients cut off by the server")
        return {"pipeline_requests_sent": (flood.requests_sent, "requests"),
                "pipeline_reset": (flood.reset, "clients"),
                "pipeline_rss_before_kib": (before, "KiB"), "pipeline_rss_peak_kib": (flood.peak_kib, "KiB")}

    def measure_latency(self, server, pid, tcp, uds):
        """The median of up to counts.latency timed keep-alive GETs per transport."""
        measures = {}
        for transport, address in (("tcp", tcp), ("uds", uds)):
            times = clients.keepalive_latencies(address, self.small, warmup=20, count=self.counts.latency,
                                                seconds=self.latency_seconds)
            median_us = stats.median(times) / 1000
            self.console.line(f"  latency over {transport}: median {median_us:.1f} µs of {len(times)} GETs")
            measures[f"latency_{transport}_median_us"] = (round(median_us, 3), "µs")
            measures[f"latency_{transport}_requests"] = (len(times), "requests")
        return measures
