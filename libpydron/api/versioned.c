/* versioned.c - the 0.1.0 entry points of the growing output structs, kept
 * for programs built against 0.1.0: they fill version 1 (64 bytes) only.
 * pydron.h turns these names into macros that ask for the current version,
 * hence the parentheses. */
#include "pydron.h"

PYDRON_API int (pydron_graph_stats_get)(pydron_graph *g, pydron_graph_stats *out)
{
    return pydron_graph_stats_get_version(g, out, 1);
}

PYDRON_API int (pydron_task_timing_get)(pydron_graph *g, pydron_task t, pydron_task_timing *out)
{
    return pydron_task_timing_get_version(g, t, out, 1);
}
