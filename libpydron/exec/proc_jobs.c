/* proc_jobs.c - the map from sequence number to job (every job handed to a
 * worker and not yet back) and what happens to those jobs when a worker is
 * lost. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <limits.h>

#include "exec/proc.h"
#include "util/util.h"

/* ------------------------------------------------------------- jobs map */

static size_t jslot(const pdi_proc *p, uint64_t seq) { return (size_t)(seq * 0x9E3779B97F4A7C15ULL >> 40) & (p->njb - 1); }

void pdi_proc_job_put(pdi_proc *p, jobent *e)
{
    size_t k = jslot(p, e->seq);
    e->next = p->jb[k];
    p->jb[k] = e;
    p->w[e->worker].njobs++;
}

jobent *pdi_proc_job_take(pdi_proc *p, uint64_t seq, unsigned worker)
{
    for (jobent **pp = &p->jb[jslot(p, seq)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->seq == seq && (*pp)->worker == worker) {
            jobent *e = *pp;
            *pp = e->next;
            p->w[worker].njobs--;
            return e;
        }
    }
    return NULL;
}

/* All jobs of one worker (or all when worker == UINT_MAX), unlinked. */
jobent *pdi_proc_jobs_take_worker(pdi_proc *p, unsigned worker)
{
    jobent *out = NULL;
    for (size_t k = 0; k < p->njb; k++) {
        for (jobent **pp = &p->jb[k]; *pp;) {
            jobent *e = *pp;
            if (worker == UINT_MAX || e->worker == worker) {
                *pp = e->next;
                p->w[e->worker].njobs--;
                e->next = out;
                out = e;
            } else {
                pp = &e->next;
            }
        }
    }
    return out;
}

static int cmp_seq(const void *a, const void *b)
{
    const jobent *x = *(jobent *const *)a, *y = *(jobent *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}


/* How worker wi ended, for the log and the error of the task it ran: a
 * local worker's exit status (waited for briefly: its connection drops a
 * moment before the process is gone), what a remote worker's supervisor
 * reported (end, "" if nothing), else what the connection said. */
static void describe_loss(pdi_proc *p, unsigned wi, const char *why, const char *end, char *out,
                          size_t n)
{
    char st[64];
    int known = 0, status = 0;
    if (p->launcher == &pdi_launcher_spawn) {
        for (int tries = 0; tries < 100 && !known; tries++) {
            pthread_mutex_lock(&p->lock);
            if (wi < p->nlaunched && p->launched[wi] > 0)
                pdi_proc_reap_locked(p, wi);
            known = p->w[wi].exit_known;
            status = p->w[wi].exit_status;
            int running = wi < p->nlaunched && p->launched[wi] > 0;
            pthread_mutex_unlock(&p->lock);
            if (!running)
                break;
            if (!known)
                usleep(5000);
        }
    }
    if (known)
        snprintf(out, n, "%s", pdi_proc_describe_status(status, st, sizeof st));
    else if (end && *end)
        snprintf(out, n, "%s", end);
    else
        snprintf(out, n, "lost its connection (%s)", why);
}

/* ------------------------------------------ jobs held for a supervisor */

/* The jobs a lost supervised worker may have been running, until its
 * replacement says how it ended or HELD_MS pass. */
typedef struct pdi_held {
    unsigned wi;
    int32_t pid;
    char host[64];
    char why[120];
    uint64_t due_ns;
    pydron_job **jobs;
    size_t n;
    struct pdi_held *next;
} pdi_held;

/* Lock not held: the jobs of h go back as lost runs, with how the worker
 * ended (NULL: not known). Frees h. */
static void held_finish(pdi_held *h, const char *how)
{
    char what[400];
    if (how)
        snprintf(what, sizeof what, "worker %u (pid %d on %s) %s while running it", h->wi,
                 (int)h->pid, h->host[0] ? h->host : "?", how);
    else
        snprintf(what, sizeof what,
                 "worker %u (pid %d on %s) lost its connection (%s) while running it; no "
                 "replacement from its supervisor said how it ended within %u s",
                 h->wi, (int)h->pid, h->host[0] ? h->host : "?", h->why, HELD_MS / 1000);
    for (size_t i = 0; i < h->n; i++) {
        pydron_job_set_error(h->jobs[i], what, NULL, 0);
        pydron_job_done(h->jobs[i], PYDRON_EIO);
    }
    free(h->jobs);
    free(h);
}

void pdi_proc_predecessor_ended(pdi_proc *p, const char *host, int32_t pid, const char *how)
{
    if (pid <= 0 || !how || !*how)
        return;
    pthread_mutex_lock(&p->lock);
    pdi_held *found = NULL;
    for (pdi_held **pp = &p->held; *pp; pp = &(*pp)->next) {
        if ((*pp)->pid == pid && strcmp((*pp)->host, host) == 0) {
            found = *pp;
            *pp = found->next;
            break;
        }
    }
    if (!found) {
        /* the replacement was faster than the loss of the old connection
         * (or the old one went silent without closing): say so when it is
         * seen, and see it now */
        for (unsigned i = 0; i < p->nw; i++) {
            pworker *w = &p->w[i];
            if (w->alive && w->pid == pid && strcmp(w->host, host) == 0) {
                snprintf(w->end, sizeof w->end, "%s", how);
                pdi_conn_close(w->c); /* its reader reports the loss */
                break;
            }
        }
    }
    int stopping = p->stopping;
    pthread_mutex_unlock(&p->lock);
    if (found) {
        pdi_log(WHO, "worker %u (pid %d on %s) %s (its supervisor started a replacement)",
                found->wi, (int)pid, host, how);
        if (stopping) {
            for (size_t i = 0; i < found->n; i++)
                pydron_job_done(found->jobs[i], PYDRON_ECANCELED);
            free(found->jobs);
            free(found);
        } else {
            held_finish(found, how);
        }
    }
}

void pdi_proc_flush_held_locked(pdi_proc *p, uint64_t now, int all)
{
    pdi_held *due = NULL;
    for (pdi_held **pp = &p->held; *pp;) {
        pdi_held *h = *pp;
        if (all || h->due_ns <= now) {
            *pp = h->next;
            h->next = due;
            due = h;
        } else {
            pp = &h->next;
        }
    }
    if (!due)
        return;
    pthread_mutex_unlock(&p->lock);
    while (due) {
        pdi_held *h = due;
        due = h->next;
        if (all) {
            for (size_t i = 0; i < h->n; i++)
                pydron_job_done(h->jobs[i], PYDRON_ECANCELED);
            free(h->jobs);
            free(h);
        } else {
            held_finish(h, NULL);
        }
    }
    pthread_mutex_lock(&p->lock);
}

void pdi_proc_worker_gone(pdi_proc *p, unsigned wi, unsigned gen, const char *why)
{
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    if (!w->alive || w->gen != gen) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    w->alive = 0;
    /* copied now: a replacement may take the slot as soon as we unlock */
    int32_t pid = (int32_t)w->pid;
    char host[sizeof w->host], end[sizeof w->end];
    snprintf(host, sizeof host, "%s", w->host);
    snprintf(end, sizeof end, "%s", w->end);
    w->end[0] = 0;
    int hold = w->supervised && !end[0] && p->launcher != &pdi_launcher_spawn;
    int any_alive = 0;
    for (unsigned i = 0; i < p->nw; i++)
        any_alive |= p->w[i].alive;
    if (!any_alive && p->none_alive_since == 0)
        p->none_alive_since = pdi_now_ns(); /* parked jobs wait from now */
    pdi_conn *gone_c = w->c; /* the slot may get a new connection soon */
    int stopping = p->stopping;
    jobent *jobs = pdi_proc_jobs_take_worker(p, wi);
    fetchent *fl = NULL;
    for (fetchent **pp = &p->fetches; *pp;) {
        fetchent *e = *pp;
        if (e->worker == wi) {
            *pp = e->next;
            e->next = fl;
            fl = e;
        } else {
            pp = &e->next;
        }
    }
    w->nrel = 0;
    w->nrcl = 0;
    w->rtt_ns = w->dur_ns = 0;
    w->window = 0;
    pthread_mutex_unlock(&p->lock);
    pdi_conn_close(gone_c);
    /* First the core: no more work for this slot, and values only this
     * worker had are recomputed (or failed), so that the jobs returned
     * below are prepared again with inputs that are pending again instead
     * of being sent off to fetch them from a dead peer. */
    if (!stopping)
        pydron_exec_worker_lost(p->host, wi);
    char how[160], what[400];
    describe_loss(p, wi, why, end, how, sizeof how);
    if (!stopping)
        pdi_log(WHO, "worker %u lost: %s%s", wi, how,
                hold ? "; waiting for its supervisor to say how it ended" : "");
    snprintf(what, sizeof what, "worker %u (pid %d on %s) %s while running it", wi, (int)pid,
             host[0] ? host : "?", how);
    /* The worker runs its queue in order on `threads` threads: only the
     * oldest unfinished jobs can have been running. They come back as lost
     * (an attempt is charged); the others never started and go back to the
     * core uncharged (pydron_job_requeue), so that one crashing task does
     * not use up the retries of the innocent tasks queued behind it, and
     * so that the core sends them where its workers are now. */
    size_t n = 0;
    for (jobent *e = jobs; e; e = e->next)
        n++;
    jobent **arr = n ? calloc(n, sizeof *arr) : NULL;
    if (arr) {
        size_t k = 0;
        for (jobent *e = jobs; e; e = e->next)
            arr[k++] = e;
        qsort(arr, n, sizeof *arr, cmp_seq);
    }
    unsigned charged = w->threads ? w->threads : 1;
    pdi_held *held = NULL;
    if (hold && !stopping && n && (held = calloc(1, sizeof *held)) != NULL &&
        (held->jobs = calloc(n, sizeof *held->jobs)) == NULL) {
        free(held);
        held = NULL;
    }
    if (held) {
        held->wi = wi;
        held->pid = pid;
        snprintf(held->host, sizeof held->host, "%s", host);
        snprintf(held->why, sizeof held->why, "%s", why);
        held->due_ns = pdi_now_ns() + (uint64_t)HELD_MS * 1000000ull;
    }
    for (size_t k = 0; k < n; k++) {
        jobent *e = arr ? arr[k] : jobs;
        if (!arr)
            jobs = jobs->next;
        if (stopping) {
            pydron_job_done(e->job, PYDRON_ECANCELED);
        } else if (arr && k >= charged) {
            pydron_job_requeue(e->job);
        } else if (held) {
            held->jobs[held->n++] = e->job; /* until its supervisor reports */
        } else {
            pydron_job_set_error(e->job, what, NULL, 0); /* named if it was the last loss */
            pydron_job_done(e->job, PYDRON_EIO);
        }
        free(e);
    }
    free(arr);
    if (held && held->n) {
        pthread_mutex_lock(&p->lock);
        int late = p->stopping; /* stop has taken the list already */
        if (!late) {
            held->next = p->held;
            p->held = held;
        }
        pthread_mutex_unlock(&p->lock);
        if (late) {
            for (size_t i = 0; i < held->n; i++)
                pydron_job_done(held->jobs[i], PYDRON_ECANCELED);
            free(held->jobs);
            free(held);
        }
    } else if (held) {
        free(held->jobs);
        free(held);
    }
    while (fl) {
        fetchent *e = fl;
        fl = e->next;
        pydron_exec_fetched(p->host, (pydron_value){e->value}, PYDRON_EIO, NULL, 0, NULL, NULL);
        free(e);
    }
    if (!stopping) {
        pdi_proc_send_peer_update(p, wi, (int32_t)wi, "");
        pthread_mutex_lock(&p->lock);
        if (p->launcher->lost) {
            /* from the long-lived service thread: PR_SET_PDEATHSIG follows
             * the spawning thread, and this reader thread ends now */
            p->w[wi].need_respawn = 1;
        }
        p->later_now = 1; /* jobs held back for an unreachable input: their
                             source may be this worker, now known lost */
        pthread_cond_broadcast(&p->cond);
        pthread_mutex_unlock(&p->lock);
        pydron_exec_wake(p->host);
    }
}


static int cmp_worker_seq(const void *a, const void *b)
{
    const jobent *x = *(jobent *const *)a, *y = *(jobent *const *)b;
    if (x->worker != y->worker)
        return x->worker < y->worker ? -1 : 1;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Jobs of a canceled graph come back now, as ECANCELED: those parked, and
 * those queued on a worker behind the `threads` oldest ones (which may be
 * running: they finish normally). The workers are told to drop the
 * recalled ones (a Recall frame, sent by the service thread: recall must
 * not block); if one already ran, its completion is ignored and its
 * outputs released (proc_reader.c). */
void pdi_proc_recall(void *self)
{
    pdi_proc *p = self;
    pydron_job **back = NULL;
    size_t nback = 0, capback = 0;
    pthread_mutex_lock(&p->lock);
    if (!p->started || p->stopping) {
        pthread_mutex_unlock(&p->lock); /* stop returns everything anyway */
        return;
    }
    size_t keep = 0;
    for (size_t i = 0; i < p->nparked; i++) {
        pydron_job *j = p->parked[i];
        if (pydron_job_canceled(j) && pdi_grow((void **)&back, &capback, nback + 1, sizeof *back) == 0)
            back[nback++] = j;
        else
            p->parked[keep++] = j;
    }
    p->nparked = keep;
    /* jobs waiting to run in this process (run_unknown_kinds_in_driver) */
    for (size_t k = 0, len = pdi_ring_len(&p->lq); k < len; k++) {
        pydron_job *j = NULL;
        (void)pdi_ring_pop(&p->lq, &j, sizeof j);
        if (pydron_job_canceled(j) && pdi_grow((void **)&back, &capback, nback + 1, sizeof *back) == 0)
            back[nback++] = j;
        else
            (void)pdi_ring_push(&p->lq, &j, sizeof j);
    }
    size_t n = 0;
    for (size_t k = 0; k < p->njb; k++)
        for (jobent *e = p->jb[k]; e; e = e->next)
            n++;
    jobent **all = n ? malloc(n * sizeof *all) : NULL;
    if (all) {
        size_t m = 0;
        for (size_t k = 0; k < p->njb; k++)
            for (jobent *e = p->jb[k]; e; e = e->next)
                all[m++] = e;
        qsort(all, n, sizeof *all, cmp_worker_seq);
        unsigned cur = UINT_MAX, pos = 0;
        for (size_t i = 0; i < n; i++) {
            jobent *e = all[i];
            if (e->worker != cur) {
                cur = e->worker;
                pos = 0;
            }
            pworker *w = &p->w[cur];
            unsigned running = w->threads ? w->threads : 1;
            if (pos++ < running || !w->alive || !pydron_job_canceled(e->job))
                continue;
            if (pdi_grow((void **)&back, &capback, nback + 1, sizeof *back) != 0 ||
                pdi_grow((void **)&w->rcl, &w->caprcl, w->nrcl + 1, sizeof *w->rcl) != 0)
                continue;
            (void)pdi_proc_job_take(p, e->seq, cur);
            w->rcl[w->nrcl++] = e->seq;
            back[nback++] = e->job;
            free(e);
        }
        free(all);
    }
    if (nback)
        pthread_cond_broadcast(&p->cond); /* the service thread sends the recalls */
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < nback; i++)
        pydron_job_done(back[i], PYDRON_ECANCELED);
    free(back);
}
