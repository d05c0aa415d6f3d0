"""The implementations being compared, and how each runs an asyncio-flavored main.

Imports of uvloop, trio, trio_asyncio and aiotrio happen inside the functions:
a worker process imports only what its one implementation needs, because
trio-asyncio patches asyncio at import time and uvloop installs things too.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

T = TypeVar("T")

ASYNCIO = "asyncio"
UVLOOP = "uvloop"
TRIO_ASYNCIO = "trio_asyncio"
AIOTRIO_FACTORY = "aiotrio_factory"
AIOTRIO_OPEN_LOOP = "aiotrio_open_loop"
#: Plain trio.run, the yardstick of Trio's own work in a guest run.
TRIO = "trio"
#: Trio as a guest of a stock asyncio / uvloop loop, started by aiotrio.run_trio.
GUEST_ASYNCIO = "guest_asyncio"
GUEST_UVLOOP = "guest_uvloop"
#: aiotrio inside open_loop() with the portable readiness backend (Trio's own
#: per-fd waits), measured against AIOTRIO_OPEN_LOOP with the selector backend.
AIOTRIO_TRIO_READINESS = "aiotrio_trio_readiness"

#: Every implementation, in report order.
ALL = (ASYNCIO, UVLOOP, TRIO_ASYNCIO, AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP)
#: The ones that can run Trio code next to asyncio code (bridges, fairness).
TRIO_CAPABLE = (TRIO_ASYNCIO, AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP)
AIOTRIO = (AIOTRIO_FACTORY, AIOTRIO_OPEN_LOOP)
GUEST = (GUEST_ASYNCIO, GUEST_UVLOOP)
#: Measured by the guest family (13) only; not columns of the main table.
GUEST_FAMILY = (TRIO, GUEST_ASYNCIO, GUEST_UVLOOP, AIOTRIO_OPEN_LOOP)
#: Measured by the readiness family (14) only: the selector backend, then the trio one.
READINESS_FAMILY = (AIOTRIO_OPEN_LOOP, AIOTRIO_TRIO_READINESS)
#: Every implementation whose worker imports Trio.
WITH_TRIO = (*TRIO_CAPABLE, TRIO, *GUEST, AIOTRIO_TRIO_READINESS)

LABELS = {
    ASYNCIO: "asyncio",
    UVLOOP: "uvloop",
    TRIO_ASYNCIO: "trio-asyncio",
    AIOTRIO_FACTORY: "aiotrio factory",
    AIOTRIO_OPEN_LOOP: "aiotrio open_loop",
    TRIO: "trio.run",
    GUEST_ASYNCIO: "guest on asyncio",
    GUEST_UVLOOP: "guest on uvloop",
    AIOTRIO_TRIO_READINESS: 'open_loop("trio")',
}


def probe(impl: str) -> str:
    """Import what `impl` needs; return its version string (raises if unusable)."""
    import sys
    from importlib.metadata import version

    python = ".".join(map(str, sys.version_info[:3]))
    if impl == ASYNCIO:
        return f"CPython {python}"
    if impl == UVLOOP:
        import uvloop

        return f"uvloop {version('uvloop')}"
    import trio  # noqa: F401

    if impl == TRIO:
        return f"trio {version('trio')}"
    if impl == GUEST_UVLOOP:
        import uvloop  # noqa: F401

        import aiotrio

        return f"aiotrio {version('aiotrio')} on uvloop {version('uvloop')}"

    if impl == TRIO_ASYNCIO:
        import trio_asyncio  # type: ignore[import-untyped]  # noqa: F401

        return f"trio-asyncio {version('trio-asyncio')}, trio {version('trio')}"
    import aiotrio  # noqa: F401

    return f"aiotrio {version('aiotrio')}, trio {version('trio')}"


def run_asyncio_main(
    impl: str, main: Callable[[], Awaitable[T]], *, readiness: str | None = None
) -> T:
    """Run asyncio-flavored ``await main()`` the way `impl` runs asyncio programs.

    `readiness` is the I/O readiness backend an ``open_loop()``
    implementation asks for (see `run_trio_main`).
    """
    _check_readiness(impl, readiness)
    if impl == ASYNCIO:
        return asyncio.run(_call(main))
    if impl == UVLOOP:
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(_call(main))
    if impl == AIOTRIO_FACTORY:
        import aiotrio

        # asyncio.run(..., loop_factory=) needs 3.12; Runner is what it uses.
        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            return runner.run(_call(main))
    if impl in (*TRIO_CAPABLE, AIOTRIO_TRIO_READINESS):

        async def from_trio(to_aio: Any, _to_trio: Any) -> T:
            result: T = await to_aio(main)
            return result

        return run_trio_main(impl, from_trio, readiness=readiness)
    raise ValueError(f"unknown implementation {impl!r}")


def run_trio_main(
    impl: str, main: Callable[[Any, Any], Awaitable[T]], *, readiness: str | None = None
) -> T:
    """Run Trio-flavored ``await main(to_aio, to_trio)`` with an asyncio loop open.

    ``await to_aio(fn)`` runs asyncio-flavored ``fn()`` from Trio; ``await
    to_trio(fn)`` runs Trio-flavored ``fn()`` from asyncio. In factory mode
    the Trio side is itself a `run_trio` call made from ``asyncio.Runner``;
    in guest modes too, on a stock asyncio or uvloop loop, where that call
    starts Trio as the loop's guest. Plain `TRIO` has no asyncio: both are None.

    `readiness` is the I/O readiness backend an ``open_loop()``
    implementation (`READINESS_FAMILY`) asks for: None means its own
    (aiotrio's default; "trio" for `AIOTRIO_TRIO_READINESS`).
    """
    import trio

    _check_readiness(impl, readiness)
    if impl == AIOTRIO_TRIO_READINESS:
        impl, readiness = AIOTRIO_OPEN_LOOP, readiness or "trio"
    if impl == TRIO:
        return trio.run(main, None, None)
    if impl in GUEST:
        import aiotrio

        async def in_guest() -> T:
            return await aiotrio.run_trio(main, aiotrio.run_asyncio, aiotrio.run_trio)

        with asyncio.Runner(loop_factory=guest_host_factory(impl)) as runner:
            return runner.run(in_guest())

    if impl == AIOTRIO_OPEN_LOOP:
        import aiotrio

        async def in_open_loop() -> T:
            async with aiotrio.open_loop(readiness=readiness):
                return await main(aiotrio.run_asyncio, aiotrio.run_trio)

        return trio.run(in_open_loop)
    if impl == AIOTRIO_FACTORY:
        import aiotrio

        async def in_asyncio() -> T:
            return await aiotrio.run_trio(main, aiotrio.run_asyncio, aiotrio.run_trio)

        with asyncio.Runner(loop_factory=aiotrio.new_event_loop) as runner:
            return runner.run(in_asyncio())
    if impl == TRIO_ASYNCIO:
        import trio_asyncio

        async def to_aio(fn: Callable[[], Awaitable[Any]]) -> Any:
            return await trio_asyncio.aio_as_trio(fn)()

        async def to_trio(fn: Callable[[], Awaitable[Any]]) -> Any:
            return await trio_asyncio.trio_as_aio(fn)()

        async def in_trio_asyncio() -> T:
            async with trio_asyncio.open_loop():
                return await main(to_aio, to_trio)

        return trio.run(in_trio_asyncio)
    raise ValueError(f"{impl!r} cannot run Trio code")


def guest_host_factory(impl: str) -> Callable[[], asyncio.AbstractEventLoop]:
    """The loop a guest implementation runs Trio on."""
    if impl == GUEST_UVLOOP:
        import uvloop

        factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
        return factory
    return asyncio.SelectorEventLoop


def _check_readiness(impl: str, readiness: str | None) -> None:
    if readiness is not None and impl not in READINESS_FAMILY:
        raise ValueError(f"{impl!r} has no readiness backend to choose")


async def _call(main: Callable[[], Awaitable[T]]) -> T:
    return await main()
