#define _POSIX_C_SOURCE 200809L
/* ffi_testlib.c - functions called through the "pydron.ffi" runner by
 * test_ffi.c, test_local.c and the benchmarks (dlopen'ed by workers). */
#include <signal.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"

#define EXPORT __attribute__((visibility("default")))

EXPORT double tl_hypot2(double a, double b) { return a * a + b * b; }
EXPORT int32_t tl_neg(int32_t x) { return -x; }
EXPORT uint32_t tl_inc_u32(uint32_t x) { return x + 1; }
EXPORT int64_t tl_mul64(int64_t a, int64_t b) { return a * b; }
EXPORT uint64_t tl_add_u64(uint64_t a, uint64_t b) { return a + b; }
EXPORT float tl_half(float x) { return x / 2; }
EXPORT double tl_pi(void) { return 3.14159265358979; }
EXPORT int32_t tl_sum8(int32_t a, int32_t b, int32_t c, int32_t d, int32_t e, int32_t f,
                       int32_t g, int32_t h)
{
    return a + b + c + d + e + f + g + h;
}

static uint64_t in_u64(pydron_task_ctx *ctx, size_t i)
{
    const void *p;
    size_t n;
    uint64_t x = 0;
    if (pydron_ctx_input(ctx, i, &p, &n) == 0 && n == 8)
        memcpy(&x, p, 8);
    return x;
}

/* output 0 = sum of u64 inputs */
EXPORT int tl_sum_ctx(pydron_task_ctx *ctx)
{
    uint64_t s = 0;
    for (size_t i = 0; i < pydron_ctx_ninputs(ctx); i++)
        s += in_u64(ctx, i);
    return pydron_ctx_output_set(ctx, 0, &s, sizeof s);
}

/* like tl_sum_ctx, after 20 ms (work that is still running when a worker
 * is killed) */
EXPORT int tl_slow_sum_ctx(pydron_task_ctx *ctx)
{
    struct timespec ts = {0, 20 * 1000 * 1000};
    nanosleep(&ts, NULL);
    return tl_sum_ctx(ctx);
}

/* input 0 = u64 n: output = n bytes of a pattern, with the note
 * "n=<n>" (pydron_ctx_output_note); a second note replaces a first. */
EXPORT int tl_make_noted(pydron_task_ctx *ctx)
{
    uint64_t n = in_u64(ctx, 0);
    char note[64];
    int len = snprintf(note, sizeof note, "n=%llu", (unsigned long long)n);
    int rc = pydron_ctx_output_note(ctx, 0, "first", 5);
    if (rc == 0)
        rc = pydron_ctx_output_note(ctx, 0, note, (size_t)len);
    void *out;
    if (rc == 0)
        rc = pydron_ctx_output_alloc(ctx, 0, (size_t)n, &out);
    if (rc)
        return rc;
    memset(out, 0x5a, (size_t)n);
    return 0;
}

/* output = 1 when pydron_ctx_output_note refuses bad arguments */
EXPORT int tl_note_errors(pydron_task_ctx *ctx)
{
    static const char buf[16];
    uint64_t ok = pydron_ctx_output_note(ctx, 1, "x", 1) == PYDRON_EINVAL &&
                  pydron_ctx_output_note(ctx, 0, NULL, 3) == PYDRON_EINVAL &&
                  pydron_ctx_output_note(NULL, 0, "x", 1) == PYDRON_EINVAL &&
                  pydron_ctx_output_note(ctx, 0, buf, (size_t)PYDRON_NOTE_MAX + 1) == PYDRON_EINVAL &&
                  pydron_ctx_output_note(ctx, 0, buf, 0) == 0;
    return pydron_ctx_output_set(ctx, 0, &ok, sizeof ok);
}

/* input 0 = u64 n, input 1 = u64 seed: output = n bytes of a pattern */
EXPORT int tl_make_big(pydron_task_ctx *ctx)
{
    uint64_t n = in_u64(ctx, 0), seed = in_u64(ctx, 1);
    void *out;
    int rc = pydron_ctx_output_alloc(ctx, 0, (size_t)n, &out);
    if (rc)
        return rc;
    uint8_t *b = out;
    for (uint64_t i = 0; i < n; i++)
        b[i] = (uint8_t)(i * 31 + seed);
    return 0;
}

/* output 0 = u64 checksum of input 0's bytes */
EXPORT int tl_checksum(pydron_task_ctx *ctx)
{
    const void *p;
    size_t n;
    pydron_ctx_input(ctx, 0, &p, &n);
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    h ^= n;
    return pydron_ctx_output_set(ctx, 0, &h, sizeof h);
}

EXPORT int tl_fail_ctx(pydron_task_ctx *ctx)
{
    pydron_ctx_fail(ctx, "tl_fail_ctx says no (%zu inputs)", pydron_ctx_ninputs(ctx));
    pydron_ctx_fail_detail(ctx, "DETAIL", 6);
    return PYDRON_ETASK;
}

/* kills its worker every time */
EXPORT int tl_crash_ctx(pydron_task_ctx *ctx)
{
    (void)ctx;
    raise(SIGKILL);
    return 0;
}

/* kills its worker with SIGSEGV every time (test_worker_restart.c) */
EXPORT int tl_segv_ctx(pydron_task_ctx *ctx)
{
    (void)ctx;
    raise(SIGSEGV);
    return 0;
}

/* ends its worker with status 3, no cleanup (test_worker_restart.c) */
EXPORT int tl_exit3_ctx(pydron_task_ctx *ctx)
{
    (void)ctx;
    _exit(3);
}

EXPORT int tl_noop_ctx(pydron_task_ctx *ctx)
{
    (void)ctx;
    return 0;
}

EXPORT int tl_pid_ctx(pydron_task_ctx *ctx)
{
    uint64_t pid = (uint64_t)getpid();
    return pydron_ctx_output_set(ctx, 0, &pid, sizeof pid);
}

/* Lineage tests: input 0 = u64 n, input 1 = u64 seed (or any bytes: its
 * first 8); output 0 = n bytes of a pattern (stays on the worker),
 * output 1 = pid of the worker that made it. */
EXPORT int tl_make_big_pid(pydron_task_ctx *ctx)
{
    int rc = tl_make_big(ctx);
    if (rc)
        return rc;
    uint64_t pid = (uint64_t)getpid();
    return pydron_ctx_output_set(ctx, 1, &pid, sizeof pid);
}

/* input 0 = bytes, input 1 = u64 shift: output 0 = the bytes + shift each
 * (same size), output 1 = pid */
EXPORT int tl_shift_pid(pydron_task_ctx *ctx)
{
    const void *p;
    size_t n;
    pydron_ctx_input(ctx, 0, &p, &n);
    uint64_t k = in_u64(ctx, 1);
    void *out;
    int rc = pydron_ctx_output_alloc(ctx, 0, n, &out);
    if (rc)
        return rc;
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)out)[i] = (uint8_t)(((const uint8_t *)p)[i] + k);
    uint64_t pid = (uint64_t)getpid();
    return pydron_ctx_output_set(ctx, 1, &pid, sizeof pid);
}

/* 1 if addr lies in a mapping of one of pydron's memfds (shared memory). */
static int in_pydron_memfd(const void *addr)
{
    FILE *f = fopen("/proc/self/maps", "r");
    if (!f)
        return 0;
    char line[512];
    int found = 0;
    uintptr_t a = (uintptr_t)addr;
    while (!found && fgets(line, sizeof line, f)) {
        unsigned long lo, hi;
        if (sscanf(line, "%lx-%lx", &lo, &hi) == 2 && a >= lo && a < hi)
            found = strstr(line, "/memfd:pydron") != NULL;
    }
    fclose(f);
    return found;
}

/* input 0 = bytes: output 0 = u64 checksum (as tl_checksum), output 1 = u64
 * 1 if the input was mapped from shared memory rather than received as
 * bytes, output 2 = pid */
EXPORT int tl_checksum_shm(pydron_task_ctx *ctx)
{
    const void *p;
    size_t n;
    pydron_ctx_input(ctx, 0, &p, &n);
    const uint8_t *b = p;
    uint64_t h = 1469598103934665603ULL;
    for (size_t i = 0; i < n; i++)
        h = (h ^ b[i]) * 1099511628211ULL;
    h ^= n;
    uint64_t shm = (uint64_t)in_pydron_memfd(p), pid = (uint64_t)getpid();
    int rc = pydron_ctx_output_set(ctx, 0, &h, sizeof h);
    if (rc == 0)
        rc = pydron_ctx_output_set(ctx, 1, &shm, sizeof shm);
    if (rc == 0)
        rc = pydron_ctx_output_set(ctx, 2, &pid, sizeof pid);
    return rc;
}
