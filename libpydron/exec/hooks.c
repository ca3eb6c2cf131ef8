/* Weak defaults for the process executors and the FFI runner: a build
 * without the wire layer reports ENOTSUP instead of failing to link.
 * With the wire layer (PYDRON_WITH_WIRE) they are left out: in the static
 * library a weak definition that is already linked stops the linker from
 * pulling the archive member with the strong one. */
#include <unistd.h>

#include "exec/exec.h"
#include "runner/runner.h"
#include "util/util.h"

#ifndef PYDRON_WITH_WIRE
PDI_WEAK int pdi_exec_create_local(const pydron_runtime_options *opts,
                                   const pydron_executor_ops **ops, void **self)
{
    (void)opts; (void)ops; (void)self;
    return pdi_err(PYDRON_ENOTSUP, "the local process executor is not built into this libpydron");
}

PDI_WEAK int pdi_exec_create_remote(const pydron_runtime_options *opts,
                                    const pydron_executor_ops **ops, void **self)
{
    (void)opts; (void)ops; (void)self;
    return pdi_err(PYDRON_ENOTSUP, "the remote executor is not built into this libpydron");
}

PDI_WEAK const pydron_runner_ops *pdi_runner_ffi_get(void **self)
{
    if (self)
        *self = NULL;
    return NULL;
}
#endif

unsigned pdi_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}
