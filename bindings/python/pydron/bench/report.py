"""What the harness writes: results.csv, efficiency.{png,svg},
makespan.{png,svg} and summary.md."""

from __future__ import annotations

import csv
import math
import os

from . import metrics

C_SYSTEM_NAMES = ("pydron-inline", "pydron-threads", "pydron-local", "pydron-sim")
SYSTEM_ORDER = ("pydron-inline", "pydron-threads", "pydron-local", "pydron-sim",
                "pydron-python", "sequential", "processpool", "joblib", "dask", "ray")


def _order(names):
    return sorted(names, key=lambda s: (SYSTEM_ORDER.index(s) if s in SYSTEM_ORDER else 99, s))


def write_csv(rows, path, fields):
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: r.get(k, "") for k in fields})


def read_csv(path):
    num = {"width", "steps", "tasks", "workers", "cores"}
    flt = {"duration", "work", "makespan", "efficiency", "granularity"}
    out = []
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            for k in num:
                r[k] = int(r[k]) if r.get(k) not in (None, "") else ""
            for k in flt:
                r[k] = float(r[k]) if r.get(k) not in (None, "") else ""
            out.append(r)
    return out


def metg_table(rows):
    """{(system, pattern): (metg seconds, how)} over the sweep rows."""
    pts: dict = {}
    for r in rows:
        if r["study"] == "sweep":
            pts.setdefault((r["system"], r["pattern"]), []).append(
                (r["granularity"], r["efficiency"]))
    return {k: metrics.metg(v) for k, v in pts.items()}


def fmt_time(s):
    if s is None or (isinstance(s, float) and math.isnan(s)):
        return "-"
    if s >= 1:
        return f"{s:.3g} s"
    if s >= 1e-3:
        return f"{s * 1e3:.3g} ms"
    return f"{s * 1e6:.3g} us"


def _meta(ext):
    # no creation date: the same results give the same files
    return {"Date": None} if ext == "svg" else {}


def plots(rows, out_dir, title=""):
    """efficiency vs granularity per system (one panel per pattern) and
    makespan per policy (one panel per executor). Returns the files written,
    or raises ImportError without matplotlib."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "pydron-bench"

    files = []
    sweep = [r for r in rows if r["study"] == "sweep"]
    if sweep:
        pats = list(dict.fromkeys(r["pattern"] for r in sweep))
        n = len(pats)
        cols = min(n, 2)
        nrows = (n + cols - 1) // cols
        fig, axes = plt.subplots(nrows, cols, figsize=(6.4 * cols, 4.2 * nrows), squeeze=False)
        for ax, pat in zip([a for row in axes for a in row], pats):
            for sysname in _order({r["system"] for r in sweep if r["pattern"] == pat}):
                # in sweep order (coarse to fine): granularity need not fall
                # with the duration once overhead dominates
                pts = [(r["granularity"], r["efficiency"]) for r in
                       sorted((r for r in sweep if r["pattern"] == pat and
                               r["system"] == sysname), key=lambda r: -float(r["duration"]))]
                ax.plot([p[0] * 1e6 for p in pts], [p[1] * 100 for p in pts], marker="o",
                        markersize=3, label=sysname,
                        linestyle="--" if sysname == "pydron-sim" else "-")
            ax.axhline(50, color="grey", linewidth=0.8, linestyle=":")
            ax.set_xscale("log")
            ax.set_ylim(0, 110)
            ax.set_xlabel("task granularity (us): makespan x cores / tasks")
            ax.set_ylabel("efficiency (%)")
            ax.set_title(pat)
            ax.grid(True, which="both", alpha=0.3)
        for ax in [a for row in axes for a in row][n:]:
            ax.axis("off")
        handles, labels = axes[0][0].get_legend_handles_labels()
        for row in axes:
            for ax in row:
                h, lab = ax.get_legend_handles_labels()
                for hh, ll in zip(h, lab):
                    if ll not in labels:
                        handles.append(hh)
                        labels.append(ll)
        fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5))
        fig.suptitle(title or "Efficiency vs task granularity (dotted: 50%, METG)")
        fig.tight_layout()
        for ext in ("png", "svg"):
            p = os.path.join(out_dir, f"efficiency.{ext}")
            fig.savefig(p, dpi=110, bbox_inches="tight", metadata=_meta(ext))
            files.append(p)
        plt.close(fig)
    pol = [r for r in rows if r["study"] in ("policy", "replay") and r["policy"]]
    if pol:
        exs = _order({r["system"] for r in pol})
        pats = list(dict.fromkeys(r["pattern"] for r in pol))
        policies = list(dict.fromkeys(r["policy"] for r in pol))
        fig, axes = plt.subplots(1, len(exs), figsize=(max(5.0, 0.9 * len(pats) * len(policies)
                                                            / 2) * len(exs) ** 0.5 + 3, 4.4),
                                 squeeze=False)
        w = 0.8 / max(1, len(policies))
        for ax, ex in zip(axes[0], exs):
            for k, p in enumerate(policies):
                ys = []
                for pat in pats:
                    m = [r["makespan"] for r in pol if r["system"] == ex and r["pattern"] == pat
                         and r["policy"] == p]
                    ys.append(min(m) * 1e3 if m else 0)
                ax.bar([i + (k - (len(policies) - 1) / 2) * w for i in range(len(pats))], ys,
                       width=w, label=p)
            ax.set_xticks(range(len(pats)))
            ax.set_xticklabels(pats, rotation=30, ha="right")
            ax.set_ylabel("makespan (ms)")
            ax.set_title(ex)
            ax.grid(True, axis="y", alpha=0.3)
        axes[0][0].legend(fontsize="small")
        d = next((r["duration"] for r in pol if r["duration"] != ""), None)
        fig.suptitle("Makespan per policy" + (f" ({fmt_time(d)} tasks)" if d else ""))
        fig.tight_layout()
        for ext in ("png", "svg"):
            p = os.path.join(out_dir, f"makespan.{ext}")
            fig.savefig(p, dpi=110, bbox_inches="tight", metadata=_meta(ext))
            files.append(p)
        plt.close(fig)
    return files


def markdown(rows, info, cfg, skipped, notes, calibration, images, replayed=None) -> str:
    L = []
    say = L.append
    say("## Harness results")
    say("")
    say(f"`python -m pydron.bench {cfg.get('argv', '')}`".replace(" `", "`"))
    say("")
    say(f"Machine: {info.get('cpu', '?')}, {info['cpus']} CPUs, load average {info['load']} "
        f"at the start; Python {info['python']}, pydron {info['pydron']}. "
        f"Workers: {cfg['workers']}; kernel: {cfg['kernel']} "
        + ("(tasks spin for their duration, Task Bench's busy_wait)" if cfg["kernel"] == "busy"
           else "(tasks sleep: the runtime's cost without competing for the cores)")
        + (f"; {cfg['width']} x {cfg['steps']} tasks per pattern." if not replayed else "."))
    say("")
    sweep = [r for r in rows if r["study"] == "sweep"]
    if sweep:
        say("**METG(50%)**, the minimum effective task granularity (Slaughter et al., Task "
            "Bench, SC'20): the smallest task granularity (makespan x cores / tasks) at which "
            "efficiency (work / (makespan x cores)) is still >= 50%; lower is better. "
            "'<= x': the finest task tried was still efficient; '-': no point reached 50%.")
        say("")
        mt = metg_table(rows)
        pats = list(dict.fromkeys(r["pattern"] for r in sweep))
        systems = _order({r["system"] for r in sweep})
        say("| system | " + " | ".join(pats) + " |")
        say("|---|" + "---|" * len(pats))
        for s in systems:
            cells = []
            for p in pats:
                v, how = mt.get((s, p), (math.nan, "none"))
                cells.append("-" if how == "none" else ("<= " if how == "<=" else "")
                             + fmt_time(v))
            say(f"| {s} | " + " | ".join(cells) + " |")
        say("")
        # efficiency at each task duration, per pattern (compact)
        durs = sorted({r["duration"] for r in sweep}, reverse=True)
        say("Efficiency at each task duration (blank: not run, the sweep had stopped):")
        say("")
        for p in pats:
            say(f"| {p} | " + " | ".join(fmt_time(d) for d in durs) + " |")
            say("|---|" + "---|" * len(durs))
            for s in systems:
                cells = []
                for d in durs:
                    m = [r["efficiency"] for r in sweep
                         if r["pattern"] == p and r["system"] == s and r["duration"] == d]
                    cells.append(f"{max(m):.0%}" if m else "")
                if any(cells):
                    say(f"| {s} | " + " | ".join(cells) + " |")
            say("")
    pol = [r for r in rows if r["study"] in ("policy", "replay") and r["policy"]]
    if pol:
        d = next((r["duration"] for r in pol if r["duration"] != ""), None)
        say("**Makespan per policy**" + (f" ({fmt_time(d)} tasks)" if d else "")
            + ", best in bold:")
        say("")
        policies = list(dict.fromkeys(r["policy"] for r in pol))
        say("| executor | pattern | " + " | ".join(policies) + " |")
        say("|---|---|" + "---|" * len(policies))
        for ex in _order({r["system"] for r in pol}):
            for p in dict.fromkeys(r["pattern"] for r in pol):
                vals = {}
                for q in policies:
                    m = [r["makespan"] for r in pol
                         if r["system"] == ex and r["pattern"] == p and r["policy"] == q]
                    if m:
                        vals[q] = min(m)
                if not vals:
                    continue
                best = min(vals.values())
                cells = [("**%s**" if vals.get(q) == best else "%s") % fmt_time(vals[q])
                         if q in vals else "" for q in policies]
                say(f"| {ex} | {p} | " + " | ".join(cells) + " |")
        say("")
    # the simulator against the local executor, same points
    pairs = []
    for r in rows:
        if r["system"] != "pydron-sim":
            continue
        for q in rows:
            if (q["system"] == "pydron-local" and q["study"] == r["study"]
                    and q["pattern"] == r["pattern"] and q["policy"] == r["policy"]
                    and q["duration"] == r["duration"]):
                pairs.append((r, q))
                break
    if pairs:
        say("**The simulator's prediction against the local executor** (same pattern, policy "
            "and task duration; sim calibrated as below):")
        say("")
        say("| pattern | policy | task | real local | sim | error |")
        say("|---|---|---|---|---|---|")
        errs = []
        for r, q in pairs:
            e = (r["makespan"] - q["makespan"]) / q["makespan"]
            errs.append(abs(e))
            say(f"| {r['pattern']} | {r['policy']} | "
                f"{fmt_time(r['duration']) if r['duration'] != '' else 'recorded'} | "
                f"{fmt_time(q['makespan'])} | {fmt_time(r['makespan'])} | {e:+.1%} |")
        errs.sort()
        say("")
        say(f"{len(errs)} pairs; median |error| {errs[len(errs) // 2]:.1%}, within 15%: "
            f"{sum(e <= 0.15 for e in errs)} of {len(errs)}.")
        say("")
    if replayed is not None:
        g = replayed
        say(f"**Replayed graph** {g.name}: {len(g.tasks)} tasks, {g.edges()} edges, "
            f"work {fmt_time(g.work)}, critical path {fmt_time(g.critical_path())}; the "
            f"recorded run took {fmt_time(g.makespan)} on {g.workers or '?'} workers.")
        say("")
        rep = [r for r in rows if r["study"] == "replay"]
        say("| system | policy | makespan | efficiency |")
        say("|---|---|---|---|")
        for r in rep:
            say(f"| {r['system']} | {r['policy'] or '-'} | {fmt_time(r['makespan'])} | "
                f"{r['efficiency']:.0%} |")
        say("")
    if calibration:
        c = calibration
        per = "; ".join(
            f"{fmt_time(d) if d else 'empty'} tasks: {c.task_overhead[d] * 1e6:.0f} us "
            f"({c.late[d] * 1e6:.0f} late + {c.gap[d] * 1e6:.0f} between tasks)"
            for d in sorted(c.task_overhead, reverse=True))
        say(f"Simulator calibration, measured on the local executor before the runs "
            f"(python -m pydron.bench calibrates unless --sim gives all three): "
            f"driver_overhead {c.driver_overhead * 1e6:.1f} us per job (2,000 independent "
            f"empty tasks); latency {c.latency * 1e6:.0f} us (a chain of 200 empty tasks, "
            f"{c.chain_per_task * 1e6:.0f} us per link); task_overhead per task duration, "
            f"from a recorded run of {16 * cfg['workers']} independent tasks (the median "
            f"time a task ran beyond its duration + the median gap between tasks on a "
            f"worker): {per}.")
        say("")
    # agreement of results: the C systems share pydron_bench_digest, the
    # Python systems (pydron-python included) the kernel's digest
    bad = []
    groups: dict = {}
    for r in rows:
        fam = r["system"] in C_SYSTEM_NAMES
        groups.setdefault((r["study"], r["pattern"], r["duration"], fam), set()).add(r["digest"])
    for (study, pat, dur, _fam), ds in sorted(groups.items(), key=str):
        ds.discard("")
        if len(ds) > 1:
            bad.append(f"{pat} d={dur}")
    say("Results: " + ("every system computed the same digests of the graph's outputs."
                       if not bad else "DIGESTS DIFFER for " + ", ".join(sorted(bad)) + "."))
    say("")
    if skipped:
        say("Not measured: " + "; ".join(f"{s} ({why})" for s, why in skipped.items()) + ".")
        say("")
    for n in notes:
        say(f"- note: {n}")
    if notes:
        say("")
    for img in images:
        if img.endswith(".svg"):
            name = os.path.basename(img)
            say(f"![{name[:-4]}]({cfg.get('image_prefix', '')}{name})")
            say("")
    return "\n".join(L).rstrip() + "\n"
