/* test_abi.c - the growing structs of pydron.h ("Growing structs"): an
 * older, smaller caller's struct is read and written only as far as its
 * version goes. Each test lays the 0.1.0 layout of a struct into a buffer
 * followed by guard bytes, calls the 0.1.0 entry point (by its symbol: the
 * name in parentheses bypasses pydron.h's macro) and the versioned one, and
 * checks that the guard bytes are untouched and the fields right. */
#include "testutil.h"

#include <stddef.h>

#define GUARD 0xA5
#define NGUARD 64

/* The 0.1.0 layouts, as a program built against 0.1.0 has them. */
typedef struct stats_v1 {
    uint64_t tasks_added, tasks_done, tasks_failed, tasks_refined, tasks_retried;
    uint64_t values_live, bytes_live, bytes_peak;
} stats_v1;

typedef struct timing_v1 {
    pydron_task task;
    uint32_t kind;
    pydron_task_state state;
    uint64_t queued_ns, started_ns, finished_ns;
    int32_t worker;
    const char *executor;
    const char *label;
} timing_v1;

typedef struct options_v1 {
    unsigned version;
    pydron_executor_kind executor;
    pydron_policy_kind policy;
    unsigned workers, max_retries;
    const char *worker_command;
    const char *const *worker_args;
    const char *listen_url, *secret, *tls_cert_file, *tls_key_file, *launch_command;
    const char *const *launch_hosts;
    unsigned heartbeat_ms, in_flight;
} options_v1;

/* A buffer holding n bytes of struct, then guard bytes. */
typedef struct guarded {
    _Alignas(16) unsigned char b[512];
    size_t n;
} guarded;

static void guard_init(guarded *g, size_t n)
{
    cr_assert(n + NGUARD <= sizeof g->b);
    g->n = n;
    memset(g->b, 0, n);
    memset(g->b + n, GUARD, sizeof g->b - n);
}

static void guard_check(const guarded *g, const char *what)
{
    for (size_t i = g->n; i < sizeof g->b; i++)
        cr_assert_eq(g->b[i], GUARD, "%s wrote byte %zu past the caller's %zu-byte struct", what,
                     i - g->n, g->n);
}

static uint32_t ksum;

static pydron_graph *graph_with_tasks(pydron_runtime **rt, pydron_task *t, pydron_value *v)
{
    *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    ksum = tu_kind_c(*rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(*rt);
    pydron_value a = tu_const_u64(g, 2), b = tu_const_u64(g, 3);
    pydron_value in[2] = {a, b};
    *t = tu_add(g, ksum, PYDRON_TASK_PURE, in, 2, 1, v, NULL);
    cr_assert_eq(tu_get_u64(g, *v), 5);
    return g;
}

Test(abi, v1_layouts_are_the_prefix_of_today)
{
    /* the first fields did not move (also checked by abi_check) */
    cr_assert_eq(offsetof(pydron_graph_stats, bytes_peak), offsetof(stats_v1, bytes_peak));
    cr_assert_eq(offsetof(pydron_task_timing, label), offsetof(timing_v1, label));
    cr_assert_eq(offsetof(pydron_runtime_options, in_flight), offsetof(options_v1, in_flight));
    cr_assert_gt(sizeof(pydron_graph_stats), sizeof(stats_v1), "stats grew (version 2)");
    cr_assert_gt(sizeof(pydron_task_timing), sizeof(timing_v1), "timing grew (version 2)");
}

Test(abi, graph_stats_old_caller)
{
    pydron_runtime *rt;
    pydron_task t;
    pydron_value v;
    pydron_graph *g = graph_with_tasks(&rt, &t, &v);
    guarded buf;

    /* a program built against 0.1.0 calls the old symbol */
    guard_init(&buf, sizeof(stats_v1));
    TU_OK((pydron_graph_stats_get)(g, (pydron_graph_stats *)buf.b));
    guard_check(&buf, "pydron_graph_stats_get (0.1.0 symbol)");
    stats_v1 s1;
    memcpy(&s1, buf.b, sizeof s1);
    cr_assert_eq(s1.tasks_added, 1);
    cr_assert_eq(s1.tasks_done, 1);

    /* version 1 asked for explicitly */
    guard_init(&buf, sizeof(stats_v1));
    TU_OK(pydron_graph_stats_get_version(g, (pydron_graph_stats *)buf.b, 1));
    guard_check(&buf, "pydron_graph_stats_get_version(1)");

    /* version 2: up to and including the version field, nothing after it */
    size_t v2 = offsetof(pydron_graph_stats, version) + sizeof(unsigned);
    guard_init(&buf, v2);
    TU_OK(pydron_graph_stats_get_version(g, (pydron_graph_stats *)buf.b, 2));
    guard_check(&buf, "pydron_graph_stats_get_version(2)");
    pydron_graph_stats s2;
    memcpy(&s2, buf.b, v2);
    cr_assert_eq(s2.version, 2);
    cr_assert_eq(s2.tasks_done, 1);

    /* version 3: up to wait_ns, not the direct lane's count after it */
    size_t v3 = offsetof(pydron_graph_stats, wait_ns) + sizeof(uint64_t);
    guard_init(&buf, v3);
    TU_OK(pydron_graph_stats_get_version(g, (pydron_graph_stats *)buf.b, 3));
    guard_check(&buf, "pydron_graph_stats_get_version(3)");

    /* this header's name: the current version */
    pydron_graph_stats cur;
    memset(&cur, 0xff, sizeof cur);
    TU_OK(pydron_graph_stats_get(g, &cur));
    cr_assert_eq(cur.version, PYDRON_GRAPH_STATS_VERSION);
    cr_assert_eq(cur.tasks_added, 1);

    /* unknown versions: EINVAL and nothing written */
    guard_init(&buf, 0);
    TU_ERR(PYDRON_EINVAL, pydron_graph_stats_get_version(g, (pydron_graph_stats *)buf.b, 0));
    TU_ERR(PYDRON_EINVAL, pydron_graph_stats_get_version(g, (pydron_graph_stats *)buf.b,
                                                         PYDRON_GRAPH_STATS_VERSION + 1));
    guard_check(&buf, "pydron_graph_stats_get_version(bad version)");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(abi, task_timing_old_caller)
{
    pydron_runtime *rt;
    pydron_task t;
    pydron_value v;
    pydron_graph *g = graph_with_tasks(&rt, &t, &v);
    guarded buf;

    guard_init(&buf, sizeof(timing_v1));
    TU_OK((pydron_task_timing_get)(g, t, (pydron_task_timing *)buf.b));
    guard_check(&buf, "pydron_task_timing_get (0.1.0 symbol)");
    timing_v1 t1;
    memcpy(&t1, buf.b, sizeof t1);
    cr_assert_eq(t1.task.id, t.id);
    cr_assert_eq(t1.kind, ksum);
    cr_assert_eq(t1.state, PYDRON_TASK_DONE);
    cr_assert_leq(t1.queued_ns, t1.finished_ns);

    size_t v2 = offsetof(pydron_task_timing, version) + sizeof(unsigned);
    guard_init(&buf, v2);
    TU_OK(pydron_task_timing_get_version(g, t, (pydron_task_timing *)buf.b, 2));
    guard_check(&buf, "pydron_task_timing_get_version(2)");
    pydron_task_timing t2;
    memcpy(&t2, buf.b, v2);
    cr_assert_eq(t2.version, 2);
    cr_assert_eq(t2.task.id, t.id);

    pydron_task_timing cur;
    memset(&cur, 0xff, sizeof cur);
    TU_OK(pydron_task_timing_get(g, t, &cur));
    cr_assert_eq(cur.version, PYDRON_TASK_TIMING_VERSION);

    guard_init(&buf, 0);
    TU_ERR(PYDRON_EINVAL, pydron_task_timing_get_version(g, t, (pydron_task_timing *)buf.b, 0));
    TU_ERR(PYDRON_EINVAL, pydron_task_timing_get_version(g, t, (pydron_task_timing *)buf.b,
                                                         PYDRON_TASK_TIMING_VERSION + 1));
    guard_check(&buf, "pydron_task_timing_get_version(bad version)");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

static void timing_version_cb(const pydron_task_timing *tt, void *user)
{
    *(unsigned *)user = tt->version;
}

Test(abi, graph_timings_callback_gets_the_current_version)
{
    pydron_runtime *rt;
    pydron_task t;
    pydron_value v;
    pydron_graph *g = graph_with_tasks(&rt, &t, &v);
    unsigned seen = 0;
    TU_OK(pydron_graph_timings(g, timing_version_cb, &seen));
    cr_assert_eq(seen, PYDRON_TASK_TIMING_VERSION);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(abi, runtime_options_old_caller)
{
    guarded buf;
    size_t v1 = sizeof(options_v1);

    guard_init(&buf, v1);
    (pydron_runtime_options_init)((pydron_runtime_options *)buf.b);
    guard_check(&buf, "pydron_runtime_options_init (0.1.0 symbol)");
    options_v1 o1;
    memcpy(&o1, buf.b, sizeof o1);
    cr_assert_eq(o1.version, 1);
    cr_assert_eq(o1.executor, PYDRON_EXECUTOR_INLINE);

    guard_init(&buf, v1);
    TU_OK(pydron_runtime_options_init_version((pydron_runtime_options *)buf.b, 1));
    guard_check(&buf, "pydron_runtime_options_init_version(1)");

    guard_init(&buf, 0);
    TU_ERR(PYDRON_EINVAL, pydron_runtime_options_init_version((pydron_runtime_options *)buf.b, 0));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_options_init_version(
                              (pydron_runtime_options *)buf.b, PYDRON_RUNTIME_OPTIONS_VERSION + 1));
    guard_check(&buf, "pydron_runtime_options_init_version(bad version)");
    TU_ERR(PYDRON_EINVAL, pydron_runtime_options_init_version(NULL, 1));

    /* pydron_runtime_new reads no further than the caller's version: a
     * heap block of exactly the 0.1.0 size (AddressSanitizer reports any
     * read past it) with garbage right behind it in the guarded case */
    options_v1 *heap = malloc(sizeof *heap);
    cr_assert_not_null(heap);
    memcpy(heap, &o1, sizeof o1);
    heap->executor = PYDRON_EXECUTOR_THREADS;
    heap->workers = 2;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, (const pydron_runtime_options *)heap));
    pydron_graph *g = tu_graph(rt);
    pydron_value a = tu_const_u64(g, 4), b = tu_const_u64(g, 5), in[2] = {a, b}, out;
    tu_add(g, tu_kind_c(rt, "sum", tu_fn_sum, NULL), PYDRON_TASK_PURE, in, 2, 1, &out, NULL);
    cr_assert_eq(tu_get_u64(g, out), 9);
    unsigned nw = 0;
    TU_OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_gt(nw, 0);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));

    heap->version = 0;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, (const pydron_runtime_options *)heap));
    heap->version = PYDRON_RUNTIME_OPTIONS_VERSION + 1;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_new(&rt, (const pydron_runtime_options *)heap));
    free(heap);
}

/* ------------------------------------------------------------------------
 * pydron_executor_ops grew recall() (version 2). A program built against
 * 0.1.0 hands over a version-1 table without it: the library must not read
 * past it. The table ends exactly at an inaccessible page, so a read of
 * recall crashes the test; cancel and free (which recall on version 2)
 * run with it. */
#include <sys/mman.h>

typedef struct v1x {
    pydron_job *q[64];
    size_t n;
} v1x;

static int v1_start(void *self, pydron_exec_host *h, unsigned *nw, unsigned *inf)
{
    (void)self;
    (void)h;
    *nw = 1;
    *inf = 64;
    return 0;
}

static int v1_submit(void *self, pydron_job *const *jobs, size_t n, unsigned w)
{
    (void)w;
    v1x *x = self;
    for (size_t i = 0; i < n; i++)
        x->q[x->n++] = jobs[i];
    return 0;
}

static int v1_poll(void *self, int ms)
{
    (void)ms;
    v1x *x = self;
    int done = 0;
    while (x->n) {
        pydron_job *j = x->q[--x->n];
        pydron_job_done(j, pydron_job_canceled(j) ? PYDRON_ECANCELED : pydron_job_run_local(j));
        done++;
    }
    return done;
}

static void v1_stop(void *self)
{
    v1x *x = self;
    while (x->n)
        pydron_job_done(x->q[--x->n], PYDRON_ECANCELED);
}

Test(abi, executor_ops_version_1_table_is_not_read_past)
{
    size_t v1size = offsetof(pydron_executor_ops, recall);
    long pg = sysconf(_SC_PAGESIZE);
    unsigned char *mem = mmap(NULL, 2 * (size_t)pg, PROT_READ | PROT_WRITE,
                              MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(mem, MAP_FAILED);
    cr_assert_eq(mprotect(mem + pg, (size_t)pg, PROT_NONE), 0);
    pydron_executor_ops *ops = (pydron_executor_ops *)(void *)(mem + pg - v1size);
    memset(ops, 0, v1size);
    ops->version = 1;
    ops->name = "v1";
    ops->start = v1_start;
    ops->submit = v1_submit;
    ops->poll = v1_poll;
    ops->stop = v1_stop;
    static v1x x;
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    TU_OK(pydron_runtime_set_executor(rt, ops, &x));
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = tu_const_u64(g, 1), b = tu_const_u64(g, 2), in[2] = {a, b}, out, late;
    tu_add(g, k, PYDRON_TASK_PURE, in, 2, 1, &out, NULL);
    cr_assert_eq(tu_get_u64(g, out), 3);
    tu_add(g, k, PYDRON_TASK_PURE, in, 2, 1, &late, NULL);
    TU_OK(pydron_graph_start(g));
    TU_OK(pydron_graph_cancel(g)); /* no recall() in a version-1 table */
    TU_ERR(PYDRON_ECANCELED, pydron_graph_wait(g, late, 1000));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    munmap(mem, 2 * (size_t)pg);
}

/* pydron_worker_options as 0.1.0 had it (version 1) */
typedef struct worker_options_v1 {
    unsigned version;
    const char *url, *secret, *tls_ca_file;
    int32_t worker_id;
    unsigned threads;
    const pydron_worker_runner *runners;
    size_t nrunners;
    int exit_with_parent;
    const char *listen_peer_url;
} worker_options_v1;

Test(abi, worker_options_old_caller)
{
    guarded buf;
    size_t v1 = sizeof(worker_options_v1);
    cr_assert_eq(offsetof(pydron_worker_options, listen_peer_url),
                 offsetof(worker_options_v1, listen_peer_url));
    guard_init(&buf, v1);
    (pydron_worker_options_init)((pydron_worker_options *)buf.b);
    guard_check(&buf, "pydron_worker_options_init (0.1.0 symbol)");
    worker_options_v1 o1;
    memcpy(&o1, buf.b, sizeof o1);
    cr_assert_eq(o1.version, 1);
    cr_assert_eq(o1.worker_id, -1);
    cr_assert_eq(o1.exit_with_parent, 1);

    guard_init(&buf, v1);
    TU_OK(pydron_worker_options_init_version((pydron_worker_options *)buf.b, 1));
    guard_check(&buf, "pydron_worker_options_init_version(1)");
    guard_init(&buf, 0);
    TU_ERR(PYDRON_EINVAL, pydron_worker_options_init_version((pydron_worker_options *)buf.b, 0));
    TU_ERR(PYDRON_EINVAL, pydron_worker_options_init_version(
                              (pydron_worker_options *)buf.b, PYDRON_WORKER_OPTIONS_VERSION + 1));
    guard_check(&buf, "pydron_worker_options_init_version(bad version)");

    /* today's callers get every field, the connect timeout at 0 */
    pydron_worker_options o;
    memset(&o, 0x5a, sizeof o);
    pydron_worker_options_init(&o);
    cr_assert_eq(o.version, PYDRON_WORKER_OPTIONS_VERSION);
    cr_assert_eq(o.connect_timeout_ms, 0);

    /* pydron_worker_main reads no further than version 1: a heap block of
     * exactly that size (ASan reports a read past it); a bad URL fails */
    worker_options_v1 *heap = malloc(sizeof *heap);
    cr_assert_not_null(heap);
    memcpy(heap, &o1, sizeof o1);
    heap->url = "nosuchscheme://x";
    heap->secret = "abi-test-secret-0123456789abcdef0123";
    heap->exit_with_parent = 0;
    int rc = pydron_worker_main((const pydron_worker_options *)heap);
    cr_assert_lt(rc, 0);
    free(heap);
}
