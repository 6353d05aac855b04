"""What the figures are measured on, and where the bench puts its processes."""
import os
import platform
import time
from dataclasses import dataclass


def cpu_model():
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return None


def cores_text():
    return f"{len(os.sched_getaffinity(0))} usable of {os.cpu_count()} online"


def load_average_text():
    return " ".join(f"{load:.2f}" for load in os.getloadavg())


def one_line():
    """The machine and how busy it is now, in one line."""
    return (f"machine: {cpu_model() or 'unknown CPU'}; cores: {cores_text()}; "
            f"Linux {platform.release()}; load average {load_average_text()}")


def machine_txt():
    """machine.txt: a fact a line, and when the run started."""
    return "".join(f"{line}\n" for line in (
        f"date: {time.strftime('%Y-%m-%d %H:%M:%S %z')}",
        f"cpu: {cpu_model() or 'unknown'}",
        f"cores: {cores_text()}",
        f"kernel: Linux {platform.release()} ({platform.machine()})",
        f"load average: {load_average_text()} (1, 5, 15 minutes, at the start)",
        f"host: {platform.node()}",
    ))


@dataclass(frozen=True)
class Pinning:
    """The servers run on one CPU, the load generator on another, so that they do not take
    turns on one core. With a single usable CPU, both are None and nothing is pinned."""
    server: int = None
    loader: int = None

    @classmethod
    def choose(cls, allowed=None):
        cpus = sorted(os.sched_getaffinity(0) if allowed is None else allowed)
        return cls(cpus[0], cpus[1]) if len(cpus) >= 2 else cls()

    def __str__(self):
        if self.server is None:
            return "none (only one core: server and loader share it, so the figures mix both)"
        return (f"servers on CPU {self.server}, the load generator on CPU {self.loader} "
                f"(sched_setaffinity)")
