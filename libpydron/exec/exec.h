/* exec.h - creation hooks of the shipped executors.
 *
 * The in-process executors (inline, threads) live in this folder. The
 * process executors (local worker processes, remote workers) are written by
 * the wire layer: it provides STRONG definitions of pdi_exec_create_local /
 * pdi_exec_create_remote (e.g. in libpydron/exec/local.c) that override the
 * WEAK defaults in exec/hooks.c, which fail with PYDRON_ENOTSUP.
 * pydron_runtime_new() calls the hook that matches opts->executor; the
 * returned ops/self become the runtime's executor exactly as if the user had
 * called pydron_runtime_set_executor (the runtime calls stop + destroy when
 * it is freed). opts is only valid during the call: copy what you keep. */
#ifndef PDI_EXEC_H
#define PDI_EXEC_H

#include "pydron.h"

int pdi_exec_create_inline(const pydron_runtime_options *opts, const pydron_executor_ops **ops,
                           void **self);
int pdi_exec_create_threads(const pydron_runtime_options *opts, const pydron_executor_ops **ops,
                            void **self);
int pdi_exec_create_local(const pydron_runtime_options *opts, const pydron_executor_ops **ops,
                          void **self);
int pdi_exec_create_remote(const pydron_runtime_options *opts, const pydron_executor_ops **ops,
                           void **self);

/* Number of online CPUs (>= 1). */
unsigned pdi_ncpus(void);

#endif
