/*
 * pydron-bench - run one Task Bench pattern (or a recorded graph) on one
 * executor with one policy and print one JSON line with the makespan.
 * The harness (python -m pydron.bench, benchmarks/compare.py) calls it for
 * every point of its sweep; it is also handy by hand:
 *
 *   pydron-bench --pattern stencil-1d --width 4 --steps 50 --duration 0.01 \
 *                --executor local --workers 2 --policy heft
 *   pydron-bench --pattern fft --width 1000 --steps 1000 --duration 0.001 \
 *                --executor sim --workers 1000 --latency 5e-5
 *   pydron-bench --replay run.jsonl --executor sim --workers 8
 *
 * Makespan: wall time of pydron_graph_run after the executor is warm (its
 * workers started by a first one-task graph); on the simulator, the
 * virtual time it took.
 */
#define _GNU_SOURCE
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "pydron-bench: %s: %s (%s)\n", what, pydron_strerror(rc), pydron_error_last());
    exit(1);
}
#define CK(what, expr)                                                                           \
    do {                                                                                         \
        int rc_ = (expr);                                                                        \
        if (rc_)                                                                                 \
            die(what, rc_);                                                                      \
    } while (0)

static void usage(void)
{
    fprintf(stderr,
            "usage: pydron-bench [--pattern NAME --width N --steps N --duration S --bytes B\n"
            "                     --radix R --seed S --imbalance F --kernel busy|sleep\n"
            "                     | --replay FILE [--graph G]]\n"
            "                    [--executor inline|threads|local|sim] [--policy NAME]\n"
            "                    [--workers N] [--repeat N]\n"
            "                    [sim: --cores C --latency S --bandwidth B/s --task-overhead S\n"
            "                          --driver-overhead S --jitter F --sim-seed S]\n");
    exit(2);
}

/* ------------------------------------------------------------ replay */

typedef struct vmap {
    uint64_t *key;
    pydron_value *val;
    size_t cap, len;
} vmap;

static size_t vslot(const vmap *m, uint64_t k)
{
    uint64_t h = k * 0x9e3779b97f4a7c15ull;
    size_t i = (size_t)(h >> 20) & (m->cap - 1);
    while (m->key[i] && m->key[i] != k)
        i = (i + 1) & (m->cap - 1);
    return i;
}

static void vmap_put(vmap *m, uint64_t k, pydron_value v)
{
    if ((m->len + 1) * 2 > m->cap) {
        vmap n = {NULL, NULL, m->cap ? m->cap * 2 : 1024, 0};
        n.key = calloc(n.cap, sizeof *n.key);
        n.val = calloc(n.cap, sizeof *n.val);
        if (!n.key || !n.val)
            die("replay", PYDRON_ENOMEM);
        for (size_t i = 0; i < m->cap; i++)
            if (m->key[i]) {
                size_t s = vslot(&n, m->key[i]);
                n.key[s] = m->key[i];
                n.val[s] = m->val[i];
                n.len++;
            }
        free(m->key);
        free(m->val);
        *m = n;
    }
    size_t s = vslot(m, k);
    if (!m->key[s])
        m->len++;
    m->key[s] = k;
    m->val[s] = v;
}

static int vmap_get(const vmap *m, uint64_t k, pydron_value *v)
{
    if (!m->cap)
        return 0;
    size_t s = vslot(m, k);
    if (!m->key[s])
        return 0;
    *v = m->val[s];
    return 1;
}

static const char *field(const char *line, const char *name)
{
    char key[64];
    snprintf(key, sizeof key, "\"%s\":", name);
    const char *p = strstr(line, key);
    return p ? p + strlen(key) : NULL;
}

/* Pairs [[id,bytes],...] after "name": into ids/sizes (at most cap). */
static size_t pairs(const char *line, const char *name, uint64_t *ids, uint64_t *sizes, size_t cap)
{
    const char *p = field(line, name);
    size_t n = 0;
    if (!p || *p != '[')
        return 0;
    p++;
    while (*p == '[' && n < cap) {
        char *e;
        ids[n] = strtoull(p + 1, &e, 10);
        if (*e != ',')
            break;
        sizes[n] = strtoull(e + 1, &e, 10);
        if (*e != ']')
            break;
        n++;
        p = e + 1;
        if (*p == ',')
            p++;
    }
    return n;
}

static unsigned replay_kernel = PYDRON_BENCH_BUSY;

/* Add the tasks of graph `which` (0: the first) of a PYDRON_RECORD file as
 * bench tasks with their measured durations and output sizes. */
static size_t replay(pydron_runtime *rt, pydron_graph *g, const char *path, unsigned which,
                     double *work)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(stderr, "pydron-bench: cannot read %s\n", path);
        exit(1);
    }
    uint32_t bk;
    CK("bench kind", pydron_runtime_kind(rt, PYDRON_KIND_BENCH, &bk));
    vmap made = {0}, consts = {0};
    char *line = NULL;
    size_t cap = 0, ntasks = 0;
    enum { MAXIO = 4096 };
    static uint64_t iid[MAXIO], isz[MAXIO], oid[MAXIO], osz[MAXIO];
    static pydron_value ins[MAXIO], outs[MAXIO];
    *work = 0;
    while (getline(&line, &cap, f) > 0) {
        const char *gp = field(line, "graph");
        if (!gp)
            continue;   /* the header */
        unsigned gid = (unsigned)strtoul(gp, NULL, 10);
        if (!which)
            which = gid;
        if (gid != which || !strstr(line, "\"state\":\"done\""))
            continue;
        const char *s = field(line, "start_ns"), *e = field(line, "end_ns");
        uint64_t t0 = s ? strtoull(s, NULL, 10) : 0, t1 = e ? strtoull(e, NULL, 10) : 0;
        double d = t1 > t0 && t0 ? (double)(t1 - t0) * 1e-9 : 0;
        size_t ni = pairs(line, "inputs", iid, isz, MAXIO);
        size_t no = pairs(line, "outputs", oid, osz, MAXIO);
        for (size_t i = 0; i < ni; i++) {
            if (vmap_get(&made, iid[i], &ins[i]) || vmap_get(&consts, iid[i], &ins[i]))
                continue;
            /* made by the program, not by a recorded task: a constant */
            void *z = calloc(1, isz[i] ? (size_t)isz[i] : 1);
            if (!z)
                die("replay", PYDRON_ENOMEM);
            CK("constant", pydron_value_constant(g, z, (size_t)isz[i], &ins[i]));
            free(z);
            vmap_put(&consts, iid[i], ins[i]);
        }
        /* one output size for all: the largest (bench tasks have one size) */
        uint64_t ob = 0;
        for (size_t o = 0; o < no; o++)
            ob = osz[o] > ob ? osz[o] : ob;
        pydron_bench_task bt = {PYDRON_BENCH_MAGIC, 1, (uint64_t)llround(d * 1e9), ob, ntasks,
                                replay_kernel, 0};
        pydron_task_desc td = PYDRON_TASK_DESC_INIT;
        td.kind = bk;
        td.flags = PYDRON_TASK_PURE;
        td.ninputs = ni;
        td.inputs = ins;
        td.noutputs = no;
        td.payload = &bt;
        td.payload_len = sizeof bt;
        td.duration_hint = d;
        CK("replay task", pydron_task_add(g, &td, NULL, outs));
        for (size_t o = 0; o < no; o++)
            vmap_put(&made, oid[o], outs[o]);
        *work += d;
        ntasks++;
    }
    free(line);
    fclose(f);
    /* the graph holds what it needs; our references go */
    for (size_t i = 0; i < made.cap; i++)
        if (made.key[i])
            (void)pydron_value_release(g, made.val[i]);
    for (size_t i = 0; i < consts.cap; i++)
        if (consts.key[i])
            (void)pydron_value_release(g, consts.val[i]);
    free(made.key);
    free(made.val);
    free(consts.key);
    free(consts.val);
    return ntasks;
}

/* ------------------------------------------------------------ main */

int main(int argc, char **argv)
{
    pydron_pattern p = PYDRON_PATTERN_INIT;
    p.width = 4;
    p.steps = 10;
    p.duration = 0.001;
    const char *executor = "inline", *policy = "fifo", *replay_path = NULL;
    unsigned workers = 0, repeat = 1, graph_id = 0;
    pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
#define OPT(name) (!strcmp(a, name) && v && (i++, 1))
        if (OPT("--pattern"))
            p.name = v;
        else if (OPT("--width"))
            p.width = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--steps"))
            p.steps = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--duration"))
            p.duration = strtod(v, NULL);
        else if (OPT("--bytes"))
            p.output_bytes = strtoull(v, NULL, 10);
        else if (OPT("--radix"))
            p.radix = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--seed"))
            p.seed = strtoull(v, NULL, 10);
        else if (OPT("--kernel"))
            p.kernel = replay_kernel = !strcmp(v, "sleep") ? PYDRON_BENCH_SLEEP : PYDRON_BENCH_BUSY;
        else if (OPT("--imbalance"))
            p.imbalance = strtod(v, NULL);
        else if (OPT("--replay"))
            replay_path = v;
        else if (OPT("--graph"))
            graph_id = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--executor"))
            executor = v;
        else if (OPT("--policy"))
            policy = v;
        else if (OPT("--workers"))
            workers = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--repeat"))
            repeat = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--cores"))
            so.cores = (unsigned)strtoul(v, NULL, 10);
        else if (OPT("--latency"))
            so.latency = strtod(v, NULL);
        else if (OPT("--bandwidth"))
            so.bandwidth = strtod(v, NULL);
        else if (OPT("--task-overhead"))
            so.task_overhead = strtod(v, NULL);
        else if (OPT("--driver-overhead"))
            so.driver_overhead = strtod(v, NULL);
        else if (OPT("--jitter"))
            so.jitter = strtod(v, NULL);
        else if (OPT("--sim-seed"))
            so.seed = strtoull(v, NULL, 10);
        else
            usage();
#undef OPT
    }
    pydron_policy_kind pk;
    CK("--policy", pydron_policy_from_name(policy, &pk));
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = pk;
    o.workers = workers;
    int sim = !strcmp(executor, "sim");
    if (!strcmp(executor, "threads"))
        o.executor = PYDRON_EXECUTOR_THREADS;
    else if (!strcmp(executor, "local"))
        o.executor = PYDRON_EXECUTOR_LOCAL;
    else if (strcmp(executor, "inline") && !sim) {
        fprintf(stderr, "pydron-bench: --executor must be inline, threads, local or sim\n");
        return 2;
    }
    pydron_runtime *rt;
    CK("runtime", pydron_runtime_new(&rt, &o));
    if (sim) {
        so.workers = workers;
        CK("sim executor", pydron_runtime_use_executor(rt, "sim", &so));
    }
    /* warm up: start the executor (workers, processes) outside the timing */
    {
        pydron_graph *g;
        CK("graph", pydron_graph_new(rt, &g));
        pydron_pattern w = PYDRON_PATTERN_INIT;
        w.duration = 0;
        CK("warm-up", pydron_pattern_build(rt, g, &w, NULL, 0, NULL));
        CK("warm-up run", pydron_graph_run(g, -1));
        CK("graph free", pydron_graph_free(g));
    }
    unsigned nworkers = 1;
    (void)pydron_runtime_nworkers(rt, &nworkers);
    for (unsigned r = 0; r < repeat; r++) {
        pydron_graph *g;
        CK("graph", pydron_graph_new(rt, &g));
        double t0 = now_s(), work = 0;
        size_t ntasks = 0;
        pydron_value last[64];
        size_t nlast = 0;
        memset(last, 0, sizeof last);
        if (replay_path) {
            ntasks = replay(rt, g, replay_path, graph_id, &work);
        } else {
            CK("pattern", pydron_pattern_build(rt, g, &p, last, 64, &ntasks));
            nlast = p.width < 64 ? p.width : 64;
            work = (double)ntasks * p.duration;
        }
        double built = now_s();
        pydron_sim_stats s0 = {0}, s1 = {0};
        if (sim)
            CK("sim stats", pydron_sim_stats_get(rt, &s0));
        double t1 = now_s();
        CK("run", pydron_graph_run(g, -1));
        double t2 = now_s();
        if (sim)
            CK("sim stats", pydron_sim_stats_get(rt, &s1));
        uint64_t digest = 0;
        for (size_t i = 0; i < nlast && last[i].id; i++) {
            const void *d;
            size_t len;
            if (pydron_value_bytes(g, last[i], &d, &len) == 0) {
                uint64_t v = 0;
                for (int k = (len < 8 ? (int)len : 8) - 1; k >= 0; k--)
                    v = (v << 8) | ((const unsigned char *)d)[k];
                digest = digest * 1099511628211ull + v;
            }
            (void)pydron_value_release(g, last[i]);
        }
        pydron_graph_stats gs;
        CK("stats", pydron_graph_stats_get(g, &gs));
        CK("graph free", pydron_graph_free(g));
        double makespan = sim ? s1.clock - s0.clock : t2 - t1;
        unsigned cores = sim ? nworkers * (so.cores ? so.cores : 1) : nworkers;
        if (!sim && o.executor == PYDRON_EXECUTOR_THREADS)
            cores = workers ? workers : (unsigned)sysconf(_SC_NPROCESSORS_ONLN);   /* one location */
        printf("{\"pattern\":\"%s\",\"executor\":\"%s\",\"policy\":\"%s\",\"workers\":%u,"
               "\"cores\":%u,\"width\":%u,\"steps\":%u,\"duration\":%.9g,\"bytes\":%" PRIu64
               ",\"kernel\":\"%s\",\"tasks\":%zu,\"failed\":%" PRIu64 ",\"work\":%.9g,\"makespan\":%.9g,"
               "\"efficiency\":%.6g,\"build_s\":%.6g,\"wall_s\":%.6g,\"digest\":\"%016" PRIx64
               "\"",
               replay_path ? "replay" : p.name, executor, pydron_policy_name(pk), nworkers, cores,
               p.width, p.steps, p.duration, p.output_bytes,
               p.kernel == PYDRON_BENCH_SLEEP ? "sleep" : "busy", ntasks, gs.tasks_failed, work,
               makespan, makespan > 0 ? work / (makespan * cores) : 0, built - t0, t2 - t1,
               digest);
        if (sim)
            printf(",\"transfers\":%" PRIu64 ",\"bytes_moved\":%" PRIu64 ",\"events\":%" PRIu64,
                   s1.transfers - s0.transfers, s1.bytes_moved - s0.bytes_moved,
                   s1.events - s0.events);
        printf("}\n");
        fflush(stdout);
    }
    CK("runtime free", pydron_runtime_free(rt));
    return 0;
}
