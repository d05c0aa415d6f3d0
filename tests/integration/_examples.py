"""Programs in examples/, imported by the tests that exercise their parts in-process."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import asyncpg
import redis.asyncio as redis

if TYPE_CHECKING:
    from types import ModuleType

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def load_example(name: str) -> ModuleType:
    """examples/NAME.py as a module (not run as __main__)."""
    spec = importlib.util.spec_from_file_location(
        f"aiotrio_example_{name}", EXAMPLES / f"{name}.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


async def drop_namespace(pg_dsn: str, redis_url: str, namespace: str) -> None:
    """asyncio code: remove the table and keys examples/hypercorn_quart_trio.py made."""
    connection = await asyncpg.connect(pg_dsn)
    try:
        await connection.execute(f"DROP TABLE IF EXISTS {namespace}")
    finally:
        await connection.close()
    client = redis.Redis.from_url(redis_url)
    try:
        keys = await client.keys(f"{namespace}:*")
        if keys:
            await client.delete(*keys)
    finally:
        await client.aclose()
