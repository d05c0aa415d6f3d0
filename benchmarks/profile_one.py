"""Profile one family for one implementation: ``profile_one.py MODULE IMPL [N]``.

Runs the family's ``measure(impl)`` under cProfile in this process and prints
the N (default 30) functions with the most own time, and call counts, which
is where to look when aiotrio misses a target. For sampling with native
frames, run ``py-spy record -- python worker.py MODULE IMPL`` instead.
"""

from __future__ import annotations

import cProfile
import importlib
import pstats
import sys


def main(module: str, impl: str, top: int = 30) -> None:
    measure = importlib.import_module(module).measure
    profile = cProfile.Profile()
    figures = profile.runcall(measure, impl)
    print(figures)
    stats = pstats.Stats(profile)
    stats.sort_stats("tottime").print_stats(top)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], *(int(a) for a in sys.argv[3:4]))
