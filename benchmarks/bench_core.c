/*
 * bench_core.c - cost of one task through add + schedule + complete in the
 * C core, on the inline and on the threads executor, and memory per task.
 *
 * Shapes: independent tasks (each reads one shared constant) and chains
 * (each reads its predecessor's output). Output references are released
 * right after adding, as a frontend that does not look at them would.
 * Baselines measured in the same run: calling the same computation as a
 * plain C function through a pointer; a plain mutex/condvar thread pool
 * (bench_pool.c); oneTBB's task_group (bench_tbb.cpp, when built with TBB).
 * The *_vs_tbb and *_vs_pool lines are the ratios the C core is judged by
 * (issue 12: within 2x of TBB on empty and on chained tasks).
 *
 * Each run builds a graph of all its tasks, then runs it. The first run of
 * the process takes its records' memory from the kernel (page faults, zeroed
 * pages); the library keeps a freed graph's record chunks for the next
 * graph (pydron_memory_cached), so later runs reuse them, as the graphs of
 * a long-lived program do. *_cold_* lines: the chains again after
 * pydron_memory_trim, on fresh memory. *_jobs_*: the inline chains with the
 * executor's direct lane off (PYDRON_DIRECT=0: a job per task, as before
 * the lane). *_many_*: the tasks added with pydron_task_add_many, a chain
 * (or 100 independent tasks) per call, instead of one pydron_task_add
 * each. *_steal_*: the inline runs on the work-stealing policy, oneTBB's
 * own order (the newest ready task first: a chain runs depth first); the
 * others use the default FIFO policy. Bytes per task count the chunks
 * taken from that cache too.
 *
 * Prints lines "BENCH <name> <value> <unit>".
 * usage: bench_core [--tasks N] [--chain L] [--workers W] [--rounds R] [--only RUN]
 *
 * --rounds R (default 5; 0: none): the chains of the inline executor (FIFO
 * and work-stealing), the threads executor and oneTBB (on W threads, and on
 * one) again, back to back, R times; the *_paired_* lines are the medians of
 * each round's ratio. On a shared
 * machine oneTBB's figure alone moves 2x between runs a minute apart, so a
 * ratio of neighbours is the steadier one.
 *
 * --only RUN runs one of inline, inline_chain, threads, threads_chain, pool,
 * pool_chain, tbb, tbb_chain (inline and threads runs with "_steal" after
 * them: on the work-stealing policy; then "_many": added with
 * pydron_task_add_many) and prints nothing: for counting instructions
 * per task on a loaded machine (valgrind --tool=callgrind at two task
 * counts; the difference divided by the difference in tasks), where times
 * are noise. benchmarks/core_instr.sh does that.
 */
#include <pydron.h>

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_peers.h"

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void check(int rc, const char *what)
{
    if (rc) {
        fprintf(stderr, "bench_core: %s: %s (%s)\n", what, pydron_strerror(rc), pydron_error_last());
        exit(1);
    }
}

/* The work of one task: x + 1. */
static uint64_t work(uint64_t x) { return x + 1; }
static uint64_t (*volatile work_ptr)(uint64_t) = work;

static int task_fn(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *p;
    size_t n;
    uint64_t x;
    int rc = pydron_ctx_input(ctx, 0, &p, &n);
    if (rc || n != sizeof x)
        return pydron_ctx_fail(ctx, "bad input"), PYDRON_ETASK;
    memcpy(&x, p, sizeof x);
    x = work(x);
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

typedef struct run_result {
    double add_ns, run_ns; /* per task */
    uint64_t heap_per_task; /* malloc'd bytes per pending task (graph alive) */
    uint64_t kept_per_task; /* malloc'd bytes per finished task still in the graph */
    uint64_t done;
} run_result;

/* malloc'd bytes and the chunks of task and value records graphs use
 * (mapped, not malloc'd) */
static size_t heap_used(void)
{
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd + pydron_memory_records();
}

/* the policy of the runtimes run() makes */
static pydron_policy_kind bench_policy = PYDRON_POLICY_FIFO;
/* 1: run() adds with pydron_task_add_many, a chain (or MANY_BATCH
 * independent tasks) per call, as a C program that builds its graph in a
 * loop can; 0: one pydron_task_add per task */
static int bench_many = 0;
#define MANY_BATCH 100

/* The tasks of run() by pydron_task_add_many: chains of length chain, each
 * one call (a step's input is the output the same call wrote before it);
 * or independent tasks reading c, MANY_BATCH per call. The outputs are
 * released as run() releases them; the very last one is returned. */
static pydron_value add_many(pydron_graph *g, const pydron_task_desc *d, pydron_value c,
                             uint64_t ntasks, uint64_t chain)
{
    size_t b = chain ? chain : MANY_BATCH;
    pydron_task_desc *ds = malloc(b * sizeof *ds);
    pydron_value *outs = malloc(b * sizeof *outs);
    if (!ds || !outs) {
        fprintf(stderr, "bench_core: out of memory\n");
        exit(1);
    }
    for (size_t j = 0; j < b; j++) {
        ds[j] = *d;
        ds[j].inputs = chain && j ? &outs[j - 1] : &c;
        ds[j].flags = chain && j ? PYDRON_TASK_PURE | PYDRON_TASK_TAKE_INPUTS : PYDRON_TASK_PURE;
    }
    pydron_value last = PYDRON_VALUE_NONE;
    for (uint64_t i = 0; i < ntasks; i += b) {
        size_t m = ntasks - i < b ? (size_t)(ntasks - i) : b;
        check(pydron_task_add_many(g, ds, m, NULL, outs, NULL), "task_add_many");
        last = outs[m - 1];
        /* a chain's end (its steps' references passed on); all, but the
         * very last output */
        if (chain)
            m = 1, outs[0] = last;
        if (i + b < ntasks)
            check(pydron_value_release_many(g, outs, m), "release");
        else if (m > 1)
            check(pydron_value_release_many(g, outs, m - 1), "release");
    }
    free(ds);
    free(outs);
    return last;
}

/* chain == 0: independent tasks; else chains of that length. */
static run_result run(pydron_executor_kind ex, unsigned workers, uint64_t ntasks, uint64_t chain,
                      uint64_t *checksum)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = workers;
    o.policy = bench_policy;
    pydron_runtime *rt;
    check(pydron_runtime_new(&rt, &o), "runtime");
    uint32_t k;
    check(pydron_runtime_register_c(rt, "bench.inc", task_fn, NULL, &k), "kind");
    pydron_graph *g;
    check(pydron_graph_new(rt, &g), "graph");

    uint64_t zero = 0;
    pydron_value c, cur, out, last = PYDRON_VALUE_NONE;
    check(pydron_value_constant(g, &zero, sizeof zero, &c), "constant");
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_PURE;
    d.ninputs = 1;
    d.noutputs = 1;

    malloc_trim(0);
    size_t heap0 = heap_used();
    uint64_t t0 = now_ns();
    cur = c;
    if (bench_many)
        out = add_many(g, &d, c, ntasks, chain);
    for (uint64_t i = 0; i < ntasks && !bench_many; i++) {
        if (chain && i % chain == 0)
            cur = c;
        d.inputs = chain ? &cur : &c;
        /* a chain step takes the caller's reference on the step before (as
         * add + release, in one call); not the first, which reads c */
        d.flags = chain && cur.id != c.id ? PYDRON_TASK_PURE | PYDRON_TASK_TAKE_INPUTS
                                          : PYDRON_TASK_PURE;
        check(pydron_task_add(g, &d, NULL, &out), "task_add");
        if (chain) {
            cur = out;
            /* keep the end of the last chain to read the result */
            if ((i + 1) % chain == 0 && i + 1 < ntasks)
                check(pydron_value_release(g, out), "release");
        } else if (i + 1 < ntasks) {
            check(pydron_value_release(g, out), "release");
        }
    }
    last = out;
    uint64_t t1 = now_ns();
    size_t heap1 = heap_used();
    check(pydron_graph_run(g, -1), "run");
    uint64_t t2 = now_ns();
    size_t heap2 = heap_used();

    const void *p;
    size_t n;
    check(pydron_value_bytes(g, last, &p, &n), "result");
    memcpy(checksum, p, sizeof *checksum);
    pydron_graph_stats s;
    check(pydron_graph_stats_get(g, &s), "stats");

    run_result r;
    r.add_ns = (double)(t1 - t0) / (double)ntasks;
    r.run_ns = (double)(t2 - t1) / (double)ntasks;
    r.heap_per_task = heap1 > heap0 ? (heap1 - heap0) / ntasks : 0;
    r.kept_per_task = heap2 > heap0 ? (heap2 - heap0) / ntasks : 0;
    r.done = s.tasks_done;
    check(pydron_value_release(g, last), "release");
    check(pydron_value_release(g, c), "release");
    check(pydron_graph_free(g), "graph_free");
    check(pydron_runtime_free(rt), "runtime_free");
    if (r.done != ntasks) {
        fprintf(stderr, "bench_core: %llu of %llu tasks done\n", (unsigned long long)r.done,
                (unsigned long long)ntasks);
        exit(1);
    }
    return r;
}

/* run(), exiting with a message unless the result is right: 1 for
 * independent tasks, the last chain's length for chains */
static run_result checked(pydron_executor_kind ex, unsigned workers, uint64_t ntasks,
                          uint64_t chain)
{
    uint64_t sum, want = chain ? (ntasks % chain ? ntasks % chain : chain) : 1;
    run_result r = run(ex, workers, ntasks, chain, &sum);
    if (sum != want) {
        fprintf(stderr, "bench_core: wrong %sresult %llu\n", chain ? "chain " : "",
                (unsigned long long)sum);
        exit(1);
    }
    return r;
}

/* --only: one run, checked, silent */
static int run_only(const char *name, unsigned workers, uint64_t ntasks, uint64_t chain)
{
    size_t len = strlen(name);
    if (len > 5 && !strcmp(name + len - 5, "_many")) {
        bench_many = 1;
        len -= 5;
    }
    if (len > 6 && !strncmp(name + len - 6, "_steal", 6)) {
        bench_policy = PYDRON_POLICY_WORK_STEALING;
        len -= 6;
    }
    int is_chain = len > 6 && !strncmp(name + len - 6, "_chain", 6);
    uint64_t want = is_chain ? (ntasks % chain ? ntasks % chain : chain) : 1, sum = 0;
    uint64_t sh = is_chain ? chain : 0;
    double ns;
    run_result rr = {0};
    if (!strncmp(name, "inline", 6))
        rr = run(PYDRON_EXECUTOR_INLINE, 0, ntasks, sh, &sum);
    else if (!strncmp(name, "threads", 7))
        rr = run(PYDRON_EXECUTOR_THREADS, workers, ntasks, sh, &sum);
    else if (!strncmp(name, "pool", 4))
        bench_pool_run(workers, ntasks, sh, work_ptr, &ns, &sum);
#ifdef PYDRON_BENCH_TBB
    else if (!strncmp(name, "tbb", 3))
        bench_tbb_run(workers, ntasks, sh, work_ptr, &ns, &sum);
#endif
    else
        return fprintf(stderr, "bench_core: unknown --only %s\n", name), 2;
    if (sum != want)
        return fprintf(stderr, "bench_core: %s: wrong result %llu\n", name, (unsigned long long)sum), 1;
    if (rr.done)   /* the core's runs: their figures (the peers' are their own) */
        printf("BENCH only_%s_per_task %.0f ns (add %.0f, run %.0f)\n", name,
               rr.add_ns + rr.run_ns, rr.add_ns, rr.run_ns);
    return 0;
}

#ifdef PYDRON_BENCH_TBB
static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Chains on the inline executor (FIFO, work-stealing), the threads executor
 * and oneTBB (on `workers` threads, and on one: the inline executor's one
 * thread), back to back, `rounds` times: the median of each round's ratio. */
static int paired(unsigned workers, uint64_t ntasks, uint64_t chain, unsigned rounds)
{
    double *v = calloc(7 * (size_t)rounds, sizeof *v);
    if (!v)
        return fprintf(stderr, "bench_core: out of memory\n"), 1;
    double *fifo = v, *steal = v + rounds, *thr = v + 2 * rounds, *steal1 = v + 3 * rounds;
    double *mfifo = v + 4 * rounds, *msteal = v + 5 * rounds, *mthr = v + 6 * rounds;
    uint64_t want = ntasks % chain ? ntasks % chain : chain, chk;
    printf("# paired rounds (ns per chained task: inline fifo, inline work-stealing, threads, "
           "tbb, tbb on one thread; then added by pydron_task_add_many: inline fifo, inline "
           "work-stealing, threads):");
    for (unsigned r = 0; r < rounds; r++) {
        bench_policy = PYDRON_POLICY_FIFO;
        run_result a = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
        bench_policy = PYDRON_POLICY_WORK_STEALING;
        run_result b = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
        bench_policy = PYDRON_POLICY_FIFO;
        run_result c = checked(PYDRON_EXECUTOR_THREADS, workers, ntasks, chain);
        bench_many = 1;
        run_result ma = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
        bench_policy = PYDRON_POLICY_WORK_STEALING;
        run_result mb = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
        bench_policy = PYDRON_POLICY_FIFO;
        run_result mc = checked(PYDRON_EXECUTOR_THREADS, workers, ntasks, chain);
        bench_many = 0;
        double t, t1;
        bench_tbb_run(workers, ntasks, chain, work_ptr, &t, &chk);
        if (chk != want)
            return fprintf(stderr, "bench_core: tbb: wrong chain result\n"), 1;
        bench_tbb_run(1, ntasks, chain, work_ptr, &t1, &chk);
        if (chk != want)
            return fprintf(stderr, "bench_core: tbb: wrong chain result\n"), 1;
        fifo[r] = (a.add_ns + a.run_ns) / t;
        steal[r] = (b.add_ns + b.run_ns) / t;
        thr[r] = (c.add_ns + c.run_ns) / t;
        steal1[r] = (b.add_ns + b.run_ns) / t1;
        mfifo[r] = (ma.add_ns + ma.run_ns) / t;
        msteal[r] = (mb.add_ns + mb.run_ns) / t;
        mthr[r] = (mc.add_ns + mc.run_ns) / t;
        printf(" %.0f/%.0f/%.0f/%.0f/%.0f;%.0f/%.0f/%.0f", a.add_ns + a.run_ns,
               b.add_ns + b.run_ns, c.add_ns + c.run_ns, t, t1, ma.add_ns + ma.run_ns,
               mb.add_ns + mb.run_ns, mc.add_ns + mc.run_ns);
    }
    printf("\n");
    printf("BENCH core_inline_chain_paired_vs_tbb %.2f x\n", median(fifo, rounds));
    printf("BENCH core_inline_chain_steal_paired_vs_tbb %.2f x\n", median(steal, rounds));
    printf("BENCH core_threads_chain_paired_vs_tbb %.2f x\n", median(thr, rounds));
    printf("BENCH core_inline_chain_steal_paired_vs_tbb_one_thread %.2f x\n", median(steal1, rounds));
    printf("BENCH core_inline_chain_many_paired_vs_tbb %.2f x\n", median(mfifo, rounds));
    printf("BENCH core_inline_chain_steal_many_paired_vs_tbb %.2f x\n", median(msteal, rounds));
    printf("BENCH core_threads_chain_many_paired_vs_tbb %.2f x\n", median(mthr, rounds));
    free(v);
    return 0;
}
#endif

int main(int argc, char **argv)
{
    uint64_t ntasks = 1000000, chain = 100;
    unsigned workers = 0, rounds = 5;
    const char *only = NULL;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tasks"))
            ntasks = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--chain"))
            chain = strtoull(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--workers"))
            workers = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else if (!strcmp(argv[i], "--only"))
            only = argv[i + 1];
        else if (!strcmp(argv[i], "--rounds"))
            rounds = (unsigned)strtoul(argv[i + 1], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_core [--tasks N] [--chain L] [--workers W] [--rounds R] "
                            "[--only RUN]\n");
            return 2;
        }
    }
    if (ntasks < chain || chain < 1) {
        fprintf(stderr, "bench_core: need --tasks >= --chain >= 1\n");
        return 2;
    }

    if (only)
        return run_only(only, workers, ntasks, chain);

    /* baseline: the same work as a plain call through a pointer */
    uint64_t x = 0, t0 = now_ns();
    for (uint64_t i = 0; i < ntasks; i++)
        x = work_ptr(x);
    double base = (double)(now_ns() - t0) / (double)ntasks;
    if (x != ntasks)
        return 1;

    run_result ii = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, 0);
    run_result ic = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
    /* the same on the job path (the inline executor's direct lane off:
     * PYDRON_DIRECT is read when a runtime is made), for a same-run ratio */
    const char *was = getenv("PYDRON_DIRECT");
    char *keep = was ? strdup(was) : NULL;
    setenv("PYDRON_DIRECT", "0", 1);
    run_result icj = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
    if (keep)
        setenv("PYDRON_DIRECT", keep, 1), free(keep);
    else
        unsetenv("PYDRON_DIRECT");
    /* the same on memory the process never had: the first large graph of a
     * process (the others reuse the records' chunks of freed graphs) */
    pydron_memory_trim();
    run_result icc = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
    /* the work-stealing policy (oneTBB's own discipline: a worker takes the
     * newest task it made ready, so a chain runs depth first) */
    bench_policy = PYDRON_POLICY_WORK_STEALING;
    run_result iis = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, 0);
    run_result ics = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
    bench_policy = PYDRON_POLICY_FIFO;
    /* added with pydron_task_add_many */
    bench_many = 1;
    run_result iim = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, 0);
    run_result icm = checked(PYDRON_EXECUTOR_INLINE, 0, ntasks, chain);
    bench_many = 0;
    run_result ti = checked(PYDRON_EXECUTOR_THREADS, workers, ntasks, 0);
    run_result tc = checked(PYDRON_EXECUTOR_THREADS, workers, ntasks, chain);

    /* the peers, same shapes, same thread count as the threads executor */
    double pool_i, pool_c;
    uint64_t chk;
    unsigned pool_n = (unsigned)bench_pool_run(workers, ntasks, 0, work_ptr, &pool_i, &chk);
    if (chk != 1)
        return fprintf(stderr, "bench_core: pool: wrong result\n"), 1;
    bench_pool_run(workers, ntasks, chain, work_ptr, &pool_c, &chk);
    if (chk != (ntasks % chain ? ntasks % chain : chain))
        return fprintf(stderr, "bench_core: pool: wrong chain result\n"), 1;
#ifdef PYDRON_BENCH_TBB
    double tbb_i, tbb_c;
    unsigned tbb_n = (unsigned)bench_tbb_run(workers, ntasks, 0, work_ptr, &tbb_i, &chk);
    if (chk != 1)
        return fprintf(stderr, "bench_core: tbb: wrong result\n"), 1;
    bench_tbb_run(workers, ntasks, chain, work_ptr, &tbb_c, &chk);
    if (chk != (ntasks % chain ? ntasks % chain : chain))
        return fprintf(stderr, "bench_core: tbb: wrong chain result\n"), 1;
#endif

    printf("# %llu tasks per run; chains of %llu; add = building the graph, run = "
           "schedule + execute + complete\n",
           (unsigned long long)ntasks, (unsigned long long)chain);
    printf("# pool: %u threads", pool_n);
#ifdef PYDRON_BENCH_TBB
    printf("; tbb task_group: %u threads", tbb_n);
#else
    printf("; tbb: not built (install libtbb-dev: scripts/deps.sh bench)");
#endif
    printf("\n");
    printf("BENCH baseline_call %.1f ns\n", base);
    printf("BENCH core_inline_per_task %.0f ns\n", ii.add_ns + ii.run_ns);
    printf("BENCH core_inline_add_per_task %.0f ns\n", ii.add_ns);
    printf("BENCH core_inline_run_per_task %.0f ns\n", ii.run_ns);
    printf("BENCH core_inline_chain_per_task %.0f ns\n", ic.add_ns + ic.run_ns);
    printf("BENCH core_inline_chain_add_per_task %.0f ns\n", ic.add_ns);
    printf("BENCH core_inline_chain_run_per_task %.0f ns\n", ic.run_ns);
    printf("BENCH core_inline_chain_jobs_run_per_task %.0f ns\n", icj.run_ns);
    printf("BENCH core_inline_chain_lane_vs_jobs %.2f x\n", ic.run_ns / icj.run_ns);
    printf("BENCH core_inline_chain_cold_per_task %.0f ns\n", icc.add_ns + icc.run_ns);
    printf("BENCH core_inline_chain_cold_add_per_task %.0f ns\n", icc.add_ns);
    printf("BENCH core_inline_steal_per_task %.0f ns\n", iis.add_ns + iis.run_ns);
    printf("BENCH core_inline_chain_steal_per_task %.0f ns\n", ics.add_ns + ics.run_ns);
    printf("BENCH core_inline_chain_steal_add_per_task %.0f ns\n", ics.add_ns);
    printf("BENCH core_inline_chain_steal_run_per_task %.0f ns\n", ics.run_ns);
    printf("BENCH core_inline_many_per_task %.0f ns\n", iim.add_ns + iim.run_ns);
    printf("BENCH core_inline_many_add_per_task %.0f ns\n", iim.add_ns);
    printf("BENCH core_inline_chain_many_per_task %.0f ns\n", icm.add_ns + icm.run_ns);
    printf("BENCH core_inline_chain_many_add_per_task %.0f ns\n", icm.add_ns);
    printf("BENCH core_threads_per_task %.0f ns\n", ti.add_ns + ti.run_ns);
    printf("BENCH core_threads_run_per_task %.0f ns\n", ti.run_ns);
    printf("BENCH core_threads_chain_per_task %.0f ns\n", tc.add_ns + tc.run_ns);
    printf("BENCH core_threads_chain_add_per_task %.0f ns\n", tc.add_ns);
    printf("BENCH core_threads_chain_run_per_task %.0f ns\n", tc.run_ns);
    printf("BENCH core_bytes_per_task %llu B\n", (unsigned long long)ii.heap_per_task);
    printf("BENCH core_bytes_per_task_chain %llu B\n", (unsigned long long)ic.heap_per_task);
    printf("BENCH core_bytes_kept_per_done_task %llu B\n", (unsigned long long)ii.kept_per_task);
    printf("BENCH core_inline_vs_call %.1f x\n", (ii.add_ns + ii.run_ns) / (base > 0 ? base : 1));
    double ci = ii.add_ns + ii.run_ns, cc = ic.add_ns + ic.run_ns;
    double ti_ = ti.add_ns + ti.run_ns, tc_ = tc.add_ns + tc.run_ns;
    printf("BENCH pool_per_task %.0f ns\n", pool_i);
    printf("BENCH pool_chain_per_task %.0f ns\n", pool_c);
    printf("BENCH core_inline_vs_pool %.2f x\n", ci / pool_i);
    printf("BENCH core_inline_chain_vs_pool %.2f x\n", cc / pool_c);
    printf("BENCH core_threads_vs_pool %.2f x\n", ti_ / pool_i);
    printf("BENCH core_threads_chain_vs_pool %.2f x\n", tc_ / pool_c);
#ifdef PYDRON_BENCH_TBB
    printf("BENCH tbb_per_task %.0f ns\n", tbb_i);
    printf("BENCH tbb_chain_per_task %.0f ns\n", tbb_c);
    printf("BENCH core_inline_vs_tbb %.2f x\n", ci / tbb_i);
    printf("BENCH core_inline_chain_vs_tbb %.2f x\n", cc / tbb_c);
    printf("BENCH core_inline_many_vs_tbb %.2f x\n", (iim.add_ns + iim.run_ns) / tbb_i);
    printf("BENCH core_inline_chain_many_vs_tbb %.2f x\n", (icm.add_ns + icm.run_ns) / tbb_c);
    printf("BENCH core_inline_chain_cold_vs_tbb %.2f x\n", (icc.add_ns + icc.run_ns) / tbb_c);
    printf("BENCH core_inline_steal_vs_tbb %.2f x\n", (iis.add_ns + iis.run_ns) / tbb_i);
    printf("BENCH core_inline_chain_steal_vs_tbb %.2f x\n", (ics.add_ns + ics.run_ns) / tbb_c);
    printf("BENCH core_threads_vs_tbb %.2f x\n", ti_ / tbb_i);
    printf("BENCH core_threads_chain_vs_tbb %.2f x\n", tc_ / tbb_c);
    if (rounds)
        return paired(workers, ntasks, chain, rounds);
#else
    (void)rounds;   /* the paired rounds are against oneTBB */
#endif
    return 0;
}
