/* test_local.c - the local executor with real worker processes: results
 * equal to inline, 10,000 tasks, 64 MB values moved between workers and to
 * the driver, a worker SIGKILLed mid-run, a driver SIGKILLed (its workers
 * and its private directory must disappear), tasks that kill their worker
 * every time, and C functions of the host program (an error unless asked
 * to run them in the driver). */
#include "testutil.h"
#include <criterion/criterion.h>

#include <dirent.h>
#include <spawn.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"

#define OK(expr)                                                                          \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        cr_assert_eq(rc_, 0, "%s -> %d: %s", #expr, rc_, pydron_error_last());            \
    } while (0)

#define LIB PYDRON_TEST_FFI_LIB

static pydron_runtime *runtime(pydron_executor_kind ex, unsigned workers)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = workers;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    return rt;
}

static pydron_value u64c(pydron_graph *g, uint64_t x) { return tu_const_u64(g, x); }

static pydron_value ffi(pydron_graph *g, pydron_runtime *rt, const char *sym, const char *sig,
                        const pydron_value *in, size_t nin)
{
    pydron_value out = PYDRON_VALUE_NONE;
    tu_ffi_task(g, rt, LIB, sym, sig, in, nin, 1, &out);
    return out;
}

static uint64_t getu(pydron_graph *g, pydron_value v) { return tu_get_u64(g, v); }

/* A two-level reduction over n leaves: leaf i = (i*i + 7) computed by a
 * worker, groups of `fan` summed, then the group sums summed. */
static uint64_t reduction(pydron_executor_kind ex, unsigned workers, size_t n, size_t fan,
                          const char *leaf_sym)
{
    pydron_runtime *rt = runtime(ex, workers);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    size_t ngroups = (n + fan - 1) / fan;
    pydron_value *groups = calloc(ngroups, sizeof *groups);
    pydron_value *leaves = calloc(fan, sizeof *leaves);
    for (size_t gi = 0; gi < ngroups; gi++) {
        size_t m = 0;
        for (size_t i = gi * fan; i < n && i < (gi + 1) * fan; i++, m++) {
            pydron_value in[2] = {u64c(g, (uint64_t)i * i), u64c(g, 7)};
            leaves[m] = ffi(g, rt, leaf_sym, leaf_sym[3] == 'a' ? "L(LL)" : NULL, in, 2);
            OK(pydron_value_release(g, in[0]));
            OK(pydron_value_release(g, in[1]));
        }
        groups[gi] = ffi(g, rt, "tl_sum_ctx", NULL, leaves, m);
        for (size_t i = 0; i < m; i++)
            OK(pydron_value_release(g, leaves[i]));
    }
    pydron_value total = ffi(g, rt, "tl_sum_ctx", NULL, groups, ngroups);
    uint64_t r = getu(g, total);
    pydron_graph_stats st;
    OK(pydron_graph_stats_get(g, &st));
    cr_assert_geq(st.tasks_done, n + ngroups + 1);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
    free(groups);
    free(leaves);
    return r;
}

static uint64_t expected(size_t n)
{
    uint64_t s = 0;
    for (uint64_t i = 0; i < n; i++)
        s += i * i + 7;
    return s;
}

Test(local, same_result_as_inline, .timeout = 120)
{
    uint64_t a = reduction(PYDRON_EXECUTOR_INLINE, 0, 500, 10, "tl_add_u64");
    uint64_t b = reduction(PYDRON_EXECUTOR_LOCAL, 2, 500, 10, "tl_add_u64");
    cr_assert_eq(a, expected(500));
    cr_assert_eq(b, a);
}

Test(local, ten_thousand_tasks, .timeout = 300)
{
    cr_assert_eq(reduction(PYDRON_EXECUTOR_LOCAL, 2, 10000, 100, "tl_add_u64"), expected(10000));
}

Test(local, nworkers_and_where_tasks_ran, .timeout = 60)
{
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 2);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value pids[40];
    for (int i = 0; i < 40; i++)
        pids[i] = ffi(g, rt, "tl_pid_ctx", NULL, NULL, 0);
    uint64_t seen[2] = {0, 0};
    int distinct = 0;
    for (int i = 0; i < 40; i++) {
        uint64_t pid = getu(g, pids[i]);
        cr_assert_neq(pid, (uint64_t)getpid(), "FFI tasks must run in worker processes");
        if (pid != seen[0] && pid != seen[1] && distinct < 2)
            seen[distinct++] = pid;
    }
    unsigned nw;
    OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_eq(nw, 2);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

static uint64_t checksum(size_t n, uint64_t seed)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)(i * 31 + seed)) * 1099511628211ULL;
    return h ^ n;
}

Test(local, values_of_64_mb, .timeout = 300)
{
    const uint64_t n = 64ull << 20;
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 2);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value big[2], sums[4];
    for (int k = 0; k < 2; k++) {
        pydron_value in[2] = {u64c(g, n), u64c(g, (uint64_t)k + 1)};
        big[k] = ffi(g, rt, "tl_make_big", NULL, in, 2);
    }
    /* several consumers per value: some run where it is, some fetch it
     * from the other worker */
    for (int k = 0; k < 4; k++)
        sums[k] = ffi(g, rt, "tl_checksum", NULL, &big[k % 2], 1);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(getu(g, sums[k]), checksum(n, (uint64_t)(k % 2) + 1), "consumer %d", k);
    /* where did they run? a consumer on another worker than its producer
     * got the 64 MB from that worker directly (the driver has not asked
     * for the bytes yet) */
    int cross = 0;
    for (int k = 0; k < 4; k++) {
        pydron_task tp, tc;
        pydron_task_timing a, b;
        OK(pydron_value_producer(g, big[k % 2], &tp));
        OK(pydron_value_producer(g, sums[k], &tc));
        OK(pydron_task_timing_get(g, tp, &a));
        OK(pydron_task_timing_get(g, tc, &b));
        cr_assert_geq(a.worker, 0);
        cr_assert_geq(b.worker, 0);
        cross += a.worker != b.worker;
    }
    cr_log_info("%d of 4 consumers fetched their input peer to peer", cross);
    size_t sz;
    OK(pydron_value_size(g, big[1], &sz));
    cr_assert_eq(sz, n);
    /* the driver pulls the bytes only when it asks */
    const void *p;
    size_t l;
    OK(pydron_value_bytes(g, big[1], &p, &l));
    cr_assert_eq(l, n);
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i += 4099)
        cr_assert_eq(b[i], (uint8_t)(i * 31 + 2), "byte %zu", i);
    cr_assert_eq(b[n - 1], (uint8_t)((n - 1) * 31 + 2));
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* pydron_ctx_output_note: an output that stays on its worker brings its
 * note with the completion, and keeps it after the driver fetched its
 * bytes; a small output comes back whole, without one; the inline executor
 * keeps none (the bytes are here). 100 notes at once (the table grows),
 * half of them released (their notes go). Bad arguments are refused. */
Test(local, notes_of_outputs_kept_on_workers, .timeout = 120)
{
    const pydron_executor_kind exs[2] = {PYDRON_EXECUTOR_LOCAL, PYDRON_EXECUTOR_INLINE};
    uint64_t got[2][100];
    for (int e = 0; e < 2; e++) {
        int remote = exs[e] == PYDRON_EXECUTOR_LOCAL;
        pydron_runtime *rt = runtime(exs[e], 2);
        pydron_graph *g;
        OK(pydron_graph_new(rt, &g));
        enum { N = 100 };
        pydron_value big[N], sums[N];
        for (int k = 0; k < N; k++) {
            pydron_value in = u64c(g, 5000 + (uint64_t)k);
            big[k] = ffi(g, rt, "tl_make_noted", NULL, &in, 1);
            sums[k] = ffi(g, rt, "tl_checksum", NULL, &big[k], 1);
            OK(pydron_value_release(g, in));
        }
        pydron_value in = u64c(g, 100);
        pydron_value small = ffi(g, rt, "tl_make_noted", NULL, &in, 1);
        pydron_value errs = ffi(g, rt, "tl_note_errors", NULL, NULL, 0);
        OK(pydron_graph_run(g, -1));
        cr_assert_eq(getu(g, errs), 1, "bad notes refused in the task");
        for (int k = 0; k < N; k++)   /* consumers read the bytes, not the note */
            got[e][k] = getu(g, sums[k]);
        if (e == 1)
            cr_assert(memcmp(got[0], got[1], sizeof got[0]) == 0, "local and inline differ");
        const void *p;
        size_t l;
        char want[32];
        for (int k = 0; k < N; k++) {
            OK(pydron_value_note(g, big[k], &p, &l));
            int n = snprintf(want, sizeof want, "n=%d", 5000 + k);
            if (remote) {
                cr_assert_eq(l, (size_t)n, "note %d: %zu bytes", k, l);
                cr_assert(memcmp(p, want, l) == 0, "note %d: %.*s", k, (int)l, (const char *)p);
            } else {
                cr_assert_null(p);
                cr_assert_eq(l, 0);
            }
        }
        OK(pydron_value_note(g, small, &p, &l));
        cr_assert_null(p, "a small output's bytes came back: no note");
        cr_assert_eq(l, 0);
        /* the driver fetches the bytes: the note stays */
        const void *b;
        size_t bl;
        OK(pydron_value_bytes(g, big[7], &b, &bl));
        cr_assert_eq(bl, 5007);
        OK(pydron_value_note(g, big[7], &p, &l));
        cr_assert_eq(l, remote ? 6u : 0u);
        /* released values take their notes; the others keep theirs */
        for (int k = 0; k < N; k += 2) {
            OK(pydron_value_release(g, big[k]));
            cr_assert_eq(pydron_value_note(g, big[k], &p, &l), PYDRON_ESTALE);
        }
        for (int k = 1; k < N; k += 2) {
            OK(pydron_value_note(g, big[k], &p, &l));
            cr_assert_eq(l, remote ? 6u : 0u, "note %d after the release of others", k);
            if (remote) {   /* (a note is bytes, not a string) */
                int n = snprintf(want, sizeof want, "n=%d", 5000 + k);
                cr_assert(l == (size_t)n && memcmp(p, want, l) == 0, "note %d", k);
            }
        }
        cr_assert_eq(pydron_value_note(g, big[1], NULL, &l), PYDRON_EINVAL);
        cr_assert_eq(pydron_value_note(NULL, big[1], &p, &l), PYDRON_EINVAL);
        OK(pydron_graph_free(g));
        OK(pydron_runtime_free(rt));
    }
}

/* pydron_value_fetch: a value on a worker (512 KB: bytes on the socket, no
 * shared memory) brought to the driver in 0 ms slices, as the Python binding
 * does to stay responsive to Ctrl-C; a pending value is ESTATE. */
Test(local, fetch_in_slices, .timeout = 120)
{
    const uint64_t n = 512u << 10;
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 1);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, n), u64c(g, 3)};
    pydron_value big = ffi(g, rt, "tl_make_big", NULL, in, 2);
    int rc = pydron_value_fetch(g, big, 0);
    cr_assert(rc == PYDRON_ESTATE || rc == 0 || rc == PYDRON_ETIMEDOUT, "rc %d", rc);
    OK(pydron_graph_wait(g, big, 60000));
    int slices = 0;
    while ((rc = pydron_value_fetch(g, big, 0)) == PYDRON_ETIMEDOUT)
        slices++;
    cr_assert_eq(rc, 0, "%d: %s", rc, pydron_error_last());
    cr_log_info("fetched after %d empty slices", slices);
    OK(pydron_value_fetch(g, big, -1)); /* here now: at once */
    const void *p;
    size_t l;
    OK(pydron_value_bytes(g, big, &p, &l));
    cr_assert_eq(l, n);
    const uint8_t *b = p;
    for (size_t i = 0; i < n; i += 977)
        cr_assert_eq(b[i], (uint8_t)(i * 31 + 3), "byte %zu", i);
    cr_assert_eq(pydron_value_fetch(NULL, big, 0), PYDRON_EINVAL);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* pydron_value_peek: the bytes only when they are on the driver already -
 * a small result (it comes back inside its completion) at once, a 512 KB
 * one left on its worker not until it was fetched; 1 while pending, never
 * waiting; the same bytes as pydron_value_bytes. */
Test(local, peek_only_what_is_here, .timeout = 120)
{
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 1);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 512u << 10), u64c(g, 4)};
    pydron_value big = ffi(g, rt, "tl_make_big", NULL, in, 2);
    pydron_value sum = ffi(g, rt, "tl_add_u64", "L(LL)", in, 2);
    const void *p = NULL, *q;
    size_t l = 7, m;
    int rc = pydron_value_peek(g, sum, &p, &l);
    if (rc == 1) /* pending (or not back yet): nothing handed out */
        cr_assert(p == NULL && l == 7);
    else
        cr_assert_eq(rc, 0, "%d: %s", rc, pydron_error_last());
    OK(pydron_graph_wait(g, sum, 60000));
    OK(pydron_graph_wait(g, big, 60000));
    OK(pydron_value_peek(g, sum, &p, &l)); /* inline in its completion */
    cr_assert_eq(l, 8);
    cr_assert_eq(*(const uint64_t *)p, (512u << 10) + 4);
    cr_assert_eq(pydron_value_peek(g, big, &p, &l), 1, "a large result stays on its worker");
    OK(pydron_value_bytes(g, big, &q, &m)); /* fetches it */
    OK(pydron_value_peek(g, big, &p, &l));
    cr_assert(p == q && l == m && l == 512u << 10);
    cr_assert_eq(pydron_value_peek(NULL, big, &p, &l), PYDRON_EINVAL);
    cr_assert_eq(pydron_value_peek(g, big, NULL, &l), PYDRON_EINVAL);
    OK(pydron_value_release(g, big));
    OK(pydron_value_release(g, sum));
    cr_assert_eq(pydron_value_peek(g, big, &p, &l), PYDRON_ESTALE);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* pids of our children running pydron-worker */
static int worker_children(pid_t parent, pid_t *out, int max)
{
    int n = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL && n < max) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0)
            continue;
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *rp = strrchr(buf, ')');
        if (!rp || !strstr(buf, "(pydron-worker)"))
            continue;
        char state;
        int ppid;
        if (sscanf(rp + 2, "%c %d", &state, &ppid) == 2 && ppid == parent && state != 'Z')
            out[n++] = pid;
    }
    if (d)
        closedir(d);
    return n;
}

static int alive(pid_t pid)
{
    char path[64], buf[512];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    size_t k = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[k] = 0;
    char *rp = strrchr(buf, ')');
    return rp && rp[2] != 'Z' && rp[2] != 'X';
}

Test(local, sigkill_a_worker_mid_run_same_result, .timeout = 300)
{
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 2);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    const size_t n = 300;
    pydron_value *leaves = calloc(n, sizeof *leaves);
    for (size_t i = 0; i < n; i++) {
        pydron_value in[2] = {u64c(g, (uint64_t)i * i), u64c(g, 7)};
        leaves[i] = ffi(g, rt, "tl_slow_sum_ctx", NULL, in, 2); /* 20 ms each */
    }
    pydron_value total = ffi(g, rt, "tl_sum_ctx", NULL, leaves, n);
    OK(pydron_graph_start(g));
    struct timespec ts = {0, 500 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pid_t w[8];
    int nw = worker_children(getpid(), w, 8);
    cr_assert_eq(nw, 2, "expected 2 worker processes, found %d", nw);
    cr_assert_eq(kill(w[0], SIGKILL), 0);
    cr_assert_eq(getu(g, total), expected(n));
    pydron_graph_stats st;
    OK(pydron_graph_stats_get(g, &st));
    cr_assert_gt(st.tasks_retried, 0, "the killed worker's tasks must have been re-run");
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
    free(leaves);
}

Test(local, silent_worker_missing_heartbeats_is_replaced, .timeout = 300)
{
    /* a worker that stops answering (SIGSTOP: its socket stays open) is
     * declared lost after missed heartbeats; its tasks run elsewhere */
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 2;
    o.heartbeat_ms = 100;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    const size_t n = 200;
    pydron_value *leaves = calloc(n, sizeof *leaves);
    for (size_t i = 0; i < n; i++) {
        pydron_value in[2] = {u64c(g, (uint64_t)i * i), u64c(g, 7)};
        leaves[i] = ffi(g, rt, "tl_slow_sum_ctx", NULL, in, 2);
    }
    pydron_value total = ffi(g, rt, "tl_sum_ctx", NULL, leaves, n);
    OK(pydron_graph_start(g));
    struct timespec ts = {0, 300 * 1000 * 1000};
    nanosleep(&ts, NULL);
    pid_t w[8];
    cr_assert_eq(worker_children(getpid(), w, 8), 2);
    cr_assert_eq(kill(w[0], SIGSTOP), 0);
    cr_assert_eq(getu(g, total), expected(n));
    pydron_graph_stats st;
    OK(pydron_graph_stats_get(g, &st));
    cr_assert_gt(st.tasks_retried, 0);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
    cr_assert(!alive(w[0]), "the silent worker %d was left behind", (int)w[0]);
    free(leaves);
}

Test(local, task_that_kills_its_worker_fails_after_retries, .timeout = 300)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 2;
    o.max_retries = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value bad = ffi(g, rt, "tl_crash_ctx", NULL, NULL, 0);
    pydron_value in[2] = {u64c(g, 40), u64c(g, 2)};
    pydron_value good = ffi(g, rt, "tl_sum_ctx", NULL, in, 2);
    int rc = pydron_graph_wait(g, bad, 120000);
    cr_assert_eq(rc, PYDRON_ETASK, "%d %s", rc, pydron_error_last());
    char *msg = NULL;
    OK(pydron_value_error(g, bad, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, "worker"), "%s", msg);
    pydron_free(msg);
    /* other tasks go on (on replacement workers) */
    cr_assert_eq(getu(g, good), 42);
    pydron_value in2[2] = {u64c(g, 1), u64c(g, 2)};
    cr_assert_eq(getu(g, ffi(g, rt, "tl_sum_ctx", NULL, in2, 2)), 3);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

static int host_fn(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *p;
    size_t n;
    uint64_t x = 0;
    if (pydron_ctx_input(ctx, 0, &p, &n) == 0 && n == 8)
        memcpy(&x, p, 8);
    x = x * 2 + 1;
    return pydron_ctx_output_set(ctx, 0, &x, 8);
}

/* A C function of the host program: no worker has a runner for it. */
static pydron_value host_task(pydron_graph *g, pydron_runtime *rt, pydron_value *in2)
{
    uint32_t k;
    OK(pydron_runtime_register_c(rt, "test.host_fn", host_fn, NULL, &k));
    pydron_value s = ffi(g, rt, "tl_sum_ctx", NULL, in2, 2); /* in a worker */
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.inputs = &s;
    d.ninputs = 1;
    d.noutputs = 1;
    pydron_value out;
    OK(pydron_task_add(g, &d, NULL, &out));
    return out;
}

/* It is an error, not a silent run in the driver with worker=0 timings. */
Test(local, kind_without_worker_runner_is_an_error, .timeout = 60)
{
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 2);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 20), u64c(g, 0)};
    pydron_value out = host_task(g, rt, in);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, out, 60000));
    cr_assert(strstr(pydron_error_last(), "test.host_fn") &&
                  strstr(pydron_error_last(), "no runner in the worker processes") &&
                  strstr(pydron_error_last(), "run_unknown_kinds_in_driver"),
              "%s", pydron_error_last());
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* With the explicit option (pydron_process_options, the executor-specific
 * options) they run in the driver process, as before, after a warning. */
Test(local, host_program_c_functions_run_in_driver_when_asked, .timeout = 60)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.workers = 2;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_process_options po = PYDRON_PROCESS_OPTIONS_INIT;
    po.worker_command = PYDRON_WORKER_PATH;
    po.run_unknown_kinds_in_driver = 1;
    OK(pydron_runtime_use_executor(rt, "local", &po));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 20), u64c(g, 0)};
    pydron_value out = host_task(g, rt, in);
    cr_assert_eq(getu(g, out), 41);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* Process options of an unknown version are refused, the init function
 * fills the defaults. */
Test(local, process_options_are_versioned)
{
    pydron_process_options po;
    memset(&po, 0xab, sizeof po);
    OK(pydron_process_options_init(&po, PYDRON_PROCESS_OPTIONS_VERSION));
    cr_assert_eq(po.version, PYDRON_PROCESS_OPTIONS_VERSION);
    cr_assert_null(po.worker_command);
    cr_assert_eq(po.run_unknown_kinds_in_driver, 0);
    TU_ERR(PYDRON_EINVAL, pydron_process_options_init(&po, 0));
    TU_ERR(PYDRON_EINVAL, pydron_process_options_init(&po, 99));
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_INLINE, 1);
    po.version = 99;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_use_executor(rt, "local", &po));
    po.version = PYDRON_PROCESS_OPTIONS_VERSION;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_use_executor(rt, "remote", &po)); /* no secret */
    cr_assert(strstr(pydron_error_last(), "secret"), "%s", pydron_error_last());
    OK(pydron_runtime_free(rt));
}

static uint64_t fnv(const uint8_t *b, size_t n)
{
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    return h ^ n;
}

/* submit must not block (pydron.h, "Executors"): with the only worker
 * stopped (it reads nothing) and inputs sent as bytes, adding tasks whose
 * batches are far larger than a socket buffer returns at once. Before, the
 * thread adding them blocked in the write until the worker read again. */
Test(local, submit_does_not_block_on_a_worker_that_does_not_read, .timeout = 60)
{
    setenv("PYDRON_SHM", "0", 1); /* bytes on the socket, not shared memory */
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 1);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pid_t pid = (pid_t)getu(g, ffi(g, rt, "tl_pid_ctx", NULL, NULL, 0));
    cr_assert_gt(pid, 0);
    enum { N = 16, SZ = 4 << 20 };
    uint8_t *big = malloc(SZ);
    for (size_t i = 0; i < SZ; i++)
        big[i] = (uint8_t)(i * 7 + 3);
    pydron_value in, out[N];
    OK(pydron_value_constant(g, big, SZ, &in));
    cr_assert_eq(kill(pid, SIGSTOP), 0);
    uint64_t t0 = tu_now_ns();
    for (int i = 0; i < N; i++)
        out[i] = ffi(g, rt, "tl_checksum", NULL, &in, 1); /* dispatched right away */
    int rc = pydron_graph_wait(g, out[N - 1], 100);
    double ms = (double)(tu_now_ns() - t0) / 1e6;
    kill(pid, SIGCONT);
    cr_assert_eq(rc, PYDRON_ETIMEDOUT, "wait -> %d (%s)", rc, pydron_error_last());
    cr_assert_lt(ms, 2500, "adding %d tasks took %.0f ms with the worker stopped", N, ms);
    uint64_t want = fnv(big, SZ);
    for (int i = 0; i < N; i++)
        cr_assert_eq(getu(g, out[i]), want);
    free(big);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* This test program is linked with the static library (a "static host"):
 * nothing tells it where pydron-worker is, and it is not next to it. */
Test(local, static_host_finds_the_worker, .timeout = 60)
{
    unsetenv("PYDRON_WORKER");
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 1;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 40), u64c(g, 2)};
    cr_assert_eq(getu(g, ffi(g, rt, "tl_sum_ctx", NULL, in, 2)), 42);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* A worker program that is not there: a clear error naming it. */
Test(local, missing_worker_is_a_clear_error, .timeout = 60)
{
    setenv("PYDRON_WORKER", "/nonexistent/pydron-worker", 1);
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 1;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    TU_ERR(PYDRON_ENOTFOUND, pydron_graph_start(g));
    cr_assert(strstr(pydron_error_last(), "PYDRON_WORKER") &&
                  strstr(pydron_error_last(), "/nonexistent/pydron-worker"),
              "%s", pydron_error_last());
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

static int count_entries(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") && strcmp(e->d_name, ".."))
            n++;
    closedir(d);
    return n;
}

Test(local, driver_sigkilled_workers_and_sockets_gone, .timeout = 120)
{
    /* the driver is a separate program (nng must not be used across fork) */
    char tmp[] = "/tmp/pydron-kill-XXXXXX";
    cr_assert(mkdtemp(tmp));
    int fd[2];
    cr_assert_eq(pipe(fd), 0);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fd[1], 1);
    posix_spawn_file_actions_addclose(&fa, fd[0]);
    char envtmp[64];
    snprintf(envtmp, sizeof envtmp, "TMPDIR=%s", tmp);
    char *envp[] = {envtmp, NULL};
    const char *argv[] = {PYDRON_WIRE_DRIVER, "--executor", "local", "--workers", "2",
                          "--tasks", "400", "--slow", "--print-pids", NULL};
    pid_t drv;
    cr_assert_eq(posix_spawn(&drv, PYDRON_WIRE_DRIVER, &fa, NULL, (char *const *)argv, envp), 0);
    posix_spawn_file_actions_destroy(&fa);
    close(fd[1]);
    FILE *f = fdopen(fd[0], "r");
    char line[256] = "";
    cr_assert(fgets(line, sizeof line, f), "the driver printed nothing");
    int w[2] = {0, 0};
    int n = sscanf(line, "pids %d %d", &w[0], &w[1]);
    cr_assert_eq(n, 2, "driver said: %s", line);
    cr_assert_eq(count_entries(tmp), 1, "the private directory exists while running");
    struct timespec ts = {0, 200 * 1000 * 1000};
    nanosleep(&ts, NULL); /* mid-run */
    cr_assert_eq(kill(drv, SIGKILL), 0);
    waitpid(drv, NULL, 0);
    fclose(f);
    int gone = 0;
    for (int i = 0; i < 500 && !gone; i++) { /* 5 s */
        gone = !alive(w[0]) && !alive(w[1]);
        if (!gone)
            usleep(10000);
    }
    cr_assert(gone, "workers %d %d still alive 5 s after the driver was killed", w[0], w[1]);
    int left = -1;
    for (int i = 0; i < 200 && left != 0; i++) { /* cleanup may trail the exit */
        left = count_entries(tmp);
        if (left)
            usleep(10000);
    }
    cr_assert_eq(left, 0, "the driver's private directory (sockets, secret) was left in %s", tmp);
    rmdir(tmp);
}

Test(local, stop_leaves_no_processes_or_files, .timeout = 60)
{
    char tmp[] = "/tmp/pydron-stop-XXXXXX";
    cr_assert(mkdtemp(tmp));
    setenv("TMPDIR", tmp, 1);
    unsetenv("XDG_RUNTIME_DIR");
    pydron_runtime *rt = runtime(PYDRON_EXECUTOR_LOCAL, 2);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 1), u64c(g, 2)};
    cr_assert_eq(getu(g, ffi(g, rt, "tl_sum_ctx", NULL, in, 2)), 3);
    pid_t w[8];
    cr_assert_eq(worker_children(getpid(), w, 8), 2);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
    cr_assert_eq(worker_children(getpid(), w, 8), 0);
    cr_assert_eq(count_entries(tmp), 0);
    rmdir(tmp);
}

Test(local, remote_executor_launch_command_on_loopback, .timeout = 120)
{
    /* the remote executor through the public API: workers started by the
     * launch template, one per host of launch_hosts */
    char log[] = "/tmp/pydron-launch-XXXXXX";
    int fd = mkstemp(log);
    cr_assert_geq(fd, 0);
    close(fd);
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "echo '{host} {id}' >> %s; exec %s --connect {url} --secret-file {secret_file} "
             "--id {id}",
             log, PYDRON_WORKER_PATH);
    const char *hosts[] = {"node-a", "node-b", NULL};
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_REMOTE;
    o.workers = 2;
    o.secret = "launch-test-secret-0123456789abcdef";
    o.launch_command = cmd;
    o.launch_hosts = hosts;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value in[2] = {u64c(g, 40), u64c(g, 2)};
    cr_assert_eq(getu(g, ffi(g, rt, "tl_sum_ctx", NULL, in, 2)), 42);
    unsigned nw;
    OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_eq(nw, 2);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
    FILE *f = fopen(log, "r");
    char a[64] = "", b[64] = "";
    cr_assert(f && fgets(a, sizeof a, f) && fgets(b, sizeof b, f), "launch log incomplete");
    fclose(f);
    unlink(log);
    int sawa = strstr(a, "node-a 0") || strstr(b, "node-a 0");
    int sawb = strstr(a, "node-b 1") || strstr(b, "node-b 1");
    cr_assert(sawa && sawb, "launch lines: %s / %s", a, b);
}

Test(local, remote_executor_needs_a_secret)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_REMOTE;
    pydron_runtime *rt = NULL;
    unsetenv("PYDRON_SECRET");
    int rc = pydron_runtime_new(&rt, &o);
    if (rc == 0) {
        /* the executor may start lazily: then the first graph start fails */
        pydron_graph *g;
        OK(pydron_graph_new(rt, &g));
        rc = pydron_graph_start(g);
        pydron_graph_free(g);
        pydron_runtime_free(rt);
    }
    cr_assert_eq(rc, PYDRON_EINVAL, "%d %s", rc, pydron_error_last());
    cr_assert(strstr(pydron_error_last(), "secret"), "%s", pydron_error_last());
}
