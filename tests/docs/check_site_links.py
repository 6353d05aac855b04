"""No broken internal link in the Doxygen site: every relative href or src in every page
names a file that exists, and every #fragment names an anchor in that file. A chapter that
links to another chapter's README.md is fine only if Doxygen turned the link into a page
(a link still ending in .md is a chapter missing from the Doxyfile's INPUT).

Usage: check_site_links.py HTML_DIR
"""

import html.parser
import os
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    """The links and the anchors (id= and name=) of one HTML page."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.links = []
        self.anchors = set()

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.anchors.add(value)
            if name in ("href", "src") and tag in ("a", "img", "link", "script", "iframe"):
                self.links.append(value)


def parse(path):
    page = Page()
    with open(path, encoding="utf-8", errors="replace") as text:
        page.feed(text.read())
    return page


def main():
    site = sys.argv[1]
    pages = {}
    for entry in sorted(os.listdir(site)):
        if entry.endswith(".html"):
            pages[entry] = parse(os.path.join(site, entry))
    if "index.html" not in pages:
        print(f"no index.html in {site}: has the site been built?")
        return 1
    broken = []
    for name, page in pages.items():
        for link in page.links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("javascript:"):
                continue  # outside the site
            target = urllib.parse.unquote(parts.path) or name
            if target.endswith(".md"):
                broken.append(f"{name}: {link} (a Markdown file Doxygen did not turn into a page)")
                continue
            if not os.path.exists(os.path.join(site, target)):
                broken.append(f"{name}: {link} (no such file)")
                continue
            if parts.fragment and target.endswith(".html"):
                anchors = pages[target].anchors if target in pages else set()
                if parts.fragment not in anchors:
                    broken.append(f"{name}: {link} (no anchor #{parts.fragment} in {target})")
    for line in broken:
        print(line)
    print(f"{len(pages)} pages, {sum(len(p.links) for p in pages.values())} links, "
          f"{len(broken)} broken")
    return 1 if broken else 0


if __name__ == "__main__":
    sys.exit(main())
