/* proc_submit.c - handing jobs to workers (one frame per batch, written on
 * the caller's thread), fetch and release; jobs of kinds no worker runs. */
#include <limits.h>
#include <time.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/ring.h"
#include "util/util.h"

static void *local_thread(void *arg)
{
    pdi_proc *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!pdi_ring_len(&p->lq) && !p->stopping)
            pthread_cond_wait(&p->lcond, &p->lock);
        pydron_job *j;
        if (!pdi_ring_pop(&p->lq, &j, sizeof j))
            break; /* stopping and drained */
        int stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        pydron_job_done(j, stopping ? PYDRON_ECANCELED : pydron_job_run_local(j));
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

/* lock held */
static int local_push(pdi_proc *p, pydron_job *j)
{
    if (!p->lt) {
        p->lt = calloc(p->nw, sizeof *p->lt);
        for (unsigned i = 0; p->lt && i < p->nw; i++)
            if (pthread_create(&p->lt[i], NULL, local_thread, p) == 0)
                p->nlt++;
        if (p->nlt == 0)
            return PYDRON_ENOMEM;
    }
    if (pdi_ring_push(&p->lq, &j, sizeof j) != 0)
        return PYDRON_ENOMEM;
    pthread_cond_signal(&p->lcond);
    return 0;
}

int pdi_proc_worker_runs(const pworker *w, const char *kind)
{
    for (size_t i = 0; i < w->nkinds; i++)
        if (strcmp(w->kinds[i], kind) == 0)
            return 1;
    return 0;
}

/* Jobs the worker cannot run: fail them with a message that says what to
 * do, or (run_unknown_kinds_in_driver) run them in-process when their
 * inputs are here. Returns how
 * many of jobs[] were kept for the worker (compacted to the front). */
static size_t divert_unrunnable(pdi_proc *p, unsigned wi, pydron_job **jobs, size_t n)
{
    size_t keep = 0;
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    for (size_t i = 0; i < n; i++) {
        pydron_job *j = jobs[i];
        const char *kind = pydron_job_kind_name(j);
        if (!w->alive || pdi_proc_worker_runs(w, kind)) {
            jobs[keep++] = j;
            continue;
        }
        int local = p->unknown_in_driver;
        for (size_t x = 0; x < pydron_job_ninputs(j) && local; x++) {
            pydron_value v;
            size_t size, len;
            int32_t where;
            const void *d;
            pydron_job_input(j, x, &v, &size, &where, &d, &len);
            local = where < 0;
        }
        if (local && local_push(p, j) == 0) {
            if (!p->warned_divert) {
                p->warned_divert = 1;
                pdi_log(WHO, "warning: kind '%s' has no runner in worker %u: running it in the "
                             "driver process (run_unknown_kinds_in_driver)", kind, wi);
            }
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        char *m = p->unknown_in_driver
                      ? pdi_asprintf("kind '%s' has no runner in the worker processes and its "
                                     "inputs are not in the driver; use pydron.ffi or a worker "
                                     "runner", kind)
                      : pdi_asprintf("kind '%s' has no runner in the worker processes (a "
                                     "function of the driver program?); use pydron.ffi, give "
                                     "the workers a runner for it, or set "
                                     "pydron_process_options.run_unknown_kinds_in_driver",
                                     kind);
        pydron_job_set_error(j, m ? m : "no runner for this kind in the workers", NULL, 0);
        free(m);
        pydron_job_done(j, PYDRON_ETASK);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return keep;
}

/* The worker to send to: wi if alive, else another live one (the core may
 * pick a worker whose loss it has not processed yet). UINT_MAX: none is
 * alive, so the jobs wait (parked) for one to join or come back: they never
 * ran, so they must not be charged an attempt. */
static unsigned route(pdi_proc *p, unsigned wi)
{
    pthread_mutex_lock(&p->lock);
    if (!p->w[wi].alive && !p->stopping) {
        /* the least loaded one, not always the next: a lost worker's share
         * must not pile up on one survivor */
        unsigned alt = UINT_MAX;
        for (unsigned k = 1; k <= p->nw; k++) {
            unsigned x = (wi + k) % p->nw;
            if (p->w[x].alive && (alt == UINT_MAX || p->w[x].njobs < p->w[alt].njobs))
                alt = x;
        }
        wi = alt;
    }
    pthread_mutex_unlock(&p->lock);
    return wi;
}

/* Lock held: the message for jobs that waited in vain, or NULL while they
 * may still wait. */
static char *capacity_gone_locked(pdi_proc *p, uint64_t now)
{
    if (p->none_alive_since == 0)
        return NULL;
    uint64_t waited = now > p->none_alive_since ? now - p->none_alive_since : 0;
    if (p->launcher_gave_up && p->gave_up_why[0])
        return pdi_asprintf("no %s worker is left and none will be started again (%s): worker "
                            "capacity is gone",
                            p->launcher->name, p->gave_up_why);
    if (p->launcher_gave_up)
        return pdi_asprintf("no %s worker is left and none will be started again (workers "
                            "kept dying; see the log): worker capacity is gone",
                            p->launcher->name);
    if (waited < (uint64_t)p->worker_wait_ms * 1000000ull)
        return NULL;
    return pdi_asprintf("no %s worker has been alive for %.1f s (worker_wait_ms=%u, "
                        "PYDRON_WORKER_WAIT_MS): worker capacity is gone; start or restart "
                        "workers (e.g. python -m pydron.worker --restart)",
                        p->launcher->name, (double)waited / 1e9, p->worker_wait_ms);
}

static void fail_jobs(pydron_job *const *jobs, size_t n, const char *msg)
{
    for (size_t i = 0; i < n; i++) {
        pydron_job_set_error(jobs[i], msg ? msg : "worker capacity is gone", NULL, 0);
        pydron_job_done(jobs[i], PYDRON_ETASK);
    }
}

/* Keep jobs until a worker is back (the service thread hands them on):
 * submit must not wait for one. Past the deadline they fail at once. */
static int park(pdi_proc *p, pydron_job *const *jobs, size_t n)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < n; i++)
            pydron_job_done(jobs[i], PYDRON_ECANCELED);
        return 0;
    }
    if (p->none_alive_since == 0)
        p->none_alive_since = pdi_now_ns(); /* not one has joined since start */
    char *gone = capacity_gone_locked(p, pdi_now_ns());
    int rc = gone ? 0
                  : pdi_grow((void **)&p->parked, &p->capparked, p->nparked + n,
                             sizeof *p->parked);
    if (!gone && rc == 0) {
        memcpy(p->parked + p->nparked, jobs, n * sizeof *jobs);
        p->nparked += n;
        pthread_cond_broadcast(&p->cond);
    }
    pthread_mutex_unlock(&p->lock);
    if (gone) {
        fail_jobs(jobs, n, gone);
        free(gone);
    }
    return rc ? pdi_err(PYDRON_ENOMEM, "out of memory") : 0;
}

void pdi_proc_unpark_locked(pdi_proc *p, uint64_t now)
{
    if (!p->nparked)
        return;
    unsigned alive = UINT_MAX;
    for (unsigned i = 0; i < p->nw && alive == UINT_MAX; i++)
        if (p->w[i].alive)
            alive = i;
    char *gone = NULL;
    if (alive == UINT_MAX && !p->stopping && !(gone = capacity_gone_locked(p, now)))
        return;
    pydron_job **jobs = p->parked;
    size_t n = p->nparked;
    p->parked = NULL;
    p->nparked = p->capparked = 0;
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    if (stopping) {
        for (size_t i = 0; i < n; i++)
            pydron_job_done(jobs[i], PYDRON_ECANCELED);
    } else if (alive != UINT_MAX) {
        /* back to the core, uncharged: it spreads them over the workers
         * that are up now (not all on the first to come back) and prepares
         * them again (their inputs may have been lost meanwhile) */
        for (size_t i = 0; i < n; i++)
            pydron_job_requeue(jobs[i]);
    } else {
        pdi_log(WHO, "%s", gone);
        fail_jobs(jobs, n, gone);
    }
    free(gone);
    free(jobs);
    pthread_mutex_lock(&p->lock);
}

/* Driver constants that workers keep (Input.keep): a driver-held input seen
 * before (by any worker) is one that many tasks read (the task's function,
 * the program's code bundle): the next frame to each worker carries it once
 * with keep set, later frames name it by id with where == that worker. The
 * keeps of a frame count only once it is queued, after frames that came
 * before, so no frame can name a value ahead of the frame that carries it. */
typedef struct keepset {
    uint64_t id[PDI_KEEP_MAX];
    uint64_t bytes;
    unsigned n;
} keepset;

/* lock held: worker w (of generation gen) keeps id, or will once the frame
 * being built (ks) is read */
static int kept_locked(pworker *w, const keepset *ks, uint64_t id)
{
    if (w->keep_gen != w->gen) { /* a new worker in the slot keeps nothing */
        w->keep_gen = w->gen;
        w->nkeep = 0;
        w->keep_bytes = 0;
    }
    for (unsigned i = 0; i < w->nkeep; i++)
        if (w->keep_ids[i] == id)
            return 1;
    for (unsigned i = 0; i < ks->n; i++)
        if (ks->id[i] == id)
            return 1;
    return 0;
}

/* lock held: how input id (len bytes on the driver) goes to worker w:
 * 1 named (kept there), 2 inline and kept from now on, 0 inline */
static int keep_decide(pdi_proc *p, pworker *w, keepset *ks, uint64_t id, size_t len)
{
    if (len == 0)
        return 0;
    if (kept_locked(w, ks, id))
        return 1;
    uint64_t *slot = &p->seen[id % PDI_SEEN_SLOTS];
    if (*slot != id) {
        *slot = id;
        return 0;
    }
    if (len > PDI_KEEP_ONE || w->nkeep + ks->n >= PDI_KEEP_MAX ||
        w->keep_bytes + ks->bytes + len > PDI_KEEP_BYTES)
        return 0;
    ks->id[ks->n++] = id;
    ks->bytes += len;
    return 2;
}

int pdi_proc_submit(void *self, pydron_job *const *jobs_in, size_t n, unsigned wi)
{
    pdi_proc *p = self;
    if (wi >= p->nw)
        return pdi_err(PYDRON_EINVAL, "no worker %u", wi);
    pydron_job *stackj[64];
    pydron_job **jobs = n <= 64 ? stackj : malloc(n * sizeof *jobs);
    if (!jobs)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    memcpy(jobs, jobs_in, n * sizeof *jobs);
    wi = route(p, wi);
    if (wi == UINT_MAX) {
        int prc = park(p, jobs, n);
        if (jobs != stackj)
            free(jobs);
        return prc;
    }
    n = divert_unrunnable(p, wi, jobs, n);
    if (n == 0) {
        if (jobs != stackj)
            free(jobs);
        return 0;
    }
    size_t nin = 0, nout = 0;
    for (size_t i = 0; i < n; i++) {
        nin += pydron_job_ninputs(jobs[i]);
        nout += pydron_job_noutputs(jobs[i]);
    }
    Pydron__Task *ts = calloc(n ? n : 1, sizeof *ts);
    Pydron__Task **tps = calloc(n ? n : 1, sizeof *tps);
    Pydron__Input *is = calloc(nin ? nin : 1, sizeof *is);
    Pydron__Input **ips = calloc(nin ? nin : 1, sizeof *ips);
    Pydron__ShmRef *refs = calloc(nin ? nin : 1, sizeof *refs);
    uint64_t *outs = calloc(nout ? nout : 1, sizeof *outs);
    pdi_seg *segs = calloc(n + nin + 1, sizeof *segs);
    jobent **ents = NULL;
    int rc = 0;
    if (!ts || !tps || !is || !ips || !outs || !segs || !refs) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory for a task batch");
        goto out;
    }
    size_t ks = 0, ki = 0, ko = 0;
    pthread_mutex_lock(&p->lock);
    uint64_t seq0 = p->next_seq;
    p->next_seq += n;
    int shm = p->w[wi].shm;
    unsigned gen0 = p->w[wi].gen;
    pthread_mutex_unlock(&p->lock);
    keepset keep = {.n = 0};
    size_t named = 0; /* inputs named as kept by the worker */
    for (size_t i = 0; i < n; i++) {
        pydron_job *j = jobs[i];
        Pydron__Task *t = &ts[i];
        pydron__task__init(t);
        tps[i] = t;
        t->task_id = pydron_job_task(j).id;
        t->seq = seq0 + i + 1;
        t->kind = (char *)pydron_job_kind_name(j);
        t->attempt = pydron_job_attempt(j);
        t->flush_before = t->attempt > 0; /* a retry: it may be the one that kills workers */
        const void *pl;
        size_t plen;
        t->payload_segment = -1;
        if (pydron_job_payload(j, &pl, &plen) == 0 && plen) {
            t->payload_segment = (int32_t)ks;
            segs[ks].data = pl;
            segs[ks++].len = plen;
        }
        size_t ni = pydron_job_ninputs(j);
        t->inputs = &ips[ki];
        t->n_inputs = ni;
        for (size_t x = 0; x < ni; x++, ki++) {
            Pydron__Input *in = &is[ki];
            pydron__input__init(in);
            ips[ki] = in;
            pydron_value v;
            size_t size, len = 0;
            int32_t where;
            const void *data = NULL;
            pydron_job_input(j, x, &v, &size, &where, &data, &len);
            in->value_id = v.id;
            in->size = size;
            in->where = where;
            in->segment = -1;
            pdi_shm_ref ref;
            if (where < 0 && shm && pdi_shm_ref_of(data, len, &ref)) {
                /* the worker maps our copy: no bytes on the socket */
                pdi_shm_ref_to_pb(&ref, &refs[ki]);
                in->shm = &refs[ki];
                pdi_shm_note_sent();
            } else if (where < 0) {
                pthread_mutex_lock(&p->lock);
                int k = keep_decide(p, &p->w[wi], &keep, v.id, len);
                pthread_mutex_unlock(&p->lock);
                if (k == 1) {
                    in->where = (int32_t)wi;
                    named++;
                } else {
                    in->keep = k == 2;
                    in->segment = (int32_t)ks;
                    segs[ks].data = data;
                    segs[ks++].len = len;
                }
            }
        }
        size_t no = pydron_job_noutputs(j);
        t->outputs = &outs[ko];
        t->n_outputs = no;
        for (size_t x = 0; x < no; x++) {
            pydron_value v = PYDRON_VALUE_NONE;
            pydron_job_output_value(j, x, &v);
            outs[ko++] = v.id;
        }
    }
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = tps;
    b.n_tasks = n;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;

    /* encoded here, written by the worker's sender thread: submit must not
     * block on a worker that does not read (and a reader thread calling
     * submit through pydron_job_done must never wait for its own worker) */
    uint8_t *buf = NULL;
    size_t blen = 0;
    ents = calloc(n ? n : 1, sizeof *ents);
    for (size_t i = 0; ents && i < n; i++) {
        if (!(ents[i] = malloc(sizeof **ents))) {
            for (size_t x = 0; x < i; x++)
                free(ents[x]);
            free(ents);
            ents = NULL;
        }
    }
    if (!ents || pdi_wire_encode(&f, segs, ks, &buf, &blen) != 0) {
        for (size_t i = 0; ents && i < n; i++)
            free(ents[i]);
        rc = pdi_err(PYDRON_ENOMEM, "out of memory for a task batch");
        goto out;
    }
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    /* another worker took the slot while we encoded: it keeps nothing */
    if (!w->alive || p->stopping || (w->gen != gen0 && (named || keep.n))) {
        int stopping = p->stopping;
        pthread_mutex_unlock(&p->lock);
        free(buf);
        for (size_t i = 0; i < n; i++)
            free(ents[i]);
        if (stopping) {
            for (size_t i = 0; i < n; i++)
                pydron_job_done(jobs[i], PYDRON_ECANCELED);
        } else {
            /* lost while we encoded: none of these ran, so they go to
             * another worker (or wait for one) without being charged */
            rc = pdi_proc_submit(p, jobs, n, wi);
            if (rc < 0)
                fail_jobs(jobs, n, pydron_error_last());
            rc = 0;
        }
        goto out;
    }
    /* registered before the frame can leave: the reply can beat us back;
     * a loss from here on returns them through pdi_proc_worker_gone */
    uint64_t now = pdi_now_ns();
    if (!w->njobs)
        w->progress_ns = now; /* idle until now: not stuck */
    for (size_t i = 0; i < n; i++) {
        ents[i]->seq = seq0 + i + 1;
        ents[i]->job = jobs[i];
        ents[i]->worker = wi;
        ents[i]->first = w->njobs < (w->threads ? w->threads : 1);
        ents[i]->sent_ns = now;
        pdi_proc_job_put(p, ents[i]);
    }
    pdi_proc_enqueue_locked(p, wi, buf, blen);
    if (keep.n && w->keep_gen == w->gen) {
        keepset none = {.n = 0};
        for (unsigned i = 0; i < keep.n && w->nkeep < PDI_KEEP_MAX; i++)
            if (!kept_locked(w, &none, keep.id[i])) /* another submit kept it too */
                w->keep_ids[w->nkeep++] = keep.id[i];
        w->keep_bytes += keep.bytes;
    }
    pthread_mutex_unlock(&p->lock);
out:
    free(ts);
    free(tps);
    free(is);
    free(ips);
    free(refs);
    free(outs);
    free(segs);
    free(ents);
    if (jobs != stackj)
        free(jobs);
    return rc;
}

int pdi_proc_fetch(void *self, pydron_value v, unsigned wi)
{
    pdi_proc *p = self;
    if (wi >= p->nw)
        return pdi_err(PYDRON_EINVAL, "no worker %u", wi);
    fetchent *e = malloc(sizeof *e);
    if (!e)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    e->value = v.id;
    e->worker = wi;
    pthread_mutex_lock(&p->lock);
    if (!p->w[wi].alive) {
        pthread_mutex_unlock(&p->lock);
        free(e);
        return pdi_err(PYDRON_EIO, "worker %u holding value %llu is gone", wi,
                       (unsigned long long)v.id);
    }
    e->no_shm = !p->w[wi].shm; /* shared memory only from a worker on this host */
    e->next = p->fetches;
    p->fetches = e;
    pdi_proc_send_fetch_locked(p, wi, v.id, e->no_shm);
    pthread_mutex_unlock(&p->lock);
    return 0;
}

void pdi_proc_release(void *self, pydron_value v, unsigned wi)
{
    /* called with the graph lock held: never write here; the service
     * thread sends the batch (at once when it is large) */
    pdi_proc *p = self;
    if (wi >= p->nw)
        return;
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    if (w->alive && pdi_grow((void **)&w->rel, &w->caprel, w->nrel + 1, sizeof *w->rel) == 0)
        w->rel[w->nrel++] = v.id;
    if (w->nrel >= 4096)
        pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
}


void pdi_proc_later_locked(pdi_proc *p, pydron_job *j, uint64_t delay_ns)
{
    if (pdi_grow((void **)&p->later, &p->caplater, p->nlater + 1, sizeof *p->later) != 0) {
        /* no memory to hold it back: back now */
        pthread_mutex_unlock(&p->lock);
        pydron_job_requeue(j);
        pthread_mutex_lock(&p->lock);
        return;
    }
    p->later[p->nlater].job = j;
    p->later[p->nlater++].due_ns = pdi_now_ns() + delay_ns;
}

void pdi_proc_flush_later_locked(pdi_proc *p, int all)
{
    if (!p->nlater)
        return;
    uint64_t now = pdi_now_ns();
    pydron_job *stackj[64];
    size_t n = 0, keep = 0;
    for (size_t i = 0; i < p->nlater; i++) {
        if ((all || p->later[i].due_ns <= now) && n < 64)
            stackj[n++] = p->later[i].job;
        else
            p->later[keep++] = p->later[i];
    }
    p->nlater = keep;
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < n; i++) {
        if (stopping)
            pydron_job_done(stackj[i], PYDRON_ECANCELED);
        else
            pydron_job_requeue(stackj[i]);
    }
    pthread_mutex_lock(&p->lock);
}
