/* Tasks: adding a task, its outcome (succeeded, failed, refined), readiness
 * of its consumers, requeue and cancel. */
#include <stdio.h>

#include "graph/graph.h"

/* ------------------------------------------------------------------ tasks */


/* Report a finished task (g->chg.done). */
static inline void report_done(pydron_graph *g, uint32_t ti, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    pdi_changes *c = &g->chg;
    c->dirty = 1;
    if (run && run->counted && !(t->bits & TB_QUEUED) &&
        !(t->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)))
        return;   /* nothing the scheduler would do with the report */
    if (PDI_UNLIKELY(c->ndone == c->capdone) &&
        pdi_grow((void **)&c->done, &c->capdone, c->ndone + 1, sizeof(pdi_done)) != 0) {
        /* out of memory: one duration sample is lost and a stale policy
         * entry stays counted; every waiter looks again */
        c->wake = 1;
        return;
    }
    c->done[c->ndone++] = (pdi_done){
        .task = pdi_mkid(g->tag, t->gen, ti),
        .kind = t->kind,
        .flags = t->flags,
        .state = t->state,
        .queued = (t->bits & TB_QUEUED) != 0,
        .seconds = run && run->end_ns > run->start_ns && run->start_ns
                       ? (float)(run->end_ns - run->start_ns) * 1e-9f
                       : 0.0f,
    };
    t->bits &= (uint8_t)~TB_QUEUED;
}

static inline void task_finish_common(pydron_graph *g, uint32_t ti, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->hpos != PDI_NOPOS)
        pdi_heap_remove(g, ti);
    if (g->pending)
        g->pending--;
    g->events++;
    report_done(g, ti, run);
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

/* pdi_task_succeeded in one pass for the most common shape, which is most
 * of the per-task cost of tiny tasks: one output, still pending and ours,
 * at most PDI_VCONS_INLINE consumers, none a forward, nobody holding it
 * (so the record is not kept), bytes on the driver small enough to be
 * stored inline; no tick-heap entry, no lineage, no zombie. Returns 0 when
 * the shape does not hold (nothing changed): the general path does it.
 * Does exactly what the general path does for this shape. */
_Static_assert(sizeof(((pdi_out *)0)->inl) == sizeof(((pdi_value *)0)->u.in),
               "an inline output fills a value's inline bytes");
static int succeeded_simple(pydron_graph *g, uint32_t ti, pdi_task *t, const pdi_run *run)
{
    if (t->nout != 1 || (t->bits & ~TB_QUEUED) || t->hpos != PDI_NOPOS || g->lin || g->freeing)
        return 0;
    pdi_tout *jo = run->outs;
    uint32_t oi = t->outs.in[0];
    pdi_value *o = pdi_V(g, oi);
    uint64_t tid = pdi_tid(g, ti);
    pdi_out *src = &jo[0].out;
    if (o->state != PYDRON_VALUE_PENDING || o->producer != tid || o->urefs ||
        (o->vf & VF_CONSHEAP) || jo[0].where >= 0 || src->len > sizeof o->u.in ||
        !(src->is_inline || !src->free_fn ||
          (src->free_fn == pdi_free_cb && src->free_arg == src->data)))
        return 0;
    size_t ncons = (size_t)o->len;
    for (size_t k = 0; k < ncons; k++)
        if (o->u.cin[k] & PDI_CONS_FWD)
            return 0;
    t->state = PYDRON_TASK_DONE;
    g->stats.tasks_done++;
    pdi_task_log_ran(g, ti, PYDRON_TASK_DONE, run);
    if (g->pending)
        g->pending--;
    g->events += 2;   /* the task finished, its output resolved */
    report_done(g, ti, run);
    /* the output: its bytes inline, ready (pdi_value_set_bytes, _ready) */
    size_t len = src->len;
    uint32_t cons[PDI_VCONS_INLINE];
    memcpy(cons, o->u.cin, sizeof cons);
    if (src->is_inline)   /* the whole buffer: a fixed copy, not a call */
        memcpy(o->u.in, src->inl, sizeof o->u.in);
    else if (len)
        memcpy(o->u.in, src->data, len);
    pdi_out_release(src);
    o->vf |= VF_INLINE;
    o->len = len;
    o->state = PYDRON_VALUE_READY;
    g->stats.bytes_live += len;
    if (g->stats.bytes_live > g->stats.bytes_peak)
        g->stats.bytes_peak = g->stats.bytes_live;
    for (size_t k = 0; k < ncons; k++)
        pdi_task_dec_pending(g, cons[k], oi);
    g->chg.resolved++;
    g->chg.dirty = 1;
    if (oi == g->chg.watch_vi)
        g->chg.watch_hit = 1;
    pdi_value_unref(g, oi);   /* the producer's hold */
    /* the task record: nobody holds its output, so it is not kept */
    for (uint16_t i = 0; i < t->nin; i++)
        pdi_value_unref_inline(g, t->ins.in[i]);
    pdi_task_free_inline(g, ti);
    return 1;
}

void pdi_task_succeeded(pydron_graph *g, uint32_t ti, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    if (run && run->outs && succeeded_simple(g, ti, t, run))
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

/* An input the fast path takes: live, and ready, or pending with room for
 * nin more consumers in the record (one value may be both inputs). */
static inline pdi_value *fast_input(pydron_graph *g, uint64_t id, size_t nin, uint32_t *vi)
{
    pdi_value *v = pdi_value_live(g, id, vi);
    if (PDI_UNLIKELY(!v))
        return NULL;
    if (v->state == PYDRON_VALUE_PENDING)
        return PDI_UNLIKELY((v->vf & VF_CONSHEAP) || v->len + nin > PDI_VCONS_INLINE) ? NULL : v;
    /* failed (the task fails at once), freed or parked: the general path */
    return PDI_LIKELY(v->state == PYDRON_VALUE_READY) ? v : NULL;
}

/* A value slot for the fast path: from the free list, else from room in the
 * last chunk (no growth); 0 if neither. Its record is not written yet, so
 * fast_value_untake can give it back. */
static inline uint32_t fast_value_take(pydron_graph *g, uint32_t *gen)
{
    uint32_t vi = g->vfree;
    if (vi) {
        pdi_value *f = pdi_V(g, vi);
        *gen = f->gen;
        g->vfree = f->u.cin[0];
        return vi;
    }
    vi = g->vcount + 1;
    if (PDI_UNLIKELY((vi >> PDI_CHUNK_BITS) >= g->nvchunks))
        return 0;
    pdi_slab_touch(g->vbase, g->vfresh, sizeof(pdi_value), vi);
    g->vcount = vi;
    *gen = 1;
    return vi;
}
/* Undo fast_value_take of vi (the last slot taken). Generation 1 is a
 * fresh slab slot, the last one counted; a slot from the free list has a
 * higher one (pdi_value_drop bumps it before listing the slot) and its
 * record still links the rest of the list. */
static void fast_value_untake(pydron_graph *g, uint32_t vi, uint32_t gen)
{
    if (gen == 1)
        g->vcount = vi - 1;
    else
        g->vfree = vi;
}

static inline void fast_value_init(pydron_graph *g, uint32_t vi, uint32_t gen, uint64_t tid,
                                   pydron_value *out)
{
    *pdi_V(g, vi) = (pdi_value){.gen = gen,
                                .state = PYDRON_VALUE_PENDING,
                                .where = -1,
                                .refs = 1,    /* producer hold */
                                .urefs = 1,   /* caller's */
                                .producer = tid};
    out->id = pdi_mkid(g->tag, gen, vi);
}

/* PYDRON_TASK_TAKE_INPUTS with inputs v0, v1 (NULL: none; one value may
 * be both): the first input slot the caller holds no reference for, or -1
 * when it holds one for each. */
static inline int take_missing(const pdi_value *v0, const pdi_value *v1)
{
    if (v0 && v0->urefs < (v1 == v0 ? 2u : 1u))
        return v0->urefs ? 1 : 0;
    return v1 && v1 != v0 && !v1->urefs ? 1 : -1;
}

/* The common task, added without a test per rare feature: PURE, a known
 * kind, at most two inputs and two outputs and a tick of at most two levels
 * (all stored in the record), a payload of at most 8 bytes, live inputs none
 * of which failed, each pending one with room for a consumer in its record,
 * and free record slots (no slab to grow). Returns 0 when any of that does
 * not hold, having changed nothing: task_add_general then does everything,
 * errors and their messages included. Two ports at most, so each is its own
 * statement (no loop, no array on the stack). */
static PDI_ALWAYS_INLINE int task_add_fast_n(pydron_graph *g, const pydron_task_desc *d,
                                            const uint32_t *tick, size_t tick_len,
                                            pydron_task *out_task, pydron_value *out_values,
                                            uint32_t *out_tidx, size_t nin, size_t nout)
{
    size_t plen = d->payload_len;
    uint32_t kind;
    if (PDI_UNLIKELY(d->version != PYDRON_TASK_DESC_VERSION ||
                     (d->flags & ~(unsigned)(PYDRON_TASK_PURE | PYDRON_TASK_TAKE_INPUTS)) ||
                     nin > 2 || nout > 2 ||
                     tick_len > 2 || plen > 8 || !(d->duration_hint >= 0) ||
                     !pdi_kind_idx(g->kt, d->kind, &kind)))
        return 0;
    if (PDI_UNLIKELY((nin && !d->inputs) || (nout && !out_values) || (plen && !d->payload)))
        return 0;
    pdi_value *v0 = NULL, *v1 = NULL;
    uint32_t i0 = 0, i1 = 0;
    if (nin && !(v0 = fast_input(g, d->inputs[0].id, nin, &i0)))
        return 0;
    if (nin > 1 && !(v1 = fast_input(g, d->inputs[1].id, nin, &i1)))
        return 0;
    /* PYDRON_TASK_TAKE_INPUTS: the caller holds a reference for each input
     * slot (the general path reports it when not) */
    int take = (d->flags & PYDRON_TASK_TAKE_INPUTS) != 0;
    if (take && take_missing(v0, v1) >= 0)
        return 0;
    /* record slots; given back (newest first) if a later one is missing */
    uint32_t o0 = 0, o1 = 0, g0 = 0, g1 = 0;
    if (nout && !(o0 = fast_value_take(g, &g0)))
        return 0;
    if (nout > 1 && !(o1 = fast_value_take(g, &g1))) {
        fast_value_untake(g, o0, g0);
        return 0;
    }
    uint32_t ti = g->tfree, tgen;
    if (ti) {
        pdi_task *f = pdi_T(g, ti);
        tgen = f->gen;
        g->tfree = f->hpos;
    } else {
        ti = g->tcount + 1;
        if (PDI_UNLIKELY((ti >> PDI_CHUNK_BITS) >= g->ntchunks)) {
            if (o1)
                fast_value_untake(g, o1, g1);
            if (o0)
                fast_value_untake(g, o0, g0);
            return 0;
        }
        pdi_slab_touch(g->tbase, g->tfresh, sizeof(pdi_task), ti);
        g->tcount = ti;
        tgen = 1;
    }

    uint64_t tid = pdi_mkid(g->tag, tgen, ti);
    uint32_t npending = 0;
    if (v0) {
        v0->refs++;
        if (v0->state == PYDRON_VALUE_PENDING) {
            v0->u.cin[v0->len++] = ti;
            npending++;
        }
    }
    if (v1) {
        v1->refs++;
        if (v1->state == PYDRON_VALUE_PENDING) {
            v1->u.cin[v1->len++] = ti;
            npending++;
        }
    }
    if (o0) {
        fast_value_init(g, o0, g0, tid, &out_values[0]);
        g->stats.values_live++;
    }
    if (o1) {
        fast_value_init(g, o1, g1, tid, &out_values[1]);
        g->stats.values_live++;
    }
    /* every field, one store each (a compound literal here becomes a
     * zeroing loop plus the stores) */
    pdi_task *t = pdi_T(g, ti);
    t->gen = tgen;
    t->state = PYDRON_TASK_WAITING;
    t->flags = PYDRON_TASK_PURE;
    t->tick_len = (uint8_t)tick_len;
    t->bits = 0;
    t->kind = kind;
    t->npending = npending;
    t->nin = (uint16_t)nin;
    t->nout = (uint16_t)nout;
    t->payload_len = (uint32_t)plen;
    t->hpos = PDI_NOPOS;
    t->seq = ++g->seq;
    t->duration = (float)d->duration_hint;
    t->label = 0;
    t->attempt = 0;
    t->requeues = 0;
    t->ins.in[0] = i0;
    t->ins.in[1] = i1;
    t->outs.in[0] = o0;
    t->outs.in[1] = o1;
    t->tick.in[0] = tick_len ? tick[0] : 0;
    t->tick.in[1] = tick_len > 1 ? tick[1] : 0;
    t->payload.p = NULL;
    t->queued_ns = 0;
    if (plen)
        memcpy(t->payload.in, d->payload, plen);
    if (PDI_UNLIKELY(d->label != NULL))
        t->label = pdi_label_add(g, d->label, kind);
    if (out_task)
        out_task->id = tid;
    if (out_tidx)
        *out_tidx = ti;
    g->stats.tasks_added++;
    g->pending++;
    if (PDI_UNLIKELY(g->rec != NULL))
        pdi_rec_add(g, ti);    /* inputs known; before it may become ready */
    if (npending == 0)   /* (no clock reading here: the inline path never applies) */
        pdi_task_ready_slow(g, ti);
    if (take) {   /* the caller's references pass to the task (which holds one each) */
        if (v0)
            pdi_value_urelease(g, i0);
        if (v1)
            pdi_value_urelease(g, i1);
    }
    return 1;
}

/* task_add_fast_n for the desc's port counts; the commonest, one input
 * and one output (a map's task, a chain's step), compiled for those: no
 * code for a second port or for none. */
static inline int task_add_fast(pydron_graph *g, const pydron_task_desc *d,
                                const uint32_t *tick, size_t tick_len,
                                pydron_task *out_task, pydron_value *out_values,
                                uint32_t *out_tidx)
{
    if (d->ninputs == 1 && d->noutputs == 1)
        return task_add_fast_n(g, d, tick, tick_len, out_task, out_values, out_tidx, 1, 1);
    return task_add_fast_n(g, d, tick, tick_len, out_task, out_values, out_tidx, d->ninputs,
                           d->noutputs);
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

int pdi_task_add_locked(pydron_graph *g, const pydron_task_desc *d, const uint32_t *tick,
                        size_t tick_len, pydron_task *out_task, pydron_value *out_values,
                        uint32_t *out_tidx)
{
    /* the fast path takes the inputs itself */
    if (PDI_LIKELY(task_add_fast(g, d, tick, tick_len, out_task, out_values, out_tidx)))
        return 0;
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
        int k = take_missing(v0, v1);
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
