"""CTest's side of the pytest suite: one pytest run per test file, one CTest test per pytest
test, without a Python interpreter and a collection for each of them.

    ctest_pytest.py run REPORT FILE        pytest on FILE, its results in REPORT (JUnit XML);
                                           exit 0 once pytest has run the tests, whatever
                                           their results (CTest: the file's fixture setup)
    ctest_pytest.py result REPORT NODEID   one test's result from REPORT: 0 passed, 77
                                           skipped (SKIP_RETURN_CODE), 1 failed, with
                                           pytest's failure text and captured output
    ctest_pytest.py forget REPORT          removes REPORT (the fixture's cleanup), so that no
                                           later run can read a stale result

See CMakeLists.txt, which registers them.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

SKIPPED = 77  # CTest's SKIP_RETURN_CODE for these tests


def run(report: str, test_file: str) -> int:
    forget(report)
    partial = report + ".partial"
    os.makedirs(os.path.dirname(report) or ".", exist_ok=True)
    command = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
               f"--junitxml={partial}", "-o", "junit_logging=all",
               "-o", "junit_log_passing_tests=false", test_file]
    if os.environ.get("COURSE_PYTEST_EXITFIRST"):  # scripts/exercise: the first failure is enough
        command.append("--exitfirst")
    status = subprocess.run(command).returncode
    if status not in (0, 1):  # 0 all passed, 1 some failed: either way, the tests ran
        print(f"ctest_pytest: pytest stopped ({status}) before running {test_file}'s tests; "
              f"its output is above", file=sys.stderr)
        return status
    if not os.path.exists(partial):
        print(f"ctest_pytest: pytest wrote no report for {test_file}; its output is above",
              file=sys.stderr)
        return 1
    os.replace(partial, report)  # whole or not at all
    return 0


def junit_names(nodeid: str) -> tuple[str, str]:
    """(classname, name) of a test in pytest's JUnit XML, as pytest makes them from its node
    id: "test_a.py::test_b[x]" -> ("test_a", "test_b[x]")."""
    address, bracket, parameters = nodeid.partition("[")
    names = address.split("::")
    names[0] = re.sub(r"\.py$", "", names[0].replace("/", "."))
    names[-1] += bracket + parameters
    return ".".join(names[:-1]), names[-1]


def ctest_name(case: ElementTree.Element) -> str:
    """A JUnit test case's CTest name: ("test_lesson09_x", "test_y[z]") ->
    "lesson09.test_lesson09_x.py::test_y[z]" (the reverse of junit_names)."""
    classname = case.get("classname", "")
    lesson = re.match(r"test_(lesson\d\d)", classname)
    prefix = f"{lesson.group(1)}." if lesson else ""
    return f"{prefix}{classname.replace('.', '/')}.py::{case.get('name')}"


def result(report: str, nodeid: str) -> int:
    try:
        tree = ElementTree.parse(report)
    except FileNotFoundError:
        print(f"no results in {report}: this CTest run did not run its file's pytest (the "
              f"test named *.pytest_run:{nodeid.partition('::')[0]}), or it failed; see its "
              f"output, and do not exclude fixtures (-FS, -FA)")
        return 1
    classname, name = junit_names(nodeid)
    cases = [case for case in tree.iter("testcase")
             if case.get("classname") == classname and case.get("name") == name]
    if not cases and os.environ.get("COURSE_PYTEST_EXITFIRST"):
        print(f"{nodeid} did not run: pytest stopped at the file's first failure")
        for case in tree.iter("testcase"):  # that failure, which CTest may not have shown yet
            for problem in case.findall("failure") + case.findall("error"):
                print(f"first failure: {ctest_name(case)}\n{problem.get('message', '')}\n"
                      f"{problem.text or ''}")
                return 1
        return 1
    if not cases:
        print(f"{nodeid} is not in {report}: was it renamed or removed? Configure again "
              f"(cmake --preset ...) to register the tests as they are now.")
        return 1
    # pytest may report one test twice: its call, then an error in a fixture's teardown (a
    # server that did not exit cleanly). Any failure or error in any of them fails the test.
    case = cases[0]
    problems = [problem for each in cases for problem in each.findall("failure") + each.findall("error")]
    if problems:
        for problem in problems:
            print(f"{problem.tag.upper()}: {problem.get('message', '')}\n{problem.text or ''}")
        for stream in ("system-out", "system-err"):
            for captured in (found for each in cases for found in each.findall(stream)):
                # pytest heads each capture ("--- Captured Out ---") even when it is empty.
                said = re.sub(r"^-+ Captured \w+ -+$", "", captured.text or "", flags=re.M)
                if said.strip():
                    print(f"--- {stream} ---\n{captured.text}")
        return 1
    skipped = case.find("skipped")
    if skipped is not None and skipped.get("type") != "pytest.xfail":
        print(f"SKIPPED: {skipped.get('message', '')}")
        return SKIPPED
    print(f"passed in {case.get('time', '?')} s")
    return 0


def forget(report: str) -> int:
    for path in (report, report + ".partial"):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
    return 0


def main(arguments: list[str]) -> int:
    commands = {"run": (run, 2), "result": (result, 2), "forget": (forget, 1)}
    if not arguments or arguments[0] not in commands or \
            len(arguments) - 1 != commands[arguments[0]][1]:
        print(__doc__, file=sys.stderr)
        return 2
    function, _ = commands[arguments[0]]
    return function(*arguments[1:])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
