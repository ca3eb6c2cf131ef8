/*
 * test_sim.c - the simulated executor ("sim"): its virtual clock on tiny
 * graphs whose makespan is known by hand, the network model (latency +
 * max-min fair bandwidth), determinism, and that the real scheduler and
 * every built-in policy drive it to the same results as a real executor.
 */
#include "testutil.h"

#include <math.h>

/* A runtime on the simulator with the given model. */
static pydron_runtime *sim_runtime(pydron_policy_kind pol, unsigned workers, unsigned cores,
                                   double latency, double bandwidth)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = pol;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, &o));
    pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
    so.workers = workers;
    so.cores = cores;
    so.latency = latency;
    so.bandwidth = bandwidth;
    TU_OK(pydron_runtime_use_executor(rt, "sim", &so));
    return rt;
}

/* A bench task of `seconds` making one output of `bytes`. */
static pydron_value bench(pydron_runtime *rt, pydron_graph *g, double seconds, uint64_t bytes,
                          const pydron_value *ins, size_t nin)
{
    uint32_t k;
    TU_OK(pydron_runtime_kind(rt, PYDRON_KIND_BENCH, &k));
    pydron_bench_task bt = {PYDRON_BENCH_MAGIC, 1, (uint64_t)llround(seconds * 1e9), bytes, 42, 0, 0};
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_PURE;
    d.ninputs = nin;
    d.inputs = ins;
    d.noutputs = 1;
    d.payload = &bt;
    d.payload_len = sizeof bt;
    pydron_value out;
    TU_OK(pydron_task_add(g, &d, NULL, &out));
    return out;
}

static double clock_of(pydron_runtime *rt)
{
    pydron_sim_stats st;
    TU_OK(pydron_sim_stats_get(rt, &st));
    return st.clock;
}

/* First 8 bytes of a value, little endian (a bench digest). */
static uint64_t digest_of(pydron_graph *g, pydron_value v)
{
    TU_OK(pydron_graph_wait(g, v, -1));
    const void *data;
    size_t len;
    TU_OK(pydron_value_bytes(g, v, &data, &len));
    uint64_t d = 0;
    for (int k = (len < 8 ? (int)len : 8) - 1; k >= 0; k--)
        d = (d << 8) | ((const unsigned char *)data)[k];
    return d;
}

#define NEAR(a, b) (fabs((a) - (b)) < 1e-9)

Test(sim_clock, chain_of_three_on_one_worker_takes_three_seconds)
{
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 1, 1, 0, 1e9);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = bench(rt, g, 1, 8, NULL, 0);
    pydron_value b = bench(rt, g, 1, 8, &a, 1);
    pydron_value c = bench(rt, g, 1, 8, &b, 1);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    cr_assert(NEAR(t, 3.0), "chain of 3 x 1 s on 1 worker: %.9f s, want 3", t);
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_value_release(g, b));
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(sim_clock, two_independent_on_two_workers_take_one_second)
{
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 2, 1, 0, 1e9);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = bench(rt, g, 1, 8, NULL, 0);
    pydron_value b = bench(rt, g, 1, 8, NULL, 0);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    cr_assert(NEAR(t, 1.0), "2 independent x 1 s on 2 workers: %.9f s, want 1", t);
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_value_release(g, b));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(sim_clock, two_independent_on_one_worker_with_two_cores_take_one_second)
{
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 1, 2, 0, 1e9);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = bench(rt, g, 1, 8, NULL, 0);
    pydron_value b = bench(rt, g, 1, 8, NULL, 0);
    pydron_value c = bench(rt, g, 1, 8, NULL, 0);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    cr_assert(NEAR(t, 2.0), "3 x 1 s on 1 worker x 2 cores: %.9f s, want 2", t);
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_value_release(g, b));
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Latency L on every message: a job reaches its worker after L and its
 * completion reaches the driver after L, so one 1 s task takes 1 + 2L. */
Test(sim_clock, messages_cost_the_latency)
{
    const double L = 0.25;
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 1, 1, L, 1e9);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = bench(rt, g, 1, 8, NULL, 0);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    cr_assert(NEAR(t, 1 + 2 * L), "one 1 s task with latency %.2f: %.9f s, want %.9f", L, t,
              1 + 2 * L);
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A reads the output of B (B bytes, made on the other worker): the
 * transfer adds latency + B / bandwidth. Worker choice is forced with the
 * locality policy: a and b both have no input and go to workers 0 and 1 by
 * the even fill; c reads both, so one of its inputs must cross. */
Test(sim_clock, a_transfer_adds_bytes_over_bandwidth_plus_latency)
{
    const double W = 1e6, B = 2e6;   /* 2 s at 1 MB/s */
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 2, 1, 0, W);
    pydron_graph *g = tu_graph(rt);
    pydron_value in[2];
    in[0] = bench(rt, g, 1, (uint64_t)B, NULL, 0);
    in[1] = bench(rt, g, 1, (uint64_t)B, NULL, 0);
    pydron_value c = bench(rt, g, 1, 8, in, 2);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    /* 1 s (a, b in parallel) + 2 s (one input crosses) + 1 s (c) */
    cr_assert(NEAR(t, 1 + B / W + 1), "transfer of %.0f B at %.0f B/s: %.9f s, want %.9f", B, W,
              t, 2 + B / W);
    pydron_sim_stats st;
    TU_OK(pydron_sim_stats_get(rt, &st));
    cr_assert_eq(st.transfers, 1);
    cr_assert_eq(st.bytes_moved, (uint64_t)B);
    TU_OK(pydron_value_release(g, in[0]));
    TU_OK(pydron_value_release(g, in[1]));
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));

    /* with latency L the transfer takes L + B/W (and the messages 2L) */
    const double L = 0.125;
    rt = sim_runtime(PYDRON_POLICY_FIFO, 2, 1, L, W);
    g = tu_graph(rt);
    in[0] = bench(rt, g, 1, (uint64_t)B, NULL, 0);
    in[1] = bench(rt, g, 1, (uint64_t)B, NULL, 0);
    c = bench(rt, g, 1, 8, in, 2);
    TU_OK(pydron_graph_run(g, -1));
    t = clock_of(rt);
    /* a,b: L + 1 + L (done at the driver); c: L + (L + B/W) + 1 + L */
    double want = (2 * L + 1) + (L + (L + B / W) + 1 + L);
    cr_assert(NEAR(t, want), "with latency: %.9f s, want %.9f", t, want);
    TU_OK(pydron_value_release(g, in[0]));
    TU_OK(pydron_value_release(g, in[1]));
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Max-min fairness: two transfers into the same worker share its down
 * link (each gets W/2), so two inputs of B bytes from two other workers
 * take 2B/W, not B/W. */
Test(sim_clock, transfers_share_a_link_fairly)
{
    const double W = 1e6, B = 1e6;
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 3, 1, 0, W);
    pydron_graph *g = tu_graph(rt);
    pydron_value in[3];
    for (int i = 0; i < 3; i++)
        in[i] = bench(rt, g, 1, (uint64_t)B, NULL, 0);
    pydron_value c = bench(rt, g, 1, 8, in, 3);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt);
    /* 1 s, then two inputs cross into c's worker together: 2B/W, then 1 s */
    cr_assert(NEAR(t, 1 + 2 * B / W + 1), "shared link: %.9f s, want %.9f", t, 2 + 2 * B / W);
    TU_OK(pydron_value_release(g, in[0]));
    TU_OK(pydron_value_release(g, in[1]));
    TU_OK(pydron_value_release(g, in[2]));
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The digest a chain of bench tasks gives, computed by hand. */
Test(sim_values, outputs_can_be_read_and_match_a_real_run)
{
    pydron_runtime *rt = sim_runtime(PYDRON_POLICY_FIFO, 2, 1, 1e-4, 1e8);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = bench(rt, g, 0.5, 16, NULL, 0);
    pydron_value b = bench(rt, g, 0.5, 16, &a, 1);
    uint64_t got = digest_of(g, b);
    const void *data;
    size_t len;
    TU_OK(pydron_value_bytes(g, b, &data, &len));
    cr_assert_eq(len, 16);
    uint64_t da = pydron_bench_digest(42, 0, NULL, 0);
    uint64_t db = pydron_bench_digest(42, 0, &da, 1);
    cr_assert_eq(got, db, "digest %#llx, want %#llx", (unsigned long long)got,
                 (unsigned long long)db);
    for (size_t k = 8; k < 16; k++)
        cr_assert_eq(((const unsigned char *)data)[k], 0);
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_value_release(g, b));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

static double run_pattern_once(const char *name, pydron_policy_kind pol, double jitter,
                               uint64_t seed, uint64_t *digest)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = pol;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, &o));
    pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
    so.workers = 4;
    so.cores = 2;
    so.latency = 1e-4;
    so.bandwidth = 1e8;
    so.jitter = jitter;
    so.seed = seed;
    TU_OK(pydron_runtime_use_executor(rt, "sim", &so));
    pydron_graph *g = tu_graph(rt);
    pydron_pattern p = PYDRON_PATTERN_INIT;
    p.name = name;
    p.width = 8;
    p.steps = 6;
    p.duration = 0.01;
    p.output_bytes = 100000;
    pydron_value last[8];
    TU_OK(pydron_pattern_build(rt, g, &p, last, 8, NULL));
    TU_OK(pydron_graph_run(g, -1));
    *digest = 0;
    for (int i = 0; i < 8; i++) {
        *digest = *digest * 31 + digest_of(g, last[i]);
        TU_OK(pydron_value_release(g, last[i]));
    }
    double t = clock_of(rt);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    return t;
}

Test(sim_determinism, same_seed_same_makespan)
{
    pydron_policy_kind pols[] = {PYDRON_POLICY_FIFO, PYDRON_POLICY_HEFT,
                                 PYDRON_POLICY_WORK_STEALING, PYDRON_POLICY_RANDOM};
    for (size_t k = 0; k < sizeof pols / sizeof *pols; k++) {
        uint64_t d1, d2, d3;
        double a = run_pattern_once("stencil-1d", pols[k], 0.3, 7, &d1);
        double b = run_pattern_once("stencil-1d", pols[k], 0.3, 7, &d2);
        double c = run_pattern_once("stencil-1d", pols[k], 0.3, 8, &d3);
        cr_assert_eq(a, b, "%s: same seed gave %.9f and %.9f s", pydron_policy_name(pols[k]), a, b);
        cr_assert_neq(a, c, "%s: another jitter seed gave the same makespan %.9f",
                      pydron_policy_name(pols[k]), a);
        cr_assert_eq(d1, d2);
        cr_assert_eq(d1, d3, "results must not depend on timing");
        cr_assert_gt(a, 0.06 * 0.7, "6 steps of 10 ms cannot take %.6f s", a);
    }
}

Test(sim_options, bad_options_are_refused)
{
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, NULL));
    pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
    so.jitter = 2;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_use_executor(rt, "sim", &so));
    so = (pydron_sim_options)PYDRON_SIM_OPTIONS_INIT;
    so.version = 99;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_use_executor(rt, "sim", &so));
    pydron_sim_stats st;
    TU_ERR(PYDRON_ENOTSUP, pydron_sim_stats_get(rt, &st));   /* inline */
    TU_OK(pydron_runtime_free(rt));
}

/* The window the process executors measure (cores x (2 + round trip / run
 * time) jobs in flight), modelled: after an empty warm-up task, 400
 * independent 1 ms tasks on 2 workers take 200 ms, half on each, as with a
 * fixed in_flight (a window taken from the zero-length warm-up had sent 336
 * of them to worker 0). */
static void count_worker(const pydron_task_timing *t, void *user)
{
    unsigned *c = user;
    c[t->worker == 0 ? 0 : t->worker == 1 ? 1 : 2]++;
}

static double trivial_after_warm_up(unsigned in_flight, unsigned *on0)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, &o));
    pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
    so.workers = 2;
    so.latency = 1e-4;
    so.in_flight = in_flight;
    TU_OK(pydron_runtime_use_executor(rt, "sim", &so));
    pydron_graph *g = tu_graph(rt);
    pydron_value w = bench(rt, g, 0, 8, NULL, 0);
    TU_OK(pydron_graph_wait(g, w, -1));
    TU_OK(pydron_value_release(g, w));
    TU_OK(pydron_graph_free(g));
    g = tu_graph(rt);
    double t0 = clock_of(rt);
    enum { N = 400 };
    pydron_value v[N];
    for (int i = 0; i < N; i++)
        v[i] = bench(rt, g, 1e-3, 8, NULL, 0);
    TU_OK(pydron_graph_run(g, -1));
    double t = clock_of(rt) - t0;
    unsigned counts[3] = {0, 0, 0};   /* worker 0, worker 1, elsewhere */
    TU_OK(pydron_graph_timings(g, count_worker, counts));
    cr_assert_eq(counts[0] + counts[1], (unsigned)N, "%u tasks elsewhere", counts[2]);
    *on0 = counts[0];
    for (int i = 0; i < N; i++)
        TU_OK(pydron_value_release(g, v[i]));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    return t;
}

Test(sim_window, independent_tasks_are_shared_after_an_empty_warm_up)
{
    unsigned on0 = 0;
    double t = trivial_after_warm_up(0, &on0);
    cr_assert_eq(on0, 200u, "worker 0 ran %u of 400 tasks", on0);
    cr_assert_lt(t, 0.2 * 1.01, "400 x 1 ms on 2 workers took %.6f s", t);
    /* the same with a fixed window of 64 */
    t = trivial_after_warm_up(64, &on0);
    cr_assert_eq(on0, 200u, "fixed window: worker 0 ran %u of 400 tasks", on0);
    cr_assert_lt(t, 0.2 * 1.01);
}
