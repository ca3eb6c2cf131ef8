/* Observation: labels and the log of finished tasks (timings). */
#include <stdio.h>
#include <stdlib.h>

#include "graph/graph.h"
#include "util/trace.h"

static uint64_t label_hash(const char *s, uint32_t kind)
{
    uint64_t h = 0xcbf29ce484222325ull ^ kind;   /* FNV-1a */
    for (; *s; s++)
        h = (h ^ (unsigned char)*s) * 0x100000001b3ull;
    return h;
}

static int label_rehash(pydron_graph *g, size_t cap)
{
    uint32_t *t = calloc(cap, sizeof *t);
    if (!t)
        return -1;
    for (size_t i = 0; i < g->nlabels; i++) {
        size_t k = label_hash(g->labels[i].text, g->labels[i].kind) & (cap - 1);
        while (t[k])
            k = (k + 1) & (cap - 1);
        t[k] = (uint32_t)i + 1;
    }
    free(g->lhash);
    g->lhash = t;
    g->lhcap = cap;
    return 0;
}

/* Labels are interned: tasks with the same label and kind share one entry,
 * so that a frontend may label every task (by its function) and a long run
 * keeps one copy per distinct label. */
uint32_t pdi_label_add(pydron_graph *g, const char *label, uint32_t kind)
{
    if (!label)
        return 0;
    if (2 * (g->nlabels + 1) >= g->lhcap && label_rehash(g, g->lhcap ? 2 * g->lhcap : 64) != 0)
        return 0;
    size_t k = label_hash(label, kind) & (g->lhcap - 1);
    for (; g->lhash[k]; k = (k + 1) & (g->lhcap - 1)) {
        pdi_label *l = &g->labels[g->lhash[k] - 1];
        if (l->kind == kind && strcmp(l->text, label) == 0)
            return g->lhash[k];
    }
    if (pdi_grow((void **)&g->labels, &g->caplabels, g->nlabels + 1, sizeof(pdi_label)) != 0)
        return 0;
    char *s = pdi_strdup(label);
    if (!s)
        return 0;
    g->labels[g->nlabels].text = s;
    g->labels[g->nlabels].kind = kind;
    g->lhash[k] = (uint32_t)++g->nlabels;
    return (uint32_t)g->nlabels;
}

/* Capacity of the timing log, a multiple of PDI_LOG_CHUNK: a driver that runs
 * millions of tasks keeps the recent ones (aggregate counts and per-kind
 * durations live elsewhere and are kept whole), not 40 bytes per task
 * forever. */
static uint64_t log_capacity(void)
{
    static uint64_t cap;   /* read once: same for every graph of the process */
    uint64_t c = __atomic_load_n(&cap, __ATOMIC_RELAXED);
    if (c)
        return c;
    const char *e = getenv("PYDRON_TIMING_LOG_MAX");
    long long v = e ? atoll(e) : 0;
    c = v > 0 ? (uint64_t)v : PDI_TLOG_DEFAULT_MAX;
    if (c > (1ull << 32))
        c = 1ull << 32;
    c = (c + PDI_LOG_CHUNK - 1) & ~(uint64_t)(PDI_LOG_CHUNK - 1);
    __atomic_store_n(&cap, c, __ATOMIC_RELAXED);
    return c;
}

uint64_t pdi_log_first(const pydron_graph *g)
{
    return g->nlog > g->logcap ? g->nlog - g->logcap : 0;
}

pdi_tlog *pdi_log_at(pydron_graph *g, uint64_t k)
{
    uint64_t slot = k % g->logcap;
    return &g->lchunks[slot >> PDI_LOG_CHUNK_BITS][slot & (PDI_LOG_CHUNK - 1)];
}

/* Log a finished task (timings) into the ring. */
/* The record, the trace and the run log see the task (each is off by default). */
static void PDI_NOINLINE log_observers(pydron_graph *g, uint32_t ti, pdi_task *t, uint8_t state,
                                       const pdi_run *j)
{
    if (g->rec != NULL)
        pdi_rec_done(g, ti, state, j ? j->worker : -2);  /* -2: did not run */
    /* the trace streams every task that ran, whatever the log keeps */
    if (pdi_tracing() && j && j->start_ns)
        pdi_trace_task(pdi_task_name(g, t), pdi_tid(g, ti), j->worker, state, t->attempt,
                       t->queued_ns, j->start_ns, j->end_ns);
    if (g->rec_id)
        pdi_record_task(g, ti, state, j);
}

/* The entry for ring slot `slot`, whose chunk is not there yet (the log's
 * first entries): NULL when out of memory (the entry is not logged). */
static pdi_tlog *PDI_NOINLINE log_grow(pydron_graph *g, uint64_t slot)
{
    if (!g->logcap)
        g->logcap = log_capacity();
    size_t c = (size_t)(slot >> PDI_LOG_CHUNK_BITS);
    pdi_tlog **nc = realloc(g->lchunks, (c + 1) * sizeof *nc);
    if (!nc)
        return NULL;
    g->lchunks = nc;
    if (!(nc[c] = malloc(PDI_LOG_CHUNK * sizeof(pdi_tlog))))
        return NULL;
    g->nlchunks = c + 1;
    return &nc[c][slot & (PDI_LOG_CHUNK - 1)];
}

/* Log a finished task (timings) into the ring. Per task: keep it short. */
void pdi_task_log(pydron_graph *g, uint32_t ti, uint8_t state, const pdi_run *j)
{
    pdi_task *t = pdi_T(g, ti);
    if (PDI_UNLIKELY(g->rec != NULL || g->rec_id || pdi_tracing()))
        log_observers(g, ti, t, state, j);
    uint64_t slot = g->logslot;
    size_t c = (size_t)(slot >> PDI_LOG_CHUNK_BITS);
    pdi_tlog *e;
    if (PDI_LIKELY(c < g->nlchunks))
        e = &g->lchunks[c][slot & (PDI_LOG_CHUNK - 1)];
    else if (!(e = log_grow(g, slot)))
        return;
    pdi_tlog_fill(g, e, ti, t, state, j);
}

int pdi_log_find(pydron_graph *g, uint64_t id, pdi_tlog **out)
{
    for (uint64_t k = g->nlog, first = pdi_log_first(g); k-- > first;) {
        pdi_tlog *e = pdi_log_at(g, k);
        if (e->task == id) {
            *out = e;
            return 1;
        }
    }
    return 0;
}

uint32_t pdi_tlog_kind(pydron_graph *g, const pdi_tlog *e)
{
    return (e->kind & PDI_TLOG_LABEL) ? g->labels[(e->kind & ~PDI_TLOG_LABEL) - 1].kind : e->kind;
}

const char *pdi_tlog_label(pydron_graph *g, const pdi_tlog *e)
{
    return (e->kind & PDI_TLOG_LABEL) ? g->labels[(e->kind & ~PDI_TLOG_LABEL) - 1].text : NULL;
}
