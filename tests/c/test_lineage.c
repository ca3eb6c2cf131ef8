/* test_lineage.c - lineage recomputation with real worker processes: a
 * value larger than inline_max stays on the worker that made it; when that
 * worker is SIGKILLed after the value was made and before its consumer
 * runs, the value is made again from its producer (and, recursively, from
 * the producers of inputs that were released or lost too), and the result
 * does not change. Past max_retries it fails with a message saying why.
 *
 * One worker: every value lives on it, and the local executor starts a
 * replacement in its slot, which does the recomputation. Consumers wait on
 * a "gate" input set only after the kill, so that they cannot run before. */
#include "testutil.h"
#include <criterion/criterion.h>

#include <dirent.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"

#define OK(expr)                                                                          \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        cr_assert_eq(rc_, 0, "%s -> %d: %s", #expr, rc_, pydron_error_last());            \
    } while (0)

#define LIB PYDRON_TEST_FFI_LIB
#define BIG ((uint64_t)1 << 20)   /* 1 MiB: far above inline_max, stays on the worker */

static pydron_runtime *runtime(unsigned max_retries)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 1;
    o.max_retries = max_retries;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    return rt;
}

static pydron_value u64c(pydron_graph *g, uint64_t x) { return tu_const_u64(g, x); }

/* an ffi task with nout outputs; returns its task id */
static pydron_task ffi(pydron_graph *g, pydron_runtime *rt, const char *sym,
                       const pydron_value *in, size_t nin, pydron_value *out, size_t nout)
{
    return tu_ffi_task(g, rt, LIB, sym, NULL, in, nin, nout, out);
}

static uint64_t getu(pydron_graph *g, pydron_value v) { return tu_get_u64(g, v); }

/* same as tl_checksum over the pattern of tl_make_big (+ shift) */
static uint64_t expect_sum(uint64_t n, uint64_t seed, uint8_t shift)
{
    uint64_t h = 1469598103934665603ULL;
    for (uint64_t i = 0; i < n; i++)
        h = (h ^ (uint8_t)((uint8_t)(i * 31 + seed) + shift)) * 1099511628211ULL;
    return h ^ n;
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

static void sleep_ms(long ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* SIGKILL the worker and wait until it is dead and the driver had time to
 * see its connection drop */
static void kill_worker(uint64_t pid)
{
    cr_assert_gt(pid, 1);
    cr_assert(alive((pid_t)pid), "worker %llu is not running", (unsigned long long)pid);
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    for (int i = 0; i < 500 && alive((pid_t)pid); i++)
        sleep_ms(10);
    cr_assert(!alive((pid_t)pid));
    sleep_ms(300);
}

typedef struct count_arg {
    uint64_t task;
    int done;
} count_arg;

static void count_fn(const pydron_task_timing *t, void *user)
{
    count_arg *c = user;
    if (t->task.id == c->task && t->state == PYDRON_TASK_DONE)
        c->done++;
}

/* how many times task t finished */
static int runs(pydron_graph *g, pydron_task t)
{
    count_arg c = {t.id, 0};
    OK(pydron_graph_timings(g, count_fn, &c));
    return c.done;
}

/* A -> B -> C: A makes a small seed (on the driver), B makes 1 MiB from it
 * on the worker, C checksums it. Every reference but C's input is released,
 * so B's input lives on only as lineage. The worker dies after B and
 * before C: B runs again from A's kept value, C's result is unchanged. */
Test(lineage, lost_large_value_recomputed_from_its_producer, .timeout = 120)
{
    pydron_runtime *rt = runtime(0);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value c[2] = {u64c(g, 40), u64c(g, 2)};
    pydron_value a;
    ffi(g, rt, "tl_sum_ctx", c, 2, &a, 1);   /* 42 */
    pydron_value nin[2] = {u64c(g, BIG), a};
    pydron_value b[2];
    pydron_task tb = ffi(g, rt, "tl_make_big_pid", nin, 2, b, 2);
    pydron_value gate;
    OK(pydron_value_input(g, &gate));
    pydron_value cin[2] = {b[0], gate};
    pydron_value r;
    ffi(g, rt, "tl_checksum", cin, 2, &r, 1);
    for (int i = 0; i < 2; i++)
        OK(pydron_value_release(g, c[i]));
    OK(pydron_value_release(g, a));
    OK(pydron_value_release(g, nin[0]));
    OK(pydron_value_release(g, b[0]));   /* only C still needs it */

    uint64_t pid = getu(g, b[1]);        /* B has run */
    cr_assert_eq(runs(g, tb), 1);
    kill_worker(pid);
    uint64_t one = 1;
    OK(pydron_value_set(g, gate, &one, 8));
    cr_assert_eq(getu(g, r), expect_sum(BIG, 42, 0));
    cr_assert_eq(runs(g, tb), 2, "B must have run again");
    pydron_graph_stats st;
    OK(pydron_graph_stats_get(g, &st));
    cr_assert_geq(st.tasks_retried, 1);
    OK(pydron_value_release(g, b[1]));
    OK(pydron_value_release(g, gate));
    OK(pydron_value_release(g, r));
    OK(pydron_graph_run(g, 60000));
    OK(pydron_graph_stats_get(g, &st));
    cr_assert_eq(st.values_live, 0, "%llu values live (lineage records leaked)",
                 (unsigned long long)st.values_live);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* Recursive: A makes 1 MiB (x), B shifts it into 1 MiB (y), C checksums y.
 * Chain 1 releases x after B ran (its bytes leave the worker; lineage
 * keeps its record); chain 2 keeps x referenced, so it is lost with the
 * worker too. Both need A to run again before B, then C. */
Test(lineage, lost_value_whose_inputs_are_gone_too_recomputed_recursively, .timeout = 120)
{
    pydron_runtime *rt = runtime(0);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value gate;
    OK(pydron_value_input(g, &gate));
    pydron_task ta[2], tb[2];
    pydron_value x[2], y[2], r[2], xpid[2], ypid[2];
    for (int k = 0; k < 2; k++) {
        pydron_value ain[2] = {u64c(g, BIG), u64c(g, 10 + (uint64_t)k)};
        pydron_value xo[2];
        ta[k] = ffi(g, rt, "tl_make_big_pid", ain, 2, xo, 2);
        x[k] = xo[0];
        xpid[k] = xo[1];
        pydron_value bin[2] = {x[k], u64c(g, 3)};
        pydron_value yo[2];
        tb[k] = ffi(g, rt, "tl_shift_pid", bin, 2, yo, 2);
        y[k] = yo[0];
        ypid[k] = yo[1];
        pydron_value cin[2] = {y[k], gate};
        ffi(g, rt, "tl_checksum", cin, 2, &r[k], 1);
        OK(pydron_value_release(g, ain[0]));
        OK(pydron_value_release(g, ain[1]));
        OK(pydron_value_release(g, bin[1]));
        OK(pydron_value_release(g, y[k]));
        if (k == 0)
            OK(pydron_value_release(g, x[k]));
    }
    uint64_t pid = getu(g, ypid[0]);
    cr_assert_eq(getu(g, ypid[1]), pid);
    cr_assert_eq(getu(g, xpid[0]), pid);
    pydron_value_state vs;
    OK(pydron_value_state_get(g, x[0], &vs));
    cr_assert_eq(vs, PYDRON_VALUE_RELEASED);
    kill_worker(pid);
    uint64_t one = 1;
    OK(pydron_value_set(g, gate, &one, 8));
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(getu(g, r[k]), expect_sum(BIG, 10 + (uint64_t)k, 3), "chain %d", k);
        cr_assert_eq(runs(g, ta[k]), 2, "chain %d: A must have run again", k);
        cr_assert_eq(runs(g, tb[k]), 2, "chain %d: B must have run again", k);
    }
    /* the recomputed x of chain 2 is the same value as before */
    const void *p;
    size_t l;
    OK(pydron_graph_wait(g, x[1], 60000));
    OK(pydron_value_bytes(g, x[1], &p, &l));
    cr_assert_eq(l, BIG);
    cr_assert_eq(((const uint8_t *)p)[12345], (uint8_t)(12345 * 31 + 11));
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

/* max_retries = 1: B's output is lost, recomputed on the replacement
 * worker, lost again: B may not run a third time, and C fails with a
 * message saying why. */
Test(lineage, lost_twice_past_max_retries_fails_saying_why, .timeout = 120)
{
    pydron_runtime *rt = runtime(1);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    pydron_value nin[2] = {u64c(g, BIG), u64c(g, 5)};
    pydron_value b[2];
    pydron_task tb = ffi(g, rt, "tl_make_big_pid", nin, 2, b, 2);
    pydron_value gate;
    OK(pydron_value_input(g, &gate));
    pydron_value cin[2] = {b[0], gate};
    pydron_value r;
    ffi(g, rt, "tl_checksum", cin, 2, &r, 1);
    OK(pydron_value_release(g, nin[0]));
    OK(pydron_value_release(g, nin[1]));

    kill_worker(getu(g, b[1]));
    OK(pydron_graph_wait(g, b[0], 60000));   /* made again on the replacement */
    cr_assert_eq(runs(g, tb), 2);
    /* the replacement is our only pydron-worker child now */
    pid_t repl = 0;
    DIR *d = opendir("/proc");
    struct dirent *e;
    while (d && (e = readdir(d)) != NULL) {
        pid_t q = (pid_t)atoi(e->d_name);
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int)q);
        FILE *f = q > 0 ? fopen(path, "r") : NULL;
        if (!f)
            continue;
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[k] = 0;
        char *rp = strrchr(buf, ')');
        int ppid = 0;
        char st = 0;
        if (rp && strstr(buf, "(pydron-worker)") && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 &&
            ppid == getpid() && st != 'Z')
            repl = q;
    }
    if (d)
        closedir(d);
    cr_assert_gt(repl, 0, "no replacement worker found");
    kill_worker((uint64_t)repl);
    uint64_t one = 1;
    OK(pydron_value_set(g, gate, &one, 8));
    int rc = pydron_graph_wait(g, r, 60000);
    cr_assert_eq(rc, PYDRON_ETASK, "%d: %s", rc, pydron_error_last());
    const char *m = pydron_error_last();
    cr_assert(strstr(m, "lost with worker") && strstr(m, "max_retries=1") &&
                  strstr(m, "tl_make_big_pid"),
              "%s", m);
    cr_assert_eq(runs(g, tb), 2, "B must not run a third time");
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}
