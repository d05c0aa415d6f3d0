#!/usr/bin/env bash
# Print "VERSION PATH" for every supported Python found on this machine.
# Usage: tools/pythons.sh [VERSION...]   (default: all supported versions, 3.11-3.15)
#
# Looks, in order, for pythonX.Y on PATH, pyenv installs, /usr/local/bin and /usr/bin.
# A missing 3.14/3.15 is installed when the machine's provisioning script
# (../shared/tools/setup-pythons.sh, as root) is there; nothing else is installed.
# A Python still missing is reported on stderr and skipped, unless strict mode is on
# (AIOTRIO_STRICT_PYTHONS=1, or CI=true as CI sets it): then it is an error (exit 1),
# so CI never passes with a Python left out.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.11 3.12 3.13 3.14 3.15)
strict=${AIOTRIO_STRICT_PYTHONS:-}
[ -n "$strict" ] || { [ "${CI:-}" = true ] && strict=1; } || true

version_of() { "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null; }

find_python() {
  local v=$1 candidate pyenv_root
  pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "python$v" $(ls -d "$pyenv_root"/versions/"$v".*/bin/python 2>/dev/null | sort -V -r) \
                   /usr/local/bin/python$v /usr/bin/python$v python3; do
    if command -v "$candidate" >/dev/null 2>&1 && [ "$(version_of "$candidate")" = "$v" ]; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

provision() {  # install what the machine's provisioning script can install (3.14, 3.15)
  local setup="$here/../shared/tools/setup-pythons.sh"
  [ -f "$setup" ] && [ "$(id -u)" = 0 ] || return 1
  bash "$setup" >&2
}

missing=()
provisioned=no
for v in "${versions[@]}"; do
  if ! path=$(find_python "$v"); then
    if [ "$provisioned" = no ] && { [ "$v" = 3.14 ] || [ "$v" = 3.15 ]; } && provision; then
      provisioned=yes
    fi
    path=$(find_python "$v") || { missing+=("$v"); continue; }
  fi
  echo "$v $path"
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "pythons.sh: Python ${missing[*]} not found: install it (see DEVELOPERS.md)." >&2
  if [ -n "$strict" ]; then
    echo "pythons.sh: strict mode (CI=true or AIOTRIO_STRICT_PYTHONS=1): every supported Python is required" >&2
    exit 1
  fi
  echo "pythons.sh: continuing with the Pythons that are present" >&2
fi
