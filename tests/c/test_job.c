/*
 * test_job.c - running a job in process (sched/job.c pydron_job_run_local,
 * runner/ctx.c): the body reads the job's inputs and writes its outputs in
 * place, small outputs take a short path, success is a count of outputs
 * set, and the in-process executors chain a job's start to the end of the
 * one before. Each test pins a behaviour those shortcuts must keep: the
 * bytes of every small size, the last of several sets winning, a missing
 * output or a failure after a set failing the task (with buffers freed
 * once), an executor's preset outputs replaced, sane times; tiny jobs
 * timed in runs of their kind with exact totals, slow kinds and traced
 * jobs timed alone.
 */
#include <stdatomic.h>

#include "testutil.h"

static const pydron_executor_kind execs[] = {PYDRON_EXECUTOR_INLINE, PYDRON_EXECUTOR_THREADS};

/* counts calls of count_free (buffers handed over with output_take) */
static atomic_int nfreed;
static void count_free(void *p)
{
    atomic_fetch_add(&nfreed, 1);
    free(p);
}

/* output 0 = payload bytes 0, 1, ..., n-1 (+ the input's low byte) */
static int fn_bytes(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    size_t n = (size_t)tu_payload_u64(ctx);
    int rc = 0;
    uint64_t add = pydron_ctx_ninputs(ctx) ? tu_input_u64(ctx, 0, &rc) : 0;
    if (rc)
        return rc;
    unsigned char b[64];
    for (size_t i = 0; i < n; i++)
        b[i] = (unsigned char)(i * 7 + 1 + add);
    return pydron_ctx_output_set(ctx, 0, b, n);
}

Test(job, small_outputs_of_every_size)
{
    for (size_t e = 0; e < 2; e++) {
        pydron_runtime *rt = tu_runtime(execs[e], 2);
        uint32_t k = tu_kind_c(rt, "bytes", fn_bytes, NULL);
        pydron_graph *g = tu_graph(rt);
        pydron_value in = tu_const_u64(g, 3);
        pydron_value out[41];
        for (uint64_t n = 0; n <= 40; n++)
            tu_add(g, k, PYDRON_TASK_PURE, &in, 1, 1, &out[n], &n);
        TU_OK(pydron_graph_run(g, 60000));
        for (size_t n = 0; n <= 40; n++) {
            const void *p = NULL;
            size_t len = 99;
            TU_OK(pydron_value_bytes(g, out[n], &p, &len));
            cr_assert_eq(len, n, "%zu bytes for a %zu-byte output", len, n);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(((const unsigned char *)p)[i], (unsigned char)(i * 7 + 1 + 3),
                             "output of %zu bytes, byte %zu", n, i);
        }
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* output 0: set 8 bytes, then 3 bytes (the last set wins); output 1: a
 * taken buffer, then replaced by a small set (the buffer freed once) */
static int fn_set_twice(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t a = 0x1111111111111111u;
    int rc = pydron_ctx_output_set(ctx, 0, &a, sizeof a);
    if (rc == 0)
        rc = pydron_ctx_output_set(ctx, 0, "xyz", 3);
    char *b = malloc(32);
    memset(b, 'b', 32);
    if (rc == 0)
        rc = pydron_ctx_output_take(ctx, 1, b, 32, count_free, b);
    if (rc == 0)
        rc = pydron_ctx_output_set(ctx, 1, "q", 1);
    return rc;
}

Test(job, a_later_set_replaces_an_output)
{
    for (size_t e = 0; e < 2; e++) {
        atomic_store(&nfreed, 0);
        pydron_runtime *rt = tu_runtime(execs[e], 2);
        uint32_t k = tu_kind_c(rt, "twice", fn_set_twice, NULL);
        pydron_graph *g = tu_graph(rt);
        pydron_value out[2];
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 2, out, NULL);
        TU_OK(pydron_graph_run(g, 60000));
        const void *p;
        size_t len;
        TU_OK(pydron_value_bytes(g, out[0], &p, &len));
        cr_assert(len == 3 && memcmp(p, "xyz", 3) == 0, "output 0: the second set wins");
        TU_OK(pydron_value_bytes(g, out[1], &p, &len));
        cr_assert(len == 1 && memcmp(p, "q", 1) == 0, "output 1: the small set wins");
        cr_assert_eq(atomic_load(&nfreed), 1, "the replaced buffer is freed once");
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* payload 0: sets output 1 only; 1: sets both, then fails; 2: sets output 0
 * twice (the count of outputs set must not count it twice) and not 1 (its
 * last buffer is freed with the failure) */
static int fn_partial(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t mode = tu_payload_u64(ctx);
    uint64_t x = 5;
    if (mode == 0)
        return pydron_ctx_output_set(ctx, 1, &x, sizeof x);
    if (mode == 2) {
        pydron_ctx_output_set(ctx, 0, &x, sizeof x);
        char *b = malloc(8);
        memcpy(b, &x, 8);
        return pydron_ctx_output_take(ctx, 0, b, 8, count_free, b);
    }
    char *b = malloc(40);
    memset(b, 0, 40);
    pydron_ctx_output_take(ctx, 0, b, 40, count_free, b);
    pydron_ctx_output_set(ctx, 1, &x, sizeof x);
    pydron_ctx_fail(ctx, "failed after setting its outputs");
    return 0;
}

static void expect_failed(pydron_graph *g, pydron_value v, const char *part)
{
    cr_assert_eq(pydron_graph_wait(g, v, 60000), PYDRON_ETASK);
    char *msg = NULL;
    TU_OK(pydron_value_error(g, v, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, part), "message \"%s\" has \"%s\"", msg ? msg : "(null)", part);
    pydron_free(msg);
}

Test(job, an_output_not_set_or_a_failure_after_a_set_fails_the_task)
{
    for (size_t e = 0; e < 2; e++) {
        atomic_store(&nfreed, 0);
        pydron_runtime *rt = tu_runtime(execs[e], 2);
        uint32_t k = tu_kind_c(rt, "partial", fn_partial, NULL);
        pydron_graph *g = tu_graph(rt);
        pydron_value a[2], b[2], c[2];
        uint64_t m0 = 0, m1 = 1, m2 = 2;
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 2, a, &m0);
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 2, b, &m1);
        tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 2, c, &m2);
        expect_failed(g, a[0], "without setting output 0 of 2");
        expect_failed(g, a[1], "without setting output 0 of 2");
        expect_failed(g, b[0], "failed after setting its outputs");
        expect_failed(g, b[1], "failed after setting its outputs");
        expect_failed(g, c[1], "without setting output 1 of 2");
        cr_assert_eq(atomic_load(&nfreed), 2, "each taken buffer freed once");
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* A chain of x + 1 that fails at the task whose input is `at`: the tasks
 * before succeed, the rest fail with that task's message (the job's outputs
 * are reused by the next jobs: nothing of a failed one may leak into them). */
static int fn_inc_or_fail(pydron_task_ctx *ctx, void *user)
{
    uint64_t at = *(const uint64_t *)user;
    int rc = 0;
    uint64_t x = tu_input_u64(ctx, 0, &rc);
    if (rc)
        return rc;
    if (x == at)
        return pydron_ctx_fail(ctx, "step %llu fails", (unsigned long long)x), PYDRON_ETASK;
    x++;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

Test(job, a_chain_fails_where_its_body_fails)
{
    static const uint64_t at = 37;
    for (size_t e = 0; e < 2; e++) {
        pydron_runtime *rt = tu_runtime(execs[e], 2);
        uint32_t k = tu_kind_c(rt, "inc-or-fail", fn_inc_or_fail, (void *)&at);
        pydron_graph *g = tu_graph(rt);
        pydron_value v[101];
        v[0] = tu_const_u64(g, 0);
        for (size_t i = 1; i <= 100; i++)
            tu_add(g, k, PYDRON_TASK_PURE, &v[i - 1], 1, 1, &v[i], NULL);
        int rc = pydron_graph_run(g, 60000);   /* every task finished, some failed */
        cr_assert(rc == 0 || rc == PYDRON_ETASK, "graph_run: %d", rc);
        for (size_t i = 1; i <= at; i++)
            cr_assert_eq(tu_get_u64(g, v[i]), i);
        for (size_t i = at + 1; i <= 100; i++)
            expect_failed(g, v[i], "step 37 fails");
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* An executor that presets output 0 with pydron_job_set_output_bytes (and
 * output 1 as remote) and then runs the job: the run's outputs replace
 * them, and the preset buffer is freed once. */
typedef struct px {
    pydron_job *held[16];
    size_t n;
} px;

static int px_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)self;
    (void)host;
    *nworkers = 1;
    *in_flight = 16;
    return 0;
}

static int px_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)worker;
    px *x = self;
    for (size_t i = 0; i < n && x->n < 16; i++)
        x->held[x->n++] = jobs[i];
    return 0;
}

static int px_poll(void *self, int timeout_ms)
{
    (void)timeout_ms;
    px *x = self;
    int done = 0;
    while (x->n) {
        pydron_job *j = x->held[--x->n];
        char *b = malloc(24);
        memset(b, 'p', 24);
        TU_OK(pydron_job_set_output_bytes(j, 0, b, 24, count_free, b));
        TU_OK(pydron_job_set_output_remote(j, 1, 0, 8));
        pydron_job_done(j, pydron_job_run_local(j));
        done++;
    }
    return done;
}

static void px_stop(void *self)
{
    px *x = self;
    while (x->n)
        pydron_job_done(x->held[--x->n], PYDRON_ECANCELED);
}

static int fn_two(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t a = 11, b = 22;
    int rc = pydron_ctx_output_set(ctx, 0, &a, sizeof a);
    return rc ? rc : pydron_ctx_output_set(ctx, 1, &b, sizeof b);
}

Test(job, run_local_replaces_outputs_the_executor_set)
{
    static const pydron_executor_ops ops = {PYDRON_EXECUTOR_OPS_VERSION, "preset", px_start,
                                            px_submit, px_poll, NULL, NULL, px_stop, NULL, NULL};
    atomic_store(&nfreed, 0);
    px x = {{0}, 0};
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    TU_OK(pydron_runtime_set_executor(rt, &ops, &x));
    uint32_t k = tu_kind_c(rt, "two", fn_two, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value out[2];
    tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, 2, out, NULL);
    cr_assert_eq(tu_get_u64(g, out[0]), 11);
    cr_assert_eq(tu_get_u64(g, out[1]), 22);
    cr_assert_eq(atomic_load(&nfreed), 1, "the preset buffer is freed once");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The in-process executors give a job the end of the one before as its
 * start: every finished task has queued <= started <= finished, and on one
 * thread (inline) a task starts no earlier than the one before it ended. */
typedef struct times {
    size_t n, bad;
    uint64_t last_finished;
    int ordered;   /* check started >= the previous finished */
} times;

static void on_timing(const pydron_task_timing *t, void *user)
{
    times *s = user;
    s->n++;
    if (!t->started_ns || t->started_ns < t->queued_ns || t->finished_ns < t->started_ns)
        s->bad++;
    if (s->ordered && t->started_ns < s->last_finished)
        s->bad++;
    s->last_finished = t->finished_ns;
}

static int fn_spin(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    int rc = 0;
    uint64_t x = tu_input_u64(ctx, 0, &rc);
    if (rc)
        return rc;
    uint64_t t0 = tu_now_ns();
    while (tu_now_ns() - t0 < 20000)   /* 20 us: the times differ */
        ;
    x++;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

Test(job, times_are_ordered)
{
    for (size_t e = 0; e < 2; e++) {
        pydron_runtime *rt = tu_runtime(execs[e], 2);
        uint32_t k = tu_kind_c(rt, "spin", fn_spin, NULL);
        pydron_graph *g = tu_graph(rt);
        pydron_value v = tu_const_u64(g, 0);
        /* a fan (many jobs run back to back) then a chain */
        for (size_t i = 0; i < 50; i++) {
            pydron_value o;
            tu_add(g, k, PYDRON_TASK_PURE, &v, 1, 1, &o, NULL);
            TU_OK(pydron_value_release(g, o));
        }
        for (size_t i = 0; i < 50; i++) {
            pydron_value o;
            tu_add(g, k, PYDRON_TASK_PURE, &v, 1, 1, &o, NULL);
            v = o;
        }
        cr_assert_eq(tu_get_u64(g, v), 50);
        TU_OK(pydron_graph_run(g, 60000));
        times s = {0, 0, 0, execs[e] == PYDRON_EXECUTOR_INLINE};
        TU_OK(pydron_graph_timings(g, on_timing, &s));
        cr_assert_eq(s.n, 100);
        cr_assert_eq(s.bad, 0, "%zu tasks with times out of order", s.bad);
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* ---- tiny jobs are timed in runs (exec/exec.h, pdi_jtimer) ---- */

/* payload 0: nothing; else sleep that many microseconds. Output = input. */
static int fn_maybe_sleep(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t us = tu_payload_u64(ctx);
    if (us) {
        struct timespec ts = {0, (long)us * 1000};
        nanosleep(&ts, NULL);
    }
    int rc = 0;
    uint64_t x = tu_input_u64(ctx, 0, &rc);
    return rc ? rc : pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

enum { TJ_N = 2000, TJ_SLOW_EVERY = 16, TJ_SLOW_US = 2000 };

typedef struct tjobs {
    uint32_t slow_kind;       /* kind of the slow jobs (the other kind is tiny) */
    size_t n, bad, nslow, slow_short;
    uint64_t last_finished, total_ns;
    int ordered;
    uint64_t dur[TJ_N];
    int slow[TJ_N];
    size_t equal_runs, eq;    /* runs of >= 7 equal durations in a row */
} tjobs;

static void on_tjob(const pydron_task_timing *t, void *user)
{
    tjobs *s = user;
    if (!t->started_ns || t->started_ns < t->queued_ns || t->finished_ns < t->started_ns)
        s->bad++;
    if (s->ordered && t->started_ns < s->last_finished)
        s->bad++;
    s->last_finished = t->finished_ns;
    uint64_t d = t->finished_ns - t->started_ns;
    if (s->n && d == s->dur[s->n - 1]) {
        if (++s->eq == 6)
            s->equal_runs++;
    } else {
        s->eq = 0;
    }
    s->dur[s->n] = d;
    s->total_ns += d;
    s->slow[s->n] = t->kind == s->slow_kind;
    s->n++;
}

/* TJ_N independent jobs; every TJ_SLOW_EVERY-th sleeps TJ_SLOW_US, as a
 * job of kind `slow` (the others are of kind `tiny`, which may be the
 * same kind) */
static void run_mixed(pydron_executor_kind ex, int same_kind, tjobs *s)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t tiny = tu_kind_c(rt, "tiny", fn_maybe_sleep, NULL);
    uint32_t slow = same_kind ? tiny : tu_kind_c(rt, "slow", fn_maybe_sleep, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 7);
    size_t nslow = 0;
    for (size_t i = 0; i < TJ_N; i++) {
        int is_slow = i % TJ_SLOW_EVERY == TJ_SLOW_EVERY - 1;
        uint64_t us = is_slow ? TJ_SLOW_US : 0;
        pydron_value o;
        tu_add(g, is_slow ? slow : tiny, PYDRON_TASK_PURE, &c, 1, 1, &o, &us);
        TU_OK(pydron_value_release(g, o));
        nslow += (size_t)is_slow;
    }
    TU_OK(pydron_value_release(g, c));
    TU_OK(pydron_graph_run(g, 60000));
    memset(s, 0, sizeof *s);
    s->slow_kind = same_kind ? UINT32_MAX : slow;
    s->ordered = ex == PYDRON_EXECUTOR_INLINE;
    TU_OK(pydron_graph_timings(g, on_tjob, s));
    cr_assert_eq(s->n, TJ_N);
    cr_assert_eq(s->bad, 0, "%zu tasks with times out of order", s->bad);
    /* nothing is lost: the sleeps are all in the total */
    cr_assert_geq(s->total_ns, (uint64_t)nslow * TJ_SLOW_US * 1000,
                  "total %llu ns for %zu sleeps of %d us", (unsigned long long)s->total_ns,
                  nslow, TJ_SLOW_US);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A job of another kind than the tiny ones before it is timed alone: each
 * slow job's own time holds its whole sleep, on both executors. */
Test(job, a_slow_kind_among_tiny_jobs_keeps_exact_times, .timeout = 60)
{
    static tjobs s;
    for (size_t e = 0; e < 2; e++) {
        run_mixed(execs[e], 0, &s);
        size_t short_ = 0, nslow = 0;
        for (size_t i = 0; i < s.n; i++) {
            if (!s.slow[i])
                continue;
            nslow++;
            short_ += s.dur[i] < (uint64_t)TJ_SLOW_US * 1000;
        }
        cr_assert_eq(nslow, TJ_N / TJ_SLOW_EVERY);
        cr_assert_eq(short_, 0, "executor %zu: %zu of %zu slow jobs shorter than their sleep",
                     e, short_, nslow);
    }
}

/* Calls of one kind, mostly tiny with a slow one now and then: a slow call
 * may share its time with at most 31 calls of its kind next to it (the
 * inline executor's direct lane times runs of up to 32, in run order; jobs
 * runs of 8), and the tiny calls are timed in runs (seen as runs of equal
 * durations; without runs, 7 equal ns durations in a row are rare). */
Test(job, tiny_jobs_are_timed_in_runs_with_exact_totals, .timeout = 60)
{
    static tjobs s;
    run_mixed(PYDRON_EXECUTOR_INLINE, 1, &s);
    for (size_t i = TJ_SLOW_EVERY - 1; i < s.n; i += TJ_SLOW_EVERY) {
        uint64_t sum = 0;
        for (size_t k = i >= 31 ? i - 31 : 0; k <= i + 31 && k < s.n; k++)
            sum += s.dur[k];
        cr_assert_geq(sum, (uint64_t)TJ_SLOW_US * 1000,
                      "the slow call %zu and its neighbours took %llu ns in all", i,
                      (unsigned long long)sum);
    }
    cr_assert_geq(s.equal_runs, 10, "only %zu runs of equal durations among %d tiny jobs",
                  s.equal_runs, TJ_N);
    run_mixed(PYDRON_EXECUTOR_THREADS, 1, &s);
    cr_assert_geq(s.equal_runs, 10, "threads: only %zu runs of equal durations", s.equal_runs);
}

/* While a trace is written, every job is timed alone (the trace shows each
 * task's own span): no runs of equal durations, slow calls exact. */
Test(job, tracing_times_every_job_alone, .timeout = 60)
{
    static tjobs s;
    char path[] = "/tmp/pydron-test-job-trace-XXXXXX";
    int fd = mkstemp(path);
    cr_assert_geq(fd, 0);
    close(fd);
    pydron_trace_options o = PYDRON_TRACE_OPTIONS_INIT;
    o.path = path;
    TU_OK(pydron_trace_start(&o));
    run_mixed(PYDRON_EXECUTOR_INLINE, 1, &s);
    TU_OK(pydron_trace_stop());
    unlink(path);
    size_t short_ = 0;
    for (size_t i = TJ_SLOW_EVERY - 1; i < s.n; i += TJ_SLOW_EVERY)
        short_ += s.dur[i] < (uint64_t)TJ_SLOW_US * 1000;
    cr_assert_eq(short_, 0, "%zu slow calls shorter than their sleep while tracing", short_);
}
