/* bench_ffi.c - task bodies for bench_wire, called through "pydron.ffi". */
#include <stdint.h>
#include <string.h>

#include "pydron.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT int bw_noop(pydron_task_ctx *ctx)
{
    (void)ctx;
    return 0;
}

/* input 0 = u64 n: output = n bytes */
EXPORT int bw_make(pydron_task_ctx *ctx)
{
    const void *p;
    size_t l;
    uint64_t n = 0;
    if (pydron_ctx_input(ctx, 0, &p, &l) == 0 && l == 8)
        memcpy(&n, p, 8);
    void *out;
    int rc = pydron_ctx_output_alloc(ctx, 0, (size_t)n, &out);
    if (rc == 0)
        memset(out, 0x5a, (size_t)n);
    return rc;
}
