"""Markdown tables, as the results files write them."""


def table(header, align, rows):
    """Lines of a Markdown table: header cells, one alignment rule per column ("---",
    "--:", "---:", ":---"), rows of cells."""
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]
    return lines


def one_level_down(text):
    """A document's headings one level down, to include it in another (summary.md)."""
    return "".join("#" + line if line.startswith("#") else line
                   for line in text.splitlines(keepends=True))
