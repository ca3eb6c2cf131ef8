/*
 * test_sched_order.c - SYNC tasks run on the driver in tick order whatever
 * order PURE tasks complete in. Property style: for many seeds, a random
 * program of PURE and SYNC steps runs on a custom executor that completes
 * PURE jobs in a random order (and, threaded, after random delays); the SYNC
 * log must be in tick order and every value must equal a plain sequential
 * run of the same program and the run on the inline executor.
 */
#include "testutil.h"

#define MAXSTEPS 256
#define MAXIN 3

typedef struct prog {
    int n;
    int sync[MAXSTEPS];          /* 1: SYNC step, 0: PURE */
    int nin[MAXSTEPS];
    int in[MAXSTEPS][MAXIN];     /* -1..-4: constant k, else earlier step */
    uint64_t consts[4];
    int add_at_once;             /* steps added before the graph starts */
} prog;

typedef struct sctx {
    pthread_t driver;
    uint64_t acc;                /* driver state mutated by SYNC steps */
    int log[MAXSTEPS];
    int nlog;
    int sync_off_driver;
} sctx;

static uint64_t pure_fn(uint64_t step, const uint64_t *in, int nin)
{
    uint64_t h = step * 0x100000001B3ull;
    for (int i = 0; i < nin; i++)
        h = tu_mix(h ^ (in[i] << (i + 1)) ^ in[i]);
    return tu_mix(h);
}

static uint64_t sync_fn(sctx *c, uint64_t step, const uint64_t *in, int nin)
{
    /* order-dependent: the result depends on every SYNC step before it */
    uint64_t h = c->acc * 31 + step;
    for (int i = 0; i < nin; i++)
        h ^= tu_mix(in[i] + (uint64_t)i);
    c->acc = tu_mix(h);
    return c->acc;
}

static int read_inputs(pydron_task_ctx *ctx, uint64_t *in, int *nin)
{
    *nin = (int)pydron_ctx_ninputs(ctx);
    int rc = 0;
    for (int i = 0; i < *nin; i++)
        in[i] = tu_input_u64(ctx, (size_t)i, &rc);
    return rc;
}

/* When set, PURE bodies sleep a pseudo-random 0..300 us (by step), so the
 * real thread pool finishes them in a scrambled order. */
static int pure_jitter;

static int fn_pure(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    if (pure_jitter)
        usleep((useconds_t)(tu_mix(tu_payload_u64(ctx) ^ 0xabcdefu) % 301));
    uint64_t in[MAXIN];
    int nin;
    if (read_inputs(ctx, in, &nin))
        return pydron_ctx_fail(ctx, "pure: bad input"), PYDRON_ETASK;
    uint64_t r = pure_fn(tu_payload_u64(ctx), in, nin);
    return pydron_ctx_output_set(ctx, 0, &r, sizeof r);
}

static int fn_sync(pydron_task_ctx *ctx, void *user)
{
    sctx *c = (sctx *)user;
    if (!pthread_equal(pthread_self(), c->driver))
        c->sync_off_driver = 1;
    uint64_t in[MAXIN];
    int nin;
    if (read_inputs(ctx, in, &nin))
        return pydron_ctx_fail(ctx, "sync: bad input"), PYDRON_ETASK;
    uint64_t step = tu_payload_u64(ctx);
    if (c->nlog < MAXSTEPS)
        c->log[c->nlog++] = (int)step;
    uint64_t r = sync_fn(c, step, in, nin);
    return pydron_ctx_output_set(ctx, 0, &r, sizeof r);
}

static void make_prog(prog *p, uint64_t seed)
{
    tu_rng r = {seed * 7919 + 1};
    memset(p, 0, sizeof *p);
    p->n = 60 + (int)tu_below(&r, 120);
    for (int k = 0; k < 4; k++)
        p->consts[k] = tu_next(&r);
    for (int s = 0; s < p->n; s++) {
        p->sync[s] = tu_below(&r, 4) == 0; /* ~25% SYNC */
        p->nin[s] = (int)tu_below(&r, MAXIN + 1);
        if (!p->sync[s] && p->nin[s] == 0)
            p->nin[s] = 1;
        for (int i = 0; i < p->nin[s]; i++) {
            /* mostly recent values, so chains and fan-in both occur */
            if (s == 0 || tu_below(&r, 6) == 0)
                p->in[s][i] = -1 - (int)tu_below(&r, 4);
            else {
                int back = 1 + (int)tu_below(&r, s < 8 ? (unsigned)s : 8u);
                if (tu_below(&r, 4) == 0)
                    back = 1 + (int)tu_below(&r, (unsigned)s);
                p->in[s][i] = s - back;
            }
        }
    }
    p->add_at_once = (int)tu_below(&r, (unsigned)p->n + 1);
}

/* The oracle: the program run sequentially in plain C. */
static void run_plain(const prog *p, uint64_t *vals)
{
    sctx c;
    memset(&c, 0, sizeof c);
    for (int s = 0; s < p->n; s++) {
        uint64_t in[MAXIN];
        for (int i = 0; i < p->nin[s]; i++)
            in[i] = p->in[s][i] < 0 ? p->consts[-1 - p->in[s][i]] : vals[p->in[s][i]];
        vals[s] = p->sync[s] ? sync_fn(&c, (uint64_t)s, in, p->nin[s])
                             : pure_fn((uint64_t)s, in, p->nin[s]);
    }
}

/* Run the program as a graph; executor NULL = inline. */
static void run_graph(const prog *p, tuex *x, pydron_executor_kind ex, uint64_t *vals, sctx *c)
{
    memset(c, 0, sizeof *c);
    c->driver = pthread_self();
    pydron_runtime *rt;
    if (x) {
        TU_OK(pydron_runtime_new(&rt, NULL));
        TU_OK(pydron_runtime_set_executor(rt, &tuex_ops, x));
    } else {
        rt = tu_runtime(ex, 2);
    }
    uint32_t kp = tu_kind_c(rt, "pure_mix", fn_pure, NULL);
    uint32_t ks = tu_kind_c(rt, "sync_mix", fn_sync, c);
    pydron_graph *g = tu_graph(rt);
    pydron_value consts[4], v[MAXSTEPS];
    for (int k = 0; k < 4; k++)
        consts[k] = tu_const_u64(g, p->consts[k]);
    for (int s = 0; s < p->n; s++) {
        if (s == p->add_at_once)
            TU_OK(pydron_graph_start(g)); /* the rest is added while it runs */
        pydron_value in[MAXIN];
        for (int i = 0; i < p->nin[s]; i++)
            in[i] = p->in[s][i] < 0 ? consts[-1 - p->in[s][i]] : v[p->in[s][i]];
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = p->sync[s] ? ks : kp;
        d.flags = p->sync[s] ? PYDRON_TASK_SYNC : PYDRON_TASK_PURE;
        d.ninputs = (size_t)p->nin[s];
        d.inputs = in;
        d.noutputs = 1;
        uint64_t step = (uint64_t)s;
        d.payload = &step;
        d.payload_len = sizeof step;
        uint32_t tick = (uint32_t)s + 1;
        d.tick = &tick;
        d.tick_len = 1;
        TU_OK(pydron_task_add(g, &d, NULL, &v[s]));
        if (s > p->add_at_once && s % 17 == 5) /* wait mid-way, as a driver would */
            (void)tu_get_u64(g, v[s / 2]);
    }
    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_run(g, 60000));
    for (int s = 0; s < p->n; s++)
        vals[s] = tu_get_u64(g, v[s]);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

static void check_log(const prog *p, const sctx *c, uint64_t seed)
{
    int expect = 0;
    for (int s = 0; s < p->n; s++)
        expect += p->sync[s];
    cr_assert_eq(c->nlog, expect, "seed %llu: %d SYNC runs, expected %d", (unsigned long long)seed,
                 c->nlog, expect);
    for (int i = 1; i < c->nlog; i++)
        cr_assert_lt(c->log[i - 1], c->log[i], "seed %llu: SYNC step %d ran before step %d",
                     (unsigned long long)seed, c->log[i], c->log[i - 1]);
    cr_assert_eq(c->sync_off_driver, 0, "seed %llu: a SYNC task ran off the driver thread",
                 (unsigned long long)seed);
}

static void property(uint64_t seed, int threaded)
{
    prog p;
    make_prog(&p, seed);
    uint64_t plain[MAXSTEPS], inl[MAXSTEPS], rnd[MAXSTEPS];
    run_plain(&p, plain);

    sctx c;
    run_graph(&p, NULL, PYDRON_EXECUTOR_INLINE, inl, &c);
    check_log(&p, &c, seed);

    tuex x;
    tuex_init(&x, seed, 1 + (unsigned)(seed % 3), 1 + (unsigned)(seed % 7), threaded,
              threaded ? 300 : 0);
    x.only_kind = "pure_mix";
    run_graph(&p, &x, PYDRON_EXECUTOR_CUSTOM, rnd, &c);
    check_log(&p, &c, seed);
    cr_assert_eq(x.over_limit, 0, "seed %llu: more jobs in flight than announced",
                 (unsigned long long)seed);
    cr_assert_eq(x.bad_worker, 0);
    cr_assert_str_empty(x.bad_kind, "seed %llu: executor got a '%s' job (SYNC work must stay on "
                        "the driver)", (unsigned long long)seed, x.bad_kind);
    int npure = 0;
    for (int s = 0; s < p.n; s++)
        npure += !p.sync[s];
    cr_assert_eq(x.submitted, (uint64_t)npure, "seed %llu: %llu jobs for %d PURE tasks",
                 (unsigned long long)seed, (unsigned long long)x.submitted, npure);
    cr_assert_eq(x.started, 1);
    cr_assert_eq(x.stopped, 1, "executor not stopped by runtime_free");
    tuex_fini(&x);

    for (int s = 0; s < p.n; s++) {
        cr_assert_eq(inl[s], plain[s], "seed %llu step %d: inline differs from plain C",
                     (unsigned long long)seed, s);
        cr_assert_eq(rnd[s], plain[s], "seed %llu step %d: random order differs from plain C",
                     (unsigned long long)seed, s);
    }
}

Test(sched_order, random_completion_order_many_seeds)
{
    for (uint64_t seed = 1; seed <= 200; seed++)
        property(seed, 0);
}

Test(sched_order, random_completion_times_threaded)
{
    for (uint64_t seed = 1000; seed < 1030; seed++)
        property(seed, 1);
}

/* The same programs on the shipped threads executor, bodies jittered. */
Test(sched_order, threads_executor_many_seeds)
{
    pure_jitter = 1;
    for (uint64_t seed = 5000; seed < 5050; seed++) {
        prog p;
        make_prog(&p, seed);
        uint64_t plain[MAXSTEPS], thr[MAXSTEPS];
        run_plain(&p, plain);
        sctx c;
        run_graph(&p, NULL, PYDRON_EXECUTOR_THREADS, thr, &c);
        check_log(&p, &c, seed);
        for (int s = 0; s < p.n; s++)
            cr_assert_eq(thr[s], plain[s], "seed %llu step %d", (unsigned long long)seed, s);
    }
}

/* Executor registration misuse. */
Test(sched_order, set_executor_misuse)
{
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, NULL));
    tuex x;
    tuex_init(&x, 1, 1, 1, 0, 0);
    pydron_executor_ops bad = tuex_ops;
    bad.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_executor(rt, &bad, &x));
    bad = tuex_ops;
    bad.submit = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_executor(rt, &bad, &x));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_executor(rt, NULL, &x));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_executor(NULL, &tuex_ops, &x));
    TU_OK(pydron_runtime_set_executor(rt, &tuex_ops, &x));
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 2), out;
    tu_add(g, k, 0, &c, 1, 1, &out, NULL);
    cr_assert_eq(tu_get_u64(g, out), 2);
    cr_assert_eq(x.submitted, 1, "the custom executor was not used");
    unsigned nw = 0;
    TU_OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_eq(nw, 1);
    /* too late to swap the executor once a graph started */
    TU_ERR(PYDRON_ESTATE, pydron_runtime_set_executor(rt, &tuex_ops, &x));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(x.stopped, 1);
    cr_assert_eq(x.destroyed, 1);
    tuex_fini(&x);
}
