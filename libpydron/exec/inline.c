/* The inline executor: jobs run on the driver thread, inside
 * pydron_graph_wait/run (poll), in the order they were submitted.
 * Deterministic; meant for tests, debugging and the C benchmark.
 * Written against pydron.h alone (plus util/), like an outside executor. */
#include <pthread.h>

#include "pydron.h"
#include "util/util.h"

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

/* Run the jobs queued at entry; returns how many ran. Only one thread
 * polls at a time per batch (a concurrent poller finds an empty queue). */
static int inl_poll(void *self, int timeout_ms)
{
    (void)timeout_ms;
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
    for (size_t i = 0; i < n; i++) {
        pydron_job *j = batch[i];
        if (pydron_job_canceled(j)) {
            pydron_job_done(j, PYDRON_ECANCELED);
            continue;
        }
        int rc = pydron_job_run_local(j);
        pydron_job_done(j, rc);
    }
    pthread_mutex_lock(&x->mu);
    if (!x->run) {
        x->run = batch;
        x->runcap = bcap;
    } else {
        free(batch);
    }
    pthread_mutex_unlock(&x->mu);
    return (int)n;
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
    inl_stop, inl_destroy};

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
