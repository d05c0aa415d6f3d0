"""One measurement in a process of its own.

``worker.py MODULE IMPL`` measures one family for one implementation;
``worker.py --probe IMPL`` checks that an implementation can be imported.
Either prints one JSON line. Kept import-light on purpose: the process must
hold nothing but the benchmark and the one implementation it measures. The
runner starts it either as a new interpreter or as a fork (`zygote`).
"""

from __future__ import annotations

import importlib
import json
import sys
from typing import Any


def answer(args: list[str]) -> dict[str, Any]:
    if args[0] == "--probe":
        from impls import probe

        return {"version": probe(args[1])}
    module, impl = args
    figures = importlib.import_module(module).measure(impl)
    from timing import pass_counts

    return {"figures": figures, "passes": pass_counts}


if __name__ == "__main__":
    print(json.dumps(answer(sys.argv[1:])))
