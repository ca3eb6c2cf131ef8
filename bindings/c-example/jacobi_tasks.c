/* jacobi_tasks.c - the PURE task bodies of the Jacobi example (see
 * jacobi_tasks.h), plus the table through which pydron-worker --load finds
 * them by kind name. */
#include "jacobi_tasks.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

/* PURE: new values of rows [lo, hi) from the previous x. */
JACOBI_EXPORT int jacobi_block(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *pp, *ps, *pay;
    size_t lp, ls, lpay;
    int64_t n, iter, lohi[2];
    const double *a, *b, *x;
    double res;
    if (pydron_ctx_input(ctx, 0, &pp, &lp) || pydron_ctx_input(ctx, 1, &ps, &ls) ||
        pydron_ctx_payload(ctx, &pay, &lpay) || lpay != sizeof lohi ||
        read_problem(pp, lp, &n, &a, &b) || read_state(ps, ls, n, &iter, &res, &x)) {
        pydron_ctx_fail(ctx, "jacobi block: malformed inputs");
        return PYDRON_ETASK;
    }
    memcpy(lohi, pay, sizeof lohi);
    double *out;
    int rc = pydron_ctx_output_alloc(ctx, 0, (size_t)(lohi[1] - lohi[0]) * sizeof(double),
                                     (void **)&out);
    if (rc)
        return rc;
    for (int64_t i = lohi[0]; i < lohi[1]; i++) {
        double s = b[i];
        const double *row = a + i * n;
        for (int64_t j = 0; j < n; j++)
            if (j != i)
                s -= row[j] * x[j];
        out[i - lohi[0]] = s / row[i];
    }
    return 0;
}

/* PURE: concatenate the blocks into the next state and compute its residual. */
JACOBI_EXPORT int jacobi_combine(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *pp, *ps;
    size_t lp, ls;
    int64_t n, iter;
    const double *a, *b, *x;
    double res;
    if (pydron_ctx_input(ctx, 0, &pp, &lp) || pydron_ctx_input(ctx, 1, &ps, &ls) ||
        read_problem(pp, lp, &n, &a, &b) || read_state(ps, ls, n, &iter, &res, &x)) {
        pydron_ctx_fail(ctx, "jacobi combine: malformed inputs");
        return PYDRON_ETASK;
    }
    double *st;
    int rc = pydron_ctx_output_alloc(ctx, 0, (2 + (size_t)n) * sizeof(double), (void **)&st);
    if (rc)
        return rc;
    double *xn = st + 2;
    size_t at = 0;
    for (size_t i = 2; i < pydron_ctx_ninputs(ctx); i++) {
        const void *pb;
        size_t lb;
        if (pydron_ctx_input(ctx, i, &pb, &lb) || lb % sizeof(double) ||
            at + lb / sizeof(double) > (size_t)n) {
            pydron_ctx_fail(ctx, "jacobi combine: block %zu malformed", i - 2);
            return PYDRON_ETASK;
        }
        memcpy(xn + at, pb, lb);
        at += lb / sizeof(double);
    }
    if (at != (size_t)n) {
        pydron_ctx_fail(ctx, "jacobi combine: blocks cover %zu of %lld rows", at, (long long)n);
        return PYDRON_ETASK;
    }
    double r = 0.0;
    for (int64_t i = 0; i < n; i++) {
        double s = b[i];
        for (int64_t j = 0; j < n; j++)
            s -= a[i * n + j] * xn[j];
        if (fabs(s) > r)
            r = fabs(s);
    }
    int64_t next = iter + 1;
    memcpy(st, &next, 8);
    st[1] = r;
    return 0;
}

/* Runners for worker processes: same names as the kinds jacobi.c registers. */
static int run_block(void *self, pydron_task_ctx *ctx) { return jacobi_block(ctx, self); }
static int run_combine(void *self, pydron_task_ctx *ctx) { return jacobi_combine(ctx, self); }
static const pydron_runner_ops block_ops = {PYDRON_RUNNER_OPS_VERSION, run_block, NULL};
static const pydron_runner_ops combine_ops = {PYDRON_RUNNER_OPS_VERSION, run_combine, NULL};

JACOBI_EXPORT const pydron_worker_runner pydron_worker_runners[] = {
    {"jacobi.block", &block_ops, NULL},
    {"jacobi.combine", &combine_ops, NULL},
    {NULL, NULL, NULL},
};
