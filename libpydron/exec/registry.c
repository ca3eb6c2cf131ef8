/* registry.c - the process-wide table of executors: name -> factory.
 *
 * The shipped executors register themselves the first time a runtime is
 * created (pdi_exec_registry_init, once per process); applications add
 * their own with pydron_executor_register. A runtime creates its executor
 * from this table by name, so the core never names a concrete executor. */
#include <pthread.h>
#include <unistd.h>

#include "exec/exec.h"
#include "util/util.h"

typedef struct xentry {
    char *name;
    pydron_executor_create_fn create;
    void *user;
} xentry;

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static xentry *reg;
static size_t nreg, capreg;
static pthread_once_t reg_once = PTHREAD_ONCE_INIT;

static int reg_add(const char *name, pydron_executor_create_fn create, void *user)
{
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nreg; i++) {
        if (strcmp(reg[i].name, name) == 0) {
            pthread_mutex_unlock(&reg_mu);
            return pdi_err(PYDRON_EEXIST, "an executor named '%s' is already registered", name);
        }
    }
    char *n = pdi_strdup(name);
    if (!n || pdi_grow((void **)&reg, &capreg, nreg + 1, sizeof *reg) != 0) {
        pthread_mutex_unlock(&reg_mu);
        free(n);
        return pdi_err(PYDRON_ENOMEM, "cannot register executor '%s'", name);
    }
    reg[nreg].name = n;
    reg[nreg].create = create;
    reg[nreg].user = user;
    nreg++;
    pthread_mutex_unlock(&reg_mu);
    return 0;
}

static void register_shipped(void)
{
    (void)reg_add("inline", pdi_exec_create_inline, NULL);
    (void)reg_add("threads", pdi_exec_create_threads, NULL);
    (void)reg_add("local", pdi_exec_create_local, NULL);
    (void)reg_add("remote", pdi_exec_create_remote, NULL);
    (void)reg_add("sim", pdi_exec_create_sim, NULL);
}

void pdi_exec_registry_init(void) { pthread_once(&reg_once, register_shipped); }

PYDRON_API int pydron_executor_register(const pydron_executor_desc *desc)
{
    pdi_err_clear();
    if (!desc)
        return pdi_err(PYDRON_EINVAL, "pydron_executor_register: NULL desc");
    if (desc->version != PYDRON_EXECUTOR_DESC_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_executor_desc.version is %u, expected %u",
                       desc->version, PYDRON_EXECUTOR_DESC_VERSION);
    if (!desc->name || !desc->name[0] || !desc->create)
        return pdi_err(PYDRON_EINVAL, "an executor needs a non-empty name and create()");
    pdi_exec_registry_init();   /* shipped names are taken first */
    return reg_add(desc->name, desc->create, desc->user);
}

int pdi_exec_create(const char *name, const pydron_runtime_options *opts, const void *exec_options,
                    const pydron_executor_ops **ops, void **self)
{
    pdi_exec_registry_init();
    pydron_executor_create_fn create = NULL;
    void *user = NULL;
    pthread_mutex_lock(&reg_mu);
    for (size_t i = 0; i < nreg; i++) {
        if (strcmp(reg[i].name, name) == 0) {
            create = reg[i].create;
            user = reg[i].user;
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    if (!create)
        return pdi_err(PYDRON_ENOTFOUND, "no executor named '%s' is registered", name);
    *ops = NULL;
    *self = NULL;
    int rc = create(user, opts, exec_options, ops, self);
    if (rc == 0 && (!*ops || (*ops)->version < 1 || (*ops)->version > PYDRON_EXECUTOR_OPS_VERSION ||
                    !(*ops)->start || !(*ops)->submit || !(*ops)->stop)) {
        if (*ops && (*ops)->destroy)
            (*ops)->destroy(*self);
        return pdi_err(PYDRON_EINVAL, "executor '%s': create() returned ops without version %u, "
                                      "start(), submit() and stop()",
                       name, PYDRON_EXECUTOR_OPS_VERSION);
    }
    if (rc > 0)
        rc = PYDRON_EINVAL;
    return rc;
}

const char *pdi_exec_name_of(pydron_executor_kind k)
{
    switch (k) {
    case PYDRON_EXECUTOR_INLINE: return "inline";
    case PYDRON_EXECUTOR_THREADS: return "threads";
    case PYDRON_EXECUTOR_LOCAL: return "local";
    case PYDRON_EXECUTOR_REMOTE: return "remote";
    default: return NULL;
    }
}

unsigned pdi_ncpus(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (unsigned)n : 1u;
}
