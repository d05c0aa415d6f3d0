#!/usr/bin/env bash
# `make docs`: build the documentation site (docs/ -> docs/_build/html) with
# every warning an error and nitpicky references, then check its links and the
# README's without the network (tools/docs_links.py). Sphinx and its friends
# come from the `docs` extra, in their own venv (.venvs/docs-X.Y).
# DOCS_PYTHON picks the Python; by default 3.13, as on Read the Docs
# (.readthedocs.yaml), or else the first of 3.14, 3.12, 3.11 present.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
version=${DOCS_PYTHON:-}
if [ -z "$version" ]; then
  version=$(CI= AIOTRIO_STRICT_PYTHONS= tools/pythons.sh 3.13 3.14 3.12 3.11 2>/dev/null \
    | awk 'NR == 1 {print $1}')
  [ -n "$version" ] || { echo "docs.sh: no Python 3.11-3.14 found" >&2; exit 1; }
fi
python=$(tools/venv.sh "$version" docs "docs-$version")
rm -rf docs/_build/html docs/_build/doctrees
"$python" -m sphinx -E -W --keep-going -n -q -b html -d docs/_build/doctrees docs docs/_build/html
"$python" tools/docs_links.py docs/_build/html
echo "docs: built docs/_build/html"
