"""The raw suite: Unix sockets against TCP with no protocol on top, measured by ipc_bench
(raw_sockets/programs/ipc_bench.cpp), its TCP round trip checked against sockperf.

Writes raw.csv (ipc_bench's figures, then the sockperf cross-check as rows), raw.md (the
tables) and latency.svg (median round trip by payload size, one line per transport).
Two programs written apart that agree are evidence that neither measures its own
overhead; a disagreement is reported, not fatal: this is a measurement, not a test.
"""
import csv
import socket
import subprocess
import time

from . import machine, parsing, processes, raw_report, stats
from .processes import BenchError
from .suite import Suite, render

STEPS_PER_ROUND = 14  # ipc_bench's: 5 transports' latency and throughput, 4 connect


class RawSuite(Suite):
    name = "raw"
    outputs = ("raw.csv", "raw.md", "latency.svg")
    report = "raw.md"

    def __init__(self, bench):
        super().__init__(bench)
        quick = self.settings.quick
        self.rounds = 3 if quick else 5
        self.options = ["--quick"] if quick else []
        self.sockperf_seconds = 1 if quick else 3
        self.step_seconds = 0.7 if quick else 2.5  # one transport's test in one round

    def plan(self, progress):
        progress.plan(self.step_seconds, self.rounds * STEPS_PER_ROUND)
        progress.plan(4)                                               # ipc_bench just before
        progress.plan(self.sockperf_seconds + 0.5, len(raw_report.SOCKPERF_SIZES))

    def run(self):
        bench, console = self.bench, self.console
        console.say("Raw sockets: Unix domain sockets against TCP, no protocol on top (ipc_bench)")
        console.line(machine.one_line())
        console.line(f"pinning: {bench.pinning}")
        bench.require_tools(("sockperf", "sockperf"), ("gnuplot-nox", "gnuplot"))
        self.binary = bench.program("ipc_bench", "IPC_BENCH")
        console.line(f"ipc_bench: {self.binary}")

        csv_path, md_path, svg_path = (self.out(name) for name in self.outputs)
        console.command(f"ipc_bench{''.join(' ' + o for o in self.options)} > {csv_path}")
        started = time.monotonic()
        steps = self.run_ipc_bench(csv_path)
        seconds = time.monotonic() - started
        bench.progress.skip(self.rounds * STEPS_PER_ROUND - steps)  # fewer transports here
        console.line(f"ipc_bench took {seconds:.1f} s")
        with open(csv_path) as file:
            rows = parsing.read_ipc_bench_csv(file.read())

        if raw_report.find_row(rows, "latency", "tcp_ipv4", raw_report.SOCKPERF_SIZES[0],
                               "default", "median"):
            console.say("Cross-check: ipc_bench's TCP round trip against sockperf ping-pong")
            check = self.sockperf_check(rows, csv_path)
        else:
            bench.progress.skip(1 + len(raw_report.SOCKPERF_SIZES))
            check = ["Not run: ipc_bench measured no latency over TCP."]

        with open(md_path, "w") as md:
            md.write(self.markdown(rows, seconds, check))
        self.plot(rows, svg_path)

        console.say("Result")
        with open(md_path) as md:
            text = md.read()
        console.line(text[text.index("\n## "):].strip("\n"))
        console.line()
        console.line(f"wrote {csv_path}, {md_path}, {svg_path}")
        console.line("A measurement, not a test: the machine is shared, so run it again before "
                     "trusting a small difference.")

    def run_ipc_bench(self, csv_path):
        """ipc_bench into raw.csv, its progress lines shown as they come; returns how many
        steps it reported. It pins its own two processes (the same two cores as Pinning)
        and its counts are fixed, so the deadline only guards against a hang."""
        steps = 0

        def on_line(line):
            nonlocal steps
            self.console.line(line)
            step = parsing.parse_ipc_bench_progress(line)
            if step:
                steps += 1
                round_number, rounds, test, transport = step
                self.bench.progress.step(f"raw, round {round_number} of {rounds}: {test} over "
                                         f"{raw_report.LABELS.get(transport, transport)}")

        with open(csv_path, "wb") as out:
            status = processes.run_tool([self.binary, *self.options], out,
                                        seconds=120 + 60 * self.rounds, on_line=on_line)
        if status != 0:
            raise BenchError(f"ipc_bench failed (status {status}); its messages are above")
        return steps

    def sockperf_check(self, rows, csv_path):
        """sockperf ping-pong over TCP at each of SOCKPERF_SIZES against ipc_bench; appends
        the comparison to raw.csv; returns the lines of raw.md's cross-check section."""
        bench, console = self.bench, self.console
        # A shared machine's speed drifts over minutes, so sockperf is compared with a short
        # ipc_bench run made just before it, not only with the main run's median of rounds.
        near_options = ["--only", "latency", "--transport", "tcp_ipv4", "--quick", "--rounds", "3"]
        near_path = bench.scratch("raw-near.csv")
        console.command(f"ipc_bench {' '.join(near_options)} > $work/raw-near.csv")
        bench.progress.step("raw: ipc_bench's TCP round trip just before sockperf")
        with open(near_path, "wb") as out, open(bench.scratch("raw-near.log"), "wb") as log:
            status = processes.run_tool([self.binary, *near_options], out, stderr=log, seconds=120)
        if status != 0:
            raise BenchError(f"ipc_bench failed (status {status})")
        with open(near_path) as file:
            near = parsing.read_ipc_bench_csv(file.read())

        port = processes.free_port()
        server = bench.start_server(
            "sockperf", ["sockperf", "server", "-i", "127.0.0.1", "-p", str(port), "--tcp"])
        server.wait_ready(lambda: _accepts(port))
        table_rows = []
        try:
            for size in raw_report.SOCKPERF_SIZES:
                table_rows.append(self.sockperf_run(port, size, rows, near, csv_path))
        finally:
            server.stop()  # it ends by SIGTERM, and says so in its status: expected
            bench.servers.remove(server)
        return [f"`sockperf ping-pong --tcp -m SIZE -t {self.sockperf_seconds}` (Nagle off, as in "
                "ipc_bench; server and client pinned to the same cores as ipc_bench's). sockperf "
                "reports half of each round trip as its \"latency\", so its median round trip is "
                "twice its 50th percentile. It is compared with a short ipc_bench run made just "
                "before it (`" + " ".join(near_options) + "`), since the speed of a shared "
                "machine drifts over the minutes of the main run. They agree when the two medians "
                f"are within {stats.AGREEMENT_PERCENT}% of each other (of ipc_bench's); "
                "a disagreement is reported, not fatal.", ""] + raw_report.sockperf_table(table_rows)

    def sockperf_run(self, port, size, rows, near, csv_path):
        """One sockperf ping-pong run; returns its row of the cross-check's table."""
        bench, seconds = self.bench, self.sockperf_seconds
        command = ["sockperf", "ping-pong", "-i", "127.0.0.1", "-p", str(port), "--tcp",
                   "-m", str(size), "-t", str(seconds)]
        bench.show(command, bench.pinning.loader)
        bench.progress.step(f"raw: sockperf ping-pong over TCP, {size} B")
        output = bench.scratch(f"sockperf-{size}.out")
        status = bench.run_tool(command, output, seconds=seconds + 30)
        with open(output, errors="replace") as file:
            text = file.read()
        if parsing.sockperf_was_interrupted(text):
            raise KeyboardInterrupt  # sockperf caught Ctrl-C and exited 0: stop as if we had
        try:
            measured = parsing.parse_sockperf(text) if status == 0 else None
        except parsing.ParseError:
            measured = None
        if measured is None:
            self.console.line(processes.indented("\n".join(text.splitlines()[-15:]), "  sockperf: "))
            self.console.line(f"  the sockperf check at {size} B did not run (status {status}): see above")
            return raw_report.failed_sockperf_row(size, status)
        check = raw_report.SockperfCheck(
            size=size, main_row=raw_report.find_row(rows, "latency", "tcp_ipv4", size, "default", "median"),
            just_before_us=float(raw_report.find_row(near, "latency", "tcp_ipv4", size, "default",
                                                     "median")["value"]),
            half_rtt_p50_us=measured.half_rtt_p50_us)
        verdict = (f"they agree within {stats.AGREEMENT_PERCENT}%" if check.agree else
                   f"they DISAGREE (more than {stats.AGREEMENT_PERCENT}% apart)")
        self.console.line(f"  {size:>6} B: ipc_bench {check.just_before_us:.2f} us (main run "
                          f"{check.main_row['value']} us), sockperf {check.half_rtt_p50_us:.3f} us "
                          f"x 2 = {check.rtt_us:.2f} us: {check.difference:+.1f}%, {verdict}")
        with open(csv_path, "a", newline="") as file:
            csv.writer(file, lineterminator="\n").writerows(check.csv_rows())
        return check.table_row()

    def markdown(self, rows, seconds, check):
        run = "ipc_bench" + "".join(" " + option for option in self.options)
        return "\n".join([
            "# Raw sockets: Unix domain sockets against TCP (ipc_bench)", "",
            f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; {machine.one_line()}", "",
            f"pinning: {self.bench.pinning}; run: `{run}` "
            f"({'quick' if self.settings.quick else 'full'} counts), {seconds:.1f} s.", "",
            raw_report.raw_markdown(rows),
            "## Cross-check: TCP 127.0.0.1 round trip, ipc_bench against sockperf ping-pong", "",
            *check]) + "\n"

    def plot(self, rows, svg_path):
        data = self.bench.scratch("raw-latency.dat")
        fields, lines = raw_report.gnuplot_fields(rows, data, svg_path)
        with open(data, "w") as file:
            file.write("\n".join(lines) + "\n")
        script = render("latency.gp", self.bench.scratch("latency.gp"), **fields)
        result = subprocess.run(["gnuplot", script], stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if result.returncode != 0:
            raise BenchError(f"gnuplot failed: no latency.svg\n{processes.indented(result.stdout)}")


def _accepts(port):
    """One connection attempt to 127.0.0.1:port."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
