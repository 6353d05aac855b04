"""The chapters are plain Markdown that reads anywhere (GitHub, an editor's preview, the
Doxygen site) with their code and figures in place. The code is never typed into a chapter:
it is cut from the compiled, tested sources by markers that this module expands, and the
figures are drawn from Graphviz sources next to the chapter. `scripts/render-chapters`
rewrites the chapters; `docs.chapters_are_rendered` fails when a checked-in chapter differs
from what rendering would write.

Markers (HTML comments: invisible on every Markdown viewer):

    <!-- snippet FILE TAG -->      the lines between FILE's two lines that carry `[TAG]`
    <!-- end -->                   (Doxygen's \\snippet convention: `//! [TAG]`)

    <!-- include FILE -->          the whole of FILE
    <!-- end -->

    <!-- diff FILE_A[#TAG] FILE_B[#TAG] -->   a unified diff: what B adds to A
    <!-- end -->

Whatever lies between a marker and its `<!-- end -->` is replaced by a fenced code block.

Figures: `![caption](figures/NAME.svg)` needs `figures/NAME.dot` beside the chapter; the SVG
is generated from it with Graphviz's `dot` and checked in, so that it shows where the
Markdown is read.

Evidence: a claims table (the table under `| claim | test |`) gets a third column, `run it`,
with the `ctest` command that runs each test its row cites.

Commands: every ```sh block carries a directive for `run_chapter_commands.py`. A block that
the test cannot run says so with `<!-- skip: REASON -->`; the renderer writes the reason
under the block as a visible line, so the reader sees it too.
"""

import difflib
import os
import re
import subprocess

MARKER = re.compile(r"^<!-- (snippet|include|diff) (.+?) -->\s*$")
END = "<!-- end -->"
SKIP = re.compile(r"^<!-- skip: (.+?) -->\s*$")
SKIP_NOTE = "> Not run by the chapter's command test: "
FIGURE = re.compile(r"!\[[^\]]*\]\((figures/[\w.-]+)\.svg\)")
LANGUAGES = {".cpp": "cpp", ".hpp": "cpp", ".py": "python", ".conf": "nginx", ".sh": "sh",
             ".service": "ini", ".socket": "ini", ".txt": "text", "": "sh"}


class MarkupError(Exception):
    pass


def tagged_region(path, tag):
    """The lines between the first two lines of `path` that carry `[tag]`, as Doxygen's
    \\snippet cuts them."""
    with open(path, encoding="utf-8") as text:
        lines = text.read().splitlines()
    markers = [index for index, line in enumerate(lines) if f"[{tag}]" in line]
    if len(markers) < 2:
        raise MarkupError(f"{path} has no pair of [{tag}] markers")
    return dedent(lines[markers[0] + 1:markers[1]])


def dedent(lines):
    """Lines with their common indentation removed (an excerpt from inside a function reads
    from the left margin)."""
    widths = [len(line) - len(line.lstrip(" ")) for line in lines if line.strip()]
    cut = min(widths, default=0)
    return [line[cut:] if line.strip() else "" for line in lines]


def language(path):
    return LANGUAGES.get(os.path.splitext(path)[1], "text")


def fenced(lang, lines):
    return [f"```{lang}", *lines, "```"]


def source_lines(source_dir, reference):
    """`FILE` or `FILE#TAG` as lines."""
    path, _, tag = reference.partition("#")
    full = os.path.join(source_dir, path)
    if not os.path.isfile(full):
        raise MarkupError(f"no such file: {path}")
    if tag:
        return tagged_region(full, tag)
    with open(full, encoding="utf-8") as text:
        return text.read().splitlines()


def expansion(source_dir, kind, arguments):
    words = arguments.split()
    if kind == "snippet":
        if len(words) != 2:
            raise MarkupError(f"snippet wants FILE TAG, got {arguments!r}")
        return fenced(language(words[0]), source_lines(source_dir, f"{words[0]}#{words[1]}"))
    if kind == "include":
        if len(words) != 1:
            raise MarkupError(f"include wants FILE, got {arguments!r}")
        return fenced(language(words[0]), source_lines(source_dir, words[0]))
    if len(words) != 2:
        raise MarkupError(f"diff wants FILE_A[#TAG] FILE_B[#TAG], got {arguments!r}")
    before, after = (source_lines(source_dir, word) for word in words)
    names = [word.partition("#")[0] for word in words]
    diff = list(difflib.unified_diff(before, after, names[0], names[1], n=2, lineterm=""))
    if not diff:
        raise MarkupError(f"diff {arguments}: the two are the same")
    return fenced("diff", diff)


CLAIMS_HEADERS = (["claim", "test"], ["claim", "test", "run it"])
CITED = re.compile(r"`((?:lesson\d\d|docs|style|tour)\.[\w.:/*-]+|test_\w+)`")


def split_row(line):
    """Cells of a Markdown table row; a `|` inside backticks does not split."""
    cells, cell, in_code = [], "", False
    for char in line.strip().strip("|"):
        if char == "`":
            in_code = not in_code
        if char == "|" and not in_code:
            cells.append(cell.strip())
            cell = ""
        else:
            cell += char
    cells.append(cell.strip())
    return cells


def run_command(name):
    """The ctest command that runs the test cited as `name`. A pytest test is registered
    as lessonNN.test_file.py::name, with [parameters] when it has them. (No `|` in the
    regex: a Markdown table would split the cell there.)"""
    if name.startswith("test_"):
        regex = f"::{name}(\\[.*)?$"
    else:
        regex = re.escape(name).replace("\\*", ".*")
    # Double quotes: Doxygen reads a backtick span that ends in a single quote as a quotation.
    return f'`ctest --preset default -R "{regex}"`'


def claims_rows(lines):
    """The claims tables of `lines` with their `run it` column (re)generated."""
    out = []
    in_table = False
    for line in lines:
        if not line.startswith("|"):
            in_table = False
            out.append(line)
            continue
        cells = split_row(line)
        if [cell.lower() for cell in cells] in CLAIMS_HEADERS:
            in_table = True
            out.append("| claim | test | run it |")
            continue
        if not in_table:
            out.append(line)
        elif set(line.strip()) <= set("|-: "):
            out.append("|---|---|---|")
        else:
            names = CITED.findall(cells[1]) if len(cells) > 1 else []
            run = "<br>".join(run_command(name) for name in names)
            out.append(f"| {cells[0]} | {cells[1] if len(cells) > 1 else ''} | {run} |")
    return out


def render_text(source_dir, text, page="chapter"):
    """The chapter `text` with every marker's region re-expanded and every skip reason
    written under its block."""
    lines = text.split("\n")
    out = []
    index = 0
    pending_skip = None  # the reason of a skip directive whose block has not closed yet
    in_fence = False
    while index < len(lines):
        line = lines[index]
        marker = MARKER.match(line)
        if marker and not in_fence:
            end = index + 1
            while end < len(lines) and lines[end].strip() != END:
                if MARKER.match(lines[end]):
                    break
                end += 1
            if end == len(lines) or lines[end].strip() != END:
                raise MarkupError(f"{page}:{index + 1}: {line.strip()} has no {END}")
            try:
                body = expansion(source_dir, marker.group(1), marker.group(2))
            except MarkupError as error:
                raise MarkupError(f"{page}:{index + 1}: {error}") from None
            out += [line, *body, END]
            index = end + 1
            continue
        skip = SKIP.match(line)
        if skip and not in_fence:
            pending_skip = skip.group(1)
        if line.startswith("```"):
            in_fence = not in_fence
            out.append(line)
            index += 1
            if not in_fence and pending_skip is not None:
                # The visible reason follows the closing fence after a blank line, replacing
                # an older one.
                if index < len(lines) and lines[index].startswith(SKIP_NOTE):
                    index += 1
                elif (index + 1 < len(lines) and not lines[index].strip()
                      and lines[index + 1].startswith(SKIP_NOTE)):
                    index += 2
                reason = pending_skip if pending_skip.endswith((".", ")")) else pending_skip + "."
                out += ["", SKIP_NOTE + reason]
                pending_skip = None
            continue
        out.append(line)
        index += 1
    return "\n".join(claims_rows(out))


def chapter_pages(source_dir):
    """Every page the renderer owns: the chapters' README.md files and the pages beside
    them (lessons/*.md)."""
    lessons = os.path.join(source_dir, "lessons")
    pages = []
    for entry in sorted(os.listdir(lessons)):
        full = os.path.join(lessons, entry)
        if entry.endswith(".md"):
            pages.append(full)
        elif os.path.isdir(full) and os.path.isfile(os.path.join(full, "README.md")):
            pages.append(os.path.join(full, "README.md"))
    return pages


GRAPHVIZ_COMMENT = re.compile(r"<!-- Generated by graphviz[^>]*-->\n")


def render_figure(dot_path):
    """The SVG that `dot` draws from dot_path, without its version comment (so the
    check does not depend on the Graphviz release)."""
    drawn = subprocess.run(["dot", "-Tsvg", dot_path], check=True, capture_output=True,
                           text=True).stdout
    return GRAPHVIZ_COMMENT.sub("", drawn)


def figures_of(page_path, text):
    """(dot source, svg path) for every figure `text` shows."""
    directory = os.path.dirname(page_path)
    for stem in FIGURE.findall(text):
        yield os.path.join(directory, stem + ".dot"), os.path.join(directory, stem + ".svg")
