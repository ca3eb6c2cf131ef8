/* Runtime: kind registry, executor and policy selection. */
#include "api/api.h"
#include "exec/exec.h"
#include "runner/runner.h"
#include "sched/sched.h"
#include "util/abi.h"

PYDRON_API int pydron_runtime_options_init_version(pydron_runtime_options *opts,
                                                   unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_runtime_options_size(version);
    if (!opts || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_options_init_version: %s",
                       opts ? "unknown struct version" : "NULL opts");
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.version = version;
    memcpy(opts, &o, size); /* only what the caller's version knows */
    return 0;
}

/* The 0.1.0 symbol, for programs built against it: version 1 (pydron.h
 * makes the name a macro for the current version). */
PYDRON_API void (pydron_runtime_options_init)(pydron_runtime_options *opts)
{
    if (opts)
        (void)pydron_runtime_options_init_version(opts, 1);
}

static int register_kind_locked(pydron_runtime *rt, const pydron_kind_desc *d, uint32_t *out)
{
    uint32_t n = atomic_load(&rt->kt.n);
    for (uint32_t i = 0; i < n; i++)
        if (strcmp(rt->kt.kinds[i]->name, d->name) == 0)
            return pdi_err(PYDRON_EEXIST, "kind '%s' is already registered", d->name);
    if (n >= PDI_MAX_KINDS)
        return pdi_err(PYDRON_ERANGE, "too many kinds (max %d)", PDI_MAX_KINDS);
    pdi_kind *k = calloc(1, sizeof *k);
    if (!k || !(k->name = pdi_strdup(d->name))) {
        free(k);
        return pdi_err(PYDRON_ENOMEM, "cannot register kind");
    }
    k->runner = d->runner;
    k->runner_self = d->runner_self;
    k->refine = d->refine;
    k->refine_user = d->refine_user;
    k->flags = d->flags;
    pthread_mutex_init(&k->serial, NULL);
    rt->kt.kinds[n] = k;
    atomic_store(&rt->kt.n, n + 1);   /* publish after the slot is filled */
    if (out)
        *out = pdi_kind_id(&rt->kt, n);
    return 0;
}

PYDRON_API int pydron_runtime_register_kind(pydron_runtime *rt, const pydron_kind_desc *desc,
                                            uint32_t *out_kind)
{
    pdi_err_clear();
    if (!rt || !desc)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_register_kind: NULL argument");
    if (desc->version != PYDRON_KIND_DESC_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_kind_desc.version is %u, expected %u",
                       desc->version, PYDRON_KIND_DESC_VERSION);
    if (!desc->name || !desc->name[0])
        return pdi_err(PYDRON_EINVAL, "a kind needs a non-empty name");
    if (desc->runner && (desc->runner->version != PYDRON_RUNNER_OPS_VERSION || !desc->runner->run))
        return pdi_err(PYDRON_EINVAL, "kind '%s': runner ops need version %u and run()",
                       desc->name, PYDRON_RUNNER_OPS_VERSION);
    if (desc->flags & ~PYDRON_KIND_SERIAL)
        return pdi_err(PYDRON_EINVAL, "kind '%s': unknown flags 0x%x", desc->name, desc->flags);
    pthread_mutex_lock(&rt->mu);
    int rc = register_kind_locked(rt, desc, out_kind);
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

PYDRON_API int pydron_runtime_register_c(pydron_runtime *rt, const char *name, pydron_c_fn fn,
                                         void *user, uint32_t *out_kind)
{
    pdi_err_clear();
    if (!rt || !name || !fn || !out_kind)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_register_c: NULL argument");
    pdi_c_runner *r = malloc(sizeof *r);
    if (!r)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate C runner");
    r->fn = fn;
    r->user = user;
    pydron_kind_desc d = PYDRON_KIND_DESC_INIT;
    d.name = name;
    d.runner = &pdi_c_runner_ops;
    d.runner_self = r;
    int rc = pydron_runtime_register_kind(rt, &d, out_kind);
    if (rc)
        free(r);
    return rc;
}

PYDRON_API int pydron_runtime_kind(pydron_runtime *rt, const char *name, uint32_t *out_kind)
{
    pdi_err_clear();
    if (!rt || !name || !out_kind)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_kind: NULL argument");
    uint32_t n = atomic_load(&rt->kt.n);
    for (uint32_t i = 0; i < n; i++) {
        if (strcmp(rt->kt.kinds[i]->name, name) == 0) {
            *out_kind = pdi_kind_id(&rt->kt, i);
            return 0;
        }
    }
    return pdi_err(PYDRON_ENOTFOUND, "no kind named '%s'", name);
}

PYDRON_API int pydron_runtime_new(pydron_runtime **out, const pydron_runtime_options *opts)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_new: NULL out");
    *out = NULL;
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    if (opts) {
        size_t size = pdi_runtime_options_size(opts->version);
        if (!size)
            return pdi_err(PYDRON_EINVAL,
                           "pydron_runtime_options.version is %u, this library knows 1 to %u",
                           opts->version, PYDRON_RUNTIME_OPTIONS_VERSION);
        memcpy(&o, opts, size); /* later fields keep their defaults */
    }
    if ((unsigned)o.policy > PYDRON_POLICY_RANDOM || o.policy == PYDRON_POLICY_CUSTOM)
        return pdi_err(PYDRON_EINVAL, "unknown policy %d (custom policies: pydron_runtime_set_policy)",
                       (int)o.policy);
    if ((unsigned)o.executor > PYDRON_EXECUTOR_REMOTE)
        return pdi_err(PYDRON_EINVAL,
                       "unknown executor %d (custom executors: pydron_runtime_set_executor)",
                       (int)o.executor);
    if (o.max_retries == 0)
        o.max_retries = 3;
    pdi_trace_env_once();
    pydron_runtime *rt = calloc(1, sizeof *rt);
    if (!rt)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate runtime");
    int rc = pdi_handle_runtime_add(rt, &rt->kt.tag);
    if (rc) {
        free(rt);
        return rc;
    }
    pthread_mutex_init(&rt->mu, NULL);
    rt->host.rt = rt;
    rc = pdi_exec_create(pdi_exec_name_of(o.executor), &o, NULL, &rt->xops, &rt->xself);
    if (rc) {
        pdi_handle_runtime_remove(rt);
        pthread_mutex_destroy(&rt->mu);
        free(rt);
        return rc;
    }
    rt->xkind = o.executor;
    rt->direct_off = pdi_direct_off_env();
    /* keep only scalar options; strings belonged to the caller */
    o.worker_command = NULL;
    o.worker_args = NULL;
    o.listen_url = o.secret = o.tls_cert_file = o.tls_key_file = o.launch_command = NULL;
    o.launch_hosts = NULL;
    rt->opts = o;
    void *ffi_self = NULL;
    const pydron_runner_ops *ffi = pdi_runner_ffi_get(&ffi_self);
    if (ffi) {
        pydron_kind_desc d = PYDRON_KIND_DESC_INIT;
        d.name = PYDRON_KIND_FFI;
        d.runner = ffi;
        d.runner_self = ffi_self;
        if ((rc = pydron_runtime_register_kind(rt, &d, NULL)) != 0) {
            pydron_runtime_free(rt);
            return rc;
        }
    }
    {
        pydron_kind_desc d = PYDRON_KIND_DESC_INIT;
        d.name = PYDRON_KIND_BENCH;
        d.runner = &pdi_bench_runner_ops;
        if ((rc = pydron_runtime_register_kind(rt, &d, NULL)) != 0) {
            pydron_runtime_free(rt);
            return rc;
        }
    }
    *out = rt;
    return 0;
}

PYDRON_API int pydron_runtime_free(pydron_runtime *rt)
{
    pdi_err_clear();
    if (!rt)
        return 0;
    if (!pdi_handle_runtime_live(rt))
        return pdi_err(PYDRON_ESTALE, "pydron_runtime_free: not a live runtime (freed already?)");
    pthread_mutex_lock(&rt->mu);
    if (rt->ngraphs) {
        unsigned n = rt->ngraphs;
        pthread_mutex_unlock(&rt->mu);
        return pdi_err(PYDRON_EBUSY, "runtime still has %u graph(s); free them first", n);
    }
    pthread_mutex_unlock(&rt->mu);
    pdi_handle_runtime_remove(rt);
    if (rt->xops) {
        if (rt->xstarted && rt->xops->stop)
            rt->xops->stop(rt->xself);
        if (rt->xops->destroy)
            rt->xops->destroy(rt->xself);
    }
    if (rt->pops && rt->pops->destroy)
        rt->pops->destroy(rt->pself);
    if (rt->pfac && rt->pfac->destroy)
        rt->pfac->destroy(rt->pfac_user);
    uint32_t n = atomic_load(&rt->kt.n);
    for (uint32_t i = 0; i < n; i++) {
        pdi_kind *k = rt->kt.kinds[i];
        if (k->runner && k->runner->destroy) {
            /* one destroy per (ops, self) pair even if shared by kinds */
            int seen = 0;
            for (uint32_t j = 0; j < i && !seen; j++)
                seen = rt->kt.kinds[j]->runner == k->runner &&
                       rt->kt.kinds[j]->runner_self == k->runner_self;
            if (!seen)
                k->runner->destroy(k->runner_self);
        }
    }
    for (uint32_t i = 0; i < n; i++) {
        pdi_kind *k = rt->kt.kinds[i];
        pthread_mutex_destroy(&k->serial);
        free(k->name);
        free(k);
    }
    free((void *)rt->inflight);
    free((void *)rt->window);
    free((void *)rt->down);
    pthread_mutex_destroy(&rt->mu);
    free(rt);
    return 0;
}

PYDRON_API int pydron_runtime_set_policy(pydron_runtime *rt, const pydron_policy_ops *ops,
                                         void *self)
{
    pdi_err_clear();
    if (!rt || !ops)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_set_policy: NULL argument");
    if (ops->version != PYDRON_POLICY_OPS_VERSION || !ops->push || !ops->pick)
        return pdi_err(PYDRON_EINVAL, "policy ops need version %u, push() and pick()",
                       PYDRON_POLICY_OPS_VERSION);
    pthread_mutex_lock(&rt->mu);
    if (rt->ngraphs) {
        pthread_mutex_unlock(&rt->mu);
        return pdi_err(PYDRON_ESTATE, "set the policy before creating graphs");
    }
    if (rt->pops && rt->pops->destroy)
        rt->pops->destroy(rt->pself);
    if (rt->pfac && rt->pfac->destroy)
        rt->pfac->destroy(rt->pfac_user);
    rt->pfac = NULL;
    rt->pfac_user = NULL;
    rt->pops = ops;
    rt->pself = self;
    rt->opts.policy = PYDRON_POLICY_CUSTOM;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

PYDRON_API int pydron_runtime_set_policy_factory(pydron_runtime *rt,
                                                 const pydron_policy_factory *f, void *user)
{
    pdi_err_clear();
    if (!rt || !f)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_set_policy_factory: NULL argument");
    if (f->version != PYDRON_POLICY_FACTORY_VERSION || !f->create)
        return pdi_err(PYDRON_EINVAL, "a policy factory needs version %u and create()",
                       PYDRON_POLICY_FACTORY_VERSION);
    pthread_mutex_lock(&rt->mu);
    if (rt->ngraphs) {
        pthread_mutex_unlock(&rt->mu);
        return pdi_err(PYDRON_ESTATE, "set the policy factory before creating graphs");
    }
    if (rt->pops && rt->pops->destroy)
        rt->pops->destroy(rt->pself);
    if (rt->pfac && rt->pfac->destroy)
        rt->pfac->destroy(rt->pfac_user);
    rt->pops = NULL;
    rt->pself = NULL;
    rt->pfac = f;
    rt->pfac_user = user;
    rt->opts.policy = PYDRON_POLICY_CUSTOM;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}

PYDRON_API int pydron_runtime_set_executor(pydron_runtime *rt, const pydron_executor_ops *ops,
                                           void *self)
{
    pdi_err_clear();
    if (!rt || !ops)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_set_executor: NULL argument");
    if (ops->version < 1 || ops->version > PYDRON_EXECUTOR_OPS_VERSION || !ops->start ||
        !ops->submit || !ops->stop)
        return pdi_err(PYDRON_EINVAL, "executor ops need version 1..%u, start(), submit(), stop()",
                       PYDRON_EXECUTOR_OPS_VERSION);
    pthread_mutex_lock(&rt->mu);
    if (rt->xstarted || rt->ngraphs) {
        pthread_mutex_unlock(&rt->mu);
        return pdi_err(PYDRON_ESTATE, "set the executor before creating graphs");
    }
    if (rt->xops && rt->xops->destroy)
        rt->xops->destroy(rt->xself);
    rt->xops = ops;
    rt->xself = self;
    rt->xkind = PYDRON_EXECUTOR_CUSTOM;
    rt->opts.executor = PYDRON_EXECUTOR_CUSTOM;
    pthread_mutex_unlock(&rt->mu);
    return 0;
}


PYDRON_API int pydron_runtime_use_executor(pydron_runtime *rt, const char *name,
                                           const void *exec_options)
{
    pdi_err_clear();
    if (!rt || !name)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_use_executor: NULL argument");
    pthread_mutex_lock(&rt->mu);
    int busy = rt->xstarted || rt->ngraphs;
    pydron_runtime_options o = rt->opts;
    pthread_mutex_unlock(&rt->mu);
    if (busy)
        return pdi_err(PYDRON_ESTATE, "set the executor before creating graphs");
    const pydron_executor_ops *ops;
    void *self;
    int rc = pdi_exec_create(name, &o, exec_options, &ops, &self);
    if (rc)
        return rc;
    if ((rc = pydron_runtime_set_executor(rt, ops, self)) != 0 && ops->destroy)
        ops->destroy(self);
    return rc;
}

PYDRON_API int pydron_runtime_nworkers(pydron_runtime *rt, unsigned *out)
{
    pdi_err_clear();
    if (!rt || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_nworkers: NULL argument");
    pthread_mutex_lock(&rt->mu);
    int started = rt->xstarted;
    *out = rt->nworkers;
    pthread_mutex_unlock(&rt->mu);
    return started ? 0 : pdi_err(PYDRON_ESTATE, "the executor has not started yet");
}

PYDRON_API int pydron_runtime_worker_window(pydron_runtime *rt, unsigned worker, unsigned *window,
                                            int *down)
{
    pdi_err_clear();
    if (!rt || !window)
        return pdi_err(PYDRON_EINVAL, "pydron_runtime_worker_window: NULL argument");
    pthread_mutex_lock(&rt->mu);
    int rc = 0;
    if (!rt->xstarted)
        rc = pdi_err(PYDRON_ESTATE, "the executor has not started yet");
    else if (worker >= rt->nworkers)
        rc = pdi_err(PYDRON_EINVAL, "no worker %u (%u workers)", worker, rt->nworkers);
    else {
        *window = pdi_worker_window(rt, worker);
        if (down)
            *down = atomic_load(&rt->down[worker]) != 0;
    }
    pthread_mutex_unlock(&rt->mu);
    return rc;
}

PYDRON_API int pydron_sim_stats_get(pydron_runtime *rt, pydron_sim_stats *out)
{
    pdi_err_clear();
    if (!rt || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_sim_stats_get: NULL argument");
    if (!pdi_handle_runtime_live(rt))
        return pdi_err(PYDRON_ESTALE, "pydron_sim_stats_get: not a live runtime");
    pthread_mutex_lock(&rt->mu);
    const pydron_executor_ops *ops = rt->xops;
    void *self = rt->xself;
    pthread_mutex_unlock(&rt->mu);
    return pdi_sim_stats(ops, self, out);
}
