/* Slabs: chunked arrays of task and value records, allocation, free lists
 * and lookup by id. */
#include <stdio.h>

#include "graph/graph.h"

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

int pdi_task_alloc(pydron_graph *g, uint32_t *idx)
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

void pdi_task_free(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    if (PDI_UNLIKELY(t->bits & (TB_IN_HEAP | TB_OUT_HEAP | TB_TICK_HEAP | TB_PAY_HEAP))) {
        if (t->bits & TB_IN_HEAP)
            free(t->ins.p);
        if (t->bits & TB_OUT_HEAP)
            free(t->outs.p);
        if (t->bits & TB_TICK_HEAP)
            free(t->tick.p);
        if (t->bits & TB_PAY_HEAP)
            free(t->payload.p);
    }
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
