"""The exercise runner's shortcut through a test file: with COURSE_PYTEST_SELECT, CTest's run of
a pytest file (ctest_pytest.py run) runs only the tests whose CTest names match; with
COURSE_PYTEST_EXITFIRST, it stops at the first failure and the tests it did not reach fail,
saying so (a mutant is caught sooner, never let through)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree
from pathlib import Path

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"
BRIDGE = INTEGRATION / "ctest_pytest.py"


def python_with_pytest() -> str:
    """The Python the integration suite runs with: the first that imports pytest (on Debian,
    /usr/bin/python3 with python3-pytest; a pyenv python3 earlier on PATH does not)."""
    for candidate in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if candidate and subprocess.run([candidate, "-c", "import pytest"],
                                        capture_output=True).returncode == 0:
            return candidate
    raise unittest.SkipTest("no Python here imports pytest (python3-pytest on Debian)")

TESTS = '''
def test_first():
    pass

def test_second_fails():
    assert False, "second"

def test_third():
    pass
'''


class PytestSelection(unittest.TestCase):
    def setUp(self):
        self.folder = Path(tempfile.mkdtemp(prefix="selection-"))
        self.addCleanup(shutil.rmtree, self.folder, True)
        # The real selection plugin, as the integration suite's conftest.py loads it.
        (self.folder / "conftest.py").write_text(
            f"import sys\nsys.path.insert(0, {str(INTEGRATION)!r})\n"
            "pytest_plugins = ['course_support.selection']\n")
        (self.folder / "test_lesson99_sample.py").write_text(TESTS)
        self.report = self.folder / "report.xml"

    def bridge(self, *arguments: str, **env: str) -> subprocess.CompletedProcess:
        environment = {k: v for k, v in os.environ.items() if not k.startswith("COURSE_PYTEST_")}
        return subprocess.run([python_with_pytest(), str(BRIDGE), *arguments], cwd=self.folder,
                              env={**environment, **env}, capture_output=True, text=True,
                              timeout=60)

    def ran(self, **env: str) -> list[str]:
        result = self.bridge("run", str(self.report), "test_lesson99_sample.py", **env)
        self.assertEqual(result.returncode, 0, result.stdout + result.stderr)
        return [case.get("name") for case in ElementTree.parse(self.report).iter("testcase")]

    def test_without_a_selection_the_whole_file_runs(self):
        self.assertEqual(self.ran(), ["test_first", "test_second_fails", "test_third"])

    def test_a_selection_runs_only_the_tests_whose_ctest_names_match(self):
        only = r"(?:^lesson99\.test_lesson99_sample\.py::test_first$)|(?:::test_third)"
        self.assertEqual(self.ran(COURSE_PYTEST_SELECT=only), ["test_first", "test_third"])

    def test_exitfirst_stops_at_the_first_failure_and_the_rest_fail_as_not_run(self):
        self.assertEqual(self.ran(COURSE_PYTEST_EXITFIRST="1"), ["test_first", "test_second_fails"])
        third = self.bridge("result", str(self.report), "test_lesson99_sample.py::test_third",
                            COURSE_PYTEST_EXITFIRST="1")
        self.assertEqual(third.returncode, 1)
        self.assertIn("did not run", third.stdout)
        self.assertIn("first failure: lesson99.test_lesson99_sample.py::test_second_fails",
                      third.stdout, "the failure that stopped pytest is named as CTest names it")


if __name__ == "__main__":
    unittest.main()
