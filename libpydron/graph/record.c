/* record.c - the graph of a whole run (pydron_graph_record): every task
 * added since recording started, with the producers of its inputs and how
 * it ended, kept after the task's own record is recycled. Bounded by the
 * caller's max_tasks: later tasks are counted, not kept. */
#include "graph/graph.h"

typedef struct rtask {
    uint64_t id;
    uint32_t label;     /* PDI_TLOG_LABEL | label index, or kind index */
    int16_t worker;
    uint8_t state;
    uint8_t flags;
} rtask;

struct pdi_rec {
    rtask *t;
    size_t n, cap, max;
    uint32_t (*e)[2];   /* edges: producer record -> consumer record */
    size_t ne, cape;
    uint32_t *map;      /* open addressing: record index + 1 by task id */
    size_t mapcap;
    uint64_t skipped;   /* tasks added past max */
};

static size_t slot(uint64_t id, size_t cap)
{
    uint64_t h = id * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

static uint32_t find(const pdi_rec *r, uint64_t id)
{
    if (!r->mapcap)
        return 0;
    for (size_t k = slot(id, r->mapcap); r->map[k]; k = (k + 1) & (r->mapcap - 1))
        if (r->t[r->map[k] - 1].id == id)
            return r->map[k];
    return 0;
}

int pdi_rec_start(pydron_graph *g, size_t max_tasks)
{
    if (g->rec) {
        g->rec->max = max_tasks;
        return 0;
    }
    pdi_rec *r = calloc(1, sizeof *r);
    if (!r)
        return PYDRON_ENOMEM;
    r->max = max_tasks;
    g->rec = r;
    return 0;
}

void pdi_rec_free(pydron_graph *g)
{
    pdi_rec *r = g->rec;
    if (!r)
        return;
    free(r->t);
    free(r->e);
    free(r->map);
    free(r);
    g->rec = NULL;
}

static int map_grow(pdi_rec *r)
{
    size_t cap = r->mapcap ? 2 * r->mapcap : 1024;
    uint32_t *m = calloc(cap, sizeof *m);
    if (!m)
        return -1;
    for (size_t i = 0; i < r->n; i++) {
        size_t k = slot(r->t[i].id, cap);
        while (m[k])
            k = (k + 1) & (cap - 1);
        m[k] = (uint32_t)i + 1;
    }
    free(r->map);
    r->map = m;
    r->mapcap = cap;
    return 0;
}

void pdi_rec_add(pydron_graph *g, uint32_t ti)
{
    pdi_rec *r = g->rec;
    pdi_task *t = pdi_T(g, ti);
    if (r->n >= r->max || r->n >= UINT32_MAX - 1) {
        r->skipped++;
        return;
    }
    if ((2 * (r->n + 1) >= r->mapcap && map_grow(r) != 0) ||
        pdi_grow((void **)&r->t, &r->cap, r->n + 1, sizeof *r->t) != 0) {
        r->skipped++;
        return;
    }
    rtask *x = &r->t[r->n];
    x->id = pdi_tid(g, ti);
    x->label = t->label ? (PDI_TLOG_LABEL | t->label) : t->kind;
    x->worker = -2;     /* -1: ran on the driver thread, -2: did not run */
    x->state = t->state;
    x->flags = t->flags;
    size_t k = slot(x->id, r->mapcap);
    while (r->map[k])
        k = (k + 1) & (r->mapcap - 1);
    r->map[k] = (uint32_t)++r->n;
    uint32_t me = (uint32_t)r->n;
    uint32_t *ins = pdi_task_ins(t);
    for (uint16_t i = 0; i < t->nin; i++) {
        uint32_t from = find(r, pdi_V(g, ins[i])->producer);
        if (!from)
            continue;   /* a constant, an input, or a task before recording */
        int dup = 0;    /* one edge per producer, however many values */
        for (size_t e = r->ne; e-- > 0 && r->e[e][1] == me;)
            dup |= r->e[e][0] == from;
        if (dup || pdi_grow((void **)&r->e, &r->cape, r->ne + 1, sizeof *r->e) != 0)
            continue;
        r->e[r->ne][0] = from;
        r->e[r->ne++][1] = me;
    }
}

void pdi_rec_done(pydron_graph *g, uint32_t ti, uint8_t state, int32_t worker)
{
    uint32_t i = find(g->rec, pdi_tid(g, ti));
    if (!i)
        return;
    g->rec->t[i - 1].state = state;
    g->rec->t[i - 1].worker = (int16_t)worker;
}

static const char *rstate(uint8_t s)
{
    static const char *n[] = {"waiting", "ready", "running", "done", "failed", "refined", "canceled"};
    return s < 7 ? n[s] : "?";
}

static void put_escaped(pdi_str *s, const char *text)
{
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            pdi_str_printf(s, "\\%c", *text);
        else if ((unsigned char)*text >= 0x20)
            pdi_str_printf(s, "%c", *text);
    }
}

int pdi_rec_dot(pydron_graph *g, pdi_str *s)
{
    pdi_rec *r = g->rec;
    if (!r)
        return PYDRON_ESTATE;
    pdi_str_puts(s, "digraph pydron_run {\n  rankdir=TB;\n  node [shape=box, fontsize=10];\n");
    for (size_t i = 0; i < r->n; i++) {
        rtask *x = &r->t[i];
        uint32_t l = x->label;
        uint32_t n = atomic_load(&g->kt->n);
        const char *name = (l & PDI_TLOG_LABEL) ? g->labels[(l & ~PDI_TLOG_LABEL) - 1].text
                           : l < n ? g->kt->kinds[l]->name : "?";
        pdi_str_printf(s, "  r%zu [label=\"", i + 1);
        put_escaped(s, name);
        pdi_str_printf(s, "\\n%s", rstate(x->state));
        if (x->state == PYDRON_TASK_DONE || x->state == PYDRON_TASK_FAILED) {
            if (x->worker >= 0)
                pdi_str_printf(s, " @w%d", x->worker);
            else if (x->worker == -1)
                pdi_str_puts(s, " @driver");
        }
        pdi_str_puts(s, "\"");
        if (x->state == PYDRON_TASK_FAILED)
            pdi_str_puts(s, ", color=red");
        else if (x->state == PYDRON_TASK_CANCELED)
            pdi_str_puts(s, ", color=gray");
        else if (x->state < PYDRON_TASK_DONE)
            pdi_str_puts(s, ", style=dashed");
        if (x->flags & PYDRON_TASK_SYNC)
            pdi_str_puts(s, ", shape=octagon");
        pdi_str_puts(s, "];\n");
    }
    for (size_t e = 0; e < r->ne; e++)
        pdi_str_printf(s, "  r%u -> r%u;\n", r->e[e][0], r->e[e][1]);
    if (r->skipped)
        pdi_str_printf(s, "  more [shape=note, label=\"%llu more tasks not recorded\"];\n",
                       (unsigned long long)r->skipped);
    pdi_str_puts(s, "}\n");
    return 0;
}
