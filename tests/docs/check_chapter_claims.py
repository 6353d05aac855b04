"""Every test a chapter names must exist: a claim backed by a test that was renamed or never
written is a claim backed by nothing.

Usage: check_chapter_claims.py BUILD_DIR CHAPTER_README...

Names are taken from backticks in the chapters' claim tables: GoogleTest names look like
`lesson05.SafeBind.ReplacesAStaleSocketFile`, pytest names like `test_socket_file_mode_is_0660`.
They are checked against the tests CTest knows in BUILD_DIR.
"""

import json
import re
import subprocess
import sys


def known_tests(build_dir):
    listing = subprocess.run(
        ["ctest", "--test-dir", build_dir, "--show-only=json-v1"],
        check=True, capture_output=True, text=True,
    )
    names = {test["name"] for test in json.loads(listing.stdout)["tests"]}
    # A value-parameterised GoogleTest is registered as "lesson08.*/Suite.Name/*"; a chapter
    # cites it as "lesson08.Suite.Name".
    gtest = {name.replace("*/", "").removesuffix("/*") for name in names if "::" not in name}
    # "lesson01.test_lesson01_echo.py::test_name[param]" -> "test_name"
    pytest = {re.sub(r"\[.*\]$", "", name.split("::", 1)[1]) for name in names if "::" in name}
    return gtest, pytest


def cited_tests(readme):
    with open(readme, encoding="utf-8") as text:
        for line in text:
            if not line.startswith("|"):
                continue  # claims live in the tables
            for name in re.findall(r"`([^`]+)`", line):
                if re.fullmatch(r"lesson\d\d\.\w+\.\w+", name) or re.fullmatch(r"test_\w+", name):
                    yield name


def main():
    build_dir, readmes = sys.argv[1], sys.argv[2:]
    gtest, pytest = known_tests(build_dir)
    missing = []
    count = 0
    for readme in readmes:
        for name in cited_tests(readme):
            count += 1
            if name not in (pytest if name.startswith("test_") else gtest):
                missing.append(f"{readme}: cites `{name}`, which is not a test")
    if missing:
        print("\n".join(missing))
        return 1
    if count == 0:
        print("no test citations found: is the claims table format still the same?")
        return 1
    print(f"{count} test citations in {len(readmes)} chapters, all of them real tests")
    return 0


if __name__ == "__main__":
    sys.exit(main())
