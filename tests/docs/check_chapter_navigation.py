"""The chapters read as a book: each ends with a link to the one before it and the one after
it (the first has no previous, the last no next), and the Doxyfile lists them all, in order,
so that the site's pages come in the same order.

Usage: check_chapter_navigation.py SOURCE_DIR
"""

import os
import re
import sys


def main():
    source = sys.argv[1]
    lessons = os.path.join(source, "lessons")
    chapters = sorted(entry for entry in os.listdir(lessons)
                      if re.fullmatch(r"\d\d-[\w-]+", entry)
                      and os.path.isfile(os.path.join(lessons, entry, "README.md")))
    problems = []
    for index, chapter in enumerate(chapters):
        with open(os.path.join(lessons, chapter, "README.md"), encoding="utf-8") as text:
            lines = text.read().splitlines()
        last = next((line for line in reversed(lines) if line.strip()), "")
        links = dict(re.findall(r"(Previous|Next): \[[^]]*\]\(\.\./([\w-]+)/README\.md\)", last))
        wanted = {}
        if index > 0:
            wanted["Previous"] = chapters[index - 1]
        if index + 1 < len(chapters):
            wanted["Next"] = chapters[index + 1]
        if links != wanted:
            problems.append(f"{chapter}: the last line links {links or 'nothing'}, "
                            f"expected {wanted}: {last!r}")
    with open(os.path.join(source, "Doxyfile"), encoding="utf-8") as doxyfile:
        listed = re.findall(r"lessons/(\d\d-[\w-]+)/README\.md", doxyfile.read())
    if listed != chapters:
        problems.append(f"the Doxyfile's INPUT lists {listed}, expected {chapters}")
    for problem in problems:
        print(problem)
    print(f"{len(chapters)} chapters, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
