/* api.h - helpers of the composition root and the public facade (api/).
 * The runtime's fields are defined in sched/sched.h: what the scheduler
 * reads at run time (executor, workers, kinds, live graphs). */
#ifndef PDI_API_H
#define PDI_API_H

#include "graph/graph.h"
#include "sched/sched.h"


/* Lock g->mu; PYDRON_EINVAL (message names fn) for a NULL graph. */
int pdi_lock_graph(pydron_graph *g, const char *fn);

#endif
