"""Where the course's built programs are: $COURSE_BIN_DIR (CTest sets it to <build>/bin), or
<repo>/build/default/bin.

Run as a program (`python3 -m course_support.programs`, as CTest's first integration test
does), it checks that the programs are built and says, in one line, what to do if not."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Optional

import pytest

REPO_ROOT = Path(__file__).resolve().parents[3]
BUILD_COMMAND = "cmake --preset default && cmake --build --preset default"
# Two programs every chapter's tests need (chapters 01-07 and 08-12): present, the build ran.
CORE_PROGRAMS = ("echo_server", "http_min")


def bin_dir() -> Path:
    """Where the built programs are: $COURSE_BIN_DIR, or <repo>/build/default/bin."""
    configured = os.environ.get("COURSE_BIN_DIR")
    return Path(configured).resolve() if configured else REPO_ROOT / "build" / "default" / "bin"


def is_executable(path: Path) -> bool:
    return path.is_file() and os.access(path, os.X_OK)


def build_problem() -> Optional[str]:
    """None if the programs are built; else one line saying where they were looked for and
    how to build them."""
    missing = [name for name in CORE_PROGRAMS if not is_executable(bin_dir() / name)]
    if not missing:
        return None
    return (f"the course's programs are not built: no {' or '.join(missing)} in {bin_dir()}; "
            f"build first ({BUILD_COMMAND}), or point COURSE_BIN_DIR at your build's bin/")


def program_path(program: str) -> str:
    """The full path of a course binary; fails the test, saying to build first, if it is
    missing."""
    path = bin_dir() / program
    if not is_executable(path):
        pytest.fail(
            f"{program} is not built: no executable {path}.\n"
            f"Build first: {BUILD_COMMAND}\n"
            f"(or point COURSE_BIN_DIR at the bin/ directory of your build).",
            pytrace=False)
    return str(path)


if __name__ == "__main__":
    problem = build_problem()
    print(problem or f"the course's programs are built in {bin_dir()}")
    sys.exit(1 if problem else 0)
