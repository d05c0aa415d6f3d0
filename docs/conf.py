"""Sphinx configuration of aiotrio's documentation site (built by ``make docs``)."""

from __future__ import annotations

import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
sys.path.insert(0, str(DOCS / "_ext"))
sys.path.insert(0, str(DOCS.parent / "src"))

import aiotrio  # noqa: E402

project = "aiotrio"
author = "the aiotrio developers"
copyright = "the aiotrio developers"
release = aiotrio.__version__
version = release

extensions = [
    "myst_parser",
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "aiotrio_docs",
]

source_suffix = {".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "**/.venv*"]

# MyST: the pages stay plain Markdown that also reads well on GitHub.
myst_enable_extensions = ["colon_fence", "deflist"]
myst_heading_anchors = 4

# The API reference is generated from the docstrings.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_preserve_defaults = True
napoleon_google_docstring = True
napoleon_numpy_docstring = False

nitpicky = True  # as `-n`: also on Read the Docs
# Nitpicky mode checks every reference to aiotrio's own objects. Names from other
# projects cannot be resolved without intersphinx, which would fetch their
# inventories from the Internet at build time: the build is offline.
_OTHER_PROJECTS = (
    r"(_?asyncio|trio|outcome|collections\.abc|typing|types|contextlib|_pytest|pytest)\..*"
)
nitpick_ignore_regex = [
    ("py:class", _OTHER_PROJECTS),
    ("py:exc", _OTHER_PROJECTS),
    # Type variables and names imported only for type checking.
    (
        "py:class",
        r"(aiotrio\.trio_asyncio\.)?"
        r"(T|P|_Ts|LoopFactory|Any|TracebackType|Awaitable|Callable|AsyncIterator|AbstractEventLoop)",
    ),
    # The private wrapper classes aio_as_trio()/trio_as_aio() return: their
    # functions' docs say what the wrappers do.
    ("py:class", r"(AsyncioAsTrio|TrioAsAsyncio)"),
    # The type of trio_asyncio.current_loop, whose own entry documents it.
    ("py:class", r"aiotrio\.trio_asyncio\._CurrentLoop"),
]

html_theme = "furo"
html_title = f"aiotrio {release}"
html_static_path = ["_static"]
html_css_files = ["flavour.css"]
aiotrio_repository_url = "https://github.com/aiotrio/aiotrio"
html_theme_options = {
    "source_repository": f"{aiotrio_repository_url}/",
    "source_branch": "main",
    "source_directory": "docs/",
}

# The public API that must be documented, every name of it (aiotrio_docs checks).
aiotrio_public_modules = ["aiotrio", "aiotrio.pytest_plugin", "aiotrio.trio_asyncio"]
