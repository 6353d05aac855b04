"""Reading what the measuring tools print: h2load, wrk, sockperf and ipc_bench.

Pure functions of the text, so that tests/bench/test_parsing.py can feed them output
captured from the real tools. Each raises ParseError, quoting what it missed, when the text
is not what the tool prints on success.
"""
import csv
import io
import re
from dataclasses import dataclass

IPC_BENCH_HEADER = ["test", "transport", "size_bytes", "buffer", "stat", "value", "unit",
                    "rounds", "round_min", "round_max"]

# Both tools print a duration with its unit: h2load "48.29ms" or "1.52s", wrk "1.00s".
_UNIT_SECONDS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_ANSI_COLOUR = re.compile(r"\x1b\[[0-9;]*m")


class ParseError(ValueError):
    """The text lacks a line the tool prints on success."""


def _search(pattern, text, what):
    match = re.search(pattern, text, re.MULTILINE)
    if match is None:
        raise ParseError(f"no {what} in the output")
    return match


@dataclass(frozen=True)
class H2loadRun:
    """One h2load run: its request counts, how long it took and its rate."""
    total: int
    succeeded: int
    failed: int
    errored: int
    timed_out: int
    seconds: float
    req_per_s: float


def parse_h2load(text):
    """Reads the "finished in" and "requests:" lines of h2load's summary."""
    # finished in 1.23s, 162601.63 req/s, 30.08MB/s
    finished = _search(r"^finished in ([0-9.]+)(us|ms|s), ([0-9.]+) req/s", text,
                       "'finished in ...' line")
    # requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed, 0 errored, 0 timeout
    counts = _search(r"^requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded, "
                     r"(\d+) failed, (\d+) errored, (\d+) timeout", text, "'requests: ...' line")
    return H2loadRun(*(int(count) for count in counts.groups()),
                     seconds=float(finished[1]) * _UNIT_SECONDS[finished[2]],
                     req_per_s=float(finished[3]))


@dataclass(frozen=True)
class WrkRun:
    """One wrk run: responses completed, how long it took, its rate, and its complaints."""
    requests: int
    seconds: float
    req_per_s: float
    notes: tuple  # wrk's "Non-2xx or 3xx responses" and "Socket errors" lines, if any


def parse_wrk(text):
    """Reads wrk's "N requests in T" and "Requests/sec:" lines."""
    #   22910 requests in 1.00s, 3.63MB read
    done = _search(r"^\s*(\d+) requests in ([0-9.]+)(us|ms|s|m|h),", text, "'requests in' line")
    rate = _search(r"^Requests/sec:\s*([0-9.]+)", text, "'Requests/sec:' line")
    notes = tuple(line.strip() for line in text.splitlines()
                  if "Non-2xx" in line or "Socket errors" in line)
    return WrkRun(requests=int(done[1]), seconds=float(done[2]) * _UNIT_SECONDS[done[3]],
                  req_per_s=float(rate[1]), notes=notes)


@dataclass(frozen=True)
class SockperfRun:
    """sockperf ping-pong's 50th percentile "latency", which is half a round trip."""
    half_rtt_p50_us: float


def sockperf_was_interrupted(text):
    """True when Ctrl-C stopped sockperf: it catches it, prints what it has and exits 0."""
    return "interrupted by user" in text


def parse_sockperf(text):
    """Reads sockperf ping-pong's median from its percentile lines.

    sockperf prints, per observation, half the round trip as "latency" unless given
    --full-rtt ("Summary: Latency is ..." says which); halving every observation halves
    their median, so twice the 50th percentile is the median round trip.
    """
    text = _ANSI_COLOUR.sub("", text)  # sockperf colours some lines even into a file
    _search(r"Summary: Latency is", text, "'Summary: Latency is' line (half round trips)")
    # sockperf: ---> percentile 50.000 =   11.110
    median = _search(r"^sockperf: ---> percentile 50\.000 = *([0-9.]+)", text,
                     "'percentile 50.000' line")
    return SockperfRun(half_rtt_p50_us=float(median[1]))


def read_ipc_bench_csv(text):
    """ipc_bench's CSV (stdout) as a list of dicts, after checking its header."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != IPC_BENCH_HEADER:
        raise ParseError(f"ipc_bench's CSV header is {rows[0] if rows else 'missing'}, "
                         f"expected {','.join(IPC_BENCH_HEADER)}")
    return [dict(zip(rows[0], row)) for row in rows[1:] if row]


def parse_ipc_bench_progress(line):
    """ipc_bench's progress line "round 2/3 latency unix_path" as (2, 3, test, transport),
    or None for its other lines."""
    match = re.fullmatch(r"round (\d+)/(\d+) (\w+) (\w+)", line.strip())
    if match is None:
        return None
    return int(match[1]), int(match[2]), match[3], match[4]
