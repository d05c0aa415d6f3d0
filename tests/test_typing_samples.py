"""The typed samples (tests/typing/) run as they are written, and decorators keep metadata.

tools/typecheck.sh checks the samples statically (mypy --strict, pyright strict);
here they run, so what their ``assert_type`` lines claim is also what happens.
"""

from __future__ import annotations

import asyncio
import inspect

import pytest
import trio

import aiotrio
import aiotrio.trio_asyncio
from tests.typing import sample_bridges, sample_trio_asyncio


def test_bridges_sample_runs() -> None:
    assert sample_bridges.run_sample() == [
        42,
        ["a", "a"],
        "k:v",
        "RES",
        0,
        1,
        2,
        ("db", False, "db2", True),
        ["hello ann!", "hello bob?", b"xxx", False, "Nursery", 7, 8],
    ]


def test_trio_asyncio_sample_runs() -> None:
    assert sample_trio_asyncio.run_sample() == (
        [6, "set", 0, 1, ["hello ann!", "hello bob!", 25]],
        30,
    )


ADAPTERS = [
    aiotrio.aio_as_trio,
    aiotrio.trio_as_aio,
    aiotrio.asyncio_as_trio,
    aiotrio.trio_as_asyncio,
    aiotrio.trio_asyncio.aio_as_trio,
    aiotrio.trio_asyncio.trio_as_aio,
]


@pytest.mark.parametrize("adapter", ADAPTERS, ids=lambda a: f"{a.__module__}.{a.__name__}")
def test_decorators_keep_name_doc_and_wrapped(adapter: object) -> None:
    async def fetch(key: str, *, default: int = 0) -> int:
        """Fetch `key`."""
        return default

    fetch.marker = "kept"  # type: ignore[attr-defined]
    decorated = adapter(fetch)  # type: ignore[operator]
    assert decorated.__name__ == "fetch"
    assert decorated.__qualname__ == fetch.__qualname__
    assert decorated.__module__ == __name__
    assert decorated.__doc__ == "Fetch `key`."
    assert decorated.__wrapped__ is fetch
    assert decorated.marker == "kept"  # functools.wraps copies __dict__ too
    assert inspect.signature(decorated) == inspect.signature(fetch)


def test_decorated_methods_keep_metadata_on_the_class() -> None:
    method = sample_bridges.Client.fetch
    assert method.__name__ == "fetch"  # type: ignore[attr-defined]
    assert method.__qualname__ == "Client.fetch"  # type: ignore[attr-defined]
    assert method.__doc__ == "asyncio-flavored method, Trio-flavored once decorated."
    assert inspect.signature(method) == inspect.signature(method.__wrapped__)  # type: ignore[attr-defined]


@pytest.mark.parametrize("adapter", [aiotrio.aio_as_trio, aiotrio.trio_as_aio])
def test_bound_methods_keep_metadata(adapter: object) -> None:
    class Service:
        async def method(self, key: str) -> str:
            """Look `key` up."""
            return key

        adapted = adapter(method)  # type: ignore[operator]

    bound = Service().adapted
    assert bound.__name__ == "method"
    assert bound.__doc__ == "Look `key` up."
    assert bound.__wrapped__ is Service.__dict__["method"]
    assert list(inspect.signature(bound).parameters) == ["key"]


def test_the_wrapped_functions_attributes_do_not_replace_the_adapters() -> None:
    # functools.wraps copies the function's __dict__; attributes named as the
    # adapter's own must not redirect it.
    async def aio_value() -> str:
        await asyncio.sleep(0)
        return "real"

    async def decoy() -> str:
        return "decoy"

    aio_value.wrapped = decoy  # type: ignore[attr-defined]
    adapted = aiotrio.aio_as_trio(aio_value)
    assert adapted.__wrapped__ is aio_value  # type: ignore[attr-defined]

    async def main() -> str:
        async with aiotrio.open_loop():
            return await adapted()

    assert trio.run(main) == "real"


def test_adapted_objects_get_no_function_metadata() -> None:
    # Only callables are wrapped as functions: an adapted context manager or
    # iterator is not pretending to be what it adapts.
    adapted = aiotrio.trio_as_aio(trio.CancelScope())
    assert not hasattr(adapted, "__wrapped__")
    assert not hasattr(adapted, "__name__")
