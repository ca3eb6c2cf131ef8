/* remote.c - the `remote` executor: workers on other machines dial the
 * driver over tcp:// or tls+tcp:// and authenticate with the shared secret
 * (see exec/proc.c). */
#include "exec/exec.h"
#include "exec/proc.h"

int pdi_exec_create_remote(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    (void)exec_options;
    pdi_proc *p;
    int rc = pdi_proc_new(opts, 1, &p);
    if (rc)
        return rc;
    *ops = &pdi_proc_ops_remote;
    *self = p;
    return 0;
}
