/* Notes of values whose bytes stayed on a worker (pydron_ctx_output_note):
 * a few bytes that came with the task's completion, kept on the driver
 * while the value lives. Few values have one (the Python package notes
 * the output of a task that printed and returned a large result), so they
 * live beside the records, not in them: an open-addressing table by value
 * index, linear probing, deletion by backward shift (no tombstones). A
 * graph without notes pays one test of g->nnotes when a value is dropped. */
#include <stdlib.h>

#include "graph/graph.h"

struct pdi_vnote {
    uint32_t vi;        /* 0: empty slot */
    uint32_t len;
    void *data;
};

static inline size_t slot_of(uint32_t vi, size_t cap)
{
    return ((size_t)vi * 0x9E3779B1u) & (cap - 1);
}

static size_t find(const pydron_graph *g, uint32_t vi)
{
    size_t cap = g->capnotes, i = slot_of(vi, cap);
    while (g->notes[i].vi && g->notes[i].vi != vi)
        i = (i + 1) & (cap - 1);
    return i;
}

static int grow(pydron_graph *g)
{
    size_t cap = g->capnotes ? g->capnotes * 2 : 16;
    struct pdi_vnote *old = g->notes, *n = calloc(cap, sizeof *n);
    if (!n)
        return PYDRON_ENOMEM;
    size_t ocap = g->capnotes;
    g->notes = n;
    g->capnotes = cap;
    for (size_t i = 0; i < ocap; i++)
        if (old[i].vi)
            g->notes[find(g, old[i].vi)] = old[i];
    free(old);
    return 0;
}

int pdi_note_put(pydron_graph *g, uint32_t vi, void *data, size_t len)
{
    if (!len) {
        free(data);
        pdi_note_drop(g, vi);
        return 0;
    }
    if ((g->nnotes + 1) * 2 > g->capnotes && grow(g) != 0) {
        free(data);
        return PYDRON_ENOMEM;
    }
    struct pdi_vnote *e = &g->notes[find(g, vi)];
    if (e->vi)
        free(e->data);
    else
        g->nnotes++;
    e->vi = vi;
    e->len = (uint32_t)len;
    e->data = data;
    return 0;
}

const void *pdi_note_get(const pydron_graph *g, uint32_t vi, size_t *len)
{
    if (!g->nnotes)
        return NULL;
    const struct pdi_vnote *e = &g->notes[find(g, vi)];
    if (!e->vi)
        return NULL;
    *len = e->len;
    return e->data;
}

void pdi_note_drop_slow(pydron_graph *g, uint32_t vi)
{
    size_t cap = g->capnotes, i = find(g, vi);
    if (!g->notes[i].vi)
        return;
    free(g->notes[i].data);
    g->nnotes--;
    /* backward shift: move up every later entry of the run that would no
     * longer be found past the hole */
    size_t j = i;
    for (;;) {
        g->notes[i].vi = 0;
        for (;;) {
            j = (j + 1) & (cap - 1);
            if (!g->notes[j].vi)
                return;
            size_t k = slot_of(g->notes[j].vi, cap);
            /* j's entry may stay when its home k lies cyclically in (i, j] */
            if (i <= j ? (i < k && k <= j) : (i < k || k <= j))
                continue;
            break;
        }
        g->notes[i] = g->notes[j];
        i = j;
    }
}

void pdi_notes_free(pydron_graph *g)
{
    for (size_t i = 0; i < g->capnotes; i++)
        if (g->notes[i].vi)
            free(g->notes[i].data);
    free(g->notes);
    g->notes = NULL;
    g->nnotes = g->capnotes = 0;
}
