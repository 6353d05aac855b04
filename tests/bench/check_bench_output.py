#!/usr/bin/env python3
"""Runs scripts/bench --quick and checks what it wrote, not what it measured.

    check_bench_output.py BENCH OUT

BENCH is scripts/bench, OUT the results folder to give it (emptied first, so that files of
an earlier run cannot pass for this one's). The test passes when the bench exits 0 and OUT
holds every file the chapter promises, none empty, each CSV with its header and rows of as
many fields. The figures themselves are never judged: they belong to the machine, and a
slow or busy machine is not a failure (chapter 11).
"""
import csv
import shutil
import subprocess
import sys
from pathlib import Path

HTTP_HEADER = "suite,server,transport,round,tool,requests,seconds,req_per_s,cpu_us_per_req"
RAW_HEADER = "test,transport,size_bytes,buffer,stat,value,unit,rounds,round_min,round_max"
HOSTILE_HEADER = "server,measure,value,unit"
FILES = ["machine.txt", "summary.md", "http.csv", "http.md", "raw.csv", "raw.md", "latency.svg",
         "hostile.csv", "hostile.md", "apps.csv", "apps.md"]
# Every server of the http suite, over both transports (the names http.csv uses).
SERVERS = ["canned_http", "http_min", "http_min_2w", "nginx", "uvicorn", "gunicorn", "aiohttp",
           "nginx_http_min"]


def check_csv(path, header, problems):
    """The header line, at least one row, every row as wide as the header; returns the rows."""
    with path.open(newline="") as file:
        rows = list(csv.reader(file))
    if not rows or ",".join(rows[0]) != header:
        problems.append(f"{path.name}: header is {rows[0] if rows else 'missing'}, expected {header}")
        return []
    width = len(rows[0])
    for number, row in enumerate(rows[1:], start=2):
        if len(row) != width:
            problems.append(f"{path.name}:{number}: {len(row)} fields, expected {width}")
    if len(rows) < 2:
        problems.append(f"{path.name}: a header and no rows")
    return [dict(zip(rows[0], row)) for row in rows[1:]]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bench, out = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.rmtree(out, ignore_errors=True)
    command = [str(bench), "--quick", "--out", str(out)]
    print("$", " ".join(command), flush=True)
    status = subprocess.run(command, stdin=subprocess.DEVNULL).returncode
    if status != 0:
        sys.exit(f"FAIL: scripts/bench exited with status {status}")

    problems = []
    for name in FILES:
        path = out / name
        if not path.is_file() or path.stat().st_size == 0:
            problems.append(f"{name}: missing or empty")
    if not problems:
        rows = check_csv(out / "http.csv", HTTP_HEADER, problems)
        measured = {(row["server"], row["transport"]) for row in rows if row["suite"] == "http"}
        for server in SERVERS:
            for transport in ("uds", "tcp"):
                if (server, transport) not in measured:
                    problems.append(f"http.csv: no measured run of {server} over {transport}")
        tools = {row["tool"] for row in rows if row["suite"] == "http_check"}
        if tools != {"h2load", "wrk"}:
            problems.append(f"http.csv: the h2load/wrk check has rows of {sorted(tools)}")
        check_csv(out / "raw.csv", RAW_HEADER, problems)
        # The hostile suite measures http_min and nginx, each in all four tests.
        hostile = check_csv(out / "hostile.csv", HOSTILE_HEADER, problems)
        for server in ("http_min", "nginx"):
            measures = {row["measure"] for row in hostile if row["server"] == server}
            for first in ("idle_open", "churn_answered", "pipeline_requests_sent", "latency_tcp_median_us"):
                if first not in measures:
                    problems.append(f"hostile.csv: no {first} row for {server}")
        if "<svg" not in (out / "latency.svg").read_text(errors="replace")[:2000]:
            problems.append("latency.svg: not an SVG image")
        # summary.md holds machine.txt, raw.md, http.md, hostile.md and apps.md, each title one
        # level down.
        summary = (out / "summary.md").read_text()
        for name in ("raw.md", "http.md", "hostile.md", "apps.md"):
            title = (out / name).read_text().splitlines()[0]
            if ("#" + title if title.startswith("#") else title) not in summary:
                problems.append(f"summary.md: does not include {name} (its first line: {title})")
        if "## Machine" not in summary:
            problems.append("summary.md: no machine section")
    if problems:
        print("\n".join(f"FAIL: {problem}" for problem in problems))
        sys.exit(1)
    print(f"ok: {', '.join(FILES)} written to {out}, headers and rows well formed")


if __name__ == "__main__":
    main()
