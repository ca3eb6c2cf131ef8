/* Public refinement functions, valid inside a refine callback (which
 * sched/refine.c runs): the subgraph that replaces the refined task. */
#include <stdio.h>

#include "graph/graph.h"
#include "sched/sched.h"

static int check(pydron_refine *r, const char *fn)
{
    if (!r)
        return pdi_err(PYDRON_EINVAL, "%s: NULL refinement", fn);
    if (!r->active)
        return pdi_err(PYDRON_ESTATE, "%s: only valid inside the refine callback", fn);
    return 0;
}

static void remember(pydron_refine *r, uint32_t vi)
{
    if (pdi_grow((void **)&r->created, &r->capcreated, r->ncreated + 1, sizeof(uint32_t)) == 0)
        r->created[r->ncreated++] = vi;
}

PYDRON_API pydron_graph *pydron_refine_graph(pydron_refine *r) { return r ? r->g : NULL; }
PYDRON_API pydron_task pydron_refine_task(pydron_refine *r)
{
    return r ? (pydron_task){r->tid} : PYDRON_TASK_NONE;
}
PYDRON_API size_t pydron_refine_ninputs(pydron_refine *r) { return r ? r->nin : 0; }
PYDRON_API size_t pydron_refine_noutputs(pydron_refine *r) { return r ? r->nout : 0; }

PYDRON_API int pydron_refine_input_value(pydron_refine *r, size_t i, pydron_value *out)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_input_value");
    if (rc)
        return rc;
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_refine_input_value: NULL out");
    if (i >= r->nin)
        return pdi_err(PYDRON_EINVAL, "input %zu out of range (task has %zu)", i, r->nin);
    pthread_mutex_lock(&pdi_S(r->g)->mu);
    pdi_task *t = pdi_T(r->g, r->ti);
    out->id = pdi_vid(r->g, pdi_task_ins(t)[i]);
    pthread_mutex_unlock(&pdi_S(r->g)->mu);
    return 0;
}

PYDRON_API int pydron_refine_input(pydron_refine *r, size_t i, const void **data, size_t *len)
{
    pdi_err_clear();
    pydron_value v;
    int rc = pydron_refine_input_value(r, i, &v);
    if (rc)
        return rc;
    return pydron_value_bytes(r->g, v, data, len);
}

PYDRON_API int pydron_refine_payload(pydron_refine *r, const void **data, size_t *len)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_payload");
    if (rc)
        return rc;
    if (!data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_refine_payload: NULL argument");
    pthread_mutex_lock(&pdi_S(r->g)->mu);
    pdi_task *t = pdi_T(r->g, r->ti);
    *data = t->payload_len ? pdi_task_payload(t) : NULL;
    *len = t->payload_len;
    pthread_mutex_unlock(&pdi_S(r->g)->mu);
    return 0;
}

static int is_output(pydron_refine *r, uint32_t vi)
{
    pdi_task *t = pdi_T(r->g, r->ti);
    for (uint16_t i = 0; i < t->nout; i++)
        if (pdi_task_outs(t)[i] == vi)
            return 1;
    return 0;
}

PYDRON_API int pydron_refine_add_task(pydron_refine *r, const pydron_task_desc *desc,
                                      pydron_task *out_task, pydron_value *out_values)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_add_task");
    if (rc)
        return rc;
    if (!desc)
        return pdi_err(PYDRON_EINVAL, "pydron_refine_add_task: NULL desc");
    if (desc->tick_len && !desc->tick)
        return pdi_err(PYDRON_EINVAL, "tick_len > 0 with NULL tick");
    uint32_t tick[PYDRON_TICK_MAX_DEPTH];
    size_t tl = r->tick_len;
    memcpy(tick, r->tick, tl * sizeof(uint32_t));
    if (desc->tick_mode == PYDRON_TICK_SUCCESSOR) {
        if (desc->tick_len)
            return pdi_err(PYDRON_EINVAL, "PYDRON_TICK_SUCCESSOR takes no tick components");
        if (!tl)
            return pdi_err(PYDRON_EINVAL, "the replaced task has an empty tick");
        if (tick[tl - 1] == UINT32_MAX)
            return pdi_err(PYDRON_ERANGE, "tick component overflow");
        tick[tl - 1]++;
    } else if (desc->tick_mode == PYDRON_TICK_CHILD) {
        if (desc->tick_len == 0) {
            if (tl + 1 > PYDRON_TICK_MAX_DEPTH)
                return pdi_err(PYDRON_EINVAL, "tick deeper than %d", PYDRON_TICK_MAX_DEPTH);
            tick[tl++] = ++r->child;
        } else {
            if (tl + desc->tick_len > PYDRON_TICK_MAX_DEPTH)
                return pdi_err(PYDRON_EINVAL, "tick deeper than %d", PYDRON_TICK_MAX_DEPTH);
            memcpy(tick + tl, desc->tick, desc->tick_len * sizeof(uint32_t));
            tl += desc->tick_len;
            if (desc->tick[0] > r->child)
                r->child = desc->tick[0];
        }
    } else {
        return pdi_err(PYDRON_EINVAL, "unknown tick_mode %d", desc->tick_mode);
    }
    pydron_graph *g = r->g;
    pthread_mutex_lock(&pdi_S(g)->mu);
    if (g->canceled || g->freeing) {
        pthread_mutex_unlock(&pdi_S(g)->mu);
        return pdi_err(PYDRON_ECANCELED, "the graph was canceled");
    }
    for (size_t i = 0; i < desc->ninputs && desc->inputs; i++) {
        uint32_t vi;
        if (pdi_value_get(g, desc->inputs[i].id, &vi) && is_output(r, vi)) {
            pthread_mutex_unlock(&pdi_S(g)->mu);
            return pdi_err(PYDRON_ECYCLE,
                           "input %zu is an output of the task being refined (a cycle)", i);
        }
    }
    rc = pdi_task_add_locked(g, desc, tick, tl, out_task, out_values, NULL);
    if (rc == 0) {
        for (size_t i = 0; i < desc->noutputs; i++)
            remember(r, pdi_id_idx(out_values[i].id));
        pdi_dispatch(g);
    }
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_refine_constant(pydron_refine *r, const void *data, size_t len,
                                      pydron_value *out)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_constant");
    if (rc)
        return rc;
    rc = pydron_value_constant(r->g, data, len, out);
    if (rc == 0) {
        pthread_mutex_lock(&pdi_S(r->g)->mu);
        remember(r, pdi_id_idx(out->id));
        pthread_mutex_unlock(&pdi_S(r->g)->mu);
    }
    return rc;
}

PYDRON_API int pydron_refine_bind_output(pydron_refine *r, size_t i, pydron_value v)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_bind_output");
    if (rc)
        return rc;
    if (i >= r->nout)
        return pdi_err(PYDRON_EINVAL, "output %zu out of range (task has %zu)", i, r->nout);
    pydron_graph *g = r->g;
    pthread_mutex_lock(&pdi_S(g)->mu);
    uint32_t vi;
    if (!pdi_value_get(g, v.id, &vi)) {
        rc = PYDRON_ESTALE;
    } else if (is_output(r, vi)) {
        rc = pdi_err(PYDRON_ECYCLE, "output %zu cannot be bound to an output of the task being "
                                    "refined (itself)", i);
    } else {
        int ok = 0;
        pdi_task *t = pdi_T(g, r->ti);
        for (uint16_t k = 0; k < t->nin && !ok; k++)
            ok = pdi_task_ins(t)[k] == vi;
        for (size_t k = r->ncreated; k-- > 0 && !ok;)
            ok = r->created[k] == vi;
        int created = 0;
        for (size_t k = r->ncreated; k-- > 0 && !created;)
            created = r->created[k] == vi;
        if (!ok) {
            rc = pdi_err(PYDRON_EINVAL, "output %zu: value %#llx is neither an input of the "
                                        "refined task nor made inside this refinement", i,
                         (unsigned long long)v.id);
        } else if (r->bound[i]) {
            rc = pdi_err(PYDRON_ESTATE, "output %zu is already bound", i);
        } else {
            /* binding takes over the callback's reference to a value made in
             * this refinement; an input of the replaced task gets a new one */
            pdi_value *bv = pdi_V(g, vi);
            bv->refs++;
            if (created && bv->urefs) {
                bv->urefs--;
                if (!bv->urefs && bv->producer)
                    pdi_value_release_hook(g, vi);
            }
            r->bound[i] = vi;
        }
    }
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_refine_fail(pydron_refine *r, const char *fmt, ...)
{
    pdi_err_clear();
    int rc = check(r, "pydron_refine_fail");
    if (rc)
        return rc;
    if (!fmt)
        return pdi_err(PYDRON_EINVAL, "pydron_refine_fail: NULL fmt");
    va_list ap;
    va_start(ap, fmt);
    char *m = pdi_vasprintf(fmt, ap);
    va_end(ap);
    free(r->fail);
    r->fail = m ? m : pdi_strdup("refinement failed");
    return 0;
}
