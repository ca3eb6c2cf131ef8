/* jacobi_tasks.h - the PURE task bodies of the Jacobi example and the value
 * layouts they share with the driver (jacobi.c).
 *
 * The bodies live in a shared object (libjacobi_tasks.so) so that they can
 * run in worker processes too: the driver registers them as C functions
 * (pydron_runtime_register_c) for the in-process executors, and local or
 * remote workers load the same object with `pydron-worker --load`, which
 * finds them by kind name in its pydron_worker_runners table.
 *
 * Value layouts (native doubles, 8-byte aligned buffers):
 *   problem: int64 n, double A[n*n], double b[n]
 *   state:   int64 iter, double residual, double x[n]
 *   block:   double x_new[hi - lo]            payload: int64 lo, hi */
#ifndef JACOBI_TASKS_H
#define JACOBI_TASKS_H

#include <pydron.h>

#include <stdint.h>
#include <string.h>

#define JACOBI_EXPORT __attribute__((visibility("default")))

/* PURE: new values of rows [lo, hi) (payload) from problem and state. */
JACOBI_EXPORT int jacobi_block(pydron_task_ctx *ctx, void *user);
/* PURE: the blocks concatenated into the next state, with its residual. */
JACOBI_EXPORT int jacobi_combine(pydron_task_ctx *ctx, void *user);

static inline int view_doubles(const void *p, size_t len, size_t want, const double **out)
{
    if (len != want * sizeof(double) || ((uintptr_t)p % sizeof(double)) != 0)
        return -1;
    *out = (const double *)p;
    return 0;
}

/* Input i as a problem: n, A, b. */
static inline int read_problem(const void *p, size_t len, int64_t *n, const double **a, const double **b)
{
    if (len < 8)
        return -1;
    memcpy(n, p, 8);
    const double *d;
    if (*n <= 0 || view_doubles(p, len, 1 + (size_t)(*n * *n + *n), &d))
        return -1;
    *a = d + 1;
    *b = d + 1 + *n * *n;
    return 0;
}

static inline int read_state(const void *p, size_t len, int64_t n, int64_t *iter, double *res,
                      const double **x)
{
    const double *d;
    if (view_doubles(p, len, 2 + (size_t)n, &d))
        return -1;
    memcpy(iter, p, 8);
    *res = d[1];
    *x = d + 2;
    return 0;
}

#endif
