/* api.h - the composition root: the runtime (kind registry, executor and policy selection,
 * the list of live graphs) and helpers of the public facade (api/). */
#ifndef PDI_API_H
#define PDI_API_H

#include "graph/graph.h"

/* ---- runtime ---- */
struct pydron_exec_host {
    pydron_runtime *rt;
};

struct pydron_runtime {
    pthread_mutex_t mu;
    pdi_kindtab kt;                     /* kinds (read by graphs without rt->mu) */
    pydron_runtime_options opts;        /* strings not kept beyond creation hooks */
    const pydron_executor_ops *xops;
    void *xself;
    pydron_executor_kind xkind;
    int xstarted;
    unsigned nworkers, in_flight;
    _Atomic unsigned *inflight;         /* per worker, shared by graphs */
    const pydron_policy_ops *pops;      /* custom policy or NULL */
    void *pself;
    int policy_users;                   /* graphs running with the custom policy */
    pydron_exec_host host;
    pydron_graph *graphs;               /* list of live graphs */
    unsigned ngraphs;
};

/* ---- runtime helpers ---- */
pydron_graph *pdi_rt_graph_by_tag(pydron_runtime *rt, uint32_t tag);
int pdi_rt_start_executor(pydron_runtime *rt);

/* Lock g->mu; PYDRON_EINVAL (message names fn) for a NULL graph. */
int pdi_lock_graph(pydron_graph *g, const char *fn);

#endif
