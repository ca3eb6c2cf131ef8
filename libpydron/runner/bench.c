/* bench.c - the built-in "pydron.bench" kind: Task Bench's synthetic task.
 * It busy-waits for the payload's duration (wall clock, so that a run's
 * makespan does not depend on what else shares the cores) and writes
 * outputs of the payload's size whose first 8 bytes are a digest of its
 * inputs (pydron_bench_digest), so results check every edge of a graph. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "runner/runner.h"

static uint64_t mix64(uint64_t x)
{
    /* splitmix64 finaliser */
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ull;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebull;
    x ^= x >> 31;
    return x;
}

PYDRON_API uint64_t pydron_bench_digest(uint64_t seed, size_t out, const uint64_t *inputs,
                                        size_t ninputs)
{
    uint64_t h = mix64(seed + 0x9e3779b97f4a7c15ull * (out + 1));
    for (size_t i = 0; i < ninputs; i++)
        h = mix64(h ^ (inputs ? inputs[i] : 0) ^ (0x632be59bd9b4e019ull * (i + 1)));
    return h;
}

static uint64_t first8(const void *data, size_t len)
{
    unsigned char b[8] = {0};
    memcpy(b, data, len < 8 ? len : 8);
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = (v << 8) | b[k];
    return v;
}

int pdi_bench_parse(const void *payload, size_t len, pydron_bench_task *out)
{
    if (len < sizeof *out)
        return -1;
    memcpy(out, payload, sizeof *out);
    return out->magic == PYDRON_BENCH_MAGIC && out->version == 1 &&
                   out->kernel <= PYDRON_BENCH_SLEEP ? 0 : -1;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static int bench_run(void *self, pydron_task_ctx *ctx)
{
    (void)self;
    const void *p;
    size_t plen;
    pydron_bench_task bt;
    if (pydron_ctx_payload(ctx, &p, &plen) != 0 || pdi_bench_parse(p, plen, &bt) != 0) {
        pydron_ctx_fail(ctx, "not a pydron.bench payload (%zu bytes; see pydron_bench_task)", plen);
        return PYDRON_ETASK;
    }
    uint64_t t0 = now_ns();
    size_t nin = pydron_ctx_ninputs(ctx);
    uint64_t st[16], *ins = nin <= 16 ? st : malloc(nin * sizeof *ins);
    if (!ins) {
        pydron_ctx_fail(ctx, "out of memory");
        return PYDRON_ETASK;
    }
    for (size_t i = 0; i < nin; i++) {
        const void *d;
        size_t l;
        ins[i] = pydron_ctx_input(ctx, i, &d, &l) == 0 ? first8(d, l) : 0;
    }
    int rc = 0;
    for (size_t o = 0; o < pydron_ctx_noutputs(ctx) && rc == 0; o++) {
        void *buf;
        if ((rc = pydron_ctx_output_alloc(ctx, o, (size_t)bt.output_bytes, &buf)) != 0)
            break;
        uint64_t h = pydron_bench_digest(bt.seed, o, ins, nin);
        unsigned char b[8];
        for (int k = 0; k < 8; k++)
            b[k] = (unsigned char)(h >> (8 * k));
        size_t n = (size_t)bt.output_bytes;
        memcpy(buf, b, n < 8 ? n : 8);
        if (n > 8)
            memset((char *)buf + 8, 0, n - 8);
    }
    if (ins != st)
        free(ins);
    if (rc) {
        pydron_ctx_fail(ctx, "cannot allocate %llu output bytes", (unsigned long long)bt.output_bytes);
        return PYDRON_ETASK;
    }
    if (bt.kernel == PYDRON_BENCH_SLEEP) {
        uint64_t end = t0 + bt.duration_ns;
        struct timespec ts = {(time_t)(end / 1000000000u), (long)(end % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) != 0)
            ;   /* EINTR: sleep on to the same end */
    } else {
        while (now_ns() - t0 < bt.duration_ns)
            ;   /* busy wait: Task Bench's busy_wait kernel */
    }
    return 0;
}

const pydron_runner_ops pdi_bench_runner_ops = {PYDRON_RUNNER_OPS_VERSION, bench_run, NULL};
