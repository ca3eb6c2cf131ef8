/* The inline executor: jobs run on the driver thread, inside
 * pydron_graph_wait/run (poll), in the order they were submitted.
 * Deterministic; meant for tests, debugging and the C benchmark.
 * Written against pydron.h alone (plus util/), like an outside executor,
 * but for pdi_job_run_timed (exec/exec.h), which saves clock reads. */
#include <pthread.h>

#include "exec/exec.h"
#include "pydron.h"
#include "util/util.h"

/* jobs run before they are reported together */
#define INL_GROUP 64

typedef struct inl {
    pthread_mutex_t mu;
    pydron_job **q;
    size_t len, cap;
    pydron_job **run;   /* batch being run by poll */
    size_t runcap;
} inl;

static int inl_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)self;
    (void)host;
    *nworkers = 1;
    if (!*in_flight)
        *in_flight = 256;
    return 0;
}

static int inl_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)worker;
    inl *x = self;
    pthread_mutex_lock(&x->mu);
    int rc = pdi_grow((void **)&x->q, &x->cap, x->len + n, sizeof *x->q);
    if (rc == 0) {
        memcpy(x->q + x->len, jobs, n * sizeof *jobs);
        x->len += n;
    }
    pthread_mutex_unlock(&x->mu);
    return rc;
}

/* Run the jobs queued at entry, for about max(timeout_ms, 1) ms at most
 * (at least one job): the driver checks its deadline between polls, so a
 * chain of slow tasks cannot keep pydron_graph_wait past its timeout.
 * Jobs not reached go back to the front of the queue. Returns how many
 * ran. Only one thread polls at a time per batch (a concurrent poller finds
 * an empty queue). */
static int inl_poll(void *self, int timeout_ms)
{
    inl *x = self;
    pthread_mutex_lock(&x->mu);
    size_t n = x->len;
    if (!n) {
        pthread_mutex_unlock(&x->mu);
        return 0;
    }
    pydron_job **batch = x->q;
    size_t bcap = x->cap;
    /* swap buffers so submits during the batch go to a fresh queue */
    x->q = x->run;
    x->cap = x->runcap;
    x->len = 0;
    x->run = NULL;
    x->runcap = 0;
    pthread_mutex_unlock(&x->mu);
    uint64_t slice = (uint64_t)(timeout_ms > 1 ? timeout_ms : 1) * 1000000u;
    uint64_t t0 = pdi_now_ns();
    size_t i = 0;
    /* run a group, then report it with one pydron_jobs_done (one graph lock
     * and one dispatch per group instead of per job); a group ends early
     * when the slice is used up */
    int rcs[INL_GROUP];
    pdi_jtimer tm;
    pdi_jtimer_init(&tm, t0);
    while (i < n) {
        size_t m = 0;
        int late = 0;
        /* the clock is read after each report; within a group, a job starts
         * when the one before ended (pdi_job_run_timed) */
        if (i)
            pdi_jtimer_restart(&tm, pdi_now_ns());
        while (m < INL_GROUP && i + m < n) {
            if ((i > 0 || m > 0) && tm.from - t0 >= slice) {
                late = 1;
                break;
            }
            pydron_job *j = batch[i + m];
            rcs[m++] = pdi_job_run_timed(j, &tm);   /* ECANCELED if canceled */
        }
        (void)pdi_jtimer_flush(&tm);
        pydron_jobs_done(batch + i, rcs, m);
        i += m;
        if (late)
            break;
    }
    pthread_mutex_lock(&x->mu);
    if (i < n) {
        /* the rest first, then what was submitted meanwhile */
        size_t rest = n - i;
        if (pdi_grow((void **)&batch, &bcap, rest + x->len, sizeof *batch) == 0) {
            memmove(batch, batch + i, rest * sizeof *batch);
            if (x->len)
                memcpy(batch + rest, x->q, x->len * sizeof *batch);
            pydron_job **old = x->q;
            size_t oldcap = x->cap;
            x->q = batch;
            x->cap = bcap;
            x->len += rest;
            batch = old;
            bcap = oldcap;
        } else {
            /* cannot requeue: finish the batch (late, but nothing is lost) */
            pthread_mutex_unlock(&x->mu);
            for (; i < n; i++)
                pydron_job_done(batch[i], pydron_job_canceled(batch[i])
                                              ? PYDRON_ECANCELED
                                              : pydron_job_run_local(batch[i]));
            pthread_mutex_lock(&x->mu);
        }
    }
    if (!x->run) {
        x->run = batch;
        x->runcap = bcap;
    } else {
        free(batch);
    }
    pthread_mutex_unlock(&x->mu);
    return (int)i;
}

/* Queued jobs of a canceled graph come back now. */
static void inl_recall(void *self)
{
    inl *x = self;
    pydron_job *back[64];
    for (;;) {
        size_t nb = 0;
        pthread_mutex_lock(&x->mu);
        size_t keep = 0;
        for (size_t k = 0; k < x->len; k++) {
            if (nb < 64 && pydron_job_canceled(x->q[k]))
                back[nb++] = x->q[k];
            else
                x->q[keep++] = x->q[k];
        }
        x->len = keep;
        pthread_mutex_unlock(&x->mu);
        /* outside our lock: done may submit again */
        for (size_t k = 0; k < nb; k++)
            pydron_job_done(back[k], PYDRON_ECANCELED);
        if (nb < 64)
            break;
    }
}

static void inl_stop(void *self)
{
    inl *x = self;
    /* outstanding jobs come back canceled */
    for (;;) {
        pthread_mutex_lock(&x->mu);
        size_t n = x->len;
        pydron_job **q = x->q;
        x->q = NULL;
        x->len = x->cap = 0;
        pthread_mutex_unlock(&x->mu);
        if (!n) {
            free(q);
            break;
        }
        for (size_t i = 0; i < n; i++)
            pydron_job_done(q[i], PYDRON_ECANCELED);
        free(q);
    }
}

static void inl_destroy(void *self)
{
    inl *x = self;
    pthread_mutex_destroy(&x->mu);
    free(x->q);
    free(x->run);
    free(x);
}

static const pydron_executor_ops inline_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "inline", inl_start, inl_submit, inl_poll, NULL, NULL,
    inl_stop, inl_destroy, inl_recall};

int pdi_exec_create_inline(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    (void)exec_options;
    (void)opts;
    inl *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the inline executor");
    pthread_mutex_init(&x->mu, NULL);
    *ops = &inline_ops;
    *self = x;
    return 0;
}
