"""Check what the sdist and the wheel in DIST carry (used by tools/dist.sh).

The wheel: the package, its py.typed marker and the license texts. The sdist: the
package, the tests, the license texts and the changelog.
"""

from __future__ import annotations

import sys
import tarfile
import zipfile
from pathlib import Path

LICENSES = ("LICENSE", "LICENSE-MIT", "LICENSE-APACHE")


def _check(names: list[str], wanted: list[str], what: str) -> list[str]:
    return [f"{what} lacks {want}" for want in wanted if not any(n.endswith(want) for n in names)]


def main(dist: Path) -> int:
    (wheel,) = dist.glob("*.whl")
    (sdist,) = dist.glob("*.tar.gz")
    with zipfile.ZipFile(wheel) as zf:
        wheel_names = zf.namelist()
    with tarfile.open(sdist) as tf:
        sdist_names = tf.getnames()
    problems = _check(
        wheel_names,
        ["aiotrio/__init__.py", "aiotrio/py.typed", *(f"licenses/{n}" for n in LICENSES)],
        wheel.name,
    )
    problems += _check(
        sdist_names,
        [
            "src/aiotrio/__init__.py",
            "tests/conftest.py",
            "tests/test_bridges.py",
            "CHANGELOG.md",
            *LICENSES,
        ],
        sdist.name,
    )
    for problem in problems:
        print(f"check_dist: {problem}", file=sys.stderr)
    if not problems:
        print(f"check_dist: {wheel.name} and {sdist.name} carry what they should")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1])))
