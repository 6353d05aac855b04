"""hostile.md: the hostile suite's table, computed from the rows of hostile.csv alone.

hostile.csv holds what was read off the machine (RSS in KiB before and after, connection
counts, median latencies); the figures (KiB per connection, MiB of growth, the TCP/Unix
ratio) and the verdicts against issue 11's targets are computed here, as pure functions,
so that tests/bench/test_hostile.py checks them without measuring anything.
"""
from dataclasses import dataclass

from .markdown import table

HOSTILE_HEADER = ["server", "measure", "value", "unit"]
SERVERS = {"http_min": "http_min", "nginx": "nginx"}  # label -> title, in the table's order
KIB_PER_MIB = 1024


@dataclass(frozen=True)
class Plan:
    """How much each test does: the counts the table's titles name."""
    idle: int = 3000              # idle keep-alive connections held open
    churn: int = 10000            # connections opened, used once and closed
    streams: int = 4              # churned connections in progress at a time
    settle: float = 2.0           # seconds between the churn and the second reading
    pipeliners: int = 4           # clients that send and never read
    pipeline_seconds: float = 3.0
    receive_buffer: int = 4096    # their SO_RCVBUF, in bytes
    big_file: int = 4 << 20       # the static file they ask for, in bytes
    small_file: int = 2048        # the static file of the latency test, in bytes
    latency: int = 500            # timed requests per transport (fewer if the server is slow)


@dataclass(frozen=True)
class Target:
    """One figure of issue 11 and the most it may be."""
    key: str
    limit: float
    text: str  # the target as the table shows it


TARGETS = {
    "idle_kib_per_connection": Target("idle_kib_per_connection", 4, "≤ 4 KiB"),
    "churn_growth_settled_mib": Target("churn_growth_settled_mib", 8, "≤ 8 MiB"),
    "pipeline_growth_mib": Target("pipeline_growth_mib", 16, "≤ 16 MiB"),
    "latency_tcp_over_uds": Target("latency_tcp_over_uds", 2, "≤ 2×"),
}


def values(rows):
    """{server: {measure: value}} from hostile.csv's rows."""
    found = {}
    for row in rows:
        found.setdefault(row["server"], {})[row["measure"]] = float(row["value"])
    return found


def figures(measured):
    """The figures of one server from its measures (a dict); a figure whose measures are
    missing (that test failed to run) is left out."""
    m, out = measured, {}
    if {"idle_rss_before_kib", "idle_rss_after_kib", "idle_open"} <= m.keys() and m["idle_open"] > 0:
        out["idle_kib_per_connection"] = (m["idle_rss_after_kib"] - m["idle_rss_before_kib"]) / m["idle_open"]
    if {"churn_rss_before_kib", "churn_rss_after_kib"} <= m.keys():
        out["churn_growth_mib"] = (m["churn_rss_after_kib"] - m["churn_rss_before_kib"]) / KIB_PER_MIB
    if {"churn_rss_before_kib", "churn_rss_settled_kib"} <= m.keys():
        out["churn_growth_settled_mib"] = (m["churn_rss_settled_kib"] - m["churn_rss_before_kib"]) / KIB_PER_MIB
    if {"pipeline_rss_before_kib", "pipeline_rss_peak_kib"} <= m.keys():
        out["pipeline_growth_mib"] = (m["pipeline_rss_peak_kib"] - m["pipeline_rss_before_kib"]) / KIB_PER_MIB
    for transport in ("tcp", "uds"):
        if f"latency_{transport}_median_us" in m:
            out[f"latency_{transport}_us"] = m[f"latency_{transport}_median_us"]
    if out.get("latency_uds_us", 0) > 0 and "latency_tcp_us" in out:
        out["latency_tcp_over_uds"] = out["latency_tcp_us"] / out["latency_uds_us"]
    return out


def meets(key, value):
    """Whether a figure meets its target: at most the limit (a shrinking RSS meets it)."""
    return value <= TARGETS[key].limit


def number_text(key, value):
    """A figure with its unit, as the table shows it."""
    if key.endswith("_kib_per_connection"):
        return f"{value:.1f} KiB"
    if key.endswith("_mib"):
        return f"{value:.1f} MiB"
    if key.endswith("_us"):
        return f"{value:.0f} µs" if value >= 100 else f"{value:.1f} µs"
    return f"{value:.1f}×" if value < 100 else f"{value:.0f}×"


def rows_of_table(found, plan):
    """The table's rows: figure, target, each server's value, and whether http_min meets
    the target ("yes", "**no**", or "not measured"; blank for a figure without target)."""
    per_server = {server: figures(found.get(server, {})) for server in SERVERS}
    lines = [
        ("idle_kib_per_connection",
         f"RSS per idle keep-alive connection ({plan.idle} open, one request each)"),
        ("churn_growth_mib", f"RSS growth just after {plan.churn} churned connections"),
        ("churn_growth_settled_mib", f"RSS growth {plan.settle:g} s after the churn"),
        ("pipeline_growth_mib",
         f"Peak RSS growth, {plan.pipeliners} clients pipelining without reading for "
         f"{plan.pipeline_seconds:g} s"),
        ("latency_tcp_us", f"Keep-alive GET of a {plan.small_file // 1024} KiB file, median, TCP"),
        ("latency_uds_us", "The same GET, median, Unix socket"),
        ("latency_tcp_over_uds", "TCP ÷ Unix socket"),
    ]
    result = []
    for key, title in lines:
        cells = [per_server[server].get(key) for server in SERVERS]
        target = TARGETS.get(key)
        if target is None:
            verdict = ""
        elif cells[0] is None:
            verdict = "not measured"
        else:
            verdict = "yes" if meets(key, cells[0]) else "**no**"
        result.append([title, target.text if target else "", *("—" if value is None else
                       number_text(key, value) for value in cells), verdict])
    return result


def hostile_markdown(rows, plan, notes=()):
    """The text of hostile.md."""
    found = values(rows)
    lines = [
        "# Hostile and careless clients: memory and latency, http_min next to nginx",
        "",
        "Issue 11's four figures, measured on both servers in the same run, each test on a "
        "freshly started server: http_min --workers 1 --keepalive-timeout 60 (one process) "
        "and nginx with worker_processes 1 (master and worker), both serving the same files "
        "under /static/. Server RSS is the Rss of /proc/PID/smaps_rollup summed over the "
        "server's processes, read before and after; growth is after minus before.",
        "",
    ]
    lines += table(["Figure", "Target", *SERVERS.values(), "http_min meets it?"],
                   ["---", "---", *["--:"] * len(SERVERS), "---"], rows_of_table(found, plan))
    lines += [
        "",
        "## How each figure was measured",
        "",
        f"- Idle connections: {plan.idle} TCP connections opened (64 at a time), each sends one "
        f"GET of a {plan.small_file} B file, reads the whole answer and stays open; RSS after, "
        "minus RSS before, divided by the connections still open when it was read.",
        f"- Churn: {plan.churn} TCP connections, {plan.streams} at a time, each sends one GET, "
        f"reads the answer and closes; RSS read right after the last one and again "
        f"{plan.settle:g} s later. The target is the second reading: back within 8 MiB of the start.",
        f"- Pipelining without reading: {plan.pipeliners} TCP clients with SO_RCVBUF "
        f"{plan.receive_buffer} B send GETs of a {plan.big_file // (1 << 20)} MiB file back to "
        f"back for {plan.pipeline_seconds:g} s and never read; RSS sampled every 50 ms, the "
        "highest sample minus RSS before.",
        f"- Latency: one client, one keep-alive connection per transport, a warm-up, then up "
        f"to {plan.latency} GETs of the {plan.small_file} B file, each timed from the send to "
        "the last byte of the answer (time.perf_counter_ns; a slow server gets fewer within "
        "the test's time bound); the median.",
        "",
    ]
    counts = []
    for server, title in SERVERS.items():
        m = found.get(server, {})
        parts = []
        if "idle_open" in m:
            parts.append(f"{m['idle_open']:.0f} idle connections open when RSS was read")
        if "churn_answered" in m:
            parts.append(f"{m['churn_answered']:.0f} churned connections answered")
        if "pipeline_requests_sent" in m:
            parts.append(f"{m['pipeline_requests_sent']:.0f} pipelined requests sent")
        for transport, name in (("tcp", "TCP"), ("uds", "Unix socket")):
            if f"latency_{transport}_requests" in m:
                parts.append(f"{m[f'latency_{transport}_requests']:.0f} timed GETs over {name}")
        if parts:
            counts.append(f"- {title}: " + ", ".join(parts) + ".")
    if counts:
        lines += ["What each server got:", ""] + counts + [""]
    for note in notes:
        lines += [f"Note: {note}", ""]
    lines.append("A measurement, not a test: the figures belong to this machine and this "
                 "build, and the suite reports them whatever they are.")
    return "\n".join(lines) + "\n"
