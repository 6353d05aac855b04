"""The http suite: the same small JSON response from the canned-response floor, http_min
(1 and 2 workers), nginx, uvicorn, gunicorn and aiohttp, over a Unix socket and over TCP,
and from nginx in front of http_min with a Unix-socket and a TCP upstream: requests per
second (h2load, checked against wrk) and the servers' CPU time per request.

A Target is a server label and a transport (uvicorn/uds): what one h2load run measures.
An instance is one running server process (tree): it may serve both transports of a label
(http_min listens on both at once) or one (uvicorn takes --uds or a port).
"""
import csv
import http.client
import os
import re
import socket
import subprocess
from dataclasses import dataclass, field

from . import http_report, parsing, processes, stats
from .processes import BenchError
from .suite import SYSTEM_PYTHON, Suite, find_command, render

INSTANCES = ("canned_uds", "canned_tcp", "http_min", "http_min_2w", "nginx", "uvicorn_uds",
             "uvicorn_tcp", "gunicorn", "aiohttp_uds", "aiohttp_tcp", "backend")
# Started once backend listens: nginx in front needs the TCP port http_min chose.
PROXY = "proxy"
LISTENING = re.compile(r"[Ll]istening (?:on|at).*127\.0\.0\.1:(\d+)")  # gunicorn: "Listening at:"


@dataclass
class Target:
    label: str
    transport: str
    instance: str                 # the instance that answers it
    cpu_instances: tuple          # the instances whose CPU time a request costs
    unix_socket: str = None       # where clients connect over a Unix socket, or
    port: int = None              # the TCP port on 127.0.0.1 (for nginx → http_min, always)
    requests: int = 0             # per measured run, set by the warm-up

    @property
    def key(self):
        return f"{self.label}/{self.transport}"

    @property
    def url(self):
        return "http://localhost/" if self.unix_socket else f"http://127.0.0.1:{self.port}/"

    @property
    def description(self):
        return f"{self.label} over {http_report.TRANSPORTS[self.transport]}"

    def connection(self, timeout):
        if self.unix_socket:
            return UnixHTTPConnection(self.unix_socket, timeout)
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)


class UnixHTTPConnection(http.client.HTTPConnection):
    """http.client over a Unix socket (the Host header says localhost)."""

    def __init__(self, path, timeout):
        super().__init__("localhost", timeout=timeout)
        self.socket_path = path

    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(self.timeout)
        self.sock.connect(self.socket_path)


@dataclass
class Response:
    status: int
    content_type: str
    body: str
    head_bytes: int  # the status line and the headers, as sent (one space after each colon)


def get(target, timeout):
    """GET / from a target."""
    connection = target.connection(timeout)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        headers = response.getheaders()
        head = len(f"HTTP/1.1 {response.status} {response.reason}\r\n") + 2
        head += sum(len(f"{name}: {value}\r\n") for name, value in headers)
        return Response(response.status, response.getheader("Content-Type", ""), body, head)
    finally:
        connection.close()


@dataclass
class Run:
    """One measured run of a tool against a target, and the CPU time it cost the server."""
    tool: str
    target: Target
    requests: int     # that succeeded
    seconds: float
    req_per_s: float
    ticks: int        # CPU time of the target's instances over the run
    hz: int

    @property
    def cpu_s(self):
        return stats.cpu_seconds(self.ticks, self.hz)

    @property
    def cpu_us_per_req(self):
        return stats.cpu_us_per_request(self.ticks, self.hz, self.requests)

    def csv_row(self, suite, round_number):
        return [suite, self.target.label, self.target.transport, round_number, self.tool,
                self.requests, f"{self.seconds:.3f}", f"{self.req_per_s:.2f}", f"{self.cpu_us_per_req:.2f}"]

    def line(self, what):
        return (f"  {what:<9} {self.target.label:<15} {self.target.transport:<3} "
                f"{self.req_per_s:9.0f} req/s {self.cpu_us_per_req:8.2f} µs/req  "
                f"({self.requests} requests, {self.cpu_s:.2f} s of server CPU)")


@dataclass
class Guesses:
    """Guesses for the progress line until the warm-up measures the real speeds."""
    fast_rate: float = 25000      # req/s of the floor and the C servers
    slow_rate: float = 5000       # of the Python ones, and nginx in front
    overhead: float = 0.3         # seconds of starting a tool and reading /proc
    rates: dict = field(default_factory=dict)  # target key -> warm-up req/s


class HttpSuite(Suite):
    name = "http"
    outputs = ("http.csv", "http.md")
    report = "http.md"
    instances = INSTANCES  # started first, all at once
    proxies = (PROXY,)     # started once those listen (nginx in front needs their ports)

    def __init__(self, bench):
        super().__init__(bench)
        self.targets = self.make_targets()
        self.servers = {}    # instance -> Server
        self.hz = os.sysconf("SC_CLK_TCK")
        self.connections = self.settings.connections
        self.probe = min(self.connections * 50, self.settings.requests)
        self.wrk_seconds = 1 if self.settings.quick else 3
        self.guess = Guesses()

    def make_targets(self):
        return [self._target(label, transport)
                for label in http_report.TITLES for transport in http_report.TRANSPORTS]

    def _target(self, label, transport):
        if label == "canned_http":
            target = Target(label, transport, f"canned_{transport}", (f"canned_{transport}",))
        elif label in ("uvicorn", "aiohttp"):
            target = Target(label, transport, f"{label}_{transport}", (f"{label}_{transport}",))
        elif label == "nginx_http_min":
            target = Target(label, transport, PROXY, (PROXY, "backend"))
        else:
            target = Target(label, transport, label, (label,))
        if transport == "uds" and label != "nginx_http_min":
            target.unix_socket = self.bench.scratch(f"{label}.sock")
        return target

    def target(self, key):
        return next(target for target in self.targets if target.key == key)

    # --- the plan for the progress line -------------------------------------------------

    def plan(self, progress):
        full, guess = self.settings.requests, self.guess
        progress.plan(5)  # starting the servers
        progress.plan(full / guess.fast_rate + guess.overhead, 2)
        progress.plan(self.probe / guess.slow_rate + guess.overhead, len(self.targets) - 2)
        progress.plan(full / guess.fast_rate + guess.overhead, len(self.targets) * self.settings.rounds)
        progress.plan(self.wrk_seconds + guess.overhead, 4)

    def replan(self):
        """After the warm-up: each measured run lasts about its requests at its warm-up rate."""
        overhead = self.guess.overhead
        runs = [target.requests / self.guess.rates[target.key] + overhead for target in self.targets]
        self.bench.progress.replan(runs * self.settings.rounds + [self.wrk_seconds + overhead] * 4)

    # --- running ----------------------------------------------------------------------

    def run(self):
        bench, console, settings = self.bench, self.console, self.settings
        bench.require_tools(("nghttp2-client", "h2load"), ("nginx-light", "nginx"), ("wrk", "wrk"),
                            ("gunicorn", "gunicorn"))
        bench.require_modules(("python3-uvicorn", "uvicorn"), ("python3-aiohttp", "aiohttp"))
        self.nginx = find_command("nginx")
        console.say("HTTP: the same JSON response from every server, over a Unix socket and over TCP")
        console.line(f"pinning: {bench.pinning}")
        console.line(f"load: h2load --h1, {self.connections} connections; a warm-up run per server "
                     f"and transport, then {settings.rounds} round(s), each running every one once, "
                     "in rotating order")
        console.line(f"CPU time: utime + stime of the server's process tree from /proc (1/{self.hz} s ticks)")
        self.http_min = bench.program("http_min", "HTTP_MIN")
        self.canned = bench.program("canned_http", "CANNED_HTTP")
        console.line(f"http_min: {self.http_min}; canned_http: {self.canned}")
        console.line(self.versions())

        try:
            console.say("Starting the servers" + (" on one core" if bench.pinning.server is not None else ""))
            bench.progress.step("http: starting the servers")
            self.start_all()
            self.compare_responses()

            console.say("Warm-up: one run per server and transport, which also sizes its runs")
            console.line("  (the floor's full run sets how long a run lasts; slower servers get "
                         "fewer requests)")
            self.size_runs()
            self.replan()
            with open(self.out("http.csv"), "w", newline="") as file:
                csv.writer(file, lineterminator="\n").writerow(http_report.HTTP_HEADER)
            for round_number in range(1, settings.rounds + 1):
                self.measure_round(round_number)
            # Twice: on http_min, which is faster than either tool can load it from one core
            # (so each measures mostly itself), and on aiohttp, slower than both (so both
            # measure it).
            console.say("h2load checked against wrk over TCP")
            for key in ("http_min/tcp", "aiohttp/tcp"):
                self.check_with_wrk(self.target(key))
        finally:
            bench.stop_servers()

        with open(self.out("http.csv"), newline="") as file:
            text = http_report.http_markdown(list(csv.DictReader(file)), self.connections,
                                             settings.rounds, str(bench.pinning), self.hz)
        with open(self.out("http.md"), "w") as md:
            md.write(text)
        console.say(f"Result (median of {settings.rounds} round(s)): {self.out('http.md')}")
        console.line(text[text.index("| Server | Transport"):].rstrip("\n"))

    def measure_round(self, round_number):
        """Every target once, starting further along the list each round, so that drift in
        the machine's speed touches every target alike."""
        rounds = self.settings.rounds
        self.console.say(f"Round {round_number} of {rounds}")
        for target in stats.rotated(self.targets, round_number, rounds):
            self.bench.progress.step(f"{self.name}, round {round_number} of {rounds}: {target.description}")
            run = self.measure(target, target.requests)
            self.record(run, round_number)
            self.console.line(run.line(f"{round_number}/{rounds}"))

    def versions(self):
        def first_line(command):
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                    text=True)
            return (result.stdout.splitlines() or [""])[0]
        nginx = first_line([self.nginx, "-v"]).replace("nginx version: ", "")
        wrk = " ".join(first_line(["wrk", "-v"]).split()[:2])
        python = first_line([SYSTEM_PYTHON, "-c", "import sys; print(sys.version.split()[0])"])
        return f"nginx: {nginx}; {first_line(['h2load', '--version'])}; {wrk}; Python {python}"

    # --- the servers ------------------------------------------------------------------

    def instance_targets(self, instance):
        return [target for target in self.targets if target.instance == instance]

    def command(self, instance):
        """The command line of an instance, choosing fresh ports where it needs them (a second
        launch after a port was taken under it picks new ones)."""
        apps, work = self.bench.path("scripts", "bench-apps"), self.bench.work
        sock = {t.label: t.unix_socket for t in self.targets if t.unix_socket}
        if instance == "canned_uds":
            return [self.canned, f"unix:{sock['canned_http']}"]
        if instance == "canned_tcp":
            return [self.canned, "127.0.0.1:0"]
        if instance in ("http_min", "http_min_2w", "backend"):
            return [self.http_min, "--uds", os.path.join(work, f"{instance}.sock"),
                    "--bind", "127.0.0.1:0", "--workers", "2" if instance == "http_min_2w" else "1",
                    "--no-access-log"]
        if instance in ("nginx", PROXY):
            directory = self.bench.scratch(instance)
            os.makedirs(directory, exist_ok=True)
            if instance == "nginx":
                port = self.target("nginx/tcp").port = processes.free_port()
                conf = render("nginx-return.conf", os.path.join(directory, "nginx.conf"),
                              dir=directory, unix_socket=sock["nginx"], port=port, body=http_report.BODY)
            else:
                over_uds, over_tcp = self.target("nginx_http_min/uds"), self.target("nginx_http_min/tcp")
                over_uds.port, over_tcp.port = processes.free_port(), processes.free_port()
                conf = render("nginx-proxy.conf", os.path.join(directory, "nginx.conf"),
                              dir=directory, backend_socket=self.bench.scratch("backend.sock"),
                              backend_port=self.backend_port(), keepalive=self.connections,
                              port_uds=over_uds.port, port_tcp=over_tcp.port,
                              # Without upstream keep-alive: the apps suite's; unused here.
                              port_uds_close=processes.free_port(), port_tcp_close=processes.free_port(),
                              snippets=self.bench.path("nginx", "snippets"))
            return [self.nginx, "-p", directory, "-c", conf, "-e", os.path.join(directory, "error.log")]
        if instance.startswith("uvicorn"):
            # Debian's uvicorn comes without uvloop and httptools: asyncio and h11, named here
            # so that installing either later does not quietly change what is measured.
            command = [SYSTEM_PYTHON, "-m", "uvicorn", "--app-dir", apps, "asgi_app:app",
                       "--loop", "asyncio", "--http", "h11", "--lifespan", "off", "--no-access-log",
                       "--log-level", "warning"]
            if instance == "uvicorn_uds":
                return command + ["--uds", sock["uvicorn"]]
            port = self.target("uvicorn/tcp").port = processes.free_port()
            return command + ["--host", "127.0.0.1", "--port", str(port)]
        if instance == "gunicorn":
            # The sync worker, one of it: gunicorn's default, one request at a time.
            return ["gunicorn", "--chdir", apps, "--worker-class", "sync", "--workers", "1",
                    "--graceful-timeout", "2", "--bind", f"unix:{sock['gunicorn']}",
                    "--bind", "127.0.0.1:0", "wsgi_app:app"]
        if instance == "aiohttp_uds":
            return [SYSTEM_PYTHON, os.path.join(apps, "aiohttp_app.py"), "--path", sock["aiohttp"]]
        if instance == "aiohttp_tcp":
            return [SYSTEM_PYTHON, os.path.join(apps, "aiohttp_app.py"), "--port", "0"]
        raise ValueError(f"no instance {instance}")

    def backend_port(self):
        match = LISTENING.search(self.servers["backend"].log())
        if match is None:
            raise BenchError("http_min (backend) did not say which port it listens on")
        return int(match[1])

    def launch(self, instance):
        socket_files = [t.unix_socket for t in self.instance_targets(instance) if t.unix_socket]
        if instance == "backend":  # nginx → http_min's upstream, no target of its own
            socket_files.append(self.bench.scratch("backend.sock"))
        self.servers[instance] = self.bench.start_server(instance, self.command(instance), socket_files)

    def ready(self, instance):
        """True once the instance answers GET / with 200 on each of its targets. A TCP port
        it chose itself comes from its "listening on ADDR" line."""
        for target in self.instance_targets(instance):
            if not target.unix_socket and target.port is None:
                match = LISTENING.search(self.servers[instance].log())
                if match is None:
                    return False
                target.port = int(match[1])
            try:
                if get(target, timeout=1).status != 200:
                    return False
            except (OSError, http.client.HTTPException):
                return False
        return True

    def start_all(self):
        """Every instance at once (the Python ones take a while to import), then waits for
        each (20 s at most: they all start on one core); one whose port was taken between
        free_port and its bind gets two more tries."""
        for instance in self.instances:
            self.launch(instance)
        for instance in self.instances + self.proxies:
            if instance in self.proxies:
                self.launch(instance)
            for attempt in (1, 2, 3):
                try:
                    self.servers[instance].wait_ready(lambda: self.ready(instance))
                    break
                except BenchError:
                    if attempt == 3:
                        raise
                self.bench.stop_server(self.servers[instance])
                for target in self.instance_targets(instance):
                    if not target.unix_socket:
                        target.port = None
                self.console.line(f"  {instance} did not come up; trying again (a port may have been taken)")
                self.launch(instance)

    def compare_responses(self):
        """Every target must send the same body with the same status and Content-Type, or
        the comparison would not be fair; prints what it compared."""
        self.console.line("GET / from every server and transport (checked before measuring):")
        for target in self.targets:
            try:
                response = get(target, timeout=5)
            except (OSError, http.client.HTTPException) as error:
                raise BenchError(f"GET / from {target.key} failed: {error}") from None
            self.console.line(f"  {target.key:<18} {response.status}  Content-Type: "
                              f"{response.content_type}  {response.head_bytes} bytes of headers")
            if response.status != 200:
                raise BenchError(f"{target.key} answered {response.status}, not 200")
            if response.body != http_report.BODY:
                raise BenchError(f"{target.key} sent another body: {response.body}")
            if response.content_type != "application/json":
                raise BenchError(f"{target.key} sent Content-Type {response.content_type}, "
                                 "not application/json")
        self.console.line(f"  all send {http_report.BODY} as application/json with status 200")

    # --- measuring --------------------------------------------------------------------

    def cpu_ticks(self, target):
        return processes.tree_ticks([self.servers[name].pid for name in target.cpu_instances])

    def measure(self, target, requests):
        """One h2load run. h2load's -D (duration) mode can hang against some servers; -n
        cannot, but a server that stops answering still could, so the run has a deadline."""
        via = ["-B", f"unix:{target.unix_socket}"] if target.unix_socket else []
        result, ticks, text = self.load(target, parsing.parse_h2load, seconds=60 + requests // 1000,
                                        command=["h2load", "--h1", *via, "-n", str(requests),
                                                 "-c", str(self.connections), target.url])
        succeeded = self.succeeded(target, result, text)
        if succeeded == 0:
            raise BenchError(f"no request to {target.key} succeeded\n{text}")
        if succeeded != result.total:
            self.console.line(f"  note: {target.key}: {succeeded} of {result.total} requests "
                              f"succeeded ({result.failed} failed, {result.errored} errored, "
                              f"{result.timed_out} timed out); CPU per request counts only those")
        return Run("h2load", target, succeeded, result.seconds, result.req_per_s, ticks, self.hz)

    def succeeded(self, target, result, text):
        """The requests of an h2load run (its result, read from its output text) that got
        their response."""
        return result.succeeded

    def load(self, target, parse, seconds, command):
        """Runs a load generator against target; returns what parse read from its output,
        the CPU ticks the target's instances used meanwhile, and the output."""
        tool, log = command[0], self.bench.scratch(f"{command[0]}.out")
        before = self.cpu_ticks(target)
        status = self.bench.run_tool(command, log, seconds=seconds)
        ticks = self.cpu_ticks(target) - before
        with open(log, errors="replace") as file:
            text = file.read()
        if status != 0:
            raise BenchError(f"{tool} against {target.key} failed (status {status}):\n"
                             + processes.indented(text[-2000:]))
        try:
            return parse(text), ticks, text
        except parsing.ParseError as error:
            raise BenchError(f"could not read {tool}'s output: {error}\n{text}") from None

    def record(self, run, round_number, suite="http"):
        """One row of http.csv, written at once, so that an interrupted run keeps what it measured."""
        with open(self.out("http.csv"), "a", newline="") as file:
            csv.writer(file, lineterminator="\n").writerow(run.csv_row(suite, round_number))

    def size_runs(self):
        """One warm-up run per target, which also sizes its measured runs. The floor's
        warm-up runs the full --requests, and how long it took is the length every run aims
        at; the others warm up on a short run (50 requests per connection, past the cold
        start), whose speed says how many requests fill that time."""
        full, seconds = self.settings.requests, {}
        floors = [t for t in self.targets if t.label == "canned_http"]
        for target in floors + [t for t in self.targets if t.label != "canned_http"]:
            self.bench.progress.step(f"http, warm-up: {target.description}")
            run = self.measure(target, full if target in floors else self.probe)
            self.guess.rates[target.key] = run.req_per_s
            if target in floors:
                seconds[target.transport] = full / run.req_per_s
                target.requests = full
            else:
                target.requests = stats.requests_for_run(run.req_per_s, seconds[target.transport],
                                                         self.connections, full, self.probe)
            self.console.line(run.line("warm-up"))

    def check_with_wrk(self, target):
        """h2load and wrk against the same server over TCP (wrk cannot reach a Unix socket),
        one after the other for about the same time, pinned alike. Two tools written apart
        agree on what they measure, or one of them measures itself."""
        self.console.line(f"  {target.key}: wrk for {self.wrk_seconds} s, then h2load for as many requests")
        self.bench.progress.step(f"http, check: wrk against {target.description}")
        result, ticks, _ = self.load(target, parsing.parse_wrk, seconds=self.wrk_seconds + 30,
                                     command=["wrk", "-t1", "-c", str(self.connections), "-d",
                                              f"{self.wrk_seconds}s", target.url])
        for note in result.notes:
            self.console.line(f"  note: wrk: {note}")
        wrk = Run("wrk", target, result.requests, result.seconds, result.req_per_s, ticks, self.hz)
        self.record(wrk, 1, "http_check")
        self.console.line(wrk.line("wrk"))
        self.bench.progress.step(f"http, check: h2load against {target.description}")
        h2load = self.measure(target, stats.whole_connections(result.requests, self.connections))
        self.record(h2load, 1, "http_check")
        self.console.line(h2load.line("h2load"))
        apart = round(stats.percent_apart(h2load.req_per_s, wrk.req_per_s))
        self.console.line(f"  h2load and wrk are {apart}% apart: " + (
            f"they agree within {stats.AGREEMENT_PERCENT}%" if apart <= stats.AGREEMENT_PERCENT
            else f"they do NOT agree within {stats.AGREEMENT_PERCENT}%"))
