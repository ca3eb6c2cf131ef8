/*
 * test_completion.c - a finished task's completion has a one-pass path for
 * its most common shape (one output, released by the caller, small bytes,
 * consumers listed inline) and the general path for the rest. Each test
 * mixes both shapes and their neighbours in one graph, on the inline and
 * the threads executor, and checks what either path must leave behind:
 * results, error blame, the timing log, and no record or byte left over.
 */
#include "testutil.h"

static const pydron_executor_kind executors[] = {PYDRON_EXECUTOR_INLINE,
                                                 PYDRON_EXECUTOR_THREADS};

typedef struct logcount {
    size_t done, bad;
} logcount;

static void count_log(const pydron_task_timing *t, void *user)
{
    logcount *c = user;
    if (t->state == PYDRON_TASK_DONE)
        c->done++;
    if (t->state == PYDRON_TASK_DONE &&
        !(t->queued_ns && t->started_ns && t->queued_ns <= t->started_ns + 1000000 &&
          t->started_ns <= t->finished_ns))
        c->bad++;
}

static void expect_empty(pydron_graph *g)
{
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.values_live, 0, "%llu values live after releasing everything",
                 (unsigned long long)s.values_live);
    cr_assert_eq(s.bytes_live, 0, "%llu bytes live after releasing everything",
                 (unsigned long long)s.bytes_live);
}

/* Chains whose intermediates are released (the one-pass shape), fan-outs
 * of 3 (inline consumer list) and 6 (on the heap: general path), a held
 * intermediate (general path: its record is kept) and two outputs (general
 * path), in one graph. */
static void shapes(pydron_executor_kind ex)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    uint64_t one = 1;
    enum { CHAINS = 40, LEN = 25 };
    pydron_value ends[CHAINS], held = PYDRON_VALUE_NONE;
    size_t ntasks = 0;
    for (int c = 0; c < CHAINS; c++) {
        pydron_value v = tu_const_u64(g, (uint64_t)c);
        for (int s = 0; s < LEN; s++) {
            pydron_value nv;
            tu_add(g, k, PYDRON_TASK_PURE, &v, 1, 1, &nv, &one);
            ntasks++;
            if (c == 7 && s == 10)
                held = v;   /* kept by the caller: its producer takes the general path */
            else
                TU_OK(pydron_value_release(g, v));
            v = nv;
        }
        ends[c] = v;
    }
    /* fan-out: x = 100 + 1, then n readers each add 1; summed by one task */
    pydron_value fans[2];
    size_t widths[2] = {3, 6};
    for (int f = 0; f < 2; f++) {
        pydron_value base = tu_const_u64(g, 100), x, rd[6];
        tu_add(g, k, PYDRON_TASK_PURE, &base, 1, 1, &x, &one);
        TU_OK(pydron_value_release(g, base));
        for (size_t r = 0; r < widths[f]; r++)
            tu_add(g, k, PYDRON_TASK_PURE, &x, 1, 1, &rd[r], &one);
        TU_OK(pydron_value_release(g, x));
        tu_add(g, k, PYDRON_TASK_PURE, rd, widths[f], 1, &fans[f], NULL);
        for (size_t r = 0; r < widths[f]; r++)
            TU_OK(pydron_value_release(g, rd[r]));
        ntasks += 2 + widths[f];
    }
    /* two outputs: general path; both reach the reader */
    pydron_value two[2], both, seed = tu_const_u64(g, 5);
    tu_add(g, k, PYDRON_TASK_PURE, &seed, 1, 2, two, &one);
    TU_OK(pydron_value_release(g, seed));
    tu_add(g, k, PYDRON_TASK_PURE, two, 2, 1, &both, NULL);
    TU_OK(pydron_value_release(g, two[0]));
    TU_OK(pydron_value_release(g, two[1]));
    ntasks += 2;

    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_run(g, 60000));
    for (int c = 0; c < CHAINS; c++) {
        cr_assert_eq(tu_get_u64(g, ends[c]), (uint64_t)c + LEN, "chain %d", c);
        TU_OK(pydron_value_release(g, ends[c]));
    }
    cr_assert_eq(tu_get_u64(g, held), 7 + 10);
    pydron_task producer;
    TU_OK(pydron_value_producer(g, held, &producer));
    pydron_task_state st;
    TU_OK(pydron_task_state_get(g, producer, &st));
    cr_assert_eq(st, PYDRON_TASK_DONE, "the held value's producer is kept and done");
    TU_OK(pydron_value_release(g, held));
    cr_assert_eq(tu_get_u64(g, fans[0]), 3 * 102);
    cr_assert_eq(tu_get_u64(g, fans[1]), 6 * 102);
    cr_assert_eq(tu_get_u64(g, both), 12);
    TU_OK(pydron_value_release(g, fans[0]));
    TU_OK(pydron_value_release(g, fans[1]));
    TU_OK(pydron_value_release(g, both));

    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_done, ntasks);
    cr_assert_eq(s.tasks_failed, 0);
    logcount lc = {0, 0};
    TU_OK(pydron_graph_timings(g, count_log, &lc));
    cr_assert_eq(lc.done, ntasks, "timing log: %zu tasks done of %zu", lc.done, ntasks);
    cr_assert_eq(lc.bad, 0, "%zu log entries with times out of order", lc.bad);
    expect_empty(g);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(completion, shapes_inline) { shapes(executors[0]); }
Test(completion, shapes_threads) { shapes(executors[1]); }

/* A consumer that failed (another input failed) while one of its inputs
 * was still pending stays listed there as a zombie; when that input's
 * producer finishes - released output, the one-pass shape - the zombie
 * goes, and the failure names the task that failed. Failing first: the
 * failing task is added and readied before the slow side of each pair. */
static void zombie(pydron_executor_kind ex)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kf = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    uint64_t one = 1;
    enum { PAIRS = 30 };
    pydron_value outs[PAIRS];
    pydron_task culprits[PAIRS];
    for (int p = 0; p < PAIRS; p++) {
        uint64_t tag = 1000 + (uint64_t)p;
        pydron_value bad, a, c = tu_const_u64(g, (uint64_t)p);
        culprits[p] = tu_add(g, kf, PYDRON_TASK_PURE, NULL, 0, 1, &bad, &tag);
        pydron_value v = c;
        for (int s = 0; s < 3; s++) {   /* a short chain: pending when bad fails */
            tu_add(g, k, PYDRON_TASK_PURE, &v, 1, 1, &a, &one);
            TU_OK(pydron_value_release(g, v));
            v = a;
        }
        pydron_value in[2] = {v, bad};
        tu_add(g, k, PYDRON_TASK_PURE, in, 2, 1, &outs[p], NULL);
        TU_OK(pydron_value_release(g, v));
        TU_OK(pydron_value_release(g, bad));
    }
    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_run(g, 60000));
    for (int p = 0; p < PAIRS; p++) {
        pydron_value_state st;
        TU_OK(pydron_value_state_get(g, outs[p], &st));
        cr_assert_eq(st, PYDRON_VALUE_FAILED, "pair %d", p);
        pydron_task who = PYDRON_TASK_NONE;
        char *msg = NULL;
        TU_OK(pydron_value_error(g, outs[p], &who, &msg, NULL, NULL));
        char want[32];
        snprintf(want, sizeof want, "boom %d", 1000 + p);
        cr_assert_eq(who.id, culprits[p].id, "pair %d: blame", p);
        cr_assert(msg && strstr(msg, want), "pair %d: '%s' lacks '%s'", p, msg ? msg : "", want);
        pydron_free(msg);
        TU_OK(pydron_value_release(g, outs[p]));
    }
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_done, 3 * PAIRS);
    expect_empty(g);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(completion, zombie_inline) { zombie(executors[0]); }
Test(completion, zombie_threads) { zombie(executors[1]); }
