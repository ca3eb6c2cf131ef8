/* runner.h - built-in runners. */
#ifndef PDI_RUNNER_H
#define PDI_RUNNER_H

#include "pydron.h"

/* The C runner: run() calls fn(ctx, user). self is a pdi_c_runner. */
typedef struct pdi_c_runner {
    pydron_c_fn fn;
    void *user;
} pdi_c_runner;
extern const pydron_runner_ops pdi_c_runner_ops;   /* destroy frees self */

/* Hook for the built-in "pydron.ffi" kind (dlopen + libffi), implemented
 * by the wire/worker layer with a strong definition. The weak default
 * returns NULL, and then the kind is not registered. *self receives the
 * runner's self pointer (its destroy, if any, is called when the runtime
 * is freed). */
const pydron_runner_ops *pdi_runner_ffi_get(void **self);

/* The built-in "pydron.bench" kind (runner/bench.c), registered in every
 * runtime and worker. pdi_bench_parse: 0 if payload is a valid
 * pydron_bench_task (copied to *out), else -1. */
extern const pydron_runner_ops pdi_bench_runner_ops;
int pdi_bench_parse(const void *payload, size_t len, pydron_bench_task *out);

#endif
