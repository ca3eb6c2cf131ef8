/*
 * test_errors.c - failure propagation: a failing task's message reaches
 * every value that depends on it, names the failing task, dependents never
 * run, and unrelated branches still finish.
 */
#include "testutil.h"

#include <stdatomic.h>

static atomic_int dependent_runs;

static int fn_counted(pydron_task_ctx *ctx, void *user)
{
    atomic_fetch_add(&dependent_runs, 1);
    return tu_fn_sum(ctx, user);
}

static int fn_fail_detail(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    static const unsigned char detail[5] = {1, 2, 0, 3, 4};
    pydron_ctx_fail(ctx, "with detail %s", "xyz");
    pydron_ctx_fail_detail(ctx, detail, sizeof detail);
    return PYDRON_ETASK;
}

static void check_failed(pydron_graph *g, pydron_value v, pydron_task culprit, const char *needle,
                         const char *label)
{
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, v, 60000));
    cr_assert(strstr(pydron_error_last(), needle), "wait: '%s' lacks '%s'", pydron_error_last(),
              needle);
    pydron_value_state st;
    TU_OK(pydron_value_state_get(g, v, &st));
    cr_assert_eq(st, PYDRON_VALUE_FAILED);

    const void *p;
    size_t n;
    TU_ERR(PYDRON_ETASK, pydron_value_bytes(g, v, &p, &n));
    const char *m = pydron_error_last();
    cr_assert(strstr(m, needle), "bytes: '%s' lacks '%s'", m, needle);
    /* "message names task and error": by label or by id (decimal or hex) */
    char idbuf[32], hexbuf[32];
    snprintf(idbuf, sizeof idbuf, "%llu", (unsigned long long)culprit.id);
    snprintf(hexbuf, sizeof hexbuf, "%llx", (unsigned long long)culprit.id);
    cr_assert(strstr(m, label) || strstr(m, idbuf) || strstr(m, hexbuf),
              "bytes: '%s' names neither '%s' nor task %s", m, label, idbuf);

    pydron_task t = PYDRON_TASK_NONE;
    char *msg = NULL;
    TU_OK(pydron_value_error(g, v, &t, &msg, NULL, NULL));
    cr_assert_eq(t.id, culprit.id, "value_error names task %llu, the failing task is %llu",
                 (unsigned long long)t.id, (unsigned long long)culprit.id);
    cr_assert(msg && strstr(msg, needle), "value_error message '%s' lacks '%s'", msg ? msg : "",
              needle);
    pydron_free(msg);
    TU_OK(pydron_value_error(g, v, NULL, NULL, NULL, NULL)); /* all out-params optional */
}

static void run_propagation(pydron_executor_kind ex)
{
    atomic_store(&dependent_runs, 0);
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t ksum = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kdep = tu_kind_c(rt, "dependent", fn_counted, NULL);
    uint32_t kfail = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);

    pydron_value c = tu_const_u64(g, 1);
    /* the failing task has two outputs; both fail */
    pydron_value f[2];
    uint64_t code = 42;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kfail;
    d.ninputs = 1;
    d.inputs = &c;
    d.noutputs = 2;
    d.payload = &code;
    d.payload_len = sizeof code;
    d.label = "failing-task";
    pydron_task ft;
    TU_OK(pydron_task_add(g, &d, &ft, f));

    /* dependents: d1(f0), d2(d1, ok), d3(f1), a SYNC task on d2 */
    pydron_value ok1, ok2, d1, d2, d3, s;
    tu_add(g, ksum, 0, &c, 1, 1, &ok1, NULL);
    tu_add(g, kdep, 0, &f[0], 1, 1, &d1, NULL);
    pydron_value in2[2] = {d1, ok1};
    tu_add(g, kdep, 0, in2, 2, 1, &d2, NULL);
    tu_add(g, kdep, 0, &f[1], 1, 1, &d3, NULL);
    tu_add(g, kdep, PYDRON_TASK_SYNC, &d2, 1, 1, &s, NULL);
    /* an unrelated branch keeps going */
    uint64_t five = 5;
    tu_add(g, ksum, 0, &ok1, 1, 1, &ok2, &five);

    TU_OK(pydron_graph_run(g, 60000)); /* 0 even though tasks failed */
    cr_assert_eq(tu_get_u64(g, ok2), 6);
    pydron_value failed[6] = {f[0], f[1], d1, d2, d3, s};
    for (int i = 0; i < 6; i++)
        check_failed(g, failed[i], ft, "boom 42", "failing-task");
    cr_assert_eq(atomic_load(&dependent_runs), 0, "a dependent of a failed task ran");
    pydron_task_state ts;
    TU_OK(pydron_task_state_get(g, ft, &ts));
    cr_assert_eq(ts, PYDRON_TASK_FAILED);
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_geq(st.tasks_failed, 1);
    cr_assert_eq(st.tasks_done + st.tasks_failed >= 2, 1);

    /* a task added after the failure, on the failed value, fails too */
    pydron_value late;
    tu_add(g, kdep, 0, &d3, 1, 1, &late, NULL);
    check_failed(g, late, ft, "boom 42", "failing-task");
    cr_assert_eq(atomic_load(&dependent_runs), 0);

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(errors, propagation_inline) { run_propagation(PYDRON_EXECUTOR_INLINE); }
Test(errors, propagation_threads) { run_propagation(PYDRON_EXECUTOR_THREADS); }

Test(errors, detail_bytes_travel)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t kf = tu_kind_c(rt, "faildetail", fn_fail_detail, NULL);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value f, dep;
    pydron_task ft = tu_add(g, kf, 0, NULL, 0, 1, &f, NULL);
    tu_add(g, ks, 0, &f, 1, 1, &dep, NULL);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, dep, 60000));
    pydron_task t;
    char *msg = NULL;
    void *detail = NULL;
    size_t dlen = 0;
    TU_OK(pydron_value_error(g, dep, &t, &msg, &detail, &dlen));
    cr_assert_eq(t.id, ft.id);
    cr_assert(msg && strstr(msg, "with detail xyz"), "message '%s'", msg ? msg : "");
    cr_assert_eq(dlen, 5);
    cr_assert_not_null(detail);
    static const unsigned char want[5] = {1, 2, 0, 3, 4};
    cr_assert_arr_eq(detail, want, 5);
    pydron_free(msg);
    pydron_free(detail);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* An external input set as failed fails its consumers with its message. */
Test(errors, input_set_failed)
{
    atomic_store(&dependent_runs, 0);
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t kdep = tu_kind_c(rt, "dependent", fn_counted, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value in, out;
    TU_OK(pydron_value_input(g, &in));
    tu_add(g, kdep, 0, &in, 1, 1, &out, NULL);
    TU_OK(pydron_value_set_failed(g, in, "upstream exploded"));
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, out, 60000));
    char *msg = NULL;
    TU_OK(pydron_value_error(g, out, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, "upstream exploded"), "message '%s'", msg ? msg : "");
    pydron_free(msg);
    cr_assert_eq(atomic_load(&dependent_runs), 0);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* value_error on a value that did not fail is a state error. */
Test(errors, value_error_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1), in;
    char *msg = NULL;
    TU_ERR(PYDRON_ESTATE, pydron_value_error(g, c, NULL, &msg, NULL, NULL));
    cr_assert_null(msg);
    TU_OK(pydron_value_input(g, &in));
    TU_ERR(PYDRON_ESTATE, pydron_value_error(g, in, NULL, &msg, NULL, NULL));
    TU_ERR(PYDRON_ESTALE, pydron_value_error(g, PYDRON_VALUE_NONE, NULL, &msg, NULL, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_value_error(NULL, c, NULL, &msg, NULL, NULL));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Many independent failures on the thread pool: each dependent carries the
 * message of its own culprit (no mix-ups between concurrent failures). */
Test(errors, many_concurrent_failures)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t kf = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    enum { N = 500 };
    pydron_value dep[N];
    pydron_task cul[N];
    for (int i = 0; i < N; i++) {
        pydron_value f;
        uint64_t code = 1000 + (uint64_t)i;
        cul[i] = tu_add(g, kf, 0, NULL, 0, 1, &f, &code);
        tu_add(g, ks, 0, &f, 1, 1, &dep[i], NULL);
        TU_OK(pydron_value_release(g, f));
    }
    TU_OK(pydron_graph_run(g, 60000));
    for (int i = 0; i < N; i++) {
        pydron_task t;
        char *msg = NULL;
        TU_OK(pydron_value_error(g, dep[i], &t, &msg, NULL, NULL));
        char want[32];
        snprintf(want, sizeof want, "boom %d", 1000 + i);
        cr_assert_eq(t.id, cul[i].id);
        cr_assert(msg && strstr(msg, want), "dep %d: '%s' lacks '%s'", i, msg ? msg : "", want);
        pydron_free(msg);
    }
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* ---- pydron_error_last(): cleared by every successful call ---------------
 * (pydron.h, "Errors"): after a call that returns 0 the message is "", so
 * an earlier failure's text never survives into a later success, and a
 * failure without a message of its own does not show an older one. */

#define SEED "no-such-kind-xyzzy"

/* A failure with a recognizable message. */
static void seed_failure(pydron_runtime *rt)
{
    uint32_t k;
    cr_assert_eq(pydron_runtime_kind(rt, SEED, &k), PYDRON_ENOTFOUND);
    cr_assert(strstr(pydron_error_last(), SEED), "seed message: \"%s\"", pydron_error_last());
}

#define CLEARED(rt, expr)                                                                 \
    do {                                                                                  \
        seed_failure(rt);                                                                 \
        int cl_rc_ = (expr);                                                              \
        cr_assert_eq(cl_rc_, 0, "%s -> %d: %s", #expr, cl_rc_, pydron_error_last());       \
        cr_assert_str_eq(pydron_error_last(), "", "after %s succeeded: \"%s\"", #expr,    \
                         pydron_error_last());                                            \
    } while (0)

/* A failure that leaves no detail of its own must not show the seed. */
#define NOT_STALE(rt, code, expr)                                                         \
    do {                                                                                  \
        seed_failure(rt);                                                                 \
        int ns_rc_ = (expr);                                                              \
        cr_assert_eq(ns_rc_, (code), "%s -> %d", #expr, ns_rc_);                          \
        cr_assert_null(strstr(pydron_error_last(), SEED), "after %s failed: \"%s\"", #expr, \
                       pydron_error_last());                                              \
    } while (0)

static int body_results[4];

/* In a task body: ctx calls clear too. */
static int fn_ctx_clears(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *d;
    size_t n;
    int bad = pydron_ctx_input(ctx, 99, &d, &n);            /* fails, sets a message */
    body_results[0] = bad < 0 && pydron_error_last()[0] != 0;
    int ok = pydron_ctx_input(ctx, 0, &d, &n);
    body_results[1] = ok == 0 && pydron_error_last()[0] == 0;
    (void)pydron_ctx_input(ctx, 99, &d, &n);
    uint64_t x = 7;
    ok = pydron_ctx_output_set(ctx, 0, &x, sizeof x);
    body_results[2] = ok == 0 && pydron_error_last()[0] == 0;
    body_results[3] = 1;
    return 0;
}

static void timing_cb(const pydron_task_timing *t, void *user)
{
    (void)t;
    (*(int *)user)++;
}

Test(error_last, cleared_by_every_successful_call)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t ksum = 0, kctx = 0, k = 0;
    CLEARED(rt, pydron_runtime_register_c(rt, "sum", tu_fn_sum, NULL, &ksum));
    CLEARED(rt, pydron_runtime_register_c(rt, "ctx", fn_ctx_clears, NULL, &kctx));
    CLEARED(rt, pydron_runtime_kind(rt, "sum", &k));
    pydron_graph *g = NULL;
    CLEARED(rt, pydron_graph_new(rt, &g));
    uint64_t one = 1, two = 2;
    pydron_value a, b, in, out, o2;
    CLEARED(rt, pydron_value_constant(g, &one, sizeof one, &a));
    CLEARED(rt, pydron_value_input(g, &in));
    CLEARED(rt, pydron_value_set(g, in, &two, sizeof two));
    CLEARED(rt, pydron_value_retain(g, in));
    CLEARED(rt, pydron_value_release(g, in));
    b = in;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    pydron_value ins[2] = {a, b};
    d.kind = ksum;
    d.flags = PYDRON_TASK_PURE;
    d.ninputs = 2;
    d.inputs = ins;
    d.noutputs = 1;
    pydron_task t;
    CLEARED(rt, pydron_task_add(g, &d, &t, &out));
    d.kind = kctx;
    pydron_task t2;
    CLEARED(rt, pydron_task_add(g, &d, &t2, &o2));
    CLEARED(rt, pydron_graph_start(g));
    CLEARED(rt, pydron_graph_wait(g, out, 60000));
    CLEARED(rt, pydron_graph_run(g, 60000));
    cr_assert(body_results[3], "the ctx body ran");
    cr_assert(body_results[0], "a failing ctx call left a message");
    cr_assert(body_results[1], "pydron_ctx_input succeeded and cleared it");
    cr_assert(body_results[2], "pydron_ctx_output_set succeeded and cleared it");
    pydron_value_state vs;
    size_t n;
    const void *p;
    pydron_task prod;
    pydron_task_state ts;
    CLEARED(rt, pydron_value_state_get(g, out, &vs));
    CLEARED(rt, pydron_value_size(g, out, &n));
    CLEARED(rt, pydron_value_bytes(g, out, &p, &n));
    CLEARED(rt, pydron_value_producer(g, out, &prod));
    CLEARED(rt, pydron_task_state_get(g, t, &ts));
    char *dot = NULL;
    CLEARED(rt, pydron_graph_dot(g, &dot, &n));
    pydron_free(dot);
    pydron_task_timing tt;
    pydron_graph_stats st;
    int ntimings = 0;
    CLEARED(rt, pydron_task_timing_get(g, t, &tt));
    CLEARED(rt, pydron_graph_timings(g, timing_cb, &ntimings));
    CLEARED(rt, pydron_graph_stats_get(g, &st));
    unsigned nw;
    CLEARED(rt, pydron_runtime_nworkers(rt, &nw));
    pydron_runtime_options o;
    CLEARED(rt, pydron_runtime_options_init_version(&o, 1));
    void *pl = NULL;
    CLEARED(rt, pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &n));
    pydron_free(pl);
    CLEARED(rt, pydron_graph_close(g));
    CLEARED(rt, pydron_graph_free(g));
    seed_failure(rt);
    TU_OK(pydron_runtime_free(rt));
    cr_assert_str_eq(pydron_error_last(), "");
}

Test(error_last, failure_without_detail_shows_no_older_message)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    pydron_graph *g = tu_graph(rt);
    pydron_task bogus = {12345};
    pydron_value vbogus = {12345};
    pydron_task_state ts;
    pydron_task_timing tt;
    size_t n;
    NOT_STALE(rt, PYDRON_ESTALE, pydron_task_state_get(g, bogus, &ts));
    NOT_STALE(rt, PYDRON_ESTALE, pydron_task_timing_get(g, bogus, &tt));
    NOT_STALE(rt, PYDRON_ESTALE, pydron_value_size(g, vbogus, &n));
    NOT_STALE(rt, PYDRON_EINVAL, pydron_value_unmap(NULL, 0));
    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    TU_OK(pydron_value_set_failed(g, in, "the input failed"));
    const void *p;
    NOT_STALE(rt, PYDRON_ETASK, pydron_value_bytes(g, in, &p, &n));
    NOT_STALE(rt, PYDRON_ETASK, pydron_graph_wait(g, in, 1000));
    char *msg = NULL;
    pydron_value c = tu_const_u64(g, 1);
    NOT_STALE(rt, PYDRON_ESTATE, pydron_value_error(g, c, NULL, &msg, NULL, NULL));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The message is per thread: a failure on another thread does not show
 * here, and a success here does not clear the other thread's. */
static void *fail_on_thread(void *arg)
{
    uint32_t k;
    int rc = pydron_runtime_kind(arg, "other-thread-kind", &k);
    return (void *)(intptr_t)(rc == PYDRON_ENOTFOUND && strstr(pydron_error_last(), "other-thread-kind"));
}

Test(error_last, per_thread)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    seed_failure(rt);
    pthread_t th;
    void *ok = NULL;
    cr_assert_eq(pthread_create(&th, NULL, fail_on_thread, rt), 0);
    pthread_join(th, &ok);
    cr_assert(ok, "the other thread saw its own message");
    cr_assert(strstr(pydron_error_last(), SEED), "ours is untouched: \"%s\"", pydron_error_last());
    TU_OK(pydron_runtime_free(rt));
}

/* The message may be an argument of the next call, which clears first. */
Test(error_last, readable_as_argument_of_the_next_call)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    pydron_graph *g = tu_graph(rt);
    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    seed_failure(rt);
    TU_OK(pydron_value_set_failed(g, in, pydron_error_last()));
    cr_assert_str_eq(pydron_error_last(), "");
    char *msg = NULL;
    TU_OK(pydron_value_error(g, in, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, SEED), "the value's message: \"%s\"", msg ? msg : "(null)");
    pydron_free(msg);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* pydron_job_run_local reports a failing body only through the job (the
 * message travels with the value), so its ETASK has no message of its own:
 * an executor that reads pydron_error_last() after it must not find an
 * older one. */
static pydron_runtime *jx_rt;
static atomic_int jx_checked, jx_stale;

static int jx_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)self;
    (void)host;
    *nworkers = 1;
    *in_flight = 4;
    return 0;
}

static int jx_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)self;
    (void)worker;
    for (size_t i = 0; i < n; i++) {
        uint32_t k;
        (void)pydron_runtime_kind(jx_rt, SEED, &k); /* an older message */
        int rc = pydron_job_run_local(jobs[i]);
        if (rc == PYDRON_ETASK) {
            atomic_fetch_add(&jx_checked, 1);
            if (strstr(pydron_error_last(), SEED))
                atomic_fetch_add(&jx_stale, 1);
        }
        pydron_job_done(jobs[i], rc);
    }
    return 0;
}

static void jx_stop(void *self) { (void)self; }

static int fn_just_fail(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    pydron_ctx_fail(ctx, "body failed on purpose");
    return PYDRON_ETASK;
}

Test(error_last, job_run_local_failure_is_not_stale)
{
    static const pydron_executor_ops ops = {PYDRON_EXECUTOR_OPS_VERSION, "jx", jx_start,
                                            jx_submit, NULL, NULL, NULL, jx_stop, NULL, NULL};
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    jx_rt = rt;
    TU_OK(pydron_runtime_set_executor(rt, &ops, NULL));
    uint32_t kf = tu_kind_c(rt, "just-fail", fn_just_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value out;
    tu_add(g, kf, PYDRON_TASK_PURE, NULL, 0, 1, &out, NULL);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, out, 60000));
    cr_assert_eq(atomic_load(&jx_checked), 1, "the executor ran the failing job");
    cr_assert_eq(atomic_load(&jx_stale), 0, "ETASK of pydron_job_run_local showed an older message");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
