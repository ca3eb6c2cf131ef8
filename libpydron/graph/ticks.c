/* Ticks: the order of the sequential program. The tick heap holds the
 * unfinished SYNC and unrefined REFINABLE tasks by tick (then add order):
 * the driver runs a SYNC task only when it is the minimum. */
#include "graph/graph.h"

int pdi_tick_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb)
{
    size_t n = na < nb ? na : nb;
    for (size_t i = 0; i < n; i++)
        if (a[i] != b[i])
            return a[i] < b[i] ? -1 : 1;
    return na < nb ? -1 : na > nb ? 1 : 0;
}

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

