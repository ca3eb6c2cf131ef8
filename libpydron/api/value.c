/* Public value functions: constants, inputs, references, bytes, errors. */
#include <stdio.h>
#include <stdlib.h>

#include "api/api.h"
#include "graph/graph.h"
#include "sched/sched.h"
#include "store/shm.h"

static int add_value(pydron_graph *g, uint32_t *vi, pydron_value *out)
{
    if (g->freeing)
        return pdi_err(PYDRON_ESTATE, "the graph is being freed");
    int rc = pdi_value_new_locked(g, vi);
    if (rc)
        return rc;
    pdi_V(g, *vi)->urefs = 1;
    out->id = pdi_vid(g, *vi);
    return 0;
}

PYDRON_API int pydron_value_constant_take(pydron_graph *g, const void *data, size_t len,
                                          void (*free_fn)(void *), void *free_arg,
                                          pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out || (len && !data)) {
        if (free_fn)
            free_fn(free_arg);
        return pdi_err(PYDRON_EINVAL, "pydron_value_constant: NULL argument");
    }
    pthread_mutex_lock(&pdi_S(g)->mu);
    uint32_t vi = 0;
    int rc = add_value(g, &vi, out);
    if (rc == 0) {
        pdi_out o = {data, len, free_fn, free_arg, 1, 0, {0}};
        pdi_value *v = pdi_V(g, vi);
        if (pdi_value_set_bytes(g, v, &o) != 0) {
            pdi_value_drop(g, vi);
            rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        } else {
            v->state = PYDRON_VALUE_READY;
        }
    } else if (free_fn) {
        free_fn(free_arg);
    }
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_constant(pydron_graph *g, const void *data, size_t len,
                                     pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out || (len && !data))
        return pdi_err(PYDRON_EINVAL, "pydron_value_constant: NULL argument");
    if (len <= 16)
        return pydron_value_constant_take(g, data, len, NULL, NULL, out);
    if (len >= pdi_shm_min()) {
        /* the snapshot copy goes into shared memory: workers on this host
         * map it, so this memcpy is the whole transfer */
        void *shm = pdi_shm_copy(data, len);
        if (!shm)
            return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
        return pydron_value_constant_take(g, shm, len, pdi_shm_free, shm, out);
    }
    void *copy = pdi_memdup(data, len);
    if (!copy)
        return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
    return pydron_value_constant_take(g, copy, len, pdi_free_cb, copy, out);
}

PYDRON_API int pydron_value_input(pydron_graph *g, pydron_value *out)
{
    pdi_err_clear();
    if (!g || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_input: NULL argument");
    pthread_mutex_lock(&pdi_S(g)->mu);
    uint32_t vi = 0;
    int rc = add_value(g, &vi, out);
    if (rc == 0)
        pdi_V(g, vi)->vf |= VF_INPUT;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

static pdi_value *get_input(pydron_graph *g, pydron_value v, uint32_t *vi, int *rc)
{
    pdi_value *r = pdi_value_get(g, v.id, vi);
    if (!r)
        *rc = PYDRON_ESTALE;
    else if (!(r->vf & VF_INPUT))
        *rc = pdi_err(PYDRON_ESTATE, "value %#llx is not an input (made by pydron_value_input)",
                      (unsigned long long)v.id);
    else if (r->state != PYDRON_VALUE_PENDING)
        *rc = pdi_err(PYDRON_ESTATE, "input value %#llx was already set", (unsigned long long)v.id);
    else
        return r;
    return NULL;
}

PYDRON_API int pydron_value_set(pydron_graph *g, pydron_value v, const void *data, size_t len)
{
    pdi_err_clear();
    if (!g || (len && !data))
        return pdi_err(PYDRON_EINVAL, "pydron_value_set: NULL argument");
    void *copy = NULL;
    if (len > 16 && !(copy = pdi_memdup(data, len)))
        return pdi_err(PYDRON_ENOMEM, "cannot copy %zu bytes", len);
    pthread_mutex_lock(&pdi_S(g)->mu);
    uint32_t vi;
    int rc = 0;
    pdi_value *r = get_input(g, v, &vi, &rc);
    if (r) {
        pdi_cons_list c;
        pdi_cons_take(r, &c);
        pdi_out o = {copy ? copy : data, len, copy ? pdi_free_cb : NULL, copy, 1, 0, {0}};
        copy = NULL;
        pdi_value_set_bytes(g, r, &o);   /* cannot fail: owner is NULL or none */
        pdi_value_ready(g, vi, &c);
        if (g->started)
            pdi_dispatch(g);
    }
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    free(copy);
    return rc;
}

PYDRON_API int pydron_value_set_failed(pydron_graph *g, pydron_value v, const char *message)
{
    pdi_err_clear();
    if (!g || !message)
        return pdi_err(PYDRON_EINVAL, "pydron_value_set_failed: NULL argument");
    pthread_mutex_lock(&pdi_S(g)->mu);
    uint32_t vi;
    int rc = 0;
    if (get_input(g, v, &vi, &rc)) {
        pdi_error *e = pdi_error_new(0, PYDRON_ETASK, pdi_strdup(message), NULL, 0);
        pdi_value_fail(g, vi, pdi_err_or_oom(e));
        if (e)
            pdi_error_unref(e);
    }
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_retain(pydron_graph *g, pydron_value v)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_value_retain"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else
        r->urefs++;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_release(pydron_graph *g, pydron_value v)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_value_release"))
        return PYDRON_EINVAL;
    int rc = 0;
    uint32_t vi;
    pdi_value *r = pdi_value_live(g, v.id, &vi);
    if (PDI_UNLIKELY(!r))
        r = pdi_value_get(g, v.id, &vi);   /* NULL again, with the message */
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->urefs == 0)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx: the caller holds no reference to release",
                     (unsigned long long)v.id);
    else
        pdi_value_urelease(g, vi);
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_release_many(pydron_graph *g, const pydron_value *vs, size_t n)
{
    pdi_err_clear();
    if (!vs && n)
        return pdi_err(PYDRON_EINVAL, "pydron_value_release_many: NULL values (n = %zu)", n);
    if (pdi_lock_graph(g, "pydron_value_release_many"))
        return PYDRON_EINVAL;
    uint32_t here[64], *vi = n <= 64 ? here : malloc(n * sizeof *vi);
    int rc = 0;
    size_t i = 0, took = 0;
    if (!vi) {
        rc = pdi_err(PYDRON_ENOMEM, "pydron_value_release_many: out of memory (n = %zu)", n);
        goto out;
    }
    /* every check first (a value given twice needs two of the caller's
     * references): all of them are released, or none */
    for (i = 0; i < n; i++) {
        pdi_value *r = pdi_value_live(g, vs[i].id, &vi[i]);
        if (PDI_UNLIKELY(!r) && !(r = pdi_value_get(g, vs[i].id, &vi[i]))) {
            rc = PYDRON_ESTALE; /* (the message names the value) */
            break;
        }
    }
    for (took = 0; !rc && took < i; took++) {
        pdi_value *r = pdi_V(g, vi[took]);
        if (r->urefs == 0) {
            rc = pdi_err(PYDRON_ESTATE,
                         "value %#llx (item %zu): the caller holds no reference to release",
                         (unsigned long long)vs[took].id, took);
            break;
        }
        r->urefs--;
    }
    for (size_t j = 0; j < took; j++)
        pdi_V(g, vi[j])->urefs++;
    for (size_t j = 0; !rc && j < n; j++)
        pdi_value_urelease(g, vi[j]);
    if (!rc)
        pdi_sched_drain(g);
out:
    if (vi != here)
        free(vi);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_state_get(pydron_graph *g, pydron_value v, pydron_value_state *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_state_get: NULL out");
    if (pdi_lock_graph(g, "pydron_value_state_get"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (r) {
        *out = (pydron_value_state)r->state;
    } else {
        /* a freed value of this graph whose slot has moved on: released */
        uint32_t i = pdi_id_idx(v.id);
        if (pdi_id_tag(v.id) == g->tag && i && i <= g->vcount && pdi_id_gen(v.id) &&
            (pdi_id_gen(v.id) < pdi_V(g, i)->gen ||
             (pdi_id_gen(v.id) == pdi_V(g, i)->gen && pdi_V(g, i)->state != PDI_V_FREE)))
            *out = PYDRON_VALUE_RELEASED;
        else
            rc = PYDRON_ESTALE;
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_size(pydron_graph *g, pydron_value v, size_t *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_size: NULL out");
    if (pdi_lock_graph(g, "pydron_value_size"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->state == PYDRON_VALUE_PENDING)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx is still pending", (unsigned long long)v.id);
    else if (r->state == PYDRON_VALUE_FAILED) {
        char *m = pdi_fail_message(g, r->u.err);
        rc = pdi_err(r->u.err->code == PYDRON_ECANCELED ? PYDRON_ECANCELED : PYDRON_ETASK, "%s",
                     m ? m : "failed");
        free(m);
    } else
        *out = (size_t)pdi_value_root(g, r)->len;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_note(pydron_graph *g, pydron_value v, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_note: NULL out");
    if (pdi_lock_graph(g, "pydron_value_note"))
        return PYDRON_EINVAL;
    int rc = 0;
    uint32_t vi;
    pdi_value *r = pdi_value_live(g, v.id, &vi);
    if (!r) {
        r = pdi_value_get(g, v.id, NULL);   /* its message */
        rc = PYDRON_ESTALE;
    } else {
        while (r->vf & VF_ALIAS) {
            vi = r->u.cin[0];
            r = pdi_V(g, vi);
        }
        *data = pdi_note_get(g, vi, len);
        if (!*data)
            *len = 0;
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

/* pydron_value_bytes and pydron_value_fetch: the graph lock held; deadline_ns
 * 0 = none. */
static int value_bytes_locked(pydron_graph *g, pydron_value v, const void **data, size_t *len,
                              uint64_t deadline_ns)
{
    pdi_sgraph *sg = pdi_S(g);
    int rc = 0, lost = 0;
    for (;;) {
        uint32_t vi;
        pdi_value *r = pdi_value_get(g, v.id, &vi);
        if (!r) {
            rc = PYDRON_ESTALE;
            break;
        }
        if (r->state == PYDRON_VALUE_PENDING && lost && deadline_ns &&
            pdi_now_ns() >= deadline_ns) {
            rc = pdi_err(PYDRON_ETIMEDOUT, "value %#llx is being made again",
                         (unsigned long long)v.id);
            break;
        }
        if (r->state == PYDRON_VALUE_PENDING && lost) {
            /* lost with its worker while we fetched it: its producers run
             * again (PURE tasks only, so dispatching is all it takes) */
            pdi_dispatch(g);
            struct timespec ts = pdi_abstime_after(CLOCK_MONOTONIC, 20 * 1000000u);
            sg->waiters++;
            pthread_cond_timedwait(&sg->cv, &sg->mu, &ts);
            sg->waiters--;
            continue;
        }
        if (r->state == PYDRON_VALUE_PENDING) {
            rc = pdi_err(PYDRON_ESTATE, "value %#llx is still pending (wait for it first)",
                         (unsigned long long)v.id);
            break;
        }
        if (r->state == PYDRON_VALUE_FAILED) {
            char *m = pdi_fail_message(g, r->u.err);
            rc = pdi_err(r->u.err->code == PYDRON_ECANCELED ? PYDRON_ECANCELED : PYDRON_ETASK,
                         "%s", m ? m : "failed");
            free(m);
            break;
        }
        pdi_value *root = pdi_value_root(g, r);
        if (pdi_value_has_bytes(root)) {
            *data = pdi_value_data(root);
            *len = (size_t)root->len;
            break;
        }
        /* remote: ask the executor and wait for pydron_exec_fetched */
        rc = pdi_fetch_wait(g, root, deadline_ns);
        if (rc == 1) {   /* lost meanwhile and being made again: wait for it */
            rc = 0;
            lost = 1;
            continue;
        }
        if (rc)
            break;
    }
    return rc;
}

PYDRON_API int pydron_value_bytes(pydron_graph *g, pydron_value v, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_bytes: NULL argument");
    if (pdi_lock_graph(g, "pydron_value_bytes"))
        return PYDRON_EINVAL;
    int rc = value_bytes_locked(g, v, data, len, 0);
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_fetch(pydron_graph *g, pydron_value v, int timeout_ms)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_value_fetch"))
        return PYDRON_EINVAL;
    const void *d;
    size_t n;
    uint64_t deadline = timeout_ms < 0 ? 0 : pdi_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;
    int rc = value_bytes_locked(g, v, &d, &n, deadline);
    pdi_sched_drain(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_peek(pydron_graph *g, pydron_value v, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_peek: NULL argument");
    if (pdi_lock_graph(g, "pydron_value_peek"))
        return PYDRON_EINVAL;
    int rc = 1; /* nothing to hand out now: not an error, so no message */
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r) {
        rc = PYDRON_ESTALE;
    } else if (r->state == PYDRON_VALUE_READY) {
        pdi_value *root = pdi_value_root(g, r);
        if (pdi_value_has_bytes(root)) {
            *data = pdi_value_data(root);
            *len = (size_t)root->len;
            rc = 0;
        }
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_map_private(pydron_graph *g, pydron_value v, void **addr,
                                        size_t *len)
{
    pdi_err_clear();
    if (!addr || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_map_private: NULL argument");
    const void *d;
    size_t n;
    int rc = pydron_value_bytes(g, v, &d, &n);
    if (rc)
        return rc;
    /* the caller's reference keeps the buffer (and its registry entry) alive */
    void *m;
    if ((rc = pdi_shm_map_private(d, n, &m)) != 0)
        return rc;
    *addr = m;
    *len = n;
    return 0;
}

PYDRON_API int pydron_value_unmap(void *addr, size_t len)
{
    pdi_err_clear();
    if (!addr || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_value_unmap: NULL argument");
    return pdi_shm_unmap_private(addr, len);
}

PYDRON_API int pydron_value_error(pydron_graph *g, pydron_value v, pydron_task *task,
                                  char **message, void **detail, size_t *detail_len)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_value_error"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else if (r->state != PYDRON_VALUE_FAILED)
        rc = pdi_err(PYDRON_ESTATE, "value %#llx has not failed", (unsigned long long)v.id);
    else {
        pdi_error *e = r->u.err;
        char *m = NULL;
        void *d = NULL;
        if (message && !(m = pdi_strdup(e->msg)))
            rc = PYDRON_ENOMEM;
        if (!rc && detail && e->detail_len && !(d = pdi_memdup(e->detail, e->detail_len)))
            rc = PYDRON_ENOMEM;
        if (rc) {
            free(m);
            free(d);
            pdi_err(rc, "out of memory");
        } else {
            if (task)
                task->id = e->task;
            if (message)
                *message = m;
            if (detail)
                *detail = d;
            if (detail_len)
                *detail_len = e->detail_len;
        }
    }
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}

PYDRON_API int pydron_value_producer(pydron_graph *g, pydron_value v, pydron_task *out)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_value_producer: NULL out");
    if (pdi_lock_graph(g, "pydron_value_producer"))
        return PYDRON_EINVAL;
    int rc = 0;
    pdi_value *r = pdi_value_get(g, v.id, NULL);
    if (!r)
        rc = PYDRON_ESTALE;
    else
        out->id = r->producer;
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc;
}
