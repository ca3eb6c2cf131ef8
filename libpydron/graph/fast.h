/* The fast paths of adding a task and of a task's success, in the
 * caller: pydron_task_add_many's loop and the direct lane's completions
 * inline them, so that a tiny task pays no call (and no register saves)
 * for either (graph/tasks.c keeps the general paths). */
#ifndef PYDRON_GRAPH_FAST_H
#define PYDRON_GRAPH_FAST_H

#include "graph/graph.h"

/* Report a finished task (g->chg.done). */
static inline void pdi_report_done(pydron_graph *g, pdi_task *t, uint32_t ti,
                                   const pdi_run *run)
{
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
        .task = pdi_gid(g, t->gen, ti),
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

/* pdi_task_succeeded in one pass for the most common shape, which is most
 * of the per-task cost of tiny tasks: one output, still pending and ours,
 * at most PDI_VCONS_INLINE consumers, none a forward, nobody holding it
 * (so the record is not kept), bytes on the driver small enough to be
 * stored inline; no tick-heap entry, no lineage, no zombie. Returns 0 when
 * the shape does not hold (nothing changed): the general path does it.
 * Does exactly what the general path does for this shape. */
_Static_assert(sizeof(((pdi_out *)0)->inl) == sizeof(((pdi_value *)0)->u.in),
               "an inline output fills a value's inline bytes");
static PDI_ALWAYS_INLINE int pdi_task_succeeded_simple(pydron_graph *g, uint32_t ti, pdi_task *t,
                                                       const pdi_run *run)
{
    if (t->nout != 1 || (t->bits & ~TB_QUEUED) || t->hpos != PDI_NOPOS || g->lin || g->freeing)
        return 0;
    pdi_tout *jo = run->outs;
    uint32_t oi = t->outs.in[0];
    pdi_value *o = pdi_V(g, oi);
    uint64_t tid = pdi_gid(g, t->gen, ti);
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
    pdi_task_log_ran(g, t, ti, PYDRON_TASK_DONE, run);
    if (g->pending)
        g->pending--;
    g->events += 2;   /* the task finished, its output resolved */
    pdi_report_done(g, t, ti, run);
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
    pdi_task_free_inline(g, t, ti);
    return 1;
}

/* An input the fast path takes: live, and ready, or pending with room for
 * nin more consumers in the record (one value may be both inputs). */
static inline pdi_value *pdi_fast_input(pydron_graph *g, uint64_t id, size_t nin, uint32_t *vi)
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
 * pdi_fast_value_untake can give it back. */
static inline uint32_t pdi_fast_value_take(pydron_graph *g, uint32_t *gen)
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
/* Undo pdi_fast_value_take of vi (the last slot taken). Generation 1 is a
 * fresh slab slot, the last one counted; a slot from the free list has a
 * higher one (pdi_value_drop bumps it before listing the slot) and its
 * record still links the rest of the list. */
static inline void pdi_fast_value_untake(pydron_graph *g, uint32_t vi, uint32_t gen)
{
    if (gen == 1)
        g->vcount = vi - 1;
    else
        g->vfree = vi;
}

static inline void pdi_fast_value_init(pydron_graph *g, uint32_t vi, uint32_t gen, uint64_t tid,
                                   pydron_value *out)
{
    *pdi_V(g, vi) = (pdi_value){.gen = gen,
                                .state = PYDRON_VALUE_PENDING,
                                .where = -1,
                                .refs = 1,    /* producer hold */
                                .urefs = 1,   /* caller's */
                                .producer = tid};
    out->id = pdi_gid(g, gen, vi);
}

/* PYDRON_TASK_TAKE_INPUTS with inputs v0, v1 (NULL: none; one value may
 * be both): the first input slot the caller holds no reference for, or -1
 * when it holds one for each. */
static inline int pdi_take_missing(const pdi_value *v0, const pdi_value *v1)
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
static PDI_ALWAYS_INLINE int pdi_task_add_fast_n(pydron_graph *g, const pydron_task_desc *d,
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
    if (nin && !(v0 = pdi_fast_input(g, d->inputs[0].id, nin, &i0)))
        return 0;
    if (nin > 1 && !(v1 = pdi_fast_input(g, d->inputs[1].id, nin, &i1)))
        return 0;
    /* PYDRON_TASK_TAKE_INPUTS: the caller holds a reference for each input
     * slot (the general path reports it when not) */
    int take = (d->flags & PYDRON_TASK_TAKE_INPUTS) != 0;
    if (take && pdi_take_missing(v0, v1) >= 0)
        return 0;
    /* record slots; given back (newest first) if a later one is missing */
    uint32_t o0 = 0, o1 = 0, g0 = 0, g1 = 0;
    if (nout && !(o0 = pdi_fast_value_take(g, &g0)))
        return 0;
    if (nout > 1 && !(o1 = pdi_fast_value_take(g, &g1))) {
        pdi_fast_value_untake(g, o0, g0);
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
                pdi_fast_value_untake(g, o1, g1);
            if (o0)
                pdi_fast_value_untake(g, o0, g0);
            return 0;
        }
        pdi_slab_touch(g->tbase, g->tfresh, sizeof(pdi_task), ti);
        g->tcount = ti;
        tgen = 1;
    }

    uint64_t tid = pdi_gid(g, tgen, ti);
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
        pdi_fast_value_init(g, o0, g0, tid, &out_values[0]);
        g->stats.values_live++;
    }
    if (o1) {
        pdi_fast_value_init(g, o1, g1, tid, &out_values[1]);
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

/* pdi_task_add_fast_n for the desc's port counts; the commonest, one input
 * and one output (a map's task, a chain's step), compiled for those: no
 * code for a second port or for none. */
static PDI_ALWAYS_INLINE int pdi_task_add_fast(pydron_graph *g, const pydron_task_desc *d,
                                const uint32_t *tick, size_t tick_len,
                                pydron_task *out_task, pydron_value *out_values,
                                uint32_t *out_tidx)
{
    if (d->ninputs == 1 && d->noutputs == 1)
        return pdi_task_add_fast_n(g, d, tick, tick_len, out_task, out_values, out_tidx, 1, 1);
    return pdi_task_add_fast_n(g, d, tick, tick_len, out_task, out_values, out_tidx, d->ninputs,
                           d->noutputs);
}

#endif
