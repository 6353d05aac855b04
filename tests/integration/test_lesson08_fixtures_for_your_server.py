"""The fixtures for testing your own server over a Unix socket (uds_client and friends, in
course_support/uds.py) work exactly as tests/integration/README.md tells you to copy them:
a project made only of that page's code blocks passes, with http_min as "your server"."""

import os
import re
import shlex
import shutil
import sys
from pathlib import Path

from course_support.processes import run
from course_support.programs import program_path
from course_support.uds import SERVER_COMMAND_VARIABLE

HERE = Path(__file__).resolve().parent


def code_blocks(language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", (HERE / "README.md").read_text(),
                      re.MULTILINE | re.DOTALL)


def test_the_fixtures_work_as_this_readme_says(short_dir):
    conftest, test = code_blocks("python")[:2]
    assignment = shlex.split(code_blocks("sh")[0])
    variable, _, example = assignment[0].partition("=")
    assert variable == SERVER_COMMAND_VARIABLE and "{path}" in example, assignment
    assert assignment[1:] == ["python3", "-m", "pytest"], assignment

    # The reader's project: course_support/ copied next to their tests, and the two files.
    tests = Path(short_dir) / "tests"
    shutil.copytree(HERE / "course_support", tests / "course_support",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (tests / "conftest.py").write_text(conftest)
    (tests / "test_app.py").write_text(test)
    # Our pytest's own variables (PYTEST_CURRENT_TEST, PYTEST_ADDOPTS) stay ours.
    environment = {name: value for name, value in os.environ.items()
                   if not name.startswith("PYTEST_") and name != SERVER_COMMAND_VARIABLE}
    pytest = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider"]

    without = run(pytest, cwd=tests, env=environment)
    assert without.returncode != 0 and f"set {SERVER_COMMAND_VARIABLE}" in without.stdout, (
        f"without {SERVER_COMMAND_VARIABLE} the tests must fail, saying to set it:\n"
        f"{without.stdout}{without.stderr}")

    server = f"{shlex.quote(program_path('http_min'))} --uds {{path}}"
    result = run(pytest, cwd=tests, env={**environment, SERVER_COMMAND_VARIABLE: server})
    assert result.returncode == 0 and "1 passed" in result.stdout, (
        f"{SERVER_COMMAND_VARIABLE}={server!r}:\n{result.stdout}{result.stderr}")
