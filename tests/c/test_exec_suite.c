/*
 * test_exec_suite.c - ONE executor conformance suite, run against every
 * executor: the shipped ones (inline, threads, local, remote, sim) and "oot",
 * an executor written outside libpydron against pydron.h alone
 * (tests/c/oot/oot_executor.c). Each test is parameterized by executor
 * name; an executor passes the contract in pydron.h ("Executors") when it
 * passes all of them:
 *  - results and failures come back right (fan-out, fan-in, a failing body);
 *  - pydron_graph_wait/run keep their deadline while slow tasks run;
 *  - pydron_graph_cancel is synchronous: jobs queued on the executor come
 *    back canceled before it returns, and waits then say ECANCELED;
 *  - pydron_graph_free with jobs queued returns and frees.
 * Tasks are pydron.ffi calls into the test library, so the same graph runs
 * in-process and in worker processes.
 */
#include "testutil.h"

#include <criterion/parameterized.h>

#include "oot/oot_executor.h"

#define LIB PYDRON_TEST_FFI_LIB
#define NEXEC 6
static const char *const exec_names[NEXEC] = {"inline", "threads", "local", "remote", "oot", "sim"};

typedef struct xname {
    char name[16];
} xname;

static xname *all_executors(size_t *n)
{
    static xname xs[NEXEC];
    for (size_t i = 0; i < NEXEC; i++)
        snprintf(xs[i].name, sizeof xs[i].name, "%s", exec_names[i]);
    *n = NEXEC;
    return xs;
}

/* A runtime on executor `name` with two workers (threads, processes). */
static pydron_runtime *suite_runtime(const char *name)
{
    static char cmd[1024];
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt = NULL;
    if (!strcmp(name, "inline") || !strcmp(name, "oot") || !strcmp(name, "sim")) {
        o.executor = PYDRON_EXECUTOR_INLINE;
    } else if (!strcmp(name, "threads")) {
        o.executor = PYDRON_EXECUTOR_THREADS;
    } else if (!strcmp(name, "local")) {
        o.executor = PYDRON_EXECUTOR_LOCAL;
    } else {
        /* workers started by the launch template, dialing in over loopback */
        o.executor = PYDRON_EXECUTOR_REMOTE;
        o.secret = "executor-suite-secret-0123456789abcdef";
        snprintf(cmd, sizeof cmd,
                 "exec %s --connect {url} --secret-file {secret_file} --id {id}",
                 PYDRON_WORKER_PATH);
        o.launch_command = cmd;
    }
    TU_OK(pydron_runtime_new(&rt, &o));
    if (!strcmp(name, "oot")) {
        int rc = oot_executor_register("oot");
        cr_assert(rc == 0 || rc == PYDRON_EEXIST, "register: %s", pydron_error_last());
        TU_OK(pydron_runtime_use_executor(rt, "oot", NULL));
    }
    if (!strcmp(name, "sim"))
        TU_OK(pydron_runtime_use_executor(rt, "sim", NULL));   /* 2 simulated workers */
    return rt;
}

/* Start the graph and wait for one task, so that worker processes are up
 * before anything is timed. */
static void warm_up(pydron_graph *g, pydron_runtime *rt)
{
    pydron_value c = tu_const_u64(g, 1), out;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", &c, 1, 1, &out);
    cr_assert_eq(tu_get_u64(g, out), 1);
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_value_release(g, out));
}

static double ms_since(uint64_t t0) { return (double)(tu_now_ns() - t0) / 1e6; }

ParameterizedTestParameters(exec_suite, fan_out_fan_in)
{
    size_t n;
    xname *xs = all_executors(&n);
    return cr_make_param_array(xname, xs, n);
}

ParameterizedTest(xname *x, exec_suite, fan_out_fan_in, .timeout = 120)
{
    pydron_runtime *rt = suite_runtime(x->name);
    pydron_graph *g = tu_graph(rt);
    enum { N = 16 };
    pydron_value mid[N];
    uint64_t want = 0;
    for (unsigned i = 0; i < N; i++) {
        pydron_value in[2] = {tu_const_u64(g, i), tu_const_u64(g, 100 * i)};
        tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", in, 2, 1, &mid[i]);
        want += 101u * i;
        TU_OK(pydron_value_release(g, in[0]));
        TU_OK(pydron_value_release(g, in[1]));
    }
    pydron_value total;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", mid, N, 1, &total);
    cr_assert_eq(tu_get_u64(g, total), want, "%s: wrong sum", x->name);
    for (unsigned i = 0; i < N; i++)
        cr_assert_eq(tu_get_u64(g, mid[i]), 101u * i);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

ParameterizedTestParameters(exec_suite, failing_body)
{
    size_t n;
    xname *xs = all_executors(&n);
    return cr_make_param_array(xname, xs, n);
}

ParameterizedTest(xname *x, exec_suite, failing_body, .timeout = 120)
{
    pydron_runtime *rt = suite_runtime(x->name);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 7), bad, after;
    tu_ffi_task(g, rt, LIB, "tl_fail_ctx", "ctx", &c, 1, 1, &bad);
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", &bad, 1, 1, &after);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, bad, 60000));
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, after, 60000));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A chain of 50 tasks of 20 ms each takes at least a second; waits of
 * 50 ms on its end must time out after about 50 ms, not run the chain. */
ParameterizedTestParameters(exec_suite, waits_keep_their_deadline)
{
    size_t n;
    xname *xs = all_executors(&n);
    return cr_make_param_array(xname, xs, n);
}

ParameterizedTest(xname *x, exec_suite, waits_keep_their_deadline, .timeout = 120)
{
    pydron_runtime *rt = suite_runtime(x->name);
    pydron_graph *g = tu_graph(rt);
    warm_up(g, rt);
    enum { N = 50 };
    pydron_value v = tu_const_u64(g, 0), next;
    for (unsigned i = 0; i < N; i++) {
        tu_ffi_task(g, rt, LIB, "tl_slow_sum_ctx", "ctx", &v, 1, 1, &next);
        TU_OK(pydron_value_release(g, v));
        v = next;
    }
    uint64_t t0 = tu_now_ns();
    int rc = pydron_graph_wait(g, v, 50);
    double ms = ms_since(t0);
    cr_assert_eq(rc, PYDRON_ETIMEDOUT, "%s: wait(50 ms) on a 1 s chain returned %d (%s) after %.0f ms",
                 x->name, rc, pydron_strerror(rc), ms);
    cr_assert_lt(ms, N * 20.0 * 0.8, "%s: wait(50 ms) returned after %.0f ms", x->name, ms);
    t0 = tu_now_ns();
    rc = pydron_graph_run(g, 50);
    ms = ms_since(t0);
    cr_assert_eq(rc, PYDRON_ETIMEDOUT, "%s: run(50 ms) returned %d after %.0f ms", x->name, rc, ms);
    cr_assert_lt(ms, N * 20.0 * 0.8, "%s: run(50 ms) returned after %.0f ms", x->name, ms);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* 40 independent 20 ms tasks on 2 workers: nearly all are queued on the
 * executor (in flight) when the graph is canceled. Cancel recalls them:
 * when it returns, at most the few that were running are still RUNNING,
 * and a wait on a queued one says ECANCELED at once. */
ParameterizedTestParameters(exec_suite, cancel_recalls_queued_jobs)
{
    size_t n;
    xname *xs = all_executors(&n);
    return cr_make_param_array(xname, xs, n);
}

ParameterizedTest(xname *x, exec_suite, cancel_recalls_queued_jobs, .timeout = 120)
{
    pydron_runtime *rt = suite_runtime(x->name);
    pydron_graph *g = tu_graph(rt);
    warm_up(g, rt);
    enum { N = 40 };
    pydron_task t[N];
    pydron_value out[N];
    for (unsigned i = 0; i < N; i++) {
        pydron_value c = tu_const_u64(g, i);
        t[i] = tu_ffi_task(g, rt, LIB, "tl_slow_sum_ctx", "ctx", &c, 1, 1, &out[i]);
        TU_OK(pydron_value_release(g, c));
    }
    /* let the executor take them (inline: the first runs here) */
    (void)pydron_graph_wait(g, out[0], 5);
    TU_OK(pydron_graph_cancel(g));
    unsigned running = 0, canceled = 0;
    for (unsigned i = 0; i < N; i++) {
        pydron_task_state st;
        TU_OK(pydron_task_state_get(g, t[i], &st));
        running += st == PYDRON_TASK_RUNNING;
        canceled += st == PYDRON_TASK_CANCELED;
    }
    cr_assert_leq(running, 4, "%s: %u tasks still RUNNING after cancel returned (queued jobs "
                              "were not recalled)", x->name, running);
    cr_assert_geq(canceled, N / 2, "%s: only %u of %d tasks canceled", x->name, canceled, N);
    int rc = pydron_graph_wait(g, out[N - 1], 0);
    cr_assert_eq(rc, PYDRON_ECANCELED, "%s: wait on a canceled task's value returned %d (%s)",
                 x->name, rc, pydron_strerror(rc));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Freeing a graph with jobs queued recalls them too (and returns). */
ParameterizedTestParameters(exec_suite, free_with_queued_jobs)
{
    size_t n;
    xname *xs = all_executors(&n);
    return cr_make_param_array(xname, xs, n);
}

ParameterizedTest(xname *x, exec_suite, free_with_queued_jobs, .timeout = 120)
{
    pydron_runtime *rt = suite_runtime(x->name);
    pydron_graph *g = tu_graph(rt);
    warm_up(g, rt);
    for (unsigned i = 0; i < 40; i++) {
        pydron_value c = tu_const_u64(g, i), o;
        tu_ffi_task(g, rt, LIB, "tl_slow_sum_ctx", "ctx", &c, 1, 1, &o);
    }
    TU_OK(pydron_graph_start(g));
    TU_OK(pydron_graph_free(g));
    /* the executor still works for the next graph */
    g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 5), o;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", &c, 1, 1, &o);
    cr_assert_eq(tu_get_u64(g, o), 5);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* ------------------------------------------------------------ registry */

Test(exec_registry, names_are_unique_and_known)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    int rc = oot_executor_register("oot");
    cr_assert(rc == 0 || rc == PYDRON_EEXIST);
    TU_ERR(PYDRON_EEXIST, oot_executor_register("oot"));
    TU_ERR(PYDRON_EEXIST, oot_executor_register("local")); /* shipped names are taken */
    TU_ERR(PYDRON_ENOTFOUND, pydron_runtime_use_executor(rt, "no-such-executor", NULL));
    pydron_executor_desc d = PYDRON_EXECUTOR_DESC_INIT;
    d.name = "no-create";
    TU_ERR(PYDRON_EINVAL, pydron_executor_register(&d));
    d.version = 99;
    TU_ERR(PYDRON_EINVAL, pydron_executor_register(&d));
    TU_ERR(PYDRON_EINVAL, pydron_executor_register(NULL));
    /* a registered executor by name, with its own options */
    unsigned three = 3;
    TU_OK(pydron_runtime_use_executor(rt, "oot", &three));
    pydron_graph *g = tu_graph(rt);
    TU_ERR(PYDRON_ESTATE, pydron_runtime_use_executor(rt, "inline", NULL));
    pydron_value c = tu_const_u64(g, 9), o;
    pydron_task t = tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", &c, 1, 1, &o);
    cr_assert_eq(tu_get_u64(g, o), 9);
    pydron_task_timing tm;
    TU_OK(pydron_task_timing_get(g, t, &tm));
    cr_assert_str_eq(tm.executor, "oot");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* pydron_runtime_new picks the shipped executors from the same registry. */
Test(exec_registry, runtime_options_pick_shipped_executors)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = (pydron_executor_kind)99;
    pydron_runtime *rt = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
    rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 4), o2;
    pydron_task t = tu_ffi_task(g, rt, LIB, "tl_sum_ctx", "ctx", &c, 1, 1, &o2);
    TU_OK(pydron_graph_wait(g, o2, 10000));
    pydron_task_timing tm;
    TU_OK(pydron_task_timing_get(g, t, &tm));
    cr_assert_str_eq(tm.executor, "threads");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
