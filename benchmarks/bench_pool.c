/* bench_pool.c - a plain thread pool for bench_core's baseline: one FIFO
 * queue under one mutex, one condition variable for idle threads, one for
 * the waiting main thread. No graph, no values, no timings: what a task
 * costs when all a runtime does is hand a closure to a thread. */
#include <pthread.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "bench_peers.h"

typedef struct item {
    uint64_t x, chain, step;
} item;

typedef struct pool {
    pthread_mutex_t mu;
    pthread_cond_t cv, done_cv;
    item *q;
    size_t head, len, cap;   /* ring */
    uint64_t ntasks, finished, chain, tail_len, nchains;
    uint64_t *results;
    uint64_t (*work)(uint64_t);
    int stop, idle;
} pool;

static void push_locked(pool *p, item it)
{
    if (p->len == p->cap) {
        size_t nc = p->cap ? p->cap * 2 : 1024;
        item *nq = malloc(nc * sizeof *nq);
        if (!nq)
            abort();
        for (size_t k = 0; k < p->len; k++)
            nq[k] = p->q[(p->head + k) % p->cap];
        free(p->q);
        p->q = nq;
        p->cap = nc;
        p->head = 0;
    }
    p->q[(p->head + p->len) % p->cap] = it;
    p->len++;
    if (p->idle)
        pthread_cond_signal(&p->cv);
}

static void *pool_main(void *arg)
{
    pool *p = arg;
    pthread_mutex_lock(&p->mu);
    for (;;) {
        while (!p->stop && !p->len) {
            p->idle++;
            pthread_cond_wait(&p->cv, &p->mu);
            p->idle--;
        }
        if (!p->len)
            break;
        item it = p->q[p->head];
        p->head = (p->head + 1) % p->cap;
        p->len--;
        pthread_mutex_unlock(&p->mu);
        it.x = p->work(it.x);
        pthread_mutex_lock(&p->mu);
        if (p->chain) {
            uint64_t len = it.chain + 1 < p->nchains ? p->chain : p->tail_len;
            if (it.step + 1 < len)
                push_locked(p, (item){it.x, it.chain, it.step + 1});
            else
                p->results[it.chain] = it.x;
        } else {
            p->results[0] = it.x;
        }
        if (++p->finished == p->ntasks)
            pthread_cond_signal(&p->done_cv);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

static uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int bench_pool_run(unsigned workers, uint64_t ntasks, uint64_t chain, uint64_t (*work)(uint64_t),
                   double *ns_per_task, uint64_t *check)
{
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    unsigned n = workers ? workers : ncpu > 0 ? (unsigned)ncpu : 1u;
    pool p = {0};
    pthread_mutex_init(&p.mu, NULL);
    pthread_cond_init(&p.cv, NULL);
    pthread_cond_init(&p.done_cv, NULL);
    p.ntasks = ntasks;
    p.chain = chain;
    p.work = work;
    p.nchains = chain ? (ntasks + chain - 1) / chain : 1;
    p.tail_len = chain && ntasks % chain ? ntasks % chain : chain;
    p.results = calloc(p.nchains, sizeof *p.results);
    pthread_t *th = calloc(n, sizeof *th);
    if (!p.results || !th)
        abort();
    for (unsigned i = 0; i < n; i++)
        if (pthread_create(&th[i], NULL, pool_main, &p) != 0)
            abort();
    uint64_t t0 = now_ns();
    uint64_t first = chain ? p.nchains : ntasks;
    for (uint64_t i = 0; i < first; i++) {
        pthread_mutex_lock(&p.mu);
        push_locked(&p, (item){0, chain ? i : 0, 0});
        pthread_mutex_unlock(&p.mu);
    }
    pthread_mutex_lock(&p.mu);
    while (p.finished < ntasks)
        pthread_cond_wait(&p.done_cv, &p.mu);
    *ns_per_task = (double)(now_ns() - t0) / (double)ntasks;
    *check = p.results[p.nchains - 1];
    p.stop = 1;
    pthread_cond_broadcast(&p.cv);
    pthread_mutex_unlock(&p.mu);
    for (unsigned i = 0; i < n; i++)
        pthread_join(th[i], NULL);
    pthread_mutex_destroy(&p.mu);
    pthread_cond_destroy(&p.cv);
    pthread_cond_destroy(&p.done_cv);
    free(p.q);
    free(p.results);
    free(th);
    return (int)n;
}
