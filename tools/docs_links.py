"""Check the links of the built docs site and of README.md, without the network.

Usage: python tools/docs_links.py docs/_build/html

- Every relative link in the site's HTML (href, src) must reach a file of the
  site, and its #fragment an id in that file.
- A link to this repository's files on GitHub
  (https://github.com/aiotrio/aiotrio/blob/main/PATH, .../tree/main/PATH, or
  https://raw.githubusercontent.com/aiotrio/aiotrio/main/PATH), in the site or
  in README.md, must name a PATH that exists in the checkout; a #fragment of
  a Markdown file must be one of its headings' anchors, as GitHub makes them.
- README.md has no relative links: PyPI shows it away from the repository.
- Other external links are counted, never fetched (the build is offline).
Exits 1 after listing every broken link.
"""

from __future__ import annotations

import re
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

REPO = Path(__file__).resolve().parents[1]
OWN_FILES = re.compile(
    r"^https://(?:github\.com/aiotrio/aiotrio/(?:blob|tree)/main|"
    r"raw\.githubusercontent\.com/aiotrio/aiotrio/main)/(?P<path>[^#?]*)"
)
MARKDOWN_LINK = re.compile(r"!?\[[^\]]*\]\((?P<url>[^)\s]+)(?:\s+\"[^\"]*\")?\)")


class _Page(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if value is None:
                continue
            if name in ("id", "name"):
                self.ids.add(value)
            elif (name == "href" and tag in ("a", "link")) or (name == "src" and tag == "img"):
                self.links.append(value)


def _parse(path: Path) -> _Page:
    page = _Page()
    page.feed(path.read_text(encoding="utf-8"))
    return page


def markdown_anchors(text: str) -> set[str]:
    """The anchors GitHub gives the headings of Markdown `text`."""
    anchors: set[str] = set()
    in_code = False
    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        elif not in_code and (heading := re.match(r"^#{1,6}\s+(.*?)\s*#*\s*$", line)):
            slug = re.sub(r"[^\w\- ]", "", heading[1].lower()).replace(" ", "-")
            number = 1
            anchor = slug
            while anchor in anchors:
                anchor = f"{slug}-{number}"
                number += 1
            anchors.add(anchor)
    return anchors


def _check_own_file(url: str) -> str | None:
    match = OWN_FILES.match(url)
    if not match:
        return None
    path = REPO / unquote(match["path"])
    if not path.exists():
        return f"{url}: no {match['path']} in the repository"
    fragment = urlsplit(url).fragment
    if (
        fragment
        and path.suffix == ".md"
        and unquote(fragment) not in markdown_anchors(path.read_text(encoding="utf-8"))
    ):
        return f"{url}: no heading #{fragment} in {match['path']}"
    return None


def check_site(site: Path) -> tuple[list[str], int]:
    errors: list[str] = []
    external = 0
    pages = {path.resolve(): _parse(path) for path in site.rglob("*.html")}
    for path, page in pages.items():
        where = path.relative_to(site.resolve())
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme in ("http", "https"):
                error = _check_own_file(link)
                if error:
                    errors.append(f"{where}: {error}")
                external += 1
                continue
            if parts.scheme or link.startswith("//"):
                continue  # mailto:, data: and the like
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            if not target.exists():
                errors.append(f"{where}: {link}: no such file in the site")
            elif parts.fragment and target.suffix == ".html":
                target_page = pages.get(target) or _parse(target)
                if unquote(parts.fragment) not in target_page.ids:
                    errors.append(f"{where}: {link}: no #{parts.fragment} in {target.name}")
    return errors, external


def check_readme(readme: Path) -> list[str]:
    errors: list[str] = []
    for match in MARKDOWN_LINK.finditer(readme.read_text(encoding="utf-8")):
        url = match["url"]
        if url.startswith("#"):
            continue
        if not urlsplit(url).scheme:
            errors.append(f"README.md: {url}: a relative link (it breaks on PyPI)")
            continue
        error = _check_own_file(url)
        if error:
            errors.append(f"README.md: {error}")
    return errors


def main() -> int:
    site = Path(sys.argv[1])
    if not (site / "index.html").exists():
        print(f"docs_links: no site built in {site}", file=sys.stderr)
        return 1
    errors, external = check_site(site)
    errors += check_readme(REPO / "README.md")
    for error in errors:
        print(f"broken link: {error}")
    print(
        f"links: {len(errors)} broken; {external} external links "
        "(this repository's checked against the checkout, others not fetched)"
    )
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
