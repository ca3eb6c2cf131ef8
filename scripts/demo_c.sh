#!/usr/bin/env bash
# demo_c.sh - the C example (Jacobi iteration until it
# converges; the loop is refined at run time, each iteration runs its blocks
# in parallel) on the threads executor. Extra arguments go to pydron-jacobi,
# e.g. scripts/demo_c.sh --n 200 --blocks 8.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/deps.sh build
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
cmake -S . -B build "${gen[@]}" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "${PYDRON_JOBS:-2}" --target pydron-jacobi
exec build/bindings/c-example/pydron-jacobi --executor threads --verbose "$@"
