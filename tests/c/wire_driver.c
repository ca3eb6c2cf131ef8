/* wire_driver - a small driver program for process-level tests (driver
 * SIGKILL, remote workers in network namespaces) and manual trials.
 *   wire_driver [--executor inline|local|remote] [--workers N] [--tasks N]
 *               [--slow] [--listen URL] [--secret S] [--tls-cert F --tls-key F]
 *               [--launch CMD] [--worker-cmd PATH] [--lib SO] [--print-pids]
 * Runs a two-level sum over N FFI tasks and prints "result <sum>" (and
 * "expected <sum>"); exit 0 when they agree. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pydron.h"

static const char *lib = PYDRON_TEST_FFI_LIB;

static int die(const char *what, int rc)
{
    fprintf(stderr, "wire_driver: %s: %s: %s\n", what, pydron_strerror(rc), pydron_error_last());
    return 1;
}

static int ffi(pydron_graph *g, uint32_t k, const char *sym, const char *sig,
               const pydron_value *in, size_t nin, pydron_value *out)
{
    void *pl;
    size_t pll;
    int rc = pydron_ffi_payload(lib, sym, sig, &pl, &pll);
    if (rc)
        return rc;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.inputs = in;
    d.ninputs = nin;
    d.noutputs = 1;
    d.payload = pl;
    d.payload_len = pll;
    rc = pydron_task_add(g, &d, NULL, out);
    pydron_free(pl);
    return rc;
}

static void print_pids(void)
{
    DIR *d = opendir("/proc");
    struct dirent *e;
    printf("pids");
    while (d && (e = readdir(d)) != NULL) {
        int pid = atoi(e->d_name);
        char path[64], buf[512];
        if (pid <= 0)
            continue;
        snprintf(path, sizeof path, "/proc/%d/stat", pid);
        FILE *f = fopen(path, "r");
        if (!f)
            continue;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *rp = strrchr(buf, ')');
        int ppid;
        char st;
        if (rp && strstr(buf, "(pydron-worker)") && sscanf(rp + 2, "%c %d", &st, &ppid) == 2 &&
            ppid == getpid())
            printf(" %d", pid);
    }
    if (d)
        closedir(d);
    printf("\n");
    fflush(stdout);
}

int main(int argc, char **argv)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    size_t ntasks = 1000;
    int slow = 0, pids = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : "";
        if (!strcmp(a, "--executor")) {
            i++;
            o.executor = !strcmp(v, "inline") ? PYDRON_EXECUTOR_INLINE
                         : !strcmp(v, "remote") ? PYDRON_EXECUTOR_REMOTE
                                                : PYDRON_EXECUTOR_LOCAL;
        } else if (!strcmp(a, "--workers")) {
            o.workers = (unsigned)atoi(v), i++;
        } else if (!strcmp(a, "--tasks")) {
            ntasks = (size_t)atol(v), i++;
        } else if (!strcmp(a, "--listen")) {
            o.listen_url = v, i++;
        } else if (!strcmp(a, "--secret")) {
            o.secret = v, i++;
        } else if (!strcmp(a, "--tls-cert")) {
            o.tls_cert_file = v, i++;
        } else if (!strcmp(a, "--tls-key")) {
            o.tls_key_file = v, i++;
        } else if (!strcmp(a, "--launch")) {
            o.launch_command = v, i++;
        } else if (!strcmp(a, "--worker-cmd")) {
            o.worker_command = v, i++;
        } else if (!strcmp(a, "--lib")) {
            lib = v, i++;
        } else if (!strcmp(a, "--slow")) {
            slow = 1;
        } else if (!strcmp(a, "--print-pids")) {
            pids = 1;
        } else {
            fprintf(stderr, "wire_driver: unknown argument %s\n", a);
            return 2;
        }
    }
    pydron_runtime *rt;
    pydron_graph *g;
    uint32_t k;
    int rc;
    if ((rc = pydron_runtime_new(&rt, &o)) != 0)
        return die("runtime", rc);
    if ((rc = pydron_graph_new(rt, &g)) != 0)
        return die("graph", rc);
    if ((rc = pydron_runtime_kind(rt, PYDRON_KIND_FFI, &k)) != 0)
        return die("kind", rc);
    size_t fan = 50, ng = (ntasks + fan - 1) / fan;
    pydron_value *groups = calloc(ng ? ng : 1, sizeof *groups);
    pydron_value leaves[50];
    uint64_t expect = 0;
    for (size_t gi = 0; gi < ng; gi++) {
        size_t m = 0;
        for (size_t i = gi * fan; i < ntasks && i < (gi + 1) * fan; i++, m++) {
            uint64_t a = i * 3, b = 1;
            pydron_value in[2];
            pydron_value_constant(g, &a, 8, &in[0]);
            pydron_value_constant(g, &b, 8, &in[1]);
            if ((rc = ffi(g, k, slow ? "tl_slow_sum_ctx" : "tl_sum_ctx", NULL, in, 2,
                          &leaves[m])) != 0)
                return die("task", rc);
            pydron_value_release(g, in[0]);
            pydron_value_release(g, in[1]);
            expect += a + b;
        }
        if ((rc = ffi(g, k, "tl_sum_ctx", NULL, leaves, m, &groups[gi])) != 0)
            return die("task", rc);
        for (size_t i = 0; i < m; i++)
            pydron_value_release(g, leaves[i]);
    }
    pydron_value total;
    if ((rc = ffi(g, k, "tl_sum_ctx", NULL, groups, ng, &total)) != 0)
        return die("task", rc);
    if ((rc = pydron_graph_start(g)) != 0)
        return die("start", rc);
    if (pids)
        print_pids();
    if ((rc = pydron_graph_wait(g, total, -1)) != 0)
        return die("wait", rc);
    const void *p;
    size_t n;
    if ((rc = pydron_value_bytes(g, total, &p, &n)) != 0 || n != 8)
        return die("bytes", rc);
    uint64_t r;
    memcpy(&r, p, 8);
    printf("result %llu\nexpected %llu\n", (unsigned long long)r, (unsigned long long)expect);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
    free(groups);
    return r == expect ? 0 : 1;
}
