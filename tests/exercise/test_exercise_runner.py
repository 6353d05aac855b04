"""scripts/exercise, the learner's runner, tested on a small course of its own.

Each test copies the runner into a temporary git repository with one chapter (a stub, its
reference, hints and a mutant bank) and puts fake `cmake` and `ctest` first on PATH. The fakes
judge the piece being built by its text: WRONG fails a test, TODO(lesson01) fails with the
stub's message, COMPILE_ERROR does not compile, anything else passes. So these tests check the
runner's own logic (progress, hints, reset, mutants, summaries) in a second; scripts/test runs
the real thing (scripts/exercise --check-banks) on the real chapters.
"""

from __future__ import annotations

import os
import queue
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import time
import unittest
from pathlib import Path

RUNNER = Path(__file__).resolve().parents[2] / "scripts" / "exercise"

STUB = textwrap.dedent("""\
    // Chapter 01 exercise: write echo().
    int echo() { throw "TODO(lesson01): echo() is not written yet"; }
    """)
REFERENCE = "int echo() { return 1; }\n"

FAKE_CMAKE = textwrap.dedent("""\
    #!/usr/bin/env python3
    # Configure: remembers -D settings in CMakeCache.txt. Build: fails on COMPILE_ERROR.
    import os, sys
    from pathlib import Path
    args = sys.argv[1:]
    if "--build" in args:
        build = Path(args[args.index("--build") + 1])
        cache = dict(l.split("=", 1) for l in (build / "CMakeCache.txt").read_text().split())
        piece = cache.get("COURSE_PIECE_01:STRING") or os.environ["FAKE_STUB"]
        if "COMPILE_ERROR" in Path(piece).read_text():
            print("echo.cpp:2:1: error: expected ';' before '}' token")
            sys.exit(1)
        sys.exit(0)
    build = Path(args[args.index("-B") + 1])
    build.mkdir(parents=True, exist_ok=True)
    settings = [a[2:] for a in args if a.startswith("-D")]
    (build / "CMakeCache.txt").write_text(
        "".join(f"{n}:STRING={v}\\n" for n, v in (s.split("=", 1) for s in settings)))
    """)

FAKE_CTEST = textwrap.dedent("""\
    #!/usr/bin/env python3
    # Lists one exercise01 test; runs it against the piece's text, writing a JUnit file.
    import os, re, sys
    from pathlib import Path
    args = sys.argv[1:]
    build = Path(args[args.index("--test-dir") + 1])
    if "-N" in args:
        print("Total Tests: 1")
        sys.exit(0)
    cache = dict(l.split("=", 1) for l in (build / "CMakeCache.txt").read_text().split())
    piece = Path(cache.get("COURSE_PIECE_01:STRING") or os.environ["FAKE_STUB"]).read_text()
    with open(os.environ["FAKE_CTEST_LOG"], "a") as log:
        log.write(" ".join(args) + "\\n")
    junit = Path(args[args.index("--output-junit") + 1])
    if "-R" in args and not re.search(args[args.index("-R") + 1], "lesson01.Echo.CountsEveryByte"):
        junit.write_text("<testsuite/>")  # -R names no test here
        sys.exit(0)
    if "WRONG" in piece:
        case = ('<testcase name="lesson01.Echo.CountsEveryByte"><failure message="Failed"/>'
                '<system-out>echo_test.cpp:10: Failure\\nExpected equality of these values:\\n'
                '  echo()\\n    Which is: 0\\n  1</system-out></testcase>')
    elif "TODO(lesson01)" in piece:
        case = ('<testcase name="lesson01.Echo.CountsEveryByte"><failure message="Failed"/>'
                '<system-out>TODO(lesson01): echo() is not written yet</system-out></testcase>')
    else:
        case = '<testcase name="lesson01.Echo.CountsEveryByte"><system-out/></testcase>'
    junit.write_text(f'<testsuite>{case}</testsuite>')
    sys.exit(8 if "failure" in case else 0)
    """)


class ExerciseRunner(unittest.TestCase):
    def setUp(self):
        self.root = Path(tempfile.mkdtemp(prefix="exercise-runner-"))
        self.addCleanup(shutil.rmtree, self.root, True)
        (self.root / "scripts").mkdir()
        shutil.copy(RUNNER, self.root / "scripts" / "exercise")
        folder = self.root / "lessons" / "01-first" / "exercise"
        (folder / "mutants").mkdir(parents=True)
        self.stub = folder / "echo.cpp"
        self.stub.write_text(STUB)
        (folder / "hints.md").write_text("# Hints\n\n## Hint 1\n\nRead the man page.\n\n"
                                         "## Hint 2\n\nLoop until recv returns 0.\n")
        (folder / "mutants" / "forgets_to_count.cpp").write_text(
            "// Mutant: returns before counting the bytes\nint echo() { return 0; } // WRONG\n")
        (self.root / "src").mkdir()
        (self.root / "src" / "echo.cpp").write_text(REFERENCE)
        (self.root / "CMakeLists.txt").write_text(
            "course_piece(ECHO CHAPTER 01 REFERENCE ${PROJECT_SOURCE_DIR}/src/echo.cpp\n"
            "             EXERCISE ${PROJECT_SOURCE_DIR}/lessons/01-first/exercise/echo.cpp)\n")
        fakes = self.root / "fakes"
        fakes.mkdir()
        for name, text in (("cmake", FAKE_CMAKE), ("ctest", FAKE_CTEST)):
            (fakes / name).write_text(text.replace("/usr/bin/env python3", sys.executable))
            (fakes / name).chmod(0o755)
        self.ctest_log = self.root / "ctest.log"
        self.env = dict(os.environ, PATH=f"{fakes}:{os.environ['PATH']}",
                        FAKE_STUB=str(self.stub), FAKE_CTEST_LOG=str(self.ctest_log))
        for command in (["init", "-q"], ["add", "-A"],
                        ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "course"]):
            subprocess.run(["git", *command], cwd=self.root, check=True, env=self.env)

    def exercise(self, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, str(self.root / "scripts" / "exercise"), *args],
                              cwd=self.root, env=self.env, input=stdin, capture_output=True,
                              text=True, timeout=60)

    def test_progress_says_not_started_not_yet_solved_and_names_the_next(self):
        result = self.exercise()
        self.assertIn("01  lessons/01-first/exercise/echo.cpp", result.stdout)
        self.assertIn("not started", result.stdout)
        self.assertIn("Next: scripts/exercise 01", result.stdout)
        self.assertFalse(self.ctest_log.exists(), "a chapter not started is not built or run")
        self.stub.write_text("int echo() { return 0; } // WRONG\n")
        self.assertRegex(self.exercise().stdout, r"\[~\] 01 .* not yet")
        self.stub.write_text(REFERENCE)
        result = self.exercise()
        self.assertRegex(result.stdout, r"\[x\] 01 .* solved")
        self.assertIn("Every exercise is solved", result.stdout)

    def test_a_chapter_run_shows_expected_against_got_and_the_file_to_edit(self):
        self.stub.write_text("int echo() { return 0; } // WRONG\n")
        result = self.exercise("01")
        self.assertEqual(result.returncode, 1)
        self.assertIn("FAILED: lesson01.Echo.CountsEveryByte", result.stdout)
        self.assertIn("Which is: 0", result.stdout)
        self.assertIn("Edit: lessons/01-first/exercise/echo.cpp", result.stdout)
        self.assertIn("--stop-on-failure", self.ctest_log.read_text())

    def test_the_stub_prints_its_todo_once(self):
        result = self.exercise("1")
        self.assertEqual(result.stdout.count("TODO(lesson01)"), 1, result.stdout)

    def test_a_compile_error_is_shown_not_run(self):
        self.stub.write_text("int echo() { COMPILE_ERROR }\n")
        result = self.exercise("01")
        self.assertIn("does not compile", result.stdout)
        self.assertIn("error: expected ';'", result.stdout)

    def test_hints_come_one_at_a_time_then_start_again(self):
        first, second, after = self.exercise("01", "--hint"), self.exercise("01", "--hint"), \
            self.exercise("01", "--hint")
        self.assertIn("Hint 1 of 2", first.stdout)
        self.assertIn("Read the man page.", first.stdout)
        self.assertNotIn("Loop until", first.stdout)
        self.assertIn("Hint 2 of 2", second.stdout)
        self.assertIn("last of chapter 01's 2 hints", after.stdout)
        self.assertIn("Hint 1 of 2", self.exercise("01", "--hint").stdout)

    def test_reset_asks_first_and_keeps_the_learners_file(self):
        mine = "int echo() { return 42; }\n"
        self.stub.write_text(mine)
        refused = self.exercise("01", "--reset")  # no terminal, no --yes: nothing changes
        self.assertNotEqual(refused.returncode, 0)
        self.assertEqual(self.stub.read_text(), mine)
        done = self.exercise("01", "--reset", "--yes")
        self.assertEqual(done.returncode, 0, done.stdout)
        self.assertEqual(self.stub.read_text(), STUB)
        saved = list(self.stub.parent.glob("echo.cpp.saved-*"))
        self.assertEqual([path.read_text() for path in saved], [mine])

    def test_reset_finds_the_stub_after_the_learner_commits(self):
        self.stub.write_text("int echo() { return 42; }\n")
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam",
                        "mine"], cwd=self.root, check=True, env=self.env)
        self.exercise("01", "--reset", "--yes")
        self.assertEqual(self.stub.read_text(), STUB)

    def test_mutants_each_caught_by_a_named_test(self):
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("caught    forgets_to_count.cpp: returns before counting the bytes",
                      result.stdout)
        self.assertIn("by lesson01.Echo.CountsEveryByte", result.stdout)
        self.assertIn("1 of 1 mutants caught", result.stdout)

    def mutant_runs(self) -> list[str]:
        """The ctest runs made for mutants (the pieces under build/mutants)."""
        return [line for line in self.ctest_log.read_text().splitlines() if "mutants" in line]

    def test_a_mutant_runs_only_the_test_its_caught_by_line_names(self):
        (self.stub.parent / "mutants" / "forgets_to_count.cpp").write_text(
            "// Mutant: returns before counting the bytes\n"
            "// Caught by: lesson01.Echo.CountsEveryByte\nint echo() { return 0; } // WRONG\n")
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("by lesson01.Echo.CountsEveryByte", result.stdout)
        self.assertNotIn("note:", result.stdout)
        runs = self.mutant_runs()
        self.assertEqual(len(runs), 1, runs)
        self.assertIn("-R ^lesson01\\.Echo\\.CountsEveryByte$", runs[0])

    def test_a_stale_caught_by_line_falls_back_to_every_test_and_says_which_catches_it(self):
        (self.stub.parent / "mutants" / "forgets_to_count.cpp").write_text(
            "// Mutant: returns before counting the bytes\n"
            "// Caught by: lesson01.Echo.Renamed\nint echo() { return 0; } // WRONG\n")
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("note: its Caught-by line names lesson01.Echo.Renamed, which is not an "
                      "exercise test; add the line: Caught by: lesson01.Echo.CountsEveryByte",
                      result.stdout)
        self.assertGreater(len(self.mutant_runs()), 1)

    def test_a_mutant_its_named_test_does_not_catch_still_survives_every_test(self):
        (self.stub.parent / "mutants" / "survivor.cpp").write_text(
            "// Mutant: looks right to the tests\n"
            "// Caught by: lesson01.Echo.CountsEveryByte\nint echo() { return 1; }\n")
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 1)
        self.assertIn("SURVIVED  lessons/01-first/exercise/mutants/survivor.cpp", result.stdout)

    def test_check_banks_runs_the_reference_on_the_tests_that_catch_the_mutants(self):
        (self.stub.parent / "mutants" / "forgets_to_count.cpp").write_text(
            "// Mutant: returns before counting the bytes\n"
            "// Caught by: lesson01.Echo.CountsEveryByte\nint echo() { return 0; } // WRONG\n")
        result = self.exercise("--check-banks")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("reference passes the 1 exercise01 tests that catch its mutants",
                      result.stdout)
        (self.root / "src" / "echo.cpp").write_text("int echo() { return 0; } // WRONG\n")
        result = self.exercise("--check-banks")
        self.assertEqual(result.returncode, 1)
        self.assertIn("the reference fails lesson01.Echo.CountsEveryByte", result.stdout)

    def test_a_surviving_mutant_fails_and_names_itself(self):
        (self.stub.parent / "mutants" / "survivor.cpp").write_text(
            "// Mutant: looks right to the tests\nint echo() { return 1; }\n")
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 1)
        self.assertIn("SURVIVED  lessons/01-first/exercise/mutants/survivor.cpp: looks right",
                      result.stdout)

    def test_a_mutant_that_does_not_compile_is_not_counted_as_caught(self):
        (self.stub.parent / "mutants" / "typo.cpp").write_text(
            "// Mutant: a typo\nint echo() { COMPILE_ERROR }\n")
        result = self.exercise("01", "--mutants")
        self.assertEqual(result.returncode, 1)
        self.assertIn("BROKEN    lessons/01-first/exercise/mutants/typo.cpp does not compile",
                      result.stdout)
        self.assertIn("1 of 2 mutants caught", result.stdout)

    def test_check_banks_passes_the_reference_and_catches_stub_and_mutants(self):
        result = self.exercise("--check-banks")
        self.assertEqual(result.returncode, 0, result.stdout)
        self.assertIn("reference passes", result.stdout)
        self.assertIn("stub fails lesson01.Echo.CountsEveryByte with its TODO(lesson01)",
                      result.stdout)
        (self.root / "src" / "echo.cpp").write_text("int echo() { return 0; } // WRONG\n")
        self.assertEqual(self.exercise("--check-banks").returncode, 1)

    @unittest.skipIf(shutil.which("inotifywait") is None,
                     "needs inotifywait (Debian's inotify-tools; scripts/setup installs it)")
    def test_watch_runs_again_when_the_file_is_saved(self):
        watcher = subprocess.Popen(
            [sys.executable, str(self.root / "scripts" / "exercise"), "01", "--watch"],
            cwd=self.root, env=dict(self.env, PYTHONUNBUFFERED="1"), stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True, start_new_session=True)
        self.addCleanup(watcher.wait)
        self.addCleanup(watcher.kill)
        lines: queue.Queue[str] = queue.Queue()
        seen: list[str] = []
        threading.Thread(target=lambda: [lines.put(line) for line in watcher.stdout],
                         daemon=True).start()

        def wait_for_watching(count: int, save=None) -> None:
            """Reads the runner's output until its count-th "Watching" line, for at most 30 s.
            With `save`, saves the file again each time half a second passes without output:
            inotifywait starts just after the line, and a save before it watches is missed."""
            deadline = time.monotonic() + 30
            while sum("Watching" in line for line in seen) < count:
                self.assertLess(time.monotonic(), deadline, "".join(seen))
                if save:
                    save()
                try:
                    seen.append(lines.get(timeout=0.5 if save else deadline - time.monotonic()))
                except queue.Empty:
                    pass

        wait_for_watching(1)
        self.assertIn("TODO(lesson01)", "".join(seen))
        wait_for_watching(2, save=lambda: self.stub.write_text(REFERENCE))
        self.assertIn("Solved", "".join(seen))


if __name__ == "__main__":
    unittest.main()
