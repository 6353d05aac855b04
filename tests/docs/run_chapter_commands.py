"""A chapter's commands are executable documentation: this runs every ```sh block of a
chapter as written, in the order a learner meets them, and compares what they print with
the chapter's "what you should see" blocks. A block the test cannot run says why.

Usage: run_chapter_commands.py SOURCE_DIR BIN_DIR lessons/NN-topic/README.md

Every ```sh block is preceded by one directive (an HTML comment, invisible when read):

  <!-- run -->                      run it; it must end with status 0
  <!-- run status=1 -->             ...and end with this status
  <!-- run background=NAME ready="REGEX" -->
                                    start it as in another terminal and go on once its
                                    output matches REGEX; the regex's named groups, for
                                    example (?P<PORT>\\d+), become variables of the blocks
                                    that follow ($PORT)
  <!-- run root -->                 (with any of the above) only when run as root; otherwise
                                    the test says it skipped it
  <!-- run needs=nginx,socat -->    only when these programs are installed
  <!-- run resolves=localhost -->   only when these names resolve (a bare chroot has no
                                    /etc/hosts)
  <!-- skip: REASON -->             not run; scripts/render-chapters writes the reason under
                                    the block, for the reader

and, outside blocks:

  <!-- output -->                   before a ```text block: what the last block printed
  <!-- output NAME -->              ...what the background block NAME printed, checked when
                                    it is stopped
  <!-- stop NAME -->                Ctrl-C (SIGINT) to the background block NAME, then wait
                                    for it to end (signal=TERM for another signal)

The blocks run in one bash each, from the repository's root, with BIN_DIR first on PATH;
exported variables carry over from one block to the next, as in one terminal. Every
`/tmp/` in a block and in its expected output stands for a fresh short directory, so that
runs in parallel do not meet. Expected output is matched line by line (standard output and
error together, as a terminal shows them; each run of blanks counts as one space), where `<n>` is any
number, `<word>` any word (a user or group name, a pid, a time), `...` inside a line any
text, and a line of `...` alone any number of lines.
"""

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

DIRECTIVE = re.compile(r"^<!-- (run|skip|output|stop)\b(.*?)\s*-->\s*$")
PLACEHOLDERS = {"<n>": r"\d+", "<word>": r"\S+", "...": r".*?"}
BLOCK_TIMEOUT = 60
READY_TIMEOUT = 15
STOP_TIMEOUT = 15


class Chapter:
    """The chapter's steps, in order: ("run", options, code, line), ("skip", reason, code,
    line), ("output", name, text, line), ("stop", options, None, line)."""

    def __init__(self, path):
        self.path = path
        self.steps = []
        self.problems = []
        with open(path, encoding="utf-8") as text:
            lines = text.read().split("\n")
        pending = None  # (kind, argument, line) of the directive waiting for its block
        index = 0
        while index < len(lines):
            line = lines[index]
            directive = DIRECTIVE.match(line)
            if directive:
                kind, argument = directive.group(1), directive.group(2).strip()
                if kind == "stop":
                    self.steps.append(("stop", parse_options(argument), None, index + 1))
                else:
                    if pending:
                        self.problems.append(f"line {pending[2]}: <!-- {pending[0]} --> "
                                             "is followed by no block")
                    pending = (kind, argument, index + 1)
                index += 1
                continue
            if line.startswith("```"):
                language = line[3:].strip()
                end = index + 1
                while end < len(lines) and not lines[end].startswith("```"):
                    end += 1
                body = "\n".join(lines[index + 1:end])
                number = index + 1
                if language == "sh":
                    if pending is None or pending[0] not in ("run", "skip"):
                        self.problems.append(f"line {number}: a ```sh block with no "
                                             "<!-- run --> or <!-- skip: why --> before it")
                    elif pending[0] == "skip":
                        reason = pending[1].lstrip(":").strip()
                        if not reason:
                            self.problems.append(f"line {pending[2]}: a skip gives no reason")
                        self.steps.append(("skip", reason, body, number))
                    else:
                        self.steps.append(("run", parse_options(pending[1]), body, number))
                    pending = None
                elif pending is not None and pending[0] == "output":
                    self.steps.append(("output", pending[1], body, number))
                    pending = None
                elif pending is not None:
                    self.problems.append(f"line {pending[2]}: <!-- {pending[0]} --> is "
                                         f"followed by a ```{language} block")
                    pending = None
                index = end + 1
                continue
            if pending is not None and line.strip():
                self.problems.append(f"line {pending[2]}: <!-- {pending[0]} --> is followed "
                                     f"by text, not by its block")
                pending = None
            index += 1


def parse_options(argument):
    """`background=server ready="listening on" root` as a dict (a bare word maps to True)."""
    options = {}
    for word in shlex.split(argument):
        key, equals, value = word.partition("=")
        options[key] = value if equals else True
    return options


def pattern_of(expected):
    """The regex that the expected text stands for."""
    parts = []
    for line in expected.rstrip("\n").split("\n"):
        line = squeezed(line)
        if line == "...":
            parts.append(r"(?:[^\n]*\n)*?")
            continue
        pieces = re.split(r"(<n>|<word>|\.\.\.)", line)
        parts.append("".join(PLACEHOLDERS.get(piece, re.escape(piece)) for piece in pieces)
                     + r"\n")
    return re.compile("".join(parts))


def squeezed(line):
    """A line with each run of blanks as one space: columns (ls, ss) line up differently
    from one machine to the next."""
    return " ".join(line.split())


def normalised(output):
    return "".join(squeezed(line) + "\n" for line in output.rstrip("\n").split("\n")) \
        if output.strip() else ""


class Runner:
    def __init__(self, source_dir, bin_dir, chapter):
        self.source_dir = source_dir
        self.bin_dir = bin_dir
        self.chapter = chapter
        self.scratch = tempfile.mkdtemp(prefix="ch", dir="/tmp")
        # Searchable by every user, as /tmp is: a chapter may play a second user (nobody).
        os.chmod(self.scratch, 0o755)
        self.state = os.path.join(self.scratch, ".exports")
        self.background = {}  # name -> (Popen, output file path)
        self.last_output = None
        self.failures = []
        self.ran = self.skipped = 0
        path = os.environ.get("PATH", "/usr/bin:/bin")
        self.env = {**os.environ, "PATH": f"{bin_dir}:{path}", "LC_ALL": "C.UTF-8"}

    def localised(self, text):
        return text.replace("/tmp/", self.scratch + "/")

    def script(self, code, keep_exports=True):
        """The block as a bash script: the exports of the blocks before it, the block, then
        (for a foreground block) its exports saved for the next."""
        state = shlex.quote(self.state)
        save = f"trap 'export -p > {state}' EXIT\n" if keep_exports else ""
        return f"[ -f {state} ] && . {state}\n{save}{self.localised(code)}\n"

    def fail(self, line, message):
        self.failures.append(f"{self.chapter.path}:{line}: {message}")
        print(f"FAIL (line {line}): {message}", flush=True)

    def runnable(self, options, line):
        if options.get("root") and os.geteuid() != 0:
            print(f"skipped (line {line}): needs root; run the test as root to run it")
            return False
        names = options.get("resolves")
        if isinstance(names, str):
            for name in names.split(","):
                try:
                    socket.getaddrinfo(name, None)
                except socket.gaierror as error:
                    print(f"skipped (line {line}): {name} does not resolve here ({error})")
                    return False
        needs = options.get("needs")
        if isinstance(needs, str):
            # nginx lives in /usr/sbin, which a normal user's PATH often lacks.
            search = f"{self.env['PATH']}:/usr/sbin:/sbin"
            missing = [tool for tool in needs.split(",")
                       if shutil.which(tool, path=search) is None]
            if missing:
                print(f"skipped (line {line}): needs {', '.join(missing)}")
                return False
        return True

    def run(self, options, code, line):
        if not self.runnable(options, line):
            self.skipped += 1
            self.last_output = None
            return
        self.ran += 1
        print(f"--- line {line}:\n{self.localised(code)}", flush=True)
        name = options.get("background")
        if isinstance(name, str):
            self.start_background(name, options, code, line)
            return
        try:
            done = subprocess.run(["bash", "-c", self.script(code)], cwd=self.source_dir,
                                  env=self.env, stdin=subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                  timeout=float(options.get("timeout", BLOCK_TIMEOUT)))
        except subprocess.TimeoutExpired as expired:
            self.fail(line, f"still running after {expired.timeout} s")
            self.last_output = None
            return
        output = done.stdout.decode(errors="replace")
        print(output, end="", flush=True)
        wanted = int(options.get("status", 0))
        if done.returncode != wanted:
            self.fail(line, f"ended with status {done.returncode}, the chapter expects "
                            f"{wanted}:\n{output}")
        self.last_output = output

    def start_background(self, name, options, code, line):
        log = os.path.join(self.scratch, f".{name}.out")
        with open(log, "wb") as out:
            process = subprocess.Popen(["bash", "-c", self.script(code, False)], cwd=self.source_dir,
                                       env=self.env, stdin=subprocess.DEVNULL, stdout=out,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        self.background[name] = (process, log)
        ready = options.get("ready")
        if not isinstance(ready, str):
            return
        pattern = re.compile(self.localised(ready))
        deadline = time.monotonic() + READY_TIMEOUT
        ended = False
        while True:  # the log is read once more after the program ended or time ran out
            with open(log, encoding="utf-8", errors="replace") as text:
                found = pattern.search(text.read())
            if found:
                with open(self.state, "a", encoding="utf-8") as state:
                    for variable, value in found.groupdict().items():
                        state.write(f"export {variable}={shlex.quote(value)}\n")
                return
            left = deadline - time.monotonic()
            if ended or left <= 0:
                break
            try:  # returns at once if the program ends; else the log is read again
                process.wait(timeout=min(0.05, left))
                ended = True
            except subprocess.TimeoutExpired:
                pass
        with open(log, encoding="utf-8", errors="replace") as text:
            self.fail(line, f"{name} never printed {ready!r}; it printed:\n{text.read()}")

    def stop(self, options, line):
        name = next((key for key, value in options.items() if value is True), None)
        if name not in self.background:
            if name is not None and self.was_skipped(name):
                return
            self.fail(line, f"<!-- stop {name} -->: no background block of that name")
            return
        number = getattr(signal, "SIG" + str(options.get("signal", "INT")))
        process, _ = self.background[name]
        if process.poll() is None:
            os.killpg(process.pid, number)
        try:
            process.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            self.fail(line, f"{name} did not end within {STOP_TIMEOUT} s of SIG{options.get('signal', 'INT')}")

    def was_skipped(self, name):
        return name in getattr(self, "skipped_names", set())

    def output_of(self, name, line):
        if not name:
            return self.last_output
        if name not in self.background:
            if not self.was_skipped(name):
                self.fail(line, f"<!-- output {name} -->: no background block of that name")
            return None
        process, log = self.background[name]
        if process.poll() is None:
            self.fail(line, f"<!-- output {name} --> comes before <!-- stop {name} -->")
            return None
        with open(log, encoding="utf-8", errors="replace") as text:
            return text.read()

    def compare(self, name, expected, line):
        output = self.output_of(name, line)
        if output is None:
            return
        expected = self.localised(expected)
        if not pattern_of(expected).fullmatch(normalised(output)):
            self.fail(line, f"the output does not match the chapter's.\n--- the chapter "
                            f"shows:\n{expected}\n--- it printed:\n{output}")

    def execute(self):
        self.skipped_names = set()
        try:
            for kind, argument, body, line in self.chapter.steps:
                if kind == "run":
                    if not self.runnable(argument, line) and "background" in argument:
                        self.skipped_names.add(argument["background"])
                    self.run(argument, body, line)
                elif kind == "skip":
                    self.skipped += 1
                    print(f"not run (line {line}): {argument}")
                elif kind == "stop":
                    self.stop(argument, line)
                elif kind == "output":
                    self.compare(argument, body, line)
        finally:
            for name, (process, _) in self.background.items():
                if process.poll() is None:
                    os.killpg(process.pid, signal.SIGKILL)
                    process.wait()
                    self.fail(0, f"{name} was still running at the end of the chapter")
            shutil.rmtree(self.scratch, ignore_errors=True)


def main(arguments):
    if len(arguments) != 3:
        print(__doc__)
        return 2
    source_dir, bin_dir, page = arguments
    chapter = Chapter(os.path.join(source_dir, page))
    for problem in chapter.problems:
        print(f"{page}: {problem}")
    if chapter.problems:
        return 1
    runner = Runner(os.path.abspath(source_dir), os.path.abspath(bin_dir), chapter)
    runner.execute()
    print(f"{page}: {runner.ran} blocks run, {runner.skipped} not run, "
          f"{len(runner.failures)} failures")
    for failure in runner.failures:
        print(failure.split("\n")[0])
    return 1 if runner.failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
