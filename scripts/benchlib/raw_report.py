"""raw.md's tables and latency.svg's data, computed from ipc_bench's CSV rows alone.

Pure functions, so that tests/bench/test_reports.py checks them on a captured raw.csv.
"""
from dataclasses import dataclass

from . import stats
from .markdown import table

# ipc_bench's transports in its order, with their names in the tables; the first and the
# fourth are the pair compared (UDS/TCP).
LABELS = {"unix_path": "UDS (path)", "unix_abstract": "UDS (abstract)",
          "socketpair": "socketpair", "tcp_ipv4": "TCP 127.0.0.1", "tcp_ipv6": "TCP ::1"}
PAIR = ("unix_path", "tcp_ipv4")
# Unix sockets blue and green, TCP red and orange.
COLOURS = {"unix_path": "#1f5fbf", "unix_abstract": "#6aa6e8", "socketpair": "#2e9e4f",
           "tcp_ipv4": "#d0342c", "tcp_ipv6": "#f08a24"}
SOCKPERF_SIZES = (16, 4096)  # payloads of the sockperf cross-check (ipc_bench has both)


def size_text(size):
    """16 → "16 B", 4096 → "4 KiB", 1048576 → "1 MiB"."""
    if size >= 1 << 20:
        return f"{size / (1 << 20):g} MiB"
    if size >= 1 << 10:
        return f"{size / (1 << 10):g} KiB"
    return f"{size} B"


class RawFigures:
    """ipc_bench's figures by (transport, test, size, buffer, stat)."""

    def __init__(self, rows):
        self.value, self.seen, self.sizes = {}, [], {}
        self.rounds, self.raised = 0, None
        for row in rows:
            if row["test"] == "sockperf_check":
                continue
            test, transport, size = row["test"], row["transport"], int(row["size_bytes"])
            self.value[(transport, test, size, row["buffer"], row["stat"])] = float(row["value"])
            self.rounds = int(row["rounds"])
            if transport not in self.seen:
                self.seen.append(transport)
            if size not in self.sizes.setdefault(test, []):
                self.sizes[test].append(size)
            if test == "throughput" and row["buffer"] != "default":
                self.raised = int(row["buffer"])  # the buffer size asked for

    def transports(self):
        """The transports measured, in ipc_bench's order."""
        return [transport for transport in LABELS if transport in self.seen]

    def others(self, connect=False):
        """The transports measured besides the compared pair; no socketpair among connections."""
        return [transport for transport in self.transports()
                if transport not in PAIR and not (connect and transport == "socketpair")]

    def cell(self, transport, key, digits):
        value = self.value.get((transport, *key))
        return "–" if value is None else f"{value:.{digits}f}"

    def pair_ratio(self, key):
        unix, tcp = (self.value.get((transport, *key)) for transport in PAIR)
        if unix is None or not tcp:
            return "–"
        return f"{stats.ratio(unix, tcp):.2f}"

    def row(self, first, key, digits, connect=False):
        """The pair and its ratio first, then the other transports measured."""
        return ([first, self.cell(PAIR[0], key, digits), self.cell(PAIR[1], key, digits),
                 self.pair_ratio(key)]
                + [self.cell(transport, key, digits) for transport in self.others(connect)])

    def header(self, first, unit, align, connect=False):
        columns = [first, f"{LABELS[PAIR[0]]} {unit}", f"{LABELS[PAIR[1]]} {unit}", "UDS/TCP"]
        columns += [f"{LABELS[transport]} {unit}" for transport in self.others(connect)]
        # The first column may hold two of the table's ("payload | stat"): align has theirs.
        return columns, align + ["---:"] * (len(columns) - 1)

    def buffers(self):
        """(key, first cells) of the throughput rows: default buffers, then those asked for."""
        for buffer in ("default", self.raised):
            for size in self.sizes["throughput"]:
                asked = "default" if buffer == "default" else f"{size_text(self.raised)} asked"
                yield ("throughput", size, str(buffer)), [size_text(size), asked]


def raw_markdown(rows):
    """The tables of raw.md (everything below its title and run line)."""
    figures = RawFigures(rows)
    lines = [f"Each figure is the median of {figures.rounds} round(s); in each round every "
             "transport ran once,", "in rotating order.",
             "UDS/TCP is the Unix socket file's figure divided by TCP on 127.0.0.1's."]
    if "tcp_ipv6" not in figures.seen:
        lines.append("TCP over ::1 was not measured (no IPv6 loopback, or not asked for).")
    if "latency" in figures.sizes:
        lines += ["", "## Round-trip latency (µs; lower is better, so UDS/TCP < 1 favours UDS)", "",
                  "One message there and back: the client sends it, the server reads all of it "
                  "and sends it back.",
                  "median: the typical round trip; p99: 1 in 100 took at least this long; max: "
                  "the slowest.", ""]
        header, align = figures.header("payload | stat", "µs", ["---:", ":---"])
        lines += table(header, align, [
            figures.row(f"{size_text(size)} | {stat}", ("latency", size, "default", stat), 1)
            for size in figures.sizes["latency"] for stat in ("median", "p99", "max")])
    if "throughput" in figures.sizes:
        lines += ["", "## One-way throughput (MB/s, 1 MB = 10^6 bytes; higher is better, so "
                      "UDS/TCP > 1 favours UDS)", ""]
        header, align = figures.header("write size | buffers", "MB/s", ["---:", ":---"])
        lines += table(header, align, [
            figures.row(" | ".join(first), (*key, "rate"), 0) for key, first in figures.buffers()])
        lines += ["", "Socket buffers the kernel gave, in KiB (getsockopt at the end of the "
                      "transfer:",
                  "sender's SO_SNDBUF / receiver's SO_RCVBUF). Linux doubles what setsockopt() "
                  "asks for",
                  "and caps it at net.core.wmem_max / rmem_max; with the defaults, TCP grows its "
                  "buffers",
                  "during a transfer (autotuning).", ""]
        transports = figures.transports()
        lines += table(["write size", "buffers"] + [LABELS[t] for t in transports],
                       ["---:", ":---"] + ["---:"] * len(transports),
                       [first + [f"{figures.value.get((t, *key, 'sndbuf'), 0) / 1024:.0f} / "
                                 f"{figures.value.get((t, *key, 'rcvbuf'), 0) / 1024:.0f}"
                                 for t in transports]
                        for key, first in figures.buffers()])
    if "connect" in figures.sizes:
        lines += ["", "## Connection set-up (connect + accept + close per second, one at a time; "
                      "higher is better)", "",
                  "A socketpair is born connected: it has no row here.", ""]
        header, align = figures.header("", "conn/s", [":---"], connect=True)
        lines += table(header, align, [
            figures.row("set-ups per second", ("connect", 0, "default", "rate"), 0, connect=True)])
    return "\n".join(lines) + "\n"


# -------------------------------------------------------------------------------------------
# The sockperf cross-check.

@dataclass(frozen=True)
class SockperfCheck:
    """ipc_bench's TCP median round trip at one payload against sockperf's."""
    size: int
    main_row: dict           # raw.csv's latency,tcp_ipv4,SIZE,default,median row
    just_before_us: float    # ipc_bench's median in a short run just before sockperf
    half_rtt_p50_us: float   # what sockperf printed

    @property
    def rtt_us(self):
        return 2 * self.half_rtt_p50_us

    @property
    def difference(self):
        """sockperf's round trip against ipc_bench's just before, in percent."""
        return stats.percent_difference(self.rtt_us, self.just_before_us)

    @property
    def agree(self):
        return stats.agree(self.difference)

    def csv_rows(self):
        """Rows for raw.csv, in its columns."""
        main = self.main_row
        figures = [("ipc_bench_rtt_median", main["value"], "us", main["rounds"], main["round_min"],
                    main["round_max"])]
        for stat, value, unit in (
                ("ipc_bench_rtt_median_just_before", f"{self.just_before_us:.2f}", "us"),
                ("sockperf_half_rtt_p50", f"{self.half_rtt_p50_us:.3f}", "us"),
                ("sockperf_rtt_median", f"{self.rtt_us:.2f}", "us"),
                ("difference", f"{self.difference:.1f}", "percent"),
                (f"agree_within_{stats.AGREEMENT_PERCENT}_percent", str(int(self.agree)), "boolean")):
            figures.append((stat, value, unit, "1", value, value))
        return [["sockperf_check", "tcp_ipv4", str(self.size), "default", stat, value, unit,
                 rounds, low, high] for stat, value, unit, rounds, low, high in figures]

    def table_row(self):
        return [f"{self.size} B", f"{self.main_row['value']} µs", f"{self.just_before_us:.2f} µs",
                f"{self.half_rtt_p50_us:.3f} µs", f"{self.rtt_us:.2f} µs", f"{self.difference:+.1f}%",
                "yes" if self.agree else "**no**"]


def sockperf_table(rows):
    """The cross-check's table; rows are table_row()s, or the row of a failed run."""
    return table(["payload", "ipc_bench, main run", "ipc_bench, just before sockperf",
                  "sockperf p50 \"latency\" (half a round trip)", "sockperf × 2",
                  "sockperf against ipc_bench just before",
                  f"agree within {stats.AGREEMENT_PERCENT}%?"],
                 ["---:"] * 6 + [":---"], rows)


def failed_sockperf_row(size, status):
    return [f"{size} B", "", "", f"sockperf failed (status {status})", "", "", ""]


def find_row(rows, test, transport, size, buffer, stat):
    """The CSV row of one figure, or None."""
    for row in rows:
        if (row["test"], row["transport"], row["size_bytes"], row["buffer"], row["stat"]) == (
                test, transport, str(size), buffer, stat):
            return row
    return None


# -------------------------------------------------------------------------------------------
# latency.svg

def latency_plot_data(rows):
    """(transports, lines) for gnuplot: a header line of quoted transport names, then one line
    per payload size with each transport's median round trip."""
    figures = RawFigures(rows)
    sizes = figures.sizes.get("latency", [])
    transports = [t for t in figures.transports()
                  if sizes and (t, "latency", sizes[0], "default", "median") in figures.value]
    lines = [" ".join(["size"] + [f'"{LABELS[t]}"' for t in transports])]
    for size in sizes:
        lines.append(" ".join([str(size)] + [f"{figures.value[(t, 'latency', size, 'default', 'median')]:g}"
                                             for t in transports]))
    return transports, sizes, figures.rounds, lines


def gnuplot_fields(rows, data_path, svg_path):
    """The fields of scripts/bench-templates/latency.gp, and the data file's lines."""
    transports, sizes, rounds, lines = latency_plot_data(rows)
    xtics = ", ".join(f"'{size_text(size)}' {size}" for size in sizes)
    plot = ", ".join(
        f"'{data_path}' using 1:{column} with linespoints linewidth 2 pointtype {column + 2} "
        f"linecolor rgb '{COLOURS[transport]}' title columnheader({column})"
        for column, transport in enumerate(transports, start=2))
    return dict(output=svg_path, rounds=rounds, smallest=sizes[0], largest=sizes[-1],
                xtics=xtics, plot=plot), lines
