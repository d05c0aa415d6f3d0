"""pytest plugin for tools/trio-asyncio-suite.sh: ``import trio_asyncio`` gives aiotrio.

Registers a module ``trio_asyncio`` holding every name of
`aiotrio.trio_asyncio` (the same objects, so monkeypatching a class patches
aiotrio's), as a migrating user's one-line import change would. Two stand-ins
exist only so that the suite's files that import them at the top can be
collected, and their other tests run:

- ``allow_asyncio`` (imported by tests/interop/test_adapter.py): aiotrio
  leaves it out (docs/how-to/migrating.md says why); calling it raises.
- ``trio_asyncio._loop.TrioPolicy`` (imported by tests/test_concurrent.py):
  trio-asyncio's private policy class; aiotrio installs no policy, so no
  policy is ever an instance of it.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import aiotrio.trio_asyncio


def _allow_asyncio(fn: Any, *args: Any) -> Any:
    raise NotImplementedError(
        "allow_asyncio is not in aiotrio.trio_asyncio (see docs/how-to/migrating.md)"
    )


def _install() -> None:
    module = types.ModuleType("trio_asyncio", aiotrio.trio_asyncio.__doc__)
    for name in aiotrio.trio_asyncio.__all__:
        setattr(module, name, getattr(aiotrio.trio_asyncio, name))
    module.allow_asyncio = _allow_asyncio  # type: ignore[attr-defined]
    private_loop = types.ModuleType("trio_asyncio._loop")

    class TrioPolicy:
        """Stand-in for trio-asyncio's private event loop policy class."""

    private_loop.TrioPolicy = TrioPolicy  # type: ignore[attr-defined]
    module._loop = private_loop  # type: ignore[attr-defined]
    module.__path__ = []  # a package, so `trio_asyncio._loop` imports
    sys.modules["trio_asyncio"] = module
    sys.modules["trio_asyncio._loop"] = private_loop


_install()
