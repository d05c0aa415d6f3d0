"""A Ctrl-C that lands in a weak collection's clean-up callback must not be lost.

Trio's SIGINT handler raises KeyboardInterrupt in whatever frame is running
unless that frame is KI-protected. When that frame is a weakref callback, the
exception cannot propagate anywhere: Python prints "Exception ignored" and
drops it, so the program never sees its Ctrl-C. Trio already treats
``__del__`` methods as protected for this reason; weakref callbacks are the
same case it does not cover. Under aiotrio they run all the time: on 3.11-3.13
asyncio keeps its tasks in a ``weakref.WeakSet``, whose callback runs each
time a finished task is freed, from inside the loop's (unprotected) callbacks.

Marking the standard weak collections' callbacks protected makes Trio defer
such a Ctrl-C to the run's main task instead, as it does everywhere else.
The mark is on the callbacks' code objects (shared by every instance) and only
matters while Trio's handler is installed, that is inside a Trio run.
"""

from __future__ import annotations

import weakref
from typing import TYPE_CHECKING

import trio

if TYPE_CHECKING:
    from collections.abc import Callable

_protected: list[bool] = []  # not empty once the callbacks are marked


def protect_weak_collection_callbacks() -> None:
    """Mark (once) the clean-up callbacks of WeakSet and the weak dictionaries KI-protected."""
    if _protected:
        return
    collections: tuple[object, ...] = (
        weakref.WeakSet[object](),
        weakref.WeakValueDictionary[object, object](),
        weakref.WeakKeyDictionary[object, object](),
    )
    for collection in collections:
        # Each instance's callback is a closure over the same code object (a
        # private attribute, so looked up rather than typed).
        callback: Callable[..., object] = getattr(collection, "_remove")  # noqa: B009
        trio.lowlevel.enable_ki_protection(callback)
    _protected.append(True)
