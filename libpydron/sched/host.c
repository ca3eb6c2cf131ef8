/* Host services for executors: wake, remote fetch, worker loss. */
#include <errno.h>
#include <time.h>

#include "sched/sched.h"
#include "util/trace.h"

PYDRON_API void pydron_exec_wake(pydron_exec_host *h)
{
    if (!h)
        return;
    pydron_runtime *rt = h->rt;
    pthread_mutex_lock(&rt->mu);
    for (pydron_graph *g = rt->graphs; g; g = pdi_S(g)->next_in_rt) {
        /* under pdi_S(g)->mu so that a driver about to wait cannot miss it */
        pthread_mutex_lock(&pdi_S(g)->mu);
        g->events++;
        pthread_cond_broadcast(&pdi_S(g)->cv);
        pthread_mutex_unlock(&pdi_S(g)->mu);
    }
    pthread_mutex_unlock(&rt->mu);
}

/* Lock order: rt->mu, then pdi_S(g)->mu. */
static pydron_graph *lock_graph_of(pydron_runtime *rt, uint64_t id)
{
    pthread_mutex_lock(&rt->mu);
    pydron_graph *g = pdi_rt_graph_by_tag(rt, pdi_id_tag(id));
    if (g)
        pthread_mutex_lock(&pdi_S(g)->mu);
    pthread_mutex_unlock(&rt->mu);
    return g;
}

PYDRON_API void pydron_exec_fetched(pydron_exec_host *h, pydron_value v, int rc, const void *data,
                                    size_t len, void (*free_fn)(void *), void *free_arg)
{
    pydron_graph *g = h ? lock_graph_of(h->rt, v.id) : NULL;
    if (!g) {
        if (free_fn)
            free_fn(free_arg);
        return;
    }
    pdi_value *val = pdi_value_get(g, v.id, NULL);
    if (!val || !(val->vf & VF_FETCHING) || val->state != PYDRON_VALUE_READY) {
        if (free_fn)
            free_fn(free_arg);
    } else {
        val->vf &= (uint8_t)~VF_FETCHING;
        if (rc < 0 || (len && !data)) {
            pdi_S(g)->fetch_fail_id = v.id;
            pdi_S(g)->fetch_fail_rc = rc < 0 ? rc : PYDRON_EPROTO;
            if (free_fn)
                free_fn(free_arg);
        } else {
            pdi_out o = {data, len, free_fn, free_arg, 1, 0, {0}};
            if (pdi_value_set_bytes(g, val, &o) == 0) {
                val->vf |= VF_LOCAL;
                g->stats.bytes_to_driver += len;
            } else {
                pdi_S(g)->fetch_fail_id = v.id;
                pdi_S(g)->fetch_fail_rc = PYDRON_ENOMEM;
            }
        }
    }
    pthread_cond_broadcast(&pdi_S(g)->cv);
    pthread_mutex_unlock(&pdi_S(g)->mu);
}

int pdi_fetch_wait(pydron_graph *g, pdi_value *root, uint64_t deadline_ns)
{
    pdi_sgraph *sg = pdi_S(g);
    pydron_runtime *rt = sg->rt;
    /* root's index: it is the value reached by following aliases; the
     * caller passes the record, so recompute the id from its slab position */
    uint32_t ri = (uint32_t)(root - g->vbase);
    uint64_t id = pdi_vid(g, ri);
    uint64_t t0 = pdi_now_ns();
    if (!rt->xops->fetch)
        return pdi_err(PYDRON_ENOTSUP, "value %#llx lives on worker %d and executor '%s' cannot fetch",
                       (unsigned long long)id, root->where, rt->xops->name ? rt->xops->name : "?");
    if (!(root->vf & VF_FETCHING)) {
        root->vf |= VF_FETCHING;
        root->refs++;   /* keep the record while we wait */
        pthread_mutex_unlock(&sg->mu);
        int rc = rt->xops->fetch(rt->xself, (pydron_value){id}, (unsigned)root->where);
        pthread_mutex_lock(&sg->mu);
        if (rc < 0) {
            root->vf &= (uint8_t)~VF_FETCHING;
            pdi_value_unref(g, ri);
            return pdi_err(rc, "fetching value %#llx from worker %d failed: %s",
                           (unsigned long long)id, root->where, pydron_strerror(rc));
        }
        pdi_value_unref(g, ri);
    }
    root->refs++;
    int timed_out = 0;
    while ((root->vf & VF_FETCHING) && root->state == PYDRON_VALUE_READY) {
        sg->waiters++;
        if (deadline_ns) {
            struct timespec ts = {(time_t)(deadline_ns / 1000000000u),
                                  (long)(deadline_ns % 1000000000u)};
            /* sg->cv runs on CLOCK_MONOTONIC, as pdi_now_ns */
            timed_out = pthread_cond_timedwait(&sg->cv, &sg->mu, &ts) == ETIMEDOUT;
        } else {
            pthread_cond_wait(&sg->cv, &sg->mu);
        }
        sg->waiters--;
        if (timed_out)
            break;
    }
    int rc = 0;
    if (timed_out && (root->vf & VF_FETCHING) && root->state == PYDRON_VALUE_READY) {
        /* still on its way: the fetch goes on, a later call picks it up */
        rc = pdi_err(PYDRON_ETIMEDOUT, "value %#llx is still being fetched from worker %d",
                     (unsigned long long)id, root->where);
    } else if (root->state == PYDRON_VALUE_PENDING) {
        rc = 1;   /* lost with its worker and being recomputed */
    } else if (root->state != PYDRON_VALUE_READY) {
        rc = pdi_err(PYDRON_ETASK, "value %#llx was lost while fetching it", (unsigned long long)id);
    } else if (!pdi_value_has_bytes(root)) {
        int frc = sg->fetch_fail_id == id ? sg->fetch_fail_rc : PYDRON_EIO;
        rc = pdi_err(frc, "fetching value %#llx from worker %d failed: %s", (unsigned long long)id,
                     root->where, pydron_strerror(frc));
    }
    /* traced whether or not the fetch was still under way when the loop
     * above looked: the lock is released around the executor's fetch call,
     * and a fetch done by then was a fetch all the same */
    if (PDI_UNLIKELY(pdi_tracing()) && rc == 0)
        pdi_trace_transfer("fetch to driver", t0, pdi_now_ns(), root->len, root->where, -1);
    pdi_value_unref(g, ri);
    return rc;
}

/* Values whose only copy was on the lost worker are recomputed when their
 * producer can run again, else they fail (graph/graph.c); jobs in flight on
 * that worker come back through pydron_job_done with PYDRON_EIO and are
 * retried by the core. */
PYDRON_API void pydron_exec_worker_lost(pydron_exec_host *h, unsigned worker)
{
    if (!h)
        return;
    pydron_runtime *rt = h->rt;
    pthread_mutex_lock(&rt->mu);
    /* no more work for it until the executor says a replacement is there:
     * its share goes to the others, not to whichever one the executor
     * would divert it to */
    if (rt->xstarted && worker < rt->nworkers && !atomic_exchange(&rt->down[worker], 1))
        atomic_fetch_add(&rt->ndown, 1);
    for (pydron_graph *g = rt->graphs; g; g = pdi_S(g)->next_in_rt) {
        pthread_mutex_lock(&pdi_S(g)->mu);
        pdi_worker_lost_locked(g, worker);
        pdi_sched_drain(g);
        if (g->started && !g->canceled && !g->freeing)
            g->events++;
        pthread_cond_broadcast(&pdi_S(g)->cv);
        pthread_mutex_unlock(&pdi_S(g)->mu);
    }
    pthread_mutex_unlock(&rt->mu);
}

PYDRON_API void pydron_exec_worker_ready(pydron_exec_host *h, unsigned worker)
{
    if (!h)
        return;
    pydron_runtime *rt = h->rt;
    pthread_mutex_lock(&rt->mu);
    if (!rt->xstarted || worker >= rt->nworkers || !atomic_exchange(&rt->down[worker], 0)) {
        pthread_mutex_unlock(&rt->mu);
        return;
    }
    atomic_fetch_sub(&rt->ndown, 1);
    atomic_store(&rt->window[worker], 0); /* a new worker: measured afresh */
    /* work queued meanwhile goes to it now, not at the next completion
     * (which, with tasks of seconds, may be seconds away) */
    for (pydron_graph *g = rt->graphs; g; g = pdi_S(g)->next_in_rt) {
        pthread_mutex_lock(&pdi_S(g)->mu);
        if (g->started && !g->canceled && !g->freeing)
            pdi_dispatch(g);
        g->events++;
        pthread_cond_broadcast(&pdi_S(g)->cv);
        pthread_mutex_unlock(&pdi_S(g)->mu);
    }
    pthread_mutex_unlock(&rt->mu);
}

PYDRON_API int pydron_exec_set_window(pydron_exec_host *h, unsigned worker, unsigned depth)
{
    pdi_err_clear();
    if (!h)
        return pdi_err(PYDRON_EINVAL, "pydron_exec_set_window: NULL host");
    pydron_runtime *rt = h->rt;
    /* the arrays exist from start on and never move: no lock needed */
    if (!atomic_load(&rt->window_ready) || worker >= rt->nworkers)
        return pdi_err(PYDRON_EINVAL, "pydron_exec_set_window: no worker %u", worker);
    atomic_store(&rt->window[worker], depth);
    return 0;
}

int pdi_rt_start_executor(pydron_runtime *rt)
{
    int rc = 0;
    pthread_mutex_lock(&rt->mu);
    if (!rt->xstarted) {
        unsigned nw = 0, inf = 0;
        rc = rt->xops->start(rt->xself, &rt->host, &nw, &inf);
        if (rc == 0) {
            if (nw == 0)
                nw = 1;
            if (inf == 0)
                inf = rt->opts.in_flight ? rt->opts.in_flight : 64;
            rt->inflight = calloc(nw, sizeof *rt->inflight);
            rt->window = calloc(nw, sizeof *rt->window);
            rt->down = calloc(nw, sizeof *rt->down);
            if (!rt->inflight || !rt->window || !rt->down) {
                free((void *)rt->inflight);
                free((void *)rt->window);
                free((void *)rt->down);
                rt->inflight = NULL;
                rt->window = NULL;
                rt->down = NULL;
                rt->xops->stop(rt->xself);
                rc = pdi_err(PYDRON_ENOMEM, "cannot allocate worker table");
            } else {
                rt->nworkers = nw;
                rt->in_flight = inf;
                rt->xstarted = 1;
                atomic_store(&rt->window_ready, 1);
            }
        } else if (!pydron_error_last()[0]) {
            pdi_err(rc, "executor '%s' failed to start", rt->xops->name ? rt->xops->name : "?");
        }
    }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

pydron_graph *pdi_rt_graph_by_tag(pydron_runtime *rt, uint32_t tag)
{
    for (pydron_graph *g = rt->graphs; g; g = pdi_S(g)->next_in_rt)
        if (g->tag == tag)
            return g;
    return NULL;
}

/* A graph was canceled: queued jobs come back now (ECANCELED), through the
 * executor's recall (ops version 2). Called without any lock. */
void pdi_exec_recall(pydron_runtime *rt)
{
    pthread_mutex_lock(&rt->mu);
    int started = rt->xstarted;
    pthread_mutex_unlock(&rt->mu);
    if (started && rt->xops->version >= 2 && rt->xops->recall)
        rt->xops->recall(rt->xself);
}
