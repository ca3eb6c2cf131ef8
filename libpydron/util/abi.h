/* abi.h - sizes of each version of the public structs that grow (see
 * "Growing structs" in pydron.h): the library reads or writes only
 * pdi_*_size(version) bytes of a caller's struct. Nothing here is exported. */
#ifndef PDI_ABI_H
#define PDI_ABI_H

#include <stddef.h>

#include "pydron.h"

/* The end of a struct's last field of a version: no trailing padding, which
 * a caller's smaller struct need not have. */
#define PDI_END_OF(type, field) (offsetof(type, field) + sizeof(((type *)0)->field))

/* 0 for a version this library does not know (0 or newer than current). */
static inline size_t pdi_runtime_options_size(unsigned version)
{
    switch (version) {
    case 1: return PDI_END_OF(pydron_runtime_options, in_flight);
    default: return 0;
    }
}

static inline size_t pdi_graph_stats_size(unsigned version)
{
    switch (version) {
    case 1: return PDI_END_OF(pydron_graph_stats, bytes_peak);
    case 2: return PDI_END_OF(pydron_graph_stats, version);
    case 3: return PDI_END_OF(pydron_graph_stats, wait_ns);
    case 4: return PDI_END_OF(pydron_graph_stats, tasks_direct);
    case 5: return PDI_END_OF(pydron_graph_stats, tasks_grouped);
    default: return 0;
    }
}

static inline size_t pdi_task_timing_size(unsigned version)
{
    switch (version) {
    case 1: return PDI_END_OF(pydron_task_timing, label);
    case 2: return PDI_END_OF(pydron_task_timing, version);
    default: return 0;
    }
}

static inline size_t pdi_trace_options_size(unsigned version)
{
    switch (version) {
    case 1: return PDI_END_OF(pydron_trace_options, buffer_bytes);
    default: return 0;
    }
}

#endif
