/*
 * test_refine.c - refinement patterns (if = taken branch, while = one
 * iteration + a successor loop task, recursive calls = the callee's body)
 * and refine-callback misuse (binding errors, cycles, failures).
 */
#include "testutil.h"

#include <math.h>

typedef struct rctx {
    pydron_graph *g;
    uint32_t k_sum, k_if, k_loop, k_newton, k_log, k_fib, k_bad;
    pthread_t driver;
    int off_driver;        /* a refine callback ran on another thread */
    int if_calls, loop_calls, fib_calls;
    int log[1024];
    int nlog;
    int view_ok;           /* refine view (graph/task/ports/payload) matched */
    pydron_task expect_task;
    /* misuse results */
    int mode;
    int rc[16];
    char msg[16][128];
    pydron_value own_output; /* replaced task's output (for the cycle case) */
    pydron_value foreign;    /* a value of another graph */
} rctx;

static void note(rctx *c, int i, int rc)
{
    c->rc[i] = rc;
    snprintf(c->msg[i], sizeof c->msg[i], "%s", rc ? pydron_error_last() : "");
}

static void check_driver(rctx *c)
{
    if (!pthread_equal(pthread_self(), c->driver))
        c->off_driver = 1;
}

static int fn_log(pydron_task_ctx *ctx, void *user)
{
    rctx *c = (rctx *)user;
    if (c->nlog < 1024)
        c->log[c->nlog++] = (int)tu_payload_u64(ctx);
    for (size_t o = 0; o < pydron_ctx_noutputs(ctx); o++)
        pydron_ctx_output_set(ctx, o, "", 0);
    return 0;
}

static pydron_task radd(pydron_refine *r, uint32_t kind, unsigned flags, const pydron_value *in,
                        size_t nin, size_t nout, pydron_value *out, const uint64_t *payload,
                        uint32_t tick, int mode, int *rc)
{
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kind;
    d.flags = flags;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = nout;
    if (payload) {
        d.payload = payload;
        d.payload_len = sizeof *payload;
    }
    d.tick = mode == PYDRON_TICK_CHILD ? &tick : NULL;
    d.tick_len = mode == PYDRON_TICK_CHILD ? 1 : 0;
    d.tick_mode = mode;
    pydron_task t = PYDRON_TASK_NONE;
    int r2 = pydron_refine_add_task(r, &d, &t, out);
    if (r2 && rc && !*rc)
        *rc = r2;
    return t;
}

/* ------------------------------------------------------------------- if */

/* inputs (cond, a, b): cond 1 -> a + 100 (a new task); cond 0 -> b + 200;
 * cond 2 -> a itself (the output is bound to one of the task's inputs). */
static int refine_if(pydron_refine *r, void *user)
{
    rctx *c = (rctx *)user;
    check_driver(c);
    c->if_calls++;
    const void *p;
    size_t n;
    int rc = pydron_refine_input(r, 0, &p, &n);
    if (rc || n != 8)
        return pydron_refine_fail(r, "if: no cond"), PYDRON_ETASK;
    uint64_t cond;
    memcpy(&cond, p, 8);
    pydron_value a, b;
    pydron_refine_input_value(r, 1, &a);
    pydron_refine_input_value(r, 2, &b);
    if (cond == 2)
        return pydron_refine_bind_output(r, 0, a);
    uint64_t add = cond ? 100 : 200;
    pydron_value out;
    rc = 0;
    radd(r, c->k_sum, PYDRON_TASK_PURE, cond ? &a : &b, 1, 1, &out, &add, 1, PYDRON_TICK_CHILD,
         &rc);
    if (rc)
        return rc;
    return pydron_refine_bind_output(r, 0, out);
}

static int count_sum_runs;
static int fn_counted_sum(pydron_task_ctx *ctx, void *user)
{
    __atomic_add_fetch(&count_sum_runs, 1, __ATOMIC_SEQ_CST);
    return tu_fn_sum(ctx, user);
}

static void setup(rctx *c, pydron_runtime *rt)
{
    memset(c, 0, sizeof *c);
    c->driver = pthread_self();
    c->k_sum = tu_kind_c(rt, "sum", fn_counted_sum, NULL);
    c->k_log = tu_kind_c(rt, "log", fn_log, c);
}

static uint32_t refinable_kind(pydron_runtime *rt, const char *name, pydron_refine_fn fn, void *user)
{
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = name;
    kd.refine = fn;
    kd.refine_user = user;
    uint32_t k = 0;
    TU_OK(pydron_runtime_register_kind(rt, &kd, &k));
    return k;
}

static void run_if(pydron_executor_kind ex)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    rctx c;
    setup(&c, rt);
    c.k_if = refinable_kind(rt, "if", refine_if, &c);
    count_sum_runs = 0;
    uint64_t conds[3] = {1, 0, 2};
    uint64_t expect[3] = {10 + 1 + 100, 20 + 200, 10 + 1};
    for (int i = 0; i < 3; i++) {
        pydron_graph *g = tu_graph(rt);
        /* cond is computed by a task, so the refinement must wait for it */
        pydron_value c0 = tu_const_u64(g, conds[i]), cond, a0 = tu_const_u64(g, 10), a;
        uint64_t zero = 0, one = 1;
        tu_add(g, c.k_sum, 0, &c0, 1, 1, &cond, &zero);
        tu_add(g, c.k_sum, 0, &a0, 1, 1, &a, &one);
        pydron_value in[3] = {cond, a, tu_const_u64(g, 20)};
        pydron_value out;
        pydron_task t = tu_add(g, c.k_if, PYDRON_TASK_REFINABLE, in, 3, 1, &out, NULL);
        cr_assert_eq(tu_get_u64(g, out), expect[i], "if(cond=%llu)", (unsigned long long)conds[i]);
        pydron_task_state st;
        TU_OK(pydron_task_state_get(g, t, &st));
        cr_assert_eq(st, PYDRON_TASK_REFINED);
        pydron_graph_stats s;
        TU_OK(pydron_graph_stats_get(g, &s));
        cr_assert_eq(s.tasks_refined, 1);
        TU_OK(pydron_graph_free(g));
    }
    cr_assert_eq(c.if_calls, 3);
    /* 2 setup sums per graph + one branch task in the first two graphs: the
     * untaken branch never runs */
    cr_assert_eq(count_sum_runs, 3 * 2 + 2);
    cr_assert_eq(c.off_driver, 0, "refine callback ran off the driver thread");
    TU_OK(pydron_runtime_free(rt));
}

Test(refine, if_taken_branch_inline) { run_if(PYDRON_EXECUTOR_INLINE); }
Test(refine, if_taken_branch_threads) { run_if(PYDRON_EXECUTOR_THREADS); }

/* --------------------------------------------------------------- while */

/* Newton's iteration for sqrt(t): the loop task (inputs x, t; payload k)
 * is replaced by one iteration (newton task, a SYNC log task) plus a new
 * loop task with a successor tick, until |x*x - t| <= 1e-12 t. */
static double getd(const void *p)
{
    double d;
    memcpy(&d, p, 8);
    return d;
}

static int fn_newton(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *px, *pt;
    size_t n;
    if (pydron_ctx_input(ctx, 0, &px, &n) || n != 8 || pydron_ctx_input(ctx, 1, &pt, &n) || n != 8)
        return pydron_ctx_fail(ctx, "newton: bad inputs"), PYDRON_ETASK;
    double x = getd(px), t = getd(pt);
    double y = 0.5 * (x + t / x);
    return pydron_ctx_output_set(ctx, 0, &y, sizeof y);
}

static int converged(double x, double t) { return fabs(x * x - t) <= 1e-12 * t; }

static int refine_loop(pydron_refine *r, void *user)
{
    rctx *c = (rctx *)user;
    check_driver(c);
    c->loop_calls++;
    const void *px, *pt;
    size_t n;
    if (pydron_refine_input(r, 0, &px, &n) || n != 8 || pydron_refine_input(r, 1, &pt, &n) ||
        n != 8)
        return pydron_refine_fail(r, "loop: bad inputs"), PYDRON_ETASK;
    pydron_value x, t;
    pydron_refine_input_value(r, 0, &x);
    pydron_refine_input_value(r, 1, &t);
    if (converged(getd(px), getd(pt)))
        return pydron_refine_bind_output(r, 0, x); /* loop exits with x */
    const void *pp;
    uint64_t k = 0;
    if (pydron_refine_payload(r, &pp, &n) == 0 && n == 8)
        memcpy(&k, pp, 8);
    int rc = 0;
    pydron_value in[2] = {x, t}, x2, loop_out;
    radd(r, c->k_newton, PYDRON_TASK_PURE, in, 2, 1, &x2, NULL, 1, PYDRON_TICK_CHILD, &rc);
    /* driver-side effect of this iteration, ordered by tick */
    radd(r, c->k_log, PYDRON_TASK_SYNC, &x2, 1, 0, NULL, &k, 2, PYDRON_TICK_CHILD, &rc);
    uint64_t k1 = k + 1;
    pydron_value in2[2] = {x2, t};
    radd(r, c->k_loop, PYDRON_TASK_REFINABLE, in2, 2, 1, &loop_out, &k1, 0,
         PYDRON_TICK_SUCCESSOR, &rc);
    if (rc)
        return rc;
    pydron_value_release(pydron_refine_graph(r), x2); /* consumed, not bound */
    return pydron_refine_bind_output(r, 0, loop_out);
}

static void run_while(pydron_executor_kind ex, double target)
{
    /* the same iteration in plain C: the oracle */
    int iters = 0;
    double xo = target;
    while (!converged(xo, target)) {
        xo = 0.5 * (xo + target / xo);
        iters++;
    }
    cr_assert_gt(iters, 3, "test needs a few iterations");

    pydron_runtime *rt = tu_runtime(ex, 2);
    rctx c;
    setup(&c, rt);
    c.k_newton = tu_kind_c(rt, "newton", fn_newton, NULL);
    c.k_loop = refinable_kind(rt, "loop", refine_loop, &c);
    pydron_graph *g = tu_graph(rt);
    pydron_value x0, t;
    TU_OK(pydron_value_constant(g, &target, 8, &x0));
    TU_OK(pydron_value_constant(g, &target, 8, &t));
    pydron_value in[2] = {x0, t}, out;
    uint64_t k0 = 0;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = c.k_loop;
    d.flags = PYDRON_TASK_REFINABLE;
    d.ninputs = 2;
    d.inputs = in;
    d.noutputs = 1;
    d.payload = &k0;
    d.payload_len = 8;
    uint32_t tick_loop[2] = {1, 1}; /* the loop statement's first check */
    d.tick = tick_loop;
    d.tick_len = 2;
    TU_OK(pydron_task_add(g, &d, NULL, &out));
    /* the statement after the loop: a SYNC task without inputs; it must wait
     * for every SYNC task the loop will still create (ticks 1.k.2 < 2) */
    uint64_t after = 999;
    pydron_task_desc a = PYDRON_TASK_DESC_INIT;
    a.kind = c.k_log;
    a.flags = PYDRON_TASK_SYNC;
    a.payload = &after;
    a.payload_len = 8;
    uint32_t tick_after[1] = {2};
    a.tick = tick_after;
    a.tick_len = 1;
    TU_OK(pydron_task_add(g, &a, NULL, NULL));

    TU_OK(pydron_graph_wait(g, out, 60000));
    const void *p;
    size_t n;
    TU_OK(pydron_value_bytes(g, out, &p, &n));
    cr_assert_eq(n, 8);
    cr_assert_eq(getd(p), xo, "loop result %.17g, plain C %.17g", getd(p), xo);
    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_eq(c.loop_calls, iters + 1, "refinements %d, iterations %d", c.loop_calls, iters);
    cr_assert_eq(c.nlog, iters + 1);
    for (int i = 0; i < iters; i++)
        cr_assert_eq(c.log[i], i, "log[%d] = %d: SYNC tasks out of tick order", i, c.log[i]);
    cr_assert_eq(c.log[iters], 999, "the statement after the loop ran before the loop's SYNC tasks");
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_refined, (uint64_t)iters + 1);
    cr_assert_eq(c.off_driver, 0);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(refine, while_until_converged_inline) { run_while(PYDRON_EXECUTOR_INLINE, 1e6); }
Test(refine, while_until_converged_threads) { run_while(PYDRON_EXECUTOR_THREADS, 12345.678); }

/* ----------------------------------------------------------- recursion */

/* fib(n): a call is refined into the callee's body: two recursive calls and
 * a pure add, or the argument itself for n < 2. */
static int refine_fib(pydron_refine *r, void *user)
{
    rctx *c = (rctx *)user;
    check_driver(c);
    c->fib_calls++;
    const void *p;
    size_t n;
    if (pydron_refine_input(r, 0, &p, &n) || n != 8)
        return pydron_refine_fail(r, "fib: bad input"), PYDRON_ETASK;
    uint64_t v;
    memcpy(&v, p, 8);
    pydron_value arg;
    pydron_refine_input_value(r, 0, &arg);
    if (v < 2)
        return pydron_refine_bind_output(r, 0, arg);
    uint64_t a = v - 1, b = v - 2;
    pydron_value ca, cb, fa, fb, s;
    int rc = pydron_refine_constant(r, &a, 8, &ca);
    if (!rc)
        rc = pydron_refine_constant(r, &b, 8, &cb);
    if (rc)
        return rc;
    radd(r, c->k_fib, PYDRON_TASK_REFINABLE, &ca, 1, 1, &fa, NULL, 1, PYDRON_TICK_CHILD, &rc);
    radd(r, c->k_fib, PYDRON_TASK_REFINABLE, &cb, 1, 1, &fb, NULL, 2, PYDRON_TICK_CHILD, &rc);
    pydron_value ab[2] = {fa, fb};
    radd(r, c->k_sum, PYDRON_TASK_PURE, ab, 2, 1, &s, NULL, 3, PYDRON_TICK_CHILD, &rc);
    if (rc)
        return rc;
    pydron_graph *g = pydron_refine_graph(r);
    pydron_value_release(g, ca);
    pydron_value_release(g, cb);
    pydron_value_release(g, fa);
    pydron_value_release(g, fb);
    return pydron_refine_bind_output(r, 0, s);
}

static void run_fib(pydron_executor_kind ex, uint64_t n)
{
    uint64_t f0 = 0, f1 = 1;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t f2 = f0 + f1;
        f0 = f1;
        f1 = f2;
    }
    /* f0 = fib(n), f1 = fib(n+1); a naive recursion makes 2 fib(n+1) - 1 calls */
    pydron_runtime *rt = tu_runtime(ex, 2);
    rctx c;
    setup(&c, rt);
    c.k_fib = refinable_kind(rt, "fib", refine_fib, &c);
    pydron_graph *g = tu_graph(rt);
    pydron_value arg = tu_const_u64(g, n), out;
    tu_add(g, c.k_fib, PYDRON_TASK_REFINABLE, &arg, 1, 1, &out, NULL);
    TU_OK(pydron_value_release(g, arg));
    cr_assert_eq(tu_get_u64(g, out), f0);
    cr_assert_eq(c.fib_calls, (int)(2 * f1 - 1));
    TU_OK(pydron_graph_run(g, 60000));
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_refined, 2 * f1 - 1);
    cr_assert_eq(s.tasks_failed, 0);
    TU_OK(pydron_value_release(g, out));
    /* every reference is gone: so are all values, however deep the
     * forwarding (leaf calls bind their output to their input) */
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.bytes_live, 0, "bytes_live %llu after the last release",
                 (unsigned long long)s.bytes_live);
    cr_assert_eq(s.values_live, 0, "values_live %llu after the last release",
                 (unsigned long long)s.values_live);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(refine, recursive_fib_inline) { run_fib(PYDRON_EXECUTOR_INLINE, 15); }
Test(refine, recursive_fib_threads) { run_fib(PYDRON_EXECUTOR_THREADS, 17); }

/* ------------------------------------------------------------- misuse */

enum { BAD_NO_BIND, BAD_RANGE, BAD_TWICE, BAD_STALE, BAD_FAIL, BAD_PORTS, BAD_CYCLE, BAD_VIEW };

static int refine_bad(pydron_refine *r, void *user)
{
    rctx *c = (rctx *)user;
    pydron_value in0;
    int rc;
    switch (c->mode) {
    case BAD_NO_BIND:
        return 0; /* returns success without binding its output */
    case BAD_RANGE:
        pydron_refine_input_value(r, 0, &in0);
        note(c, 0, pydron_refine_bind_output(r, 1, in0)); /* only 1 output */
        note(c, 1, pydron_refine_bind_output(r, (size_t)-1, in0));
        return pydron_refine_bind_output(r, 0, in0);
    case BAD_TWICE: {
        pydron_value nine;
        pydron_refine_input_value(r, 0, &in0);
        note(c, 0, pydron_refine_bind_output(r, 0, in0));
        uint64_t x = 9;
        note(c, 2, pydron_refine_constant(r, &x, sizeof x, &nine));
        note(c, 1, pydron_refine_bind_output(r, 0, nine));
        if (c->rc[1] != 0)
            pydron_value_release(pydron_refine_graph(r), nine);
        return 0;
    }
    case BAD_STALE:
        pydron_refine_input_value(r, 0, &in0);
        note(c, 0, pydron_refine_bind_output(r, 0, PYDRON_VALUE_NONE));
        note(c, 1, pydron_refine_bind_output(r, 0, c->foreign));
        {
            pydron_value out;
            pydron_task_desc d = PYDRON_TASK_DESC_INIT;
            d.kind = c->k_sum;
            d.ninputs = 1;
            d.inputs = &c->foreign;
            d.noutputs = 1;
            note(c, 2, pydron_refine_add_task(r, &d, NULL, &out));
        }
        return pydron_refine_bind_output(r, 0, in0);
    case BAD_FAIL:
        pydron_refine_fail(r, "custom refine failure %d", 7);
        return PYDRON_ETASK;
    case BAD_PORTS: {
        const void *p;
        size_t n;
        pydron_value v, out;
        note(c, 0, pydron_refine_input(r, 1, &p, &n));
        note(c, 1, pydron_refine_input_value(r, 1, &v));
        note(c, 2, pydron_refine_add_task(r, NULL, NULL, &out));
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = c->k_sum;
        d.noutputs = 1;
        uint32_t tk = 1;
        d.tick = &tk;
        d.tick_len = 1;
        d.tick_mode = PYDRON_TICK_SUCCESSOR; /* successor takes no components */
        note(c, 3, pydron_refine_add_task(r, &d, NULL, &out));
        d.tick_mode = PYDRON_TICK_CHILD;
        d.version = 999;
        note(c, 4, pydron_refine_add_task(r, &d, NULL, &out));
        d.version = PYDRON_TASK_DESC_VERSION;
        d.kind = 4242;
        note(c, 5, pydron_refine_add_task(r, &d, NULL, &out));
        note(c, 6, pydron_refine_input(r, 0, NULL, &n));
        note(c, 7, pydron_refine_constant(r, NULL, 3, &v));
        pydron_refine_input_value(r, 0, &in0);
        return pydron_refine_bind_output(r, 0, in0);
    }
    case BAD_CYCLE: {
        /* a new task reading the replaced task's own output, then bound as
         * that output: a cycle */
        pydron_value out;
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = c->k_sum;
        d.ninputs = 1;
        d.inputs = &c->own_output;
        d.noutputs = 1;
        note(c, 0, pydron_refine_add_task(r, &d, NULL, &out));
        if (c->rc[0] == 0)
            note(c, 1, pydron_refine_bind_output(r, 0, out));
        pydron_refine_fail(r, "cycle refused");
        return PYDRON_ETASK;
    }
    case BAD_VIEW: {
        const void *p;
        size_t n;
        c->view_ok = pydron_refine_graph(r) == c->g && pydron_refine_task(r).id == c->expect_task.id &&
                     pydron_refine_ninputs(r) == 1 && pydron_refine_noutputs(r) == 1 &&
                     pydron_refine_payload(r, &p, &n) == 0 && n == 4 && memcmp(p, "view", 4) == 0;
        pydron_refine_input_value(r, 0, &in0);
        return pydron_refine_bind_output(r, 0, in0);
    }
    }
    (void)rc;
    return PYDRON_EINVAL;
}

typedef struct bad_run {
    pydron_runtime *rt;
    pydron_graph *g, *other;
    pydron_value out;
    pydron_task t;
    rctx c;
} bad_run;

static void bad_start(bad_run *b, int mode)
{
    b->rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    setup(&b->c, b->rt);
    b->c.k_bad = refinable_kind(b->rt, "bad", refine_bad, &b->c);
    b->c.mode = mode;
    b->g = tu_graph(b->rt);
    b->c.g = b->g;
    b->other = tu_graph(b->rt);
    b->c.foreign = tu_const_u64(b->other, 1);
    pydron_value in = tu_const_u64(b->g, 5);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = b->c.k_bad;
    d.flags = PYDRON_TASK_REFINABLE;
    d.ninputs = 1;
    d.inputs = &in;
    d.noutputs = 1;
    d.payload = "view";
    d.payload_len = 4;
    TU_OK(pydron_task_add(b->g, &d, &b->t, &b->out));
    b->c.own_output = b->out;
    b->c.expect_task = b->t;
}

static void bad_end(bad_run *b)
{
    TU_OK(pydron_graph_run(b->g, 60000)); /* nothing hangs */
    TU_OK(pydron_graph_free(b->other));
    TU_OK(pydron_graph_free(b->g));
    TU_OK(pydron_runtime_free(b->rt));
}

static void expect_failed(bad_run *b, const char *needle)
{
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(b->g, b->out, 60000));
    pydron_task ft;
    char *msg = NULL;
    TU_OK(pydron_value_error(b->g, b->out, &ft, &msg, NULL, NULL));
    cr_assert_eq(ft.id, b->t.id, "failure names task %llu, not the refined task %llu",
                 (unsigned long long)ft.id, (unsigned long long)b->t.id);
    cr_assert(msg && msg[0], "empty failure message");
    if (needle)
        cr_assert(strstr(msg, needle), "message '%s' lacks '%s'", msg, needle);
    pydron_free(msg);
}

#define EXPECT_RC(b, i, code)                                                            \
    do {                                                                                 \
        cr_assert_eq((b).c.rc[i], (code), "case %d: rc %d (%s), expected %s", i,         \
                     (b).c.rc[i], pydron_strerror((b).c.rc[i]), pydron_strerror(code));  \
        cr_assert((b).c.msg[i][0], "case %d: empty pydron_error_last()", i);            \
    } while (0)

Test(refine, misuse_no_bind)
{
    bad_run b;
    bad_start(&b, BAD_NO_BIND);
    expect_failed(&b, NULL);
    bad_end(&b);
}

Test(refine, misuse_bind_out_of_range)
{
    bad_run b;
    bad_start(&b, BAD_RANGE);
    cr_assert_eq(tu_get_u64(b.g, b.out), 5);
    EXPECT_RC(b, 0, PYDRON_EINVAL);
    EXPECT_RC(b, 1, PYDRON_EINVAL);
    bad_end(&b);
}

/* Binding an output again either is refused (ESTATE/EEXIST, the first
 * binding stands) or replaces the first binding; never both or neither. */
Test(refine, misuse_bind_twice)
{
    bad_run b;
    bad_start(&b, BAD_TWICE);
    uint64_t got = tu_get_u64(b.g, b.out);
    cr_assert_eq(b.c.rc[0], 0);
    cr_assert_eq(b.c.rc[2], 0);
    if (b.c.rc[1] == 0) {
        cr_assert_eq(got, 9, "second binding accepted but the first one stands");
    } else {
        cr_assert(b.c.rc[1] == PYDRON_ESTATE || b.c.rc[1] == PYDRON_EEXIST,
                  "second binding: %d (%s)", b.c.rc[1], pydron_strerror(b.c.rc[1]));
        cr_assert(b.c.msg[1][0], "empty pydron_error_last()");
        cr_assert_eq(got, 5, "second binding refused but it took effect");
    }
    bad_end(&b);
}

Test(refine, misuse_stale_and_foreign)
{
    bad_run b;
    bad_start(&b, BAD_STALE);
    cr_assert_eq(tu_get_u64(b.g, b.out), 5);
    EXPECT_RC(b, 0, PYDRON_ESTALE);
    EXPECT_RC(b, 1, PYDRON_ESTALE);
    EXPECT_RC(b, 2, PYDRON_ESTALE);
    bad_end(&b);
}

Test(refine, misuse_refine_fail)
{
    bad_run b;
    bad_start(&b, BAD_FAIL);
    expect_failed(&b, "custom refine failure 7");
    bad_end(&b);
}

Test(refine, misuse_ports_and_descs)
{
    bad_run b;
    bad_start(&b, BAD_PORTS);
    cr_assert_eq(tu_get_u64(b.g, b.out), 5);
    EXPECT_RC(b, 0, PYDRON_EINVAL);
    EXPECT_RC(b, 1, PYDRON_EINVAL);
    EXPECT_RC(b, 2, PYDRON_EINVAL);
    EXPECT_RC(b, 3, PYDRON_EINVAL);
    EXPECT_RC(b, 4, PYDRON_EINVAL);
    EXPECT_RC(b, 5, PYDRON_ENOTFOUND);
    EXPECT_RC(b, 6, PYDRON_EINVAL);
    EXPECT_RC(b, 7, PYDRON_EINVAL);
    bad_end(&b);
}

Test(refine, misuse_cycle)
{
    bad_run b;
    bad_start(&b, BAD_CYCLE);
    expect_failed(&b, NULL);
    cr_assert(b.c.rc[0] == PYDRON_ECYCLE || (b.c.rc[0] == 0 && b.c.rc[1] == PYDRON_ECYCLE),
              "cycle not refused: add -> %d, bind -> %d", b.c.rc[0], b.c.rc[1]);
    bad_end(&b);
}

Test(refine, callback_view)
{
    bad_run b;
    bad_start(&b, BAD_VIEW);
    cr_assert_eq(tu_get_u64(b.g, b.out), 5);
    cr_assert(b.c.view_ok, "refine view did not match the replaced task");
    bad_end(&b);
}

Test(refine, null_refine_handle)
{
    pydron_value v;
    const void *p;
    size_t n;
    cr_assert_null(pydron_refine_graph(NULL));
    cr_assert_eq(pydron_refine_task(NULL).id, 0);
    cr_assert_eq(pydron_refine_ninputs(NULL), 0);
    cr_assert_eq(pydron_refine_noutputs(NULL), 0);
    TU_ERR(PYDRON_EINVAL, pydron_refine_input_value(NULL, 0, &v));
    TU_ERR(PYDRON_EINVAL, pydron_refine_input(NULL, 0, &p, &n));
    TU_ERR(PYDRON_EINVAL, pydron_refine_payload(NULL, &p, &n));
    TU_ERR(PYDRON_EINVAL, pydron_refine_constant(NULL, "x", 1, &v));
    TU_ERR(PYDRON_EINVAL, pydron_refine_bind_output(NULL, 0, v));
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    TU_ERR(PYDRON_EINVAL, pydron_refine_add_task(NULL, &d, NULL, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_refine_fail(NULL, "x"));
}
