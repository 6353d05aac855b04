"""Every excerpt a chapter shows is a whole piece of code: the region between a source's two
`[name]` markers, cut by `<!-- snippet FILE name -->`
(or Doxygen's `\\snippet FILE name`), must close every brace, parenthesis and
bracket it opens, and must not close one it did not open (a `}  // namespace` that belongs
to code outside the excerpt). A cut through a scope shows the reader code that would not
compile where they see it.

Usage: check_snippet_scopes.py SOURCE_DIR

It reads every such excerpt in the Markdown pages and headers under SOURCE_DIR (build
directories and hidden ones aside), and also fails when the cited file or marker does not
exist: Doxygen warns about those too, but only in the slower documentation build. Comments,
strings and character literals are skipped, so a `}` inside them does not count.
"""

import os
import re
import sys

# Doxygen's `\snippet FILE name` (in headers) and a chapter's `<!-- snippet FILE name -->`
# (expanded by scripts/render-chapters).
SNIPPET = re.compile(r"(?:\\snippet(?:\{[^}]*\})?|<!-- snippet)\s+(\S+)\s+([\w-]+)")
PAIRS = {")": "(", "]": "[", "}": "{"}

# What the scanner skips in C and C++: comments, string literals (raw ones too) and character
# literals. A quote between two digits is C++14's digit separator (10'000), not a literal.
C_SKIPPED = re.compile(r"""
      //[^\n]*
    | /\*.*?\*/
    | R"(?P<delimiter>[^(\s]*)\(.*?\)(?P=delimiter)"
    | "(?:\\.|[^"\\\n])*"
    | (?<![0-9A-Fa-f])'(?:\\.|[^'\\\n])+'
""", re.VERBOSE | re.DOTALL)

# The same for Python: comments, and strings with any prefix, triple-quoted ones first.
PY_SKIPPED = re.compile(r"""
      \#[^\n]*
    | [rRbBuUfF]{0,2}(?:'''.*?'''|\"\"\".*?\"\"\")
    | [rRbBuUfF]{0,2}(?:'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*")
""", re.VERBOSE | re.DOTALL)


def citations(source_dir):
    """(page, line number, cited file, snippet name) for every \\snippet under source_dir."""
    for directory, subdirectories, files in os.walk(source_dir):
        subdirectories[:] = sorted(name for name in subdirectories
                                   if not name.startswith((".", "build")))
        for name in sorted(files):
            if not name.endswith((".md", ".hpp")):
                continue
            page = os.path.join(directory, name)
            with open(page, encoding="utf-8") as text:
                for number, line in enumerate(text, start=1):
                    for cited, snippet in SNIPPET.findall(line):
                        yield os.path.relpath(page, source_dir), number, cited, snippet


def excerpt(path, name):
    """(first line number, text) of the region between the first two lines that carry
    `[name]`, as Doxygen cuts it; None when the marker is not there twice."""
    with open(path, encoding="utf-8") as text:
        lines = text.read().splitlines()
    markers = [index for index, line in enumerate(lines) if f"[{name}]" in line]
    if len(markers) < 2:
        return None
    start, end = markers[0] + 1, markers[1]
    return start + 1, "\n".join(lines[start:end])


def scope_problems(text, first_line, python):
    """What is wrong with the brackets of `text`, one message per problem, with line numbers
    counted from first_line."""
    skipped = (PY_SKIPPED if python else C_SKIPPED)
    # Blank out what is skipped, keeping the newlines so that line numbers stay right.
    code = skipped.sub(lambda match: re.sub(r"[^\n]", " ", match.group(0)), text)
    problems = []
    opened = []  # (bracket, line number)
    for offset, line in enumerate(code.split("\n")):
        number = first_line + offset
        for character in line:
            if character in "([{":
                opened.append((character, number))
            elif character in PAIRS:
                if not opened:
                    source_line = text.split("\n")[offset].strip()
                    problems.append(f"line {number} closes a '{PAIRS[character]}' opened "
                                    f"before the excerpt: {source_line}")
                elif opened[-1][0] != PAIRS[character]:
                    problems.append(f"line {number}: '{character}' closes the "
                                    f"'{opened[-1][0]}' of line {opened[-1][1]}")
                    opened.pop()
                else:
                    opened.pop()
    problems += [f"line {number} opens a '{bracket}' that the excerpt never closes"
                 for bracket, number in opened]
    return problems


def main():
    source_dir = sys.argv[1]
    problems = []
    checked = 0
    for page, page_line, cited, name in citations(source_dir):
        where = f"{page}:{page_line}: \\snippet {cited} {name}"
        path = os.path.join(source_dir, cited)
        if not os.path.isfile(path):
            problems.append(f"{where}: no such file")
            continue
        found = excerpt(path, name)
        if found is None:
            problems.append(f"{where}: {cited} has no pair of [{name}] markers")
            continue
        checked += 1
        first_line, text = found
        for problem in scope_problems(text, first_line, cited.endswith(".py")):
            problems.append(f"{where}: {cited} {problem}")
    for problem in problems:
        print(problem)
    if checked == 0 and not problems:
        print("no \\snippet found: is the citation format still the same?")
        return 1
    print(f"{checked} excerpts checked, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
