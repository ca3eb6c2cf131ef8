/*
 * test_trace.c - the run trace (pydron_trace_*, PYDRON_TRACE) and the data
 * and wait counters of pydron_graph_stats version 3, with real runs on the
 * threads executor and on local worker processes. The Python tests parse
 * the same format with a Trace Event Format reader; here the file's shape
 * and content are checked as text.
 */
#include "testutil.h"

#include <sys/stat.h>

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    cr_assert_not_null(f, "no trace file %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    cr_assert_eq(fread(s, 1, (size_t)n, f), (size_t)n);
    s[n] = 0;
    fclose(f);
    return s;
}

static size_t count(const char *hay, const char *needle)
{
    size_t n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

/* The document is one object whose brackets balance outside strings. */
static void assert_balanced(const char *s)
{
    int depth = 0, in_str = 0, max = 0;
    cr_assert_eq(s[0], '{', "does not start with an object: %.40s", s);
    for (const char *p = s; *p; p++) {
        if (in_str) {
            if (*p == '\\' && p[1])
                p++;
            else if (*p == '"')
                in_str = 0;
            continue;
        }
        if (*p == '"')
            in_str = 1;
        else if (*p == '{' || *p == '[')
            depth++;
        else if (*p == '}' || *p == ']')
            cr_assert_geq(--depth, 0, "unbalanced at %.40s", p);
        if (depth > max)
            max = depth;
        if (depth == 0 && p != s)
            cr_assert(p[1] == 0 || (p[1] == '\n' && p[2] == 0), "text after the document: %.40s", p);
    }
    cr_assert_eq(depth, 0, "unterminated document");
    cr_assert_eq(in_str, 0, "unterminated string");
}

static char *tmp_path(const char *name)
{
    static char buf[256];
    snprintf(buf, sizeof buf, "/tmp/pydron_test_trace_%d_%s", (int)getpid(), name);
    return buf;
}

static void start(const char *path, size_t buf)
{
    pydron_trace_options o = PYDRON_TRACE_OPTIONS_INIT;
    o.path = path;
    o.buffer_bytes = buf;
    TU_OK(pydron_trace_start(&o));
}

/* A runtime with two local pydron-worker processes. */
static pydron_runtime *two_local_workers(void)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, &o));
    return rt;
}

static int slow_sum(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    usleep(3000);
    return tu_fn_sum(ctx, NULL);
}

Test(trace, threads_spans_waits_and_stats, .timeout = 60)
{
    char *path = tmp_path("threads.json");
    start(path, 0);
    cr_assert_eq(pydron_trace_active(), 1);
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t k = tu_kind_c(rt, "slow", slow_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    enum { N = 24 };
    pydron_value leaves[N];
    for (int i = 0; i < N; i++) {
        pydron_value c = tu_const_u64(g, (uint64_t)i);
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.ninputs = 1;
        d.inputs = &c;
        d.noutputs = 1;
        d.label = "leaf \"q\"";   /* escaped in the JSON */
        TU_OK(pydron_task_add(g, &d, NULL, &leaves[i]));
        TU_OK(pydron_value_release(g, c));
    }
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = N;
    d.inputs = leaves;
    d.noutputs = 1;
    d.label = "total";
    pydron_value total;
    TU_OK(pydron_task_add(g, &d, NULL, &total));
    TU_OK(pydron_graph_wait(g, total, 60000));
    cr_assert_eq(tu_get_u64(g, total), (uint64_t)(N * (N - 1) / 2));
    uint64_t t0 = tu_now_ns();
    TU_OK(pydron_trace_span("barrier", "frontend barrier", t0, t0 + 1000));

    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_eq(st.version, PYDRON_GRAPH_STATS_VERSION);
    cr_assert_gt(st.wait_ns, 0, "the driver waited for 'total' but wait_ns is 0");
    cr_assert_eq(st.bytes_to_workers + st.bytes_between_workers + st.bytes_to_driver, 0,
                 "threads share the driver's memory: nothing moves");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_OK(pydron_trace_stop());
    cr_assert_eq(pydron_trace_active(), 0);
    TU_OK(pydron_trace_stop()); /* no trace on: fine */

    char *s = slurp(path);
    assert_balanced(s);
    cr_assert(strstr(s, "\"traceEvents\":["), "no traceEvents array");
    cr_assert_eq(count(s, "\"cat\":\"task\""), N + 1, "one span per task:\n%s", s);
    cr_assert_eq(count(s, "\"name\":\"leaf \\\"q\\\"\""), N, "labels name the spans:\n%s", s);
    cr_assert_eq(count(s, "\"name\":\"total\""), 1);
    cr_assert(strstr(s, "\"args\":{\"name\":\"worker 0\"}"), "worker track not named:\n%s", s);
    cr_assert(strstr(s, "\"args\":{\"name\":\"driver\"}"), "driver track not named");
    cr_assert(strstr(s, "\"name\":\"wait total\",\"cat\":\"wait\""), "no driver wait span:\n%s", s);
    cr_assert(strstr(s, "\"name\":\"frontend barrier\",\"cat\":\"barrier\""), "no frontend span");
    cr_assert(strstr(s, "\"dropped_events\":0"), "events dropped with the default buffer");
    /* two task threads share worker 0: overlapping spans go to a second
     * lane instead of crossing on one track */
    cr_assert(strstr(s, "\"args\":{\"name\":\"tasks 2\"}"), "no second lane for overlaps:\n%s", s);
    free(s);
    unlink(path);
}

Test(trace, local_workers_transfers, .timeout = 120)
{
    char *path = tmp_path("local.json");
    start(path, 0);
    pydron_runtime *rt = two_local_workers();
    pydron_graph *g = tu_graph(rt);
    /* 1 MiB made on the driver, read by tasks on the workers */
    enum { BIG = 1 << 20 };
    unsigned char *big = calloc(1, BIG);
    pydron_value b;
    TU_OK(pydron_value_constant(g, big, BIG, &b));
    free(big);
    enum { N = 8 };
    pydron_value sums[N];
    for (int i = 0; i < N; i++)
        tu_ffi_task(g, rt, PYDRON_TEST_FFI_LIB, "tl_checksum", NULL, &b, 1, 1, &sums[i]);
    /* 256 KiB made on a worker, fetched to the driver */
    pydron_value in[2] = {tu_const_u64(g, 256 * 1024), tu_const_u64(g, 3)}, made;
    tu_ffi_task(g, rt, PYDRON_TEST_FFI_LIB, "tl_make_big", NULL, in, 2, 1, &made);
    const void *data;
    size_t len;
    TU_OK(pydron_graph_wait(g, made, 60000));
    TU_OK(pydron_value_bytes(g, made, &data, &len));
    cr_assert_eq(len, 256 * 1024);
    TU_OK(pydron_graph_run(g, 60000));
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_geq(st.bytes_to_workers, (uint64_t)BIG, "the 1 MiB input went to a worker");
    cr_assert_geq(st.bytes_to_driver, 256 * 1024, "the made value came to the driver");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_OK(pydron_trace_stop());

    char *s = slurp(path);
    assert_balanced(s);
    cr_assert_eq(count(s, "\"name\":\"tl_checksum\""), N, "one span per task:\n%s", s);
    cr_assert_eq(count(s, "\"name\":\"tl_make_big\""), 1);
    cr_assert(strstr(s, "\"name\":\"fetch to driver\",\"cat\":\"transfer\""),
              "no transfer span for the fetch:\n%s", s);
    cr_assert(strstr(s, "\"name\":\"input from driver\""), "no input transfer instant:\n%s", s);
    cr_assert(strstr(s, "\"bytes\":1048576"), "the 1 MiB input's size is missing");
    cr_assert(strstr(s, "\"args\":{\"name\":\"worker 0\"}"), "worker 0 has no track");
    free(s);
    unlink(path);
}

/* A worker that takes an input from another worker shows the fetch as a
 * span on its own track: stencil-1d of width 2 on 2 workers makes every
 * task of step 1 read the 1 MiB output of the task on the other worker. */
Test(trace, worker_to_worker_fetch_span, .timeout = 120)
{
    char *path = tmp_path("peer.json");
    start(path, 0);
    pydron_runtime *rt = two_local_workers();
    pydron_graph *g = tu_graph(rt);
    pydron_pattern p = PYDRON_PATTERN_INIT;
    p.name = "stencil-1d";
    p.width = 2;
    p.steps = 2;
    p.duration = 0.005;
    p.output_bytes = 1 << 20;
    TU_OK(pydron_pattern_build(rt, g, &p, NULL, 0, NULL));
    TU_OK(pydron_graph_run(g, 60000));
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_OK(pydron_trace_stop());
    char *s = slurp(path);
    assert_balanced(s);
    cr_assert_geq(st.bytes_between_workers, 1u << 20, "no input went from worker to worker");
    size_t n = count(s, "\"name\":\"fetch 1 input from worker ");
    cr_assert_eq((uint64_t)n * (1u << 20), st.bytes_between_workers,
                 "one fetch span per input moved between workers (%zu spans):\n%s", n, s);
    cr_assert(strstr(s, "\"cat\":\"transfer\",\"ph\":\"X\",\"pid\":2,") ||
                  strstr(s, "\"cat\":\"transfer\",\"ph\":\"X\",\"pid\":3,"),
              "the fetch spans are not on a worker's track:\n%s", s);
    cr_assert(strstr(s, "\"args\":{\"bytes\":1048576,\"inputs\":1,"), "no size:\n%s", s);
    free(s);
    unlink(path);
}

Test(trace, environment_variable, .timeout = 60)
{
    char *path = tmp_path("env.json");
    setenv("PYDRON_TRACE", path, 1);
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    cr_assert_eq(pydron_trace_active(), 1, "PYDRON_TRACE did not start a trace");
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 5), out;
    tu_add(g, k, 0, &c, 1, 1, &out, NULL);
    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_OK(pydron_trace_stop());
    /* once per process: a second runtime does not start it again */
    TU_OK(pydron_runtime_new(&rt, NULL));
    cr_assert_eq(pydron_trace_active(), 0);
    TU_OK(pydron_runtime_free(rt));
    char *s = slurp(path);
    assert_balanced(s);
    /* the inline executor runs tasks on the driver thread */
    cr_assert_eq(count(s, "\"cat\":\"task\""), 1, "%s", s);
    cr_assert(strstr(s, "\"args\":{\"name\":\"driver tasks\"}"), "%s", s);
    free(s);
    unlink(path);
    unsetenv("PYDRON_TRACE");
}

Test(trace, bad_use)
{
    TU_ERR(PYDRON_EINVAL, pydron_trace_start(NULL));
    pydron_trace_options o = PYDRON_TRACE_OPTIONS_INIT;
    TU_ERR(PYDRON_EINVAL, pydron_trace_start(&o)); /* no path */
    o.version = 99;
    o.path = tmp_path("x.json");
    TU_ERR(PYDRON_EINVAL, pydron_trace_start(&o));
    TU_ERR(PYDRON_EINVAL, pydron_trace_options_init(&o, 0));
    TU_ERR(PYDRON_EINVAL, pydron_trace_options_init(NULL, 1));
    TU_OK(pydron_trace_options_init(&o, PYDRON_TRACE_OPTIONS_VERSION));
    cr_assert_null(o.path);
    o.path = "/nonexistent-dir/trace.json";
    TU_ERR(PYDRON_EIO, pydron_trace_start(&o));
    cr_assert(strstr(pydron_error_last(), "/nonexistent-dir/trace.json"));
    TU_ERR(PYDRON_EINVAL, pydron_trace_span("c", NULL, 0, 1));
    TU_ERR(PYDRON_ERANGE, pydron_trace_span("c", "n", 2, 1));
    TU_OK(pydron_trace_span(NULL, "not tracing: ignored", 1, 2));
    char *path = tmp_path("busy.json");
    start(path, 0);
    o.path = path;
    TU_ERR(PYDRON_EBUSY, pydron_trace_start(&o));
    TU_OK(pydron_trace_stop());
    char *s = slurp(path);
    assert_balanced(s);
    free(s);
    unlink(path);
}

/* Many events through a small buffer: memory stays bounded (events are
 * written as they come, or dropped and counted), and the file is whole. */
Test(trace, bounded_buffer_many_tasks, .timeout = 120)
{
    char *path = tmp_path("many.json");
    start(path, 1); /* the smallest buffer the library allows */
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    enum { N = 8000 };
    pydron_value c = tu_const_u64(g, 1);
    for (int i = 0; i < N; i++) {
        pydron_value out;
        tu_add(g, k, 0, &c, 1, 1, &out, NULL);
        TU_OK(pydron_value_release(g, out));
    }
    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_OK(pydron_trace_stop());
    char *s = slurp(path);
    assert_balanced(s);
    const char *dr = strstr(s, "\"dropped_events\":");
    cr_assert_not_null(dr);
    unsigned long long dropped = strtoull(dr + strlen("\"dropped_events\":"), NULL, 10);
    size_t spans = count(s, "\"cat\":\"task\"");
    /* every task is in the file or counted as dropped (metadata may be too) */
    cr_assert_geq(spans + dropped, (size_t)N, "spans %zu + dropped %llu < %d", spans, dropped, N);
    cr_assert_leq(spans, (size_t)N);
    free(s);
    unlink(path);
}

static void collect_label(const pydron_task_timing *t, void *user)
{
    const char **seen = user;
    if (!seen[0])
        seen[0] = t->label;
    else if (t->label != seen[0])
        seen[1] = t->label;
}

/* A frontend labels every task by its function: labels are kept once per
 * distinct (label, kind), not once per task. */
Test(trace, labels_are_interned)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1);
    char label[16];
    for (int i = 0; i < 1000; i++) {
        snprintf(label, sizeof label, "same");  /* a fresh buffer each time */
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.ninputs = 1;
        d.inputs = &c;
        d.noutputs = 1;
        d.label = label;
        pydron_value out;
        TU_OK(pydron_task_add(g, &d, NULL, &out));
        TU_OK(pydron_value_release(g, out));
    }
    TU_OK(pydron_graph_run(g, 60000));
    const char *seen[2] = {NULL, NULL};
    TU_OK(pydron_graph_timings(g, collect_label, seen));
    cr_assert_str_eq(seen[0], "same");
    cr_assert_null(seen[1], "1000 tasks with one label got more than one copy of it");
    /* distinct labels stay distinct */
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 1;
    d.inputs = &c;
    d.noutputs = 1;
    d.label = "other";
    pydron_task t;
    pydron_value out;
    TU_OK(pydron_task_add(g, &d, &t, &out));
    TU_OK(pydron_graph_wait(g, out, 60000));
    pydron_task_timing tt;
    TU_OK(pydron_task_timing_get(g, t, &tt));
    cr_assert_str_eq(tt.label, "other");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
