"""http.md: the HTTP suite's tables, computed from the rows of http.csv alone.

A pure function of the CSV and the run's settings, so that tests/bench/test_reports.py
checks it on a captured http.csv.
"""
from collections import defaultdict

from . import stats
from .markdown import table

HTTP_HEADER = ["suite", "server", "transport", "round", "tool", "requests", "seconds",
               "req_per_s", "cpu_us_per_req"]
BODY = '{"msg":"hey yourself","from":"http_min"}'  # GET / of the http_min contract
# The servers, in the order of the tables, with their titles there.
TITLES = {
    "canned_http": "canned_http (the floor)",
    "http_min": "http_min, 1 worker",
    "http_min_2w": "http_min, 2 workers",
    "nginx": "nginx (return 200)",
    "uvicorn": "uvicorn (asyncio, h11)",
    "gunicorn": "gunicorn (sync, 1 worker)",
    "aiohttp": "aiohttp",
    "nginx_http_min": "nginx → http_min",
}
TRANSPORTS = {"uds": "Unix socket", "tcp": "TCP"}


def floor_of(label, transport):
    """The floor a server is compared with: canned_http on the transport its clients use
    (nginx → http_min's clients reach nginx over TCP whatever the upstream)."""
    return ("canned_http", "tcp" if label == "nginx_http_min" else transport)


class Figures:
    """Medians over the measured rounds, per (server, transport), from http.csv's rows."""

    def __init__(self, rows):
        rates, cpus, self.requests = defaultdict(list), defaultdict(list), {}
        for row in rows:
            if row["suite"] == "http":
                key = (row["server"], row["transport"])
                rates[key].append(float(row["req_per_s"]))
                cpus[key].append(float(row["cpu_us_per_req"]))
                self.requests[key] = int(row["requests"])
        self.rate = {key: stats.median(values) for key, values in rates.items()}
        self.cpu = {key: stats.median(values) for key, values in cpus.items()}
        self.cpu_range = {key: (min(values), max(values)) for key, values in cpus.items()}

    def __contains__(self, key):
        return key in self.rate

    def rate_ratio(self, a, b):
        return stats.ratio(self.rate.get(a, 0), self.rate.get(b, 0))

    def cpu_ratio(self, a, b):
        return stats.ratio(self.cpu.get(a, 0), self.cpu.get(b, 0))


def least_ticks(rows, hz):
    """The fewest clock ticks of CPU time any recorded run used (CPU per request times
    requests, back to ticks): how precise the CPU figures are."""
    ticks = [round(float(row["cpu_us_per_req"]) * int(row["requests"]) * hz / 1e6) for row in rows]
    return min(ticks, default=0)


def tool_checks(rows):
    """The h2load/wrk check rows as {server: {tool: req/s}}, in the order measured."""
    checks = {}
    for row in rows:
        if row["suite"] == "http_check":
            checks.setdefault(row["server"], {})[row["tool"]] = float(row["req_per_s"])
    return checks


def http_markdown(rows, connections, rounds, pinning, hz):
    """The text of http.md."""
    figures = Figures(rows)
    lines = [
        "# HTTP: requests per second and CPU time per request",
        "",
        f"The same response (`{BODY}`, application/json) from every server. h2load --h1, "
        f"{connections} connections; {rounds} measured round(s) after a warm-up, every server "
        "and transport once per round, in rotating order; medians. "
        f"Pinning: {pinning}. CPU time: user + system time of the server's processes over the "
        "run (for nginx → http_min, of both), divided by the requests served. Every server "
        "process shares the one server core, http_min's two workers too. For nginx → http_min, "
        "h2load reaches nginx over TCP and the transport is the one between nginx and "
        "http_min; its floor columns compare it with the floor over TCP, the transport its "
        "clients use. \"Rounds\" is the lowest and the highest CPU time per request of the "
        "measured rounds: how much the machine let it move.",
        "",
    ]
    measured = []
    for label, title in TITLES.items():
        for transport, name in TRANSPORTS.items():
            key = (label, transport)
            if key in figures:
                floor = floor_of(label, transport)
                low, high = figures.cpu_range[key]
                measured.append([title, name, figures.requests[key], f"{figures.rate[key]:.0f}",
                                 f"{figures.cpu[key]:.2f}", f"{low:.2f}–{high:.2f}",
                                 f"{figures.rate_ratio(key, floor):.2f}",
                                 f"{figures.cpu_ratio(key, floor):.2f}×"])
    lines += table(["Server", "Transport", "Requests per run", "req/s", "CPU µs/req",
                    "CPU µs/req, rounds", "req/s ÷ floor", "CPU/req ÷ floor"],
                   ["---", "---"] + ["--:"] * 6, measured)

    lines += ["", "## Unix socket against TCP", ""]
    lines += table(["Server", "req/s, Unix ÷ TCP", "CPU/req, TCP ÷ Unix"], ["---", "--:", "--:"],
                   [[title, f"{figures.rate_ratio((label, 'uds'), (label, 'tcp')):.2f}×",
                     f"{figures.cpu_ratio((label, 'tcp'), (label, 'uds')):.2f}×"]
                    for label, title in TITLES.items()
                    if (label, "uds") in figures and (label, "tcp") in figures])

    if ("http_min", "uds") in figures and ("canned_http", "uds") in figures:
        share = {t: 100 * figures.rate_ratio(("http_min", t), ("canned_http", t)) for t in TRANSPORTS}
        cost = {t: figures.cpu_ratio(("http_min", t), ("canned_http", t)) for t in TRANSPORTS}
        lines += ["", f"http_min serves {share['uds']:.0f}% of the floor requests/s over a Unix "
                      f"socket and {share['tcp']:.0f}% over TCP, at {cost['uds']:.2f}× and "
                      f"{cost['tcp']:.2f}× its CPU time per request."]

    lines += ["", "## h2load checked against wrk", "",
              "Over TCP, one after the other for about the same time, pinned alike. Against a "
              "server faster than one core of either tool can load it (http_min), each measures "
              "mostly itself, and wrk spends less per request than h2load; against a slower one "
              "(aiohttp) both measure the server. Apart: the difference as a share of the larger "
              "figure.", ""]
    check_rows = []
    for label, tools in tool_checks(rows).items():
        if {"h2load", "wrk"} <= tools.keys():
            apart = round(stats.percent_apart(tools["h2load"], tools["wrk"]))  # as shown
            check_rows.append([TITLES.get(label, label), f"{tools['h2load']:.0f}", f"{tools['wrk']:.0f}",
                               f"{apart:.0f}%", "yes" if apart <= stats.AGREEMENT_PERCENT else "**no**"])
    lines += table(["Server", "h2load req/s", "wrk req/s", "apart",
                    f"agree within {stats.AGREEMENT_PERCENT}%?"], ["---", "--:", "--:", "--:", "---"],
                   check_rows)

    least = least_ticks(rows, hz)
    lines += ["", "## How far to trust these", "",
              f"CPU time comes in ticks of {1000 / hz:g} ms; the shortest run used {least}, so CPU "
              f"per request is good to about {100 / least if least > 0 else 100:.0f}% there, better "
              "in longer runs. On two cores h2load saturates its own core near the speed of the "
              "fastest servers, so their requests/s tell them apart poorly: CPU time per request "
              "does. The machine may be shared: two figures within a few percent of each other "
              "may swap places in another run."]
    return "\n".join(lines) + "\n"
