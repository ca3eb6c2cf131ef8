/* proc.h - the driver side of worker processes, shared by the local and
 * remote executors: accepting and authenticating workers, sending task
 * batches, receiving completions on one reader thread per worker, fetch,
 * release, heartbeats and worker loss. */
#ifndef PDI_PROC_H
#define PDI_PROC_H

#include "pydron.h"

typedef struct pdi_proc pdi_proc;

extern const pydron_executor_ops pdi_proc_ops_local;
extern const pydron_executor_ops pdi_proc_ops_remote;

int pdi_proc_new(const pydron_runtime_options *opts, int remote, pdi_proc **out);

#endif
