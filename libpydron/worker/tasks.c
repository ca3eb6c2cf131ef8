/* tasks.c - the task threads of a worker: take a task from the queue,
 * gather its inputs (frame segments, shared memory, the store, peers), run
 * it with the runner of its kind, store or inline its outputs and queue the
 * completion for the sender. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "runner/ctx.h"
#include "store/store.h"
#include "util/util.h"
#include "wire/shmref.h"
#include "wire/wire.h"
#include "worker/worker.h"

static const pydron_worker_runner *find_runner(worker *w, const char *kind)
{
    for (size_t i = 0; i < w->nrunners; i++)
        if (strcmp(w->runners[i].kind_name, kind) == 0)
            return &w->runners[i];
    return NULL;
}

void pdi_wk_sf_unref(shared_frame *sf)
{
    if (atomic_fetch_sub(&sf->refs, 1) == 1) {
        pdi_frame_free(&sf->f);
        free(sf);
    }
}

void pdi_wk_fail_item(done_item *d, int status, const char *msg)
{
    d->status = status;
    free(d->error);
    d->error = pdi_strdup(msg);
}

static void out_free(void *p) { free(p); }

/* Output i stays here: its note (pydron_ctx_output_note) goes with the
 * completion. Out of memory: the completion goes without it. */
static void keep_note(done_item *d, pydron_task_ctx *ctx, size_t i)
{
    void *data;
    size_t len;
    pdi_ctx_note_take(ctx, i, &data, &len);
    if (!data)
        return;
    if (!d->notes && !(d->notes = calloc(d->nout, sizeof *d->notes))) {
        free(data);
        return;
    }
    d->notes[i].data = data;
    d->notes[i].len = len;
}

static void run_task(worker *w, task_item *it)
{
    Pydron__Task *t = it->t;
    done_item *d = calloc(1, sizeof *d);
    if (!d) {
        pdi_log(WHO, "out of memory: dropping task %llu", (unsigned long long)t->task_id);
        return;
    }
    d->task_id = t->task_id;
    d->seq = t->seq;
    d->nout = t->n_outputs;
    d->ids = calloc(t->n_outputs ? t->n_outputs : 1, sizeof *d->ids);
    d->sizes = calloc(t->n_outputs ? t->n_outputs : 1, sizeof *d->sizes);
    d->outs = calloc(t->n_outputs ? t->n_outputs : 1, sizeof *d->outs);
    size_t nin = t->n_inputs;
    pdi_buf *in = calloc(nin ? nin : 1, sizeof *in);
    pdi_stored **pins = calloc(nin ? nin : 1, sizeof *pins);
    void **fetched = calloc(nin ? nin : 1, sizeof *fetched);
    if (!d->ids || !d->sizes || !d->outs || !in || !pins || !fetched) {
        pdi_wk_fail_item(d, PYDRON_ENOMEM, "worker out of memory");
        goto out;
    }
    if (t->n_outputs)
        memcpy(d->ids, t->outputs, t->n_outputs * sizeof *d->ids);
    const pydron_worker_runner *r = find_runner(w, t->kind);
    if (!r) {
        char msg[300];
        snprintf(msg, sizeof msg, "worker %d has no runner for kind \"%s\"", w->id, t->kind);
        pdi_wk_fail_item(d, PYDRON_ETASK, msg);
        goto out;
    }
    const void *payload = NULL;
    size_t plen = 0;
    if (t->payload_segment >= 0 && pdi_frame_seg(&it->sf->f, t->payload_segment, &payload, &plen)) {
        pdi_wk_fail_item(d, PYDRON_EPROTO, pydron_error_last());
        goto out;
    }
    for (size_t i = 0; i < nin; i++) {
        Pydron__Input *x = t->inputs[i];
        int rc = 0;
        if (x->where < 0 && x->shm && !w->shm_drv) {
            /* a driver on another host (its Welcome said so) cannot pass us
             * a descriptor: nothing is claimed; the driver sends bytes
             * from now on */
            rc = pdi_err(PYDRON_EIO, "the driver sent a shared memory reference although it is "
                         "on another host");
            d->shm_failed = 1;
        } else if (x->where < 0 && x->shm) {
            /* the driver's bytes in its shared memory: map them */
            pdi_shm_ref ref;
            pdi_shm_ref_from_pb(x->shm, &ref);
            rc = pdi_shm_map(&ref, &fetched[i]);
            in[i].data = fetched[i];
            in[i].len = (size_t)ref.len;
            if (rc == PYDRON_EIO)
                d->shm_failed = 1;
        } else if (x->where < 0) {
            rc = pdi_frame_seg(&it->sf->f, x->segment, &in[i].data, &in[i].len);
        } else if (x->where == w->id) {
            rc = pdi_store_get(w->store, x->value_id, &pins[i], &in[i].data, &in[i].len);
        } else {
            size_t l = 0;
            if (!d->fetch_start_ns)
                d->fetch_start_ns = pdi_now_ns();
            rc = pdi_wk_peer_fetch(w, x->where, x->value_id, &fetched[i], &l);
            d->fetch_end_ns = pdi_now_ns();
            in[i].data = fetched[i];
            in[i].len = l;
        }
        if (rc) {
            /* EIO: the driver sends the job again, uncharged (and
             * recomputes an input lost with its worker). A peer that does
             * not answer its handshake or sends a bad frame is as
             * unreachable as a dead one: only the driver's own frame is
             * wrong (EPROTO) when a segment of it is. */
            char msg[512];
            snprintf(msg, sizeof msg, "input %zu (value %llu on worker %d): %s", i,
                     (unsigned long long)x->value_id, (int)x->where, pydron_error_last());
            int from_peer = x->where >= 0 && x->where != w->id;
            pdi_wk_fail_item(d, rc == PYDRON_EPROTO && !from_peer ? PYDRON_EPROTO : PYDRON_EIO, msg);
            goto out;
        }
    }
    if (t->flush_before)
        pdi_wk_flush_completions(w);
    pydron_task_ctx ctx;
    if (pdi_ctx_init(&ctx, t->kind, t->attempt, payload, plen, in, nin, t->n_outputs) != 0) {
        pdi_wk_fail_item(d, PYDRON_ENOMEM, pydron_error_last());
        goto out;
    }
    d->start_ns = pdi_now_ns();
    int rc = pdi_ctx_run(&ctx, r->ops, r->self);
    d->end_ns = pdi_now_ns();
    if (rc == 0) {
        for (size_t i = 0; i < t->n_outputs && d->status == 0; i++) {
            pdi_out o;
            pdi_ctx_output_move(&ctx, i, &o);
            d->sizes[i] = o.len;
            if (o.len <= w->inline_max) {
                d->outs[i] = o; /* goes back inside the completion frame */
            } else {
                /* values stay where they are made */
                const void *data = pdi_out_data(&o);
                void (*fn)(void *) = o.free_fn;
                void *arg = o.free_arg;
                if (o.is_inline) {
                    void *copy = pdi_memdup(data, o.len);
                    data = copy;
                    fn = out_free;
                    arg = copy;
                }
                int src = pdi_store_put(w->store, t->outputs[i], data, o.len, fn, arg);
                if (src != 0 && src != PYDRON_EEXIST)
                    pdi_wk_fail_item(d, src, "cannot store an output");
                keep_note(d, &ctx, i);
            }
        }
    } else {
        char *msg = NULL;
        d->status = PYDRON_ETASK;
        pdi_ctx_error_take(&ctx, &msg, &d->detail, &d->detail_len);
        d->error = msg ? msg : pdi_strdup("task failed");
    }
    pdi_ctx_cleanup(&ctx);
out:
    for (size_t i = 0; i < nin && pins && fetched; i++) {
        if (pins[i])
            pdi_store_unpin(w->store, pins[i]);
        pdi_shm_free(fetched[i]);
    }
    free(in);
    free(pins);
    free(fetched);
    pdi_wk_done_push(w, d);
}

void pdi_wk_task_loop(worker *w)
{
    for (;;) {
        pthread_mutex_lock(&w->qlock);
        while (!w->qhead && !w->stopping)
            pthread_cond_wait(&w->qcond, &w->qlock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->qlock);
            break;
        }
        task_item *it = w->qhead;
        w->qhead = it->next;
        if (!w->qhead)
            w->qtail = NULL;
        pthread_mutex_unlock(&w->qlock);
        run_task(w, it);
        pdi_wk_sf_unref(it->sf);
        free(it);
    }
    pthread_mutex_lock(&w->qlock);
    w->loops--;
    pthread_cond_broadcast(&w->loopcond);
    pthread_mutex_unlock(&w->qlock);
}

void *pdi_wk_task_thread(void *arg)
{
    pdi_wk_task_loop(arg);
    return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* The driver took these jobs back (their graph was canceled): drop the ones
 * still queued. Running or finished ones are past recalling; the driver
 * ignores their completions (and releases their outputs). */
/* PYDRON_TEST_RECALL_DELAY_MS (tests only): apply a recall this much
 * later, on the reading thread (every frame after it waits too), so that a
 * recalled job can start before its recall is seen: it then runs here and
 * where the driver moved it, and the driver must keep one result. */
static unsigned test_recall_delay_ms(void)
{
    static int ms = -1;
    if (ms < 0) {
        const char *e = getenv("PYDRON_TEST_RECALL_DELAY_MS");
        long v = e ? strtol(e, NULL, 10) : 0;
        ms = v > 0 && v <= 60000 ? (int)v : 0;
    }
    return (unsigned)ms;
}

void pdi_wk_recall(worker *w, const uint64_t *seqs, size_t n)
{
    unsigned delay = test_recall_delay_ms();
    if (delay) {
        struct timespec ts = {(time_t)(delay / 1000), (long)(delay % 1000) * 1000000L};
        while (nanosleep(&ts, &ts) != 0)
            ;
    }
    uint64_t *s = n ? malloc(n * sizeof *s) : NULL;
    if (!s)
        return;
    memcpy(s, seqs, n * sizeof *s);
    qsort(s, n, sizeof *s, cmp_u64);
    task_item *drop = NULL;
    size_t ndrop = 0;
    pthread_mutex_lock(&w->qlock);
    task_item *prev = NULL;
    for (task_item *it = w->qhead; it;) {
        task_item *next = it->next;
        if (bsearch(&it->t->seq, s, n, sizeof *s, cmp_u64)) {
            if (prev)
                prev->next = next;
            else
                w->qhead = next;
            if (w->qtail == it)
                w->qtail = prev;
            it->next = drop;
            drop = it;
            ndrop++;
        } else {
            prev = it;
        }
        it = next;
    }
    pthread_mutex_unlock(&w->qlock);
    while (drop) {
        task_item *it = drop;
        drop = it->next;
        pdi_wk_sf_unref(it->sf);
        free(it);
    }
    free(s);
    pdi_debug(WHO, "worker %d: %zu of %zu recalled jobs dropped", w->id, ndrop, n);
}
