/*
 * test_patterns.c - Task Bench's patterns (pydron_pattern_build) and the
 * built-in policies, differentially: every pattern run with every policy
 * on the threads and the simulated executor must give the digests the
 * inline executor with FIFO gives (a digest depends on every edge above
 * it, so a lost, doubled or reordered dependence changes it), and the
 * graphs have the shapes Task Bench defines.
 */
#include "testutil.h"

static const char *const patterns[] = {"trivial", "no-comm", "stencil-1d", "nearest",
                                       "spread",  "fft",     "tree",       "random"};
#define NPAT (sizeof patterns / sizeof *patterns)
static const pydron_policy_kind policies[] = {
    PYDRON_POLICY_FIFO, PYDRON_POLICY_CRITICAL_PATH, PYDRON_POLICY_LOCALITY,
    PYDRON_POLICY_HEFT, PYDRON_POLICY_WORK_STEALING, PYDRON_POLICY_RANDOM};
#define NPOL (sizeof policies / sizeof *policies)
#define WIDTH 8
#define STEPS 5

static uint64_t first8(pydron_graph *g, pydron_value v)
{
    TU_OK(pydron_graph_wait(g, v, 60000));
    const void *data;
    size_t len;
    TU_OK(pydron_value_bytes(g, v, &data, &len));
    uint64_t d = 0;
    for (int k = (len < 8 ? (int)len : 8) - 1; k >= 0; k--)
        d = (d << 8) | ((const unsigned char *)data)[k];
    return d;
}

/* Digests of the last step of pattern `name` (count in *n) and the number
 * of tasks, on executor ex ("inline", "threads", "sim") with policy pol. */
static size_t run(const char *ex, pydron_policy_kind pol, const char *name, uint64_t *out,
                  size_t *n)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = pol;
    o.workers = 2;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, &o));
    if (strcmp(ex, "inline")) {
        pydron_sim_options so = PYDRON_SIM_OPTIONS_INIT;
        so.workers = 3;
        so.cores = 2;
        TU_OK(pydron_runtime_use_executor(rt, ex, strcmp(ex, "sim") ? NULL : &so));
    }
    pydron_graph *g = tu_graph(rt);
    pydron_pattern p = PYDRON_PATTERN_INIT;
    p.name = name;
    p.width = WIDTH;
    p.steps = STEPS;
    p.duration = 0;
    p.output_bytes = 24;
    p.seed = 5;
    pydron_value last[WIDTH];
    size_t ntasks = 0;
    memset(last, 0, sizeof last);
    TU_OK(pydron_pattern_build(rt, g, &p, last, WIDTH, &ntasks));
    TU_OK(pydron_graph_run(g, 60000));
    *n = 0;
    for (size_t i = 0; i < WIDTH && last[i].id; i++) {
        out[(*n)++] = first8(g, last[i]);
        TU_OK(pydron_value_release(g, last[i]));
    }
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_eq(st.tasks_failed, 0, "%s/%s/%s: %llu tasks failed", ex, pydron_policy_name(pol),
                 name, (unsigned long long)st.tasks_failed);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    return ntasks;
}

Test(patterns, every_policy_on_every_executor_gives_the_same_digests, .timeout = 300)
{
    for (size_t k = 0; k < NPAT; k++) {
        uint64_t want[WIDTH], got[WIDTH];
        size_t nw, ng;
        size_t tasks = run("inline", PYDRON_POLICY_FIFO, patterns[k], want, &nw);
        cr_assert_gt(nw, 0);
        for (size_t e = 0; e < 2; e++) {
            const char *ex = e ? "sim" : "threads";
            for (size_t q = 0; q < NPOL; q++) {
                size_t t2 = run(ex, policies[q], patterns[k], got, &ng);
                cr_assert_eq(t2, tasks);
                cr_assert_eq(ng, nw);
                for (size_t i = 0; i < nw; i++)
                    cr_assert_eq(got[i], want[i], "%s on %s with %s: point %zu differs",
                                 patterns[k], ex, pydron_policy_name(policies[q]), i);
            }
        }
    }
}

/* The digests of different patterns differ (they check the edges), and
 * the same pattern with another seed differs only where the seed enters. */
Test(patterns, digests_depend_on_the_edges)
{
    uint64_t a[WIDTH], b[WIDTH];
    size_t na, nb;
    run("inline", PYDRON_POLICY_FIFO, "stencil-1d", a, &na);
    run("inline", PYDRON_POLICY_FIFO, "no-comm", b, &nb);
    cr_assert_eq(na, nb);
    for (size_t i = 0; i < na; i++)
        cr_assert_neq(a[i], b[i], "stencil-1d and no-comm agree at point %zu", i);
}

Test(patterns, shapes)
{
    uint64_t d[WIDTH];
    size_t n;
    cr_assert_eq(run("inline", PYDRON_POLICY_FIFO, "trivial", d, &n), WIDTH * STEPS);
    cr_assert_eq(run("inline", PYDRON_POLICY_FIFO, "stencil_1d", d, &n), WIDTH * STEPS);
    /* tree: 1, 2, 4, 8, 8 points */
    cr_assert_eq(run("inline", PYDRON_POLICY_FIFO, "tree", d, &n), 1 + 2 + 4 + 8 + 8);
    cr_assert_eq(n, WIDTH);
}

Test(patterns, bad_patterns_are_refused)
{
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, NULL));
    pydron_graph *g = tu_graph(rt);
    pydron_pattern p = PYDRON_PATTERN_INIT;
    p.name = "no-such-pattern";
    TU_ERR(PYDRON_EINVAL, pydron_pattern_build(rt, g, &p, NULL, 0, NULL));
    cr_assert(strstr(pydron_error_last(), "stencil-1d"), "the message lists the patterns: %s",
              pydron_error_last());
    p = (pydron_pattern)PYDRON_PATTERN_INIT;
    p.width = 0;
    TU_ERR(PYDRON_EINVAL, pydron_pattern_build(rt, g, &p, NULL, 0, NULL));
    p = (pydron_pattern)PYDRON_PATTERN_INIT;
    p.duration = -1;
    TU_ERR(PYDRON_EINVAL, pydron_pattern_build(rt, g, &p, NULL, 0, NULL));
    p = (pydron_pattern)PYDRON_PATTERN_INIT;
    p.version = 7;
    TU_ERR(PYDRON_EINVAL, pydron_pattern_build(rt, g, &p, NULL, 0, NULL));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(policies, names_round_trip)
{
    for (size_t q = 0; q < NPOL; q++) {
        pydron_policy_kind k;
        TU_OK(pydron_policy_from_name(pydron_policy_name(policies[q]), &k));
        cr_assert_eq(k, policies[q]);
    }
    pydron_policy_kind k;
    TU_OK(pydron_policy_from_name("work_stealing", &k));
    cr_assert_eq(k, PYDRON_POLICY_WORK_STEALING);
    TU_ERR(PYDRON_ENOTFOUND, pydron_policy_from_name("custom", &k));
    TU_ERR(PYDRON_ENOTFOUND, pydron_policy_from_name("best", &k));
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    pydron_runtime *rt = NULL;
    o.policy = PYDRON_POLICY_CUSTOM;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
    o.policy = (pydron_policy_kind)7;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, &o));
}
