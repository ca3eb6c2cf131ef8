/* Readiness, dispatch to the executor and the driver loop (wait/run).
 *
 * SYNC tasks and refinements never go to the executor: the driver thread
 * runs them inside pydron_graph_wait/run. A SYNC task runs only when it is
 * the minimum (by tick, then add order) of the heap of unfinished SYNC
 * tasks and unrefined REFINABLE tasks. Refinements run as soon as their
 * inputs are ready (they run ahead of the tasks they create). */
#include <errno.h>
#include <stdio.h>

#include "sched/sched.h"
#include "util/trace.h"

_Thread_local pdi_tls_state pdi_tls;

/* ------------------------------------------------------------ readiness */

void pdi_wake(pydron_graph *g)
{
    g->events++;
    if (pdi_S(g)->waiters)
        pthread_cond_broadcast(&pdi_S(g)->cv);
}

void pdi_kstat_add_slow(pydron_graph *g, uint32_t kind, double seconds)
{
    pdi_sgraph *sg = pdi_S(g);
    if (kind >= sg->kcap) {
        size_t nc = sg->kcap ? sg->kcap : 16;
        while (nc <= kind)
            nc *= 2;
        double *s = realloc(sg->ksum, nc * sizeof *s);
        if (!s)
            return;
        sg->ksum = s;
        uint32_t *c = realloc(sg->kcnt, nc * sizeof *c);
        if (!c)
            return;
        sg->kcnt = c;
        memset(sg->ksum + sg->kcap, 0, (nc - sg->kcap) * sizeof *s);
        memset(sg->kcnt + sg->kcap, 0, (nc - sg->kcap) * sizeof *c);
        sg->kcap = nc;
    }
    sg->ksum[kind] += seconds;
    sg->kcnt[kind]++;
}

double pdi_task_duration(pydron_graph *g, pdi_task *t)
{
    pdi_sgraph *sg = pdi_S(g);
    if (t->duration > 0)
        return t->duration;
    if (t->kind < sg->kcap && sg->kcnt[t->kind])
        return sg->ksum[t->kind] / sg->kcnt[t->kind];
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

/* A SYNC or REFINABLE task became READY: refinements go to their queue;
 * either way the driver must look. */
static void take_ready_drv(pydron_graph *g, uint64_t id)
{
    uint32_t ti = pdi_id_idx(id);   /* reported by this graph: index in range */
    pdi_task *t = pdi_T(g, ti);
    if (t->gen != pdi_id_gen(id) || t->state != PYDRON_TASK_READY)
        return;   /* canceled or failed since */
    if ((t->flags & PYDRON_TASK_REFINABLE) && pdi_ring_push(&pdi_S(g)->refq, &ti, sizeof ti))
        g->chg.ready_lost = 1;   /* out of memory: found by the next scan */
}

void pdi_sched_drain_slow(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_changes *c = &g->chg;
    c->dirty = 0;
    int driver = c->wake || c->watch_hit, all = c->wake;
    int any = c->ndone || c->resolved || c->wake;
    if (c->ndone) {
        for (size_t k = 0; k < c->ndone; k++) {
            pdi_done *d = &c->done[k];
            if (d->seconds > 0) {
                pdi_kstat_add(g, d->kind, d->seconds);
            }
            if (d->queued)
                sg->nqueued--;   /* its entry in the policy is skipped when picked */
            if (d->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE))
                driver = 1;
        }
        c->ndone = 0;
        if (c->capdone > 65536) {
            free(c->done);
            c->done = NULL;
            c->capdone = 0;
        }
    }
    /* every task finished: the driver's wait for all of them is over. Not
     * only after reported completions: a counted run of an executor is not
     * reported (report_done), and the last tasks finished that way left a
     * driver in pydron_graph_run asleep until its 50 ms wait timed out */
    if (g->pending == 0 && sg->drv_waiting)
        driver = any = 1;
    c->resolved = 0;
    c->watch_hit = 0;
    c->wake = 0;
    /* SYNC and REFINABLE readiness: the driver must look */
    if (c->nready_drv) {
        for (size_t k = 0; k < c->nready_drv; k++)
            take_ready_drv(g, c->ready_drv[k]);
        c->nready_drv = 0;
        all = 1;
    }
    if (c->nrel) {
        pydron_runtime *rt = sg->rt;
        for (size_t k = 0; k < c->nrel; k++)
            rt->xops->release(rt->xself, (pydron_value){c->rel[k].value},
                              (unsigned)c->rel[k].where);
        c->nrel = 0;
        if (c->caprel > 65536) {
            free(c->rel);
            c->rel = NULL;
            c->caprel = 0;
        }
    }
    if (c->ready_lost)
        all = 1;   /* the driver's next dispatch scans for it */
    /* wake only threads that may care: a driver waiting for one value is
     * not woken by every completion */
    if (sg->waiters &&
        (all || (any && (sg->waiters > (unsigned)sg->drv_waiting || (sg->drv_waiting && driver)))))
        pthread_cond_broadcast(&sg->cv);
}

/* The policy did not take task ti (id): it fails. */
static void policy_refused(pydron_graph *g, uint32_t ti, uint64_t id)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_T(g, ti)->bits &= (uint8_t)~TB_QUEUED;
    sg->nqueued--;
    pdi_error *e = pdi_error_new(id, PYDRON_ETASK,
                                 pdi_asprintf("the scheduling policy '%s' refused the task",
                                              sg->pops->name ? sg->pops->name : "?"),
                                 NULL, 0);
    pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, NULL);
    if (e)
        pdi_error_unref(e);
}

/* FIFO reads the id only: pushed as it is, without a pydron_sched_task. */
static inline void push_fifo(pydron_graph *g, uint32_t ti, uint64_t id)
{
    pdi_sgraph *sg = pdi_S(g);
    ++sg->ready_seq;
    if (PDI_UNLIKELY(pdi_ring_push(sg->pself, &id, sizeof id) != 0))
        policy_refused(g, ti, id);
}

static void push_policy(pydron_graph *g, uint32_t ti)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_task *t = pdi_T(g, ti);
    if (sg->pops == &pdi_fifo_ops) {
        push_fifo(g, ti, pdi_tid(g, ti));
        return;
    }
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
    st.kind = pdi_kind_id(g->kt, t->kind);
    st.duration = pdi_task_duration(g, t);
    st.seq = ++sg->ready_seq;
    if (!sg->need_loc && sizes == sizes_st)
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
    st.bottom_level = sg->need_bl ? bottom_level(g, ti, 0, &budget) : st.duration;
    if (sg->pops->push(sg->pself, &st) != 0)
        policy_refused(g, ti, st.task.id);
    if (sizes && sizes != sizes_st) {
        free(sizes);
        free(where);
    }
}

void pdi_flush_ready(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_sched_drain(g);
    /* PURE tasks in readiness order (pushing may fail a task, which never
     * adds here; the array is re-read in case it does) */
    pdi_changes *c = &g->chg;
    int fifo = sg->pops == &pdi_fifo_ops;
    for (size_t k = 0; k < c->nready; k++) {
        uint64_t id = c->ready[k];
        uint32_t ti = pdi_id_idx(id);   /* reported by this graph: index in range */
        pdi_task *t = pdi_T(g, ti);
        if (t->gen != pdi_id_gen(id) || t->state != PYDRON_TASK_READY || (t->bits & TB_QUEUED))
            continue;   /* gone, waiting again, or ready twice with its entry still queued */
        t->bits |= TB_QUEUED;
        sg->nqueued++;
        if (fifo)
            push_fifo(g, ti, id);   /* without push_policy's call and frame */
        else
            push_policy(g, ti);
    }
    c->nready = 0;
    if (c->capready > 65536) {
        free(c->ready);
        c->ready = NULL;
        c->capready = 0;
    }
    if (c->ready_lost) {
        /* tasks that became ready while a queue could not grow (or whose job
         * could not be allocated): READY and in no queue. A scan of the
         * records, only after running out of memory. */
        c->ready_lost = 0;
        for (uint32_t i = 1; i <= g->tcount; i++) {
            pdi_task *t = pdi_T(g, i);
            if (t->state != PYDRON_TASK_READY || (t->bits & (TB_QUEUED | TB_ZOMBIE)) ||
                (t->flags & PYDRON_TASK_SYNC))
                continue;   /* SYNC tasks are found at the top of the tick heap */
            if (t->flags & PYDRON_TASK_REFINABLE) {
                if (pdi_ring_push(&sg->refq, &i, sizeof i))
                    c->ready_lost = 1;   /* still no memory: next time */
                continue;
            }
            t->bits |= TB_QUEUED;
            sg->nqueued++;
            push_policy(g, i);
        }
    }
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
    pydron_runtime *rt = pdi_S(g)->rt;
    if (pdi_S(g)->nqueued + g->chg.nready >= BATCH || rt->nworkers == 0 || g->chg.ready_lost)
        return 1;
    for (unsigned w = 0; w < rt->nworkers; w++)
        if (atomic_load(&rt->inflight[w]) < COALESCE_LOW && pdi_worker_usable(rt, w))
            return 1;
    return 0;
}

/* The FIFO queue is in the order tasks became ready, which is not the
 * order their records were made in: chains run side by side visit records
 * added far apart (bench_core, 10,000 chains of 100 added one after the
 * other: the same chains added step by step, records in run order, ran
 * ~22 ns faster per ~130 ns task). So the records of the task PF_TASK
 * ahead in the queue are fetched early, and those of the first input and
 * output of the task PF_VALUE ahead (their indexes are in its record,
 * fetched by then). With slab chunks of 32768 records (graph.h), that
 * brought chains from ~128 to ~113 ns; with chunks of 4096, ~3 ns. Only
 * hints: a stale id's record is plain memory of the graph, and value
 * indexes are checked against the graph's size before use. */
#define PF_TASK 8
#define PF_VALUE 4
/* The record of the task k places ahead in the FIFO queue, NULL if the
 * queue is shorter or the index is out of the graph's range. */
static PDI_ALWAYS_INLINE pdi_task *queued_ahead(pydron_graph *g, pdi_ring *q, size_t k)
{
    if (pdi_ring_len(q) <= k)
        return NULL;
    uint64_t id;
    memcpy(&id, pdi_ring_at(q, k, sizeof id), sizeof id);
    uint32_t ti = pdi_id_idx(id);
    return ti && ti <= g->tcount ? pdi_T(g, ti) : NULL;
}

static PDI_ALWAYS_INLINE void prefetch_ahead(pydron_graph *g, pdi_ring *q)
{
    pdi_task *t = queued_ahead(g, q, PF_TASK);
    if (t) {
        /* 80 bytes: may span two lines */
        __builtin_prefetch(t, 1);
        __builtin_prefetch((char *)t + 79, 1);
    }
    t = queued_ahead(g, q, PF_VALUE);
    if (t && !(t->bits & (TB_IN_HEAP | TB_OUT_HEAP))) {
        uint32_t vi = t->nin ? t->ins.in[0] : 0, vo = t->nout ? t->outs.in[0] : 0;
        if (vi && vi <= g->vcount)
            __builtin_prefetch(pdi_V(g, vi), 0);
        if (vo && vo <= g->vcount)
            __builtin_prefetch(pdi_V(g, vo), 1);
    }
}

void pdi_submit_jobs(pydron_graph *g, pydron_job **jobs, size_t n, unsigned w)
{
    pdi_sgraph *sg = pdi_S(g);
    pydron_runtime *rt = sg->rt;
    /* one atomic add for the batch, not one per job: other graphs'
     * dispatches meanwhile only make the level approximate */
    atomic_fetch_add(&rt->inflight[w], (unsigned)n);
    pthread_mutex_unlock(&sg->mu);
    int rc = rt->xops->submit(rt->xself, jobs, n, w);
    pthread_mutex_lock(&sg->mu);
    if (rc < 0) {
        /* the executor took none of them: fail them here */
        for (size_t k = 0; k < n; k++) {
            pydron_job *j = jobs[k];
            free(j->err);
            j->err = pdi_asprintf("executor '%s' refused the job: %s",
                                  rt->xops->name ? rt->xops->name : "?", pydron_strerror(rc));
            pdi_job_complete_locked(g, j, PYDRON_ETASK);
        }
    }
}

void pdi_dispatch(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pydron_runtime *rt = sg->rt;
    pdi_sched_drain(g);
    if (!g->started || !rt->xstarted)
        return;
    if (pdi_tls.driver == g && pdi_direct_use(g))
        return;   /* the driving thread runs the queue itself (pdi_direct_run) */
    if (sg->dispatching) {
        /* the one dispatching has the lock released around a submit: it
         * must look again, else tasks readied now (a job completed on a
         * pool thread meanwhile) wait for the next event - forever after
         * pydron_graph_start with nobody waiting */
        sg->redispatch = 1;
        return;
    }
    sg->dispatching = 1;
again:
    sg->redispatch = 0;
    pdi_flush_ready(g);
    pydron_job *batch[BATCH];
    int fifo = sg->pops == &pdi_fifo_ops;
    int grouping = pdi_group_use(g);
    int progress = 1;
    int any_level = 0;
    while (progress && sg->nqueued) {
        progress = 0;
        pdi_flush_ready(g);
        /* Fill workers evenly: none gets more than its share of what is in
         * flight plus queued, so tasks that become ready one at a time
         * alternate between workers instead of piling onto worker 0 (8
         * CPU-bound tasks on 2 workers ran 8/0). A burst still fills whole
         * batches. If the policy gives nothing to the workers below the
         * level, a second pass allows up to each worker's window (what the
         * executor measured it needs to stay busy, else in_flight). Lost
         * workers get nothing until their replacement is there. */
        unsigned nup = 0;
        size_t total = sg->nqueued;
        for (unsigned w = 0; w < rt->nworkers; w++) {
            if (!pdi_worker_usable(rt, w))
                continue;
            nup++;
            total += atomic_load(&rt->inflight[w]);
        }
        size_t share = nup ? (total + nup - 1) / nup : 0;
        for (unsigned w = 0; w < rt->nworkers && sg->nqueued; w++) {
            if (!pdi_worker_usable(rt, w))
                continue;
            unsigned win = pdi_worker_window(rt, w);
            unsigned level = any_level || share > win ? win : (unsigned)share;
            size_t n = 0;
            pydron_job *gj = NULL;   /* the batch's open group job */
            /* the batch is counted in flight once (pdi_submit_jobs) */
            unsigned inf = atomic_load(&rt->inflight[w]);
            while (n < BATCH && inf + n < level && sg->nqueued) {
                pydron_task pt;
                if (fifo)
                    prefetch_ahead(g, sg->pself);
                if (fifo ? !pdi_ring_pop(sg->pself, &pt.id, sizeof pt.id)
                         : sg->pops->pick(sg->pself, w, &pt) != 1)
                    break;
                /* ids the core pushed (FIFO) need no tag check; a policy's
                 * pick is checked whole */
                uint32_t ti = pdi_id_idx(pt.id);
                if (!pdi_pick_check(g, fifo ? pdi_T(g, ti) : pdi_task_get(g, pt.id, &ti), pt.id))
                    continue;
                if (grouping) {
                    int r = pdi_group_add(g, &gj, ti, (int32_t)w);
                    if (r == 1)
                        continue;
                    if (r == 2) {
                        batch[n++] = gj;
                        continue;
                    }
                    if (r < 0) {
                        /* enough groups are out: it waits for the next completion */
                        pdi_task_unpick(g, ti, pt.id);
                        break;
                    }
                    gj = NULL;   /* a job of its own: later tasks in a new group */
                }
                pydron_job *j = pdi_job_get(g);
                int rc = j ? pdi_job_prepare(g, j, ti, (int32_t)w) : PYDRON_ENOMEM;
                if (rc) {
                    if (j)
                        pdi_job_put(g, j);
                    else
                        g->chg.ready_lost = 1;   /* no job: still READY, found again */
                    continue;   /* task failed inside prepare (or OOM) */
                }
                batch[n++] = j;
            }
            if (!n)
                continue;
            progress = 1;
            pdi_submit_jobs(g, batch, n, w);
        }
        if (!progress && !any_level && sg->nqueued) {
            any_level = 1;
            progress = 1;
        }
    }
    if (sg->redispatch)
        goto again;
    sg->dispatching = 0;
    pdi_sched_drain(g);   /* tasks failed in prepare or refused by the executor */
}

void pdi_sched_cancel_locked(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_sched_drain(g);   /* PURE tasks not pushed yet are not in the policy: nothing to take back */
    for (uint32_t i = 1; i <= g->tcount && sg->nqueued; i++) {   /* none queued: no scan */
        pdi_task *t = pdi_T(g, i);
        if (t->state == PDI_T_FREE || !(t->bits & TB_QUEUED))
            continue;
        if (sg->pops->remove)
            sg->pops->remove(sg->pself, (pydron_task){pdi_tid(g, i)});   /* a hint */
        t->bits &= (uint8_t)~TB_QUEUED;
        sg->nqueued--;
    }
    pdi_graph_cancel_locked(g);
    pdi_ring_clear(&sg->refq);
    pdi_sched_drain(g);
}

int pdi_graph_start_locked(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    if (g->started)
        return 0;
    pthread_mutex_unlock(&sg->mu);
    int rc = pdi_rt_start_executor(sg->rt);
    pthread_mutex_lock(&sg->mu);
    if (rc)
        return rc;
    g->started = 1;
    pdi_dispatch(g);
    return 0;
}



/* ------------------------------------------------------------ driver loop */

/* Run the SYNC task ti on this thread (pdi_S(g)->mu held, released around the body). */
static void run_sync(pydron_graph *g, uint32_t ti)
{
    pdi_sgraph *sg = pdi_S(g);
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
    sg->inflight++;
    pthread_mutex_unlock(&sg->mu);
    pydron_job_run_local(j);
    pthread_mutex_lock(&sg->mu);
    pdi_job_complete_locked(g, j, j->err ? PYDRON_ETASK : 0);
}

/* 1 = reached (rc set), 0 = not yet */
static int target_reached(pydron_graph *g, const pdi_target *tg, int *rc)
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
    while (pdi_ring_pop(&pdi_S(g)->refq, &ri, sizeof ri)) {
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
    pdi_sgraph *sg = pdi_S(g);
    uint64_t until = pdi_now_ns() + (uint64_t)max_ms * 1000000u;
    if (deadline && deadline < until)
        until = deadline;
    struct timespec ts = pdi_timespec_mono(until);
    sg->waiters++;
    if (pthread_cond_timedwait(&sg->cv, &sg->mu, &ts) == ETIMEDOUT)
        sg->wait_timeouts++;
    sg->waiters--;
}

/* Name of the task a wait is for: its producer's label or kind. */
static const char *wait_name(pydron_graph *g, const pdi_target *tg)
{
    if (!tg->is_value)
        return NULL;
    uint32_t vi = pdi_id_idx(tg->id);
    if (!vi || vi > g->vcount || pdi_V(g, vi)->gen != pdi_id_gen(tg->id))
        return NULL;
    uint64_t p = pdi_V(g, vi)->producer;
    uint32_t ti = pdi_id_idx(p);
    if (!p || !ti || ti > g->tcount)
        return NULL;
    pdi_task *t = pdi_T(g, ti);
    if (t->gen != pdi_id_gen(p) || t->state == PDI_T_FREE)
        return NULL;
    return pdi_task_name(g, t);
}

static void trace_wait_emit(pdi_sgraph *sg, uint64_t end)
{
    int all = sg->tw_target == ~(uint64_t)0;
    char name[160];
    snprintf(name, sizeof name, "%s%s", all ? "wait for all tasks" : "wait ",
             all ? "" : sg->tw_name ? sg->tw_name : "value");
    char args[64];
    snprintf(args, sizeof args, "\"value\":\"%#llx\"", (unsigned long long)sg->tw_target);
    pdi_trace_driver_span("wait", name, sg->tw_start, end, all ? NULL : args);
    sg->tw_target = 0;
}

/* A wait that started at t0 ends (rc); g->mu held. Counts the time and
 * traces it, merging the slices a caller waits in. */
static void wait_ended(pydron_graph *g, const pdi_target *tg, uint64_t t0, int rc)
{
    pdi_sgraph *sg = pdi_S(g);
    uint64_t now = pdi_now_ns();
    g->stats.wait_ns += now - t0;
    if (!pdi_tracing()) {
        sg->tw_target = 0;
        return;
    }
    uint64_t target = tg->is_value ? tg->id : ~(uint64_t)0;
    if (sg->tw_target && sg->tw_target != target)
        trace_wait_emit(sg, sg->tw_end);
    if (!sg->tw_target) {
        sg->tw_target = target;
        sg->tw_start = t0;
        sg->tw_name = wait_name(g, tg);
    }
    sg->tw_end = now;
    if (rc != PYDRON_ETIMEDOUT)
        trace_wait_emit(sg, now);
}

int pdi_drive(pydron_graph *g, pdi_target tg, int timeout_ms)
{
    pdi_sgraph *sg = pdi_S(g);
    if (!g)
        return pdi_err(PYDRON_EINVAL, "NULL graph");
    if (pdi_tls.cb_graph)
        return pdi_err(PYDRON_ESTATE,
                       "pydron_graph_wait/run must not be called from a task body or callback");
    uint64_t deadline = timeout_ms >= 0 ? pdi_now_ns() + (uint64_t)timeout_ms * 1000000u : 0;
    if (timeout_ms == 0)
        deadline = 1;   /* poll once */
    pthread_mutex_lock(&sg->mu);
    int rc = 0;
    if (g->freeing) {
        rc = pdi_err(PYDRON_ESTATE, "the graph is being freed");
        goto out;
    }
    if ((rc = pdi_graph_start_locked(g)) != 0)
        goto out;
    pydron_runtime *rt = sg->rt;
    int driver = 0;
    pydron_graph *prev_driver = NULL;
    uint64_t waited_from = 0;   /* when the target was first found missing */
    for (;;) {
        pdi_sched_drain(g);
        if (atomic_exchange(&sg->interrupt, 0)) {
            rc = pdi_err(PYDRON_EINTR, "interrupted by pydron_graph_interrupt");
            break;
        }
        if (target_reached(g, &tg, &rc))
            break;
        if (!waited_from)
            waited_from = pdi_now_ns();
        if (!driver && !sg->driving) {
            driver = 1;
            sg->driving = 1;
            prev_driver = pdi_tls.driver;
            pdi_tls.driver = g;
        }
        int did = 0;
        if (driver) {
            did = driver_step(g);
            if (!did) {
                uint64_t ev = g->events;
                /* jobs the executor holds are older than the queue: they
                 * are polled first (below), the lane runs after them */
                if (!sg->inflight && pdi_direct_use(g))
                    did = pdi_direct_run(g) > 0;
                pdi_dispatch(g);
                if (rt->xops->poll && sg->inflight) {
                    pthread_mutex_unlock(&sg->mu);
                    int prc = rt->xops->poll(rt->xself, 0);
                    pthread_mutex_lock(&sg->mu);
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
        if (driver && rt->xops->poll && sg->inflight) {
            /* the executor may need the driver thread: give it a short slice */
            uint64_t ev = g->events;
            pthread_mutex_unlock(&sg->mu);
            rt->xops->poll(rt->xself, 1);
            pthread_mutex_lock(&sg->mu);
            if (g->events != ev)
                continue;
            wait_cv(g, deadline, 1);
        } else if (driver) {
            sg->drv_waiting = 1;
            g->chg.watch_vi = tg.is_value ? pdi_id_idx(tg.id) : 0;
            wait_cv(g, deadline, 50);
            sg->drv_waiting = 0;
        } else {
            wait_cv(g, deadline, 10);
        }
    }
    if (driver) {
        pdi_tls.driver = prev_driver;
        sg->driving = 0;
        pthread_cond_broadcast(&sg->cv);   /* another waiter may take over */
    }
    if (waited_from)
        wait_ended(g, &tg, waited_from, rc);
out:
    pthread_mutex_unlock(&sg->mu);
    return rc;
}
