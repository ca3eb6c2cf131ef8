/* api.h - helpers of the composition root and the public facade (api/).
 * The runtime's fields are defined in sched/sched.h: what the scheduler
 * reads at run time (executor, workers, kinds, live graphs). */
#ifndef PDI_API_H
#define PDI_API_H

#include "graph/graph.h"
#include "sched/sched.h"


/* Process-wide tables of live handles (api/handles.c). graph_add gives g
 * its tag (unique in the process); runtime_add gives the runtime's tag
 * (kind ids). *_live tell whether a pointer is a live handle without
 * reading it. */
int pdi_handle_graph_add(pydron_graph *g);
int pdi_handle_graph_live(const pydron_graph *g);
void pdi_handle_graph_remove(pydron_graph *g);
int pdi_handle_runtime_add(pydron_runtime *rt, uint32_t *tag);
int pdi_handle_runtime_live(const pydron_runtime *rt);
void pdi_handle_runtime_remove(pydron_runtime *rt);

/* PYDRON_TRACE: start the process's trace at the first runtime (api/trace.c). */
void pdi_trace_env_once(void);

/* Lock g->mu; PYDRON_EINVAL (message names fn) for a NULL graph. */
int pdi_lock_graph(pydron_graph *g, const char *fn);

#endif
