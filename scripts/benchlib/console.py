"""What the bench says while it runs: the story on stdout, progress on stderr.

Console prints the narrative (headings, commands, one line per measured run). Progress
keeps the plan of the whole run as a list of steps, each with the seconds it is expected
to take, and shows which step runs, how far along the run is and how long is left. On a
terminal that is one status line, rewritten in place and cleared before the narrative
goes on; into a file or a pipe it is one line per step.
"""
import shutil
import sys
import time

from . import stats


class Console:
    """The narrative on stdout, in bold and dim on a terminal, and the status line."""

    def __init__(self, out=sys.stdout, err=sys.stderr):
        self.out, self.err = out, err
        styled = out.isatty()
        self.bold, self.dim, self.plain = ("\x1b[1m", "\x1b[2m", "\x1b[0m") if styled else ("", "", "")
        self.live_status = err.isatty()
        self._status_shown = False

    def line(self, text=""):
        self.clear_status()
        print(text, file=self.out, flush=True)

    def say(self, text):
        """A heading: a blank line, then the text in bold."""
        self.line(f"\n{self.bold}{text}{self.plain}")

    def command(self, text):
        """A command being run, as a shell would show it."""
        self.line(f"{self.dim}$ {text}{self.plain}")

    def warn(self, text):
        self.clear_status()
        print(f"bench: {text}", file=self.err, flush=True)

    def status(self, text):
        if self.live_status:
            width = shutil.get_terminal_size().columns - 1
            self.err.write("\r\x1b[K" + text[:width])
            self.err.flush()
            self._status_shown = True
        else:
            print(text, file=self.err, flush=True)

    def clear_status(self):
        if self._status_shown:
            self.err.write("\r\x1b[K")
            self.err.flush()
            self._status_shown = False


def duration_text(seconds):
    """"1 min 05 s", "12 s": a duration for people."""
    seconds = max(0, round(seconds))
    return f"{seconds // 60} min {seconds % 60:02d} s" if seconds >= 60 else f"{seconds} s"


class Progress:
    """Steps planned ahead with the seconds each should take; time left scales the plan by
    how it has compared with the clock so far."""

    def __init__(self, console, clock=time.monotonic):
        self.console, self.clock = console, clock
        self.planned = []          # expected seconds of each step not started yet
        self.done_planned = 0.0    # expected seconds of the steps done
        self.done_actual = 0.0     # their real seconds
        self.count = 0             # steps started
        self._current = None       # (expected seconds, start time) of the running step

    def plan(self, seconds_each, steps=1):
        self.planned += [float(seconds_each)] * steps

    def replan(self, seconds_each):
        """Once a suite knows better: the expected seconds of its steps still to come. They
        are the next ones in the plan (suites run in order); the steps of the suites after
        it stay as planned."""
        assert len(seconds_each) <= len(self.planned), "replan adds no steps"
        self.planned[:len(seconds_each)] = [float(seconds) for seconds in seconds_each]

    def skip(self, steps):
        """Drops steps of the plan that will not run."""
        del self.planned[:max(0, steps)]

    @property
    def total(self):
        return self.count + len(self.planned)

    def step(self, description):
        """Ends the running step, if any, starts the next and shows it."""
        self.finish()
        expected = self.planned.pop(0) if self.planned else 0.0
        self._current = (expected, self.clock())
        self.count += 1
        self.console.status(f"bench: [{self.count}/{self.total}] {description}; "
                            f"about {duration_text(self.left())} left")

    def finish(self):
        if self._current is not None:
            expected, started = self._current
            self.done_planned += expected
            self.done_actual += self.clock() - started
            self._current = None

    def left(self):
        """Seconds left: the running step's remaining part and the steps after it."""
        left_planned = sum(self.planned)
        if self._current is not None:
            expected, started = self._current
            # The running step's time so far counts against its own share of the plan.
            left_planned += max(0.0, expected - (self.clock() - started))
        return stats.remaining_seconds(self.done_planned, self.done_actual, left_planned)
