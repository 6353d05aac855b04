"""The claims index: every claim of every chapter, the tests that demonstrate it, their labels,
and (once ctest has run) what they did on this machine.

Usage:
  claims_index.py check SOURCE_DIR BUILD_DIR [RESULTS.xml ...]
      Fails when a claims row names no test, names a test CTest does not know, or (given
      the JUnit files of ctest runs, `ctest --output-junit`) names a test that was skipped
      on this machine while the row does not say "skipped" and why. Several files are
      read as one run: scripts/test runs the behaviour tests in the sanitizer build and the
      documentation checks in the reference build.
  claims_index.py page SOURCE_DIR BUILD_DIR OUT.md [RESULTS.xml ...]
      Writes the index as a Markdown page for the Doxygen site.

A claims table is the table under a `| claim | test |` header (`| claim | test | run it |`
once scripts/render-chapters has added the commands). Tests are cited in backticks:
GoogleTest names as `lesson05.SafeBind.ReplacesAStaleSocketFile`, pytest names as
`test_socket_file_mode_is_0660` (every parameter of a parameterised test counts), any other
CTest test by its CTest name (`docs.chapter04_steps_differ_by_one_idea`).
"""

import glob
import json
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ElementTree

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from chapter_markup import split_row  # noqa: E402  (a `|` inside backticks does not split)

# `lesson05.SafeBind.ReplacesAStaleSocketFile`, or any CTest name such as `docs.chapter04_...`
CTEST_NAME = re.compile(r"(lesson\d\d|docs|style)\.[\w.:/*-]+")
PYTEST_NAME = re.compile(r"test_\w+")


class Claim:
    def __init__(self, chapter, line_number, claim, tests, row):
        self.chapter = chapter          # path of the chapter's README.md
        self.line_number = line_number
        self.claim = claim              # the first cell, as written
        self.tests = tests              # cited names, in order
        self.row = row                  # the whole row, to look for "skipped"


def chapters(source_dir):
    return sorted(glob.glob(os.path.join(source_dir, "lessons", "[0-9][0-9]-*", "README.md")))


def claims_of(readme):
    in_table = False
    with open(readme, encoding="utf-8") as text:
        for number, line in enumerate(text, start=1):
            if not line.startswith("|"):
                in_table = False
                continue
            cells = split_row(line)
            if [cell.lower() for cell in cells] in (["claim", "test"], ["claim", "test", "run it"]):
                in_table = True
                continue
            if not in_table or set(line.strip()) <= set("|-: "):
                continue
            names = [name for name in re.findall(r"`([^`]+)`", cells[1] if len(cells) > 1 else "")
                     if CTEST_NAME.fullmatch(name) or PYTEST_NAME.fullmatch(name)]
            yield Claim(readme, number, cells[0], names, line)


def ctest_listing(build_dir):
    """{cited name: [(ctest name, labels)]} for every test CTest knows in BUILD_DIR."""
    listing = subprocess.run(["ctest", "--test-dir", build_dir, "--show-only=json-v1"],
                             check=True, capture_output=True, text=True)
    known = {}
    for test in json.loads(listing.stdout)["tests"]:
        name = test["name"]
        labels = []
        for prop in test.get("properties", []):
            if prop["name"] == "LABELS":
                labels = prop["value"]
        if "::" in name:
            # "lesson01.test_lesson01_echo.py::test_name[param]" -> "test_name"
            cited = re.sub(r"\[.*\]$", "", name.split("::", 1)[1])
        else:
            # a value-parameterised GoogleTest is "lesson08.*/Suite.Name/*"
            cited = name.replace("*/", "").removesuffix("/*")
        known.setdefault(cited, []).append((name, labels))
        if cited != name:
            known.setdefault(name, []).append((name, labels))
    return known


def skip_reason(output):
    """The reason a skipped test printed: GoogleTest puts it on the line after "...: Skipped",
    the pytest bridge prints "SKIPPED: reason"."""
    lines = output.strip().splitlines()
    for number, line in enumerate(lines):
        if line.endswith(": Skipped") and number + 1 < len(lines):
            return lines[number + 1][:160]
        if line.startswith("SKIPPED: "):
            return line.removeprefix("SKIPPED: ")[:160]
    return ""


def results_of(junits):
    """{ctest name: ("passed" | "failed" | "skipped", message)} from `ctest --output-junit`
    files (those that exist). A test in several files counts as failed if it failed in one,
    else passed if it ran in one (a test that only the reference build can run is skipped in
    the sanitizer build), else skipped."""
    rank = {"failed": 2, "passed": 1, "skipped": 0}
    outcome = {}
    cases = [case for junit in junits if os.path.exists(junit)
             for case in ElementTree.parse(junit).getroot().iter("testcase")]
    for case in cases:
        skipped, failure = case.find("skipped"), case.find("failure")
        if skipped is not None:
            result = ("skipped", skip_reason(case.findtext("system-out") or ""))
        elif failure is not None or case.get("status") == "fail":
            result = ("failed", "")
        elif case.get("status") == "run":
            result = ("passed", "")
        else:
            continue
        name = case.get("name")
        if name not in outcome or rank[result[0]] > rank[outcome[name][0]]:
            outcome[name] = result
    return outcome


def problems(claims, known, outcome):
    found = []
    for claim in claims:
        where = f"{os.path.relpath(claim.chapter)}:{claim.line_number}"
        if not claim.tests:
            found.append(f"{where}: the claim \"{claim.claim[:70]}\" names no test")
        for name in claim.tests:
            if name not in known:
                found.append(f"{where}: cites `{name}`, which is not a test")
                continue
            skipped = [ctest for ctest, _ in known[name] if outcome.get(ctest, ("",))[0] == "skipped"]
            if skipped and "skipped" not in claim.row.lower():
                found.append(f"{where}: cites `{name}`, which was skipped on this machine "
                             f"({outcome[skipped[0]][1] or 'no reason printed'}), but the row "
                             "does not say when it is skipped")
    return found


def state_of(name, known, outcome):
    states = [outcome[ctest][0] for ctest, _ in known.get(name, []) if ctest in outcome]
    if not states:
        return "not run yet"
    for worst in ("failed", "skipped"):
        if worst in states:
            count = states.count(worst)
            return worst if count == len(states) else f"{worst} ({count} of {len(states)})"
    return "passed"


def escape_cell(text):
    return text.replace("|", "\\|")


def page(source_dir, out, claims, known, outcome):
    lines = [
        "# Claims index {#claims_index}",
        "",
        "Every claim the chapters make, with the tests that demonstrate it on your machine.",
        "Run one test with `ctest --test-dir build/default -R NAME`, one chapter's with",
        "`ctest --preset default -L lessonNN`. This page is generated by",
        "`tests/docs/claims_index.py` when the site is built; the last column is what each",
        "test did in the last `scripts/test` run on the machine that built the site",
        "(\"not run yet\" before one). A test skipped here says why in its chapter's row.",
        "",
    ]
    by_chapter = {}
    for claim in claims:
        by_chapter.setdefault(claim.chapter, []).append(claim)
    total = 0
    for chapter, rows in by_chapter.items():
        with open(chapter, encoding="utf-8") as text:
            title = text.readline().lstrip("# ").strip()
        link = os.path.relpath(chapter, os.path.dirname(os.path.abspath(out)))
        lines += [f"## {title}", "", f"The chapter: [{title}]({link}).", "",
                  "| claim | tests | labels | on this machine |",
                  "|-------|-------|--------|-----------------|"]
        for claim in rows:
            total += 1
            tests = ", ".join(f"`{name}`" for name in claim.tests)
            labels = sorted({label for name in claim.tests
                             for _, test_labels in known.get(name, []) for label in test_labels})
            states = sorted({state_of(name, known, outcome) for name in claim.tests})
            lines.append(f"| {escape_cell(claim.claim)} | {tests} | {', '.join(labels)} | "
                         f"{', '.join(states)} |")
        lines.append("")
    lines.insert(9, f"{total} claims in {len(by_chapter)} chapters.\n")
    with open(out, "w", encoding="utf-8") as page_file:
        page_file.write("\n".join(lines))


def main(argv):
    if len(argv) < 3 or argv[0] not in ("check", "page"):
        print(__doc__)
        return 2
    mode, source_dir, build_dir = argv[0], argv[1], argv[2]
    out = argv[3] if mode == "page" else None
    junits = argv[4:] if mode == "page" else argv[3:]
    claims = [claim for readme in chapters(source_dir) for claim in claims_of(readme)]
    known = ctest_listing(build_dir)
    outcome = results_of(junits)
    if mode == "page":
        page(source_dir, out, claims, known, outcome)
        return 0
    found = problems(claims, known, outcome)
    if not claims:
        found.append("no claims rows found: is the `| claim | test |` table format still the same?")
    if found:
        print("\n".join(found))
        return 1
    cited = sum(len(claim.tests) for claim in claims)
    print(f"{len(claims)} claims citing {cited} tests, all real"
          + (", every skip declared" if outcome else " (no ctest results given: skips not checked)"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
