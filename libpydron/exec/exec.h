/* exec.h - the executor registry and the factories of the shipped
 * executors (inline, threads, local, remote).
 *
 * pydron_runtime_new() creates its executor by name through
 * pdi_exec_create(); the returned ops/self become the runtime's executor
 * exactly as if the user had called pydron_runtime_set_executor (the
 * runtime calls stop + destroy when it is freed). opts is only valid during
 * the call: factories copy what they keep. */
#ifndef PDI_EXEC_H
#define PDI_EXEC_H

#include "pydron.h"

/* pydron_job_canceled(j) ? PYDRON_ECANCELED : pydron_job_run_local(j),
 * with the start time given: *now_ns (a pdi_now_ns() value) in, the time
 * the job ended out (unchanged for a canceled job). An executor that runs
 * jobs back to back on one thread passes on what the previous call
 * returned, with nothing but loop bookkeeping in between, and so reads the
 * clock once per job instead of twice. j must not be NULL. */
int pdi_job_run_local_at(pydron_job *j, uint64_t *now_ns);

/* Register the shipped executors (once per process; idempotent). */
void pdi_exec_registry_init(void);
/* Create an instance of the registered executor `name`. */
int pdi_exec_create(const char *name, const pydron_runtime_options *opts, const void *exec_options,
                    const pydron_executor_ops **ops, void **self);
/* Name of a shipped executor kind, NULL for CUSTOM or unknown. */
const char *pdi_exec_name_of(pydron_executor_kind k);

int pdi_exec_create_inline(void *user, const pydron_runtime_options *opts,
                           const void *exec_options, const pydron_executor_ops **ops, void **self);
int pdi_exec_create_threads(void *user, const pydron_runtime_options *opts,
                            const void *exec_options, const pydron_executor_ops **ops, void **self);
int pdi_exec_create_local(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self);
int pdi_exec_create_remote(void *user, const pydron_runtime_options *opts,
                           const void *exec_options, const pydron_executor_ops **ops, void **self);

/* Number of online CPUs (>= 1). */
int pdi_exec_create_sim(void *user, const pydron_runtime_options *opts,
                        const void *exec_options, const pydron_executor_ops **ops, void **self);
/* Statistics of the simulated executor (ENOTSUP if ops are not its). */
int pdi_sim_stats(const pydron_executor_ops *ops, void *self, pydron_sim_stats *out);

unsigned pdi_ncpus(void);

#endif
