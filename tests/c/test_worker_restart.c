/* test_worker_restart.c - `pydron-worker --restart` (worker/main.c): a
 * supervisor that starts its worker again when a task crashes it, and
 * tells the replacement how its predecessor ended, so that the driver
 * names the signal or exit status in the error of the task that killed
 * its worker (issue 11, item 5). Real remote workers on loopback running
 * C tasks (pydron.ffi) that raise SIGSEGV or call _exit(3). */
#include "testutil.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <spawn.h>
#include <sys/wait.h>

extern char **environ;

#define SECRET "restart-test-secret-0123456789abcdef"

static int free_port(void)
{
    /* bind port 0, read it back, close: the driver listens there next */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t n = sizeof a;
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof a), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &n), 0);
    close(fd);
    return ntohs(a.sin_port);
}

/* A supervised C worker, started as an operator would (the driver does
 * not know its process), once the driver listens. */
static pid_t start_supervised(const char *url, const char *extra)
{
    char cmd[1024];
    /* under AddressSanitizer a SIGSEGV would become exit status 1, which
     * is final for the supervisor: let the signal kill the worker */
    snprintf(cmd, sizeof cmd,
             "sleep 0.3; ASAN_OPTIONS=\"handle_segv=0${ASAN_OPTIONS:+:$ASAN_OPTIONS}\" "
             "PYDRON_SECRET='%s' exec %s --restart --connect %s %s", SECRET,
             PYDRON_WORKER_PATH, url, extra ? extra : "");
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *)argv, environ), 0);
    return pid;
}

static pydron_runtime *remote_runtime(const char *url, unsigned max_retries)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_REMOTE;
    o.workers = 1;
    o.secret = SECRET;
    o.listen_url = url;
    o.max_retries = max_retries;
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, &o));
    return rt;
}

static int wait_within(pid_t pid, unsigned ms, int *st)
{
    for (unsigned t = 0; t < ms; t += 20) {
        pid_t r = waitpid(pid, st, WNOHANG);
        if (r == pid)
            return 0;
        usleep(20000);
    }
    return -1;
}

/* A task that kills its worker every time fails after max_retries + 1
 * runs, named by its function, with how its (remote) worker ended; the
 * replacement worker then runs other tasks; the supervisor ends with 0
 * when the driver shuts its worker down. */
static void culprit_named(const char *sym, const char *how)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", free_port());
    pid_t sup = start_supervised(url, NULL);
    pydron_runtime *rt = remote_runtime(url, 1);
    pydron_graph *g = tu_graph(rt);
    pydron_value bad = PYDRON_VALUE_NONE;
    tu_ffi_task(g, rt, PYDRON_TEST_FFI_LIB, sym, NULL, NULL, 0, 1, &bad);
    int rc = pydron_graph_wait(g, bad, 120000);
    cr_assert_eq(rc, PYDRON_ETASK, "%d %s", rc, pydron_error_last());
    char *msg = NULL;
    TU_OK(pydron_value_error(g, bad, NULL, &msg, NULL, NULL));
    char want[128];
    snprintf(want, sizeof want, "('%s') lost its worker 2 times (max_retries=1)", sym);
    cr_assert(msg && strstr(msg, want), "%s", msg);
    cr_assert(strstr(msg, how) && !strstr(msg, "lost its connection"), "%s", msg);
    pydron_free(msg);
    /* the supervisor's third worker process runs the next task */
    pydron_value in[2] = {tu_const_u64(g, 40), tu_const_u64(g, 2)};
    pydron_value sum = PYDRON_VALUE_NONE;
    tu_ffi_task(g, rt, PYDRON_TEST_FFI_LIB, "tl_sum_ctx", NULL, in, 2, 1, &sum);
    cr_assert_eq(tu_get_u64(g, sum), 42);
    int st;
    cr_assert_eq(waitpid(sup, &st, WNOHANG), 0, "the supervisor ended early");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(wait_within(sup, 30000, &st), 0, "the supervisor did not end with its worker");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor status %#x", st);
}

Test(worker_restart, segfaulting_task_is_named_with_its_signal, .timeout = 200)
{
    culprit_named("tl_segv_ctx", "killed by SIGSEGV");
}

Test(worker_restart, exiting_task_is_named_with_its_status, .timeout = 200)
{
    culprit_named("tl_exit3_ctx", "exited with status 3");
}

/* Statuses 0, 1 and 2 are final (worker.py's _FINAL): a worker that
 * cannot connect exits 1 and is not started again. */
Test(worker_restart, final_status_is_not_restarted, .timeout = 60)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", free_port()); /* nobody listens */
    pid_t sup = start_supervised(url, "--connect-timeout 0 2>/dev/null");
    int st;
    cr_assert_eq(wait_within(sup, 30000, &st), 0, "the supervisor restarted a final exit");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 1, "supervisor status %#x", st);
}

/* SIGTERM stops the worker and its supervisor (status 0), also while the
 * worker waits for its driver. */
Test(worker_restart, sigterm_stops_worker_and_supervisor, .timeout = 60)
{
    char url[64];
    snprintf(url, sizeof url, "tcp://127.0.0.1:%d", free_port()); /* nobody listens */
    pid_t sup = start_supervised(url, "--connect-timeout 60 2>/dev/null");
    /* the shell execs the supervisor, which forks its worker */
    char path[64], buf[64] = "";
    snprintf(path, sizeof path, "/proc/%d/task/%d/children", (int)sup, (int)sup);
    char comm_path[64], comm[64] = "";
    snprintf(comm_path, sizeof comm_path, "/proc/%d/comm", (int)sup);
    pid_t child = 0;
    for (int t = 0; t < 500 && child <= 0; t++) {
        usleep(20000);
        FILE *f = fopen(comm_path, "r"); /* the shell's sleep is not the worker */
        if (!f || !fgets(comm, sizeof comm, f) || strncmp(comm, "pydron-worker", 13) != 0) {
            if (f)
                fclose(f);
            continue;
        }
        fclose(f);
        f = fopen(path, "r");
        if (f) {
            if (fgets(buf, sizeof buf, f))
                child = (pid_t)atoi(buf);
            fclose(f);
        }
    }
    cr_assert_gt(child, 0, "no worker process under the supervisor");
    cr_assert_eq(kill(sup, SIGTERM), 0);
    int st;
    cr_assert_eq(wait_within(sup, 20000, &st), 0, "the supervisor did not stop");
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "supervisor status %#x", st);
    /* its worker was its child: reaped by it, so gone (not a zombie of ours) */
    cr_assert(kill(child, 0) != 0 && errno == ESRCH, "worker %d outlived its supervisor",
              (int)child);
}
