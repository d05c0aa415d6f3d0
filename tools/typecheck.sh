#!/usr/bin/env bash
# Types (issue 17), with the 3.11 venv's mypy and pyright:
#   1. pyright strict over src/ ([tool.pyright] in pyproject.toml);
#   2. mypy --strict and pyright strict over the typed samples of user code
#      (tests/typing): assert_type lines, and misuse that must stay an error
#      (an ignore comment that is no longer needed fails the check);
#   3. pyright --verifytypes aiotrio: 100% type completeness, every public
#      function and class documented.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cd "$here"
python=$(tools/venv.sh 3.11)
bin=$(dirname "$python")
# pyright finds the venv's packages (and aiotrio, editable) through VIRTUAL_ENV.
export VIRTUAL_ENV
VIRTUAL_ENV=$(dirname "$bin")
export PATH="$bin:$PATH" PYRIGHT_PYTHON_IGNORE_WARNINGS=1

"$bin/pyright" --warnings
"$python" -m mypy --strict --warn-unused-ignores --enable-error-code ignore-without-code \
  --python-version 3.11 tests/typing
"$bin/pyright" --warnings -p tests/typing

# From outside the source tree, so that only the installed package is seen.
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
(cd "$scratch" && { "$bin/pyright" --verifytypes aiotrio --ignoreexternal --outputjson || true; }) \
  > "$scratch/verifytypes.json"
"$python" - "$scratch/verifytypes.json" <<'PY'
import json
import sys

with open(sys.argv[1]) as file:
    report = json.load(file)["typeCompleteness"]
problems = [
    f"{symbol['name']}: {diagnostic['message']}"
    for symbol in report["symbols"]
    for diagnostic in symbol["diagnostics"]
]
score = report["completenessScore"]
print(f"verifytypes: {report['packageName']} from {report['moduleRootDirectory']}: {score:.1%}")
for problem in problems:
    print("  " + problem.replace("\n", " "))
missing_docs = report["missingFunctionDocStringCount"] + report["missingClassDocStringCount"]
if score < 1 or problems or missing_docs:
    sys.exit("verifytypes: the public API must be 100% typed and documented")
PY
echo "typecheck: pyright strict (src, samples), mypy --strict (samples), verifytypes 100%"
