/*
 * test_observe.c - observability: Graphviz DOT export, per-task timings,
 * graph statistics.
 */
#include "testutil.h"

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* Quotes not preceded by a backslash escape: even in well-formed DOT. */
static size_t unescaped_quotes(const char *s)
{
    size_t n = 0;
    for (; *s; s++) {
        if (*s == '\\' && s[1])
            s++;
        else if (*s == '"')
            n++;
    }
    return n;
}

static pydron_task add_labeled(pydron_graph *g, uint32_t k, unsigned flags, pydron_value *in,
                               size_t nin, pydron_value *out, const char *label)
{
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = flags;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = 1;
    d.label = label;
    pydron_task t;
    TU_OK(pydron_task_add(g, &d, &t, out));
    return t;
}

Test(observe, dot_export)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1), a, b, d;
    add_labeled(g, k, 0, &c, 1, &a, "alpha_task");
    add_labeled(g, k, 0, &a, 1, &b, "beta_task");
    pydron_value ab[2] = {a, b};
    add_labeled(g, k, PYDRON_TASK_SYNC, ab, 2, &d, "gamma_task");

    char *dot = NULL;
    size_t len = 0;
    TU_OK(pydron_graph_dot(g, &dot, &len)); /* before running */
    cr_assert_not_null(dot);
    cr_assert_eq(strlen(dot), len);
    cr_assert(strstr(dot, "digraph"), "not a digraph:\n%s", dot);
    cr_assert(strchr(dot, '{') && strrchr(dot, '}'), "no braces:\n%s", dot);
    cr_assert(strstr(dot, "alpha_task") && strstr(dot, "beta_task") && strstr(dot, "gamma_task"),
              "task labels missing:\n%s", dot);
    /* 4 data dependencies (c->alpha, alpha->beta, alpha->gamma, beta->gamma),
     * whether drawn task->task or through value nodes */
    cr_assert_geq(count(dot, "->"), 4, "too few edges:\n%s", dot);
    pydron_free(dot);

    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_graph_dot(g, &dot, &len)); /* after: still a valid graph */
    cr_assert(strstr(dot, "digraph"), "not a digraph after running:\n%s", dot);
    cr_assert_eq(unescaped_quotes(dot) % 2, 0);
    /* we still hold every output, so their producers are still part of it */
    cr_assert(strstr(dot, "alpha_task") && strstr(dot, "beta_task") && strstr(dot, "gamma_task"),
              "finished tasks with held outputs missing:\n%s", dot);
    cr_assert_geq(count(dot, "->"), 4, "too few edges after running:\n%s", dot);
    pydron_free(dot);

    /* a label with characters DOT must escape stays one well-formed line */
    pydron_value e;
    add_labeled(g, k, 0, &c, 1, &e, "quote\"and\\backslash\nnewline");
    TU_OK(pydron_graph_dot(g, &dot, &len));
    cr_assert_null(strstr(dot, "quote\"and"), "unescaped quote in DOT:\n%s", dot);
    cr_assert_eq(unescaped_quotes(dot) % 2, 0, "unbalanced quotes in DOT:\n%s", dot);
    pydron_free(dot);

    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

typedef struct tcol {
    pydron_task_timing t[64];
    char labels[64][32];
    int n;
} tcol;

static void collect(const pydron_task_timing *t, void *user)
{
    tcol *c = (tcol *)user;
    if (c->n < 64) {
        c->t[c->n] = *t;
        snprintf(c->labels[c->n], sizeof c->labels[c->n], "%s", t->label ? t->label : "");
        c->n++;
    }
}

static void run_timings(pydron_executor_kind ex, const char *exname)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    uint64_t t0 = tu_now_ns();
    pydron_value c = tu_const_u64(g, 1), v = c, s;
    pydron_task tasks[10];
    for (int i = 0; i < 10; i++) {
        pydron_value nv;
        char label[16];
        snprintf(label, sizeof label, "step%d", i);
        tasks[i] = add_labeled(g, k, 0, &v, 1, &nv, label);
        v = nv;
    }
    pydron_task st = add_labeled(g, k, PYDRON_TASK_SYNC, &v, 1, &s, "driver_step");
    TU_OK(pydron_graph_run(g, 60000));
    uint64_t t1 = tu_now_ns();

    for (int i = 0; i < 10; i++) {
        pydron_task_timing tt;
        TU_OK(pydron_task_timing_get(g, tasks[i], &tt));
        cr_assert_eq(tt.task.id, tasks[i].id);
        cr_assert_eq(tt.kind, k);
        cr_assert_eq(tt.state, PYDRON_TASK_DONE);
        cr_assert_leq(tt.queued_ns, tt.started_ns, "task %d queued after it started", i);
        cr_assert_leq(tt.started_ns, tt.finished_ns, "task %d finished before it started", i);
        /* same clock as CLOCK_MONOTONIC in this process */
        cr_assert_geq(tt.queued_ns, t0);
        cr_assert_leq(tt.finished_ns, t1);
        cr_assert_not_null(tt.executor);
        cr_assert_str_eq(tt.executor, exname);
        char label[16];
        snprintf(label, sizeof label, "step%d", i);
        cr_assert_str_eq(tt.label, label);
        if (ex == PYDRON_EXECUTOR_THREADS)
            cr_assert_geq(tt.worker, 0, "a pool task reported the driver as its worker");
        if (ex == PYDRON_EXECUTOR_INLINE) /* documented: -1 = the driver thread */
            cr_assert_eq(tt.worker, -1, "an inline PURE task reported worker %d", (int)tt.worker);
        if (i > 0) { /* a chain: each starts after its predecessor finished */
            pydron_task_timing prev;
            TU_OK(pydron_task_timing_get(g, tasks[i - 1], &prev));
            cr_assert_leq(prev.finished_ns, tt.started_ns);
        }
    }
    pydron_task_timing ts;
    TU_OK(pydron_task_timing_get(g, st, &ts));
    cr_assert_eq(ts.worker, -1, "SYNC task did not run on the driver");

    tcol col;
    memset(&col, 0, sizeof col);
    TU_OK(pydron_graph_timings(g, collect, &col));
    cr_assert_eq(col.n, 11);
    for (int i = 1; i < col.n; i++)
        cr_assert_leq(col.t[i - 1].finished_ns, col.t[i].finished_ns, "not in finish order");
    cr_assert_str_eq(col.labels[col.n - 1], "driver_step");

    pydron_graph_stats s2;
    TU_OK(pydron_graph_stats_get(g, &s2));
    cr_assert_eq(s2.tasks_added, 11);
    cr_assert_eq(s2.tasks_done, 11);
    cr_assert_eq(s2.tasks_failed, 0);
    cr_assert_eq(s2.tasks_refined, 0);
    cr_assert_eq(s2.tasks_retried, 0);

    TU_ERR(PYDRON_ESTALE, pydron_task_timing_get(g, PYDRON_TASK_NONE, &ts));
    TU_ERR(PYDRON_EINVAL, pydron_task_timing_get(g, st, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_graph_timings(g, NULL, NULL));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(observe, timings_inline) { run_timings(PYDRON_EXECUTOR_INLINE, "inline"); }
Test(observe, timings_threads) { run_timings(PYDRON_EXECUTOR_THREADS, "threads"); }

/* A task not yet run has a timing record with only queued/unknown times. */
Test(observe, timing_of_waiting_task)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value in, out;
    TU_OK(pydron_value_input(g, &in));
    pydron_task t = add_labeled(g, k, 0, &in, 1, &out, NULL);
    pydron_task_timing tt;
    TU_OK(pydron_task_timing_get(g, t, &tt));
    cr_assert_eq(tt.state, PYDRON_TASK_WAITING);
    cr_assert_eq(tt.started_ns, 0);
    cr_assert_eq(tt.finished_ns, 0);
    tcol col;
    memset(&col, 0, sizeof col);
    TU_OK(pydron_graph_timings(g, collect, &col));
    cr_assert_eq(col.n, 0, "an unfinished task was reported as finished");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The graph of the whole run: finished tasks stay in it (pydron_graph_dot
 * shows only what is live), with their states and the edges between them;
 * bounded by max_tasks. */
Test(observe, dot_of_the_whole_run)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kf = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    char *dot = NULL;
    size_t len = 0;
    TU_ERR(PYDRON_ESTATE, pydron_graph_dot_run(g, &dot, &len));
    pydron_value c = tu_const_u64(g, 1), before;
    add_labeled(g, k, 0, &c, 1, &before, "before_recording");
    TU_OK(pydron_graph_record(g, 0));
    /* a chain a -> b -> d and a -> d, then one that fails and one it feeds */
    pydron_value a, b, d, f, after;
    add_labeled(g, k, 0, &before, 1, &a, "rec_a");
    add_labeled(g, k, 0, &a, 1, &b, "rec_b");
    pydron_value ab[3] = {a, b, a};   /* a read twice: still one edge */
    add_labeled(g, k, 0, ab, 3, &d, "rec_d");
    add_labeled(g, kf, 0, &c, 1, &f, "rec_fail");
    add_labeled(g, k, 0, &f, 1, &after, "rec_after_fail");
    pydron_value all[5] = {before, a, b, d, f};
    TU_OK(pydron_graph_run(g, 60000));
    for (int i = 0; i < 5; i++)   /* nothing held: the records are recycled */
        TU_OK(pydron_value_release(g, all[i]));
    TU_OK(pydron_value_release(g, after));

    TU_OK(pydron_graph_dot(g, &dot, &len));
    cr_assert_null(strstr(dot, "rec_a"), "the live DOT still has a released task:\n%s", dot);
    pydron_free(dot);

    TU_OK(pydron_graph_dot_run(g, &dot, &len));
    cr_assert_eq(strlen(dot), len);
    cr_assert(strstr(dot, "digraph"));
    cr_assert_eq(unescaped_quotes(dot) % 2, 0);
    cr_assert_null(strstr(dot, "before_recording"), "recorded before recording:\n%s", dot);
    cr_assert_eq(count(dot, "[label="), 5, "one node per recorded task:\n%s", dot);
    cr_assert(strstr(dot, "rec_a\\ndone @w0"), "state and worker of a finished task:\n%s", dot);
    cr_assert(strstr(dot, "rec_fail\\nfailed"), "%s", dot);
    cr_assert(strstr(dot, "color=red"), "%s", dot);
    cr_assert(strstr(dot, "rec_after_fail\\nfailed"), "its consumer fails too:\n%s", dot);
    /* a->b, a->d, b->d, fail->after: the producer before recording is not drawn */
    cr_assert_eq(count(dot, "->"), 4, "edges:\n%s", dot);
    pydron_free(dot);

    /* bounded: past max_tasks tasks are counted, not kept */
    TU_OK(pydron_graph_record(g, 6));
    for (int i = 0; i < 3; i++) {
        pydron_value o;
        add_labeled(g, k, 0, &c, 1, &o, "late");
        TU_OK(pydron_value_release(g, o));
    }
    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_graph_dot_run(g, &dot, &len));
    cr_assert_eq(count(dot, "late"), 1, "%s", dot);
    cr_assert(strstr(dot, "2 more tasks not recorded"), "%s", dot);
    pydron_free(dot);
    TU_OK(pydron_value_release(g, c));
    TU_ERR(PYDRON_EINVAL, pydron_graph_dot_run(g, NULL, &len));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
