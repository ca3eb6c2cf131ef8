#!/usr/bin/env bash
# From a fresh clone: install what the build needs, make a venv, pip install
# pydron, and run the exoplanet transit search on local worker processes.
#   bash scripts/demo.sh [args for examples/transits.py]
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(cmake ninja-build pkg-config gcc libnng-dev libsodium-dev libprotobuf-c-dev protobuf-c-compiler libffi-dev python3-venv python3-dev)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "demo: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

PY=${PYTHON:-python3}
VENV=${PYDRON_VENV:-.venv}
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --upgrade pip
"$VENV/bin/python" -m pip install -q . numpy

echo "demo: transit search on local workers (one per core)"
PYDRON_EXECUTOR=local "$VENV/bin/python" examples/transits.py "$@"
