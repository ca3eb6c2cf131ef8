/* Handles: the process-wide tables of live runtimes and graphs.
 *
 * A graph's tag (the top 12 bits of every task and value id) is unique among
 * the live graphs of the PROCESS, not only of its runtime, so that an id of
 * one runtime's graph is never taken for an id of another's. A runtime's
 * tag (the top 20 bits of its kind ids) is unique among live runtimes.
 * pydron_graph_free/pydron_runtime_free look the pointer up here before they
 * touch it: a handle that was freed already is reported as PYDRON_ESTALE
 * instead of being read after free. Tags are handed out round robin, so a
 * freed graph's tag comes back as late as possible. */
#include "api/api.h"

#define NGRAPH_TAGS 4096u       /* tag 0 is never used */
#define RT_TAG_MAX 0xfffffu     /* 20 bits */

static pthread_mutex_t hmu = PTHREAD_MUTEX_INITIALIZER;
static pydron_graph *graph_by_tag[NGRAPH_TAGS];
static uint32_t next_graph_tag;
static unsigned ngraphs_live;

typedef struct rt_entry {
    pydron_runtime *rt;
    uint32_t tag;
} rt_entry;
static rt_entry *rts;
static size_t nrts, caprts;
static uint32_t next_rt_tag;

int pdi_handle_graph_add(pydron_graph *g)
{
    pthread_mutex_lock(&hmu);
    int rc = 0;
    if (ngraphs_live >= NGRAPH_TAGS - 1) {
        rc = pdi_err(PYDRON_ERANGE, "too many live graphs in this process (max %u)",
                     NGRAPH_TAGS - 1);
    } else {
        uint32_t t;
        do {
            t = next_graph_tag++ % (NGRAPH_TAGS - 1) + 1;
        } while (graph_by_tag[t]);
        graph_by_tag[t] = g;
        g->tag = t;
        g->tagbits = pdi_mkid(t, 0, 0);
        ngraphs_live++;
    }
    pthread_mutex_unlock(&hmu);
    return rc;
}

static int graph_live_locked(const pydron_graph *g)
{
    for (uint32_t t = 1; t < NGRAPH_TAGS; t++)
        if (graph_by_tag[t] == g)
            return (int)t;
    return 0;
}

int pdi_handle_graph_live(const pydron_graph *g)
{
    pthread_mutex_lock(&hmu);
    int live = graph_live_locked(g) != 0;
    pthread_mutex_unlock(&hmu);
    return live;
}

void pdi_handle_graph_remove(pydron_graph *g)
{
    pthread_mutex_lock(&hmu);
    int t = graph_live_locked(g);
    if (t) {
        graph_by_tag[t] = NULL;
        ngraphs_live--;
    }
    pthread_mutex_unlock(&hmu);
}

static size_t rt_find_locked(const pydron_runtime *rt)
{
    for (size_t i = 0; i < nrts; i++)
        if (rts[i].rt == rt)
            return i;
    return nrts;
}

int pdi_handle_runtime_add(pydron_runtime *rt, uint32_t *tag)
{
    pthread_mutex_lock(&hmu);
    int rc = pdi_grow((void **)&rts, &caprts, nrts + 1, sizeof *rts);
    if (rc == 0 && nrts >= RT_TAG_MAX)
        rc = PYDRON_ERANGE;
    if (rc == 0) {
        uint32_t t;
        int used;
        do {
            t = next_rt_tag++ % RT_TAG_MAX + 1;
            used = 0;
            for (size_t i = 0; i < nrts && !used; i++)
                used = rts[i].tag == t;
        } while (used);
        rts[nrts].rt = rt;
        rts[nrts].tag = t;
        nrts++;
        *tag = t;
    }
    pthread_mutex_unlock(&hmu);
    return rc ? pdi_err(rc, "cannot register the runtime (%s)", pydron_strerror(rc)) : 0;
}

int pdi_handle_runtime_live(const pydron_runtime *rt)
{
    pthread_mutex_lock(&hmu);
    int live = rt_find_locked(rt) < nrts;
    pthread_mutex_unlock(&hmu);
    return live;
}

void pdi_handle_runtime_remove(pydron_runtime *rt)
{
    pthread_mutex_lock(&hmu);
    size_t i = rt_find_locked(rt);
    if (i < nrts)
        rts[i] = rts[--nrts];
    if (!nrts) {
        free(rts);
        rts = NULL;
        caprts = 0;
    }
    pthread_mutex_unlock(&hmu);
}
