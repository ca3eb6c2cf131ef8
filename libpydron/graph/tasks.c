/* Tasks: adding a task, its outcome (succeeded, failed, refined), readiness
 * of its consumers, requeue and cancel. */
#include <stdio.h>

#include "graph/fast.h"

/* ------------------------------------------------------------------ tasks */


static inline void task_finish_common(pydron_graph *g, uint32_t ti, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->hpos != PDI_NOPOS)
        pdi_heap_remove(g, ti);
    if (g->pending)
        g->pending--;
    g->events++;
    pdi_report_done(g, t, ti, run);
}

void pdi_task_ready_slow(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    t->state = PYDRON_TASK_READY;
    t->queued_ns = g->now_hint ? g->now_hint : pdi_now_ns();
    pdi_changes *c = &g->chg;
    /* out of memory for a queue: the task stays READY in no queue, and the
     * scheduler finds it by a scan (ready_lost) - no allocation can fail it */
    if (t->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)) {
        g->events++;
        c->dirty = 1;
        if (pdi_grow((void **)&c->ready_drv, &c->capready_drv, c->nready_drv + 1,
                     sizeof(uint64_t)) != 0) {
            c->ready_lost = 1;
            c->wake = 1;
            return;
        }
        c->ready_drv[c->nready_drv++] = pdi_tid(g, ti);
        return;
    }
    if (c->nready == c->capready &&
        pdi_grow((void **)&c->ready, &c->capready, c->nready + 1, sizeof(uint64_t)) != 0) {
        c->ready_lost = 1;
        c->dirty = 1;
        return;
    }
    c->ready[c->nready++] = pdi_tid(g, ti);
}

/* A bitmap of a task's outputs (at most 65535: 8 KiB on the stack at most,
 * 8 bytes for tasks with up to 64 outputs). */
#define HELD_WORDS(n) ((n) ? ((size_t)(n) + 63) / 64 : 1)
static inline void held_set(uint64_t *b, size_t i, int on)
{
    if (on)
        b[i / 64] |= (uint64_t)1 << (i % 64);
    else
        b[i / 64] &= ~((uint64_t)1 << (i % 64));
}
static inline int held_get(const uint64_t *b, size_t i) { return (int)(b[i / 64] >> (i % 64)) & 1; }

static inline void set_outputs(pydron_graph *g, pdi_task *t, pdi_tout *jo, uint64_t tid);
static void succeeded_many(pydron_graph *g, uint32_t ti, pdi_task *t, pdi_tout *jo, uint64_t tid);
static inline void finish_outputs(pydron_graph *g, uint32_t ti, pdi_tout *jo, uint64_t tid,
                                  uint64_t *held);

void pdi_task_succeeded(pydron_graph *g, uint32_t ti, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    if (run && run->outs && pdi_task_succeeded_simple(g, ti, t, run))
        return;
    pdi_tout *jo = run ? run->outs : NULL;
    t->state = PYDRON_TASK_DONE;
    g->stats.tasks_done++;
    pdi_task_log(g, ti, PYDRON_TASK_DONE, run);
    task_finish_common(g, ti, run);
    uint64_t tid = pdi_tid(g, ti);
    /* which outputs we hold (all, except after a partial recomputation):
     * one bit each, on the stack - nothing to allocate here, where running
     * out of memory could not be reported */
    if (t->nout > 64) {
        succeeded_many(g, ti, t, jo, tid);
        return;
    }
    uint64_t held[1] = {0};   /* a word: no variable-length array to set up */
    finish_outputs(g, ti, jo, tid, held);
}

/* The outputs of task ti, which succeeded, then its record. held: one bit
 * per output, room for all of them: which ones we hold (all, except after
 * a partial recomputation). */
static inline void finish_outputs(pydron_graph *g, uint32_t ti, pdi_tout *jo, uint64_t tid,
                                  uint64_t *held)
{
    pdi_task *t = pdi_T(g, ti);
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, pdi_task_outs(t)[i]);
        held_set(held, i, o->state == PYDRON_VALUE_PENDING && o->producer == tid);
    }
    set_outputs(g, t, jo, tid);
    t = pdi_T(g, ti);
    for (uint16_t i = 0; i < t->nout; i++)
        if (held_get(held, i))
            pdi_value_unref(g, pdi_task_outs(t)[i]);
    pdi_task_release(g, ti);
}

/* Outputs of a task that succeeded: each one still pending becomes ready
 * with its bytes, or stays where it ran; the others were a recomputation's
 * copy, forgotten. */
static inline void set_outputs(pydron_graph *g, pdi_task *t, pdi_tout *jo, uint64_t tid)
{
    uint32_t *outs = pdi_task_outs(t);
    uint16_t nout = t->nout;
    for (uint16_t i = 0; i < nout; i++) {
        uint32_t oi = outs[i];
        pdi_value *o = pdi_V(g, oi);
        if (o->state != PYDRON_VALUE_PENDING || o->producer != tid) {
            /* a recomputation: this output survived the worker loss (or
             * was released meanwhile); forget the new copy where it ran,
             * unless it replaced the surviving one there */
            if (jo)
                pdi_out_release(&jo[i].out);
            if (jo && jo[i].where >= 0 && g->can_release &&
                !(o->state == PYDRON_VALUE_READY && (o->vf & VF_REMOTE) &&
                  o->where == (int16_t)jo[i].where && o->producer == tid))
                pdi_report_release(g, pdi_job_out_id(g, tid, oi), jo[i].where);
            continue;
        }
        pdi_cons_list c;
        pdi_cons_take(o, &c);
        int rc = 0;
        if (jo && jo[i].where >= 0) {
            o->vf |= VF_REMOTE;
            o->where = (int16_t)jo[i].where;
            o->len = jo[i].size;
        } else if (jo) {
            rc = pdi_value_set_bytes(g, o, &jo[i].out);
        }
        if (rc) {
            o->len = c.n;   /* put the consumers back and fail instead */
            if (c.heap) {
                o->u.cp = c.p;
                o->vf |= VF_CONSHEAP;
            } else {
                memcpy(o->u.cin, c.inl, sizeof c.inl);
            }
            pdi_value_fail(g, oi, &pdi_oom_error);
        } else {
            pdi_value_ready(g, oi, &c);
        }
    }
}

/* pdi_task_succeeded for more than 64 outputs: the bitmap on the stack. */
static void succeeded_many(pydron_graph *g, uint32_t ti, pdi_task *t, pdi_tout *jo, uint64_t tid)
{
    uint64_t held[HELD_WORDS(t->nout)];
    finish_outputs(g, ti, jo, tid, held);
}

void pdi_task_failed(pydron_graph *g, uint32_t ti, pdi_error *err, uint8_t state,
                     const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    err = pdi_err_or_oom(err);
    if (err != &pdi_oom_error && !err->who && err->task == pdi_tid(g, ti))
        err->who = pdi_strdup(pdi_task_name(g, t));
    t->state = state;
    if (state != PYDRON_TASK_CANCELED)
        g->stats.tasks_failed++;
    pdi_task_log(g, ti, state, run);
    task_finish_common(g, ti, run);
    err->refs++;   /* keep err alive while we propagate */
    uint64_t tid = pdi_tid(g, ti);
    /* one bit per output, on the stack: nothing to allocate here, where
     * running out of memory could not be reported */
    uint64_t held[HELD_WORDS(t->nout)];
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, pdi_task_outs(t)[i]);
        held_set(held, i, o->state == PYDRON_VALUE_PENDING && o->producer == tid);
    }
    for (uint16_t i = 0; i < t->nout; i++)
        if (held_get(held, i))
            pdi_value_fail(g, pdi_task_outs(t)[i], err);
    t = pdi_T(g, ti);
    for (uint16_t i = 0; i < t->nout; i++)
        if (held_get(held, i))
            pdi_value_unref(g, pdi_task_outs(t)[i]);
    uint64_t one;
    uint64_t *ids = pdi_input_ids(g, t, &one, 0);
    uint32_t zombie = 0;
    uint32_t *ins = pdi_task_ins(t);
    for (uint16_t i = 0; i < t->nin; i++) {
        if (pdi_V(g, ins[i])->state == PYDRON_VALUE_PENDING)
            zombie++;   /* still listed as its consumer; released when it resolves */
        else
            pdi_value_unref(g, ins[i]);
    }
    if (zombie) {
        t->bits |= TB_ZOMBIE;
        t->npending = zombie;
    } else if (!ids || !pdi_task_retain(g, ti, ids)) {
        pdi_task_free(g, ti);   /* kept above if the caller holds one of its outputs */
    }
    if (ids != &one)
        free(ids);
    pdi_error_unref(err);
}

void pdi_task_refined(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    t->state = PYDRON_TASK_REFINED;
    g->stats.tasks_refined++;
    pdi_task_log(g, ti, PYDRON_TASK_REFINED, NULL);
    task_finish_common(g, ti, NULL);
    for (uint16_t i = 0; i < t->nout; i++)
        pdi_value_unref(g, pdi_task_outs(t)[i]);
    pdi_task_release(g, ti);
}

static int task_add_general(pydron_graph *g, const pydron_task_desc *d, const uint32_t *tick,
                            size_t tick_len, pydron_task *out_task, pydron_value *out_values,
                            uint32_t *out_tidx)
{
    if (d->version != PYDRON_TASK_DESC_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_task_desc.version is %u, expected %u", d->version,
                       PYDRON_TASK_DESC_VERSION);
    uint32_t kind;
    if (!pdi_kind_idx(g->kt, d->kind, &kind))
        return pdi_err(PYDRON_ENOTFOUND, "no kind %#x registered in this graph's runtime",
                       d->kind);
    unsigned flags = d->flags & ~(unsigned)PYDRON_TASK_TAKE_INPUTS;
    if (!flags)
        flags = PYDRON_TASK_PURE;
    if (flags & ~(PYDRON_TASK_PURE | PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE))
        return pdi_err(PYDRON_EINVAL, "unknown task flags 0x%x", d->flags);
    if ((flags & PYDRON_TASK_PURE) && (flags & PYDRON_TASK_SYNC))
        return pdi_err(PYDRON_EINVAL, "a task cannot be both PURE and SYNC");
    pdi_kind *k = g->kt->kinds[kind];
    if ((flags & PYDRON_TASK_REFINABLE) && !k->refine)
        return pdi_err(PYDRON_EINVAL, "task is REFINABLE but kind '%s' has no refine callback",
                       k->name);
    if (d->ninputs > 0xffff || d->noutputs > 0xffff)
        return pdi_err(PYDRON_ERANGE, "too many ports (max 65535 inputs and outputs)");
    if ((d->ninputs && !d->inputs) || (d->noutputs && !out_values))
        return pdi_err(PYDRON_EINVAL, "NULL inputs or out_values with ports declared");
    if (d->payload_len && !d->payload)
        return pdi_err(PYDRON_EINVAL, "payload_len > 0 with NULL payload");
    if (d->payload_len > 0xffffffffu)
        return pdi_err(PYDRON_ERANGE, "payload too large");
    if (tick_len > PYDRON_TICK_MAX_DEPTH)
        return pdi_err(PYDRON_EINVAL, "tick deeper than %d", PYDRON_TICK_MAX_DEPTH);
    if (!(d->duration_hint >= 0))
        return pdi_err(PYDRON_EINVAL, "negative duration hint");
    for (size_t i = 0; i < d->ninputs; i++)
        if (!pdi_value_get(g, d->inputs[i].id, NULL))
            return pdi_err(PYDRON_ESTALE, "input %zu: value id %#llx is unknown or released", i,
                           (unsigned long long)d->inputs[i].id);
    if ((flags & PYDRON_TASK_SYNC) && g->last_sync_len &&
        (pdi_tick_cmp(tick, tick_len, g->last_sync_tick, g->last_sync_len) < 0 ||
         (tick_len > g->last_sync_len &&
          memcmp(tick, g->last_sync_tick, g->last_sync_len * sizeof(uint32_t)) == 0)))
        return pdi_err(PYDRON_ERANGE, "SYNC task tick is before (or nested under) that of an "
                                      "already started SYNC task");

    /* allocate everything first, so that failure leaves the graph untouched */
    uint32_t *hin = NULL, *hout = NULL, *htick = NULL;
    void *hpay = NULL;
    if (d->ninputs > 2 && !(hin = malloc(d->ninputs * sizeof(uint32_t))))
        goto oom;
    if (d->noutputs > 2 && !(hout = malloc(d->noutputs * sizeof(uint32_t))))
        goto oom;
    if (tick_len > 2 && !(htick = pdi_memdup(tick, tick_len * sizeof(uint32_t))))
        goto oom;
    if (d->payload_len > 8 && !(hpay = pdi_memdup(d->payload, d->payload_len)))
        goto oom;
    /* and the tick-heap slot the task will take, so that inserting it
     * never allocates (nothing to undo: spare room) */
    if ((flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)) &&
        (pdi_heap_reserve(g) != 0 ||
         pdi_grow((void **)&g->chg.ready_drv, &g->chg.capready_drv, g->chg.nready_drv + 1,
                  sizeof(uint64_t)) != 0))
        goto oom;   /* (and the ready report, if it is ready at once) */
    uint32_t ti;
    if (pdi_task_alloc(g, &ti) != 0)
        goto records;
    pdi_task *t = pdi_T(g, ti);
    uint32_t *outs = hout ? hout : t->outs.in;
    uint16_t made = 0;
    for (; made < d->noutputs; made++) {
        if (pdi_value_new_locked(g, &outs[made]) != 0)
            break;
        t = pdi_T(g, ti);
    }
    if (made < d->noutputs) {
        while (made)
            pdi_value_drop(g, outs[--made]);
        pdi_task_free(g, ti);
        goto records;
    }
    t = pdi_T(g, ti);
    t->flags = (uint8_t)flags;
    t->kind = kind;
    t->nin = (uint16_t)d->ninputs;
    t->nout = (uint16_t)d->noutputs;
    t->duration = (float)d->duration_hint;
    t->seq = ++g->seq;
    t->state = PYDRON_TASK_WAITING;
    if (hin) {
        t->ins.p = hin;
        t->bits |= TB_IN_HEAP;
    }
    if (hout) {
        t->outs.p = hout;
        t->bits |= TB_OUT_HEAP;
    }
    if (htick) {
        t->tick.p = htick;
        t->bits |= TB_TICK_HEAP;
    } else if (tick_len) {
        memcpy(t->tick.in, tick, tick_len * sizeof(uint32_t));
    }
    t->tick_len = (uint8_t)tick_len;
    if (hpay) {
        t->payload.p = hpay;
        t->bits |= TB_PAY_HEAP;
    } else if (d->payload_len) {
        memcpy(t->payload.in, d->payload, d->payload_len);
    }
    t->payload_len = (uint32_t)d->payload_len;
    if (d->label)
        t->label = pdi_label_add(g, d->label, kind);
    uint64_t tid = pdi_tid(g, ti);
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, outs[i]);
        o->producer = tid;
        o->refs = 1;    /* producer hold */
        o->urefs = 1;   /* caller's */
    }
    if (out_task)
        out_task->id = tid;
    if (out_tidx)
        *out_tidx = ti;
    g->stats.tasks_added++;
    g->pending++;

    uint32_t *ins = pdi_task_ins(t);
    pdi_error *failed = NULL;
    for (uint16_t i = 0; i < t->nin; i++) {
        uint32_t vi = pdi_id_idx(d->inputs[i].id);
        pdi_value *v = pdi_V(g, vi);
        ins[i] = vi;
        v->refs++;
        if (v->state == PYDRON_VALUE_PENDING) {
            if (pdi_cons_add(v, ti) != 0 && !failed)
                failed = &pdi_oom_error;
            else
                t->npending++;
        } else if (v->state == PYDRON_VALUE_FAILED && !failed) {
            failed = v->u.err;
        }
    }
    /* after the inputs are read: out_values may be the caller's inputs array */
    for (uint16_t i = 0; i < t->nout; i++)
        out_values[i].id = pdi_vid(g, outs[i]);
    if (PDI_UNLIKELY(g->rec != NULL))
        pdi_rec_add(g, ti);    /* inputs known; before it may finish below */
    if (flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE))
        pdi_heap_insert(g, ti);
    if (failed) {
        pdi_task_failed(g, ti, failed,
                        failed->code == PYDRON_ECANCELED ? PYDRON_TASK_CANCELED : PYDRON_TASK_FAILED,
                        NULL);
        pdi_fail_drain(g);
    } else if (t->npending == 0) {
        pdi_task_ready(g, ti);
    }
    return 0;
oom:
    pdi_err(PYDRON_ENOMEM, "out of memory adding a task");
records:   /* (the slabs say why: out of memory, or of reserved address space) */
    free(hin);
    free(hout);
    free(htick);
    free(hpay);
    return PYDRON_ENOMEM;
}

/* One caller's reference on value id goes (counted before the add). */
static inline void take_ref(pydron_graph *g, uint64_t id)
{
    uint32_t vi;
    pdi_value *r = pdi_value_live(g, id, &vi);
    if (PDI_LIKELY(r && r->urefs))
        pdi_value_urelease(g, vi);
}

static int take_err(size_t i, uint64_t id)
{
    return pdi_err(PYDRON_ESTATE,
                   "input %zu (value %#llx): the caller holds no reference for the task to "
                   "take (PYDRON_TASK_TAKE_INPUTS)",
                   i, (unsigned long long)id);
}

/* PYDRON_TASK_TAKE_INPUTS, before the add: the caller holds a reference
 * for each input slot (a value given k times needs k). Counted by taking
 * them and giving them back (vis: room for n indexes), so nothing changes
 * here; an input that is not live is left to the add, which reports it. */
static int take_check(pydron_graph *g, const pydron_task_desc *d, uint32_t *vis)
{
    size_t n = d->ninputs, i = 0, taken = 0;
    for (; i < n; i++) {
        /* a value given again whose references were all counted off here
         * has none left, but is still there */
        uint32_t vi;
        pdi_value *v = pdi_value_rec(g, d->inputs[i].id, &vi);
        if (!v)
            continue;
        if (!v->urefs)
            break;
        v->urefs--;
        vis[taken++] = vi;
    }
    while (taken)
        pdi_V(g, vis[--taken])->urefs++;
    return i < n ? take_err(i, d->inputs[i].id) : 0;
}

/* pdi_task_add_locked when pdi_task_add_fast does not apply. */
static __attribute__((noinline)) int task_add_slow(pydron_graph *g, const pydron_task_desc *d,
                                                   const uint32_t *tick, size_t tick_len,
                                                   pydron_task *out_task,
                                                   pydron_value *out_values, uint32_t *out_tidx)
{
    if (!(d->flags & PYDRON_TASK_TAKE_INPUTS))
        return task_add_general(g, d, tick, tick_len, out_task, out_values, out_tidx);
    size_t n = d->ninputs;
    if (n && !d->inputs)
        return task_add_general(g, d, tick, tick_len, out_task, out_values, out_tidx);
    if (n <= 2) {
        /* the common case without loops or arrays */
        uint64_t id0 = n ? d->inputs[0].id : 0, id1 = n > 1 ? d->inputs[1].id : 0;
        uint32_t vi;
        pdi_value *v0 = n ? pdi_value_rec(g, id0, &vi) : NULL;
        pdi_value *v1 = n > 1 ? pdi_value_rec(g, id1, &vi) : NULL;
        int k = pdi_take_missing(v0, v1);
        if (k >= 0)
            return take_err((size_t)k, k ? id1 : id0);
        int rc = task_add_general(g, d, tick, tick_len, out_task, out_values, out_tidx);
        if (rc == 0 && n) {
            take_ref(g, id0);
            if (n > 1)
                take_ref(g, id1);
        }
        return rc;
    }
    /* the ids, before out_values (maybe the same array) is written; the
     * check's indexes */
    uint64_t ids_st[8], *ids = ids_st;
    uint32_t vis_st[8], *vis = vis_st;
    if (n > 8 && (!(ids = malloc(n * sizeof *ids)) || !(vis = malloc(n * sizeof *vis)))) {
        if (ids != ids_st)
            free(ids);
        return pdi_err(PYDRON_ENOMEM, "out of memory adding a task");
    }
    int rc = take_check(g, d, vis);
    if (rc == 0) {
        for (size_t i = 0; i < n; i++)
            ids[i] = d->inputs[i].id;
        rc = task_add_general(g, d, tick, tick_len, out_task, out_values, out_tidx);
        for (size_t i = 0; rc == 0 && i < n; i++)
            take_ref(g, ids[i]);
    }
    if (ids != ids_st) {
        free(ids);
        free(vis);
    }
    return rc;
}

int pdi_task_add_locked(pydron_graph *g, const pydron_task_desc *d, const uint32_t *tick,
                        size_t tick_len, pydron_task *out_task, pydron_value *out_values,
                        uint32_t *out_tidx)
{
    /* the fast path takes the inputs itself; inlined here (a call less per
     * task: its register saves were ~20 instructions of a chained task) */
    if (PDI_LIKELY(pdi_task_add_fast(g, d, tick, tick_len, out_task, out_values, out_tidx)))
        return 0;
    return task_add_slow(g, d, tick, tick_len, out_task, out_values, out_tidx);
}

/* Cancel every task that has not started; pending inputs fail too. The
 * caller has taken the tasks back from the policy (sched/). */
void pdi_graph_cancel_locked(pydron_graph *g)
{
    __atomic_store_n(&g->canceled, 1, __ATOMIC_RELAXED);
    g->closed = 1;
    pdi_error *e = pdi_error_new(0, PYDRON_ECANCELED, pdi_strdup("the graph was canceled"), NULL, 0);
    e = pdi_err_or_oom(e);
    /* every task finished (a graph freed after its run): none to scan for */
    for (uint32_t i = 1; i <= g->tcount && g->pending; i++) {
        pdi_task *t = pdi_T(g, i);
        if (t->state != PYDRON_TASK_WAITING && t->state != PYDRON_TASK_READY)
            continue;
        if (t->bits & TB_ZOMBIE)
            continue;
        pdi_task_failed(g, i, e, PYDRON_TASK_CANCELED, NULL);
        pdi_fail_drain(g);
    }
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PYDRON_VALUE_PENDING && (v->vf & VF_INPUT))
            pdi_value_fail(g, i, e);
    }
    pdi_error_unref(e);
    g->events++;
    g->chg.wake = 1;
    g->chg.dirty = 1;
}

/* ------------------------------------------------------------ worker loss */

/* A task goes back to the queue (retry after PYDRON_EIO, or recompute):
 * inputs that are pending again (lost and being recomputed) make it wait. */
void pdi_task_requeue(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    uint32_t *ins = pdi_task_ins(t);
    t->npending = 0;
    t->state = PYDRON_TASK_WAITING;
    for (uint16_t i = 0; i < t->nin; i++) {
        pdi_value *v = pdi_V(g, ins[i]);
        if (v->state == PYDRON_VALUE_PENDING) {
            if (pdi_cons_add(v, ti) != 0) {
                pdi_task_failed(g, ti, &pdi_oom_error, PYDRON_TASK_FAILED, NULL);
                return;
            }
            t->npending++;
        }
    }
    if (t->npending == 0)
        pdi_task_ready(g, ti);
}
