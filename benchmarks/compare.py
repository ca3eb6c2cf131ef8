#!/usr/bin/env python3
"""Compare schedulers and systems: the same as `python -m pydron.bench`
(see bindings/python/pydron/bench), runnable from a checkout.

    python benchmarks/compare.py --quick
    python benchmarks/compare.py --patterns stencil-1d,fft --systems pydron-local,pydron-sim,dask

It needs the installed package (pip install '.[bench]'); with a plain CMake
build, PYDRON_BENCH_BIN=build/benchmarks/pydron-bench picks that pydron-bench.
"""

import sys

from pydron.bench.cli import main

if __name__ == "__main__":
    sys.exit(main())
