/* Readiness, dispatch to the executor and the driver loop (wait/run).
 *
 * SYNC tasks and refinements never go to the executor: the driver thread
 * runs them inside pydron_graph_wait/run. A SYNC task runs only when it is
 * the minimum (by tick, then add order) of the heap of unfinished SYNC
 * tasks and unrefined REFINABLE tasks. Refinements run as soon as their
 * inputs are ready (they run ahead of the tasks they create). */
#include <errno.h>

#include "graph/core.h"

/* ------------------------------------------------------------ driver heap */

static int heap_less(pydron_graph *g, uint32_t a, uint32_t b)
{
    pdi_task *ta = pdi_T(g, a), *tb = pdi_T(g, b);
    int c = pdi_tick_cmp(pdi_task_tick(ta), ta->tick_len, pdi_task_tick(tb), tb->tick_len);
    if (c)
        return c < 0;
    return (int32_t)(ta->seq - tb->seq) < 0;
}

static void heap_set(pydron_graph *g, size_t pos, uint32_t ti)
{
    g->heap[pos] = ti;
    pdi_T(g, ti)->hpos = (uint32_t)pos;
}

static void heap_up(pydron_graph *g, size_t pos)
{
    uint32_t ti = g->heap[pos];
    while (pos > 0) {
        size_t parent = (pos - 1) / 2;
        if (!heap_less(g, ti, g->heap[parent]))
            break;
        heap_set(g, pos, g->heap[parent]);
        pos = parent;
    }
    heap_set(g, pos, ti);
}

static void heap_down(pydron_graph *g, size_t pos)
{
    uint32_t ti = g->heap[pos];
    for (;;) {
        size_t l = 2 * pos + 1, m = pos;
        uint32_t best = ti;
        if (l < g->nheap && heap_less(g, g->heap[l], best))
            m = l, best = g->heap[l];
        if (l + 1 < g->nheap && heap_less(g, g->heap[l + 1], best))
            m = l + 1, best = g->heap[l + 1];
        if (m == pos)
            break;
        heap_set(g, pos, best);
        pos = m;
    }
    heap_set(g, pos, ti);
}

int pdi_heap_reserve(pydron_graph *g)
{
    return pdi_grow((void **)&g->heap, &g->capheap, g->nheap + 1, sizeof(uint32_t));
}

void pdi_heap_insert(pydron_graph *g, uint32_t ti)
{
    /* the slot was reserved when the task was added (pdi_heap_reserve), where
     * running out of memory is an error of pydron_task_add */
    if (g->nheap >= g->capheap)
        abort();   /* broken invariant, not an allocation failure */
    g->heap[g->nheap] = ti;
    heap_up(g, g->nheap++);
}

void pdi_heap_remove(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    size_t pos = t->hpos;
    t->hpos = PDI_NOPOS;
    if (pos >= g->nheap || g->heap[pos] != ti)
        return;
    uint32_t last = g->heap[--g->nheap];
    if (pos == g->nheap)
        return;
    heap_set(g, pos, last);
    heap_up(g, pos);
    heap_down(g, pdi_T(g, last)->hpos);
}

/* ------------------------------------------------------------ readiness */

void pdi_wake(pydron_graph *g)
{
    g->events++;
    if (g->waiters)
        pthread_cond_broadcast(&g->cv);
}

void pdi_wake_value(pydron_graph *g, uint32_t vi)
{
    g->events++;
    if (g->waiters > (unsigned)g->drv_waiting || (g->drv_waiting && g->drv_vi == vi))
        pthread_cond_broadcast(&g->cv);
}

void pdi_wake_done(pydron_graph *g, const pdi_task *t)
{
    g->events++;
    if (g->waiters > (unsigned)g->drv_waiting ||
        (g->drv_waiting && (g->pending == 0 || (t->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)))))
        pthread_cond_broadcast(&g->cv);
}

void pdi_kstat_add(pydron_graph *g, uint32_t kind, double seconds)
{
    if (kind >= g->kcap) {
        size_t nc = g->kcap ? g->kcap : 16;
        while (nc <= kind)
            nc *= 2;
        double *s = realloc(g->ksum, nc * sizeof *s);
        if (!s)
            return;
        g->ksum = s;
        uint32_t *c = realloc(g->kcnt, nc * sizeof *c);
        if (!c)
            return;
        g->kcnt = c;
        memset(g->ksum + g->kcap, 0, (nc - g->kcap) * sizeof *s);
        memset(g->kcnt + g->kcap, 0, (nc - g->kcap) * sizeof *c);
        g->kcap = nc;
    }
    g->ksum[kind] += seconds;
    g->kcnt[kind]++;
}

double pdi_task_duration(pydron_graph *g, pdi_task *t)
{
    if (t->duration > 0)
        return t->duration;
    if (t->kind < g->kcap && g->kcnt[t->kind])
        return g->ksum[t->kind] / g->kcnt[t->kind];
    return 0;
}

/* Longest remaining path from ti (estimate): a bounded walk over the
 * consumers of its pending outputs. Each hop counts at least 1 us so that
 * graphs without any timing information still prefer long chains. */
static double bottom_level(pydron_graph *g, uint32_t ti, int depth, int *budget)
{
    pdi_task *t = pdi_T(g, ti);
    double d = pdi_task_duration(g, t);
    if (d < 1e-6)
        d = 1e-6;
    if (depth >= 24 || --*budget <= 0)
        return d;
    double best = 0;
    uint32_t *outs = pdi_task_outs(t);
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *v = pdi_V(g, outs[i]);
        if (v->state != PYDRON_VALUE_PENDING)
            continue;
        size_t n = (size_t)v->len;
        const uint32_t *c = (v->vf & VF_CONSHEAP) ? v->u.cp : v->u.cin;
        for (size_t k = 0; k < n && *budget > 0; k++) {
            if (c[k] & PDI_CONS_FWD)
                continue;
            pdi_task *ct = pdi_T(g, c[k]);
            if (ct->state != PYDRON_TASK_WAITING || (ct->bits & TB_ZOMBIE))
                continue;
            double b = bottom_level(g, c[k], depth + 1, budget);
            if (b > best)
                best = b;
        }
    }
    return d + best;
}

void pdi_task_became_ready(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    t->state = PYDRON_TASK_READY;
    t->queued_ns = g->now_hint ? g->now_hint : pdi_now_ns();
    if (t->flags & PYDRON_TASK_REFINABLE) {
        /* room was reserved when the task was added (pdi_refq_reserve) */
        if (g->refq_promised)
            g->refq_promised--;
        if (pdi_ring_push(&g->refq, &ti, sizeof ti))
            abort();   /* broken invariant: the push had to allocate, and failed */
        pdi_wake(g);
        return;
    }
    if (t->flags & PYDRON_TASK_SYNC) {
        pdi_wake(g);
        return;
    }
    /* PURE: queue for the policy; pushed at the next dispatch. Out of memory
     * for the queue: the task stays READY but unqueued, and the next
     * dispatch finds it (pdi_flush_ready) - no allocation can fail it. */
    if (pdi_grow((void **)&g->newready, &g->capnewready, g->nnewready + 1, sizeof(uint64_t)) != 0) {
        g->ready_lost = 1;
        return;
    }
    g->newready[g->nnewready++] = pdi_tid(g, ti);
    t->bits |= TB_QUEUED;
    g->nqueued++;
}

static void push_policy(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    uint64_t sizes_st[16];
    int32_t where_st[16];
    uint64_t *sizes = sizes_st;
    int32_t *where = where_st;
    if (t->nin > 16) {
        sizes = malloc(t->nin * sizeof *sizes);
        where = malloc(t->nin * sizeof *where);
        if (!sizes || !where) {
            free(sizes);
            free(where);
            sizes = NULL;
            where = NULL;
        }
    }
    pydron_sched_task st;
    st.task.id = pdi_tid(g, ti);
    st.kind = t->kind;
    st.duration = pdi_task_duration(g, t);
    st.seq = ++g->ready_seq;
    if (!g->need_loc && sizes == sizes_st)
        sizes = NULL;   /* fifo / critical path do not read them */
    st.ninputs = sizes ? t->nin : 0;
    st.input_sizes = sizes;
    st.input_where = where;
    if (sizes) {
        uint32_t *ins = pdi_task_ins(t);
        for (uint16_t i = 0; i < t->nin; i++) {
            pdi_value *r = pdi_value_root(g, pdi_V(g, ins[i]));
            sizes[i] = r->len;
            where[i] = (r->vf & VF_REMOTE) ? r->where : -1;
        }
    }
    int budget = 256;
    st.bottom_level = g->need_bl ? bottom_level(g, ti, 0, &budget) : st.duration;
    if (g->pops->push(g->pself, &st) != 0) {
        t->bits &= (uint8_t)~TB_QUEUED;
        g->nqueued--;
        pdi_error *e = pdi_error_new(st.task.id, PYDRON_ETASK,
                                     pdi_asprintf("the scheduling policy '%s' refused the task",
                                                  g->pops->name ? g->pops->name : "?"),
                                     NULL, 0);
        pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, NULL);
        if (e)
            pdi_error_unref(e);
    }
    if (sizes && sizes != sizes_st) {
        free(sizes);
        free(where);
    }
}

void pdi_flush_ready(pydron_graph *g)
{
    /* in readiness order; pushing may fail a task, which never adds here */
    for (size_t k = 0; k < g->nnewready; k++) {
        uint32_t ti;
        pdi_task *t = pdi_task_get(g, g->newready[k], &ti);
        if (t && t->state == PYDRON_TASK_READY && (t->bits & TB_QUEUED))
            push_policy(g, ti);
    }
    g->nnewready = 0;
    if (g->capnewready > 65536) {
        free(g->newready);
        g->newready = NULL;
        g->capnewready = 0;
    }
    if (g->ready_lost) {
        /* tasks that became ready while the queue could not grow (or whose
         * job could not be allocated): READY, not SYNC or REFINABLE, and in
         * no queue. A scan of the records, only after running out of memory. */
        g->ready_lost = 0;
        for (uint32_t i = 1; i <= g->tcount; i++) {
            pdi_task *t = pdi_T(g, i);
            if (t->state != PYDRON_TASK_READY ||
                (t->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)) ||
                (t->bits & (TB_QUEUED | TB_ZOMBIE)))
                continue;
            t->bits |= TB_QUEUED;
            g->nqueued++;
            push_policy(g, i);
        }
    }
}

int pdi_refq_reserve(pydron_graph *g)
{
    /* every REFINABLE task is queued once at most (it is refined, or fails,
     * and never becomes ready again) */
    return pdi_ring_reserve(&g->refq, pdi_ring_len(&g->refq) + g->refq_promised + 1,
                            sizeof(uint32_t));
}

/* ------------------------------------------------------------ dispatch */

#define BATCH 64
/* Jobs in flight on every worker above which a task added by the host waits
 * in the queue instead of being sent on its own (see pdi_dispatch_on_add). */
#define COALESCE_LOW 4

int pdi_dispatch_on_add(pydron_graph *g)
{
    /* Send at once while some worker is short of work (latency), or when a
     * whole batch is queued. Otherwise every worker has COALESCE_LOW jobs
     * in flight, so a completion will come and dispatch the queue as one
     * batch per worker: one message for many adds instead of one each (the
     * per-task cost of a tight submit loop is the send). */
    pydron_runtime *rt = g->rt;
    if (g->nqueued >= BATCH || rt->nworkers == 0 || g->ready_lost)
        return 1;
    for (unsigned w = 0; w < rt->nworkers; w++)
        if (atomic_load(&rt->inflight[w]) < COALESCE_LOW)
            return 1;
    return 0;
}

void pdi_dispatch(pydron_graph *g)
{
    pydron_runtime *rt = g->rt;
    if (!g->started || g->dispatching || !rt->xstarted)
        return;
    g->dispatching = 1;
    pdi_flush_ready(g);
    pydron_job *batch[BATCH];
    int progress = 1;
    int any_level = 0;
    while (progress && g->nqueued) {
        progress = 0;
        pdi_flush_ready(g);
        /* Fill workers evenly: none gets more than its share of what is in
         * flight plus queued, so tasks that become ready one at a time
         * alternate between workers instead of piling onto worker 0 (8
         * CPU-bound tasks on 2 workers ran 8/0). A burst still fills whole
         * batches. If the policy gives nothing to the workers below the
         * level, a second pass allows up to in_flight. */
        size_t total = g->nqueued + rt->nworkers - 1;
        for (unsigned w = 0; w < rt->nworkers; w++)
            total += atomic_load(&rt->inflight[w]);
        size_t share = rt->nworkers ? total / rt->nworkers : 0;
        unsigned level = any_level || share > rt->in_flight ? rt->in_flight : (unsigned)share;
        for (unsigned w = 0; w < rt->nworkers && g->nqueued; w++) {
            size_t n = 0;
            while (n < BATCH && atomic_load(&rt->inflight[w]) < level && g->nqueued) {
                pydron_task pt;
                if (g->pops->pick(g->pself, w, &pt) != 1)
                    break;
                uint32_t ti;
                pdi_task *t = pdi_task_get(g, pt.id, &ti);
                if (!t || !(t->bits & TB_QUEUED) || t->state != PYDRON_TASK_READY)
                    continue;   /* canceled or stale pick */
                t->bits &= (uint8_t)~TB_QUEUED;
                g->nqueued--;
                pydron_job *j = pdi_job_get(g);
                int rc = j ? pdi_job_prepare(g, j, ti, (int32_t)w) : PYDRON_ENOMEM;
                if (rc) {
                    if (j)
                        pdi_job_put(g, j);
                    else
                        g->ready_lost = 1;   /* no job: still READY, found again */
                    continue;   /* task failed inside prepare (or OOM) */
                }
                atomic_fetch_add(&rt->inflight[w], 1);
                batch[n++] = j;
            }
            if (!n)
                continue;
            progress = 1;
            pthread_mutex_unlock(&g->mu);
            int rc = rt->xops->submit(rt->xself, batch, n, w);
            pthread_mutex_lock(&g->mu);
            if (rc < 0) {
                /* the executor took none of them: fail them here */
                for (size_t k = 0; k < n; k++) {
                    pydron_job *j = batch[k];
                    free(j->err);
                    j->err = pdi_asprintf("executor '%s' refused the job: %s",
                                          rt->xops->name ? rt->xops->name : "?",
                                          pydron_strerror(rc));
                    pdi_job_complete_locked(g, j, PYDRON_ETASK);
                }
            }
        }
        if (!progress && !any_level && level < rt->in_flight && g->nqueued) {
            any_level = 1;
            progress = 1;
        }
    }
    g->dispatching = 0;
}

int pdi_graph_start_locked(pydron_graph *g)
{
    if (g->started)
        return 0;
    pthread_mutex_unlock(&g->mu);
    int rc = pdi_rt_start_executor(g->rt);
    pthread_mutex_lock(&g->mu);
    if (rc)
        return rc;
    g->started = 1;
    pdi_dispatch(g);
    return 0;
}

PYDRON_API int pydron_graph_start(pydron_graph *g)
{
    pdi_err_clear();
    if (!g)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_start: NULL graph");
    pthread_mutex_lock(&g->mu);
    int rc = g->freeing ? pdi_err(PYDRON_ESTATE, "the graph is being freed") : pdi_graph_start_locked(g);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_graph_interrupt(pydron_graph *g)
{
    pdi_err_clear();
    if (!g)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_interrupt: NULL graph");
    atomic_store(&g->interrupt, 1);
    pthread_mutex_lock(&g->mu);
    pthread_cond_broadcast(&g->cv);
    pthread_mutex_unlock(&g->mu);
    return 0;
}

/* ------------------------------------------------------------ driver loop */

/* Run the SYNC task ti on this thread (g->mu held, released around the body). */
static void run_sync(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    /* remember the tick: SYNC tasks added later must not come before it */
    if (t->tick_len > g->last_sync_len || !g->last_sync_tick) {
        uint32_t *nt = realloc(g->last_sync_tick, (t->tick_len ? t->tick_len : 1) * sizeof *nt);
        if (nt)
            g->last_sync_tick = nt;
    }
    if (g->last_sync_tick) {
        memcpy(g->last_sync_tick, pdi_task_tick(t), t->tick_len * sizeof(uint32_t));
        g->last_sync_len = t->tick_len;
    }
    pydron_job *j = pdi_job_get(g);
    if (!j || pdi_job_prepare(g, j, ti, -1) != 0) {
        if (j)
            pdi_job_put(g, j);
        if (!j) {
            pdi_error *e = pdi_error_new(pdi_tid(g, ti), PYDRON_ETASK, pdi_strdup("out of memory"), NULL, 0);
            pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, NULL);
            if (e)
                pdi_error_unref(e);
        }
        return;
    }
    g->inflight++;
    pthread_mutex_unlock(&g->mu);
    pydron_job_run_local(j);
    pthread_mutex_lock(&g->mu);
    pdi_job_complete_locked(g, j, j->err ? PYDRON_ETASK : 0);
}

typedef struct target {
    int is_value;
    uint64_t id;
} target;

/* 1 = reached (rc set), 0 = not yet */
static int target_reached(pydron_graph *g, const target *tg, int *rc)
{
    if (!tg->is_value) {
        if (g->pending == 0) {
            *rc = 0;
            return 1;
        }
        return 0;
    }
    pdi_value *v = pdi_value_get(g, tg->id, NULL);
    if (!v) {
        *rc = PYDRON_ESTALE;
        return 1;
    }
    if (v->state == PYDRON_VALUE_READY) {
        *rc = 0;
        return 1;
    }
    if (v->state == PYDRON_VALUE_FAILED) {
        char *m = pdi_fail_message(g, v->u.err);
        *rc = pdi_err(v->u.err->code == PYDRON_ECANCELED ? PYDRON_ECANCELED : PYDRON_ETASK, "%s",
                      m ? m : "failed");
        free(m);
        return 1;
    }
    return 0;
}

/* One step of driver work; returns 1 if something was done. */
static int driver_step(pydron_graph *g)
{
    uint32_t ri;
    while (pdi_ring_pop(&g->refq, &ri, sizeof ri)) {
        pdi_task *t = pdi_T(g, ri);
        if (t->state != PYDRON_TASK_READY || !(t->flags & PYDRON_TASK_REFINABLE))
            continue;
        pdi_refine_run(g, ri);
        return 1;
    }
    if (g->nheap) {
        uint32_t ti = g->heap[0];
        pdi_task *t = pdi_T(g, ti);
        if ((t->flags & PYDRON_TASK_SYNC) && !(t->flags & PYDRON_TASK_REFINABLE) &&
            t->state == PYDRON_TASK_READY) {
            run_sync(g, ti);
            return 1;
        }
    }
    return 0;
}

static int deadline_passed(uint64_t deadline) { return deadline && pdi_now_ns() >= deadline; }

static void wait_cv(pydron_graph *g, uint64_t deadline, unsigned max_ms)
{
    uint64_t until = pdi_now_ns() + (uint64_t)max_ms * 1000000u;
    if (deadline && deadline < until)
        until = deadline;
    struct timespec ts = pdi_timespec_mono(until);
    g->waiters++;
    pthread_cond_timedwait(&g->cv, &g->mu, &ts);
    g->waiters--;
}

static int drive(pydron_graph *g, target tg, int timeout_ms)
{
    if (!g)
        return pdi_err(PYDRON_EINVAL, "NULL graph");
    if (pdi_tls_cb_graph)
        return pdi_err(PYDRON_ESTATE,
                       "pydron_graph_wait/run must not be called from a task body or callback");
    uint64_t deadline = timeout_ms >= 0 ? pdi_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    if (timeout_ms == 0)
        deadline = 1;   /* poll once */
    pthread_mutex_lock(&g->mu);
    int rc = 0;
    if (g->freeing) {
        rc = pdi_err(PYDRON_ESTATE, "the graph is being freed");
        goto out;
    }
    if ((rc = pdi_graph_start_locked(g)) != 0)
        goto out;
    pydron_runtime *rt = g->rt;
    int driver = 0;
    for (;;) {
        if (atomic_exchange(&g->interrupt, 0)) {
            rc = pdi_err(PYDRON_EINTR, "interrupted by pydron_graph_interrupt");
            break;
        }
        if (target_reached(g, &tg, &rc))
            break;
        if (!driver && !g->driving) {
            driver = 1;
            g->driving = 1;
        }
        int did = 0;
        if (driver) {
            did = driver_step(g);
            if (!did) {
                uint64_t ev = g->events;
                pdi_dispatch(g);
                if (rt->xops->poll && g->inflight) {
                    pthread_mutex_unlock(&g->mu);
                    int prc = rt->xops->poll(rt->xself, 0);
                    pthread_mutex_lock(&g->mu);
                    did = prc > 0;
                }
                /* do not trust poll's return value alone: did anything change? */
                did = did || g->events != ev;
            }
        }
        /* the deadline holds while work keeps coming (a chain of slow
         * inline tasks); timeout 0 (deadline 1) still does all it can */
        if (did && !(deadline > 1 && deadline_passed(deadline)))
            continue;
        if (deadline_passed(deadline)) {
            if (!target_reached(g, &tg, &rc))
                rc = pdi_err(PYDRON_ETIMEDOUT, "timed out after %d ms", timeout_ms);
            break;
        }
        if (driver && rt->xops->poll && g->inflight) {
            /* the executor may need the driver thread: give it a short slice */
            uint64_t ev = g->events;
            pthread_mutex_unlock(&g->mu);
            rt->xops->poll(rt->xself, 1);
            pthread_mutex_lock(&g->mu);
            if (g->events != ev)
                continue;
            wait_cv(g, deadline, 1);
        } else if (driver) {
            g->drv_waiting = 1;
            g->drv_vi = tg.is_value ? pdi_id_idx(tg.id) : 0;
            wait_cv(g, deadline, 50);
            g->drv_waiting = 0;
        } else {
            wait_cv(g, deadline, 10);
        }
    }
    if (driver) {
        g->driving = 0;
        pthread_cond_broadcast(&g->cv);   /* another waiter may take over */
    }
out:
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_graph_wait(pydron_graph *g, pydron_value v, int timeout_ms)
{
    pdi_err_clear();
    target tg = {1, v.id};
    return drive(g, tg, timeout_ms);
}

PYDRON_API int pydron_graph_run(pydron_graph *g, int timeout_ms)
{
    pdi_err_clear();
    target tg = {0, 0};
    return drive(g, tg, timeout_ms);
}
