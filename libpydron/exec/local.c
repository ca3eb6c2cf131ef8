/* local.c - the `local` executor: the process-executor core (proc*.c) with
 * the spawn-local launcher (launch_spawn.c): worker processes on this
 * machine, connected over ipc:// in a private 0700 directory. */
#include "exec/exec.h"
#include "exec/proc.h"

static const pydron_executor_ops local_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "local", pdi_proc_start, pdi_proc_submit, NULL,
    pdi_proc_fetch, pdi_proc_release, pdi_proc_stop, pdi_proc_destroy, pdi_proc_recall};

int pdi_exec_create_local(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    pdi_proc *p;
    int rc = pdi_proc_new(opts, exec_options, &pdi_launcher_spawn, &p);
    if (rc)
        return rc;
    *ops = &local_ops;
    *self = p;
    return 0;
}
