/* Public graph functions: create, add tasks, cancel, close, free, states
 * and timings. A thin layer over graph/ and sched/ that checks arguments
 * and takes the graph lock. */
#include <stdio.h>

#include "api/api.h"
#include "graph/fast.h"
#include "sched/sched.h"
#include "util/abi.h"


/* ------------------------------------------------------------------ public */

int pdi_lock_graph(pydron_graph *g, const char *fn)
{
    if (!g)
        return pdi_err(PYDRON_EINVAL, "%s: NULL graph", fn);
    pthread_mutex_lock(&pdi_S(g)->mu);
    return 0;
}

PYDRON_API int pydron_graph_new(pydron_runtime *rt, pydron_graph **out)
{
    pdi_err_clear();
    if (!rt || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_new: NULL argument");
    *out = NULL;
    if (!pdi_handle_runtime_live(rt))
        return pdi_err(PYDRON_ESTALE, "pydron_graph_new: not a live runtime (freed already?)");
    pdi_sgraph *sg = calloc(1, sizeof *sg);
    pydron_graph *g = sg ? &sg->g : NULL;
    if (!g)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate graph");
    int rc = pdi_handle_graph_add(g);   /* its tag */
    if (rc) {
        free(g);
        return rc;
    }
    pdi_S(g)->rt = rt;
    g->kt = &rt->kt;
    g->max_retries = rt->opts.max_retries;
    g->can_release = rt->xops->release != NULL;
    g->rec_id = pdi_record_graph_id();
    pthread_mutex_init(&pdi_S(g)->mu, NULL);
    pdi_cond_init_monotonic(&pdi_S(g)->cv);
    /* a policy factory runs user code: not under rt->mu */
    pthread_mutex_lock(&rt->mu);
    const pydron_policy_factory *pf = rt->pfac;
    void *pf_user = rt->pfac_user;
    pthread_mutex_unlock(&rt->mu);
    const pydron_policy_ops *fops = NULL;
    void *fself = NULL;
    if (pf) {
        pdi_err_clear();
        rc = pf->create(pf_user, g, &fops, &fself);
        if (rc == 0 && (!fops || fops->version != PYDRON_POLICY_OPS_VERSION || !fops->push ||
                        !fops->pick)) {
            if (fops && fops->version == PYDRON_POLICY_OPS_VERSION && fops->destroy)
                fops->destroy(fself);
            rc = pdi_err(PYDRON_EINVAL, "policy factory '%s' made ops without version %u, "
                                        "push() and pick()",
                         pf->name ? pf->name : "?", PYDRON_POLICY_OPS_VERSION);
        } else if (rc) {
            if (rc > 0)
                rc = PYDRON_EINVAL;
            if (!pydron_error_last()[0])
                pdi_err(rc, "policy factory '%s' failed: %s", pf->name ? pf->name : "?",
                        pydron_strerror(rc));
        }
    }
    pthread_mutex_lock(&rt->mu);
    if (rc) {
        /* the factory failed */
    } else if (pf) {
        pdi_S(g)->pops = fops;
        pdi_S(g)->pself = fself;
        pdi_S(g)->own_policy = 1;
        pdi_S(g)->need_bl = 1;
        pdi_S(g)->need_loc = 1;
    } else if (rt->pops) {
        if (rt->policy_users) {
            rc = pdi_err(PYDRON_EBUSY, "the custom policy of this runtime already serves a graph");
        } else {
            rt->policy_users++;
            pdi_S(g)->pops = rt->pops;
            pdi_S(g)->pself = rt->pself;
        }
        pdi_S(g)->need_bl = 1;
        pdi_S(g)->need_loc = 1;
    } else {
        rc = pdi_policy_create(rt->opts.policy, &pdi_S(g)->pops, &pdi_S(g)->pself);
        pdi_S(g)->own_policy = 1;
        pdi_policy_needs(rt->opts.policy, &pdi_S(g)->need_bl, &pdi_S(g)->need_loc);
    }
    if (rc == 0) {
        pdi_S(g)->next_in_rt = rt->graphs;
        if (rt->graphs)
            pdi_S(rt->graphs)->prev_in_rt = g;
        rt->graphs = g;
        rt->ngraphs++;
    }
    pthread_mutex_unlock(&rt->mu);
    if (rc) {
        pdi_handle_graph_remove(g);
        pthread_cond_destroy(&pdi_S(g)->cv);
        pthread_mutex_destroy(&pdi_S(g)->mu);
        free(g);
        return rc;
    }
    *out = g;
    return 0;
}

/* The checks of pydron_task_add that need no lock. */
static inline int add_check(const pydron_task_desc *desc)
{
    if (PDI_UNLIKELY(desc->tick_len && !desc->tick))
        return pdi_err(PYDRON_EINVAL, "tick_len > 0 with NULL tick");
    if (PDI_UNLIKELY(desc->tick_mode != PYDRON_TICK_CHILD))
        return pdi_err(PYDRON_EINVAL, "tick_mode SUCCESSOR is only valid inside a refinement");
    return 0;
}

/* One task of pydron_task_add(_many), g->mu held. */
static PDI_ALWAYS_INLINE int add_locked(pydron_graph *g, const pydron_task_desc *desc,
                                         pydron_task *out_task, pydron_value *out_values)
{
    pdi_sgraph *sg = pdi_S(g);
    int rc;
    if (g->closed || g->freeing) {
        rc = pdi_err(PYDRON_ESTATE, "the graph is %s: no more tasks can be added",
                     g->canceled ? "canceled" : "closed");
    } else {
        uint32_t auto_tick;
        const uint32_t *tick = desc->tick;
        size_t tick_len = desc->tick_len;
        if (!tick_len) {
            auto_tick = ++g->top_tick;
            tick = &auto_tick;
            tick_len = 1;
        }
        /* room in the refinement queue for a REFINABLE task ready at once, so
         * that taking it never allocates inside this call */
        if ((desc->flags & PYDRON_TASK_REFINABLE) &&
            pdi_ring_reserve(&sg->refq, pdi_ring_len(&sg->refq) + 1, sizeof(uint32_t)))
            rc = pdi_err(PYDRON_ENOMEM, "out of memory adding a task");
        else if (PDI_LIKELY(pdi_task_add_fast(g, desc, tick, tick_len, out_task, out_values, NULL)))
            rc = 0;   /* the common task, inline (pdi_task_add_locked: the rest) */
        else
            rc = pdi_task_add_locked(g, desc, tick, tick_len, out_task, out_values, NULL);
        pdi_sched_drain(g);
        if (rc == 0 && desc->tick_len && tick[0] > g->top_tick)
            g->top_tick = tick[0];
        if (rc == 0 && g->started && !sg->dispatching && pdi_dispatch_on_add(g))
            pdi_dispatch(g);
    }
    return rc;
}

PYDRON_API int pydron_task_add(pydron_graph *g, const pydron_task_desc *desc,
                               pydron_task *out_task, pydron_value *out_values)
{
    pdi_err_clear();
    if (!g || !desc)
        return pdi_err(PYDRON_EINVAL, "pydron_task_add: NULL argument");
    int rc = add_check(desc);
    if (rc)
        return rc;
    pthread_mutex_lock(&pdi_S(g)->mu);
    rc = add_locked(g, desc, out_task, out_values);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_task_add_many(pydron_graph *g, const pydron_task_desc *descs, size_t n,
                                    pydron_task *out_tasks, pydron_value *out_values,
                                    size_t *added)
{
    pdi_err_clear();
    if (added)
        *added = 0;
    if (!g || (n && !descs))
        return pdi_err(PYDRON_EINVAL, "pydron_task_add_many: NULL argument");
    pdi_sgraph *sg = pdi_S(g);
    size_t i = 0, nv = 0;
    int rc = 0;
    pthread_mutex_lock(&sg->mu);
    for (; i < n; i++) {
        const pydron_task_desc *d = &descs[i];
        /* (NULL out_values with outputs declared: the add reports it) */
        if (!(rc = add_check(d)))
            rc = add_locked(g, d, out_tasks ? &out_tasks[i] : NULL,
                            out_values ? out_values + nv : NULL);
        if (PDI_UNLIKELY(rc != 0)) {
            rc = pdi_err(rc, "pydron_task_add_many: task %zu of the batch: %s", i,
                         pydron_error_last());
            break;
        }
        nv += d->noutputs;
    }
    pthread_mutex_unlock(&sg->mu);
    if (added)
        *added = i;
    return rc;
}

PYDRON_API int pydron_task_state_get(pydron_graph *g, pydron_task t, pydron_task_state *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_task_state_get: NULL out");
    if (pdi_lock_graph(g, "pydron_task_state_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_task *r = pdi_task_get(g, t.id, NULL);
    pdi_tlog *e;
    if (r)
        *out = (pydron_task_state)r->state;
    else if (pdi_id_tag(t.id) == g->tag && pdi_log_find(g, t.id, &e))
        *out = (pydron_task_state)e->state;   /* finished and recycled */
    else
        rc = PYDRON_ESTALE;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

static const char *exec_name(pydron_graph *g, const pdi_tlog *e)
{
    if (!e->exec)
        return "driver";
    return pdi_S(g)->rt->xops->name ? pdi_S(g)->rt->xops->name : "executor";
}

PYDRON_API int pydron_task_timing_get_version(pydron_graph *g, pydron_task t,
                                              pydron_task_timing *user_out, unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_task_timing_size(version);
    if (!user_out || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_task_timing_get: %s",
                       user_out ? "unknown struct version" : "NULL out");
    if (pdi_lock_graph(g, "pydron_task_timing_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_task *r = pdi_task_get(g, t.id, NULL);
    pdi_tlog *e;
    /* filled here, then only the caller's version of it is copied out */
    pydron_task_timing full, *out = &full;
    memset(out, 0, sizeof *out);
    out->version = version;
    out->task = t;
    if (r && (r->bits & TB_RETAINED))
        r = NULL;   /* finished: the log has its timings */
    if (r) {
        out->kind = pdi_kind_id(g->kt, r->kind);
        out->state = (pydron_task_state)r->state;
        out->queued_ns = r->queued_ns;
        out->worker = -1;
        out->executor = "";
        out->label = r->label ? g->labels[r->label - 1].text : NULL;
    } else if (pdi_id_tag(t.id) == g->tag && pdi_log_find(g, t.id, &e)) {
        out->kind = pdi_kind_id(g->kt, pdi_tlog_kind(g, e));
        out->state = (pydron_task_state)e->state;
        out->queued_ns = e->queued_ns;
        out->started_ns = e->started_ns;
        out->finished_ns = e->finished_ns;
        out->worker = e->worker;
        out->executor = exec_name(g, e);
        out->label = pdi_tlog_label(g, e);
    } else {
        rc = PYDRON_ESTALE;
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    if (rc == 0)
        memcpy(user_out, out, size);
    return rc;
}

PYDRON_API int pydron_graph_timings(pydron_graph *g,
                                    void (*fn)(const pydron_task_timing *t, void *user), void *user)
{
    pdi_err_clear();
    if (!fn)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_timings: NULL fn");
    if (pdi_lock_graph(g, "pydron_graph_timings"))
        return PYDRON_EINVAL;
    for (uint64_t k = pdi_log_first(g); k < g->nlog; k++) {
        pdi_tlog *e = pdi_log_at(g, k);
        pydron_task_timing tt = {{e->task}, pdi_kind_id(g->kt, pdi_tlog_kind(g, e)), (pydron_task_state)e->state,
                                 e->queued_ns, e->started_ns, e->finished_ns, e->worker,
                                 exec_name(g, e), pdi_tlog_label(g, e), PYDRON_TASK_TIMING_VERSION};
        fn(&tt, user);
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return 0;
}

PYDRON_API int pydron_graph_stats_get_version(pydron_graph *g, pydron_graph_stats *out,
                                              unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_graph_stats_size(version);
    if (!out || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_stats_get: %s",
                       out ? "unknown struct version" : "NULL out");
    if (pdi_lock_graph(g, "pydron_graph_stats_get"))
        return PYDRON_EINVAL;
    pydron_graph_stats s = g->stats;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    s.version = version;
    memcpy(out, &s, size); /* only what the caller's version knows */
    return 0;
}

PYDRON_API int pydron_graph_cancel(pydron_graph *g)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_graph_cancel"))
        return PYDRON_EINVAL;
    pdi_sched_cancel_locked(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    pdi_exec_recall(pdi_S(g)->rt);   /* jobs queued on the executor come back now */
    return 0;
}

PYDRON_API int pydron_graph_close(pydron_graph *g)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_graph_close"))
        return PYDRON_EINVAL;
    g->closed = 1;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return 0;
}

PYDRON_API int pydron_graph_free(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_err_clear();
    if (!g)
        return 0;
    if (pdi_tls.cb_graph)
        return pdi_err(PYDRON_EBUSY, "pydron_graph_free must not be called from a task body or callback");
    if (!pdi_handle_graph_live(g))
        return pdi_err(PYDRON_ESTALE, "pydron_graph_free: not a live graph (freed already?)");
    pthread_mutex_lock(&sg->mu);
    if (g->freeing || sg->driving) {
        pthread_mutex_unlock(&sg->mu);
        return pdi_err(PYDRON_EBUSY, "the graph is in use by another thread (wait/run/free)");
    }
    g->freeing = 1;
    pdi_sched_cancel_locked(g);
    pthread_mutex_unlock(&sg->mu);
    pdi_exec_recall(sg->rt);
    pthread_mutex_lock(&sg->mu);
    /* running jobs must come back before their memory goes, and a
     * pdi_dispatch running on an executor thread (from pydron_job_done) must
     * have left: it relocks sg->mu after submit() returns */
    pydron_runtime *rt = sg->rt;
    while (sg->inflight || sg->dispatching) {
        if (rt->xops->poll) {
            pthread_mutex_unlock(&sg->mu);
            rt->xops->poll(rt->xself, 0);
            pthread_mutex_lock(&sg->mu);
            if (!sg->inflight && !sg->dispatching)
                break;
        }
        struct timespec ts = pdi_abstime_after(CLOCK_MONOTONIC, 10 * 1000000u);
        sg->waiters++;
        pthread_cond_timedwait(&sg->cv, &sg->mu, &ts);
        sg->waiters--;
    }
    pthread_mutex_unlock(&sg->mu);

    pthread_mutex_lock(&rt->mu);
    if (sg->prev_in_rt)
        pdi_S(sg->prev_in_rt)->next_in_rt = sg->next_in_rt;
    else
        rt->graphs = sg->next_in_rt;
    if (sg->next_in_rt)
        pdi_S(sg->next_in_rt)->prev_in_rt = sg->prev_in_rt;
    rt->ngraphs--;
    pdi_handle_graph_remove(g);
    if (g->rec_id)
        pdi_record_flush();
    if (!sg->own_policy && sg->pops)
        rt->policy_users--;
    pthread_mutex_unlock(&rt->mu);

    /* every value still alive: free its bytes without following references */
    pthread_mutex_lock(&sg->mu);
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PDI_V_FREE)
            continue;
        if (v->state == PYDRON_VALUE_READY && (v->vf & VF_ALIAS)) {
            v->state = PDI_V_FREE;
            continue;
        }
        v->refs = v->urefs = 0;
        pdi_value_drop(g, i);
    }
    for (uint32_t i = 1; i <= g->tcount; i++) {
        pdi_task *t = pdi_T(g, i);
        if (t->state != PDI_T_FREE)
            pdi_task_free(g, i);
    }
    pdi_sched_drain(g);   /* remote bytes of the values dropped above */
    pthread_mutex_unlock(&sg->mu);
    if (sg->own_policy && sg->pops && sg->pops->destroy)
        sg->pops->destroy(sg->pself);
    pdi_slabs_release(g);
    for (size_t c = 0; c < g->nlchunks; c++)
        free(g->lchunks[c]);
    free(g->lchunks);
    for (size_t i = 0; i < g->nlabels; i++)
        free(g->labels[i].text);
    free(g->labels);
    free(g->lhash);
    pdi_rec_free(g);
    free(g->heap);
    free(g->lin);
    pdi_notes_free(g);
    pdi_ring_free(&sg->refq);
    free(g->chg.ready_drv);
    free(g->chg.ready);
    free(g->chg.done);
    free(g->chg.rel);
    free(g->last_sync_tick);
    free(sg->ksum);
    free(sg->kcnt);
    free(sg->dslots);
    pdi_group_free_all(g);
    while (sg->jfree) {
        pydron_job *j = sg->jfree;
        sg->jfree = j->next;
        free(j);
    }
    pthread_cond_destroy(&sg->cv);
    pthread_mutex_destroy(&sg->mu);
    free(g);
    return 0;
}

PYDRON_API int pydron_graph_start(pydron_graph *g)
{
    pdi_err_clear();
    if (!g)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_start: NULL graph");
    pthread_mutex_lock(&pdi_S(g)->mu);
    int rc = g->freeing ? pdi_err(PYDRON_ESTATE, "the graph is being freed") : pdi_graph_start_locked(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_graph_interrupt(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_err_clear();
    if (!g)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_interrupt: NULL graph");
    atomic_store(&sg->interrupt, 1);
    pthread_mutex_lock(&sg->mu);
    pthread_cond_broadcast(&sg->cv);
    pthread_mutex_unlock(&sg->mu);
    return 0;
}

PYDRON_API int pydron_graph_wait(pydron_graph *g, pydron_value v, int timeout_ms)
{
    pdi_err_clear();
    pdi_target tg = {1, v.id};
    return pdi_drive(g, tg, timeout_ms);
}

PYDRON_API int pydron_graph_run(pydron_graph *g, int timeout_ms)
{
    pdi_err_clear();
    pdi_target tg = {0, 0};
    return pdi_drive(g, tg, timeout_ms);
}
