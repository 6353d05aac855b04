"""Every chapter has the parts a learner relies on, where the learner expects them:

- the line that points to the glossary, right under the title;
- at least one figure, drawn from a Graphviz source (`![caption](figures/NAME.svg)`), with a
  caption that is a phrase, not the file's name;
- its claims table under an `## Evidence` heading that comes after the exercise (evidence is
  for instructors and the curious, the lesson comes first).

Usage: check_chapter_structure.py SOURCE_DIR
"""

import glob
import os
import re
import sys

GLOSSARY_LINE = "Terms in *italics* are explained in the [glossary](../glossary.md)."
FIGURE = re.compile(r"!\[([^\]]*)\]\(figures/([\w.-]+)\.svg\)")


def headings(lines):
    return [(number, line[3:].strip()) for number, line in enumerate(lines)
            if line.startswith("## ")]


def problems_of(page):
    with open(page, encoding="utf-8") as text:
        lines = text.read().split("\n")
    found = []
    title = next((number for number, line in enumerate(lines) if line.startswith("# ")), None)
    after_title = [line for line in lines[title + 1:title + 4] if line.strip()] if title is not None else []
    if not after_title or after_title[0] != GLOSSARY_LINE:
        found.append(f"the first line under the title is not: {GLOSSARY_LINE}")
    figures = FIGURE.findall("\n".join(lines))
    if not figures:
        found.append("no figure (![caption](figures/NAME.svg) drawn from figures/NAME.dot)")
    for caption, name in figures:
        if len(caption.split()) < 3:
            found.append(f"figure {name}: the caption {caption!r} does not say what it shows")
    sections = headings(lines)
    names = [name for _, name in sections]
    evidence = [number for number, name in sections if name == "Evidence"]
    exercise = [number for number, name in sections if name.startswith("Exercise")]
    table = next((number for number, line in enumerate(lines)
                  if re.fullmatch(r"\|\s*claim\s*\|\s*test\s*\|.*", line.strip(), re.I)), None)
    if table is not None:
        if not evidence:
            found.append(f"the claims table is not under an '## Evidence' heading ({names})")
        else:
            owner = max((number for number, _ in sections if number < table), default=-1)
            if owner != evidence[0]:
                found.append("the claims table is not in the Evidence section")
            if exercise and evidence[0] < exercise[0]:
                found.append("the Evidence section comes before the exercise")
    return found


def main():
    source = sys.argv[1]
    problems = []
    pages = sorted(glob.glob(os.path.join(source, "lessons", "[0-9][0-9]-*", "README.md")))
    for page in pages:
        for problem in problems_of(page):
            problems.append(f"{os.path.relpath(page, source)}: {problem}")
    for problem in problems:
        print(problem)
    print(f"{len(pages)} chapters, {len(problems)} problems")
    return 1 if problems or not pages else 0


if __name__ == "__main__":
    sys.exit(main())
