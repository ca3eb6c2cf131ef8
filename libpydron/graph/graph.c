/* Graph records: slabs of tasks and values, adding tasks, references,
 * completion and failure propagation. Everything here runs with g->mu held
 * unless the function is a public entry point (which takes it). */
#include <stdio.h>

#include "graph/core.h"
#include "store/shm.h"
#include "util/abi.h"

_Thread_local pydron_graph *pdi_tls_cb_graph;
static _Atomic uint32_t tag_counter;
static pdi_owner owner_none = {NULL, NULL};   /* static bytes: nothing to free */

/* ------------------------------------------------------------------ slabs */

static int slab_slot(void ***chunks, size_t *nchunks, uint32_t *count, size_t esz, uint32_t *idx)
{
    uint32_t i = *count + 1;  /* index 0 is never used */
    if (i > PDI_MAX_IDX)
        return pdi_err(PYDRON_ENOMEM, "too many live records in one graph (max %u)", PDI_MAX_IDX);
    size_t c = i >> PDI_CHUNK_BITS;
    if (c >= *nchunks) {
        void **nc = realloc(*chunks, (c + 1) * sizeof(void *));
        if (!nc)
            return pdi_err(PYDRON_ENOMEM, "out of memory growing the graph");
        *chunks = nc;
        nc[c] = malloc(PDI_CHUNK * esz);
        if (!nc[c])
            return pdi_err(PYDRON_ENOMEM, "out of memory growing the graph");
        *nchunks = c + 1;
    }
    *count = i;
    *idx = i;
    return 0;
}

static int task_alloc(pydron_graph *g, uint32_t *idx)
{
    uint32_t i, gen = 1;
    if (g->tfree) {
        i = g->tfree;
        pdi_task *t = pdi_T(g, i);
        g->tfree = t->hpos;
        gen = t->gen;
    } else {
        int rc = slab_slot((void ***)&g->tchunks, &g->ntchunks, &g->tcount, sizeof(pdi_task), &i);
        if (rc)
            return rc;
    }
    pdi_task *t = pdi_T(g, i);
    memset(t, 0, sizeof *t);
    t->gen = gen;
    t->hpos = PDI_NOPOS;
    *idx = i;
    return 0;
}

static void task_free(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->bits & TB_IN_HEAP)
        free(t->ins.p);
    if (t->bits & TB_OUT_HEAP)
        free(t->outs.p);
    if (t->bits & TB_TICK_HEAP)
        free(t->tick.p);
    if (t->bits & TB_PAY_HEAP)
        free(t->payload.p);
    t->bits = 0;
    t->state = PDI_T_FREE;
    if (++t->gen > PDI_GEN_MASK)
        return;   /* generation exhausted: retire the slot so ids stay unique */
    t->hpos = g->tfree;
    g->tfree = ti;
}

int pdi_value_new_locked(pydron_graph *g, uint32_t *idx)
{
    uint32_t i, gen = 1;
    if (g->vfree) {
        i = g->vfree;
        pdi_value *v = pdi_V(g, i);
        g->vfree = v->u.cin[0];
        gen = v->gen;
    } else {
        int rc = slab_slot((void ***)&g->vchunks, &g->nvchunks, &g->vcount, sizeof(pdi_value), &i);
        if (rc)
            return rc;
    }
    pdi_value *v = pdi_V(g, i);
    memset(v, 0, sizeof *v);
    v->gen = gen;
    v->where = -1;
    v->state = PYDRON_VALUE_PENDING;
    g->stats.values_live++;
    *idx = i;
    return 0;
}

pdi_task *pdi_task_get(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    uint32_t i = pdi_id_idx(id);
    if (pdi_id_tag(id) != g->tag || i == 0 || i > g->tcount) {
        pdi_err(PYDRON_ESTALE, "task id %#llx is not from this graph", (unsigned long long)id);
        return NULL;
    }
    pdi_task *t = pdi_T(g, i);
    if (t->state == PDI_T_FREE || (t->bits & TB_ZOMBIE) || t->gen != pdi_id_gen(id)) {
        pdi_err(PYDRON_ESTALE, "task id %#llx is stale (the task has finished and was freed)",
                (unsigned long long)id);
        return NULL;
    }
    if (idx)
        *idx = i;
    return t;
}

pdi_value *pdi_value_get(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    uint32_t i = pdi_id_idx(id);
    if (pdi_id_tag(id) != g->tag || i == 0 || i > g->vcount) {
        pdi_err(PYDRON_ESTALE, "value id %#llx is not from this graph", (unsigned long long)id);
        return NULL;
    }
    pdi_value *v = pdi_V(g, i);
    if (v->state == PDI_V_FREE || v->gen != pdi_id_gen(id) || pdi_value_hidden(v)) {
        pdi_err(PYDRON_ESTALE, "value id %#llx is stale (released)", (unsigned long long)id);
        return NULL;
    }
    if (idx)
        *idx = i;
    return v;
}

pdi_value *pdi_value_root(pydron_graph *g, pdi_value *v)
{
    while (v->vf & VF_ALIAS)
        v = pdi_V(g, v->u.cin[0]);
    return v;
}

/* ------------------------------------------------------------------ errors */

pdi_error *pdi_error_new(uint64_t task, int code, char *msg, void *detail, size_t dlen)
{
    pdi_error *e = calloc(1, sizeof *e);
    if (!e) {
        free(msg);
        free(detail);
        return NULL;
    }
    e->refs = 1;
    e->code = code;
    e->task = task;
    e->msg = msg ? msg : pdi_strdup("task failed");
    e->detail = detail;
    e->detail_len = detail ? dlen : 0;
    return e;
}

void pdi_error_unref(pdi_error *e)
{
    if (e && --e->refs == 0) {
        free(e->who);
        free(e->msg);
        free(e->detail);
        free(e);
    }
}

/* A static error for out-of-memory during failure handling. */
static pdi_error oom_error = {1u << 30, PYDRON_ETASK, 0, NULL, (char *)"out of memory", NULL, 0};

static pdi_error *err_or_oom(pdi_error *e) { return e ? e : &oom_error; }

const char *pdi_task_name(pydron_graph *g, pdi_task *t)
{
    if (t->label)
        return g->labels[t->label - 1].text;
    uint32_t n = atomic_load(&g->rt->nkinds);
    return t->kind < n ? g->rt->kinds[t->kind]->name : "?";
}

char *pdi_fail_message(pydron_graph *g, pdi_error *e)
{
    (void)g;
    if (e->code == PYDRON_ECANCELED)
        return pdi_asprintf("canceled: %s", e->msg);
    if (!e->task)
        return pdi_asprintf("input failed: %s", e->msg);
    return pdi_asprintf("task '%s' (id %llu) failed: %s", e->who ? e->who : "?",
                        (unsigned long long)e->task, e->msg);
}

/* ------------------------------------------------------------------ values */

static void task_free(pydron_graph *g, uint32_t ti);
static void maybe_unretain(pydron_graph *g, uint64_t producer, uint32_t except_vi);

static void free_local_bytes(pydron_graph *g, pdi_value *v)
{
    if (!(v->vf & VF_INLINE)) {
        pdi_owner *o = v->u.ext.owner;
        if (!o)
            free((void *)v->u.ext.data);
        else if (o != &owner_none) {
            if (o->free_fn)
                o->free_fn(o->arg);
            free(o);
        }
    }
    g->stats.bytes_live -= v->len;
}

/* No reference is left on vi but a TB_LINEAGE task reads it: keep the
 * record. Remote bytes are released all the same (workers must not fill
 * up with values nobody needs); they are recomputed if a loss needs them.
 * Bytes on the driver (constants, small outputs) are kept as they are. */
static void value_park(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    if (v->state != PYDRON_VALUE_READY || (v->vf & (VF_ALIAS | VF_FETCHING)) ||
        !(v->vf & VF_REMOTE) || !g->rt->xops->release)
        return;
    if (v->vf & VF_LOCAL)
        free_local_bytes(g, v);
    g->rt->xops->release(g->rt->xself, (pydron_value){pdi_vid(g, vi)}, (unsigned)v->where);
    v->vf &= (uint8_t)~(VF_LOCAL | VF_INLINE);
    v->state = PDI_V_PARKED;
}

static void value_drop(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    if (g->lin && vi < g->lincap && g->lin[vi] && !g->freeing) {
        value_park(g, vi);
        return;
    }
    uint64_t producer = v->producer;
    if (v->state == PYDRON_VALUE_READY) {
        if (v->vf & VF_ALIAS) {
            pdi_value_unref(g, v->u.cin[0]);
        } else {
            if (pdi_value_has_bytes(v))
                free_local_bytes(g, v);
            if ((v->vf & VF_REMOTE) && g->rt->xops->release)
                g->rt->xops->release(g->rt->xself, (pydron_value){pdi_vid(g, vi)},
                                     (unsigned)v->where);
        }
    } else if (v->state == PYDRON_VALUE_FAILED) {
        pdi_error_unref(v->u.err);
    } else if (v->state == PYDRON_VALUE_PENDING && (v->vf & VF_CONSHEAP)) {
        free(v->u.cp);
    }
    v->state = PDI_V_FREE;
    v->vf = 0;
    v->producer = 0;
    g->stats.values_live--;
    if (++v->gen <= PDI_GEN_MASK) {   /* else retire the slot */
        v->u.cin[0] = g->vfree;
        g->vfree = vi;
    }
    if (producer && g->nretained && !g->freeing)
        maybe_unretain(g, producer, 0);
}

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

static void value_drop(pydron_graph *g, uint32_t vi);

static void lin_drain(pydron_graph *g)
{
    if (lq_active)
        return;
    lq_active = 1;
    while (lq_len) {
        uint32_t vi = lq[--lq_len];
        pdi_value *v = pdi_V(g, vi);
        if (v->state != PDI_V_FREE && pdi_value_hidden(v) && !g->lin[vi])
            value_drop(g, vi);
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
    task_free(g, ti);
    lin_drain(g);
}

static void maybe_unretain(pydron_graph *g, uint64_t producer, uint32_t except_vi)
{
    uint32_t ti = pdi_id_idx(producer);
    if (pdi_id_tag(producer) != g->tag || !ti || ti > g->tcount)
        return;
    pdi_task *t = pdi_T(g, ti);
    if (t->gen != pdi_id_gen(producer) || !(t->bits & TB_RETAINED))
        return;
    if (!holds_output(g, t, producer, except_vi))
        unretain_free(g, ti);
}

void pdi_value_release_hook(pydron_graph *g, uint32_t vi)
{
    if (g->nretained)
        maybe_unretain(g, pdi_V(g, vi)->producer, 0);
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
static uint64_t *input_ids(pydron_graph *g, pdi_task *t, uint64_t *one, int roots)
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
static int task_retain(pydron_graph *g, uint32_t ti, const uint64_t *ids)
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
static void task_release(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    int h = g->freeing ? 0 : holds_output(g, t, pdi_tid(g, ti), 0);
    int lineage = (h & HOLD_REMOTE) && t->state == PYDRON_TASK_DONE &&
                  (t->flags & PYDRON_TASK_PURE) && lin_reserve(g);
    uint64_t one;
    uint64_t *ids = h ? input_ids(g, t, &one, lineage) : NULL;
    uint32_t *ins = pdi_task_ins(t);
    if (lineage && ids)
        for (uint16_t i = 0; i < t->nin; i++)
            g->lin[pdi_id_idx(ids[i])]++;   /* before the refs go: keeps the records */
    for (uint16_t i = 0; i < t->nin; i++)
        pdi_value_unref(g, ins[i]);
    if (ids)
        task_keep(g, ti, ids, lineage);
    else
        task_free(g, ti);
}

void pdi_value_ref(pydron_graph *g, uint32_t vi) { pdi_V(g, vi)->refs++; }

void pdi_value_unref(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    if (--v->refs == 0 && v->urefs == 0)
        value_drop(g, vi);
}

static int cons_add(pdi_value *v, uint32_t entry)
{
    uint64_t n = v->len;
    if (!(v->vf & VF_CONSHEAP)) {
        if (n < PDI_VCONS_INLINE) {
            v->u.cin[n] = entry;
            v->len = n + 1;
            return 0;
        }
        uint32_t *p = malloc(8 * sizeof *p);
        if (!p)
            return PYDRON_ENOMEM;
        memcpy(p, v->u.cin, sizeof v->u.cin);
        v->u.cp = p;
        v->vf |= VF_CONSHEAP;
    } else if (n >= 8 && (n & (n - 1)) == 0) {
        uint32_t *p = realloc(v->u.cp, (size_t)n * 2 * sizeof *p);
        if (!p)
            return PYDRON_ENOMEM;
        v->u.cp = p;
    }
    v->u.cp[n] = entry;
    v->len = n + 1;
    return 0;
}

/* Detach the consumer list of a pending value. */
typedef struct cons_list {
    uint32_t inl[PDI_VCONS_INLINE];
    uint32_t *p;
    size_t n;
    int heap;
} cons_list;

static void cons_take(pdi_value *v, cons_list *c)
{
    c->n = (size_t)v->len;
    c->heap = (v->vf & VF_CONSHEAP) != 0;
    if (c->heap) {
        c->p = v->u.cp;
    } else {
        memcpy(c->inl, v->u.cin, sizeof c->inl);
        c->p = c->inl;
    }
    v->vf &= (uint8_t)~VF_CONSHEAP;
    v->len = 0;
}

int pdi_value_set_bytes(pydron_graph *g, pdi_value *v, pdi_out *o)
{
    size_t len = o->len;
    /* copy small bytes inline, unless a caller's free_fn must see its buffer
     * live until the value is released */
    if (len <= sizeof v->u.in &&
        (o->is_inline || !o->free_fn || (o->free_fn == pdi_free_cb && o->free_arg == o->data))) {
        if (len)
            memcpy(v->u.in, pdi_out_data(o), len);
        v->vf |= VF_INLINE;
        pdi_out_release(o);
    } else {
        pdi_owner *own;
        if (o->free_fn == NULL) {
            own = &owner_none;
        } else if (o->free_fn == pdi_free_cb && o->free_arg == o->data) {
            own = NULL;
        } else {
            own = malloc(sizeof *own);
            if (!own) {
                pdi_out_release(o);
                return PYDRON_ENOMEM;
            }
            own->free_fn = o->free_fn;
            own->arg = o->free_arg;
        }
        v->u.ext.data = o->data;
        v->u.ext.owner = own;
        memset(o, 0, sizeof *o);
    }
    v->len = len;
    g->stats.bytes_live += len;
    if (g->stats.bytes_live > g->stats.bytes_peak)
        g->stats.bytes_peak = g->stats.bytes_live;
    return 0;
}

/* ---- propagation worklist: failures and forwards travel along chains that
 * can be millions long (a while loop refined once per iteration), so they
 * are queued and processed by the outermost call instead of recursing. ---- */

enum { W_FAIL = 1, W_FWD = 2 };
typedef struct work_item {
    uint8_t kind;
    uint32_t a, b;      /* W_FAIL: task; W_FWD: output value a bound to value b */
    pdi_error *err;
} work_item;

static _Thread_local work_item *wq;
static _Thread_local size_t wq_len, wq_cap;
static _Thread_local int wq_active;

static void wq_push(uint8_t kind, uint32_t a, uint32_t b, pdi_error *err)
{
    if (pdi_grow((void **)&wq, &wq_cap, wq_len + 1, sizeof *wq) != 0)
        abort();   /* cannot continue consistently without memory */
    if (err)
        err->refs++;
    wq[wq_len].kind = kind;
    wq[wq_len].a = a;
    wq[wq_len].b = b;
    wq[wq_len].err = err;
    wq_len++;
}

static void task_dec_pending(pydron_graph *g, uint32_t ti, uint32_t from_vi);

static void wq_drain(pydron_graph *g)
{
    if (wq_active)
        return;
    wq_active = 1;
    while (wq_len) {
        work_item it = wq[--wq_len];
        if (it.kind == W_FAIL) {
            pdi_task *t = pdi_T(g, it.a);
            if ((t->state == PYDRON_TASK_WAITING || t->state == PYDRON_TASK_READY) &&
                !(t->bits & TB_ZOMBIE))
                pdi_task_failed(g, it.a, it.err,
                                it.err->code == PYDRON_ECANCELED ? PYDRON_TASK_CANCELED
                                                                 : PYDRON_TASK_FAILED,
                                NULL);
            pdi_error_unref(it.err);
        } else {
            pdi_value_forward(g, it.a, it.b);
            pdi_value_unref(g, it.b);   /* the pending forward's hold on b */
            pdi_value_unref(g, it.a);   /* the consumer entry's hold on a */
        }
    }
    wq_active = 0;
    /* thread-local: free it now, pool threads may exit without a hook
     * (only forwards and failures use it, not the per-task hot path) */
    free(wq);
    wq = NULL;
    wq_cap = 0;
}

static void fail_drain(pydron_graph *g) { wq_drain(g); }

static void notify(pydron_graph *g, uint32_t vi, cons_list *c, pdi_error *err)
{
    for (size_t k = 0; k < c->n; k++) {
        uint32_t e = c->p[k];
        if (e & PDI_CONS_FWD) {
            wq_push(W_FWD, e & ~PDI_CONS_FWD, vi, NULL);
        } else {
            pdi_task *t = pdi_T(g, e);
            if (err && !(t->bits & TB_ZOMBIE)) {
                /* the task fails with err (its input refs go in pdi_task_failed) */
                t->npending--;
                wq_push(W_FAIL, e, 0, err);
            } else {
                task_dec_pending(g, e, vi);
            }
        }
    }
    if (c->heap)
        free(c->p);
    wq_drain(g);
}

/* Value vi (pending, consumers in c) has its bytes: mark ready and notify. */
static void value_ready(pydron_graph *g, uint32_t vi, cons_list *c)
{
    pdi_V(g, vi)->state = PYDRON_VALUE_READY;
    notify(g, vi, c, NULL);
    pdi_wake_value(g, vi);
}

void pdi_value_fail(pydron_graph *g, uint32_t vi, pdi_error *err)
{
    pdi_value *v = pdi_V(g, vi);
    if (v->state != PYDRON_VALUE_PENDING)
        return;
    cons_list c;
    cons_take(v, &c);
    v->state = PYDRON_VALUE_FAILED;
    v->u.err = err;
    err->refs++;
    notify(g, vi, &c, err);
    pdi_wake_value(g, vi);
    fail_drain(g);
}

/* Output oi of a refined task becomes (an alias of) value ti. */
void pdi_value_forward(pydron_graph *g, uint32_t oi, uint32_t ti)
{
    pdi_value *o = pdi_V(g, oi), *t = pdi_V(g, ti);
    if (o->state != PYDRON_VALUE_PENDING)
        return;
    if (t->state == PYDRON_VALUE_READY) {
        cons_list c;
        cons_take(o, &c);
        /* alias the root directly so alias chains stay one hop long and
         * intermediate values of long refinement chains can be freed */
        uint32_t ri = ti;
        while (pdi_V(g, ri)->vf & VF_ALIAS)
            ri = pdi_V(g, ri)->u.cin[0];
        pdi_value *r = pdi_V(g, ri);
        o->vf |= VF_ALIAS;
        o->vf &= (uint8_t)~VF_FWD;
        o->u.cin[0] = ri;
        r->refs++;
        o->len = r->len;
        o->where = r->where;
        value_ready(g, oi, &c);
    } else if (t->state == PYDRON_VALUE_FAILED) {
        o->vf &= (uint8_t)~VF_FWD;
        pdi_value_fail(g, oi, t->u.err);
    } else {
        /* wait for ti: the entry holds oi, and oi holds ti */
        if (cons_add(t, oi | PDI_CONS_FWD) != 0) {
            pdi_value_fail(g, oi, err_or_oom(NULL));
            return;
        }
        o->vf |= VF_FWD;
        o->refs++;
        t->refs++;
    }
}

/* ------------------------------------------------------------------ tasks */

int pdi_tick_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

uint32_t pdi_label_add(pydron_graph *g, const char *label, uint32_t kind)
{
    if (!label)
        return 0;
    if (pdi_grow((void **)&g->labels, &g->caplabels, g->nlabels + 1, sizeof(pdi_label)) != 0)
        return 0;
    char *s = pdi_strdup(label);
    if (!s)
        return 0;
    g->labels[g->nlabels].text = s;
    g->labels[g->nlabels].kind = kind;
    return (uint32_t)++g->nlabels;
}

/* Log a finished task (timings) into the chunked log. */
void pdi_task_log(pydron_graph *g, uint32_t ti, uint8_t state, pydron_job *j)
{
    pdi_task *t = pdi_T(g, ti);
    size_t c = g->nlog >> PDI_CHUNK_BITS;
    if (c >= g->nlchunks) {
        pdi_tlog **nc = realloc(g->lchunks, (c + 1) * sizeof *nc);
        if (!nc)
            return;
        g->lchunks = nc;
        if (!(nc[c] = malloc(PDI_CHUNK * sizeof(pdi_tlog))))
            return;
        g->nlchunks = c + 1;
    }
    pdi_tlog *e = &g->lchunks[c][g->nlog & (PDI_CHUNK - 1)];
    e->task = pdi_tid(g, ti);
    e->queued_ns = t->queued_ns;
    e->started_ns = j ? j->start_ns : 0;
    e->finished_ns = (j && j->end_ns) ? j->end_ns : pdi_now_ns();
    e->kind = t->label ? (PDI_TLOG_LABEL | t->label) : t->kind;
    e->worker = (int16_t)(j ? j->worker : -1);
    e->state = state;
    e->exec = (uint8_t)(j && j->worker >= 0);
    g->nlog++;
}

static void task_finish_common(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->hpos != PDI_NOPOS)
        pdi_heap_remove(g, ti);
    if (g->pending)
        g->pending--;
    pdi_wake_done(g, t);
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

void pdi_task_succeeded(pydron_graph *g, uint32_t ti, pydron_job *j)
{
    pdi_task *t = pdi_T(g, ti);
    uint32_t *outs = pdi_task_outs(t), *ins = pdi_task_ins(t);
    t->state = PYDRON_TASK_DONE;
    g->stats.tasks_done++;
    pdi_task_log(g, ti, PYDRON_TASK_DONE, j);
    if (j && j->end_ns > j->start_ns && j->start_ns)
        pdi_kstat_add(g, t->kind, (double)(j->end_ns - j->start_ns) * 1e-9);
    task_finish_common(g, ti);
    uint64_t tid = pdi_tid(g, ti);
    /* which outputs we hold (all, except after a partial recomputation):
     * one bit each, on the stack - nothing to allocate here, where running
     * out of memory could not be reported */
    uint64_t held[HELD_WORDS(t->nout)];
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, outs[i]);
        held_set(held, i, o->state == PYDRON_VALUE_PENDING && o->producer == tid);
    }
    for (uint16_t i = 0; i < t->nout; i++) {
        uint32_t oi = outs[i];
        pdi_value *o = pdi_V(g, oi);
        if (o->state != PYDRON_VALUE_PENDING || o->producer != tid) {
            /* a recomputation: this output survived the worker loss (or
             * was released meanwhile); forget the new copy where it ran,
             * unless it replaced the surviving one there */
            if (j)
                pdi_out_release(&j->outs[i].out);
            if (j && j->outs[i].where >= 0 && g->rt->xops->release &&
                !(o->state == PYDRON_VALUE_READY && (o->vf & VF_REMOTE) &&
                  o->where == (int16_t)j->outs[i].where && o->producer == tid))
                g->rt->xops->release(g->rt->xself, (pydron_value){pdi_job_out_id(g, tid, oi)},
                                     (unsigned)j->outs[i].where);
            continue;
        }
        cons_list c;
        cons_take(o, &c);
        int rc = 0;
        if (j && j->outs[i].where >= 0) {
            o->vf |= VF_REMOTE;
            o->where = (int16_t)j->outs[i].where;
            o->len = j->outs[i].size;
        } else if (j) {
            rc = pdi_value_set_bytes(g, o, &j->outs[i].out);
        }
        if (rc) {
            o->len = c.n;   /* put the consumers back and fail instead */
            if (c.heap) {
                o->u.cp = c.p;
                o->vf |= VF_CONSHEAP;
            } else {
                memcpy(o->u.cin, c.inl, sizeof c.inl);
            }
            pdi_value_fail(g, oi, &oom_error);
        } else {
            value_ready(g, oi, &c);
        }
    }
    t = pdi_T(g, ti);
    (void)ins;
    for (uint16_t i = 0; i < t->nout; i++)
        if (held_get(held, i))
            pdi_value_unref(g, pdi_task_outs(t)[i]);
    task_release(g, ti);
}

void pdi_task_failed(pydron_graph *g, uint32_t ti, pdi_error *err, uint8_t state, pydron_job *j)
{
    pdi_task *t = pdi_T(g, ti);
    err = err_or_oom(err);
    if (err != &oom_error && !err->who && err->task == pdi_tid(g, ti))
        err->who = pdi_strdup(pdi_task_name(g, t));
    if ((t->flags & PYDRON_TASK_REFINABLE) && t->state == PYDRON_TASK_WAITING && g->refq_promised)
        g->refq_promised--;   /* never queued: its reserved refq room is free again */
    t->state = state;
    if (state != PYDRON_TASK_CANCELED)
        g->stats.tasks_failed++;
    pdi_task_log(g, ti, state, j);
    task_finish_common(g, ti);
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
    uint64_t *ids = input_ids(g, t, &one, 0);
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
    } else if (!ids || !task_retain(g, ti, ids)) {
        task_free(g, ti);   /* kept above if the caller holds one of its outputs */
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
    task_finish_common(g, ti);
    for (uint16_t i = 0; i < t->nout; i++)
        pdi_value_unref(g, pdi_task_outs(t)[i]);
    task_release(g, ti);
}

static void task_dec_pending(pydron_graph *g, uint32_t ti, uint32_t from_vi)
{
    pdi_task *t = pdi_T(g, ti);
    if (t->bits & TB_ZOMBIE) {
        pdi_value_unref(g, from_vi);
        if (--t->npending == 0)
            task_free(g, ti);
        return;
    }
    if (--t->npending == 0 && t->state == PYDRON_TASK_WAITING)
        pdi_task_became_ready(g, ti);
}

int pdi_task_add_locked(pydron_graph *g, const pydron_task_desc *d, const uint32_t *tick,
                        size_t tick_len, pydron_task *out_task, pydron_value *out_values,
                        uint32_t *out_tidx)
{
    pydron_runtime *rt = g->rt;
    if (d->version != PYDRON_TASK_DESC_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_task_desc.version is %u, expected %u", d->version,
                       PYDRON_TASK_DESC_VERSION);
    if (d->kind >= atomic_load(&rt->nkinds))
        return pdi_err(PYDRON_ENOTFOUND, "no kind %u registered", d->kind);
    unsigned flags = d->flags ? d->flags : PYDRON_TASK_PURE;
    if (flags & ~(PYDRON_TASK_PURE | PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE))
        return pdi_err(PYDRON_EINVAL, "unknown task flags 0x%x", d->flags);
    if ((flags & PYDRON_TASK_PURE) && (flags & PYDRON_TASK_SYNC))
        return pdi_err(PYDRON_EINVAL, "a task cannot be both PURE and SYNC");
    pdi_kind *k = rt->kinds[d->kind];
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
    /* and the driver-queue slots the task will take, so that it never has
     * to allocate when it becomes ready (nothing to undo: spare room) */
    if ((flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)) && pdi_heap_reserve(g) != 0)
        goto oom;
    if ((flags & PYDRON_TASK_REFINABLE) && pdi_refq_reserve(g) != 0)
        goto oom;
    uint32_t ti;
    if (task_alloc(g, &ti) != 0)
        goto oom;
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
            value_drop(g, outs[--made]);
        task_free(g, ti);
        goto oom;
    }
    t = pdi_T(g, ti);
    t->flags = (uint8_t)flags;
    t->kind = d->kind;
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
        t->label = pdi_label_add(g, d->label, d->kind);
    uint64_t tid = pdi_tid(g, ti);
    for (uint16_t i = 0; i < t->nout; i++) {
        pdi_value *o = pdi_V(g, outs[i]);
        o->producer = tid;
        o->refs = 1;    /* producer hold */
        o->urefs = 1;   /* caller's */
        out_values[i].id = pdi_vid(g, outs[i]);
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
            if (cons_add(v, ti) != 0 && !failed)
                failed = &oom_error;
            else
                t->npending++;
        } else if (v->state == PYDRON_VALUE_FAILED && !failed) {
            failed = v->u.err;
        }
    }
    if (flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE))
        pdi_heap_insert(g, ti);
    if (flags & PYDRON_TASK_REFINABLE)
        g->refq_promised++;
    if (failed) {
        pdi_task_failed(g, ti, failed,
                        failed->code == PYDRON_ECANCELED ? PYDRON_TASK_CANCELED : PYDRON_TASK_FAILED,
                        NULL);
        fail_drain(g);
    } else if (t->npending == 0) {
        pdi_task_became_ready(g, ti);
    }
    return 0;
oom:
    free(hin);
    free(hout);
    free(htick);
    free(hpay);
    return pdi_err(PYDRON_ENOMEM, "out of memory adding a task");
}

/* ------------------------------------------------------------------ public */

static int lock_graph(pydron_graph *g, const char *fn)
{
    if (!g)
        return pdi_err(PYDRON_EINVAL, "%s: NULL graph", fn);
    pthread_mutex_lock(&g->mu);
    return 0;
}

PYDRON_API int pydron_graph_new(pydron_runtime *rt, pydron_graph **out)
{
    pdi_err_clear();
    if (!rt || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_new: NULL argument");
    *out = NULL;
    pydron_graph *g = calloc(1, sizeof *g);
    if (!g)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate graph");
    g->rt = rt;
    pthread_mutex_init(&g->mu, NULL);
    pdi_cond_init_monotonic(&g->cv);
    pthread_mutex_lock(&rt->mu);
    int rc = 0;
    if (rt->pops) {
        if (rt->policy_users) {
            rc = pdi_err(PYDRON_EBUSY, "the custom policy of this runtime already serves a graph");
        } else {
            rt->policy_users++;
            g->pops = rt->pops;
            g->pself = rt->pself;
        }
        g->need_bl = 1;
        g->need_loc = 1;
    } else {
        rc = pdi_policy_create(rt->opts.policy, &g->pops, &g->pself);
        g->own_policy = 1;
        g->need_bl = rt->opts.policy == PYDRON_POLICY_CRITICAL_PATH;
        g->need_loc = rt->opts.policy == PYDRON_POLICY_LOCALITY;
    }
    if (rc == 0) {
        do {
            g->tag = atomic_fetch_add(&tag_counter, 1) % 4095u + 1u;
        } while (pdi_rt_graph_by_tag(rt, g->tag));
        g->next_in_rt = rt->graphs;
        if (rt->graphs)
            rt->graphs->prev_in_rt = g;
        rt->graphs = g;
        rt->ngraphs++;
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc) {
        pthread_cond_destroy(&g->cv);
        pthread_mutex_destroy(&g->mu);
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

PYDRON_API int pydron_task_add(pydron_graph *g, const pydron_task_desc *desc,
                               pydron_task *out_task, pydron_value *out_values)
{
    pdi_err_clear();
    if (!g || !desc)
        return pdi_err(PYDRON_EINVAL, "pydron_task_add: NULL argument");
    if (desc->tick_len && !desc->tick)
        return pdi_err(PYDRON_EINVAL, "tick_len > 0 with NULL tick");
    if (desc->tick_mode != PYDRON_TICK_CHILD)
        return pdi_err(PYDRON_EINVAL, "tick_mode SUCCESSOR is only valid inside a refinement");
    pthread_mutex_lock(&g->mu);
    int rc;
    if (g->closed || g->freeing) {
        rc = pdi_err(PYDRON_ESTATE, "the graph is %s: no more tasks can be added",
                     g->canceled ? "canceled" : "closed");
    } else {
        uint32_t auto_tick;
        const uint32_t *tick = desc->tick;
        size_t tick_len = desc->tick_len;
        if (!tick_len) {
            auto_tick = ++g->top_tick;
            tick = &auto_tick;
            tick_len = 1;
        }
        uint32_t ti;
        rc = pdi_task_add_locked(g, desc, tick, tick_len, out_task, out_values, &ti);
        if (rc == 0 && desc->tick_len && tick[0] > g->top_tick)
            g->top_tick = tick[0];
        if (rc == 0 && g->started && !g->dispatching && pdi_dispatch_on_add(g))
            pdi_dispatch(g);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static int add_value(pydron_graph *g, uint32_t *vi, pydron_value *out)
{
    if (g->freeing)
        return pdi_err(PYDRON_ESTATE, "the graph is being freed");
    int rc = pdi_value_new_locked(g, vi);
    if (rc)
        return rc;
    pdi_V(g, *vi)->urefs = 1;
    out->id = pdi_vid(g, *vi);
    return 0;
}

PYDRON_API int pydron_value_constant_take(pydron_graph *g, const void *data, size_t len,
                                          void (*free_fn)(void *), void *free_arg,
                                          pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out || (len && !data)) {
        if (free_fn)
            free_fn(free_arg);
        return pdi_err(PYDRON_EINVAL, "pydron_value_constant: NULL argument");
    }
    pthread_mutex_lock(&g->mu);
    uint32_t vi = 0;
    int rc = add_value(g, &vi, out);
    if (rc == 0) {
        pdi_out o = {data, len, free_fn, free_arg, 1, 0, {0}};
        pdi_value *v = pdi_V(g, vi);
        if (pdi_value_set_bytes(g, v, &o) != 0) {
            value_drop(g, vi);
            rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        } else {
            v->state = PYDRON_VALUE_READY;
        }
    } else if (free_fn) {
        free_fn(free_arg);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_constant(pydron_graph *g, const void *data, size_t len,
                                     pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out || (len && !data))
        return pdi_err(PYDRON_EINVAL, "pydron_value_constant: NULL argument");
    if (len <= 16)
        return pydron_value_constant_take(g, data, len, NULL, NULL, out);
    if (len >= pdi_shm_min()) {
        /* the snapshot copy goes into shared memory: workers on this host
         * map it, so this memcpy is the whole transfer */
        void *shm = pdi_shm_copy(data, len);
        if (!shm)
            return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
        return pydron_value_constant_take(g, shm, len, pdi_shm_free, shm, out);
    }
    void *copy = pdi_memdup(data, len);
    if (!copy)
        return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
    return pydron_value_constant_take(g, copy, len, pdi_free_cb, copy, out);
}

PYDRON_API int pydron_value_input(pydron_graph *g, pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_input: NULL argument");
    pthread_mutex_lock(&g->mu);
    uint32_t vi = 0;
    int rc = add_value(g, &vi, out);
    if (rc == 0)
        pdi_V(g, vi)->vf |= VF_INPUT;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static pdi_value *get_input(pydron_graph *g, pydron_value v, uint32_t *vi, int *rc)
{
    pdi_value *r = pdi_value_get(g, v.id, vi);
    if (!r)
        *rc = PYDRON_ESTALE;
    else if (!(r->vf & VF_INPUT))
        *rc = pdi_err(PYDRON_ESTATE, "value %#llx is not an input (made by pydron_value_input)",
                      (unsigned long long)v.id);
    else if (r->state != PYDRON_VALUE_PENDING)
        *rc = pdi_err(PYDRON_ESTATE, "input value %#llx was already set", (unsigned long long)v.id);
    else
        return r;
    return NULL;
}

PYDRON_API int pydron_value_set(pydron_graph *g, pydron_value v, const void *data, size_t len)
{
    pdi_err_clear();
    if (!g || (len && !data))
        return pdi_err(PYDRON_EINVAL, "pydron_value_set: NULL argument");
    void *copy = NULL;
    if (len > 16 && !(copy = pdi_memdup(data, len)))
        return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
    pthread_mutex_lock(&g->mu);
    uint32_t vi;
    int rc = 0;
    pdi_value *r = get_input(g, v, &vi, &rc);
    if (r) {
        cons_list c;
        cons_take(r, &c);
        pdi_out o = {copy ? copy : data, len, copy ? pdi_free_cb : NULL, copy, 1, 0, {0}};
        copy = NULL;
        pdi_value_set_bytes(g, r, &o);   /* cannot fail: owner is NULL or none */
        value_ready(g, vi, &c);
        if (g->started)
            pdi_dispatch(g);
    }
    pthread_mutex_unlock(&g->mu);
    free(copy);
    return rc;
}

PYDRON_API int pydron_value_set_failed(pydron_graph *g, pydron_value v, const char *message)
{
    pdi_err_clear();
    if (!g || !message)
        return pdi_err(PYDRON_EINVAL, "pydron_value_set_failed: NULL argument");
    pthread_mutex_lock(&g->mu);
    uint32_t vi;
    int rc = 0;
    if (get_input(g, v, &vi, &rc)) {
        pdi_error *e = pdi_error_new(0, PYDRON_ETASK, pdi_strdup(message), NULL, 0);
        pdi_value_fail(g, vi, err_or_oom(e));
        if (e)
            pdi_error_unref(e);
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_retain(pydron_graph *g, pydron_value v)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_value_retain"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else
        r->urefs++;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_release(pydron_graph *g, pydron_value v)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_value_release"))
        return PYDRON_EINVAL;
    int rc = 0;
    uint32_t vi;
    pdi_value *r = pdi_value_get(g, v.id, &vi);
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->urefs == 0)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx: the caller holds no reference to release",
                     (unsigned long long)v.id);
    else if (--r->urefs == 0 && r->refs == 0)
        value_drop(g, vi);
    else if (r->urefs == 0 && r->producer && g->nretained)
        maybe_unretain(g, r->producer, 0);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_state_get(pydron_graph *g, pydron_value v, pydron_value_state *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_state_get: NULL out");
    if (lock_graph(g, "pydron_value_state_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (r) {
        *out = (pydron_value_state)r->state;
    } else {
        /* a freed value of this graph whose slot has moved on: released */
        uint32_t i = pdi_id_idx(v.id);
        if (pdi_id_tag(v.id) == g->tag && i && i <= g->vcount && pdi_id_gen(v.id) &&
            (pdi_id_gen(v.id) < pdi_V(g, i)->gen ||
             (pdi_id_gen(v.id) == pdi_V(g, i)->gen && pdi_V(g, i)->state != PDI_V_FREE)))
            *out = PYDRON_VALUE_RELEASED;
        else
            rc = PYDRON_ESTALE;
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_size(pydron_graph *g, pydron_value v, size_t *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_size: NULL out");
    if (lock_graph(g, "pydron_value_size"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->state == PYDRON_VALUE_PENDING)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx is still pending", (unsigned long long)v.id);
    else if (r->state == PYDRON_VALUE_FAILED) {
        char *m = pdi_fail_message(g, r->u.err);
        rc = pdi_err(r->u.err->code == PYDRON_ECANCELED ? PYDRON_ECANCELED : PYDRON_ETASK, "%s",
                     m ? m : "failed");
        free(m);
    } else
        *out = (size_t)pdi_value_root(g, r)->len;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

/* pydron_value_bytes and pydron_value_fetch: g->mu held; deadline_ns 0 = none. */
static int value_bytes_locked(pydron_graph *g, pydron_value v, const void **data, size_t *len,
                              uint64_t deadline_ns)
{
    int rc = 0, lost = 0;
    for (;;) {
        uint32_t vi;
        pdi_value *r = pdi_value_get(g, v.id, &vi);
        if (!r) {
            rc = PYDRON_ESTALE;
            break;
        }
        if (r->state == PYDRON_VALUE_PENDING && lost && deadline_ns &&
            pdi_now_ns() >= deadline_ns) {
            rc = pdi_err(PYDRON_ETIMEDOUT, "value %#llx is being made again",
                         (unsigned long long)v.id);
            break;
        }
        if (r->state == PYDRON_VALUE_PENDING && lost) {
            /* lost with its worker while we fetched it: its producers run
             * again (PURE tasks only, so dispatching is all it takes) */
            pdi_dispatch(g);
            struct timespec ts = pdi_abstime_after(CLOCK_MONOTONIC, 20 * 1000000u);
            g->waiters++;
            pthread_cond_timedwait(&g->cv, &g->mu, &ts);
            g->waiters--;
            continue;
        }
        if (r->state == PYDRON_VALUE_PENDING) {
            rc = pdi_err(PYDRON_ESTATE, "value %#llx is still pending (wait for it first)",
                         (unsigned long long)v.id);
            break;
        }
        if (r->state == PYDRON_VALUE_FAILED) {
            char *m = pdi_fail_message(g, r->u.err);
            rc = pdi_err(r->u.err->code == PYDRON_ECANCELED ? PYDRON_ECANCELED : PYDRON_ETASK,
                         "%s", m ? m : "failed");
            free(m);
            break;
        }
        pdi_value *root = pdi_value_root(g, r);
        if (pdi_value_has_bytes(root)) {
            *data = pdi_value_data(root);
            *len = (size_t)root->len;
            break;
        }
        /* remote: ask the executor and wait for pydron_exec_fetched */
        rc = pdi_fetch_wait(g, root, deadline_ns);
        if (rc == 1) {   /* lost meanwhile and being made again: wait for it */
            rc = 0;
            lost = 1;
            continue;
        }
        if (rc)
            break;
    }
    return rc;
}

PYDRON_API int pydron_value_bytes(pydron_graph *g, pydron_value v, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_bytes: NULL argument");
    if (lock_graph(g, "pydron_value_bytes"))
        return PYDRON_EINVAL;
    int rc = value_bytes_locked(g, v, data, len, 0);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_fetch(pydron_graph *g, pydron_value v, int timeout_ms)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_value_fetch"))
        return PYDRON_EINVAL;
    const void *d;
    size_t n;
    uint64_t deadline = timeout_ms < 0 ? 0 : pdi_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;
    int rc = value_bytes_locked(g, v, &d, &n, deadline);
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_map_private(pydron_graph *g, pydron_value v, void **addr,
                                        size_t *len)
{
    pdi_err_clear();
    if (!addr || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_map_private: NULL argument");
    const void *d;
    size_t n;
    int rc = pydron_value_bytes(g, v, &d, &n);
    if (rc)
        return rc;
    /* the caller's reference keeps the buffer (and its registry entry) alive */
    void *m;
    if ((rc = pdi_shm_map_private(d, n, &m)) != 0)
        return rc;
    *addr = m;
    *len = n;
    return 0;
}

PYDRON_API int pydron_value_unmap(void *addr, size_t len)
{
    pdi_err_clear();
    if (!addr || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_unmap: NULL argument");
    return pdi_shm_unmap_private(addr, len);
}

PYDRON_API int pydron_value_error(pydron_graph *g, pydron_value v, pydron_task *task,
                                  char **message, void **detail, size_t *detail_len)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_value_error"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->state != PYDRON_VALUE_FAILED)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx has not failed", (unsigned long long)v.id);
    else {
        pdi_error *e = r->u.err;
        char *m = NULL;
        void *d = NULL;
        if (message && !(m = pdi_strdup(e->msg)))
            rc = PYDRON_ENOMEM;
        if (!rc && detail && e->detail_len && !(d = pdi_memdup(e->detail, e->detail_len)))
            rc = PYDRON_ENOMEM;
        if (rc) {
            free(m);
            free(d);
            pdi_err(rc, "out of memory");
        } else {
            if (task)
                task->id = e->task;
            if (message)
                *message = m;
            if (detail)
                *detail = d;
            if (detail_len)
                *detail_len = e->detail_len;
        }
    }
    pthread_mutex_unlock(&g->mu);
    return rc;
}

PYDRON_API int pydron_value_producer(pydron_graph *g, pydron_value v, pydron_task *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_producer: NULL out");
    if (lock_graph(g, "pydron_value_producer"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else
        out->id = r->producer;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static int log_find(pydron_graph *g, uint64_t id, pdi_tlog **out)
{
    for (uint64_t k = g->nlog; k-- > 0;) {
        pdi_tlog *e = &g->lchunks[k >> PDI_CHUNK_BITS][k & (PDI_CHUNK - 1)];
        if (e->task == id) {
            *out = e;
            return 1;
        }
    }
    return 0;
}

PYDRON_API int pydron_task_state_get(pydron_graph *g, pydron_task t, pydron_task_state *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_task_state_get: NULL out");
    if (lock_graph(g, "pydron_task_state_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_task *r = pdi_task_get(g, t.id, NULL);
    pdi_tlog *e;
    if (r)
        *out = (pydron_task_state)r->state;
    else if (pdi_id_tag(t.id) == g->tag && log_find(g, t.id, &e))
        *out = (pydron_task_state)e->state;   /* finished and recycled */
    else
        rc = PYDRON_ESTALE;
    pthread_mutex_unlock(&g->mu);
    return rc;
}

static uint32_t tlog_kind(pydron_graph *g, const pdi_tlog *e)
{
    return (e->kind & PDI_TLOG_LABEL) ? g->labels[(e->kind & ~PDI_TLOG_LABEL) - 1].kind : e->kind;
}

static const char *tlog_label(pydron_graph *g, const pdi_tlog *e)
{
    return (e->kind & PDI_TLOG_LABEL) ? g->labels[(e->kind & ~PDI_TLOG_LABEL) - 1].text : NULL;
}

static const char *exec_name(pydron_graph *g, const pdi_tlog *e)
{
    if (!e->exec)
        return "driver";
    return g->rt->xops->name ? g->rt->xops->name : "executor";
}

PYDRON_API int pydron_task_timing_get_version(pydron_graph *g, pydron_task t,
                                              pydron_task_timing *user_out, unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_task_timing_size(version);
    if (!user_out || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_task_timing_get: %s",
                       user_out ? "unknown struct version" : "NULL out");
    if (lock_graph(g, "pydron_task_timing_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_task *r = pdi_task_get(g, t.id, NULL);
    pdi_tlog *e;
    /* filled here, then only the caller's version of it is copied out */
    pydron_task_timing full, *out = &full;
    memset(out, 0, sizeof *out);
    out->version = version;
    out->task = t;
    if (r && (r->bits & TB_RETAINED))
        r = NULL;   /* finished: the log has its timings */
    if (r) {
        out->kind = r->kind;
        out->state = (pydron_task_state)r->state;
        out->queued_ns = r->queued_ns;
        out->worker = -1;
        out->executor = "";
        out->label = r->label ? g->labels[r->label - 1].text : NULL;
    } else if (pdi_id_tag(t.id) == g->tag && log_find(g, t.id, &e)) {
        out->kind = tlog_kind(g, e);
        out->state = (pydron_task_state)e->state;
        out->queued_ns = e->queued_ns;
        out->started_ns = e->started_ns;
        out->finished_ns = e->finished_ns;
        out->worker = e->worker;
        out->executor = exec_name(g, e);
        out->label = tlog_label(g, e);
    } else {
        rc = PYDRON_ESTALE;
    }
    pthread_mutex_unlock(&g->mu);
    if (rc == 0)
        memcpy(user_out, out, size);
    return rc;
}

PYDRON_API int pydron_graph_timings(pydron_graph *g,
                                    void (*fn)(const pydron_task_timing *t, void *user), void *user)
{
    pdi_err_clear();
    if (!fn)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_timings: NULL fn");
    if (lock_graph(g, "pydron_graph_timings"))
        return PYDRON_EINVAL;
    for (uint64_t k = 0; k < g->nlog; k++) {
        pdi_tlog *e = &g->lchunks[k >> PDI_CHUNK_BITS][k & (PDI_CHUNK - 1)];
        pydron_task_timing tt = {{e->task}, tlog_kind(g, e), (pydron_task_state)e->state,
                                 e->queued_ns, e->started_ns, e->finished_ns, e->worker,
                                 exec_name(g, e), tlog_label(g, e), PYDRON_TASK_TIMING_VERSION};
        fn(&tt, user);
    }
    pthread_mutex_unlock(&g->mu);
    return 0;
}

PYDRON_API int pydron_graph_stats_get_version(pydron_graph *g, pydron_graph_stats *out,
                                              unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_graph_stats_size(version);
    if (!out || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_stats_get: %s",
                       out ? "unknown struct version" : "NULL out");
    if (lock_graph(g, "pydron_graph_stats_get"))
        return PYDRON_EINVAL;
    pydron_graph_stats s = g->stats;
    pthread_mutex_unlock(&g->mu);
    s.version = version;
    memcpy(out, &s, size); /* only what the caller's version knows */
    return 0;
}

/* Cancel every task that has not started; pending inputs fail too. */
void pdi_graph_cancel_locked(pydron_graph *g)
{
    __atomic_store_n(&g->canceled, 1, __ATOMIC_RELAXED);
    g->closed = 1;
    pdi_error *e = pdi_error_new(0, PYDRON_ECANCELED, pdi_strdup("the graph was canceled"), NULL, 0);
    e = err_or_oom(e);
    for (uint32_t i = 1; i <= g->tcount; i++) {
        pdi_task *t = pdi_T(g, i);
        if (t->state != PYDRON_TASK_WAITING && t->state != PYDRON_TASK_READY)
            continue;
        if (t->bits & TB_ZOMBIE)
            continue;
        if ((t->bits & TB_QUEUED) && g->pops->remove)
            g->pops->remove(g->pself, (pydron_task){pdi_tid(g, i)});   /* a hint */
        if (t->bits & TB_QUEUED) {
            t->bits &= (uint8_t)~TB_QUEUED;
            g->nqueued--;
        }
        pdi_task_failed(g, i, e, PYDRON_TASK_CANCELED, NULL);
        fail_drain(g);
    }
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PYDRON_VALUE_PENDING && (v->vf & VF_INPUT))
            pdi_value_fail(g, i, e);
    }
    pdi_error_unref(e);
    pdi_ring_clear(&g->refq);
    pdi_wake(g);
}

PYDRON_API int pydron_graph_cancel(pydron_graph *g)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_graph_cancel"))
        return PYDRON_EINVAL;
    pdi_graph_cancel_locked(g);
    pthread_mutex_unlock(&g->mu);
    pdi_exec_recall(g->rt);   /* jobs queued on the executor come back now */
    return 0;
}

PYDRON_API int pydron_graph_close(pydron_graph *g)
{
    pdi_err_clear();
    if (lock_graph(g, "pydron_graph_close"))
        return PYDRON_EINVAL;
    g->closed = 1;
    pthread_mutex_unlock(&g->mu);
    return 0;
}

PYDRON_API int pydron_graph_free(pydron_graph *g)
{
    pdi_err_clear();
    if (!g)
        return 0;
    if (pdi_tls_cb_graph)
        return pdi_err(PYDRON_EBUSY, "pydron_graph_free must not be called from a task body or callback");
    pthread_mutex_lock(&g->mu);
    if (g->freeing || g->driving) {
        pthread_mutex_unlock(&g->mu);
        return pdi_err(PYDRON_EBUSY, "the graph is in use by another thread (wait/run/free)");
    }
    g->freeing = 1;
    pdi_graph_cancel_locked(g);
    pthread_mutex_unlock(&g->mu);
    pdi_exec_recall(g->rt);
    pthread_mutex_lock(&g->mu);
    /* running jobs must come back before their memory goes, and a
     * pdi_dispatch running on an executor thread (from pydron_job_done) must
     * have left: it relocks g->mu after submit() returns */
    pydron_runtime *rt = g->rt;
    while (g->inflight || g->dispatching) {
        if (rt->xops->poll) {
            pthread_mutex_unlock(&g->mu);
            rt->xops->poll(rt->xself, 0);
            pthread_mutex_lock(&g->mu);
            if (!g->inflight && !g->dispatching)
                break;
        }
        struct timespec ts = pdi_abstime_after(CLOCK_MONOTONIC, 10 * 1000000u);
        g->waiters++;
        pthread_cond_timedwait(&g->cv, &g->mu, &ts);
        g->waiters--;
    }
    pthread_mutex_unlock(&g->mu);

    pthread_mutex_lock(&rt->mu);
    if (g->prev_in_rt)
        g->prev_in_rt->next_in_rt = g->next_in_rt;
    else
        rt->graphs = g->next_in_rt;
    if (g->next_in_rt)
        g->next_in_rt->prev_in_rt = g->prev_in_rt;
    rt->ngraphs--;
    if (!g->own_policy && g->pops)
        rt->policy_users--;
    pthread_mutex_unlock(&rt->mu);

    /* every value still alive: free its bytes without following references */
    pthread_mutex_lock(&g->mu);
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PDI_V_FREE)
            continue;
        if (v->state == PYDRON_VALUE_READY && (v->vf & VF_ALIAS)) {
            v->state = PDI_V_FREE;
            continue;
        }
        v->refs = v->urefs = 0;
        value_drop(g, i);
    }
    for (uint32_t i = 1; i <= g->tcount; i++) {
        pdi_task *t = pdi_T(g, i);
        if (t->state != PDI_T_FREE)
            task_free(g, i);
    }
    pthread_mutex_unlock(&g->mu);
    if (g->own_policy && g->pops && g->pops->destroy)
        g->pops->destroy(g->pself);
    for (size_t c = 0; c < g->ntchunks; c++)
        free(g->tchunks[c]);
    for (size_t c = 0; c < g->nvchunks; c++)
        free(g->vchunks[c]);
    for (size_t c = 0; c < g->nlchunks; c++)
        free(g->lchunks[c]);
    free(g->tchunks);
    free(g->vchunks);
    free(g->lchunks);
    for (size_t i = 0; i < g->nlabels; i++)
        free(g->labels[i].text);
    free(g->labels);
    free(g->heap);
    free(g->lin);
    pdi_ring_free(&g->refq);
    free(g->newready);
    free(g->last_sync_tick);
    free(g->ksum);
    free(g->kcnt);
    while (g->jfree) {
        pydron_job *j = g->jfree;
        g->jfree = j->next;
        free(j);
    }
    pthread_cond_destroy(&g->cv);
    pthread_mutex_destroy(&g->mu);
    free(g);
    return 0;
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
            if (cons_add(v, ti) != 0) {
                pdi_task_failed(g, ti, &oom_error, PYDRON_TASK_FAILED, NULL);
                return;
            }
            t->npending++;
        }
    }
    if (t->npending == 0)
        pdi_task_became_ready(g, ti);
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
            } else if (p->attempt >= g->rt->opts.max_retries) {
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
                         g->rt->opts.max_retries);
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
        pdi_error *e = err_or_oom(lost_error(g, v, w, mark[i]));
        v->state = PYDRON_VALUE_FAILED;
        v->vf &= (uint8_t)~(VF_REMOTE | VF_FETCHING);
        v->u.err = e;
        if (e == &oom_error)
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
            if (cons_add(pdi_V(g, ri), i | PDI_CONS_FWD) != 0)
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
            if ((m == LS_OK || m == LS_ALIAS) && cons_add(pdi_V(g, ins[k]), ti) == 0)
                add++;
        }
        if (!add)
            continue;
        if (t->state == PYDRON_TASK_READY) {
            if (t->bits & TB_QUEUED) {
                t->bits &= (uint8_t)~TB_QUEUED;   /* a later pick of it is skipped */
                g->nqueued--;
            }
            t->state = PYDRON_TASK_WAITING;
        }
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
    pdi_wake(g);
}
