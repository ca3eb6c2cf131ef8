/* test_launch.c - the command launchers through the public C API
 * (pydron_process_options version 3: cluster, launch_args,
 * join_timeout_ms): real worker processes started by a template with the
 * secret on their stdin, and the messages when a launch fails or workers
 * stay away. The ssh launcher is tested with real sshd hosts in
 * tests/python/test_cluster_launch.py. */
#include "testutil.h"
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"

#include <signal.h>
#include <time.h>
#include <unistd.h>

#define LIB PYDRON_TEST_FFI_LIB

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static int g_restarts = -1, g_wait_ms = 0; /* worker_restarts, worker_wait_ms */

static int start_remote(const char *tpl, unsigned workers, unsigned join_ms, const char *cluster,
                        pydron_runtime **rt, pydron_graph **g)
{
    /* made inline, then given the remote executor with its process
     * options (a remote runtime made directly would want a user secret) */
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_INLINE;
    o.workers = workers;
    TU_OK(pydron_runtime_new(rt, &o));
    pydron_process_options po;
    TU_OK(pydron_process_options_init(&po, PYDRON_PROCESS_OPTIONS_VERSION));
    po.cluster = cluster;
    po.launch_command = tpl;
    po.join_timeout_ms = join_ms;
    po.worker_restarts = g_restarts;
    po.worker_wait_ms = (unsigned)g_wait_ms;
    int rc = pydron_runtime_use_executor(*rt, "remote", &po);
    if (rc)
        return rc;
    TU_OK(pydron_graph_new(*rt, g));
    return pydron_graph_start(*g);
}

Test(launch, template_workers_get_the_secret_on_stdin, .timeout = 120)
{
    unsetenv("PYDRON_SECRET");
    unsetenv("PYDRON_SECRET_FILE");
    char tpl[1024];
    snprintf(tpl, sizeof tpl, "exec %s --connect {url} --secret-file - --id {id}",
             PYDRON_WORKER_PATH);
    pydron_runtime *rt;
    pydron_graph *g;
    TU_OK(start_remote(tpl, 2, 60000, "command", &rt, &g));
    unsigned nw = 0;
    TU_OK(pydron_runtime_nworkers(rt, &nw));
    cr_assert_eq(nw, 2);
    pydron_value in[2] = {tu_const_u64(g, 40), tu_const_u64(g, 2)}, out;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", NULL, in, 2, 1, &out);
    cr_assert_eq(tu_get_u64(g, out), 42);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(launch, a_failing_command_ends_the_wait_at_once_with_its_words, .timeout = 60)
{
    pydron_runtime *rt;
    pydron_graph *g = NULL;
    uint64_t t0 = now_ms();
    int rc = start_remote("echo 'no route to the moon' >&2; exit 7", 2, 50000, "command", &rt,
                          &g);
    cr_assert_eq(rc, PYDRON_EIO, "%d %s", rc, pydron_error_last());
    const char *m = pydron_error_last();
    cr_assert(strstr(m, "0 of 2 workers joined") && strstr(m, "no route to the moon") &&
                  strstr(m, "status 7"),
              "%s", m);
    cr_assert_lt(now_ms() - t0, 40000, "the failure waited for the deadline");
    if (g)
        pydron_graph_free(g);
    pydron_runtime_free(rt);
}

Test(launch, workers_that_stay_away_are_named_at_the_deadline, .timeout = 60)
{
    pydron_runtime *rt;
    pydron_graph *g = NULL;
    int rc = start_remote("echo 'booting a VM' >&2; sleep 30", 1, 1500, "command", &rt, &g);
    cr_assert_eq(rc, PYDRON_ETIMEDOUT, "%d %s", rc, pydron_error_last());
    const char *m = pydron_error_last();
    cr_assert(strstr(m, "0 of 1 workers joined after") && strstr(m, "booting a VM"), "%s", m);
    if (g)
        pydron_graph_free(g);
    pydron_runtime_free(rt);
}

Test(launch, unknown_launchers_and_missing_templates_are_refused)
{
    pydron_runtime *rt;
    pydron_graph *g = NULL;
    int rc = start_remote(NULL, 1, 0, "nope", &rt, &g);
    cr_assert_eq(rc, PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "unknown cluster launcher 'nope'") &&
                  strstr(pydron_error_last(), "ssh"),
              "%s", pydron_error_last());
    pydron_runtime_free(rt);
    rc = start_remote(NULL, 1, 0, "command", &rt, &g);
    cr_assert_eq(rc, PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "needs launch_command"), "%s", pydron_error_last());
    pydron_runtime_free(rt);
    setenv("PYDRON_HOSTS", "", 1);
    rc = start_remote(NULL, 0, 0, "ssh", &rt, &g);
    cr_assert_eq(rc, PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "needs hosts"), "%s", pydron_error_last());
    pydron_runtime_free(rt);
    unsetenv("PYDRON_HOSTS");
}

static unsigned lines_in(const char *path, long *last)
{
    FILE *f = fopen(path, "r");
    unsigned n = 0;
    char line[64];
    while (f && fgets(line, sizeof line, f)) {
        n++;
        *last = strtol(line, NULL, 10);
    }
    if (f)
        fclose(f);
    return n;
}

/* A command template that appends each started worker's pid to
 * dir/pids{id} before running it; pids0 names worker 0's file. */
static void pid_logging_template(const char *dir, char *tpl, size_t ntpl, char *pids0,
                                 size_t npids)
{
    snprintf(pids0, npids, "%s/pids0", dir);
    snprintf(tpl, ntpl,
             "echo $$ >> %s/pids{id}; exec %s --connect {url} --secret-file - --id {id}", dir,
             PYDRON_WORKER_PATH);
}

/* A worker killed while its host is fine: the launcher runs its command
 * again for that worker (same id, n=1), and the graph still computes. */
Test(launch, a_killed_worker_is_started_again_by_its_template, .timeout = 120)
{
    unsetenv("PYDRON_SECRET");
    unsetenv("PYDRON_SECRET_FILE");
    unsetenv("PYDRON_WORKER_RESTARTS");
    char dir[] = "/tmp/pydron-test-restart-XXXXXX";
    cr_assert(mkdtemp(dir));
    char tpl[1024], pids0[300];
    pid_logging_template(dir, tpl, sizeof tpl, pids0, sizeof pids0);
    pydron_runtime *rt;
    pydron_graph *g;
    TU_OK(start_remote(tpl, 2, 60000, "command", &rt, &g));
    long pid = 0;
    cr_assert_eq(lines_in(pids0, &pid), 1);
    cr_assert_gt(pid, 1);
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    long again = 0;
    uint64_t t0 = now_ms();
    while (lines_in(pids0, &again) < 2 && now_ms() - t0 < 60000)
        usleep(20000);
    cr_assert_eq(lines_in(pids0, &again), 2, "worker 0 was not started again");
    cr_assert_neq(again, pid);
    pydron_value in[2] = {tu_const_u64(g, 40), tu_const_u64(g, 2)}, out;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", NULL, in, 2, 1, &out);
    cr_assert_eq(tu_get_u64(g, out), 42);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

/* worker_restarts = 0 in the options (configure(restarts=0)): a killed
 * worker is not started again, and the next task fails saying that the
 * capacity is gone because restarts are off, after worker_wait_ms. */
Test(launch, restarts_off_in_the_options_leaves_a_killed_worker_gone, .timeout = 120)
{
    unsetenv("PYDRON_SECRET");
    unsetenv("PYDRON_SECRET_FILE");
    setenv("PYDRON_WORKER_RESTARTS", "5", 1); /* the option wins over it */
    char dir[] = "/tmp/pydron-test-norestart-XXXXXX";
    cr_assert(mkdtemp(dir));
    char tpl[1024], pids0[300];
    pid_logging_template(dir, tpl, sizeof tpl, pids0, sizeof pids0);
    pydron_runtime *rt;
    pydron_graph *g;
    g_restarts = 0;
    g_wait_ms = 1000;
    int rc = start_remote(tpl, 1, 60000, "command", &rt, &g);
    g_restarts = -1;
    g_wait_ms = 0;
    unsetenv("PYDRON_WORKER_RESTARTS");
    TU_OK(rc);
    long pid = 0;
    cr_assert_eq(lines_in(pids0, &pid), 1);
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    usleep(1500000); /* a restart would start within 0.5 s of the loss */
    cr_assert_eq(lines_in(pids0, &pid), 1, "the worker was started again");
    pydron_value in[2] = {tu_const_u64(g, 40), tu_const_u64(g, 2)}, out = PYDRON_VALUE_NONE;
    tu_ffi_task(g, rt, LIB, "tl_sum_ctx", NULL, in, 2, 1, &out);
    cr_assert_eq(pydron_graph_wait(g, out, 60000), PYDRON_ETASK, "%s", pydron_error_last());
    char *msg = NULL;
    TU_OK(pydron_value_error(g, out, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, "capacity is gone") && strstr(msg, "restarts are off"), "%s", msg);
    pydron_free(msg);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    char rm[400];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    cr_assert_eq(system(rm), 0);
}

/* pydron_process_options_init writes only the fields of the caller's
 * version: a caller built against version 3 has a shorter struct. */
Test(launch, options_init_writes_only_the_callers_version)
{
    unsigned char buf[sizeof(pydron_process_options) + 16];
    memset(buf, 0xAB, sizeof buf);
    TU_OK(pydron_process_options_init((pydron_process_options *)(void *)buf, 3));
    size_t v3 = offsetof(pydron_process_options, worker_restarts);
    for (size_t i = v3; i < sizeof buf; i++)
        cr_assert_eq(buf[i], 0xAB, "byte %zu past a version-3 struct was written", i);
    pydron_process_options o;
    TU_OK(pydron_process_options_init(&o, PYDRON_PROCESS_OPTIONS_VERSION));
    cr_assert_eq(o.worker_restarts, -1);
}
