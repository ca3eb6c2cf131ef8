/* proc_reader.c - one reader thread per worker: completions become
 * pydron_job_done, fetch replies pydron_exec_fetched; a closed connection
 * or a bad frame is the worker's loss. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/trace.h"
#include "util/util.h"

/* ---------------------------------------------------------------- reader */

static void free_seg(void *x) { free(x); }

/* The worker took inputs from other workers before it ran the job: a span
 * on its track (sizes and sources from the job's inputs). */
static void trace_fetch(pydron_job *j, unsigned wi, const Pydron__Completion *c)
{
    uint64_t bytes = 0;
    unsigned n = 0;
    int32_t from = -1;
    for (size_t i = 0, nin = pydron_job_ninputs(j); i < nin; i++) {
        size_t size = 0;
        int32_t where = -1;
        if (pydron_job_input(j, i, NULL, &size, &where, NULL, NULL) != 0 || where < 0 ||
            (unsigned)where == wi)
            continue;
        bytes += size;
        n++;
        from = from == -1 || from == where ? where : -2;
    }
    if (n)
        pdi_trace_worker_fetch((int32_t)wi, from, n, bytes, c->fetch_start_ns, c->fetch_end_ns,
                               c->start_ns, c->end_ns);
}

static int on_completions(pdi_proc *p, unsigned wi, pdi_frame *in)
{
    Pydron__CompletionBatch *b = in->hdr->completions;
    uint64_t now = pdi_now_ns();
    for (size_t k = 0; k < b->n_done; k++) {
        Pydron__Completion *c = b->done[k];
        pthread_mutex_lock(&p->lock);
        jobent *e = pdi_proc_job_take(p, c->seq, wi);
        unsigned win = 0;
        p->w[wi].progress_ns = now; /* a thread is free (also after a recalled job) */
        if (e && c->status == 0 && c->end_ns >= c->start_ns && c->start_ns)
            win = pdi_proc_window_sample_locked(p, e, now, c->end_ns - c->start_ns);
        if (e && c->shm_failed) {
            /* it cannot map our memory after all: bytes from now on */
            pdi_debug(WHO, "worker %u cannot map the driver's shared memory: %s", wi, c->error);
            p->w[wi].shm = 0;
        }
        if (e && c->status == PYDRON_EIO) {
            /* an input was unreachable: the job did not run. It goes back
             * to the core uncharged, a moment later (or as soon as a loss
             * is known), to be prepared again with its inputs' places then */
            pdi_debug(WHO, "worker %u: job %llu: %s", wi, (unsigned long long)c->seq, c->error);
            pydron_job_set_error(e->job, c->error && *c->error ? c->error : "an input was "
                                 "unreachable", NULL, 0);
            pdi_proc_later_locked(p, e->job, LATER_NS);
            pthread_mutex_unlock(&p->lock);
            free(e);
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        if (win) {
            pdi_debug(WHO, "worker %u: window %u (round trip %llu us, run %llu us)", wi, win,
                      (unsigned long long)(p->w[wi].rtt_ns / 1000),
                      (unsigned long long)(p->w[wi].dur_ns / 1000));
            (void)pydron_exec_set_window(p->host, wi, win);
        }
        if (!e) {
            /* a recalled job that had started after all: nobody wants its
             * outputs, so the worker forgets the ones it stored */
            pdi_debug(WHO, "worker %u: completion for unknown job %llu ignored", wi,
                      (unsigned long long)c->seq);
            pthread_mutex_lock(&p->lock);
            pworker *w = &p->w[wi];
            for (size_t i = 0; c->status == 0 && w->alive && i < c->n_outputs; i++)
                if (c->outputs[i]->where == (int32_t)wi &&
                    pdi_grow((void **)&w->rel, &w->caprel, w->nrel + 1, sizeof *w->rel) == 0)
                    w->rel[w->nrel++] = c->outputs[i]->value_id;
            pthread_mutex_unlock(&p->lock);
            continue;
        }
        pydron_job *j = e->job;
        free(e);
        int rc = c->status;
        if (rc == 0) {
            size_t nout = pydron_job_noutputs(j);
            if (c->n_outputs != nout) {
                pydron_job_set_error(j, "worker returned the wrong number of outputs", NULL, 0);
                rc = PYDRON_ETASK;
            }
            for (size_t i = 0; rc == 0 && i < nout; i++) {
                Pydron__Output *o = c->outputs[i];
                if (o->where < 0) {
                    const void *d;
                    size_t len;
                    if (pdi_frame_seg(in, o->segment, &d, &len) != 0) {
                        pydron_job_set_error(j, pydron_error_last(), NULL, 0);
                        rc = PYDRON_ETASK;
                        break;
                    }
                    void *own = pdi_frame_take(in, (size_t)o->segment, &len);
                    int src = pydron_job_set_output_bytes(j, i, own, len, own ? free_seg : NULL,
                                                          own);
                    if (src != 0) {
                        pydron_job_set_error(j, pydron_error_last(), NULL, 0);
                        rc = PYDRON_ETASK;
                    }
                } else {
                    pydron_job_set_output_remote(j, i, o->where, (size_t)o->size);
                    const void *d;
                    size_t len;
                    /* a note that is not there, or too large, is dropped: the
                     * value is right without it */
                    if (o->note_segment > 0 &&
                        pdi_frame_seg(in, o->note_segment - 1, &d, &len) == 0)
                        (void)pydron_job_set_output_note(j, i, d, len);
                }
            }
        } else {
            const void *det = NULL;
            size_t dlen = 0;
            if (c->detail_segment >= 0)
                (void)pdi_frame_seg(in, c->detail_segment, &det, &dlen);
            pydron_job_set_error(j, c->error && *c->error ? c->error : pydron_strerror(rc), det,
                                 dlen);
            rc = PYDRON_ETASK;
        }
        pydron_job_set_times(j, c->start_ns, c->end_ns);
        if (PDI_UNLIKELY(pdi_tracing()) && c->fetch_end_ns)
            trace_fetch(j, wi, c);
        pydron_job_done(j, rc);
    }
    pydron_exec_wake(p->host);
    return 0;
}

/* Lock held: queue a fetch request for worker wi (its sender writes it). */
void pdi_proc_send_fetch_locked(pdi_proc *p, unsigned wi, uint64_t value, int no_shm)
{
    Pydron__Fetch fe = PYDRON__FETCH__INIT;
    fe.request_id = value;
    fe.value_id = value;
    fe.no_shm = no_shm != 0;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_FETCH;
    f.fetch = &fe;
    pdi_proc_enqueue_frame_locked(p, wi, &f); /* a failure: loss -> the fetch fails with EIO */
}

static int on_fetch_reply(pdi_proc *p, unsigned wi, pdi_frame *in)
{
    Pydron__FetchReply *r = in->hdr->fetch_reply;
    fetchent *e = NULL;
    pthread_mutex_lock(&p->lock);
    for (fetchent **pp = &p->fetches; *pp; pp = &(*pp)->next) {
        if ((*pp)->value == r->value_id && (*pp)->worker == wi) {
            e = *pp;
            *pp = e->next;
            break;
        }
    }
    pthread_mutex_unlock(&p->lock);
    if (!e)
        return 0;
    pydron_value v = {r->value_id};
    if (r->shm && e->no_shm) {
        /* a reference we did not ask for (a worker of another host, or
         * after asking for bytes): never opened; the worker is dropped and
         * its values are recomputed, so a fetch is not repeated forever */
        pthread_mutex_lock(&p->lock);
        e->next = p->fetches;
        p->fetches = e;
        pthread_mutex_unlock(&p->lock);
        return pdi_err(PYDRON_EPROTO, "worker %u sent a shared memory reference it was not asked for",
                       wi);
    }
    if (r->status == 0 && r->shm) {
        pdi_shm_ref ref;
        void *d;
        pdi_shm_ref_from_pb(r->shm, &ref);
        int mrc = pdi_shm_map(&ref, &d);
        if (mrc == 0) {
            /* our own mapping (and fd): it outlives the worker */
            free(e);
            pydron_exec_fetched(p->host, v, 0, d, (size_t)ref.len, pdi_shm_free, d);
            pydron_exec_wake(p->host);
            return 0;
        }
        pdi_debug(WHO, "worker %u: value %llu by bytes: %s", wi, (unsigned long long)v.id,
                  pydron_error_last());
        /* fall back to the bytes: the fetch stays pending */
        pthread_mutex_lock(&p->lock);
        p->w[wi].shm = 0;
        e->no_shm = 1; /* once: a second reference is refused (above) */
        e->next = p->fetches;
        p->fetches = e;
        pdi_proc_send_fetch_locked(p, wi, v.id, 1);
        pthread_mutex_unlock(&p->lock);
        return 0;
    }
    free(e);
    if (r->status != 0) {
        pdi_err(r->status, "worker %u: %s", wi, r->error);
        pydron_exec_fetched(p->host, v, r->status, NULL, 0, NULL, NULL);
    } else if (r->segment < 0 || (size_t)r->segment >= in->nseg) {
        pydron_exec_fetched(p->host, v, PYDRON_EPROTO, NULL, 0, NULL, NULL);
    } else {
        size_t len;
        void *d = pdi_frame_take(in, (size_t)r->segment, &len);
        pydron_exec_fetched(p->host, v, 0, d, len, d ? free_seg : NULL, d);
    }
    pydron_exec_wake(p->host);
    return 0;
}

void *pdi_proc_reader_thread(void *arg)
{
    rd_arg a = *(rd_arg *)arg;
    free(arg);
    pdi_proc *p = a.p;
    pworker *w = &p->w[a.wi];
    const char *why = "connection closed";
    char buf[512];
    for (;;) {
        pdi_frame in;
        int rc = pdi_conn_recv(a.c, pdi_wire_limits_session(), -1, &in);
        if (atomic_load(&p->abandoned)) {
            /* stop gave up on us and went on: the host may be gone */
            if (rc == 0)
                pdi_frame_free(&in);
            return NULL;
        }
        if (rc) {
            if (rc == PYDRON_EPROTO)
                pdi_log(WHO, "worker %u sent a bad frame, dropping it: %s", a.wi,
                        pydron_error_last());
            snprintf(buf, sizeof buf, "%s", pydron_error_last());
            why = buf;
            break;
        }
        atomic_store(&w->last_recv_ns, pdi_now_ns());
        switch (in.hdr->body_case) {
        case PYDRON__FRAME__BODY_COMPLETIONS:
            rc = on_completions(p, a.wi, &in);
            break;
        case PYDRON__FRAME__BODY_FETCH_REPLY:
            rc = on_fetch_reply(p, a.wi, &in);
            if (rc) {
                snprintf(buf, sizeof buf, "%s", pydron_error_last());
                why = buf;
            }
            break;
        case PYDRON__FRAME__BODY_HEARTBEAT:
            break;
        default:
            pdi_log(WHO, "worker %u sent an unexpected %s frame, dropping it", a.wi,
                    pdi_frame_type_name(in.hdr));
            rc = PYDRON_EPROTO;
            snprintf(buf, sizeof buf, "unexpected %s frame", pdi_frame_type_name(in.hdr));
            why = buf;
        }
        pdi_frame_free(&in);
        if (rc)
            break;
    }
    pdi_proc_worker_gone(p, a.wi, a.gen, why);
    return NULL;
}

