#!/usr/bin/env bash
# Print "VERSION PATH" for every supported Python, installing 3.14/3.15 if needed.
# Usage: tools/pythons.sh [VERSION...]   (default: all supported versions)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
versions=("$@")
[ ${#versions[@]} -gt 0 ] || versions=(3.11 3.12 3.13 3.14 3.15)

find_python() {
  local v=$1 candidate
  local pyenv_root
  pyenv_root=$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")
  for candidate in "python$v" $(ls -d "$pyenv_root"/versions/"$v".*/bin/python 2>/dev/null | sort -V -r) /usr/local/bin/python$v /usr/bin/python$v; do
    if command -v "$candidate" >/dev/null 2>&1 && \
       [ "$("$candidate" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" = "$v" ]; then
      command -v "$candidate"
      return 0
    fi
  done
  # python3 itself may be the wanted version (3.11 on these machines).
  if [ "$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')" = "$v" ]; then
    command -v python3; return 0
  fi
  return 1
}

for v in "${versions[@]}"; do
  if ! path=$(find_python "$v"); then
    case $v in
      3.14|3.15)
        setup="$here/../shared/tools/setup-pythons.sh"
        [ -f "$setup" ] || { echo "pythons.sh: Python $v missing and $setup not found" >&2; exit 1; }
        bash "$setup" >&2
        path=$(find_python "$v") || { echo "pythons.sh: Python $v still missing after $setup" >&2; exit 1; }
        ;;
      *) echo "pythons.sh: Python $v not found (see DEVELOPERS.md)" >&2; exit 1 ;;
    esac
  fi
  echo "$v $path"
done
