"""No chapter prints the answer to its own exercise. Each exercise is a stub that stands in
for one reference source (cmake's `course_piece(... CHAPTER NN REFERENCE file EXERCISE
stub)`); an excerpt that a chapter cuts from that reference file may show only lines the
stub already gives the learner. A code line of the excerpt that the stub lacks is part of
the answer, and fails this check.

Usage: check_exercise_answers.py SOURCE_DIR

Blank lines, comments and lines made of brackets alone are not counted: they give nothing
away. Excerpts in other chapters are free to show an earlier chapter's answer.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import chapter_markup  # noqa: E402

PIECE = re.compile(r"course_piece\(\s*\S+\s+CHAPTER\s+(\d\d)\s+REFERENCE\s+(\S+)\s+EXERCISE\s+(\S+)\s*\)",
                   re.S)
EXCERPT = re.compile(r"^<!-- (snippet|include|diff) (.+?) -->", re.M)


def pieces(source_dir):
    """{chapter: (reference, stub)}, paths relative to source_dir."""
    found = {}
    for directory, subdirectories, files in os.walk(source_dir):
        subdirectories[:] = [name for name in subdirectories
                             if not name.startswith((".", "build"))]
        if "CMakeLists.txt" not in files:
            continue
        with open(os.path.join(directory, "CMakeLists.txt"), encoding="utf-8") as text:
            listing = text.read()
        for chapter, reference, stub in PIECE.findall(listing):
            def resolve(path):
                path = path.replace("${CMAKE_CURRENT_SOURCE_DIR}", directory)
                path = path.replace("${PROJECT_SOURCE_DIR}", source_dir)
                return os.path.relpath(path, source_dir)
            found[chapter] = (resolve(reference), resolve(stub))
    return found


def telling(line):
    """The line as compared, or None when it tells nothing: blank, a comment, brackets."""
    code = line.strip()
    if not code or code.startswith(("//", "/*", "*", "#")) or re.fullmatch(r"[{}()\[\];,]*", code):
        return None
    return " ".join(code.split())


def excerpted_lines(source_dir, kind, arguments, reference):
    """The lines of `reference` that one chapter marker shows."""
    words = arguments.split()
    if kind == "snippet" and words[0] == reference:
        return chapter_markup.source_lines(source_dir, f"{words[0]}#{words[1]}")
    if kind == "include" and words[0] == reference:
        return chapter_markup.source_lines(source_dir, words[0])
    if kind == "diff":
        shown = []
        for word in words:
            if word.partition("#")[0] == reference:
                shown += chapter_markup.source_lines(source_dir, word)
        return shown
    return []


def main():
    source_dir = os.path.abspath(sys.argv[1])
    problems = []
    checked = 0
    for chapter, (reference, stub) in sorted(pieces(source_dir).items()):
        pages = [os.path.join(source_dir, "lessons", entry, "README.md")
                 for entry in os.listdir(os.path.join(source_dir, "lessons"))
                 if entry.startswith(chapter + "-")]
        with open(os.path.join(source_dir, stub), encoding="utf-8") as text:
            given = {telling(line) for line in text.read().splitlines()} - {None}
        for page in pages:
            with open(page, encoding="utf-8") as text:
                markup = text.read()
            checked += 1
            for kind, arguments in EXCERPT.findall(markup):
                for line in excerpted_lines(source_dir, kind, arguments, reference):
                    code = telling(line)
                    if code is not None and code not in given:
                        problems.append(f"{os.path.relpath(page, source_dir)}: "
                                        f"<!-- {kind} {arguments} --> shows a line of the "
                                        f"exercise's answer ({reference}, not in {stub}): "
                                        f"{line.strip()}")
    for problem in problems:
        print(problem)
    print(f"{checked} chapters with an exercise checked, {len(problems)} lines of answers shown")
    if checked == 0:
        print("no exercise found: has course_piece() changed?")
        return 1
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
