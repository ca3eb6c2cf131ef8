#!/usr/bin/env bash
# test.sh - build and test everything, as CI does (.ci/run calls this).
#
#   1. build/      -DPYDRON_WERROR=ON, full ctest suite
#   2. build-asan/ -DPYDRON_SANITIZE=ON (AddressSanitizer + UBSan), full ctest suite
#   2b. build-fuzz/ clang -DPYDRON_FUZZ=ON: ctest, including 20 s of libFuzzer on the decoder
#   3. valgrind on a few test executables from build/
#   4. the Python test suite (pytest)  [added by the Python helpers]
#
# Every stage runs even if an earlier one failed; the summary at the end
# lists each stage and the script exits non-zero if any failed.
# Knobs: PYDRON_JOBS (default 2), PYDRON_TEST_SKIP="asan fuzz valgrind python",
# PYDRON_TEST_PYTHONS="3.12 3.13" or "none": which other installed Pythons
# test_packaging builds wheels for and runs (default: every supported one found).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${PYDRON_JOBS:-2}
SKIP=" ${PYDRON_TEST_SKIP:-} "
LOGDIR=$ROOT/build/test-logs

scripts/deps.sh test

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)

declare -a STAGES=() RESULTS=()
record() { STAGES+=("$1"); RESULTS+=("$2"); }

# run_ctest NAME BUILD_DIR CMAKE_ARGS...: configure, build, ctest
run_ctest() {
    local name=$1 dir=$2
    shift 2
    local log=$LOGDIR/ctest-$name.log
    if ! cmake -S "$ROOT" -B "$dir" "${gen[@]}" -DPYDRON_WERROR=ON "$@"; then
        record "$name: configure" FAIL; return 0
    fi
    if ! cmake --build "$dir" -j "$JOBS"; then
        record "$name: build" FAIL; return 0
    fi
    mkdir -p "$LOGDIR"
    # --timeout: the default for any test without a TIMEOUT property
    if (cd "$dir" && ctest --output-on-failure --timeout 600 -j "$JOBS") 2>&1 | tee "$log"; then
        record "$name: ctest" PASS
    else
        record "$name: ctest" FAIL
    fi
}

# ---- 1. warnings as errors ----------------------------------------------
rm -rf "$LOGDIR"   # the summary reads only this run's logs
mkdir -p "$LOGDIR"
run_ctest default "$ROOT/build" -DCMAKE_BUILD_TYPE=RelWithDebInfo

# ---- 2. AddressSanitizer + UndefinedBehaviorSanitizer --------------------
if [[ $SKIP != *" asan "* ]]; then
    export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:strict_string_checks=1}
    export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
    run_ctest asan "$ROOT/build-asan" -DCMAKE_BUILD_TYPE=Debug -DPYDRON_SANITIZE=ON
    unset ASAN_OPTIONS UBSAN_OPTIONS
fi

# ---- 2b. libFuzzer on the wire decoder (clang) ---------------------------
if [[ $SKIP != *" fuzz "* ]]; then
    if command -v clang >/dev/null; then
        fz=$ROOT/build-fuzz
        if cmake -S "$ROOT" -B "$fz" "${gen[@]}" -DCMAKE_C_COMPILER=clang -DPYDRON_FUZZ=ON \
                 -DPYDRON_BENCHMARKS=OFF -DPYDRON_EXAMPLES=OFF -DCMAKE_BUILD_TYPE=Debug &&
           cmake --build "$fz" -j "$JOBS" --target fuzz_wire &&
           (cd "$fz" && ctest --output-on-failure -R fuzz_wire) 2>&1 | tee "$LOGDIR/ctest-fuzz.log"; then
            record "fuzz (20 s)" PASS
        else
            record "fuzz (20 s)" FAIL
        fi
    else
        echo "fuzz: clang not installed, stage skipped"
    fi
fi

# ---- 3. valgrind ---------------------------------------------------------
# Criterion runs each test in a child process, so valgrind follows children
# (--trace-children=yes) and every process writes its own log; a stage
# passes when every log reports 0 errors (definite leaks count as errors).
if [[ $SKIP != *" valgrind "* ]]; then
    vgdir=$LOGDIR/valgrind
    rm -rf "$vgdir"; mkdir -p "$vgdir"
    # bounded like every other stage: a hang fails the stage, not the CI run
    vg=(timeout -k 10 900 valgrind --trace-children=yes --leak-check=full --errors-for-leak-kinds=definite
        --error-exitcode=97 --num-callers=30)
    ok=PASS
    for suite in graph refine errors memory observe exec_api wire abi enomem util direct; do
        if ! "${vg[@]}" --log-file="$vgdir/$suite.%p.log" "$ROOT/build/tests/c/test_$suite" -j1 \
             >"$vgdir/$suite.out" 2>&1; then
            echo "valgrind: suite $suite failed, see $vgdir/$suite.out"; ok=FAIL
        fi
        tail -n 1 "$vgdir/$suite.out"
    done
    if ! "${vg[@]}" --log-file="$vgdir/jacobi.%p.log" "$ROOT/build/bindings/c-example/pydron-jacobi" \
         --executor threads --n 24 --blocks 3 >"$vgdir/jacobi.out" 2>&1; then
        echo "valgrind: pydron-jacobi failed"; ok=FAIL
    fi
    if ! "${vg[@]}" --log-file="$vgdir/bench.%p.log" "$ROOT/build/benchmarks/bench_core" \
         --tasks 2000 --chain 50 >"$vgdir/bench.out" 2>&1; then
        echo "valgrind: bench_core failed"; ok=FAIL
    fi
    bad=$(grep -L "ERROR SUMMARY: 0 errors" "$vgdir"/*.log || true)
    if [[ -n $bad ]]; then
        echo "valgrind reported errors in:"; echo "$bad"
        for f in $bad; do sed -n '1,80p' "$f"; done
        ok=FAIL
    fi
    echo "valgrind: $(ls "$vgdir"/*.log | wc -l) process logs checked"
    record "valgrind" $ok
fi

# ---- 4. Python test suite (pytest) -------------------------------------------
# >>> PYTHON TESTS
# A fresh venv under build/, `pip install .[test]` (builds libpydron and the
# extension with scikit-build-core, like a user's install), then pytest on
# the installed package (run from tests/python, so the sources are not on
# sys.path).
if [[ $SKIP != *" python "* ]]; then
    venv=$ROOT/build/venv
    log=$LOGDIR/pytest.log
    ok=PASS
    if [[ ! -x $venv/bin/python ]] && ! "${PYTHON:-python3}" -m venv "$venv"; then
        ok=FAIL
    elif ! "$venv/bin/python" -m pip install -q --upgrade pip ||
         ! "$venv/bin/python" -m pip install -q "$ROOT[test]"; then
        echo "python: pip install .[test] failed"; ok=FAIL
    elif ! (cd "$ROOT/tests/python" &&
            "$venv/bin/python" -m pytest -q -p no:cacheprovider --durations=5 .) 2>&1 | tee "$log"; then
        ok=FAIL
    fi
    record "pytest" $ok
fi
# <<< PYTHON TESTS

# ---- summary -------------------------------------------------------------
echo
echo "==================== pydron test summary ===================="
for f in "$LOGDIR"/ctest-*.log; do
    [[ -f $f ]] || continue
    echo "--- $(basename "$f" .log):"
    grep -E "tests passed|tests failed out of|Total Test time" "$f" || true
done
if [[ -f $LOGDIR/pytest.log ]]; then
    echo "--- pytest:"; tail -n 1 "$LOGDIR/pytest.log"
fi
status=0
for i in "${!STAGES[@]}"; do
    printf '%-28s %s\n' "${STAGES[$i]}" "${RESULTS[$i]}"
    [[ ${RESULTS[$i]} == PASS ]] || status=1
done
exit $status
