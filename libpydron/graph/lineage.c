/* Lineage: finished task records kept while their outputs are referenced
 * or live only on a worker, and recomputation after a worker loss. */
#include <stdio.h>

#include "graph/graph.h"

/* A finished task is kept (for state queries and DOT) while the caller
 * holds a reference to one of its outputs, and (lineage) while one of its
 * outputs lives only on a worker, so that it can run again if that worker
 * is lost (pydron_exec_worker_lost). */
enum { HOLD_USER = 1, HOLD_REMOTE = 2 };

static int holds_output(pydron_graph *g, pdi_task *t, uint64_t tid, uint32_t except_vi)
{
    uint32_t *outs = pdi_task_outs(t);
    int h = 0;
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, outs[i]);
        if (outs[i] == except_vi || o->state == PDI_V_FREE || o->producer != tid)
            continue;
        if (o->urefs)
            h |= HOLD_USER;
        if ((o->state == PYDRON_VALUE_READY || o->state == PDI_V_PARKED) &&
            (o->vf & (VF_REMOTE | VF_ALIAS)) == VF_REMOTE)
            h |= HOLD_REMOTE;
    }
    return h;
}

/* Whether any output still holds the record (holds_output != 0), scanning
 * from the last output: a batch task's outputs are released front first
 * (the program consumes calls in order), so a held one is found at once
 * instead of after the released ones (a scan per release made releasing a
 * batch of n calls O(n^2)). */
static int any_output_held(pydron_graph *g, pdi_task *t, uint64_t tid, uint32_t except_vi)
{
    uint32_t *outs = pdi_task_outs(t);
    for (uint16_t i = t->nout; i-- > 0;) {
        pdi_value *o = pdi_V(g, outs[i]);
        if (outs[i] == except_vi || o->state == PDI_V_FREE || o->producer != tid)
            continue;
        if (o->urefs || ((o->state == PYDRON_VALUE_READY || o->state == PDI_V_PARKED) &&
                         (o->vf & (VF_REMOTE | VF_ALIAS)) == VF_REMOTE))
            return 1;
    }
    return 0;
}

/* Lineage counts: g->lin[vi] = TB_LINEAGE tasks that list vi. Dropping the
 * last count of an unreferenced record frees it, which may free its own
 * producer's record and so on up a long chain: queued, not recursed. */
static _Thread_local uint32_t *lq;
static _Thread_local size_t lq_len, lq_cap;
static _Thread_local int lq_active;

static int lin_reserve(pydron_graph *g)
{
    if (g->lincap > g->vcount)
        return 1;
    size_t nc = g->lincap ? g->lincap : 1024;
    while (nc <= g->vcount)
        nc *= 2;
    uint32_t *p = realloc(g->lin, nc * sizeof *p);
    if (!p)
        return 0;
    memset(p + g->lincap, 0, (nc - g->lincap) * sizeof *p);
    g->lin = p;
    g->lincap = nc;
    return 1;
}

static void lin_dec(pydron_graph *g, uint64_t id)
{
    uint32_t vi = pdi_id_idx(id);
    if (!g->lin || !vi || vi >= g->lincap || !g->lin[vi])
        return;
    pdi_value *v = pdi_V(g, vi);
    if (v->state == PDI_V_FREE || v->gen != pdi_id_gen(id))
        return;
    if (--g->lin[vi] == 0 && pdi_value_hidden(v)) {
        /* out of memory: the record is not freed now but stays, unreachable
         * (hidden, no lineage count), until pydron_graph_free frees every
         * record - memory held longer, nothing inconsistent */
        if (pdi_grow((void **)&lq, &lq_cap, lq_len + 1, sizeof *lq) != 0)
            return;
        lq[lq_len++] = vi;
    }
}

static void lin_drain(pydron_graph *g)
{
    if (lq_active)
        return;
    lq_active = 1;
    while (lq_len) {
        uint32_t vi = lq[--lq_len];
        pdi_value *v = pdi_V(g, vi);
        if (v->state != PDI_V_FREE && pdi_value_hidden(v) && !g->lin[vi])
            pdi_value_drop(g, vi);
    }
    lq_active = 0;
    if (lq_cap > 4096) {
        free(lq);
        lq = NULL;
        lq_cap = 0;
    }
}

static const uint64_t *retained_ids(pdi_task *p)
{
    return p->nin == 1 ? (const uint64_t *)(const void *)&p->ins
                       : (const uint64_t *)(const void *)p->ins.p;
}

/* A retained record goes (its lineage counts with it). */
static void unretain_free(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    g->nretained--;
    if (t->bits & TB_LINEAGE) {
        const uint64_t *ids = retained_ids(t);
        for (uint16_t i = 0; i < t->nin; i++)
            lin_dec(g, ids[i]);
    }
    pdi_task_free(g, ti);
    lin_drain(g);
}

void pdi_maybe_unretain(pydron_graph *g, uint64_t producer, uint32_t except_vi)
{
    if (!pdi_producer_retained(g, producer))
        return;
    uint32_t ti = pdi_id_idx(producer);
    if (!any_output_held(g, pdi_T(g, ti), producer, except_vi))
        unretain_free(g, ti);
}

void pdi_value_release_hook(pydron_graph *g, uint32_t vi)
{
    if (g->nretained)
        pdi_maybe_unretain(g, pdi_V(g, vi)->producer, 0);
}

/* Store input ids in a finished task's record (ins is no longer needed as
 * value indices); ids was allocated by the caller (heap if nin > 1). */
static void task_keep(pydron_graph *g, uint32_t ti, uint64_t *ids, int lineage)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->bits & TB_IN_HEAP) {
        free(t->ins.p);
        t->bits &= (uint8_t)~TB_IN_HEAP;
    }
    if (t->nin == 1) {
        memcpy(&t->ins, ids, sizeof(uint64_t));
    } else if (t->nin > 1) {
        t->ins.p = (uint32_t *)(void *)ids;
        t->bits |= TB_IN_HEAP;
    }
    t->bits |= TB_RETAINED;
    if (lineage)
        t->bits |= TB_LINEAGE;
    g->nretained++;
}

/* ids of a task's inputs (or of their alias roots), before its references go */
uint64_t *pdi_input_ids(pydron_graph *g, pdi_task *t, uint64_t *one, int roots)
{
    uint64_t *ids = t->nin <= 1 ? one : malloc(t->nin * sizeof(uint64_t));
    if (ids) {
        uint32_t *ins = pdi_task_ins(t);
        for (uint16_t i = 0; i < t->nin; i++) {
            uint32_t vi = ins[i];
            while (roots && (pdi_V(g, vi)->vf & VF_ALIAS))
                vi = pdi_V(g, vi)->u.cin[0];
            ids[i] = pdi_vid(g, vi);
        }
    }
    return ids;
}

/* Called when a task has finished and released its inputs' references
 * (ids computed before). Returns 1 if the record was kept. */
int pdi_task_retain(pydron_graph *g, uint32_t ti, const uint64_t *ids)
{
    pdi_task *t = pdi_T(g, ti);
    if (g->freeing || !holds_output(g, t, pdi_tid(g, ti), 0))
        return 0;
    uint64_t *copy = (uint64_t *)(uintptr_t)ids;
    if (t->nin > 1 && !(copy = pdi_memdup(ids, t->nin * sizeof(uint64_t))))
        return 0;
    task_keep(g, ti, copy, 0);
    return 1;
}

/* Release a finished task's input references and free or retain it. A
 * PURE task that made a remote value keeps its inputs' records alive
 * (lineage), so that the value can be made again after a worker loss even
 * when those inputs were released meanwhile (they are then recomputed
 * first, recursively). */
void pdi_task_release(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    int h = g->freeing ? 0 : holds_output(g, t, pdi_tid(g, ti), 0);
    int lineage = (h & HOLD_REMOTE) && t->state == PYDRON_TASK_DONE &&
                  (t->flags & PYDRON_TASK_PURE) && lin_reserve(g);
    uint64_t one;
    uint64_t *ids = h ? pdi_input_ids(g, t, &one, lineage) : NULL;
    uint32_t *ins = pdi_task_ins(t);
    if (lineage && ids)
        for (uint16_t i = 0; i < t->nin; i++)
            g->lin[pdi_id_idx(ids[i])]++;   /* before the refs go: keeps the records */
    for (uint16_t i = 0; i < t->nin; i++)
        pdi_value_unref(g, ins[i]);
    if (ids)
        task_keep(g, ti, ids, lineage);
    else
        pdi_task_free(g, ti);
}

/* ------------------------------------------------ lineage recomputation */

/* The kept record of vi's producer if it can run again, else NULL. */
static pdi_task *lineage_producer(pydron_graph *g, const pdi_value *v, uint32_t *pi_out)
{
    uint64_t producer = v->producer;
    uint32_t pi = pdi_id_idx(producer);
    if (!producer || pdi_id_tag(producer) != g->tag || !pi || pi > g->tcount)
        return NULL;
    pdi_task *p = pdi_T(g, pi);
    if (p->gen != pdi_id_gen(producer) || !(p->bits & TB_LINEAGE) ||
        p->state != PYDRON_TASK_DONE)
        return NULL;
    *pi_out = pi;
    return p;
}

/* vi's bytes are gone: parked, or lost with worker w */
static int value_gone(const pdi_value *v, unsigned w)
{
    return v->state == PDI_V_PARKED ||
           (v->state == PYDRON_VALUE_READY && (v->vf & (VF_REMOTE | VF_LOCAL | VF_ALIAS)) == VF_REMOTE &&
            v->where == (int16_t)w);
}

/* a retained input id, or 0 if that record is gone */
static uint32_t live_input(pydron_graph *g, uint64_t id)
{
    uint32_t vi = pdi_id_idx(id);
    if (!vi || vi > g->vcount)
        return 0;
    pdi_value *v = pdi_V(g, vi);
    return (v->state == PDI_V_FREE || v->gen != pdi_id_gen(id)) ? 0 : vi;
}

enum { LS_NONE = 0, LS_VISIT, LS_OK, LS_ALIAS, LS_FAIL_GONE, LS_FAIL_RETRY, LS_FAIL_INPUT };

static void push_u32(uint32_t **a, size_t *n, size_t *cap, uint32_t x)
{
    if (pdi_grow((void **)a, cap, *n + 1, sizeof **a) != 0)
        abort();   /* worker-loss bookkeeping cannot be half done */
    (*a)[(*n)++] = x;
}

/* Decide, depth first and without recursion (lineage chains can be long),
 * whether each gone value reachable from the seeds can be made again: its
 * producer record is kept, has retries left, and every input is available,
 * pending, or gone and recomputable itself. */
static void lineage_decide(pydron_graph *g, uint8_t *mark, uint32_t seed, unsigned w,
                           uint32_t **stk, size_t *cap)
{
    size_t n = 0;
    push_u32(stk, &n, cap, seed);
    while (n) {
        uint32_t x = (*stk)[n - 1];
        pdi_value *v = pdi_V(g, x);
        uint32_t pi;
        pdi_task *p = lineage_producer(g, v, &pi);
        if (mark[x] == LS_NONE) {
            mark[x] = LS_VISIT;
            if (!p) {
                mark[x] = LS_FAIL_GONE;
            } else if (p->attempt >= g->max_retries) {
                mark[x] = LS_FAIL_RETRY;
            } else {
                const uint64_t *ids = retained_ids(p);
                for (uint16_t k = 0; k < p->nin; k++) {
                    uint32_t ri = live_input(g, ids[k]);
                    if (ri && mark[ri] == LS_NONE && value_gone(pdi_V(g, ri), w))
                        push_u32(stk, &n, cap, ri);
                }
                continue;   /* decided when its inputs are */
            }
        } else if (mark[x] == LS_VISIT) {
            int ok = 1;
            const uint64_t *ids = retained_ids(p);
            for (uint16_t k = 0; k < p->nin && ok; k++) {
                uint32_t ri = live_input(g, ids[k]);
                pdi_value *r = ri ? pdi_V(g, ri) : NULL;
                if (!r || r->state == PYDRON_VALUE_FAILED)
                    ok = 0;
                else if (value_gone(r, w))
                    ok = mark[ri] == LS_OK;
            }
            mark[x] = ok ? LS_OK : LS_FAIL_INPUT;
        }
        n--;
    }
}

static pdi_error *lost_error(pydron_graph *g, pdi_value *v, unsigned w, uint8_t why)
{
    uint32_t pi;
    pdi_task *p = lineage_producer(g, v, &pi);
    char *m;
    if (why == LS_FAIL_RETRY)
        m = pdi_asprintf("value lost with worker %u (its only copy); task '%s' that makes it "
                         "already ran %u times and may not run again (max_retries=%u)",
                         w, p ? pdi_task_name(g, p) : "?", p ? (unsigned)p->attempt + 1 : 0,
                         g->max_retries);
    else if (why == LS_FAIL_INPUT)
        m = pdi_asprintf("value lost with worker %u (its only copy) and its producer cannot run "
                         "again (an input it needs is gone and cannot be recomputed)", w);
    else
        m = pdi_asprintf("value lost with worker %u (its only copy) and its producer cannot run "
                         "again (not a pure task whose record was kept)", w);
    pdi_error *e = pdi_error_new(v->producer, PYDRON_ETASK, m, NULL, 0);
    if (e && p)
        e->who = pdi_strdup(pdi_task_name(g, p));
    return e;
}

/* Worker w is gone: every value whose only copy was there and that is
 * still referenced is recomputed from its producer (kept as lineage), after
 * the inputs that producer needs and that are gone too (lost, or released
 * since: parked), recursively. Values that cannot be made again fail with
 * a message saying why. Tasks that read them and have not run wait for the
 * new copies; aliases of them resolve again. */
void pdi_worker_lost_locked(pydron_graph *g, unsigned w)
{
    size_t nseeds = 0;
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state != PYDRON_VALUE_READY || !value_gone(v, w))
            continue;
        if (pdi_value_hidden(v)) {
            /* only lineage reads it (executor without release()): it is
             * recomputed if a later loss needs it */
            v->state = PDI_V_PARKED;
            v->vf &= (uint8_t)~VF_FETCHING;
            continue;
        }
        nseeds++;
    }
    if (!nseeds)
        return;
    uint8_t *mark = calloc((size_t)g->vcount + 1, 1);
    if (!mark)
        abort();
    uint32_t *stk = NULL;
    size_t cap = 0;
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PYDRON_VALUE_READY && value_gone(v, w) && mark[i] == LS_NONE)
            lineage_decide(g, mark, i, w, &stk, &cap);
    }
    /* seeds that cannot be made again fail (parked ones stay as they are:
     * nothing reads them but the lineage of values that fail too) */
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (mark[i] < LS_FAIL_GONE || v->state != PYDRON_VALUE_READY)
            continue;
        pdi_error *e = pdi_err_or_oom(lost_error(g, v, w, mark[i]));
        v->state = PYDRON_VALUE_FAILED;
        v->vf &= (uint8_t)~(VF_REMOTE | VF_FETCHING);
        v->u.err = e;
        if (e == &pdi_oom_error)
            e->refs++;
    }
    /* the rest goes back to PENDING, held by its producer as a fresh output */
    for (uint32_t i = 1; i <= g->vcount; i++) {
        if (mark[i] != LS_OK)
            continue;
        pdi_value *v = pdi_V(g, i);
        v->state = PYDRON_VALUE_PENDING;
        v->vf &= (uint8_t)~(VF_REMOTE | VF_LOCAL | VF_FETCHING | VF_INLINE);
        v->where = -1;
        v->len = 0;   /* no consumers listed yet */
        v->refs++;
    }
    /* aliases (refinement outputs bound to them) resolve again: back to a
     * pending forward whose hold on the root is the alias's own; aliases of
     * values that failed fail with them */
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *a = pdi_V(g, i);
        if (a->state != PYDRON_VALUE_READY || !(a->vf & VF_ALIAS))
            continue;
        uint32_t ri = a->u.cin[0];
        if (mark[ri] == LS_OK) {
            a->state = PYDRON_VALUE_PENDING;
            a->vf = (uint8_t)((a->vf & ~VF_ALIAS) | VF_FWD);
            a->len = 0;
            a->where = -1;
            if (pdi_cons_add(pdi_V(g, ri), i | PDI_CONS_FWD) != 0)
                abort();
            a->refs++;   /* the consumer entry's hold */
            mark[i] = LS_ALIAS;
        } else if (mark[ri] >= LS_FAIL_GONE && pdi_V(g, ri)->state == PYDRON_VALUE_FAILED) {
            a->vf &= (uint8_t)~VF_ALIAS;
            a->state = PYDRON_VALUE_FAILED;
            a->u.err = pdi_V(g, ri)->u.err;
            a->u.err->refs++;
            pdi_value_unref(g, ri);   /* the alias's hold */
        }
    }
    /* consumers that have not run yet wait again */
    for (uint32_t ti = 1; ti <= g->tcount; ti++) {
        pdi_task *t = pdi_T(g, ti);
        if (t->state == PDI_T_FREE || (t->bits & (TB_RETAINED | TB_ZOMBIE)))
            continue;
        if (t->state != PYDRON_TASK_WAITING && t->state != PYDRON_TASK_READY)
            continue;
        uint32_t *ins = pdi_task_ins(t);
        uint32_t add = 0;
        for (uint16_t k = 0; k < t->nin; k++) {
            uint8_t m = mark[ins[k]];
            if ((m == LS_OK || m == LS_ALIAS) && pdi_cons_add(pdi_V(g, ins[k]), ti) == 0)
                add++;
        }
        if (!add)
            continue;
        if (t->state == PYDRON_TASK_READY)
            t->state = PYDRON_TASK_WAITING;   /* a pick of it meanwhile is skipped (sched/) */
        t->npending += add;
    }
    /* producers run again (once each, counted as a retry): their lineage
     * counts become ordinary input references again */
    for (uint32_t i = 1; i <= g->vcount; i++) {
        uint32_t pi;
        pdi_task *p;
        if (mark[i] != LS_OK || !(p = lineage_producer(g, pdi_V(g, i), &pi)))
            continue;   /* already reset for another output */
        uint64_t one;
        uint64_t *ids = p->nin <= 1 ? &one : malloc(p->nin * sizeof(uint64_t));
        if (!ids)
            abort();
        memcpy(ids, retained_ids(p), p->nin * sizeof(uint64_t));
        if (p->bits & TB_IN_HEAP)
            free(p->ins.p);
        p->bits &= (uint8_t)~(TB_RETAINED | TB_LINEAGE | TB_IN_HEAP);
        g->nretained--;
        uint32_t *ins = p->ins.in;
        if (p->nin > 2) {
            if (!(ins = malloc(p->nin * sizeof(uint32_t))))
                abort();
            p->ins.p = ins;
            p->bits |= TB_IN_HEAP;
        }
        for (uint16_t k = 0; k < p->nin; k++) {
            ins[k] = pdi_id_idx(ids[k]);
            pdi_V(g, ins[k])->refs++;
            g->lin[ins[k]]--;
        }
        if (ids != &one)
            free(ids);
        p->attempt++;
        g->pending++;
        g->stats.tasks_retried++;
        pdi_task_requeue(g, pi);
    }
    free(stk);
    free(mark);
    g->events++;
    g->chg.wake = 1;
    g->chg.dirty = 1;
}
