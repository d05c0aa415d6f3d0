"""tools/docs_links.py, the offline link check of `make docs`, finds broken links."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location("docs_links", REPO / "tools" / "docs_links.py")
assert _spec is not None and _spec.loader is not None
docs_links = importlib.util.module_from_spec(_spec)
sys.modules["docs_links"] = docs_links
_spec.loader.exec_module(docs_links)

OWN = "https://github.com/aiotrio/aiotrio/blob/main"


def test_markdown_anchors_follow_github() -> None:
    text = (
        "# aiotrio\n## Compatibility: CPython's own `test_asyncio`\n"
        "```sh\n# not a heading\n```\n## Use\n### Use\n"
    )
    assert docs_links.markdown_anchors(text) == {
        "aiotrio",
        "compatibility-cpythons-own-test_asyncio",
        "use",
        "use-1",
    }


def test_links_to_repository_files_must_exist() -> None:
    assert docs_links._check_own_file(f"{OWN}/README.md#performance") is None
    assert docs_links._check_own_file(f"{OWN}/docs/how-to") is None
    assert "no heading #nope" in docs_links._check_own_file(f"{OWN}/README.md#nope")
    assert "no docs/nope.md" in docs_links._check_own_file(f"{OWN}/docs/nope.md")
    assert docs_links._check_own_file("https://trio.readthedocs.io/#whatever") is None


def test_site_links_and_fragments_are_checked(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "index.html").write_text(
        '<a href="sub/page.html#there">ok</a><a href="sub/page.html#gone">bad anchor</a>'
        '<a href="missing.html">bad file</a><img src="sub/pic.png">'
        '<a href="https://example.org/">external</a><a href="mailto:x@example.org">mail</a>'
    )
    (tmp_path / "sub" / "page.html").write_text('<h1 id="there">x</h1><a href="#there">self</a>')
    (tmp_path / "sub" / "pic.png").write_bytes(b"")
    errors, external = docs_links.check_site(tmp_path)
    assert sorted(errors) == [
        "index.html: missing.html: no such file in the site",
        "index.html: sub/page.html#gone: no #gone in page.html",
    ]
    assert external == 1


def test_readme_has_no_relative_links(tmp_path: Path) -> None:
    readme = tmp_path / "README.md"
    readme.write_text(f"[a](docs/cli.md) [b]({OWN}/docs/cli.md) [c](#use) ![d](chart.png)\n")
    assert docs_links.check_readme(readme) == [
        "README.md: docs/cli.md: a relative link (it breaks on PyPI)",
        "README.md: chart.png: a relative link (it breaks on PyPI)",
    ]
    assert docs_links.check_readme(REPO / "README.md") == []
