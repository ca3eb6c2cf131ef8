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

/* Times of jobs run back to back on one thread (the inline and threads
 * executors): a job starts when the one before it ended, so the clock is
 * read once per job, not twice. While jobs take under PDI_JT_TINY_NS each,
 * it is read once per run of PDI_JT_RUN jobs instead, and each job of the
 * run gets an equal share of the run's time (a precise clock read costs
 * ~21 ns on the VM this was measured on: a sixth of an empty task's cost;
 * oneTBB and the pools it is compared with read no clock at all). A run
 * holds jobs of one kind: a job of another kind ends it and is timed
 * alone. A run that averaged PDI_JT_TINY_NS or more, a job that failed,
 * and tracing go back to one read per job, so jobs that are not tiny keep
 * exact times. The cost: a slow call of a kind whose calls were tiny
 * shares its time with up to PDI_JT_RUN - 1 calls of the same kind next
 * to it; each run's total, and so each kind's, stays exact. */
#define PDI_JT_RUN 8
#define PDI_JT_TINY_NS 1000u
typedef struct pdi_jtimer {
    uint64_t from;                 /* the last clock reading: the run started then */
    unsigned every;                /* jobs per reading: 1 or PDI_JT_RUN */
    unsigned n;                    /* jobs of the run so far, waiting for their times */
    const void *kind;              /* of the run's jobs */
    size_t tasks;                  /* tasks run since init or restart (a group job's
                                    * tasks count one by one) */
    pydron_job *run[PDI_JT_RUN];
} pdi_jtimer;

/* A timer whose first job starts at now (a pdi_now_ns() value); every = 1. */
void pdi_jtimer_init(pdi_jtimer *t, uint64_t now);
/* The next job starts at now (a new group); keeps what was learned. Any
 * jobs still waiting for their times get them first; tasks starts at 0. */
void pdi_jtimer_restart(pdi_jtimer *t, uint64_t now);
/* pydron_job_canceled(j) ? PYDRON_ECANCELED : pydron_job_run_local(j),
 * timed by t. A job's times are final once pdi_jtimer_flush ran: call it
 * before reporting the job (pydron_jobs_done). j must not be NULL. */
int pdi_job_run_timed(pydron_job *j, pdi_jtimer *t);
/* Give the jobs of the current run their times (one clock read, none if
 * there are none); returns when the last job ended (t->from). */
uint64_t pdi_jtimer_flush(pdi_jtimer *t);

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
