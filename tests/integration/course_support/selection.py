"""Runs only some of a test file's tests when scripts/exercise asks for them.

CTest runs a whole test file once and each test reads its result (ctest_pytest.py). The
exercise runner wants only the tests of a chapter's tests.txt, and stops at the first failure
(COURSE_PYTEST_EXITFIRST, read by ctest_pytest.py): COURSE_PYTEST_SELECT is those tests.txt
regular expressions as one, matched against each test's CTest name.
"""

from __future__ import annotations

import os
import re

import pytest


def ctest_name(item: pytest.Item) -> str:
    """The test's CTest name, lessonNN.test_file.py::test_name (see CMakeLists.txt)."""
    lesson = re.match(r"test_(lesson\d\d)", item.nodeid)
    return f"{lesson.group(1)}.{item.nodeid}" if lesson else item.nodeid


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = os.environ.get("COURSE_PYTEST_SELECT")
    if not selected:
        return
    wanted = re.compile(selected)
    dropped = [item for item in items if not wanted.search(ctest_name(item))]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if wanted.search(ctest_name(item))]
