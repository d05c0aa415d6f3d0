#!/usr/bin/env bash
# `make docs`: build the documentation site (docs/ -> docs/_build/html) with
# every warning an error and nitpicky references, then check its links and the
# README's without the network (tools/docs_links.py). Sphinx and its friends
# come from the `docs` extra, in their own venv (.venvs/docs).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(tools/venv.sh "${DOCS_PYTHON:-3.13}" docs docs)
rm -rf docs/_build/html docs/_build/doctrees
"$python" -m sphinx -E -W --keep-going -n -q -b html -d docs/_build/doctrees docs docs/_build/html
"$python" tools/docs_links.py docs/_build/html
echo "docs: built docs/_build/html"
