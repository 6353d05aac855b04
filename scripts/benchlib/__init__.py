"""scripts/bench's package: chapter 11's measurements, in Python's standard library only.

    cli          the command line and the run: suites in order, results folder, clean-up
    suite        what suites share (Bench: settings, tools, builds, servers) and Suite
    raw_suite    ipc_bench and the sockperf cross-check      -> raw.csv, raw.md, latency.svg
    http_suite   h2load (and wrk) against eight servers      -> http.csv, http.md
    hostile_suite  http_min and nginx under hostile clients  -> hostile.csv, hostile.md
    hostile_clients  its clients, on raw sockets: idle, churning, not reading, timed
    raw_report, http_report, hostile_report   the tables, as pure functions of the CSV rows
    parsing      what h2load, wrk, sockperf and ipc_bench print
    stats        medians, ratios, CPU time per request, run sizes
    processes    Server (start, readiness, stop), run_tool, process trees, CPU time
    memory       a server's RSS (its processes' Rss from /proc, summed)
    machine, console, markdown   the machine, progress and output, table helpers

The nginx configurations and the gnuplot script are templates in scripts/bench-templates/.
tests/bench/ holds the unit tests, fed with output captured from the real tools.
"""
