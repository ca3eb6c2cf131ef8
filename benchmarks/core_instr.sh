#!/bin/sh
# Instructions per task of the C core and its peers (bench_core --only),
# counted by callgrind: the difference between runs of N and 2N tasks,
# divided by N, so start-up and thread creation cancel out. A steady figure
# on a loaded machine, where bench_core's times are noise. Counts every
# thread's instructions (spinning and waiting included), not time.
# usage: benchmarks/core_instr.sh [BUILD_DIR] [N] [RUNS...]
set -eu
build=${1:-build}
n=${2:-10000}
shift 2 2>/dev/null || shift $#
runs=${*:-inline inline_chain threads threads_chain pool pool_chain tbb tbb_chain}
bin=$build/benchmarks/bench_core
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
ir() {
    valgrind --tool=callgrind --callgrind-out-file="$tmp/cg" "$bin" --tasks "$1" --chain 100 \
        --workers 2 --only "$2" >"$tmp/log" 2>&1 || { cat "$tmp/log" >&2; exit 1; }
    sed -n 's/^==[0-9]*== Collected : *//p' "$tmp/log"
}
for r in $runs; do
    a=$(ir "$n" "$r")
    b=$(ir $((2 * n)) "$r")
    echo "INSTR $r $(( (b - a) / n )) per task"
done
