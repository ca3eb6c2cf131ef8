/*
 * test_exec_threads.c - the threads executor: a 100,000-task stress run
 * with a checksum, real concurrency, the configured pool size, and bodies
 * running off the driver thread.
 */
#include "testutil.h"

#include <stdatomic.h>

/* 5,000 chains of 10 tasks and 12,500 diamonds of 4 tasks: 100,000 tasks.
 * Intermediate references are released right after adding, so values die
 * as the run goes. */
Test(exec_threads, stress_100k_tasks, .timeout = 110)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    TU_OK(pydron_graph_start(g)); /* run while adding */
    enum { CHAINS = 5000, LEN = 10, DIAMONDS = 12500 };
    pydron_value *finals = (pydron_value *)malloc((CHAINS + DIAMONDS) * sizeof *finals);
    uint64_t expect = 0, one = 1, two = 2, three = 3;
    size_t nf = 0;
    for (int i = 0; i < CHAINS; i++) {
        pydron_value v = tu_const_u64(g, (uint64_t)i);
        for (int s = 0; s < LEN; s++) {
            pydron_value nv;
            tu_add(g, k, PYDRON_TASK_PURE, &v, 1, 1, &nv, &one);
            TU_OK(pydron_value_release(g, v));
            v = nv;
        }
        finals[nf++] = v;
        expect += (uint64_t)i + LEN;
    }
    for (int i = 0; i < DIAMONDS; i++) {
        pydron_value c = tu_const_u64(g, (uint64_t)i), a, b, d, e;
        tu_add(g, k, PYDRON_TASK_PURE, &c, 1, 1, &a, &one);
        TU_OK(pydron_value_release(g, c));
        tu_add(g, k, PYDRON_TASK_PURE, &a, 1, 1, &b, &two);
        tu_add(g, k, PYDRON_TASK_PURE, &a, 1, 1, &d, &three);
        TU_OK(pydron_value_release(g, a));
        pydron_value bd[2] = {b, d};
        tu_add(g, k, PYDRON_TASK_PURE, bd, 2, 1, &e, NULL);
        TU_OK(pydron_value_release(g, b));
        TU_OK(pydron_value_release(g, d));
        finals[nf++] = e;
        expect += 2 * (uint64_t)i + 7; /* (i+1+2) + (i+1+3) */
    }
    TU_OK(pydron_graph_close(g));
    TU_OK(pydron_graph_run(g, 100000));
    uint64_t sum = 0;
    for (size_t i = 0; i < nf; i++) {
        sum += tu_get_u64(g, finals[i]);
        TU_OK(pydron_value_release(g, finals[i]));
    }
    cr_assert_eq(sum, expect, "checksum %llu, expected %llu", (unsigned long long)sum,
                 (unsigned long long)expect);
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, 100000);
    cr_assert_eq(s.tasks_done, 100000);
    cr_assert_eq(s.tasks_failed, 0);
    cr_assert_eq(s.bytes_live, 0, "%llu bytes still live after releasing everything",
                 (unsigned long long)s.bytes_live);
    cr_assert_eq(s.values_live, 0, "%llu values still live after releasing everything",
                 (unsigned long long)s.values_live);
    free(finals);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Bodies that each wait (bounded) until n of them run at once: succeeds
 * only if the pool really runs n tasks concurrently. Records which threads
 * ran bodies. */
typedef struct conc {
    atomic_int running;
    int n;
    pthread_t driver;
    pthread_mutex_t mu;
    pthread_t seen[64];
    int nseen;
    int on_driver;
} conc;

static int fn_rendezvous(pydron_task_ctx *ctx, void *user)
{
    conc *c = (conc *)user;
    pthread_mutex_lock(&c->mu);
    int known = 0;
    for (int i = 0; i < c->nseen; i++)
        known |= pthread_equal(c->seen[i], pthread_self());
    if (!known && c->nseen < 64)
        c->seen[c->nseen++] = pthread_self();
    if (pthread_equal(pthread_self(), c->driver))
        c->on_driver = 1;
    pthread_mutex_unlock(&c->mu);
    uint64_t met = 0;
    if (c->n > 0) {
        atomic_fetch_add(&c->running, 1);
        uint64_t t0 = tu_now_ns();
        while (tu_now_ns() - t0 < 20000000000ull) { /* 20 s bound, not a speed check */
            if (atomic_load(&c->running) >= c->n) {
                met = 1;
                break;
            }
            usleep(500);
        }
    }
    return pydron_ctx_output_set(ctx, 0, &met, sizeof met);
}

static void run_rendezvous(unsigned workers, int n)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, workers);
    conc c;
    memset(&c, 0, sizeof c);
    atomic_init(&c.running, 0);
    c.n = n;
    c.driver = pthread_self();
    pthread_mutex_init(&c.mu, NULL);
    uint32_t k = tu_kind_c(rt, "rendezvous", fn_rendezvous, &c);
    pydron_graph *g = tu_graph(rt);
    pydron_value out[16];
    for (int i = 0; i < n; i++)
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 1, &out[i], NULL);
    for (int i = 0; i < n; i++)
        cr_assert_eq(tu_get_u64(g, out[i]), 1, "task %d never saw %d tasks running at once", i, n);
    cr_assert_eq(c.on_driver, 0, "a PURE body ran on the driver thread");
    cr_assert_eq(c.nseen, n);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    pthread_mutex_destroy(&c.mu);
}

Test(exec_threads, two_workers_run_concurrently) { run_rendezvous(2, 2); }
Test(exec_threads, configured_pool_size_three) { run_rendezvous(3, 3); }

/* The pool never uses more threads than configured (default: cores). */
static void run_count_threads(unsigned workers, int limit)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, workers);
    conc c;
    memset(&c, 0, sizeof c);
    c.n = 0;
    c.driver = pthread_self();
    pthread_mutex_init(&c.mu, NULL);
    uint32_t k = tu_kind_c(rt, "count", fn_rendezvous, &c);
    pydron_graph *g = tu_graph(rt);
    pydron_value out;
    for (int i = 0; i < 2000; i++) {
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 1, &out, NULL);
        TU_OK(pydron_value_release(g, out));
    }
    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_geq(c.nseen, 1);
    cr_assert_leq(c.nseen, limit, "%d threads ran bodies, limit %d", c.nseen, limit);
    cr_assert_eq(c.on_driver, 0);
    unsigned nw = 0;
    TU_OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_eq(nw, 1, "a thread pool is one location, got %u", nw);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    pthread_mutex_destroy(&c.mu);
}

Test(exec_threads, pool_size_one) { run_count_threads(1, 1); }
Test(exec_threads, pool_size_default_is_cores)
{
    run_count_threads(0, (int)sysconf(_SC_NPROCESSORS_ONLN));
}

/* Many graphs on one runtime, one after another and side by side. */
Test(exec_threads, several_graphs_share_a_runtime)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g[4];
    pydron_value out[4];
    for (int i = 0; i < 4; i++) {
        g[i] = tu_graph(rt);
        pydron_value v = tu_const_u64(g[i], (uint64_t)i * 1000);
        uint64_t one = 1;
        for (int s = 0; s < 500; s++) {
            pydron_value nv;
            tu_add(g[i], k, 0, &v, 1, 1, &nv, &one);
            TU_OK(pydron_value_release(g[i], v));
            v = nv;
        }
        out[i] = v;
        TU_OK(pydron_graph_start(g[i]));
    }
    for (int i = 3; i >= 0; i--)
        cr_assert_eq(tu_get_u64(g[i], out[i]), (uint64_t)i * 1000 + 500);
    for (int i = 0; i < 4; i++)
        TU_OK(pydron_graph_free(g[i]));
    TU_OK(pydron_runtime_free(rt));
}
