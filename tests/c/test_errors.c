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
