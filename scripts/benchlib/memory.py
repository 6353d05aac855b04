"""How much memory a server holds: the resident set of its processes, from /proc.

Rss, not Pss. Rss counts every page a process has in memory, shared ones (the C library,
the code nginx's master and worker share after fork()) in full in each process that maps
them; Pss divides a shared page among its sharers. Summed over master and worker, Rss
counts the shared code twice and Pss does not, so Pss is the truer total. But the suite
compares a server with itself, before and after: what connections add is private memory
(buffers, connection state), which Rss and Pss count alike, while Pss would also move when
a process that shares pages with the server starts or exits elsewhere. Rss is also the
figure top, ps and the issue's report use.
"""
from . import processes


def parse_kib(text, key):
    """The value of a "Key:   1234 kB" line of /proc/PID/smaps_rollup or /proc/PID/status,
    in KiB (the kernel's "kB" is 1024 bytes); None if there is no such line."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == key:
            fields = rest.split()
            if len(fields) != 2 or fields[1] != "kB" or not fields[0].isdigit():
                raise ValueError(f"unexpected {key} line: {line!r}")
            return int(fields[0])
    return None


def rss_kib(pid):
    """The resident set of one process in KiB: Rss from smaps_rollup (Linux 4.14 and
    later), else VmRSS from status; None once the process has gone."""
    for name, key in (("smaps_rollup", "Rss"), ("status", "VmRSS")):
        try:
            with open(f"/proc/{pid}/{name}") as file:
                value = parse_kib(file.read(), key)
        except FileNotFoundError:
            continue   # no smaps_rollup on this kernel, or the process has gone
        except ProcessLookupError:
            return None
        if value is not None:
            return value
    return None


def tree_rss_kib(root):
    """The Rss of a server: its process and every descendant (nginx's master and worker;
    http_min with one worker is one process), summed, in KiB. The tree is found afresh
    each time, so that a worker restarted meanwhile counts."""
    return sum(rss or 0 for rss in (rss_kib(pid) for pid in processes.tree_pids([root])))
