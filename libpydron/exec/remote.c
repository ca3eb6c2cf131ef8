/* remote.c - the `remote` executor: the process-executor core (proc*.c)
 * with the accept-remote launcher (launch_accept.c): workers on other
 * machines dial in over tcp:// or tls+tcp:// with the shared secret. */
#include "exec/exec.h"
#include "exec/proc.h"

static const pydron_executor_ops remote_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "remote", pdi_proc_start, pdi_proc_submit, NULL,
    pdi_proc_fetch, pdi_proc_release, pdi_proc_stop, pdi_proc_destroy, pdi_proc_recall};

int pdi_exec_create_remote(void *user, const pydron_runtime_options *opts,
                           const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    pdi_proc *p;
    int rc = pdi_proc_new(opts, exec_options, &pdi_launcher_accept, &p);
    if (rc)
        return rc;
    *ops = &remote_ops;
    *self = p;
    return 0;
}
