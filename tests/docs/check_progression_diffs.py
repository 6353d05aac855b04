"""Chapter 04's progression reads as a diff: echo_server -> echo_fork -> echo_threads ->
echo_poll -> echo_epoll, each step differing from the one before by its own idea only; and
the bare loops that come first, bare_poll_echo -> bare_epoll_echo, differ by the waiting
alone (poll() against epoll).

The chapter tells the reader to compare neighbours with `diff`. This counts the lines of
code each diff changes (lines removed plus lines added; comment-only and blank lines are not
counted, since each step's opening paragraph and its why-comments are its own) and fails when
a step exceeds its budget. A budget is the size of the step's idea, as written today, plus a
few lines of slack: a diff above it has picked up something that is not the step's idea (a
feature added to one server only, a helper copied instead of shared, a restyled loop).

Usage: check_progression_diffs.py SOURCE_DIR
"""

import difflib
import os
import sys

# (previous step, this step, budget in changed lines of code, the idea the diff shows)
STEPS = [
    ("echo_server", "echo_fork", 20, "fork() a child per client; ignore SIGCHLD; wait at the end"),
    ("echo_fork", "echo_threads", 35,
     "a thread per client, counted; out of descriptors, wait for one to finish"),
    ("echo_threads", "echo_poll", 60,
     "one thread: non-blocking sockets, EchoConnection, a poll() loop"),
    ("echo_poll", "echo_epoll", 50, "the same loop on Epoll: an interest list kept in the kernel"),
    ("bare_poll_echo", "bare_epoll_echo", 45,
     "the bare loop on epoll_create1, epoll_ctl and epoll_wait instead of a pollfd array"),
]


def code_lines(path):
    with open(path, encoding="utf-8") as source:
        return [line.rstrip("\n") for line in source
                if line.strip() and not line.strip().startswith("//")]


def changed_lines(before, after):
    diff = difflib.ndiff(before, after)
    return sum(1 for line in diff if line.startswith(("- ", "+ ")))


def main():
    programs = os.path.join(sys.argv[1], "raw_sockets", "programs")
    problems = 0
    for previous, step, budget, idea in STEPS:
        changed = changed_lines(code_lines(os.path.join(programs, previous + ".cpp")),
                                code_lines(os.path.join(programs, step + ".cpp")))
        verdict = "ok" if changed <= budget else "TOO BIG"
        print(f"{previous} -> {step}: {changed} changed lines of code (budget {budget}: "
              f"{idea}) {verdict}")
        if changed > budget:
            problems += 1
            print(f"  `diff {previous}.cpp {step}.cpp` shows more than this step's idea: "
                  f"share the rest through the library (raw_sockets/serving.hpp), or move it "
                  f"to the step it belongs to")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
