/* oot_executor.c - "oot", a thread-pool executor built only on pydron.h.
 *
 * Jobs wait in one FIFO queue (a growable ring) guarded by a mutex; N pool
 * threads take them, run them with the runtime's runner
 * (pydron_job_run_local) and report them with pydron_job_done. submit and
 * recall never block on a job: they only touch the queue. Contract points
 * (see pydron.h, "Executors"): pydron_job_done is never called with our
 * lock held (it may call submit again); canceled jobs come back as
 * PYDRON_ECANCELED, at once through recall, else when a thread reaches
 * them; stop makes every queued job come back as canceled. */
#define _GNU_SOURCE
#include "oot_executor.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

typedef struct oot {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pydron_job **ring;
    size_t head, len, cap;
    pthread_t *th;
    unsigned nth, started;
    int stopping;
} oot;

static int push_locked(oot *x, pydron_job *const *jobs, size_t n)
{
    if (x->len + n > x->cap) {
        size_t nc = x->cap ? x->cap : 32;
        while (nc < x->len + n)
            nc *= 2;
        pydron_job **r = malloc(nc * sizeof *r);
        if (!r)
            return PYDRON_ENOMEM;
        for (size_t k = 0; k < x->len; k++)
            r[k] = x->ring[(x->head + k) % x->cap];
        free(x->ring);
        x->ring = r;
        x->cap = nc;
        x->head = 0;
    }
    for (size_t k = 0; k < n; k++)
        x->ring[(x->head + x->len++) % x->cap] = jobs[k];
    return 0;
}

static void *pool_main(void *arg)
{
    oot *x = arg;
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->stopping && !x->len)
            pthread_cond_wait(&x->cv, &x->mu);
        if (!x->len)
            break;
        pydron_job *j = x->ring[x->head];
        x->head = (x->head + 1) % x->cap;
        x->len--;
        int stopping = x->stopping;
        pthread_mutex_unlock(&x->mu);
        if (stopping || pydron_job_canceled(j))
            pydron_job_done(j, PYDRON_ECANCELED);
        else
            pydron_job_done(j, pydron_job_run_local(j));
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static int oot_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)host;
    oot *x = self;
    x->th = calloc(x->nth, sizeof *x->th);
    if (!x->th)
        return PYDRON_ENOMEM;
    for (unsigned i = 0; i < x->nth; i++) {
        if (pthread_create(&x->th[i], NULL, pool_main, x) != 0)
            break;
        x->started++;
    }
    if (!x->started)
        return PYDRON_EIO;
    *nworkers = 1;
    *in_flight = 8 * x->started;
    return 0;
}

static int oot_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)worker;
    oot *x = self;
    pthread_mutex_lock(&x->mu);
    int rc = x->stopping ? PYDRON_ECLOSED : push_locked(x, jobs, n);
    if (rc == 0)
        pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return rc;
}

static void oot_recall(void *self)
{
    oot *x = self;
    for (;;) {
        pydron_job *back[32];
        size_t nb = 0, keep = 0;
        pthread_mutex_lock(&x->mu);
        for (size_t k = 0; k < x->len; k++) {
            pydron_job *j = x->ring[(x->head + k) % x->cap];
            if (nb < 32 && pydron_job_canceled(j))
                back[nb++] = j;
            else
                x->ring[(x->head + keep++) % x->cap] = j;
        }
        x->len = keep;
        pthread_mutex_unlock(&x->mu);
        for (size_t k = 0; k < nb; k++)
            pydron_job_done(back[k], PYDRON_ECANCELED);
        if (nb < 32)
            return;
    }
}

static void oot_stop(void *self)
{
    oot *x = self;
    pthread_mutex_lock(&x->mu);
    x->stopping = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    for (unsigned i = 0; i < x->started; i++)
        pthread_join(x->th[i], NULL);
    x->started = 0;
}

static void oot_destroy(void *self)
{
    oot *x = self;
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    free(x->ring);
    free(x->th);
    free(x);
}

static const pydron_executor_ops oot_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "oot", oot_start, oot_submit, NULL, NULL, NULL,
    oot_stop, oot_destroy, oot_recall};

static int oot_create(void *user, const pydron_runtime_options *opts, const void *exec_options,
                      const pydron_executor_ops **ops, void **self)
{
    (void)user;
    oot *x = calloc(1, sizeof *x);
    if (!x)
        return PYDRON_ENOMEM;
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    x->nth = exec_options ? *(const unsigned *)exec_options : opts->workers ? opts->workers : 2;
    if (x->nth == 0 || x->nth > 256)
        x->nth = 2;
    *ops = &oot_ops;
    *self = x;
    return 0;
}

int oot_executor_register(const char *name)
{
    pydron_executor_desc d = PYDRON_EXECUTOR_DESC_INIT;
    d.name = name;
    d.create = oot_create;
    return pydron_executor_register(&d);
}
