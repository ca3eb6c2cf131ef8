/*
 * jacobi.c - a C host application using libpydron as a user would.
 *
 * It solves A x = b by Jacobi iteration until the residual ||b - A x||inf
 * drops below a tolerance. The number of iterations is not known in
 * advance, so the loop is a REFINABLE task: each time its inputs are ready,
 * its refine callback replaces it by one iteration -- several independent
 * PURE tasks, one per block of rows, and a task that combines the blocks
 * and computes the residual -- plus a new loop task (successor tick), or,
 * once converged, by its input. A SYNC task per iteration prints progress
 * (with --verbose) in program order, whatever order the blocks finish in.
 *
 * usage: pydron-jacobi [--executor inline|threads|local|remote] [--workers N]
 *                      [--n N] [--blocks B] [--tol T] [--max-iter K]
 *                      [--policy fifo|critical-path] [--launch CMD] [--verbose]
 *
 * With --executor local or remote the PURE tasks run in worker processes,
 * which load libjacobi_tasks.so (pydron-worker --load). Remote: the driver
 * listens on $PYDRON_LISTEN_URL (default tcp://127.0.0.1:0) with the secret
 * $PYDRON_SECRET; --launch runs a command per worker with {url}, {id},
 * {host}, {secret_file} and {load} (the path of libjacobi_tasks.so)
 * replaced, e.g.
 *   --launch 'pydron-worker --connect {url} --secret-file {secret_file} --load {load}'
 */
#include <pydron.h>

#include <dlfcn.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "jacobi_tasks.h"
#include "problem.h"

/* Value layouts: see jacobi_tasks.h (the PURE bodies live there, in a
 * shared object that worker processes load). */

typedef struct app {
    uint32_t k_block, k_combine, k_loop, k_report;
    double tol;
    int64_t max_iter;
    int verbose;
    int nblocks;
} app;

/* SYNC: progress line, printed on the driver in iteration order. */
static int report_fn(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *p;
    size_t len;
    int64_t iter;
    double r;
    if (pydron_ctx_input(ctx, 0, &p, &len) || len < 16) {
        pydron_ctx_fail(ctx, "report: malformed state");
        return PYDRON_ETASK;
    }
    memcpy(&iter, p, 8);
    memcpy(&r, (const char *)p + 8, 8);
    printf("iteration %lld: residual %.6e\n", (long long)iter, r);
    return 0;
}

static int add(pydron_refine *r, uint32_t kind, unsigned flags, const pydron_value *in, size_t nin,
               size_t nout, pydron_value *out, const void *payload, size_t plen, uint32_t tick,
               int tick_mode)
{
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kind;
    d.flags = flags;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = nout;
    d.payload = payload;
    d.payload_len = plen;
    if (tick_mode == PYDRON_TICK_CHILD) {
        d.tick = &tick;
        d.tick_len = 1;
    }
    d.tick_mode = tick_mode;
    return pydron_refine_add_task(r, &d, NULL, out);
}

/* The loop: inputs (problem, state). Converged or out of iterations: the
 * loop's result is the state. Otherwise one iteration and a new loop. */
static int loop_refine(pydron_refine *r, void *user)
{
    app *A = (app *)user;
    const void *pp, *ps;
    size_t lp, ls;
    int64_t n, iter;
    const double *a, *b, *x;
    double res;
    if (pydron_refine_input(r, 0, &pp, &lp) || pydron_refine_input(r, 1, &ps, &ls) ||
        read_problem(pp, lp, &n, &a, &b) || read_state(ps, ls, n, &iter, &res, &x)) {
        pydron_refine_fail(r, "jacobi loop: malformed inputs");
        return PYDRON_ETASK;
    }
    pydron_value problem, state;
    pydron_refine_input_value(r, 0, &problem);
    pydron_refine_input_value(r, 1, &state);
    if (res < A->tol || iter >= A->max_iter)
        return pydron_refine_bind_output(r, 0, state);

    pydron_graph *g = pydron_refine_graph(r);
    int nb = A->nblocks < n ? A->nblocks : (int)n;
    pydron_value in[2 + 256], blocks[256];
    in[0] = problem;
    in[1] = state;
    int rc = 0;
    for (int k = 0; k < nb && !rc; k++) {
        int64_t lohi[2] = {n * k / nb, n * (k + 1) / nb};
        rc = add(r, A->k_block, PYDRON_TASK_PURE, in, 2, 1, &blocks[k], lohi, sizeof lohi,
                 (uint32_t)k + 1, PYDRON_TICK_CHILD);
        in[2 + k] = blocks[k];
    }
    pydron_value next, loop_out;
    if (!rc)
        rc = add(r, A->k_combine, PYDRON_TASK_PURE, in, 2 + (size_t)nb, 1, &next, NULL, 0,
                 (uint32_t)nb + 1, PYDRON_TICK_CHILD);
    if (!rc && A->verbose)
        rc = add(r, A->k_report, PYDRON_TASK_SYNC, &next, 1, 0, NULL, NULL, 0, (uint32_t)nb + 2,
                 PYDRON_TICK_CHILD);
    pydron_value lin[2] = {problem, next};
    if (!rc)
        rc = add(r, A->k_loop, PYDRON_TASK_REFINABLE, lin, 2, 1, &loop_out, NULL, 0, 0,
                 PYDRON_TICK_SUCCESSOR);
    if (rc)
        return rc;
    /* references we do not bind go back (their consumers hold their own) */
    for (int k = 0; k < nb; k++)
        pydron_value_release(g, blocks[k]);
    pydron_value_release(g, next);
    return pydron_refine_bind_output(r, 0, loop_out);
}

static int die(const char *what, int rc)
{
    fprintf(stderr, "pydron-jacobi: %s: %s (%s)\n", what, pydron_strerror(rc), pydron_error_last());
    return 2;
}

static void usage(void)
{
    fprintf(stderr, "usage: pydron-jacobi [--executor inline|threads|local|remote] [--workers N]\n"
                    "                     [--n N] [--blocks B] [--tol T] [--max-iter K]\n"
                    "                     [--policy fifo|critical-path] [--launch CMD] [--verbose]\n");
}

int main(int argc, char **argv)
{
    pydron_runtime_options opts = PYDRON_RUNTIME_OPTIONS_INIT;
    opts.executor = PYDRON_EXECUTOR_THREADS;
    app A = {0, 0, 0, 0, 1e-10, 10000, 0, 4};
    int64_t n = 64;
    const char *exname = "threads";
    const char *launch = NULL;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *val = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(arg, "--verbose")) {
            A.verbose = 1;
            continue;
        }
        if (!val) {
            usage();
            return 2;
        }
        i++;
        if (!strcmp(arg, "--executor")) {
            exname = val;
            if (!strcmp(val, "inline"))
                opts.executor = PYDRON_EXECUTOR_INLINE;
            else if (!strcmp(val, "threads"))
                opts.executor = PYDRON_EXECUTOR_THREADS;
            else if (!strcmp(val, "local"))
                opts.executor = PYDRON_EXECUTOR_LOCAL;
            else if (!strcmp(val, "remote"))
                opts.executor = PYDRON_EXECUTOR_REMOTE;
            else {
                usage();
                return 2;
            }
        } else if (!strcmp(arg, "--policy")) {
            if (!strcmp(val, "fifo"))
                opts.policy = PYDRON_POLICY_FIFO;
            else if (!strcmp(val, "critical-path"))
                opts.policy = PYDRON_POLICY_CRITICAL_PATH;
            else {
                usage();
                return 2;
            }
        } else if (!strcmp(arg, "--workers")) {
            opts.workers = (unsigned)strtoul(val, NULL, 10);
        } else if (!strcmp(arg, "--n")) {
            n = strtoll(val, NULL, 10);
        } else if (!strcmp(arg, "--blocks")) {
            A.nblocks = atoi(val);
        } else if (!strcmp(arg, "--tol")) {
            A.tol = strtod(val, NULL);
        } else if (!strcmp(arg, "--launch")) {
            launch = val;
        } else if (!strcmp(arg, "--max-iter")) {
            A.max_iter = strtoll(val, NULL, 10);
        } else {
            usage();
            return 2;
        }
    }
    if (n < 1 || n > 4096 || A.nblocks < 1 || A.nblocks > 256 || !(A.tol > 0)) {
        fprintf(stderr, "pydron-jacobi: need 1 <= n <= 4096, 1 <= blocks <= 256, tol > 0\n");
        return 2;
    }
    /* remote workers need a shared secret; take it from the environment */
    opts.secret = getenv("PYDRON_SECRET");
    opts.listen_url = getenv("PYDRON_LISTEN_URL");
    /* worker processes load the task bodies from the shared object that
     * holds them (found from one of its functions) */
    Dl_info di;
    const char *tasks_so = dladdr((void *)jacobi_block, &di) && di.dli_fname ? di.dli_fname : "";
    const char *wargs[] = {"--load", tasks_so, NULL};
    opts.worker_args = wargs;
    char *launch_cmd = NULL;
    if (launch) {
        /* {load} is ours; the library replaces the other placeholders */
        size_t cap = strlen(launch) + 16 * strlen(tasks_so) + 1, k = 0;
        launch_cmd = malloc(cap);
        for (const char *c = launch; launch_cmd && *c;) {
            if (!strncmp(c, "{load}", 6) && k + strlen(tasks_so) < cap) {
                memcpy(launch_cmd + k, tasks_so, strlen(tasks_so));
                k += strlen(tasks_so);
                c += 6;
            } else if (k + 1 < cap) {
                launch_cmd[k++] = *c++;
            } else {
                break;
            }
        }
        if (launch_cmd)
            launch_cmd[k] = 0;
        opts.launch_command = launch_cmd;
    }

    pydron_runtime *rt = NULL;
    int rc = pydron_runtime_new(&rt, &opts);
    if (rc)
        return die("creating the runtime", rc);
    if ((rc = pydron_runtime_register_c(rt, "jacobi.block", jacobi_block, NULL, &A.k_block)) ||
        (rc = pydron_runtime_register_c(rt, "jacobi.combine", jacobi_combine, NULL,
                                        &A.k_combine)) ||
        (rc = pydron_runtime_register_c(rt, "jacobi.report", report_fn, NULL, &A.k_report)))
        return die("registering kinds", rc);
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "jacobi.loop";
    kd.refine = loop_refine;
    kd.refine_user = &A;
    if ((rc = pydron_runtime_register_kind(rt, &kd, &A.k_loop)))
        return die("registering the loop kind", rc);

    pydron_graph *g = NULL;
    if ((rc = pydron_graph_new(rt, &g)))
        return die("creating the graph", rc);

    /* problem and initial state (x = 0) as constants */
    size_t plen = (1 + (size_t)(n * n + n)) * sizeof(double);
    double *prob = calloc(1, plen), *st = calloc(2 + (size_t)n, sizeof(double));
    if (!prob || !st) {
        fprintf(stderr, "pydron-jacobi: out of memory\n");
        return 2;
    }
    memcpy(prob, &n, 8);
    for (int64_t i = 0; i < n; i++) {
        for (int64_t j = 0; j < n; j++)
            prob[1 + i * n + j] = problem_a((int)n, (int)i, (int)j);
        prob[1 + n * n + i] = problem_b((int)i);
    }
    int64_t zero = 0;
    memcpy(st, &zero, 8);
    st[1] = INFINITY;
    pydron_value in[2], out;
    if ((rc = pydron_value_constant_take(g, prob, plen, free, prob, &in[0])) ||
        (rc = pydron_value_constant_take(g, st, (2 + (size_t)n) * sizeof(double), free, st,
                                         &in[1])))
        return die("adding constants", rc);

    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = A.k_loop;
    d.flags = PYDRON_TASK_REFINABLE;
    d.ninputs = 2;
    d.inputs = in;
    d.noutputs = 1;
    d.label = "jacobi loop";
    uint32_t tick[2] = {1, 1}; /* statement 1, first check of its loop */
    d.tick = tick;
    d.tick_len = 2;
    if ((rc = pydron_task_add(g, &d, NULL, &out)))
        return die("adding the loop", rc);
    pydron_value_release(g, in[0]);
    pydron_value_release(g, in[1]);
    pydron_graph_close(g);

    printf("jacobi: n=%lld blocks=%d tol=%g\n", (long long)n, A.nblocks, A.tol);
    if ((rc = pydron_graph_wait(g, out, -1)))
        return die("running", rc);
    /* the result can be ready before the last progress line (a SYNC task)
     * ran; finish all driver work so output keeps program order */
    if ((rc = pydron_graph_run(g, -1)))
        return die("running", rc);
    const void *p;
    size_t len;
    int64_t iter;
    double res;
    const double *x;
    if ((rc = pydron_value_bytes(g, out, &p, &len)))
        return die("reading the result", rc);
    if (read_state(p, len, n, &iter, &res, &x)) {
        fprintf(stderr, "pydron-jacobi: malformed result\n");
        return 2;
    }
    int ok = res < A.tol;
    printf("converged: %s\n", ok ? "yes" : "no");
    printf("iterations: %lld\n", (long long)iter);
    printf("residual: %.3e\n", res);
    double sum = 0;
    for (int64_t i = 0; i < n; i++) {
        printf("x[%lld] = %.12f\n", (long long)i, x[i]);
        sum += x[i];
    }
    printf("sum(x) = %.12f\n", sum);
    pydron_graph_stats s;
    if (pydron_graph_stats_get(g, &s) == 0)
        fprintf(stderr, "pydron-jacobi: %llu tasks (%llu refined) on the %s executor\n",
                (unsigned long long)s.tasks_added, (unsigned long long)s.tasks_refined, exname);
    pydron_value_release(g, out);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
    free(launch_cmd);
    return ok ? 0 : 1;
}
