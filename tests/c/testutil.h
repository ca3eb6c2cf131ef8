/*
 * testutil.h - shared helpers for the Criterion tests of libpydron.
 *
 * Header-only (static inline) because tests/c/CMakeLists.txt globs only
 * test_*.c into the test executable. Everything here goes through the public
 * API of include/pydron.h, as a user of the library would.
 */
#ifndef PYDRON_TESTUTIL_H
#define PYDRON_TESTUTIL_H

/* POSIX clocks, usleep, pthreads: include this header first. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <criterion/criterion.h>
#include <pydron.h>

#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Assert a pydron call returned 0, showing the detailed message if not. */
#define TU_OK(expr)                                                                   \
    do {                                                                              \
        int tu_rc_ = (expr);                                                          \
        cr_assert_eq(tu_rc_, 0, "%s -> %d (%s): %s", #expr, tu_rc_,                   \
                     pydron_strerror(tu_rc_), pydron_error_last());                   \
    } while (0)

/* Assert a pydron call failed with exactly `code` and left a message. */
#define TU_ERR(code, expr)                                                            \
    do {                                                                              \
        int tu_rc_ = (expr);                                                          \
        cr_assert_eq(tu_rc_, (code), "%s -> %d (%s), expected %d (%s); last: %s",     \
                     #expr, tu_rc_, pydron_strerror(tu_rc_), (code),                  \
                     pydron_strerror(code), pydron_error_last());                     \
        cr_assert(pydron_error_last() != NULL && pydron_error_last()[0] != '\0',      \
                  "%s failed with %d but pydron_error_last() is empty", #expr, tu_rc_); \
    } while (0)

static inline uint64_t tu_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* splitmix64: a small, good mixing function; also the tests' PRNG. */
static inline uint64_t tu_mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

typedef struct tu_rng { uint64_t s; } tu_rng;
static inline uint64_t tu_next(tu_rng *r)
{
    r->s += 0x9E3779B97F4A7C15ull;
    uint64_t x = r->s;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}
static inline unsigned tu_below(tu_rng *r, unsigned n) { return (unsigned)(tu_next(r) % n); }

static inline pydron_runtime *tu_runtime(pydron_executor_kind ex, unsigned workers)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = workers;
    pydron_runtime *rt = NULL;
    TU_OK(pydron_runtime_new(&rt, &o));
    cr_assert_not_null(rt);
    return rt;
}

static inline pydron_graph *tu_graph(pydron_runtime *rt)
{
    pydron_graph *g = NULL;
    TU_OK(pydron_graph_new(rt, &g));
    cr_assert_not_null(g);
    return g;
}

static inline pydron_value tu_const_u64(pydron_graph *g, uint64_t x)
{
    pydron_value v = PYDRON_VALUE_NONE;
    TU_OK(pydron_value_constant(g, &x, sizeof x, &v));
    cr_assert_neq(v.id, 0);
    return v;
}

/* Wait for v and return it as a u64 (asserting it is 8 bytes). */
static inline uint64_t tu_get_u64(pydron_graph *g, pydron_value v)
{
    TU_OK(pydron_graph_wait(g, v, 120000)); /* worker processes under ASan/valgrind */
    const void *p = NULL;
    size_t n = 0;
    TU_OK(pydron_value_bytes(g, v, &p, &n));
    cr_assert_eq(n, sizeof(uint64_t), "value %llu has %zu bytes", (unsigned long long)v.id, n);
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* Add a task with the given inputs/outputs, payload = one u64 (or none). */
static inline pydron_task tu_add(pydron_graph *g, uint32_t kind, unsigned flags,
                                 const pydron_value *in, size_t nin, size_t nout,
                                 pydron_value *out, const uint64_t *payload)
{
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kind;
    d.flags = flags;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = nout;
    if (payload) {
        d.payload = payload;
        d.payload_len = sizeof *payload;
    }
    pydron_task t = PYDRON_TASK_NONE;
    TU_OK(pydron_task_add(g, &d, &t, out));
    cr_assert_neq(t.id, 0);
    return t;
}

static inline uint64_t tu_payload_u64(const pydron_task_ctx *ctx)
{
    const void *p = NULL;
    size_t n = 0;
    if (pydron_ctx_payload(ctx, &p, &n) != 0 || n != sizeof(uint64_t))
        return 0;
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

static inline uint64_t tu_input_u64(const pydron_task_ctx *ctx, size_t i, int *rc)
{
    const void *p = NULL;
    size_t n = 0;
    int r = pydron_ctx_input(ctx, i, &p, &n);
    if (r == 0 && n != sizeof(uint64_t))
        r = PYDRON_EINVAL;
    if (rc && r)
        *rc = r;
    uint64_t x = 0;
    if (r == 0)
        memcpy(&x, p, sizeof x);
    return x;
}

/* Body "sum": output 0 = payload + sum of inputs (all u64). */
static inline int tu_fn_sum(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    int rc = 0;
    uint64_t s = tu_payload_u64(ctx);
    for (size_t i = 0; i < pydron_ctx_ninputs(ctx); i++)
        s += tu_input_u64(ctx, i, &rc);
    if (rc) {
        pydron_ctx_fail(ctx, "sum: bad input (%d)", rc);
        return PYDRON_ETASK;
    }
    for (size_t o = 0; o < pydron_ctx_noutputs(ctx); o++)
        if ((rc = pydron_ctx_output_set(ctx, o, &s, sizeof s)) != 0)
            return rc;
    return 0;
}

/* Body "fail": fails with "boom <payload>". */
static inline int tu_fn_fail(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    pydron_ctx_fail(ctx, "boom %llu", (unsigned long long)tu_payload_u64(ctx));
    return PYDRON_ETASK;
}

static inline uint32_t tu_kind_c(pydron_runtime *rt, const char *name, pydron_c_fn fn, void *user)
{
    uint32_t k = 0;
    TU_OK(pydron_runtime_register_c(rt, name, fn, user, &k));
    return k;
}

/* ------------------------------------------------------------------------
 * A custom executor for tests ("tuex").
 *
 * Jobs are queued on submit. They complete either on the driver thread in
 * poll() or on a helper thread, in an order (and, on the thread, after a
 * delay) drawn from a seeded PRNG. It records the order in which the core
 * submitted tasks, so policy tests can observe pick order, and checks the
 * in-flight limit it announced.
 * ------------------------------------------------------------------------ */
#define TUEX_MAX_LOG 4096
typedef struct tuex {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    tu_rng rng;
    unsigned nworkers, in_flight;
    int threaded;            /* 1: complete on a helper thread */
    unsigned max_delay_us;   /* threaded: random delay up to this */
    pydron_exec_host *host;
    pydron_job **q;          /* queued, not yet completed */
    unsigned *qworker;
    size_t nq, capq;
    unsigned *outstanding;   /* per worker */
    int over_limit;          /* set if the core exceeded in_flight */
    int bad_worker;          /* set if submit got a worker >= nworkers */
    int started, stopped, destroyed;
    int stop_thread;
    pthread_t th;
    uint64_t submitted;      /* jobs submitted in total */
    uint64_t order[TUEX_MAX_LOG]; /* task ids in submit order */
    size_t norder;
    char bad_kind[128];      /* a job kind name that was not expected */
    const char *only_kind;   /* if set: every submitted job must be of this kind */
} tuex;

static inline void tuex_complete_one(tuex *x, size_t idx)
{
    /* caller holds x->mu; run the job without the lock */
    pydron_job *j = x->q[idx];
    unsigned w = x->qworker[idx];
    x->q[idx] = x->q[x->nq - 1];
    x->qworker[idx] = x->qworker[x->nq - 1];
    x->nq--;
    pthread_mutex_unlock(&x->mu);
    int rc = pydron_job_run_local(j);
    pthread_mutex_lock(&x->mu);
    x->outstanding[w]--;
    pthread_mutex_unlock(&x->mu);
    pydron_job_done(j, rc == 0 ? 0 : PYDRON_ETASK);
    pthread_mutex_lock(&x->mu);
}

static inline void *tuex_thread(void *arg)
{
    tuex *x = (tuex *)arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->stop_thread && x->nq == 0)
            pthread_cond_wait(&x->cv, &x->mu);
        if (x->stop_thread)
            break;
        unsigned delay = x->max_delay_us ? tu_below(&x->rng, x->max_delay_us + 1) : 0;
        size_t idx = tu_below(&x->rng, (unsigned)x->nq);
        if (delay) {
            pthread_mutex_unlock(&x->mu);
            usleep(delay);
            pthread_mutex_lock(&x->mu);
            if (x->nq == 0)
                continue;
            idx = idx % x->nq;
        }
        tuex_complete_one(x, idx);
        pydron_exec_host *h = x->host;
        pthread_mutex_unlock(&x->mu);
        pydron_exec_wake(h);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static inline int tuex_start(void *self, pydron_exec_host *host, unsigned *nworkers,
                             unsigned *in_flight)
{
    tuex *x = (tuex *)self;
    x->host = host;
    x->started++;
    *nworkers = x->nworkers;
    *in_flight = x->in_flight;
    if (x->threaded)
        pthread_create(&x->th, NULL, tuex_thread, x);
    return 0;
}

static inline int tuex_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    tuex *x = (tuex *)self;
    pthread_mutex_lock(&x->mu);
    if (worker >= x->nworkers) {
        x->bad_worker = 1;
        pthread_mutex_unlock(&x->mu);
        return PYDRON_EINVAL;
    }
    if (x->nq + n > x->capq) {
        size_t cap = (x->nq + n) * 2 + 16;
        x->q = (pydron_job **)realloc(x->q, cap * sizeof *x->q);
        x->qworker = (unsigned *)realloc(x->qworker, cap * sizeof *x->qworker);
        x->capq = cap;
    }
    for (size_t i = 0; i < n; i++) {
        x->q[x->nq] = jobs[i];
        x->qworker[x->nq] = worker;
        x->nq++;
        x->outstanding[worker]++;
        if (x->outstanding[worker] > x->in_flight)
            x->over_limit = 1;
        if (x->norder < TUEX_MAX_LOG)
            x->order[x->norder++] = pydron_job_task(jobs[i]).id;
        x->submitted++;
        const char *k = pydron_job_kind_name(jobs[i]);
        if (x->only_kind && (!k || strcmp(k, x->only_kind) != 0) && !x->bad_kind[0])
            snprintf(x->bad_kind, sizeof x->bad_kind, "%s", k ? k : "(null)");
    }
    pthread_cond_signal(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

static inline int tuex_poll(void *self, int timeout_ms)
{
    tuex *x = (tuex *)self;
    if (x->threaded) {
        /* completions arrive from the helper thread; just nap briefly */
        usleep(timeout_ms == 0 ? 0 : 200);
        return 0;
    }
    /* complete one random queued job; return how many completed */
    int done = 0;
    pthread_mutex_lock(&x->mu);
    if (x->nq > 0) {
        size_t idx = tu_below(&x->rng, (unsigned)x->nq);
        tuex_complete_one(x, idx);
        done = 1;
    }
    pthread_mutex_unlock(&x->mu);
    return done;
}

static inline void tuex_stop(void *self)
{
    tuex *x = (tuex *)self;
    pthread_mutex_lock(&x->mu);
    x->stopped++;
    if (x->threaded && !x->stop_thread) {
        x->stop_thread = 1;
        pthread_cond_broadcast(&x->cv);
        pthread_mutex_unlock(&x->mu);
        pthread_join(x->th, NULL);
        pthread_mutex_lock(&x->mu);
    }
    /* outstanding jobs must come back */
    while (x->nq > 0) {
        pydron_job *j = x->q[--x->nq];
        x->outstanding[x->qworker[x->nq]]--;
        pthread_mutex_unlock(&x->mu);
        pydron_job_done(j, PYDRON_ECANCELED);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
}

static inline void tuex_destroy(void *self)
{
    tuex *x = (tuex *)self;
    x->destroyed++;
}

static const pydron_executor_ops tuex_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "tuex", tuex_start, tuex_submit, tuex_poll,
    NULL, NULL, tuex_stop, tuex_destroy, NULL,
};

static inline void tuex_init(tuex *x, uint64_t seed, unsigned nworkers, unsigned in_flight,
                             int threaded, unsigned max_delay_us)
{
    memset(x, 0, sizeof *x);
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->rng.s = seed;
    x->nworkers = nworkers;
    x->in_flight = in_flight;
    x->threaded = threaded;
    x->max_delay_us = max_delay_us;
    x->outstanding = (unsigned *)calloc(nworkers, sizeof(unsigned));
}

/* Free what tuex_init allocated (after pydron_runtime_free). */
static inline void tuex_fini(tuex *x)
{
    free(x->q);
    free(x->qworker);
    free(x->outstanding);
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
}


/* A PURE task of the libffi runner calling `sym` in shared library `lib`
 * (sig: NULL for the ctx signature, else e.g. "u64(u64,u64)"). `outs` gets
 * its nout output values (may be NULL if nout == 0). */
static inline pydron_task tu_ffi_task(pydron_graph *g, pydron_runtime *rt, const char *lib,
                                      const char *sym, const char *sig, const pydron_value *in,
                                      size_t nin, size_t nout, pydron_value *outs)
{
    uint32_t k;
    TU_OK(pydron_runtime_kind(rt, PYDRON_KIND_FFI, &k));
    void *pl;
    size_t pll;
    TU_OK(pydron_ffi_payload(lib, sym, sig, &pl, &pll));
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_PURE;
    d.inputs = in;
    d.ninputs = nin;
    d.noutputs = nout;
    d.payload = pl;
    d.payload_len = pll;
    d.label = sym;
    pydron_task t;
    TU_OK(pydron_task_add(g, &d, &t, outs));
    pydron_free(pl);
    return t;
}

#endif /* PYDRON_TESTUTIL_H */
