"""aiotrio's code adapted from CPython's asyncio still matches its original.

Each entry of `ORIGINS` names a CPython function that an aiotrio function was
adapted from (the adapted code says so in a comment or docstring). The source
of each original is fingerprinted per Python version in
``cpython_origins.json``; when a CPython release changes an original, this
test fails so that the adapted copy is reviewed. After reviewing (and
updating the copy if needed), refresh the fingerprints with
``python -m tests.test_cpython_origins --update`` on that Python.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import sys
from pathlib import Path
from typing import Any

import pytest

FINGERPRINTS = Path(__file__).with_name("cpython_origins.json")

#: original (as "module:qualname") -> the aiotrio code adapted from it.
ORIGINS: dict[str, str] = {
    "asyncio.base_events:BaseEventLoop.call_soon": "aiotrio._loop:EventLoop.call_soon",
    "asyncio.base_events:BaseEventLoop._call_soon": "aiotrio._loop:EventLoop.call_soon",
    "asyncio.base_events:BaseEventLoop._check_closed": (
        "aiotrio._loop:EventLoop.call_soon, EventLoop.call_at"
    ),
    "asyncio.base_events:BaseEventLoop.call_at": "aiotrio._loop:EventLoop.call_at",
    "asyncio.base_events:BaseEventLoop._run_once": (
        "aiotrio._driver:Driver._iterate, Driver._run_ready_debug"
    ),
    "asyncio.unix_events:_UnixSelectorEventLoop._make_subprocess_transport": (
        "aiotrio._loop:EventLoop._make_subprocess_transport"
    ),
    "asyncio.unix_events:_UnixSelectorEventLoop.add_signal_handler": (
        "aiotrio._signals:SignalHandlers.add"
    ),
    "asyncio.unix_events:_UnixSelectorEventLoop.remove_signal_handler": (
        "aiotrio._signals:SignalHandlers.remove"
    ),
}

_VERSION = "{}.{}".format(*sys.version_info[:2])


def _original(spec: str) -> Any:
    module_name, qualname = spec.split(":")
    obj: Any = importlib.import_module(module_name)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def fingerprint(spec: str) -> str:
    source = inspect.getsource(_original(spec))
    return hashlib.sha256(source.encode()).hexdigest()[:16]


def _stored() -> dict[str, dict[str, str]]:
    data: dict[str, dict[str, str]] = json.loads(FINGERPRINTS.read_text())
    return data


@pytest.mark.parametrize("spec", sorted(ORIGINS))
def test_adapted_original_is_unchanged(spec: str) -> None:
    stored = _stored().get(_VERSION)
    assert stored is not None, f"no fingerprints for Python {_VERSION}: run with --update"
    assert stored.get(spec) == fingerprint(spec), (
        f"CPython {_VERSION} changed {spec}: review {ORIGINS[spec]}, which was adapted "
        "from it, then refresh the fingerprint (see this module's docstring)"
    )


def test_every_origin_is_marked_in_the_adapted_code() -> None:
    """The adapted code says where it came from (so a reader knows to check)."""
    root = Path(__file__).resolve().parent.parent / "src" / "aiotrio"
    for spec, adapted in ORIGINS.items():
        module = adapted.split(":")[0].rsplit(".", 1)[1]
        text = (root / f"{module}.py").read_text().lower()
        qualname = spec.split(":")[1]
        assert f"adapted from cpython's {qualname.lower()}" in text or (
            f"adapted from cpython's ``{qualname.lower()}``" in text
        ), f"{adapted} does not say it was adapted from {spec}"


if __name__ == "__main__":
    if sys.argv[1:] != ["--update"]:
        sys.exit(__doc__)
    data = _stored() if FINGERPRINTS.exists() else {}
    data[_VERSION] = {spec: fingerprint(spec) for spec in sorted(ORIGINS)}
    FINGERPRINTS.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")
    print(f"fingerprints for Python {_VERSION} written to {FINGERPRINTS}")
