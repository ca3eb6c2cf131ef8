/* Jobs: one task handed to an executor (or run on the driver thread). */
#include "exec/exec.h"
#include "runner/runner.h"
#include "sched/sched.h"
#include "util/trace.h"

/* The inline outputs of a job not in use are unset with no place (where
 * -1): pdi_job_prepare hands them out as they are. */
static void outs_reset(pdi_tout *o, size_t n)
{
    memset(o, 0, n * sizeof *o);
    for (size_t i = 0; i < n; i++)
        o[i].where = -1;
}

pydron_job *pdi_job_get(pydron_graph *g)
{
    pydron_job *j = pdi_S(g)->jfree;
    if (j)
        pdi_S(g)->jfree = j->next;
    else if (!(j = malloc(sizeof *j)))
        return NULL;
    else {
        outs_reset(j->outs_inl, PDI_JOB_INLINE);
        j->notes = NULL;   /* pdi_job_clear leaves it so for the free list */
    }
    j->group = NULL;
    return j;
}

void pdi_job_put(pydron_graph *g, pydron_job *j)
{
    j->next = pdi_S(g)->jfree;
    pdi_S(g)->jfree = j;
}

struct pdi_jnote {
    void *data;   /* malloc'd, NULL: none */
    size_t len;
};

static void notes_free(pydron_job *j)
{
    for (size_t i = 0; i < j->nout; i++)
        free(j->notes[i].data);
    free(j->notes);
    j->notes = NULL;
}

/* Before the task's outcome: the notes of its remote outputs go to the
 * values that take them (those still pending and produced by this run;
 * a recomputation's other outputs keep theirs). */
static void notes_keep(pydron_graph *g, pydron_job *j, pdi_task *t)
{
    uint32_t *outs = pdi_task_outs(t);
    for (size_t i = 0; i < j->nout && i < t->nout; i++) {
        pdi_value *o = pdi_V(g, outs[i]);
        if (!j->notes[i].data || j->outs[i].where < 0 || o->state != PYDRON_VALUE_PENDING ||
            o->producer != j->task)
            continue;
        /* out of memory: the value is still right, without its note */
        (void)pdi_note_put(g, outs[i], j->notes[i].data, j->notes[i].len);
        j->notes[i].data = NULL;
    }
}

void pdi_job_clear(pydron_job *j)
{
    for (size_t i = 0; i < j->nout; i++) {
        pdi_tout *o = &j->outs[i];
        if (o->out.set)   /* an unset output is all zero already */
            pdi_out_release(&o->out);
        o->where = -1;    /* as pdi_job_prepare wants them */
    }
    if (j->ins != j->ins_inl)
        free(j->ins);
    if (j->outs != j->outs_inl)
        free(j->outs);
    if (PDI_UNLIKELY(j->err != NULL))   /* a call each saved per task */
        free(j->err);
    if (PDI_UNLIKELY(j->detail != NULL))
        free(j->detail);
    if (PDI_UNLIKELY(j->notes != NULL))
        notes_free(j);
    j->ins = NULL;
    j->outs = NULL;
    j->err = NULL;
    j->detail = NULL;
    j->nin = j->nout = 0;
}

int pdi_job_is_canceled(const pydron_job *j)
{
    /* read by executor threads without the graph lock */
    return __atomic_load_n(&j->g->canceled, __ATOMIC_RELAXED);
}

/* Task ti cannot run because input i (root r) is failed or lost: fail it. */
static int input_unusable(pydron_graph *g, uint32_t ti, const pdi_value *r, uint16_t i)
{
    if (r->state == PYDRON_VALUE_FAILED) {
        pdi_task_failed(g, ti, r->u.err, PYDRON_TASK_FAILED, NULL);
        return PYDRON_ETASK;
    }
    /* read through an alias whose bytes were lost with a worker */
    pdi_error *e = pdi_error_new(pdi_tid(g, ti), PYDRON_ETASK,
                                 pdi_asprintf("input %u was lost with its worker", i), NULL, 0);
    pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, NULL);
    if (e)
        pdi_error_unref(e);
    return PYDRON_ETASK;
}

/* The root of value vi (aliases hold no bytes): its record, and its index. */
static inline pdi_value *input_root(pydron_graph *g, uint32_t *vi)
{
    pdi_value *r = pdi_V(g, *vi);
    while (PDI_UNLIKELY(r->vf & VF_ALIAS)) {
        *vi = r->u.cin[0];
        r = pdi_V(g, *vi);
    }
    return r;
}

/* The arrays of a job with more than PDI_JOB_INLINE inputs or outputs could
 * not be allocated: a failed input still wins (as without the allocation). */
static int prepare_oom(pydron_graph *g, pydron_job *j, uint32_t ti, pdi_jin *jin,
                       pdi_tout *jout)
{
    if (jin != j->ins_inl)
        free(jin);
    if (jout != j->outs_inl)
        free(jout);
    j->ins = NULL;
    j->outs = NULL;
    j->nin = j->nout = 0;
    pdi_task *t = pdi_T(g, ti);
    uint32_t *ins = pdi_task_ins(t);
    for (uint16_t i = 0; i < t->nin; i++) {
        uint32_t vi = ins[i];
        pdi_value *r = input_root(g, &vi);
        if (r->state != PYDRON_VALUE_READY)
            return input_unusable(g, ti, r, i);
    }
    pdi_error *e = pdi_error_new(pdi_tid(g, ti), PYDRON_ETASK, pdi_strdup("out of memory"), NULL, 0);
    pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, NULL);
    if (e)
        pdi_error_unref(e);
    return PYDRON_ENOMEM;
}

/* Fill j for task ti. If an input has failed meanwhile (a value lost with
 * its worker), the task fails here and PYDRON_ETASK is returned. */
void pdi_job_fill(pydron_graph *g, pydron_job *j, uint32_t ti, int32_t worker)
{
    pdi_task *t = pdi_T(g, ti);
    j->g = g;
    j->task = pdi_gid(g, t->gen, ti);
    j->kind = g->kt->kinds[t->kind];
    j->attempt = t->attempt;
    j->worker = worker;
    j->canceled = 0;
    j->on_driver = 0;
    j->ins_local = 1;
    j->outs_preset = 0;
    j->payload = NULL;
    j->payload_len = 0;
    j->nin = j->nout = 0;
    j->ins = j->ins_inl;
    j->outs = j->outs_inl;
    j->err = NULL;
    j->detail = NULL;
    j->detail_len = 0;
    j->start_ns = j->end_ns = 0;
    j->group = NULL;
    t->state = PYDRON_TASK_RUNNING;
    if (worker >= 0)
        pdi_S(g)->inflight++;
}

int pdi_job_prepare(pydron_graph *g, pydron_job *j, uint32_t ti, int32_t worker)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_task *t = pdi_T(g, ti);
    uint32_t *ins = pdi_task_ins(t);
    uint16_t nin = t->nin, nout = t->nout;
    pdi_jin *jin = nin <= PDI_JOB_INLINE ? j->ins_inl : malloc(nin * sizeof *jin);
    /* inline outputs of a job not in use are unset, where -1 (pdi_job_get,
     * pdi_job_clear) */
    pdi_tout *jout = j->outs_inl;
    if (PDI_UNLIKELY(nout > PDI_JOB_INLINE) && (jout = malloc(nout * sizeof *jout)))
        outs_reset(jout, nout);
    if (PDI_UNLIKELY(!jin || !jout))
        return prepare_oom(g, j, ti, jin, jout);
    int local = 1;
    /* one pass over the inputs: check each, fill it in */
    for (uint16_t i = 0; i < nin; i++) {
        uint32_t vi = ins[i];
        pdi_value *r = input_root(g, &vi);
        if (PDI_UNLIKELY(r->state != PYDRON_VALUE_READY)) {
            int rc = input_unusable(g, ti, r, i);
            if (jin != j->ins_inl)
                free(jin);
            if (jout != j->outs_inl)
                free(jout);
            return rc;
        }
        pdi_jin *in = &jin[i];
        /* the id the bytes are stored under is that of the root */
        in->value = pdi_gid(g, r->gen, vi);
        in->size = r->len;
        in->where = (r->vf & VF_REMOTE) ? r->where : -1;
        in->buf.data = pdi_value_has_bytes(r) ? pdi_value_data(r) : NULL;
        in->buf.len = in->buf.data ? (size_t)r->len : 0;
        local &= in->buf.data != NULL || r->len == 0;
    }
    /* executors that can fetch keep values elsewhere than the driver:
     * in-process ones (no fetch) move nothing */
    if (worker >= 0 && sg->rt->xops && sg->rt->xops->fetch) {
        for (uint16_t i = 0; i < nin; i++) {
            pdi_jin *in = &jin[i];
            if (in->where == worker)
                continue;
            /* the input must travel to the worker (stats, trace) */
            if (in->where < 0)
                g->stats.bytes_to_workers += in->size;
            else
                g->stats.bytes_between_workers += in->size;
            if (PDI_UNLIKELY(pdi_tracing()))
                pdi_trace_input_moved(in->value, in->size, in->where, worker);
        }
    }
    pdi_job_fill(g, j, ti, worker);
    j->ins_local = local;
    j->payload = t->payload_len ? pdi_task_payload(t) : NULL;
    j->payload_len = t->payload_len;
    j->nin = nin;
    j->nout = nout;
    j->ins = jin;
    j->outs = jout;
    return 0;
}

/* Jobs that left a worker, counted off its in-flight count at once: one
 * atomic per run of completions of one worker instead of one per job (a
 * locked instruction is a good part of a tiny task's time). */
typedef struct wdec {
    int32_t w;
    unsigned n;
} wdec;

static inline void wdec_flush(pydron_runtime *rt, wdec *d)
{
    if (d->n)
        atomic_fetch_sub(&rt->inflight[d->w], d->n);
    d->n = 0;
}

static inline void wdec_add(pydron_runtime *rt, wdec *d, int32_t w)
{
    if (w < 0)
        return;
    if (d->n && d->w != w)
        wdec_flush(rt, d);
    d->w = w;
    d->n++;
}

void pdi_task_run_failed(pydron_graph *g, uint32_t ti, uint64_t tid, int rc, char **err,
                         void **detail, size_t detail_len, const pdi_run *run)
{
    int canceled = rc == PYDRON_ECANCELED && g->canceled;
    char *m;
    if (canceled)
        m = pdi_strdup("the graph was canceled");
    else if (*err)
        m = *err, *err = NULL;
    else
        m = pdi_asprintf("the executor reported %s (%d)", pydron_strerror(rc), rc);
    void *d = *detail;
    *detail = NULL;
    pdi_error *e = pdi_error_new(tid, canceled ? PYDRON_ECANCELED : PYDRON_ETASK, m, d, detail_len);
    pdi_task_failed(g, ti, e, canceled ? PYDRON_TASK_CANCELED : PYDRON_TASK_FAILED, run);
    if (e)
        pdi_error_unref(e);
}

/* Complete one job without acting on what it changed (the caller drains:
 * once per batch of completions). Its worker's in-flight count goes down
 * now, or through *dec (NULL: now) before the caller dispatches. */
static void job_complete_dec(pydron_graph *g, pydron_job *j, int rc, wdec *dec)
{
    pdi_sgraph *sg = pdi_S(g);
    uint32_t ti = pdi_id_idx(j->task);
    pdi_task *t = pdi_T(g, ti);
    if (sg->inflight)
        sg->inflight--;
    if (dec)
        wdec_add(sg->rt, dec, j->worker);
    else if (j->worker >= 0)
        atomic_fetch_sub(&sg->rt->inflight[j->worker], 1);
    if (PDI_UNLIKELY(j->group != NULL)) {
        /* an executor that loses workers or runs elsewhere never gets one */
        pdi_group_complete(g, j, rc, rc == PYDRON_EIO && !g->canceled);
        pdi_job_clear(j);
        pdi_job_put(g, j);
        g->events++;
        return;
    }
    if (rc == 0) {
        for (size_t i = 0; i < j->nout; i++) {
            if (!j->outs[i].out.set && j->outs[i].where < 0) {
                rc = PYDRON_ETASK;
                free(j->err);
                j->err = pdi_asprintf("the executor reported success but output %zu was not set", i);
                break;
            }
        }
    }
    g->now_hint = j->end_ns;   /* saves a clock read per newly ready task */
    /* an executor that runs jobs on the driver thread (inline) reports -1,
     * as a SYNC task does: the worker index was only its slot */
    pdi_run run = {j->on_driver ? -1 : j->worker, j->worker >= 0, j->start_ns, j->end_ns, j->outs, 0};
    if (rc == 0) {
        if (PDI_UNLIKELY(j->notes != NULL))
            notes_keep(g, j, t);
        pdi_task_succeeded(g, ti, &run);
    } else if (rc == PYDRON_EIO && !g->canceled) {
        t->attempt++;
        g->stats.tasks_retried++;
        if (t->attempt > sg->rt->opts.max_retries) {
            /* only runs that started are charged (executors send jobs that
             * never ran elsewhere, uncharged): this task was running each
             * time a worker died, so it is the likely cause and fails alone,
             * as Dask's KilledWorker */
            char *m = pdi_asprintf("task %#llx ('%s') lost its worker %u times (max_retries=%u): "
                                   "it was running each time, so it is failed as the likely "
                                   "cause; last time: %s",
                                   (unsigned long long)j->task, pdi_task_name(g, t),
                                   (unsigned)t->attempt, sg->rt->opts.max_retries,
                                   j->err ? j->err : "the executor reported the worker lost");
            pdi_error *e = pdi_error_new(j->task, PYDRON_ETASK, m, NULL, 0);
            pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, &run);
            if (e)
                pdi_error_unref(e);
        } else {
            pdi_task_requeue(g, ti);   /* its inputs may be pending again */
        }
    } else {
        pdi_task_run_failed(g, ti, j->task, rc, &j->err, &j->detail, j->detail_len, &run);
    }
    g->now_hint = 0;
    pdi_job_clear(j);
    pdi_job_put(g, j);
    g->events++;
}

static void job_complete(pydron_graph *g, pydron_job *j, int rc)
{
    job_complete_dec(g, j, rc, NULL);
}

/* The job did not run: back to the scheduler, uncharged, to be prepared
 * again with its inputs' current places (pydron_job_requeue). */
static void job_requeue(pydron_graph *g, pydron_job *j)
{
    pdi_sgraph *sg = pdi_S(g);
    uint32_t ti = pdi_id_idx(j->task);
    pdi_task *t = pdi_T(g, ti);
    if (g->canceled) {
        job_complete(g, j, PYDRON_ECANCELED);
        return;
    }
    if (PDI_UNLIKELY(j->group != NULL)) {   /* its tasks, uncharged */
        job_complete(g, j, PYDRON_EIO);
        return;
    }
    if (t->requeues >= PDI_MAX_REQUEUES) {
        /* it keeps coming back (an input nobody can reach, a worker that
         * takes jobs and drops them): from now on each return is a run */
        if (!j->err)
            j->err = pdi_asprintf("the executor returned it unrun %u times",
                                  (unsigned)t->requeues);
        job_complete(g, j, PYDRON_EIO);
        return;
    }
    t->requeues++;
    /* one that reached a worker and came back with a reason (an input it
     * could not fetch or map) is run again: counted, though not charged;
     * one that never started (its worker lost, parked, taken back) is not */
    if (j->err)
        g->stats.tasks_retried++;
    if (sg->inflight)
        sg->inflight--;
    if (j->worker >= 0)
        atomic_fetch_sub(&sg->rt->inflight[j->worker], 1);
    pdi_job_clear(j);
    pdi_job_put(g, j);
    pdi_task_requeue(g, ti);   /* its inputs may be pending again */
    g->events++;
}

/* After a batch of completions: act on the changes, wake who cares. */
static void jobs_completed(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_sched_drain(g);
    if (sg->waiters > (unsigned)sg->drv_waiting)
        pthread_cond_broadcast(&sg->cv);   /* e.g. pydron_graph_free waiting for inflight */
}

void pdi_job_complete_locked(pydron_graph *g, pydron_job *j, int rc)
{
    job_complete(g, j, rc);
    jobs_completed(g);
}

/* ---------------------------------------------------------------- public */

PYDRON_API pydron_task pydron_job_task(const pydron_job *j)
{
    return j ? (pydron_task){j->task} : PYDRON_TASK_NONE;
}
PYDRON_API const char *pydron_job_kind_name(const pydron_job *j) { return j ? j->kind->name : ""; }
PYDRON_API unsigned pydron_job_attempt(const pydron_job *j) { return j ? j->attempt : 0; }
PYDRON_API size_t pydron_job_ninputs(const pydron_job *j) { return j ? j->nin : 0; }
PYDRON_API size_t pydron_job_noutputs(const pydron_job *j) { return j ? j->nout : 0; }

PYDRON_API int pydron_job_payload(const pydron_job *j, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!j || !data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_job_payload: NULL argument");
    *data = j->payload;
    *len = j->payload_len;
    return 0;
}

PYDRON_API int pydron_job_input(const pydron_job *j, size_t i, pydron_value *v, size_t *size,
                                int32_t *where, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "pydron_job_input: NULL job");
    if (i >= j->nin)
        return pdi_err(PYDRON_EINVAL, "pydron_job_input: input %zu out of range (%zu)", i, j->nin);
    const pdi_jin *in = &j->ins[i];
    if (v)
        v->id = in->value;
    if (size)
        *size = (size_t)in->size;
    if (where)
        *where = in->where;
    if (data)
        *data = in->buf.data;
    if (len)
        *len = in->buf.len;
    return 0;
}

PYDRON_API int pydron_job_canceled(const pydron_job *j) { return j ? pdi_job_is_canceled(j) : 0; }

PYDRON_API int pydron_job_output_value(const pydron_job *j, size_t i, pydron_value *out)
{
    pdi_err_clear();
    if (!j || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_job_output_value: NULL argument");
    if (i >= j->nout)
        return pdi_err(PYDRON_EINVAL, "output %zu out of range (%zu)", i, j->nout);
    pydron_graph *g = j->g;
    /* output value ids do not change while the job runs; read under lock */
    pthread_mutex_lock(&pdi_S(g)->mu);
    pdi_task *t = pdi_T(g, pdi_id_idx(j->task));
    out->id = pdi_job_out_id(g, j->task, pdi_task_outs(t)[i]);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return 0;
}

/* pydron_job_run_local after its pdi_err_clear: starts at *now_ns; with
 * read, the clock is read at the end (*now_ns = the end), else the job's
 * end is left at its start for its timer to set */
static int run_local(pydron_job *j, uint64_t *now_ns, int read, size_t *tasks);

PYDRON_API int pydron_job_run_local(pydron_job *j)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "pydron_job_run_local: NULL job");
    uint64_t now = pdi_now_ns();
    size_t tasks = 0;
    return run_local(j, &now, 1, &tasks);
}

void pdi_jtimer_init(pdi_jtimer *t, uint64_t now)
{
    t->from = now;
    t->every = 1;
    t->n = 0;
    t->kind = NULL;
    t->tasks = 0;
}

void pdi_jtimer_restart(pdi_jtimer *t, uint64_t now)
{
    (void)pdi_jtimer_flush(t);
    t->from = now;
    t->tasks = 0;
}

uint64_t pdi_jtimer_flush(pdi_jtimer *t)
{
    unsigned n = t->n;
    if (!n)
        return t->from;
    uint64_t now = pdi_now_ns(), span = now - t->from, share = span / n;
    for (unsigned i = 0; i < n; i++) {
        t->run[i]->start_ns = t->from + i * share;
        t->run[i]->end_ns = t->from + (i + 1) * share;
    }
    t->run[n - 1]->end_ns = now;
    if (span >= (uint64_t)n * PDI_JT_TINY_NS)
        t->every = 1;   /* not tiny (any more): one read per job */
    t->from = now;
    t->n = 0;
    return now;
}

int pdi_job_run_timed(pydron_job *j, pdi_jtimer *t)
{
    pdi_err_clear();
    if (pdi_job_is_canceled(j))
        return PYDRON_ECANCELED;
    if (t->every == 1 || t->kind != j->kind || PDI_UNLIKELY(pdi_tracing())) {
        /* timed alone; a tiny one starts a run of its kind */
        (void)pdi_jtimer_flush(t);
        uint64_t start = t->from;
        int rc = run_local(j, &t->from, 1, &t->tasks);
        t->kind = j->kind;
        t->every = rc == 0 && t->from - start < PDI_JT_TINY_NS ? PDI_JT_RUN : 1;
        return rc;
    }
    uint64_t start = t->from;
    int rc = run_local(j, &start, 0, &t->tasks);
    t->run[t->n++] = j;
    if (PDI_UNLIKELY(rc != 0)) {
        (void)pdi_jtimer_flush(t);
        t->every = 1;
    } else if (t->n == t->every) {
        (void)pdi_jtimer_flush(t);
    }
    return rc;
}

static int run_local(pydron_job *j, uint64_t *now_ns, int read, size_t *tasks)
{
    j->start_ns = *now_ns;
    if (PDI_UNLIKELY(j->group != NULL)) {   /* each task is timed on its own */
        size_t ran = 0;
        *now_ns = j->end_ns = pdi_group_run(j, &ran);
        *tasks += ran;
        (void)read;
        return 0;
    }
    ++*tasks;
    for (size_t i = 0; PDI_UNLIKELY(!j->ins_local) && i < j->nin; i++) {
        if (!j->ins[i].buf.data && j->ins[i].size) {
            free(j->err);
            j->err = pdi_asprintf("input %zu is not available in this process", i);
            *now_ns = j->end_ns = pdi_now_ns();
            return PYDRON_ETASK;
        }
    }
    /* the body writes the job's outputs in place (no copy in or out): they
     * start unset (pdi_job_prepare), unless the executor set one already */
    if (PDI_UNLIKELY(j->outs_preset)) {
        for (size_t i = 0; i < j->nout; i++) {
            pdi_out_release(&j->outs[i].out);
            j->outs[i].where = -1;
        }
        j->outs_preset = 0;
    }
    pdi_kind *k = j->kind;
    pydron_task_ctx ctx;
    pdi_ctx_init_view(&ctx, k->name ? k->name : "", j->attempt, j->payload, j->payload_len,
                      &j->ins[0].buf, sizeof(pdi_jin), j->nin, &j->outs[0].out,
                      sizeof(pdi_tout), j->nout);
    pdi_tls_state *tls = &pdi_tls;   /* one TLS lookup */
    pydron_graph *prev = tls->cb_graph;
    j->on_driver = tls->driver == j->g;
    tls->cb_graph = j->g;
    int serial = (k->flags & PYDRON_KIND_SERIAL) != 0;
    if (PDI_UNLIKELY(serial))
        pthread_mutex_lock(&k->serial);
    int rc;
    if (PDI_LIKELY(k->runner == &pdi_c_runner_ops)) {
        /* a C kind: its function, without the runner's indirection */
        const pdi_c_runner *r = k->runner_self;
        rc = pdi_ctx_finish_fast(&ctx, r->fn(&ctx, r->user));
    } else {
        rc = pdi_ctx_run(&ctx, k->runner, k->runner_self);
    }
    if (PDI_UNLIKELY(serial))
        pthread_mutex_unlock(&k->serial);
    tls->cb_graph = prev;
    if (PDI_UNLIKELY(rc != 0)) {
        /* pdi_ctx_finish released the outputs */
        free(j->err);
        free(j->detail);
        pdi_ctx_error_take(&ctx, &j->err, &j->detail, &j->detail_len);
        if (!k->runner && j->err) {
            free(j->err);
            j->err = pdi_asprintf("kind '%s' has no runner in this process", k->name);
        }
        pdi_ctx_cleanup(&ctx);
    }
    if (read)
        *now_ns = pdi_now_ns();
    j->end_ns = *now_ns;
    return rc;
}

PYDRON_API int pydron_job_set_output_remote(pydron_job *j, size_t i, int32_t where, size_t size)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "NULL job");
    if (i >= j->nout)
        return pdi_err(PYDRON_EINVAL, "output %zu out of range (%zu)", i, j->nout);
    if (where < 0 || where > 32767)
        return pdi_err(PYDRON_EINVAL, "worker %d out of range", (int)where);
    pdi_out_release(&j->outs[i].out);
    j->outs[i].where = where;
    j->outs[i].size = size;
    j->outs_preset = 1;
    return 0;
}

PYDRON_API int pydron_job_set_output_note(pydron_job *j, size_t i, const void *data, size_t len)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_output_note: NULL job");
    if (i >= j->nout)
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_output_note: output %zu out of range (%zu)",
                       i, j->nout);
    if (len && !data)
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_output_note: NULL data");
    if (len > PYDRON_NOTE_MAX)
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_output_note: %zu bytes, more than "
                       "PYDRON_NOTE_MAX (%u)", len, (unsigned)PYDRON_NOTE_MAX);
    if (j->outs[i].where < 0)
        return pdi_err(PYDRON_ESTATE, "pydron_job_set_output_note: output %zu is not remote "
                       "(pydron_job_set_output_remote first)", i);
    void *copy = NULL;
    if (len && !(copy = pdi_memdup(data, len)))
        return pdi_err(PYDRON_ENOMEM, "out of memory for a note of %zu bytes", len);
    if (!j->notes && !(j->notes = calloc(j->nout, sizeof *j->notes))) {
        free(copy);
        return pdi_err(PYDRON_ENOMEM, "out of memory for notes");
    }
    free(j->notes[i].data);
    j->notes[i].data = copy;
    j->notes[i].len = len;
    return 0;
}

PYDRON_API int pydron_job_set_output_bytes(pydron_job *j, size_t i, const void *data, size_t len,
                                           void (*free_fn)(void *), void *free_arg)
{
    pdi_err_clear();
    if (!j || i >= j->nout || (len && !data)) {
        if (free_fn)
            free_fn(free_arg);
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_output_bytes: bad job, output or data");
    }
    pdi_out *o = &j->outs[i].out;
    pdi_out_release(o);
    o->data = data;
    o->len = len;
    o->free_fn = free_fn;
    o->free_arg = free_arg;
    o->set = 1;
    j->outs[i].where = -1;
    j->outs_preset = 1;
    return 0;
}

PYDRON_API int pydron_job_set_error(pydron_job *j, const char *message, const void *detail,
                                    size_t detail_len)
{
    pdi_err_clear();
    if (!j || (detail_len && !detail))
        return pdi_err(PYDRON_EINVAL, "pydron_job_set_error: NULL argument");
    char *m = pdi_strdup(message ? message : "task failed");
    void *d = detail_len ? pdi_memdup(detail, detail_len) : NULL;
    if (!m || (detail_len && !d)) {
        free(m);
        free(d);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    free(j->err);
    free(j->detail);
    j->err = m;
    j->detail = d;
    j->detail_len = detail_len;
    return 0;
}

PYDRON_API int pydron_job_set_times(pydron_job *j, uint64_t start_ns, uint64_t end_ns)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "NULL job");
    j->start_ns = start_ns;
    j->end_ns = end_ns;
    return 0;
}

PYDRON_API void pydron_job_done(pydron_job *j, int rc)
{
    if (!j)
        return;
    pydron_graph *g = j->g;
    pthread_mutex_lock(&pdi_S(g)->mu);
    pdi_job_complete_locked(g, j, rc);
    if (!g->canceled)
        pdi_dispatch(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
}

PYDRON_API void pydron_job_requeue(pydron_job *j)
{
    if (!j)
        return;
    pydron_graph *g = j->g;
    pthread_mutex_lock(&pdi_S(g)->mu);
    job_requeue(g, j);
    jobs_completed(g);
    if (!g->canceled)
        pdi_dispatch(g);
    pthread_mutex_unlock(&pdi_S(g)->mu);
}

PYDRON_API int pydron_job_moved(pydron_job *j, unsigned worker)
{
    pdi_err_clear();
    if (!j)
        return pdi_err(PYDRON_EINVAL, "pydron_job_moved: NULL job");
    pydron_graph *g = j->g;
    pdi_sgraph *sg = pdi_S(g);
    if (worker >= sg->rt->nworkers)
        return pdi_err(PYDRON_EINVAL, "pydron_job_moved: no worker %u", worker);
    pthread_mutex_lock(&sg->mu);
    /* a job on the driver thread (-1) was never counted against a worker */
    if (j->worker >= 0 && (unsigned)j->worker != worker) {
        atomic_fetch_sub(&sg->rt->inflight[j->worker], 1);
        atomic_fetch_add(&sg->rt->inflight[worker], 1);
        j->worker = (int32_t)worker;
    }
    pthread_mutex_unlock(&sg->mu);
    return 0;
}

/* Batched completions: one graph lock, one drain and one dispatch for each
 * run of consecutive jobs of the same graph, instead of one per job (the
 * per-task cost of tiny tasks is mostly this bookkeeping). */
PYDRON_API void pydron_jobs_done(pydron_job *const *jobs, const int *rcs, size_t n)
{
    if (!jobs || !rcs)
        return;
    size_t i = 0;
    while (i < n) {
        if (!jobs[i]) {
            i++;
            continue;
        }
        /* a job not yet done keeps its graph alive (graph_free waits for it) */
        pydron_graph *g = jobs[i]->g;
        pthread_mutex_lock(&pdi_S(g)->mu);
        wdec dec = {0, 0};
        for (; i < n && (!jobs[i] || jobs[i]->g == g); i++)
            if (jobs[i])
                job_complete_dec(g, jobs[i], rcs[i], &dec);
        wdec_flush(pdi_S(g)->rt, &dec);
        jobs_completed(g);
        if (!g->canceled)
            pdi_dispatch(g);
        pthread_mutex_unlock(&pdi_S(g)->mu);
    }
}
