"""Sphinx extension for aiotrio's docs: each function's flavour, and a complete API reference.

- ``:flavour: NAME`` in a docstring (a field of its own line) says where the
  object is called from; autodoc renders it as a badge (the ``flavour``
  directive, which a page may also put in an object's description). Every
  function, class and method the site documents must have one: a missing
  one is a warning (an error under ``-W``).
- Every public name of the modules in ``aiotrio_public_modules`` must be
  documented somewhere in the site: a missing one is a warning. Public names
  are a module's ``__all__``, or else the names its source binds at top
  level without a leading underscore.
- A Markdown link from a page to a file of the repository outside ``docs/``
  (``../README.md#install``) becomes a link to that file on GitHub
  (``aiotrio_repository_url``), as the page reads on GitHub itself. A link
  to a file that does not exist stays a broken reference (a warning).
- ``ipython`` code blocks are highlighted with IPython's lexer when IPython
  is installed, else with Pygments' Python console lexer.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from docutils import nodes
from pygments.lexers import PythonConsoleLexer
from sphinx import addnodes
from sphinx.transforms.post_transforms import SphinxPostTransform
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective

if TYPE_CHECKING:
    from sphinx.application import Sphinx
    from sphinx.environment import BuildEnvironment

logger = logging.getLogger(__name__)

#: Each flavour: its badge, and what it means.
FLAVOURS = {
    "trio": ("Trio", "Call it from Trio code, inside an aiotrio loop's scope."),
    "asyncio": ("asyncio", "Call it from asyncio code running on an aiotrio loop."),
    "either": ("either", "Call it from Trio code, asyncio code or plain synchronous code."),
    "no-loop": ("no loop", "Call it where no event loop runs yet (it starts one)."),
    "pytest": ("pytest", "For pytest: request the fixture by name; pytest calls the hooks."),
}

_FIELD = re.compile(r"^\s*:flavour:\s*(?P<name>\S+)\s*$")


class FlavourDirective(SphinxDirective):
    """``.. flavour:: trio``: a badge saying where to call the object from."""

    required_arguments = 1
    has_content = False
    option_spec: ClassVar[dict[str, Any]] = {}

    def run(self) -> list[nodes.Node]:
        name = self.arguments[0]
        if name not in FLAVOURS:
            raise self.error(f"unknown flavour {name!r}: one of {', '.join(FLAVOURS)}")
        badge, meaning = FLAVOURS[name]
        paragraph = nodes.paragraph(classes=["flavour", f"flavour-{name}"])
        paragraph += nodes.strong(text=f"Flavour: {badge}.")
        paragraph += nodes.Text(f" {meaning}")
        return [paragraph]


# Sphinx's event handlers take their arguments positionally.
def _process_docstring(  # noqa: PLR0917
    app: Sphinx, what: str, name: str, obj: object, options: Any, lines: list[str]
) -> None:
    for i, line in enumerate(lines):
        match = _FIELD.match(line)
        if match:
            indent = line[: len(line) - len(line.lstrip())]
            lines[i] = f"{indent}.. flavour:: {match['name']}"


_NEEDS_FLAVOUR = {"function", "class", "method", "decorator"}


def _check_flavours(app: Sphinx, doctree: nodes.document) -> None:
    """Warn about each documented function, class or method without a flavour badge."""
    for desc in doctree.findall(addnodes.desc):
        if desc.get("domain") != "py" or desc.get("objtype") not in _NEEDS_FLAVOUR:
            continue
        content = next(
            (child for child in desc.children if isinstance(child, addnodes.desc_content)), None
        )
        badges = (
            []
            if content is None
            else [
                child
                for child in content.children
                if isinstance(child, nodes.paragraph) and "flavour" in child["classes"]
            ]
        )
        if not badges:
            signature = desc.children[0] if desc.children else desc
            names = signature.get("ids") or [signature.astext()]
            logger.warning(
                "%s %s has no flavour (':flavour:' in its docstring)",
                desc["objtype"],
                names[0],
                location=app.env.docname,
            )


def _process_signature(  # noqa: PLR0917
    app: Sphinx,
    what: str,
    name: str,
    obj: object,
    options: Any,
    signature: str | None,
    return_annotation: str | None,
) -> tuple[str | None, str | None] | None:
    # An @asynccontextmanager function shows its generator's annotation,
    # AsyncIterator[X]; what callers get is an async context manager of X.
    wrapped = getattr(obj, "__wrapped__", None)
    if (
        what == "function"
        and wrapped is not None
        and inspect.isasyncgenfunction(wrapped)
        and not inspect.isasyncgenfunction(obj)
        and return_annotation
        and return_annotation.startswith("AsyncIterator[")
    ):
        inner = return_annotation[len("AsyncIterator[") : -1]
        return signature, f"contextlib.AbstractAsyncContextManager[{inner}]"
    return None


def public_names(module_name: str) -> list[str]:
    """The public names of `module_name` (see the module docstring)."""
    module = importlib.import_module(module_name)
    exported = getattr(module, "__all__", None)
    if exported is not None:
        return [n for n in exported if not n.startswith("__")]
    tree = ast.parse(inspect.getsource(module))
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names.append(node.name)
        elif isinstance(node, ast.Assign):
            names += [t.id for t in node.targets if isinstance(t, ast.Name)]
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.append(node.target.id)
    return [n for n in names if not n.startswith("_")]


def _check_public_api(app: Sphinx, env: BuildEnvironment) -> None:
    documented = set(env.get_domain("py").objects)  # type: ignore[attr-defined]
    for module_name in app.config.aiotrio_public_modules:
        for name in public_names(module_name):
            if f"{module_name}.{name}" not in documented:
                logger.warning("public name %s.%s is not documented", module_name, name)


class RepositoryLinks(SphinxPostTransform):
    """Links to the repository's files outside docs/ point at them on GitHub."""

    default_priority = 8  # before MyST's resolver (9), which would warn

    def run(self, **kwargs: Any) -> None:
        srcdir = Path(self.env.srcdir).resolve()
        repo = srcdir.parent
        base = self.config.aiotrio_repository_url.rstrip("/")
        for node in list(self.document.findall(addnodes.pending_xref)):
            if node.get("reftype") != "myst" or node.get("refdomain") != "doc":
                continue
            target = str(node["reftarget"])
            if target in self.env.all_docs:
                continue
            path = (srcdir / target).resolve()
            found = next(
                (p for p in (path, path.with_name(path.name + ".md")) if p.is_file()), None
            )
            if found is None or not found.is_relative_to(repo) or found.is_relative_to(srcdir):
                continue
            url = f"{base}/blob/main/{found.relative_to(repo).as_posix()}"
            if node.get("reftargetid"):
                url += f"#{node['reftargetid']}"
            reference = nodes.reference("", "", refuri=url, internal=False)
            reference += node.children
            node.replace_self(reference)


def setup(app: Sphinx) -> dict[str, Any]:
    app.add_config_value("aiotrio_public_modules", [], "env")
    app.add_config_value("aiotrio_repository_url", "", "env")
    app.add_post_transform(RepositoryLinks)
    try:
        from IPython.lib.lexers import IPythonConsoleLexer  # noqa: PLC0415

        app.add_lexer("ipython", IPythonConsoleLexer)
    except ImportError:
        app.add_lexer("ipython", PythonConsoleLexer)
    app.add_directive("flavour", FlavourDirective)
    app.connect("autodoc-process-docstring", _process_docstring)
    app.connect("autodoc-process-signature", _process_signature)
    app.connect("doctree-read", _check_flavours)
    app.connect("env-check-consistency", _check_public_api)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
