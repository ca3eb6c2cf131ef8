"""``python -m pydron.bench``: compare schedulers and systems on Task Bench's
patterns (Slaughter et al., SC'20) or on a graph recorded with
PYDRON_RECORD.

It runs the chosen patterns on the chosen systems - pydron's executors
(inline, threads, local, and the simulator, through the pydron-bench
program that ships in the package), pydron's Python frontend, and peers
where installed (ProcessPoolExecutor, joblib, dask, ray) - sweeping the task
duration, and the patterns with every policy on the chosen executors. It
writes into --out: results.csv (one row per measurement), efficiency.png/.svg
(efficiency vs task granularity per system), makespan.png/.svg (makespan per
policy) and summary.md (METG table, policy table, simulator vs real).

    python -m pydron.bench                         # defaults: a few minutes
    python -m pydron.bench --quick                 # a smoke run (seconds)
    python -m pydron.bench --patterns fft,tree --systems pydron-local,dask
    PYDRON_RECORD=run.jsonl python prog.py && python -m pydron.bench --replay run.jsonl

docs/schedulers.md describes the measures and shows this machine's results.
"""

from .graph import Graph, RecordError, Task, pattern, read_record  # noqa: F401
from .metrics import efficiency, granularity, metg  # noqa: F401
