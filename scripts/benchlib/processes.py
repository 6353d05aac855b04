"""The processes a measurement starts: servers under test, and the tools that load them.

A Server leads a session of its own (so that stopping it reaches its workers, and Ctrl-C
on the terminal reaches only the bench), pinned to the server core, and dies with the
bench even if the bench is killed (PR_SET_PDEATHSIG). It is ready once it answers a probe
within a deadline, never after a fixed sleep; stopping it sends SIGTERM to its group,
SIGKILL after 5 s, reaps it and removes any socket file it left.

run_tool runs a load generator pinned to the other core, with a deadline, and stops it
(SIGTERM, then SIGKILL) if the bench is interrupted while it runs.
"""
import ctypes
import os
import signal
import socket
import stat
import subprocess
import threading
import time

STOP_SECONDS = 5  # how long a process gets between SIGTERM and SIGKILL
_PR_SET_PDEATHSIG = 1


class BenchError(Exception):
    """Something failed to run; the message says what."""


def _child_setup(cpu, die_with_parent):
    """preexec_fn for Popen: pin to one CPU and, for servers, die with the bench."""
    def setup():
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        if die_with_parent:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    return setup


def free_port():
    """A TCP port on 127.0.0.1 that nobody listens on right now, for servers that cannot be
    told to take port 0 and report the one they got (nginx, uvicorn, sockperf)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def remove_socket_file(path):
    """Removes path if it is a socket (and never anything else); True if it was there."""
    try:
        if stat.S_ISSOCK(os.lstat(path).st_mode):
            os.unlink(path)
            return True
    except FileNotFoundError:
        pass
    return False


def indented(text, prefix="  "):
    return "".join(prefix + line for line in text.splitlines(keepends=True))


class Server:
    """One server process (tree) under test."""

    def __init__(self, name, command, log_path, cpu=None, socket_files=()):
        self.name, self.command, self.log_path = name, list(command), log_path
        self.cpu, self.socket_files = cpu, tuple(socket_files)
        self.process = None

    def start(self):
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                self.command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True, preexec_fn=_child_setup(self.cpu, die_with_parent=True))
        return self

    @property
    def pid(self):
        return self.process.pid

    def running(self):
        return self.process is not None and self.process.poll() is None

    def log(self):
        try:
            with open(self.log_path, errors="replace") as log:
                return log.read()
        except FileNotFoundError:
            return ""

    def wait_ready(self, probe, seconds=20, poll=0.05):
        """Returns once probe() is true; raises BenchError, with the server's log, if the
        server exits first or the deadline passes."""
        deadline = time.monotonic() + seconds
        while True:
            if not self.running():
                raise BenchError(f"{self.name} exited before it answered; it said:\n"
                                 + indented(self.log()))
            if probe():
                return
            if time.monotonic() > deadline:
                raise BenchError(f"{self.name} did not answer within {seconds} s; it said:\n"
                                 + indented(self.log()))
            time.sleep(poll)  # between two attempts; the deadline bounds the wait

    def stop(self):
        """Stops and reaps the server, removes its socket files; returns a line saying how
        it ended, or None when it exited 0 on SIGTERM as it should."""
        if self.process is None:
            return None
        process, self.process = self.process, None
        said = None
        if process.returncode is None:  # not reaped yet, so its group id is still its own
            _signal_group(process, signal.SIGTERM)
            if not _exits_within(process.pid, STOP_SECONDS):
                said = f"{self.name} did not stop within {STOP_SECONDS} s of SIGTERM: killed"
            # The leader has exited (or is killed now) but is not reaped: a worker that
            # outlived it gets SIGKILL, and its group id cannot have gone to another process.
            _signal_group(process, signal.SIGKILL)
            process.wait()
            if said is None and process.returncode != 0:
                said = f"{self.name} exited with status {_status_text(process.returncode)} after SIGTERM"
        else:
            # Reaped already (it died on its own): workers it left would keep the group, and
            # so its id, alive; they get SIGKILL. With none left, there is no such group.
            _signal_group(process, signal.SIGKILL)
        for path in self.socket_files:
            remove_socket_file(path)
        return said


def _exits_within(pid, seconds, poll=0.02):
    """Waits for pid to exit without reaping it (WNOWAIT); False if it is still running."""
    deadline = time.monotonic() + seconds
    while os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is None:
        if time.monotonic() > deadline:
            return False
        time.sleep(poll)
    return True


def _signal_group(process, signum):
    try:
        os.killpg(process.pid, signum)
    except (ProcessLookupError, PermissionError):
        pass  # gone already


def _status_text(returncode):
    return f"{returncode}" if returncode >= 0 else f"128+{-returncode} ({signal.Signals(-returncode).name})"


def run_tool(command, stdout, stderr=subprocess.STDOUT, cpu=None, seconds=None, on_line=None):
    """Runs a measuring tool to its end and returns its exit status. Past `seconds` it is
    stopped and BenchError raised; if the bench is interrupted meanwhile it is stopped too
    (SIGTERM first: ipc_bench cleans up on it) before the interruption goes on. With
    on_line, each line the tool writes to stderr goes to on_line as it comes."""
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout,
                               stderr=subprocess.PIPE if on_line else stderr,
                               errors="replace" if on_line else None,
                               preexec_fn=_child_setup(cpu, die_with_parent=True))
    timed_out = threading.Event()

    def expire():
        timed_out.set()
        stop_process(process)

    # The deadline as a timer, so that it holds while on_line reads the tool's lines too.
    deadline = threading.Timer(seconds, expire) if seconds else None
    try:
        if deadline:
            deadline.start()
        if on_line:
            for line in process.stderr:
                on_line(line.rstrip("\n"))
        status = process.wait()
    except BaseException:
        stop_process(process)
        raise
    finally:
        if deadline:
            deadline.cancel()
    if timed_out.is_set():
        raise BenchError(f"{os.path.basename(command[0])} did not finish within {seconds} s")
    return status


def stop_process(process):
    """SIGTERM, SIGKILL after STOP_SECONDS, and reaped."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(STOP_SECONDS)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -------------------------------------------------------------------------------------------
# A process tree and its CPU time, from /proc.

def parse_proc_stat(line):
    """(pid, parent pid, ticks) from a /proc/PID/stat line, ticks being utime + stime +
    cutime + cstime: reaped children's time counts, so a worker that exits during a run
    still does."""
    pid = int(line.split(" ", 1)[0])
    fields = line[line.rindex(")") + 2:].split()  # the command name may hold spaces and ")"
    # fields[0] is the state, [1] the parent, [11..14] utime, stime, cutime, cstime
    return pid, int(fields[1]), sum(int(value) for value in fields[11:15])


def tree_of(parents, roots):
    """roots and all their descendants, as pids; parents maps pid to parent pid. A root
    that is not in parents (it exited) is left out."""
    children = {}
    for pid, parent in parents.items():
        children.setdefault(parent, []).append(pid)
    found, queue = [], [root for root in roots if root in parents]
    while queue:
        pid = queue.pop()
        found.append(pid)
        queue += children.get(pid, [])
    return found


def tree_ticks_of(processes, roots):
    """Sum of the ticks of roots and all their descendants; processes maps pid to
    (parent, ticks)."""
    parents = {pid: parent for pid, (parent, _) in processes.items()}
    return sum(processes[pid][1] for pid in tree_of(parents, roots))


def scan_proc():
    """{pid: (parent, ticks)} of every process, in one pass over /proc (this kernel may
    lack /proc/PID/task/TID/children)."""
    processes = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as file:
                pid, parent, ticks = parse_proc_stat(file.read())
        except (FileNotFoundError, ProcessLookupError):
            continue  # it exited between the listing and the read
        processes[pid] = (parent, ticks)
    return processes


def tree_ticks(roots):
    """CPU time used so far by the processes roots and their descendants, in clock ticks."""
    return tree_ticks_of(scan_proc(), roots)


def tree_pids(roots):
    """The pids of roots and their descendants now (a server's master and workers)."""
    return tree_of({pid: parent for pid, (parent, _) in scan_proc().items()}, roots)
