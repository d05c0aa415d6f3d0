"""Protocols for the signatures of `aio_as_trio` and `trio_as_aio`.

Python's type system has no intersections, so an object that is two things at
once (awaitable and an async context manager, as ``aiohttp`` requests and
``asyncpg`` pools are; an async context manager and an async iterable, as
Trio's channels are) gets a protocol of its own here: the adapters then keep
both uses in their return type instead of only the first overload's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, TypeVar

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Generator
    from types import TracebackType

T_co = TypeVar("T_co", covariant=True)
Entered_co = TypeVar("Entered_co", covariant=True)
Exit_co = TypeVar("Exit_co", bound="bool | None", covariant=True)


class AwaitableAsyncContextManager(Protocol[T_co, Entered_co, Exit_co]):
    """Awaitable (for a `T_co`) and an async context manager (entered as `Entered_co`)."""

    def __await__(self) -> Generator[Any, Any, T_co]:
        """Await the object for its result."""
        ...

    async def __aenter__(self) -> Entered_co:
        """Enter the context manager."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> Exit_co:
        """Exit the context manager; a true result swallows the exception."""
        ...


class AsyncContextManagerIterable(Protocol[Entered_co, Exit_co, T_co]):
    """An async context manager (entered as `Entered_co`) and an async iterable of `T_co`."""

    async def __aenter__(self) -> Entered_co:
        """Enter the context manager."""
        ...

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc_value: BaseException | None,
        traceback: TracebackType | None,
        /,
    ) -> Exit_co:
        """Exit the context manager; a true result swallows the exception."""
        ...

    def __aiter__(self) -> AsyncIterator[T_co]:
        """An async iterator over the items."""
        ...
