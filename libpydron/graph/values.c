/* Values: errors carried by failed values, references, bytes, consumers,
 * resolution (ready / failed / forwarded) and the propagation worklist. */
#include <stdio.h>

#include "graph/graph.h"

static pdi_owner owner_none = {NULL, NULL};   /* static bytes: nothing to free */

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
pdi_error pdi_oom_error = {1u << 30, PYDRON_ETASK, 0, NULL, (char *)"out of memory", NULL, 0};

pdi_error *pdi_err_or_oom(pdi_error *e) { return e ? e : &pdi_oom_error; }

const char *pdi_task_name(pydron_graph *g, pdi_task *t)
{
    if (t->label)
        return g->labels[t->label - 1].text;
    uint32_t n = atomic_load(&g->kt->n);
    return t->kind < n ? g->kt->kinds[t->kind]->name : "?";
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
        !(v->vf & VF_REMOTE) || !g->can_release)
        return;
    if (v->vf & VF_LOCAL)
        free_local_bytes(g, v);
    pdi_report_release(g, pdi_vid(g, vi), v->where);
    v->vf &= (uint8_t)~(VF_LOCAL | VF_INLINE);
    v->state = PDI_V_PARKED;
}

void pdi_value_drop(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    pdi_note_drop(g, vi);
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
            if ((v->vf & VF_REMOTE) && g->can_release)
                pdi_report_release(g, pdi_vid(g, vi), v->where);
        }
    } else if (v->state == PYDRON_VALUE_FAILED) {
        pdi_error_unref(v->u.err);
    } else if (v->state == PYDRON_VALUE_PENDING && (v->vf & VF_CONSHEAP)) {
        free(v->u.cp);
    }
    pdi_value_slot_free(g, v, vi);
    if (producer && g->nretained && !g->freeing)
        pdi_maybe_unretain(g, producer, 0);
}

int pdi_cons_add(pdi_value *v, uint32_t entry)
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

static void wq_drain(pydron_graph *g)
{
    if (wq_active || !wq_len)
        return;   /* (nothing queued: the common case of every completion) */
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

void pdi_fail_drain(pydron_graph *g) { wq_drain(g); }

static void notify(pydron_graph *g, uint32_t vi, pdi_cons_list *c, pdi_error *err)
{
    int pushed = 0;
    for (size_t k = 0; k < c->n; k++) {
        uint32_t e = c->p[k];
        if (e & PDI_CONS_FWD) {
            wq_push(W_FWD, e & ~PDI_CONS_FWD, vi, NULL);
            pushed = 1;
        } else {
            pdi_task *t = pdi_T(g, e);
            if (err && !(t->bits & TB_ZOMBIE)) {
                /* the task fails with err (its input refs go in pdi_task_failed) */
                t->npending--;
                wq_push(W_FAIL, e, 0, err);
                pushed = 1;
            } else {
                pdi_task_dec_pending(g, e, vi);
            }
        }
    }
    if (c->heap)
        free(c->p);
    /* only notify queues work: nothing queued here, nothing to drain (an
     * outer drain, if any, goes on), and no thread-local to read */
    if (pushed)
        wq_drain(g);
}

void pdi_report_release(pydron_graph *g, uint64_t id, int32_t where)
{
    if (pdi_grow((void **)&g->chg.rel, &g->chg.caprel, g->chg.nrel + 1, sizeof(pdi_released)) != 0)
        return;   /* out of memory: the bytes stay on the worker until it exits */
    g->chg.rel[g->chg.nrel].value = id;
    g->chg.rel[g->chg.nrel].where = where;
    g->chg.nrel++;
    g->chg.dirty = 1;
}

/* Count a resolution (ready or failed) for whoever waits. */
static void value_resolved(pydron_graph *g, uint32_t vi)
{
    g->events++;
    g->chg.resolved++;
    g->chg.dirty = 1;
    if (vi == g->chg.watch_vi)
        g->chg.watch_hit = 1;
}

/* Value vi (pending, consumers in c) has its bytes: mark ready and notify. */
void pdi_value_ready(pydron_graph *g, uint32_t vi, pdi_cons_list *c)
{
    pdi_V(g, vi)->state = PYDRON_VALUE_READY;
    notify(g, vi, c, NULL);
    value_resolved(g, vi);
}

void pdi_value_fail(pydron_graph *g, uint32_t vi, pdi_error *err)
{
    pdi_value *v = pdi_V(g, vi);
    if (v->state != PYDRON_VALUE_PENDING)
        return;
    pdi_cons_list c;
    pdi_cons_take(v, &c);
    v->state = PYDRON_VALUE_FAILED;
    v->u.err = err;
    err->refs++;
    notify(g, vi, &c, err);
    value_resolved(g, vi);
    pdi_fail_drain(g);
}

/* Output oi of a refined task becomes (an alias of) value ti. */
void pdi_value_forward(pydron_graph *g, uint32_t oi, uint32_t ti)
{
    pdi_value *o = pdi_V(g, oi), *t = pdi_V(g, ti);
    if (o->state != PYDRON_VALUE_PENDING)
        return;
    if (t->state == PYDRON_VALUE_READY) {
        pdi_cons_list c;
        pdi_cons_take(o, &c);
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
        pdi_value_ready(g, oi, &c);
    } else if (t->state == PYDRON_VALUE_FAILED) {
        o->vf &= (uint8_t)~VF_FWD;
        pdi_value_fail(g, oi, t->u.err);
    } else {
        /* wait for ti: the entry holds oi, and oi holds ti */
        if (pdi_cons_add(t, oi | PDI_CONS_FWD) != 0) {
            pdi_value_fail(g, oi, pdi_err_or_oom(NULL));
            return;
        }
        o->vf |= VF_FWD;
        o->refs++;
        t->refs++;
    }
}
