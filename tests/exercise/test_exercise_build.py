"""The exercises preset on the real CMake project: a learner's choice of chapters survives
re-running the preset (it used to switch back to every chapter's stub, silently)."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import unittest
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def configure(build: Path, *settings: str) -> str:
    result = subprocess.run(["cmake", "--preset", "exercises", "-B", str(build),
                             "-DCOURSE_INTEGRATION_TESTS=OFF", *settings],
                            cwd=REPO, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise AssertionError(result.stdout + result.stderr)
    return result.stdout


def cached(build: Path, name: str) -> str:
    for line in (build / "CMakeCache.txt").read_text().splitlines():
        if line.startswith(f"{name}:"):
            return line.split("=", 1)[1]
    raise AssertionError(f"{name} is not in the cache")


class ExercisesPreset(unittest.TestCase):
    def setUp(self):
        self.build = Path(tempfile.mkdtemp(prefix="exercise-preset-"))
        self.addCleanup(shutil.rmtree, self.build, True)

    def test_a_first_configure_builds_chapter_01s_stub_only(self):
        output = configure(self.build)
        self.assertEqual(cached(self.build, "COURSE_EXERCISES"), "01")
        self.assertIn("Exercise: chapter 01 builds", output)
        self.assertNotIn("Exercise: chapter 02 builds", output)

    def test_re_running_the_preset_keeps_the_chosen_chapters(self):
        configure(self.build, "-DCOURSE_EXERCISES=03")
        output = configure(self.build)
        self.assertEqual(cached(self.build, "COURSE_EXERCISES"), "03")
        self.assertIn("Exercise: chapter 03 builds", output)
        self.assertNotIn("Exercise: chapter 01 builds", output)

    def test_warnings_are_not_errors_in_the_exercise_build(self):
        configure(self.build)
        self.assertEqual(cached(self.build, "COURSE_WERROR"), "OFF")


if __name__ == "__main__":
    unittest.main()
