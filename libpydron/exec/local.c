/* local.c - the `local` executor: worker processes on this machine, started
 * with posix_spawn and connected over ipc:// in a private 0700 directory
 * (see exec/proc.c). */
#include "exec/exec.h"
#include "exec/proc.h"

int pdi_exec_create_local(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    (void)exec_options;
    pdi_proc *p;
    int rc = pdi_proc_new(opts, 0, &p);
    if (rc)
        return rc;
    *ops = &pdi_proc_ops_local;
    *self = p;
    return 0;
}
