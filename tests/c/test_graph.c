/*
 * test_graph.c - graph building, values, task bodies and every misuse path
 * of the graph API: each misuse must return the documented error code,
 * leave a message in pydron_error_last() and leave the graph usable.
 */
#include "testutil.h"

/* ---------------------------------------------------------------- basics */

Test(graph, version_and_strerror)
{
    cr_assert_eq(pydron_version(), PYDRON_VERSION_NUMBER);
    cr_assert_str_eq(pydron_version_string(), PYDRON_VERSION_STRING);
    for (int rc = PYDRON_OK; rc >= PYDRON_EINTR; rc--) {
        const char *s = pydron_strerror(rc);
        cr_assert_not_null(s);
        cr_assert(s[0] != '\0', "strerror(%d) empty", rc);
        for (int other = PYDRON_OK; other > rc; other--)
            cr_assert_str_neq(s, pydron_strerror(other), "strerror(%d) == strerror(%d)", rc,
                              other);
    }
    cr_assert_not_null(pydron_strerror(-12345));
    cr_assert_not_null(pydron_strerror(12345));
    cr_assert_not_null(pydron_error_last());
    pydron_free(NULL);
    TU_OK(pydron_runtime_free(NULL));
    TU_OK(pydron_graph_free(NULL));
}

Test(graph, options_init)
{
    pydron_runtime_options o;
    memset(&o, 0xab, sizeof o);
    pydron_runtime_options_init(&o);
    pydron_runtime_options ref = PYDRON_RUNTIME_OPTIONS_INIT;
    cr_assert_eq(o.version, PYDRON_RUNTIME_OPTIONS_VERSION);
    cr_assert_eq(o.executor, ref.executor);
    cr_assert_eq(o.policy, ref.policy);
    cr_assert_eq(o.workers, 0);
    cr_assert_null(o.worker_command);
    cr_assert_null(o.secret);

    pydron_worker_options w;
    memset(&w, 0xab, sizeof w);
    pydron_worker_options_init(&w);
    cr_assert_eq(w.version, PYDRON_WORKER_OPTIONS_VERSION);
    cr_assert_eq(w.worker_id, -1);
    cr_assert_null(w.url);
}

/* A chain and a diamond on the inline executor, with an externally set input. */
Test(graph, build_and_run_diamond)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t again = 0;
    TU_OK(pydron_runtime_kind(rt, "sum", &again));
    cr_assert_eq(again, sum);
    pydron_graph *g = tu_graph(rt);

    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    pydron_value_state st;
    TU_OK(pydron_value_state_get(g, in, &st));
    cr_assert_eq(st, PYDRON_VALUE_PENDING);

    uint64_t one = 1, two = 2, three = 3;
    pydron_value a, b, c, d;
    pydron_task ta = tu_add(g, sum, PYDRON_TASK_PURE, &in, 1, 1, &a, &one);
    tu_add(g, sum, PYDRON_TASK_PURE, &a, 1, 1, &b, &two);
    tu_add(g, sum, 0 /* PURE by default */, &a, 1, 1, &c, &three);
    pydron_value bc[2] = {b, c};
    pydron_task td = tu_add(g, sum, PYDRON_TASK_PURE, bc, 2, 1, &d, NULL);

    pydron_task prod;
    TU_OK(pydron_value_producer(g, a, &prod));
    cr_assert_eq(prod.id, ta.id);
    TU_OK(pydron_value_producer(g, d, &prod));
    cr_assert_eq(prod.id, td.id);

    pydron_task_state ts;
    TU_OK(pydron_task_state_get(g, td, &ts));
    cr_assert_eq(ts, PYDRON_TASK_WAITING);

    /* nothing can run before the input is set: a short wait times out */
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_wait(g, d, 20));

    uint64_t ten = 10;
    TU_OK(pydron_value_set(g, in, &ten, sizeof ten));
    /* a = 11, b = 13, c = 14, d = 27 */
    cr_assert_eq(tu_get_u64(g, d), 27);
    cr_assert_eq(tu_get_u64(g, a), 11);
    size_t sz = 0;
    TU_OK(pydron_value_size(g, d, &sz));
    cr_assert_eq(sz, 8);
    TU_OK(pydron_task_state_get(g, td, &ts));
    cr_assert_eq(ts, PYDRON_TASK_DONE);
    TU_OK(pydron_value_state_get(g, d, &st));
    cr_assert_eq(st, PYDRON_VALUE_READY);

    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, 4);
    cr_assert_eq(s.tasks_done, 4);
    cr_assert_eq(s.tasks_failed, 0);

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Task bodies see their payload, ports, kind name and attempt. */
typedef struct ctx_probe {
    size_t nin, nout;
    char kind[32];
    unsigned attempt;
    char payload[16];
    int rc_bad_input, rc_bad_output, rc_null_data, rc_bad_alloc, rc_bad_take;
    int rc_null_payload;
} ctx_probe;

static int fn_probe(pydron_task_ctx *ctx, void *user)
{
    ctx_probe *p = (ctx_probe *)user;
    p->nin = pydron_ctx_ninputs(ctx);
    p->nout = pydron_ctx_noutputs(ctx);
    const char *k = pydron_ctx_kind_name(ctx);
    snprintf(p->kind, sizeof p->kind, "%s", k ? k : "");
    p->attempt = pydron_ctx_attempt(ctx);
    const void *d = NULL;
    size_t n = 0;
    if (pydron_ctx_payload(ctx, &d, &n) == 0 && n < sizeof p->payload)
        memcpy(p->payload, d, n);
    /* misuse inside a body: wrong port numbers and NULL out-parameters */
    p->rc_bad_input = pydron_ctx_input(ctx, p->nin, &d, &n);
    p->rc_null_data = pydron_ctx_input(ctx, 0, NULL, &n);
    p->rc_null_payload = pydron_ctx_payload(ctx, NULL, NULL);
    p->rc_bad_output = pydron_ctx_output_set(ctx, p->nout, "x", 1);
    void *w = NULL;
    p->rc_bad_alloc = pydron_ctx_output_alloc(ctx, p->nout + 5, 4, &w);
    p->rc_bad_take = pydron_ctx_output_take(ctx, p->nout, "x", 1, NULL, NULL);
    /* outputs: 0 via alloc (written twice: the second replaces the first),
     * 1 via set, 2 via take of static data */
    int rc = pydron_ctx_output_alloc(ctx, 0, 3, &w);
    if (rc)
        return rc;
    memcpy(w, "zzz", 3);
    rc = pydron_ctx_output_alloc(ctx, 0, 5, &w);
    if (rc)
        return rc;
    memcpy(w, "hello", 5);
    if ((rc = pydron_ctx_output_set(ctx, 1, "", 0)) != 0) /* empty value is fine */
        return rc;
    return pydron_ctx_output_take(ctx, 2, "static", 6, NULL, NULL);
}

Test(graph, task_ctx_view_and_port_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    ctx_probe p;
    memset(&p, 0, sizeof p);
    uint32_t k = tu_kind_c(rt, "probe", fn_probe, &p);
    pydron_graph *g = tu_graph(rt);
    pydron_value in[2] = {tu_const_u64(g, 1), tu_const_u64(g, 2)};
    pydron_value out[3];
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 2;
    d.inputs = in;
    d.noutputs = 3;
    d.payload = "pay";
    d.payload_len = 3;
    d.label = "probe-task";
    TU_OK(pydron_task_add(g, &d, NULL, out)); /* out_task may be NULL */
    TU_OK(pydron_graph_run(g, 60000));

    cr_assert_eq(p.nin, 2);
    cr_assert_eq(p.nout, 3);
    cr_assert_str_eq(p.kind, "probe");
    cr_assert_eq(p.attempt, 0);
    cr_assert_str_eq(p.payload, "pay");
    cr_assert_eq(p.rc_bad_input, PYDRON_EINVAL);
    cr_assert_eq(p.rc_null_data, PYDRON_EINVAL);
    cr_assert_eq(p.rc_null_payload, PYDRON_EINVAL);
    cr_assert_eq(p.rc_bad_output, PYDRON_EINVAL);
    cr_assert_eq(p.rc_bad_alloc, PYDRON_EINVAL);
    cr_assert_eq(p.rc_bad_take, PYDRON_EINVAL);

    const void *b;
    size_t n;
    TU_OK(pydron_value_bytes(g, out[0], &b, &n));
    cr_assert_eq(n, 5);
    cr_assert_arr_eq(b, "hello", 5);
    TU_OK(pydron_value_bytes(g, out[1], &b, &n));
    cr_assert_eq(n, 0);
    TU_OK(pydron_value_bytes(g, out[2], &b, &n));
    cr_assert_eq(n, 6);
    cr_assert_arr_eq(b, "static", 6);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* ----------------------------------------------------------- runtime misuse */

static int fn_nop(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    for (size_t o = 0; o < pydron_ctx_noutputs(ctx); o++)
        pydron_ctx_output_set(ctx, o, "", 0);
    return 0;
}

Test(graph, runtime_misuse)
{
    pydron_runtime *rt = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(NULL, NULL));

    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
    cr_assert_null(rt);
    o.version = 0;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
    pydron_runtime_options_init(&o);
    o.executor = (pydron_executor_kind)77;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
    pydron_runtime_options_init(&o);
    o.policy = (pydron_policy_kind)77;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));

    TU_OK(pydron_runtime_new(&rt, NULL)); /* NULL opts: inline + FIFO */
    uint32_t k = 0;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_c(NULL, "x", fn_nop, NULL, &k));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_c(rt, NULL, fn_nop, NULL, &k));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_c(rt, "x", NULL, NULL, &k));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_c(rt, "", fn_nop, NULL, &k));
    TU_OK(pydron_runtime_register_c(rt, "x", fn_nop, NULL, &k));
    uint32_t k2 = 0;
    TU_ERR(PYDRON_EEXIST, pydron_runtime_register_c(rt, "x", fn_nop, NULL, &k2));

    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_kind(rt, NULL, &k2));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_kind(rt, &kd, &k2)); /* no name */
    kd.name = "y";
    kd.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_kind(rt, &kd, &k2));
    kd.version = PYDRON_KIND_DESC_VERSION;
    pydron_runner_ops bad_runner = {999, NULL, NULL};
    kd.runner = &bad_runner;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_register_kind(rt, &kd, &k2));
    kd.runner = NULL;
    TU_OK(pydron_runtime_register_kind(rt, &kd, &k2)); /* worker-side kind is fine */
    cr_assert_neq(k, k2);

    TU_ERR(PYDRON_ENOTFOUND, pydron_runtime_kind(rt, "no-such-kind", &k2));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_kind(rt, NULL, &k2));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_kind(NULL, "x", &k2));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_kind(rt, "x", NULL));

    pydron_graph *g = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_graph_new(NULL, &g));
    TU_ERR(PYDRON_EINVAL, pydron_graph_new(rt, NULL));
    TU_OK(pydron_graph_new(rt, &g));
    /* a runtime with a live graph cannot be freed */
    TU_ERR(PYDRON_EBUSY, pydron_runtime_free(rt));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* ------------------------------------------------------------ graph misuse */

Test(graph, task_add_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = tu_const_u64(g, 5);
    pydron_value out[2];
    pydron_task t;

    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = sum;
    d.ninputs = 1;
    d.inputs = &a;
    d.noutputs = 1;

    TU_ERR(PYDRON_EINVAL, pydron_task_add(NULL, &d, &t, out));
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, NULL, &t, out));
    d.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.version = 0;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.version = PYDRON_TASK_DESC_VERSION;

    d.kind = 4242;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add(g, &d, &t, out));
    d.kind = sum;

    d.inputs = NULL; /* ninputs = 1 but no array */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.inputs = &a;

    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, NULL)); /* 1 output, no room */

    d.flags = PYDRON_TASK_PURE | PYDRON_TASK_SYNC; /* contradictory */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.flags = 0x100; /* unknown flag bit */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.flags = PYDRON_TASK_REFINABLE; /* kind has no refine callback */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.flags = PYDRON_TASK_PURE;

    d.payload_len = 4; /* payload length without payload */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.payload_len = 0;

    uint32_t tick[PYDRON_TICK_MAX_DEPTH + 1];
    for (size_t i = 0; i <= PYDRON_TICK_MAX_DEPTH; i++)
        tick[i] = 1;
    d.tick = tick;
    d.tick_len = PYDRON_TICK_MAX_DEPTH + 1;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.tick_len = 0;
    d.tick = NULL;
    d.tick_len = 2; /* tick_len without tick */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.tick_len = 0;
    d.tick_mode = 7;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.tick_mode = PYDRON_TICK_SUCCESSOR; /* only meaningful inside a refinement */
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.tick_mode = PYDRON_TICK_CHILD;
    d.duration_hint = -1.0;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, &t, out));
    d.duration_hint = 0.0;

    /* stale / unknown / foreign ids */
    pydron_value bogus = {0};
    d.inputs = &bogus;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &d, &t, out));
    bogus.id = 0x7fffffffffull;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &d, &t, out));
    d.inputs = &a;

    /* nothing of the failed calls is in the graph */
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, 0, "failed adds left %llu tasks", (unsigned long long)s.tasks_added);

    /* and the graph still works */
    uint64_t pay = 1;
    d.payload = &pay;
    d.payload_len = sizeof pay;
    TU_OK(pydron_task_add(g, &d, &t, out));
    cr_assert_eq(tu_get_u64(g, out[0]), 6);

    /* closed graph: no more tasks */
    TU_OK(pydron_graph_close(g));
    TU_ERR(PYDRON_ESTATE, pydron_task_add(g, &d, &t, out));
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, 1);

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Ids from another graph are ESTALE even when their numbers exist here. */
Test(graph, foreign_ids)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g1 = tu_graph(rt);
    pydron_graph *g2 = tu_graph(rt);
    /* same construction in both graphs, so plain counters would collide */
    pydron_value c1 = tu_const_u64(g1, 1), c2 = tu_const_u64(g2, 2);
    pydron_value v1, v2;
    pydron_task t1 = tu_add(g1, sum, 0, &c1, 1, 1, &v1, NULL);
    pydron_task t2 = tu_add(g2, sum, 0, &c2, 1, 1, &v2, NULL);
    (void)t2;

    pydron_value out;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = sum;
    d.ninputs = 1;
    d.inputs = &v1;
    d.noutputs = 1;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g2, &d, NULL, &out));
    d.inputs = &c1;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g2, &d, NULL, &out));

    pydron_value_state st;
    TU_ERR(PYDRON_ESTALE, pydron_value_state_get(g2, c1, &st));
    TU_ERR(PYDRON_ESTALE, pydron_value_retain(g2, v1));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g2, v1));
    pydron_task_state ts;
    TU_ERR(PYDRON_ESTALE, pydron_task_state_get(g2, t1, &ts));
    TU_ERR(PYDRON_ESTALE, pydron_graph_wait(g2, v1, 1000));
    uint64_t x = 1;
    TU_ERR(PYDRON_ESTALE, pydron_value_set(g2, c1, &x, sizeof x));

    /* g1 is unharmed */
    cr_assert_eq(tu_get_u64(g1, v1), 1);
    cr_assert_eq(tu_get_u64(g2, v2), 2);
    TU_OK(pydron_graph_free(g2));
    TU_OK(pydron_graph_free(g1));
    TU_OK(pydron_runtime_free(rt));
}

Test(graph, value_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value v;
    const void *p;
    size_t n;

    TU_ERR(PYDRON_EINVAL, pydron_value_constant(NULL, "a", 1, &v));
    TU_ERR(PYDRON_EINVAL, pydron_value_constant(g, "a", 1, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_value_constant(g, NULL, 1, &v));
    TU_OK(pydron_value_constant(g, NULL, 0, &v)); /* empty constant is fine */
    TU_OK(pydron_value_bytes(g, v, &p, &n));
    cr_assert_eq(n, 0);
    TU_ERR(PYDRON_EINVAL, pydron_value_input(NULL, &v));
    TU_ERR(PYDRON_EINVAL, pydron_value_input(g, NULL));

    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    pydron_value out;
    tu_add(g, sum, 0, &in, 1, 1, &out, NULL);
    TU_ERR(PYDRON_ESTATE, pydron_value_bytes(g, in, &p, &n));   /* pending */
    TU_ERR(PYDRON_ESTATE, pydron_value_bytes(g, out, &p, &n));  /* pending */
    TU_ERR(PYDRON_ESTATE, pydron_value_size(g, out, &n));
    TU_ERR(PYDRON_EINVAL, pydron_value_bytes(g, in, NULL, &n));
    TU_ERR(PYDRON_EINVAL, pydron_value_state_get(g, in, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_value_set(g, in, NULL, 8));
    /* only inputs can be set */
    uint64_t x = 4;
    TU_ERR(PYDRON_ESTATE, pydron_value_set(g, out, &x, sizeof x));
    TU_ERR(PYDRON_ESTATE, pydron_value_set_failed(g, out, "nope"));
    pydron_value c = tu_const_u64(g, 9);
    TU_ERR(PYDRON_ESTATE, pydron_value_set(g, c, &x, sizeof x));
    /* an error value needs a message */
    TU_ERR(PYDRON_EINVAL, pydron_value_set_failed(g, in, NULL));

    TU_OK(pydron_value_set(g, in, &x, sizeof x));
    TU_ERR(PYDRON_ESTATE, pydron_value_set(g, in, &x, sizeof x)); /* already set */
    TU_ERR(PYDRON_ESTATE, pydron_value_set_failed(g, in, "late"));
    cr_assert_eq(tu_get_u64(g, out), 4);

    /* unknown ids are stale */
    pydron_task prod;
    TU_ERR(PYDRON_ESTALE, pydron_value_producer(g, PYDRON_VALUE_NONE, &prod));
    pydron_value_state st;
    TU_ERR(PYDRON_ESTALE, pydron_value_state_get(g, PYDRON_VALUE_NONE, &st));
    pydron_task_state ts;
    TU_ERR(PYDRON_ESTALE, pydron_task_state_get(g, PYDRON_TASK_NONE, &ts));
    pydron_task bogus = {987654321};
    TU_ERR(PYDRON_ESTALE, pydron_task_state_get(g, bogus, &ts));

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Releasing more references than one holds is an error, never a double free;
 * a value whose last reference is gone cannot be used as a new input. */
Test(graph, stale_after_release)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 3);
    TU_OK(pydron_value_release(g, c));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, c));
    TU_ERR(PYDRON_ESTALE, pydron_value_retain(g, c));
    pydron_value out;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = sum;
    d.ninputs = 1;
    d.inputs = &c;
    d.noutputs = 1;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &d, NULL, &out));
    const void *p;
    size_t n;
    TU_ERR(PYDRON_ESTALE, pydron_value_bytes(g, c, &p, &n));

    /* retain/release pairs balance */
    pydron_value c2 = tu_const_u64(g, 4);
    TU_OK(pydron_value_retain(g, c2));
    TU_OK(pydron_value_release(g, c2));
    cr_assert_eq(tu_get_u64(g, c2), 4);
    TU_OK(pydron_value_release(g, c2));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, c2));

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* pydron_value_release_many: many releases under one lock, all or none. */
Test(graph, release_many)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    pydron_graph *g = tu_graph(rt);
    pydron_value v[100];
    for (int i = 0; i < 100; i++)
        v[i] = tu_const_u64(g, (uint64_t)i);
    TU_OK(pydron_value_retain(g, v[1]));
    TU_OK(pydron_value_release_many(g, NULL, 0)); /* nothing to do */
    TU_ERR(PYDRON_EINVAL, pydron_value_release_many(g, NULL, 2));
    TU_ERR(PYDRON_EINVAL, pydron_value_release_many(NULL, v, 2));

    /* a stale value among them: none released */
    pydron_value gone = tu_const_u64(g, 7);
    TU_OK(pydron_value_release(g, gone));
    pydron_value mix[3] = {v[0], gone, v[2]};
    TU_ERR(PYDRON_ESTALE, pydron_value_release_many(g, mix, 3));
    cr_assert_eq(tu_get_u64(g, v[0]), 0);
    cr_assert_eq(tu_get_u64(g, v[2]), 2);

    /* one more release than the caller holds (v[3] twice): none released */
    pydron_value twice[3] = {v[4], v[3], v[3]};
    TU_ERR(PYDRON_ESTATE, pydron_value_release_many(g, twice, 3));
    cr_assert(strstr(pydron_error_last(), "item 2") != NULL, "%s", pydron_error_last());
    cr_assert_eq(tu_get_u64(g, v[3]), 3);
    cr_assert_eq(tu_get_u64(g, v[4]), 4);

    /* v[1] (retained once more) given twice: both its references go */
    pydron_value two[2] = {v[1], v[1]};
    TU_OK(pydron_value_release_many(g, two, 2));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, v[1]));

    /* the rest, more than fit on the function's stack (a heap array) */
    pydron_value rest[99];
    int k = 0;
    for (int i = 0; i < 100; i++)
        if (i != 1)
            rest[k++] = v[i];
    TU_OK(pydron_value_release_many(g, rest, (size_t)k));
    for (int i = 0; i < 100; i++)
        TU_ERR(PYDRON_ESTALE, pydron_value_release(g, v[i]));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* n descriptors of a chain of "sum" tasks adding 1 each, for one
 * pydron_task_add_many call: step i reads step i-1's output, which the
 * call writes into outs[i-1] before it reads step i (so it is not known
 * before the call); the first step reads *first with first_flags. */
static const uint64_t chain_inc = 1;
static void chain_descs(pydron_task_desc *d, int n, uint32_t kind, pydron_value *outs,
                        const pydron_value *first, unsigned first_flags)
{
    for (int i = 0; i < n; i++) {
        d[i] = (pydron_task_desc)PYDRON_TASK_DESC_INIT;
        d[i].kind = kind;
        d[i].ninputs = 1;
        d[i].noutputs = 1;
        d[i].payload = &chain_inc;
        d[i].payload_len = sizeof chain_inc;
        d[i].inputs = i ? &outs[i - 1] : first;
        d[i].flags = i ? PYDRON_TASK_TAKE_INPUTS : first_flags;
    }
}

/* pydron_task_add_many: a chain in one call (each step reads the output
 * of the one before, written into out_values by the same call, and takes
 * its reference); an error part way leaves the tasks before it added and
 * names the task; misuse. On the inline and threads executors. */
static void add_many_on(pydron_executor_kind ex, unsigned workers)
{
    pydron_runtime *rt = tu_runtime(ex, workers);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    enum { N = 300 };
    pydron_value c = tu_const_u64(g, 5), outs[N + 2];
    pydron_task_desc d[N];
    pydron_task ts[N];
    chain_descs(d, N, sum, outs, &c, 0);
    size_t added = 12345;
    TU_OK(pydron_task_add_many(g, d, N, ts, outs, &added));
    cr_assert_eq(added, N);
    for (int i = 0; i + 1 < N; i++) /* the references passed on: only the last is ours */
        TU_ERR(PYDRON_ESTATE, pydron_value_release(g, outs[i]));
    pydron_task_state st;
    TU_OK(pydron_task_state_get(g, ts[N - 1], &st));
    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_eq(tu_get_u64(g, outs[N - 1]), 5 + N);
    TU_OK(pydron_value_release(g, outs[N - 1]));

    /* an unknown kind at task 2: tasks 0 and 1 were added and are the
     * caller's; the message names task 2; nothing after it was added */
    pydron_graph *g2 = tu_graph(rt);
    pydron_value c2 = tu_const_u64(g2, 10);
    for (int i = 0; i < 4; i++) {
        d[i].inputs = &c2;
        d[i].flags = 0;
    }
    d[2].kind = 0xdead;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add_many(g2, d, 4, NULL, outs, &added));
    cr_assert_eq(added, 2);
    cr_assert(strstr(pydron_error_last(), "task 2 of the batch") != NULL, "%s",
              pydron_error_last());
    cr_assert(strstr(pydron_error_last(), "no kind") != NULL, "%s", pydron_error_last());
    d[2].kind = sum;
    TU_OK(pydron_graph_run(g2, 60000));
    cr_assert_eq(tu_get_u64(g2, outs[0]), 11);
    cr_assert_eq(tu_get_u64(g2, outs[1]), 11);
    TU_OK(pydron_value_release(g2, outs[0]));
    TU_OK(pydron_value_release(g2, outs[1]));
    TU_OK(pydron_graph_free(g2));

    /* misuse: each an error with a message, nothing added */
    pydron_graph *g3 = tu_graph(rt);
    pydron_value c3 = tu_const_u64(g3, 1);
    d[0].inputs = &c3;
    TU_OK(pydron_task_add_many(g3, d, 0, NULL, NULL, &added));
    cr_assert_eq(added, 0);
    TU_ERR(PYDRON_EINVAL, pydron_task_add_many(NULL, d, 1, NULL, outs, &added));
    TU_ERR(PYDRON_EINVAL, pydron_task_add_many(g3, NULL, 1, NULL, outs, &added));
    TU_ERR(PYDRON_EINVAL, pydron_task_add_many(g3, d, 1, NULL, NULL, &added));
    cr_assert_eq(added, 0);
    cr_assert(strstr(pydron_error_last(), "task 0 of the batch") != NULL, "%s",
              pydron_error_last());
    d[1].tick_len = 1;   /* with a NULL tick */
    d[1].inputs = &c3;
    TU_ERR(PYDRON_EINVAL, pydron_task_add_many(g3, d, 2, NULL, outs, NULL));
    cr_assert(strstr(pydron_error_last(), "NULL tick") != NULL, "%s", pydron_error_last());
    d[1].tick_len = 0;
    /* task 0 of that call was added: a stale input id in the next call */
    TU_OK(pydron_value_release(g3, outs[0]));
    pydron_value stale = outs[0];
    d[0].inputs = &c3;
    d[1].inputs = &stale;
    TU_OK(pydron_graph_run(g3, 60000));
    TU_ERR(PYDRON_ESTALE, pydron_task_add_many(g3, d, 2, NULL, outs, &added));
    cr_assert_eq(added, 1);
    TU_OK(pydron_value_release(g3, outs[0]));
    TU_OK(pydron_graph_close(g3));
    TU_ERR(PYDRON_ESTATE, pydron_task_add_many(g3, d, 1, NULL, outs, &added));
    cr_assert_eq(added, 0);
    TU_OK(pydron_graph_free(g3));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* pydron_task_add_many on a started graph while its tasks run on pool
 * threads (each batch may dispatch in its middle, releasing the graph lock
 * around the executor's submit): chains of batches, each batch's first
 * step reading the last output of the batch before; every result right. */
Test(graph, add_many_while_running)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    TU_OK(pydron_graph_start(g));
    enum { B = 64, BATCHES = 200, CHAINS = 3 };
    pydron_value ends[CHAINS];
    pydron_task_desc d[B];
    pydron_value outs[B];
    for (int c = 0; c < CHAINS; c++) {
        pydron_value prev = tu_const_u64(g, (uint64_t)c * 1000000u);
        for (int b = 0; b < BATCHES; b++) {
            chain_descs(d, B, sum, outs, &prev, PYDRON_TASK_TAKE_INPUTS);
            size_t added = 0;
            TU_OK(pydron_task_add_many(g, d, B, NULL, outs, &added));
            cr_assert_eq(added, B);
            prev = outs[B - 1];
        }
        ends[c] = prev;
    }
    for (int c = 0; c < CHAINS; c++) {
        TU_OK(pydron_graph_wait(g, ends[c], 60000));
        cr_assert_eq(tu_get_u64(g, ends[c]), (uint64_t)c * 1000000u + B * BATCHES);
        TU_OK(pydron_value_release(g, ends[c]));
    }
    pydron_graph_stats gs;
    TU_OK(pydron_graph_stats_get(g, &gs));
    cr_assert_eq(gs.tasks_done, (uint64_t)CHAINS * B * BATCHES);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(graph, add_many_inline) { add_many_on(PYDRON_EXECUTOR_INLINE, 0); }
Test(graph, add_many_threads) { add_many_on(PYDRON_EXECUTOR_THREADS, 2); }

/* A SYNC task whose tick is below one that already started is out of order. */
static int fn_sync_log(pydron_task_ctx *ctx, void *user)
{
    int *count = (int *)user;
    (*count)++;
    for (size_t o = 0; o < pydron_ctx_noutputs(ctx); o++)
        pydron_ctx_output_set(ctx, o, "", 0);
    return 0;
}

Test(graph, sync_tick_order_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    int count = 0;
    uint32_t k = tu_kind_c(rt, "synclog", fn_sync_log, &count);
    pydron_graph *g = tu_graph(rt);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_SYNC;
    d.noutputs = 1;
    uint32_t tick5[] = {5};
    d.tick = tick5;
    d.tick_len = 1;
    pydron_value v;
    TU_OK(pydron_task_add(g, &d, NULL, &v));
    TU_OK(pydron_graph_wait(g, v, 60000));
    cr_assert_eq(count, 1);
    uint32_t tick3[] = {3};
    d.tick = tick3;
    TU_ERR(PYDRON_ERANGE, pydron_task_add(g, &d, NULL, &v));
    uint32_t tick49[] = {4, 9}; /* nested under an earlier statement: also earlier */
    d.tick = tick49;
    d.tick_len = 2;
    TU_ERR(PYDRON_ERANGE, pydron_task_add(g, &d, NULL, &v));
    d.tick_len = 1;
    uint32_t tick6[] = {6};
    d.tick = tick6;
    d.tick_len = 1;
    TU_OK(pydron_task_add(g, &d, NULL, &v));
    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_eq(count, 2);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Bodies that break their contract fail their task, not the process. */
static int fn_no_output(pydron_task_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    return 0; /* "succeeds" without writing its output */
}

static int fn_bad_rc(pydron_task_ctx *ctx, void *user)
{
    (void)ctx;
    (void)user;
    return -1; /* fails without pydron_ctx_fail */
}

Test(graph, body_contract_violations)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k1 = tu_kind_c(rt, "no_output", fn_no_output, NULL);
    uint32_t k2 = tu_kind_c(rt, "bad_rc", fn_bad_rc, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value v1, v2;
    tu_add(g, k1, 0, NULL, 0, 1, &v1, NULL);
    tu_add(g, k2, 0, NULL, 0, 1, &v2, NULL);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, v1, 60000));
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, v2, 60000));
    char *msg = NULL;
    TU_OK(pydron_value_error(g, v1, NULL, &msg, NULL, NULL));
    cr_assert(msg && msg[0], "no message for a missing output");
    pydron_free(msg);
    msg = NULL;
    TU_OK(pydron_value_error(g, v2, NULL, &msg, NULL, NULL));
    cr_assert(msg && msg[0], "no message for a failing body without pydron_ctx_fail");
    pydron_free(msg);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Running calls: NULL graph and bad arguments. */
Test(graph, run_misuse)
{
    TU_ERR(PYDRON_EINVAL, pydron_graph_start(NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_run(NULL, 0));
    TU_ERR(PYDRON_EINVAL, pydron_graph_wait(NULL, PYDRON_VALUE_NONE, 0));
    TU_ERR(PYDRON_EINVAL, pydron_graph_close(NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_cancel(NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_interrupt(NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_stats_get(NULL, NULL));
    char *dot;
    size_t len;
    TU_ERR(PYDRON_EINVAL, pydron_graph_dot(NULL, &dot, &len));

    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    pydron_graph *g = tu_graph(rt);
    TU_ERR(PYDRON_EINVAL, pydron_graph_stats_get(g, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_dot(g, NULL, &len));
    TU_ERR(PYDRON_ESTALE, pydron_graph_wait(g, PYDRON_VALUE_NONE, 0));
    TU_OK(pydron_graph_start(g));
    TU_OK(pydron_graph_start(g)); /* idempotent */
    TU_OK(pydron_graph_run(g, 1000)); /* empty graph: nothing to wait for */
    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A wait with a timeout on a value nobody sets returns ETIMEDOUT, and the
 * graph is still fine afterwards. */
Test(graph, wait_timeout_then_continue)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value in, out;
    TU_OK(pydron_value_input(g, &in));
    tu_add(g, sum, 0, &in, 1, 1, &out, NULL);
    uint64_t t0 = tu_now_ns();
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_wait(g, out, 50));
    cr_assert_geq(tu_now_ns() - t0, 45000000ull, "wait returned before its timeout");
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_run(g, 10));
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_wait(g, out, 0));
    uint64_t x = 41;
    TU_OK(pydron_value_set(g, in, &x, sizeof x));
    cr_assert_eq(tu_get_u64(g, out), 41);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Interrupt from another thread makes a blocked wait return EINTR. */
static void *interrupter(void *arg)
{
    usleep(50000);
    pydron_graph_interrupt((pydron_graph *)arg);
    return NULL;
}

Test(graph, interrupt_wait)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    pydron_graph *g = tu_graph(rt);
    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    pthread_t th;
    pthread_create(&th, NULL, interrupter, g);
    int rc = pydron_graph_wait(g, in, 30000);
    pthread_join(th, NULL);
    cr_assert_eq(rc, PYDRON_EINTR, "wait -> %d (%s)", rc, pydron_strerror(rc));
    /* the graph keeps working after an interrupt */
    uint64_t x = 7;
    TU_OK(pydron_value_set(g, in, &x, sizeof x));
    cr_assert_eq(tu_get_u64(g, in), 7);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Cancel: pending values fail with ECANCELED; what already ran stays. */
Test(graph, cancel_pending)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1), done, in, pending;
    tu_add(g, sum, 0, &c, 1, 1, &done, NULL);
    cr_assert_eq(tu_get_u64(g, done), 1);
    TU_OK(pydron_value_input(g, &in));
    tu_add(g, sum, 0, &in, 1, 1, &pending, NULL);
    TU_OK(pydron_graph_cancel(g));
    TU_ERR(PYDRON_ECANCELED, pydron_graph_wait(g, pending, 1000));
    pydron_value_state st;
    TU_OK(pydron_value_state_get(g, pending, &st));
    cr_assert_eq(st, PYDRON_VALUE_FAILED);
    cr_assert_eq(tu_get_u64(g, done), 1);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Tasks can be added while the graph runs (incremental building). */
Test(graph, incremental_add_while_running)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    TU_OK(pydron_graph_start(g));
    pydron_value v = tu_const_u64(g, 0);
    uint64_t one = 1;
    for (int i = 0; i < 200; i++) {
        pydron_value nv;
        tu_add(g, sum, 0, &v, 1, 1, &nv, &one);
        TU_OK(pydron_value_release(g, v));
        v = nv;
        if (i % 50 == 0)
            cr_assert_eq(tu_get_u64(g, v), (uint64_t)i + 1);
    }
    cr_assert_eq(tu_get_u64(g, v), 200);
    TU_OK(pydron_value_release(g, v));
    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A graph freed with work pending cancels it and releases everything. */
Test(graph, free_with_pending_work)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t sum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value in, out;
    TU_OK(pydron_value_input(g, &in));
    for (int i = 0; i < 100; i++)
        tu_add(g, sum, 0, &in, 1, 1, &out, NULL);
    TU_OK(pydron_graph_start(g));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The caller may pass its inputs array as out_values (replace the inputs by
 * the output, as a loop "v = f(v)" does): the inputs are read first. Both
 * the short task (one input) and one with three inputs, ready and pending. */
Test(graph, out_values_may_be_the_inputs)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    uint64_t one = 1;
    pydron_value a = tu_const_u64(g, 10), b = tu_const_u64(g, 20), c = tu_const_u64(g, 30);
    pydron_value held[4] = {a, b, c, PYDRON_VALUE_NONE};
    pydron_value v[3] = {a, PYDRON_VALUE_NONE, PYDRON_VALUE_NONE};
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 1;
    d.inputs = v;
    d.noutputs = 1;
    d.payload = &one;
    d.payload_len = sizeof one;
    TU_OK(pydron_task_add(g, &d, NULL, v));   /* v[0] = a + 1, pending */
    held[3] = v[0];
    v[1] = b;
    v[2] = c;
    d.ninputs = 3;
    TU_OK(pydron_task_add(g, &d, NULL, v));   /* v[0] = (a + 1) + b + c + 1 */
    cr_assert_neq(v[0].id, held[3].id);
    /* a task that read its own output as an input would wait forever */
    TU_OK(pydron_graph_wait(g, v[0], 10000));
    cr_assert_eq(tu_get_u64(g, v[0]), 11 + 20 + 30 + 1);
    cr_assert_eq(tu_get_u64(g, held[3]), 11);
    TU_OK(pydron_value_release(g, v[0]));
    for (int i = 0; i < 4; i++)
        TU_OK(pydron_value_release(g, held[i]));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
