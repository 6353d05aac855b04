#!/usr/bin/env python3
"""Runs `scripts/bench apps` with tiny request counts and checks that every row of chapter
13's table was measured, not what it measured.

    check_apps_output.py BENCH OUT

BENCH is scripts/bench, OUT the results folder to give it (emptied first). The test passes
when the bench exits 0 and apps.csv holds a measured run of every server (http_min and the
five Python ones) over both transports, directly and through nginx (with upstream keep-alive
and without), and apps.md has a row for each. The figures are never judged (chapter 11).
"""
import shutil
import subprocess
import sys
from pathlib import Path

from check_bench_output import check_csv

APPS_HEADER = ("suite,server,route,transport,round,tool,requests,seconds,req_per_s,"
               "cpu_us_per_req,nginx_cpu_us_per_req")
SERVERS = ["http_min", "uvicorn", "gunicorn", "aiohttp", "hypercorn", "asyncio"]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    bench, out = Path(sys.argv[1]), Path(sys.argv[2])
    shutil.rmtree(out, ignore_errors=True)
    command = [str(bench), "apps", "--quick", "--requests", "64", "--out", str(out)]
    print("$", " ".join(command), flush=True)
    status = subprocess.run(command, stdin=subprocess.DEVNULL).returncode
    if status != 0:
        sys.exit(f"FAIL: scripts/bench exited with status {status}")

    problems = []
    for name in ("apps.csv", "apps.md", "summary.md", "machine.txt"):
        if not (out / name).is_file() or (out / name).stat().st_size == 0:
            problems.append(f"{name}: missing or empty")
    if not problems:
        rows = check_csv(out / "apps.csv", APPS_HEADER, problems)
        measured = {(row["server"], row["route"], row["transport"]) for row in rows
                    if row["suite"] == "apps" and int(row["requests"]) > 0}
        for server in SERVERS:
            for route in ("direct", "nginx", "nginx_close"):
                for transport in ("uds", "tcp"):
                    if (server, route, transport) not in measured:
                        problems.append(f"apps.csv: no measured run of {server} {route} over {transport}")
        # The first table holds a row per server, transport and route; the side-by-side table
        # after it a row per server and route.
        markdown = (out / "apps.md").read_text().split("\n## Side by side")[0]
        for title in ("uvicorn", "gunicorn", "aiohttp", "hypercorn", "asyncio", "http_min"):
            lines = [line for line in markdown.splitlines() if line.startswith(f"| {title}")]
            if len(lines) != 6:
                problems.append(f"apps.md: {len(lines)} rows for {title}, expected 6 (2 transports, 3 routes)")
        if "# Python app servers" not in (out / "summary.md").read_text():
            problems.append("summary.md: does not include apps.md")
    if problems:
        print("\n".join(f"FAIL: {problem}" for problem in problems))
        sys.exit(1)
    print(f"ok: every server over both transports, direct and through nginx, in {out}/apps.csv")


if __name__ == "__main__":
    main()
