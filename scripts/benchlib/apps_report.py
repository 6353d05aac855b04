"""apps.md: the apps suite's table, computed from the rows of apps.csv alone.

A pure function of the CSV and the run's settings, so that tests/bench/test_reports.py
checks it on a captured apps.csv.
"""
from collections import defaultdict

from . import stats
from .http_report import BODY, TRANSPORTS
from .markdown import table

APPS_HEADER = ["suite", "server", "route", "transport", "round", "tool", "requests", "seconds",
               "req_per_s", "cpu_us_per_req", "nginx_cpu_us_per_req"]
# The servers, in the order of the table, with their titles there.
TITLES = {
    "http_min": "http_min, 1 worker (C++)",
    "uvicorn": "uvicorn (asyncio, h11)",
    "gunicorn": "gunicorn (sync, 1 worker)",
    "aiohttp": "aiohttp",
    "hypercorn": "hypercorn (asyncio)",
    "asyncio": "asyncio streams, no framework",
}
ROUTES = {"direct": "direct", "nginx": "via nginx", "nginx_close": "via nginx, no keep-alive"}


def medians(rows):
    """{(server, route, transport): (req/s, server CPU µs/req, nginx CPU µs/req, requests)},
    medians over the measured rounds."""
    runs = defaultdict(list)
    for row in rows:
        if row["suite"] == "apps":
            runs[(row["server"], row["route"], row["transport"])].append(row)
    return {key: (stats.median([float(r["req_per_s"]) for r in group]),
                  stats.median([float(r["cpu_us_per_req"]) for r in group]),
                  stats.median([float(r["nginx_cpu_us_per_req"]) for r in group]),
                  int(group[-1]["requests"]))
            for key, group in runs.items()}


def apps_markdown(rows, connections, rounds, pinning):
    """The text of apps.md."""
    figures = medians(rows)
    lines = [
        "# Python app servers: Unix socket against TCP, direct and through nginx",
        "",
        f"The same response (`{BODY}`, application/json) from every server. h2load --h1, "
        f"{connections} connections; {rounds} measured round(s) after a warm-up, every row once "
        f"per round, in rotating order; medians. Pinning: {pinning}. Via nginx, h2load reaches "
        "nginx over TCP, and the transport is the one between nginx and the server; \"via nginx\" "
        "keeps idle connections to the server open (keepalive, HTTP/1.1), \"no keep-alive\" is "
        "nginx's default (HTTP/1.0, a new connection to the server per request). Server CPU: user + system time of the server's processes over the "
        "run, divided by the requests served; nginx CPU: the same for nginx. \"Unix ÷ TCP\": "
        "requests/s over the Unix socket divided by requests/s over TCP, same server, same "
        "route.",
        "",
    ]
    measured = []
    for label, title in TITLES.items():
        for route, route_name in ROUTES.items():
            for transport, transport_name in TRANSPORTS.items():
                key = (label, route, transport)
                if key not in figures:
                    continue
                rate, cpu, nginx_cpu, requests = figures[key]
                other = figures.get((label, route, "tcp"))
                ratio = (f"{stats.ratio(rate, other[0]):.2f}×"
                         if transport == "uds" and other else "")
                measured.append([title, transport_name, route_name, requests, f"{rate:.0f}",
                                 f"{cpu:.1f}", f"{nginx_cpu:.1f}" if route != "direct" else "",
                                 ratio])
    lines += table(["Server", "Transport", "Route", "Requests per run", "req/s",
                    "server CPU µs/req", "nginx CPU µs/req", "req/s, Unix ÷ TCP"],
                   ["---", "---", "---"] + ["--:"] * 5, measured)

    lines += ["", "## Side by side", "",
              "The same medians, a row per server and route: Unix socket / TCP in each cell.", ""]
    pairs = []
    for label, title in TITLES.items():
        for route, route_name in ROUTES.items():
            uds, tcp = figures.get((label, route, "uds")), figures.get((label, route, "tcp"))
            if uds and tcp:
                nginx = f"{uds[2]:.0f} / {tcp[2]:.0f}" if route != "direct" else ""
                pairs.append([title, route_name, f"{uds[0]:.0f} / {tcp[0]:.0f}",
                              f"{stats.ratio(uds[0], tcp[0]):.2f}×", f"{uds[1]:.0f} / {tcp[1]:.0f}", nginx])
    lines += table(["Server", "Route", "req/s", "req/s, Unix ÷ TCP", "server CPU µs/req",
                    "nginx CPU µs/req"], ["---", "---", "--:", "--:", "--:", "--:"], pairs)
    return "\n".join(lines) + "\n"
