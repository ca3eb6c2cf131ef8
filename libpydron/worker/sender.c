/* sender.c - the sender thread of a worker: completions queued by the
 * task threads go to the driver in batches (whatever finished while the
 * previous frame was written), heartbeats when idle, and a driver silent
 * for too long counts as lost. */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "runner/ctx.h"
#include "store/store.h"
#include "util/util.h"
#include "wire/shmref.h"
#include "wire/wire.h"
#include "worker/worker.h"

void pdi_wk_done_push(worker *w, done_item *d)
{
    pthread_mutex_lock(&w->olock);
    if (w->otail)
        w->otail->next = d;
    else
        w->ohead = d;
    w->otail = d;
    w->pushed++;
    pthread_cond_signal(&w->ocond);
    pthread_mutex_unlock(&w->olock);
}

/* Wait until every completion queued so far has been written. */
void pdi_wk_flush_completions(worker *w)
{
    pthread_mutex_lock(&w->olock);
    uint64_t target = w->pushed;
    pthread_cond_signal(&w->ocond);
    while (w->sent < target && !w->ostop && !atomic_load(&w->lost))
        pthread_cond_wait(&w->sentcond, &w->olock);
    pthread_mutex_unlock(&w->olock);
}

void pdi_wk_done_free(done_item *d)
{
    if (d->outs)
        for (size_t i = 0; i < d->nout; i++)
            pdi_out_release(&d->outs[i]);
    free(d->outs);
    if (d->notes) {
        for (size_t i = 0; i < d->nout; i++)
            free((void *)d->notes[i].data);
        free(d->notes);
    }
    free(d->ids);
    free(d->sizes);
    free(d->error);
    free(d->detail);
    free(d);
}

static int send_completions(worker *w, done_item *list)
{
    size_t n = 0, nseg = 0, nouts = 0;
    for (done_item *d = list; d; d = d->next) {
        n++;
        nouts += d->nout;
        nseg += d->nout + (d->detail_len ? 1 : 0);
    }
    Pydron__Completion *cs = calloc(n, sizeof *cs);
    Pydron__Completion **cps = calloc(n, sizeof *cps);
    Pydron__Output *os = calloc(nouts ? nouts : 1, sizeof *os);
    Pydron__Output **ops = calloc(nouts ? nouts : 1, sizeof *ops);
    pdi_seg *segs = calloc(nseg ? nseg : 1, sizeof *segs);
    int rc = PYDRON_ENOMEM;
    if (!cs || !cps || !os || !ops || !segs)
        goto out;
    size_t k = 0, ko = 0, ks = 0;
    for (done_item *d = list; d; d = d->next, k++) {
        Pydron__Completion *c = &cs[k];
        pydron__completion__init(c);
        cps[k] = c;
        c->task_id = d->task_id;
        c->seq = d->seq;
        c->status = d->status;
        c->start_ns = d->start_ns;
        c->end_ns = d->end_ns;
        c->fetch_start_ns = d->fetch_start_ns;
        c->fetch_end_ns = d->fetch_end_ns;
        c->detail_segment = -1;
        c->shm_failed = d->shm_failed != 0;
        if (d->status != 0) {
            c->error = d->error ? d->error : (char *)"";
            if (d->detail_len) {
                c->detail_segment = (int32_t)ks;
                segs[ks].data = d->detail;
                segs[ks++].len = d->detail_len;
            }
            continue;
        }
        c->outputs = &ops[ko];
        c->n_outputs = d->nout;
        for (size_t i = 0; i < d->nout; i++, ko++) {
            Pydron__Output *o = &os[ko];
            pydron__output__init(o);
            ops[ko] = o;
            o->value_id = d->ids[i];
            o->size = d->sizes[i];
            if (d->outs[i].set) {
                o->where = -1;
                o->segment = (int32_t)ks;
                segs[ks].data = pdi_out_data(&d->outs[i]);
                segs[ks++].len = d->outs[i].len;
            } else {
                o->where = w->id;
                o->segment = -1;
                if (d->notes && d->notes[i].len) {
                    o->note_segment = (int32_t)ks + 1;
                    segs[ks].data = d->notes[i].data;
                    segs[ks++].len = d->notes[i].len;
                }
            }
        }
    }
    Pydron__CompletionBatch b = PYDRON__COMPLETION_BATCH__INIT;
    b.done = cps;
    b.n_done = n;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_COMPLETIONS;
    f.completions = &b;
    rc = pdi_conn_send(w->drv, &f, segs, ks);
out:
    free(cs);
    free(cps);
    free(os);
    free(ops);
    free(segs);
    while (list) {
        done_item *nx = list->next;
        pdi_wk_done_free(list);
        list = nx;
    }
    return rc;
}

int pdi_wk_fetch_push(worker *w, const Pydron__Fetch *f)
{
    fetch_item *fi = calloc(1, sizeof *fi);
    if (!fi)
        return pdi_err(PYDRON_ENOMEM, "out of memory for a fetch");
    pydron__fetch__init(&fi->f);
    fi->f.request_id = f->request_id;
    fi->f.value_id = f->value_id;
    fi->f.no_shm = f->no_shm;
    pthread_mutex_lock(&w->olock);
    if (w->ftail)
        w->ftail->next = fi;
    else
        w->fhead = fi;
    w->ftail = fi;
    pthread_cond_signal(&w->ocond);
    pthread_mutex_unlock(&w->olock);
    return 0;
}

void *pdi_wk_sender_thread(void *arg)
{
    worker *w = arg;
    uint64_t last_send = pdi_now_ns(), hb_seq = 0;
    uint64_t hb_ns = (uint64_t)w->hb_ms * 1000000ull;
    /* silence from the driver for this long means it is gone */
    uint64_t dead_ns = hb_ns * 10 < 3000000000ull ? 3000000000ull : hb_ns * 10;
    for (;;) {
        pthread_mutex_lock(&w->olock);
        while (!w->ohead && !w->fhead && !w->ostop) {
            struct timespec ts = pdi_abstime_after(CLOCK_REALTIME, hb_ns ? hb_ns / 2 : 500000000ull);
            if (pthread_cond_timedwait(&w->ocond, &w->olock, &ts) == ETIMEDOUT)
                break;
        }
        done_item *list = w->ohead;
        w->ohead = w->otail = NULL;
        fetch_item *fl = w->fhead;
        w->fhead = w->ftail = NULL;
        int stop = w->ostop;
        uint64_t batch = 0;
        for (done_item *d = list; d; d = d->next)
            batch++;
        pthread_mutex_unlock(&w->olock);
        if (list) {
            if (send_completions(w, list) != 0 && !atomic_load(&w->lost)) {
                pdi_log(WHO, "cannot send completions: %s", pydron_error_last());
                atomic_store(&w->lost, 1);
                pdi_conn_close(w->drv);
            }
            last_send = pdi_now_ns();
            pthread_mutex_lock(&w->olock);
            w->sent += batch;
            pthread_cond_broadcast(&w->sentcond);
            pthread_mutex_unlock(&w->olock);
        }
        /* after the completions: the driver asks only for values it knows */
        while (fl) {
            fetch_item *fi = fl;
            fl = fi->next;
            if (!atomic_load(&w->lost) && pdi_wk_serve_fetch(w, w->drv, &fi->f, w->shm_drv) != 0 &&
                !atomic_load(&w->lost)) {
                pdi_log(WHO, "cannot answer a fetch: %s", pydron_error_last());
                atomic_store(&w->lost, 1);
                pdi_conn_close(w->drv);
            }
            last_send = pdi_now_ns();
            free(fi);
        }
        if (stop)
            break;
        uint64_t now = pdi_now_ns();
        if (hb_ns && now - last_send >= hb_ns) {
            Pydron__Heartbeat h = PYDRON__HEARTBEAT__INIT;
            h.seq = ++hb_seq;
            h.time_ns = now;
            Pydron__Frame f = PYDRON__FRAME__INIT;
            f.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
            f.heartbeat = &h;
            (void)pdi_conn_send(w->drv, &f, NULL, 0);
            last_send = now;
        }
        /* the reader thread may have stamped last_recv after `now` was read:
         * without the ordering check the difference wraps and a busy worker
         * gave up on a live driver */
        uint64_t lr = atomic_load(&w->last_recv_ns);
        if (hb_ns && now > lr && now - lr > dead_ns && !atomic_load(&w->lost)) {
            pdi_log(WHO, "worker %d: no word from the driver for %llu ms, giving up", w->id,
                    (unsigned long long)((now - lr) / 1000000ull));
            atomic_store(&w->lost, 1);
            pdi_conn_close(w->drv);
        }
    }
    return NULL;
}
