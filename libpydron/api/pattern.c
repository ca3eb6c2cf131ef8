/* pattern.c - Task Bench's dependence patterns (Slaughter et al., SC'20) as
 * graphs of "pydron.bench" tasks: pydron_pattern_build. Written against the
 * public API alone: a pattern is what a host program could build itself. */
#include <math.h>
#include <stdio.h>

#include "api/api.h"

enum { P_TRIVIAL, P_NOCOMM, P_STENCIL, P_NEAREST, P_SPREAD, P_FFT, P_TREE, P_RANDOM };
static const char *const pnames[] = {"trivial", "no-comm", "stencil-1d", "nearest",
                                     "spread",  "fft",     "tree",       "random"};

static int pattern_kind(const char *name)
{
    for (int k = 0; k < (int)(sizeof pnames / sizeof *pnames); k++) {
        const char *a = name, *b = pnames[k];
        while (*a && *b && (*a == *b || (*a == '_' && *b == '-')))
            a++, b++;
        if (!*a && !*b)
            return k;
    }
    return -1;
}

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static size_t width_at(int kind, unsigned width, unsigned t)
{
    if (kind == P_TREE)
        return t >= 31 || (1u << t) >= width ? width : (size_t)1 << t;
    return width;
}

/* Inputs (points of step t-1) of point x at step t >= 1; returns the count. */
static size_t deps(int kind, const pydron_pattern *p, unsigned radix, unsigned t, size_t x,
                   size_t wprev, uint64_t *rng, size_t *out)
{
    size_t w = p->width, n = 0;
    switch (kind) {
    case P_TRIVIAL:
        return 0;
    case P_NOCOMM:
        out[n++] = x;
        return n;
    case P_STENCIL:
        if (x > 0)
            out[n++] = x - 1;
        out[n++] = x;
        if (x + 1 < w)
            out[n++] = x + 1;
        return n;
    case P_NEAREST: {
        size_t lo = x >= radix / 2 ? x - radix / 2 : 0;
        size_t hi = x + (radix - 1) / 2 < w ? x + (radix - 1) / 2 : w - 1;
        for (size_t i = lo; i <= hi; i++)
            out[n++] = i;
        return n;
    }
    case P_SPREAD: {
        size_t shift = (t - 1) % (radix ? radix : 1);
        for (size_t i = 0; i < radix && i < w; i++) {
            size_t d = (x + i * w / radix + (i ? shift : 0)) % w;
            int dup = 0;
            for (size_t k = 0; k < n; k++)
                dup |= out[k] == d;
            if (!dup)
                out[n++] = d;
        }
        return n;
    }
    case P_FFT: {
        unsigned lg = 0;
        while (((size_t)1 << (lg + 1)) <= w)
            lg++;
        size_t s = (size_t)1 << ((t - 1) % (lg ? lg : 1));
        if (x >= s)
            out[n++] = x - s;
        out[n++] = x;
        if (x + s < w)
            out[n++] = x + s;
        return n;
    }
    case P_TREE:
        out[n++] = x / 2 < wprev ? x / 2 : wprev - 1;
        return n;
    case P_RANDOM: {
        size_t k = 1 + (size_t)(splitmix(rng) % radix);
        for (size_t i = 0; i < k && n < wprev; i++) {
            size_t d = (size_t)(splitmix(rng) % wprev);
            int dup = 0;
            for (size_t j = 0; j < n; j++)
                dup |= out[j] == d;
            if (!dup)
                out[n++] = d;
        }
        return n;
    }
    }
    return 0;
}

PYDRON_API int pydron_pattern_build(pydron_runtime *rt, pydron_graph *g, const pydron_pattern *p,
                                    pydron_value *last, size_t nlast, size_t *ntasks)
{
    pdi_err_clear();
    if (ntasks)
        *ntasks = 0;
    if (!rt || !g || !p || (nlast && !last))
        return pdi_err(PYDRON_EINVAL, "pydron_pattern_build: NULL argument");
    if (p->version < 1 || p->version > PYDRON_PATTERN_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_pattern.version is %u, this library knows 1 to %u",
                       p->version, PYDRON_PATTERN_VERSION);
    int kind = p->name ? pattern_kind(p->name) : -1;
    if (kind < 0)
        return pdi_err(PYDRON_EINVAL, "unknown pattern '%s' (trivial, no-comm, stencil-1d, nearest, "
                                      "spread, fft, tree, random)", p->name ? p->name : "(null)");
    if (!p->width || !p->steps || p->width > (1u << 24) || !(p->duration >= 0) ||
        p->duration > 3600 || !(p->imbalance >= 0 && p->imbalance <= 1))
        return pdi_err(PYDRON_EINVAL, "pattern '%s': width and steps must be >= 1 (width <= 2^24), "
                                      "0 <= duration <= 3600 s, 0 <= imbalance <= 1",
                       pnames[kind]);
    if ((uint64_t)p->width * p->steps > ((uint64_t)1 << 26))
        return pdi_err(PYDRON_ERANGE, "pattern '%s': %u x %u tasks is more than a graph holds",
                       pnames[kind], p->width, p->steps);
    if (p->kernel > PYDRON_BENCH_SLEEP)
        return pdi_err(PYDRON_EINVAL, "pattern kernel %u is not PYDRON_BENCH_BUSY or _SLEEP",
                       p->kernel);
    unsigned radix = p->radix ? p->radix : 3;
    if (radix > 64)
        return pdi_err(PYDRON_EINVAL, "pattern radix %u is more than 64", radix);
    uint32_t bk;
    int rc = pydron_runtime_kind(rt, PYDRON_KIND_BENCH, &bk);
    if (rc)
        return rc;
    pydron_value *prev = calloc(p->width, sizeof *prev), *cur = calloc(p->width, sizeof *cur);
    if (!prev || !cur) {
        free(prev);
        free(cur);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    uint64_t rng = p->seed ^ 0x5851f42d4c957f2dull, drng = p->seed * 31 + 7;
    size_t wprev = 0, count = 0, idx[64];
    pydron_value ins[64];
    char label[48];
    for (unsigned t = 0; t < p->steps && rc == 0; t++) {
        size_t w = width_at(kind, p->width, t);
        for (size_t x = 0; x < w && rc == 0; x++) {
            size_t n = t ? deps(kind, p, radix, t, x, wprev, &rng, idx) : 0;
            for (size_t i = 0; i < n; i++)
                ins[i] = prev[idx[i]];
            double d = p->duration;
            if (p->imbalance > 0)
                d *= 1 + p->imbalance * (2.0 * (double)(splitmix(&drng) >> 11) / 9007199254740992.0 - 1);
            pydron_bench_task bt = {PYDRON_BENCH_MAGIC, 1, (uint64_t)llround(d * 1e9),
                                    p->output_bytes, p->seed * 1000003u + (uint64_t)t * 65537u + x,
                                    p->kernel, 0};
            snprintf(label, sizeof label, "%s[%u,%zu]", pnames[kind], t, x);
            pydron_task_desc td = PYDRON_TASK_DESC_INIT;
            td.kind = bk;
            td.flags = PYDRON_TASK_PURE;
            td.ninputs = n;
            td.inputs = ins;
            td.noutputs = 1;
            td.payload = &bt;
            td.payload_len = sizeof bt;
            td.duration_hint = d;
            td.label = label;
            rc = pydron_task_add(g, &td, NULL, &cur[x]);
            count += rc == 0;
        }
        if (rc) {
            /* the part of this step that was made */
            for (size_t x = 0; x < w; x++)
                if (cur[x].id)
                    (void)pydron_value_release(g, cur[x]);
            break;
        }
        for (size_t x = 0; x < wprev; x++)
            (void)pydron_value_release(g, prev[x]);
        pydron_value *sw = prev;
        prev = cur;
        cur = sw;
        memset(cur, 0, p->width * sizeof *cur);
        wprev = w;
    }
    if (rc == 0) {
        for (size_t x = 0; x < wprev; x++) {
            if (x < nlast)
                last[x] = prev[x];
            else
                (void)pydron_value_release(g, prev[x]);
        }
    } else {
        for (size_t x = 0; x < wprev; x++)
            (void)pydron_value_release(g, prev[x]);
    }
    free(prev);
    free(cur);
    if (ntasks)
        *ntasks = count;
    return rc;
}
