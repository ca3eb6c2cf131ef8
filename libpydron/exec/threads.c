/* The threads executor: a fixed pool of threads sharing one job queue
 * (mutex + condvar). Bodies run on pool threads; pydron_job_done is called
 * from there. Size: opts.workers, else the number of online CPUs.
 * Written against pydron.h alone (plus util/), like an outside executor. */
#include <pthread.h>
#include <unistd.h>

#include "pydron.h"
#include "util/ring.h"
#include "util/util.h"

typedef struct thr {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pdi_ring q;          /* of pydron_job * */
    pthread_t *th;
    unsigned n, started;
    unsigned in_flight;
    int stop;
} thr;

/* A pool thread takes up to TH_GROUP queued jobs at a time and reports
 * them with one pydron_jobs_done (one graph lock and one dispatch per group):
 * tiny tasks then cost a fraction of a lock each. It takes at most its
 * share of the queue, and one job at a time again once its jobs take
 * longer than TH_TINY_NS each, so that long tasks are not held back behind
 * each other on one thread while another idles. */
#define TH_GROUP 16
#define TH_TINY_NS 20000u

static void *worker_main(void *arg)
{
    thr *x = arg;
    pydron_job *jobs[TH_GROUP];
    int rcs[TH_GROUP];
    int tiny = 1;   /* the last group's jobs were tiny */
    pthread_mutex_lock(&x->mu);
    for (;;) {
        while (!x->stop && !pdi_ring_len(&x->q))
            pthread_cond_wait(&x->cv, &x->mu);
        size_t len = pdi_ring_len(&x->q);
        if (!len)
            break;   /* stopping and drained */
        size_t share = (len + 2 * (size_t)x->n - 1) / (2 * (size_t)x->n);
        size_t m = tiny ? (share < TH_GROUP ? share : TH_GROUP) : 1;
        for (size_t k = 0; k < m; k++)
            (void)pdi_ring_pop(&x->q, &jobs[k], sizeof jobs[k]);
        int stopping = x->stop;
        pthread_mutex_unlock(&x->mu);
        uint64_t t0 = pdi_now_ns();
        for (size_t k = 0; k < m; k++)
            rcs[k] = stopping || pydron_job_canceled(jobs[k]) ? PYDRON_ECANCELED
                                                              : pydron_job_run_local(jobs[k]);
        tiny = pdi_now_ns() - t0 < (uint64_t)m * TH_TINY_NS;
        pydron_jobs_done(jobs, rcs, m);
        pthread_mutex_lock(&x->mu);
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static int thr_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)host;
    thr *x = self;
    x->th = calloc(x->n, sizeof *x->th);
    if (!x->th)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the thread pool");
    for (unsigned i = 0; i < x->n; i++) {
        if (pthread_create(&x->th[i], NULL, worker_main, x) != 0) {
            pthread_mutex_lock(&x->mu);
            x->stop = 1;
            pthread_cond_broadcast(&x->cv);
            pthread_mutex_unlock(&x->mu);
            for (unsigned k = 0; k < i; k++)
                pthread_join(x->th[k], NULL);
            free(x->th);
            x->th = NULL;
            return pdi_err(PYDRON_EIO, "cannot start pool thread %u", i);
        }
        x->started++;
    }
    *nworkers = 1;   /* one location: all threads share the address space */
    *in_flight = x->in_flight;
    return 0;
}

static int thr_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)worker;
    thr *x = self;
    pthread_mutex_lock(&x->mu);
    if (x->stop) {
        pthread_mutex_unlock(&x->mu);
        return pdi_err(PYDRON_ECLOSED, "the thread pool is stopping");
    }
    /* room for all of them first: the core fails the whole batch on error */
    while (x->q.cap - pdi_ring_len(&x->q) < n) {
        if (pdi_ring_grow(&x->q, sizeof(pydron_job *)) != 0) {
            pthread_mutex_unlock(&x->mu);
            return pdi_err(PYDRON_ENOMEM, "cannot grow the job queue");
        }
    }
    for (size_t k = 0; k < n; k++)
        (void)pdi_ring_push(&x->q, &jobs[k], sizeof jobs[k]);
    if (n == 1)
        pthread_cond_signal(&x->cv);
    else
        pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

/* Queued jobs of a canceled graph come back now (not when a pool thread
 * reaches them), so that pydron_graph_cancel is synchronous. */
static void thr_recall(void *self)
{
    thr *x = self;
    pydron_job *back[64];
    for (;;) {
        size_t nb = 0;
        pthread_mutex_lock(&x->mu);
        /* once around the ring: canceled ones out, the rest back in order
         * (a push after a pop never needs to grow) */
        for (size_t k = 0, len = pdi_ring_len(&x->q); k < len; k++) {
            pydron_job *j = NULL;
            (void)pdi_ring_pop(&x->q, &j, sizeof j);
            if (nb < 64 && pydron_job_canceled(j))
                back[nb++] = j;
            else
                (void)pdi_ring_push(&x->q, &j, sizeof j);
        }
        pthread_mutex_unlock(&x->mu);
        for (size_t k = 0; k < nb; k++)
            pydron_job_done(back[k], PYDRON_ECANCELED);
        if (nb < 64)
            break;
    }
}

static void thr_stop(void *self)
{
    thr *x = self;
    pthread_mutex_lock(&x->mu);
    x->stop = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    for (unsigned i = 0; i < x->started; i++)
        pthread_join(x->th[i], NULL);
    x->started = 0;
    /* nothing can remain: threads drain the queue (as canceled) before exiting */
}

static void thr_destroy(void *self)
{
    thr *x = self;
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    pdi_ring_free(&x->q);
    free(x->th);
    free(x);
}

static const pydron_executor_ops threads_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "threads", thr_start, thr_submit, NULL, NULL, NULL,
    thr_stop, thr_destroy, thr_recall};

int pdi_exec_create_threads(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    (void)exec_options;
    thr *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the threads executor");
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    x->n = opts && opts->workers ? opts->workers : ncpu > 0 ? (unsigned)ncpu : 1u;
    if (x->n > 4096)
        x->n = 4096;
    unsigned inf = opts && opts->in_flight ? opts->in_flight : 4 * x->n;
    x->in_flight = inf < 64 ? 64 : inf;
    *ops = &threads_ops;
    *self = x;
    return 0;
}
