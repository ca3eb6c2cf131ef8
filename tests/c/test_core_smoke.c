/* Quick end-to-end checks of the core (the full suite lives in the other
 * tests/c/test_*.c files). */
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "pydron.h"

static int add_one(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    int64_t x = 0;
    for (size_t i = 0; i < pydron_ctx_ninputs(ctx); i++) {
        const void *d;
        size_t n;
        cr_assert_eq(pydron_ctx_input(ctx, i, &d, &n), 0);
        cr_assert_eq(n, sizeof x);
        int64_t y;
        memcpy(&y, d, sizeof y);
        x += y;
    }
    x += 1;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

static int boom(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    pydron_ctx_fail(ctx, "boom %d", 42);
    return PYDRON_ETASK;
}

static int64_t get_i64(pydron_graph *g, pydron_value v)
{
    const void *d;
    size_t n;
    cr_assert_eq(pydron_value_bytes(g, v, &d, &n), 0, "%s", pydron_error_last());
    cr_assert_eq(n, 8);
    int64_t x;
    memcpy(&x, d, 8);
    return x;
}

static pydron_value chain(pydron_graph *g, uint32_t kind, pydron_value start, int n)
{
    pydron_value cur = start;
    pydron_value_retain(g, cur);
    for (int i = 0; i < n; i++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = kind;
        d.ninputs = 1;
        d.inputs = &cur;
        d.noutputs = 1;
        pydron_value out;
        cr_assert_eq(pydron_task_add(g, &d, NULL, &out), 0, "%s", pydron_error_last());
        pydron_value_release(g, cur);
        cur = out;
    }
    return cur;
}

static void run_chain(pydron_executor_kind ex)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = 2;
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, &o), 0);
    uint32_t k;
    cr_assert_eq(pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k), 0);
    pydron_graph *g;
    cr_assert_eq(pydron_graph_new(rt, &g), 0);
    int64_t zero = 0;
    pydron_value c;
    cr_assert_eq(pydron_value_constant(g, &zero, 8, &c), 0);
    pydron_value end = chain(g, k, c, 1000);
    cr_assert_eq(pydron_graph_wait(g, end, 10000), 0, "%s", pydron_error_last());
    cr_assert_eq(get_i64(g, end), 1000);
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.tasks_done, 1000);
    cr_assert_eq(st.values_live, 2, "live %llu", (unsigned long long)st.values_live);
    pydron_value_release(g, c);
    pydron_value_release(g, end);
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.values_live, 0);
    cr_assert_eq(st.bytes_live, 0);
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
}

Test(core_smoke, chain_inline) { run_chain(PYDRON_EXECUTOR_INLINE); }
Test(core_smoke, chain_threads) { run_chain(PYDRON_EXECUTOR_THREADS); }

Test(core_smoke, failure_propagates)
{
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, NULL), 0);
    uint32_t k, kb;
    pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k);
    pydron_runtime_register_c(rt, "boom", boom, NULL, &kb);
    pydron_graph *g;
    pydron_graph_new(rt, &g);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kb;
    d.noutputs = 1;
    pydron_value bad;
    pydron_task bt;
    cr_assert_eq(pydron_task_add(g, &d, &bt, &bad), 0);
    pydron_value end = chain(g, k, bad, 50);
    cr_assert_eq(pydron_graph_wait(g, end, 5000), PYDRON_ETASK);
    cr_assert(strstr(pydron_error_last(), "boom 42"), "%s", pydron_error_last());
    pydron_task who;
    char *msg;
    cr_assert_eq(pydron_value_error(g, end, &who, &msg, NULL, NULL), 0);
    cr_assert_eq(who.id, bt.id);
    cr_assert_str_eq(msg, "boom 42");
    pydron_free(msg);
    pydron_task_state ts;
    cr_assert_eq(pydron_task_state_get(g, bt, &ts), 0);
    cr_assert_eq(ts, PYDRON_TASK_FAILED);
    pydron_value_release(g, bad);
    pydron_value_release(g, end);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
}

/* while x < limit: x = x + 1  -- one iteration plus a new loop task */
static uint32_t k_add, k_loop;
static int loop_refine(pydron_refine *r, void *user)
{
    (void)user;
    const void *d;
    size_t n;
    cr_assert_eq(pydron_refine_input(r, 0, &d, &n), 0);
    int64_t x;
    memcpy(&x, d, 8);
    const void *pd;
    size_t pn;
    pydron_refine_payload(r, &pd, &pn);
    int64_t limit;
    memcpy(&limit, pd, 8);
    pydron_value in;
    pydron_refine_input_value(r, 0, &in);
    if (x >= limit)
        return pydron_refine_bind_output(r, 0, in);
    pydron_task_desc a = PYDRON_TASK_DESC_INIT;
    a.kind = k_add;
    a.ninputs = 1;
    a.inputs = &in;
    a.noutputs = 1;
    pydron_value nx;
    cr_assert_eq(pydron_refine_add_task(r, &a, NULL, &nx), 0);
    pydron_task_desc l = PYDRON_TASK_DESC_INIT;
    l.kind = k_loop;
    l.flags = PYDRON_TASK_REFINABLE;
    l.ninputs = 1;
    l.inputs = &nx;
    l.noutputs = 1;
    l.payload = pd;
    l.payload_len = pn;
    l.tick_mode = PYDRON_TICK_SUCCESSOR;
    pydron_value res;
    cr_assert_eq(pydron_refine_add_task(r, &l, NULL, &res), 0, "%s", pydron_error_last());
    pydron_graph *g = pydron_refine_graph(r);
    cr_assert_eq(pydron_refine_bind_output(r, 0, res), 0);   /* takes over our ref */
    cr_assert_eq(pydron_refine_bind_output(r, 0, res), PYDRON_ESTATE);
    pydron_value_release(g, nx);
    return 0;
}

static void while_loop(int64_t limit_v)
{
    pydron_runtime *rt;
    pydron_runtime_new(&rt, NULL);
    pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k_add);
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "while";
    kd.refine = loop_refine;
    cr_assert_eq(pydron_runtime_register_kind(rt, &kd, &k_loop), 0);
    pydron_graph *g;
    pydron_graph_new(rt, &g);
    int64_t zero = 0, limit = limit_v;
    pydron_value c;
    pydron_value_constant(g, &zero, 8, &c);
    pydron_task_desc l = PYDRON_TASK_DESC_INIT;
    l.kind = k_loop;
    l.flags = PYDRON_TASK_REFINABLE;
    l.ninputs = 1;
    l.inputs = &c;
    l.noutputs = 1;
    l.payload = &limit;
    l.payload_len = 8;
    pydron_value res;
    cr_assert_eq(pydron_task_add(g, &l, NULL, &res), 0);
    cr_assert_eq(pydron_graph_wait(g, res, 60000), 0, "%s", pydron_error_last());
    cr_assert_eq(get_i64(g, res), limit_v);
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.tasks_refined, (uint64_t)limit_v + 1);
    /* intermediate loop values are not kept alive by the alias chain */
    cr_assert_lt(st.values_live, 8, "%llu", (unsigned long long)st.values_live);
    pydron_value_release(g, c);
    pydron_value_release(g, res);
    cr_assert_eq(pydron_graph_run(g, 1000), 0);
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.values_live, 0, "%llu", (unsigned long long)st.values_live);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
}

Test(core_smoke, while_loop_refinement) { while_loop(100); }
Test(core_smoke, while_loop_long) { while_loop(200000); }

/* SYNC tasks record their order; PURE predecessors finish in any order */
static int order[64], norder;
static int record(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *p;
    size_t n;
    pydron_ctx_payload(ctx, &p, &n);
    int v;
    memcpy(&v, p, sizeof v);
    order[norder++] = v;
    for (size_t i = 0; i < pydron_ctx_noutputs(ctx); i++)
        pydron_ctx_output_set(ctx, i, &v, sizeof v);
    return 0;
}

Test(core_smoke, sync_in_tick_order)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_THREADS;
    pydron_runtime *rt;
    pydron_runtime_new(&rt, &o);
    uint32_t k, kr;
    pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k);
    pydron_runtime_register_c(rt, "record", record, NULL, &kr);
    pydron_graph *g;
    pydron_graph_new(rt, &g);
    int64_t zero = 0;
    pydron_value c;
    pydron_value_constant(g, &zero, 8, &c);
    norder = 0;
    for (int i = 0; i < 20; i++) {
        /* longer chains for earlier ticks: they become ready later */
        pydron_value v = chain(g, k, c, 40 - 2 * i);
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = kr;
        d.flags = PYDRON_TASK_SYNC;
        d.ninputs = 1;
        d.inputs = &v;
        d.payload = &i;
        d.payload_len = sizeof i;
        cr_assert_eq(pydron_task_add(g, &d, NULL, NULL), 0, "%s", pydron_error_last());
        pydron_value_release(g, v);
    }
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    cr_assert_eq(norder, 20);
    for (int i = 0; i < 20; i++)
        cr_assert_eq(order[i], i);
    /* a SYNC task with a smaller tick than a started one is refused */
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    uint32_t tick = 1;
    d.kind = kr;
    d.flags = PYDRON_TASK_SYNC;
    d.tick = &tick;
    d.tick_len = 1;
    int z = 0;
    d.payload = &z;
    d.payload_len = sizeof z;
    cr_assert_eq(pydron_task_add(g, &d, NULL, NULL), PYDRON_ERANGE);
    pydron_value_release(g, c);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
}

Test(core_smoke, misuse)
{
    pydron_runtime *rt;
    pydron_runtime_new(&rt, NULL);
    uint32_t k;
    pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k);
    cr_assert_eq(pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k), PYDRON_EEXIST);
    pydron_graph *g, *g2;
    pydron_graph_new(rt, &g);
    pydron_graph_new(rt, &g2);
    pydron_value c, c2;
    pydron_value_constant(g, "x", 1, &c);
    pydron_value_constant(g2, "x", 1, &c2);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 1;
    d.inputs = &c2;
    d.noutputs = 1;
    pydron_value out;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &out), PYDRON_ESTALE);
    cr_assert_eq(pydron_task_add(NULL, &d, NULL, &out), PYDRON_EINVAL);
    d.inputs = &c;
    d.kind = 99;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &out), PYDRON_ENOTFOUND);
    d.kind = k;
    cr_assert_eq(pydron_task_add(g, &d, NULL, NULL), PYDRON_EINVAL);
    cr_assert_eq(pydron_value_release(g, c), 0);
    cr_assert_eq(pydron_value_release(g, c), PYDRON_ESTALE);
    pydron_value_state vs;
    cr_assert_eq(pydron_value_state_get(g, c, &vs), 0);
    cr_assert_eq(vs, PYDRON_VALUE_RELEASED);
    cr_assert_eq(pydron_graph_close(g), 0);
    pydron_value_constant(g, "x", 1, &c);
    d.inputs = &c;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &out), PYDRON_ESTATE);
    cr_assert_eq(pydron_runtime_free(rt), PYDRON_EBUSY);
    char *dot;
    size_t len;
    cr_assert_eq(pydron_graph_dot(g, &dot, &len), 0);
    cr_assert(strstr(dot, "digraph"));
    pydron_free(dot);
    pydron_graph_free(g);
    pydron_graph_free(g2);
    cr_assert_eq(pydron_runtime_free(rt), 0);
}

/* 100,000 tasks on the thread pool: 1,000 independent chains of 100, then
 * every chain end is summed by one task. */
Test(core_smoke, threads_stress_100k, .timeout = 100)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_THREADS;
    o.policy = PYDRON_POLICY_CRITICAL_PATH;
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, &o), 0);
    uint32_t k;
    pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k);
    pydron_graph *g;
    pydron_graph_new(rt, &g);
    cr_assert_eq(pydron_graph_start(g), 0);
    int64_t zero = 0;
    pydron_value c;
    pydron_value_constant(g, &zero, 8, &c);
    static pydron_value ends[1000];
    for (int i = 0; i < 1000; i++)
        ends[i] = chain(g, k, c, 100);   /* runs while we keep adding */
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 1000;
    d.inputs = ends;
    d.noutputs = 1;
    pydron_value sum;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &sum), 0);
    for (int i = 0; i < 1000; i++)
        pydron_value_release(g, ends[i]);
    cr_assert_eq(pydron_graph_wait(g, sum, 90000), 0, "%s", pydron_error_last());
    cr_assert_eq(get_i64(g, sum), 100 * 1000 + 1);
    pydron_value_release(g, sum);
    pydron_value_release(g, c);
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.tasks_done, 100001);
    cr_assert_eq(st.values_live, 0);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
}
