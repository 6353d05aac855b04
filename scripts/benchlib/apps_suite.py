"""The apps suite: chapter 13's Python app servers (uvicorn, gunicorn, aiohttp, hypercorn
and a plain asyncio server), with http_min beside them, each over a Unix socket and over
TCP, directly and through nginx (with keep-alive to the upstream, and without, nginx's
default): requests per second, the server's CPU time per request and nginx's.

It is the http suite's machinery (the same targets, readiness, response check, warm-up,
rotating rounds and h2load runs) on other servers; what differs is here. Each server
instance serves its direct target and is the upstream of its nginx: one nginx per server,
from the same template as the http suite's nginx → http_min (nginx-proxy.conf), a port
proxying to the server's Unix socket and one to its TCP port, for each route.
"""
import csv
import os
import re
import subprocess

from . import apps_report, processes, stats
from .http_suite import HttpSuite, Target
from .suite import SYSTEM_PYTHON, find_command, render

SERVERS = tuple(apps_report.TITLES)
# One instance per server, or per server and transport where a server takes either a Unix
# socket or a port, not both (uvicorn, aiohttp's script).
BACKENDS = {"http_min": ("http_min",), "uvicorn": ("uvicorn_uds", "uvicorn_tcp"),
            "gunicorn": ("gunicorn",), "aiohttp": ("aiohttp_uds", "aiohttp_tcp"),
            "hypercorn": ("hypercorn",), "asyncio": ("asyncio",)}
# The target labels through nginx, by route: with keep-alive to the upstream, and without.
ROUTE_PREFIXES = {"nginx": "nginx", "nginx_close": "nginxclose"}
# h2load's "status codes: 0 2xx, 0 3xx, 0 4xx, 0 5xx" line: the 4xx and the 5xx.
STATUS_CODES = re.compile(r"^status codes: \d+ 2xx, \d+ 3xx, (\d+) 4xx, (\d+) 5xx", re.MULTILINE)
RUN_SECONDS = 1.5        # how long a measured run aims to last (--quick: QUICK_RUN_SECONDS)
QUICK_RUN_SECONDS = 0.2


def backend_of(server, transport):
    names = BACKENDS[server]
    return names[0] if len(names) == 1 else f"{server}_{transport}"


class AppsSuite(HttpSuite):
    name = "apps"
    outputs = ("apps.csv", "apps.md")
    report = "apps.md"
    instances = tuple(name for names in BACKENDS.values() for name in names)
    proxies = tuple(f"proxy_{server}" for server in SERVERS)

    def __init__(self, bench):
        super().__init__(bench)
        self.run_seconds = QUICK_RUN_SECONDS if self.settings.quick else RUN_SECONDS

    def make_targets(self):
        targets = []
        for server in SERVERS:
            for transport in ("uds", "tcp"):
                backend = backend_of(server, transport)
                direct = Target(server, transport, backend, (backend,))
                if transport == "uds":
                    direct.unix_socket = self.bench.scratch(f"{server}.sock")
                direct.server, direct.route = server, "direct"
                targets.append(direct)
                # Through nginx: the nginx is the instance h2load loads, its CPU read apart.
                for route, prefix in ROUTE_PREFIXES.items():
                    proxied = Target(f"{prefix}_{server}", transport, f"proxy_{server}", (backend,))
                    proxied.server, proxied.route = server, route
                    targets.append(proxied)
        return targets

    def plan(self, progress):
        guess, count = self.guess, len(self.targets)
        progress.plan(8)  # starting the servers
        progress.plan(self.probe / guess.slow_rate + guess.overhead, count)
        progress.plan(self.run_seconds + guess.overhead, count * self.settings.rounds)

    def replan(self):
        overhead = self.guess.overhead
        runs = [target.requests / self.guess.rates[target.key] + overhead for target in self.targets]
        self.bench.progress.replan(runs * self.settings.rounds)

    def run(self):
        bench, console, settings = self.bench, self.console, self.settings
        bench.require_tools(("nghttp2-client", "h2load"), ("nginx-light", "nginx"),
                            ("gunicorn", "gunicorn"), ("python3-hypercorn", "hypercorn"))
        bench.require_modules(("python3-uvicorn", "uvicorn"), ("python3-aiohttp", "aiohttp"))
        self.nginx = find_command("nginx")
        console.say("Python app servers: the same JSON response over a Unix socket and over "
                    "TCP, directly and through nginx")
        console.line(f"pinning: {bench.pinning}")
        console.line(f"load: h2load --h1, {self.connections} connections; a warm-up run per row, "
                     f"then {settings.rounds} round(s) of about {self.run_seconds} s per row, "
                     "in rotating order")
        self.http_min = bench.program("http_min", "HTTP_MIN")
        console.line(self.versions())
        console.line(self.server_versions())
        try:
            console.say("Starting the servers, and an nginx in front of each")
            bench.progress.step("apps: starting the servers")
            self.start_all()
            self.compare_responses()
            console.say("Warm-up: one run per row, which also sizes its runs")
            self.size_runs()
            self.replan()
            with open(self.out("apps.csv"), "w", newline="") as file:
                csv.writer(file, lineterminator="\n").writerow(apps_report.APPS_HEADER)
            for round_number in range(1, settings.rounds + 1):
                self.measure_round(round_number)
        finally:
            bench.stop_servers()
        with open(self.out("apps.csv"), newline="") as file:
            text = apps_report.apps_markdown(list(csv.DictReader(file)), self.connections,
                                             settings.rounds, str(bench.pinning))
        with open(self.out("apps.md"), "w") as md:
            md.write(text)
        console.say(f"Result (median of {settings.rounds} round(s)): {self.out('apps.md')}")
        console.line(text[text.index("| Server | Transport"):].rstrip("\n"))

    def server_versions(self):
        code = ("import importlib.metadata as m; print('; '.join(n + ' ' + m.version(n) for n in "
                "('uvicorn', 'gunicorn', 'aiohttp', 'hypercorn', 'h11')))")
        return subprocess.run([SYSTEM_PYTHON, "-c", code], stdout=subprocess.PIPE, text=True).stdout.strip()

    # --- the servers --------------------------------------------------------------------

    def command(self, instance):
        apps = self.bench.path("scripts", "bench-apps")
        sock = {t.label: t.unix_socket for t in self.targets if t.unix_socket}
        if instance == "hypercorn":
            port = self.target("hypercorn/tcp").port = processes.free_port()
            return ["hypercorn", "--worker-class", "asyncio", "--workers", "1",
                    "--bind", f"unix:{sock['hypercorn']}", "--bind", f"127.0.0.1:{port}",
                    os.path.join(apps, "asgi_app") + ":app"]
        if instance == "asyncio":
            return [SYSTEM_PYTHON, os.path.join(apps, "asyncio_app.py"), "--path", sock["asyncio"],
                    "--port", "0"]
        if instance == "http_min":  # the http suite's, but on this suite's socket path
            return [self.http_min, "--uds", sock["http_min"], "--bind", "127.0.0.1:0",
                    "--workers", "1", "--no-access-log"]
        if instance.startswith("proxy_"):
            server = instance[len("proxy_"):]
            directory = self.bench.scratch(instance)
            os.makedirs(directory, exist_ok=True)
            ports = {}
            for route, prefix in ROUTE_PREFIXES.items():
                for transport in ("uds", "tcp"):
                    target = self.target(f"{prefix}_{server}/{transport}")
                    target.port = processes.free_port()
                    ports["port_" + transport + ("_close" if route == "nginx_close" else "")] = target.port
            conf = render("nginx-proxy.conf", os.path.join(directory, "nginx.conf"),
                          dir=directory, backend_socket=sock[server],
                          backend_port=self.target(f"{server}/tcp").port, keepalive=self.connections,
                          snippets=self.bench.path("nginx", "snippets"), **ports)
            return [self.nginx, "-p", directory, "-c", conf, "-e", os.path.join(directory, "error.log")]
        return super().command(instance)  # uvicorn, gunicorn, aiohttp: as the http suite runs them

    # --- measuring ----------------------------------------------------------------------

    def nginx_ticks(self, target):
        if target.route == "direct":
            return 0
        return processes.tree_ticks([self.servers[target.instance].pid])

    def measure(self, target, requests):
        """The http suite's h2load run; nginx's CPU time over it, read apart from the server's."""
        before = self.nginx_ticks(target)
        run = super().measure(target, requests)
        run.nginx_ticks = self.nginx_ticks(target) - before
        return run

    def succeeded(self, target, result, text):
        """hypercorn's status line has no reason phrase ("HTTP/1.1 200 "): h2load then never
        reads its status code and counts every complete response as failed. nginx passes
        that status line on (2 bytes shorter than the others' head). Its responses were
        checked (200, the same body) before measuring; for it, a failed request is one whose
        status h2load did read as 4xx or 5xx (nginx's own 502, say), and every other
        completed one succeeded."""
        if target.server != "hypercorn":
            return result.succeeded
        codes = STATUS_CODES.search(text)
        errors = int(codes[1]) + int(codes[2]) if codes else result.failed
        return result.succeeded + result.failed - errors

    def size_runs(self):
        """One short warm-up run per row (50 requests per connection, past the cold start),
        whose speed says how many requests fill a measured run of about run_seconds."""
        for target in self.targets:
            self.bench.progress.step(f"apps, warm-up: {target.description}")
            run = self.measure(target, self.probe)
            self.guess.rates[target.key] = run.req_per_s
            target.requests = stats.requests_for_run(run.req_per_s, self.run_seconds, self.connections,
                                                     self.settings.requests, self.probe)
            self.console.line(run.line("warm-up"))

    def record(self, run, round_number, suite="apps"):
        target = run.target
        nginx_us = stats.cpu_us_per_request(run.nginx_ticks, run.hz, run.requests)
        with open(self.out("apps.csv"), "a", newline="") as file:
            csv.writer(file, lineterminator="\n").writerow(
                [suite, target.server, target.route, target.transport, round_number, run.tool,
                 run.requests, f"{run.seconds:.3f}", f"{run.req_per_s:.2f}",
                 f"{run.cpu_us_per_req:.2f}", f"{nginx_us:.2f}"])

