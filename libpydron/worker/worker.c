/* worker.c - the worker loop behind pydron-worker (and the Python worker).
 *
 * Threads of a worker process:
 *  - the calling thread reads frames from the driver: task batches go to the
 *    task queue, fetches are answered from the store, releases applied;
 *  - `threads` task threads run tasks with the runner of their kind;
 *  - a sender thread batches completions into one frame (whatever finished
 *    while the previous frame was being written) and sends heartbeats;
 *  - a peer listener serves other workers' fetches of our values.
 * The worker exits on Shutdown, when the driver connection is lost or
 * silent for too long, and (exit_with_parent) when its parent dies. */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nng/nng.h>

#include "runner/ctx.h"
#include "runner/ffi.h"
#include "store/store.h"
#include "util/util.h"
#include "wire/wire.h"

#define WHO "worker"
#define HANDSHAKE_MS 10000

/* A received task batch, shared by its tasks (segments are their payloads
 * and driver-held inputs). */
typedef struct shared_frame {
    pdi_frame f;
    atomic_int refs;
} shared_frame;

typedef struct task_item {
    struct task_item *next;
    shared_frame *sf;
    Pydron__Task *t;
} task_item;

/* A fetch from the driver, answered by the sender thread (the reader must
 * never wait on a write: see handle_frame). */
typedef struct fetch_item {
    struct fetch_item *next;
    Pydron__Fetch f;
} fetch_item;

typedef struct done_item {
    struct done_item *next;
    uint64_t task_id, seq, start_ns, end_ns;
    int status;
    int shm_failed;     /* an input ShmRef could not be mapped */
    char *error;
    void *detail;
    size_t detail_len;
    size_t nout;
    uint64_t *ids;
    pdi_out *outs;      /* inline outputs (set) or stored ones (not set) */
    uint64_t *sizes;
} done_item;

typedef struct peer {
    int32_t id;
    char *url;
    pdi_conn *c;
    pthread_mutex_t lock; /* one fetch at a time on c */
    struct peer *next;
} peer;

typedef struct peer_srv {
    pdi_conn *c;
    int shm;            /* the fetching peer is on this host */
    struct peer_srv *next;
} peer_srv;

typedef struct worker {
    pydron_worker_options o;
    char *secret;
    size_t secret_len;
    int32_t id;
    unsigned hb_ms;
    uint64_t inline_max;
    int shm_drv;        /* the driver is on this host: fetch replies may be ShmRefs */
    pdi_conn *drv;
    pdi_store *store;
    pydron_worker_runner *runners;
    size_t nrunners;

    pthread_mutex_t qlock;
    pthread_cond_t qcond;
    task_item *qhead, *qtail;
    int stopping;

    pthread_mutex_t olock;
    pthread_cond_t ocond;
    done_item *ohead, *otail;
    fetch_item *fhead, *ftail; /* fetches from the driver, oldest first */
    int ostop;
    uint64_t pushed, sent;   /* completions queued / written to the driver */
    pthread_cond_t sentcond;

    pthread_mutex_t plock;
    peer *peers;
    peer_srv *servers;
    int nservers;
    pthread_cond_t pcond;

    pdi_listener *pl;
    char peer_url[512];
    atomic_uint_fast64_t last_recv_ns;
    atomic_int lost;
} worker;

/* ------------------------------------------------------------ runners */

static const pydron_worker_runner *find_runner(worker *w, const char *kind)
{
    for (size_t i = 0; i < w->nrunners; i++)
        if (strcmp(w->runners[i].kind_name, kind) == 0)
            return &w->runners[i];
    return NULL;
}

/* ---------------------------------------------------------------- peers */

static peer *peer_find(worker *w, int32_t id)
{
    for (peer *p = w->peers; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

static void peers_update(worker *w, Pydron__Peer **ps, size_t n)
{
    pthread_mutex_lock(&w->plock);
    for (size_t i = 0; i < n; i++) {
        peer *p = peer_find(w, ps[i]->worker_id);
        if (!p) {
            p = calloc(1, sizeof *p);
            if (!p)
                continue;
            p->id = ps[i]->worker_id;
            pthread_mutex_init(&p->lock, NULL);
            p->next = w->peers;
            w->peers = p;
        }
        /* url changes are rare (a respawned worker): swap under the peer lock */
        pthread_mutex_lock(&p->lock);
        if (!p->url || strcmp(p->url, ps[i]->url) != 0) {
            free(p->url);
            p->url = pdi_strdup(ps[i]->url);
            if (p->c) {
                pdi_conn_free(p->c);
                p->c = NULL;
            }
        }
        pthread_mutex_unlock(&p->lock);
    }
    pthread_mutex_unlock(&w->plock);
}

/* Fetch value id from worker `where`, peer to peer: a mapping of the
 * peer's shared memory when it can, else the bytes. Free *data with
 * pdi_shm_free. */
static int peer_fetch(worker *w, int32_t where, uint64_t id, void **data, size_t *len)
{
    pthread_mutex_lock(&w->plock);
    peer *p = peer_find(w, where);
    pthread_mutex_unlock(&w->plock);
    if (!p)
        return pdi_err(PYDRON_EIO, "value %llu lives on worker %d, which this worker does not know",
                       (unsigned long long)id, where);
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    if (!p->url || !*p->url) {
        rc = pdi_err(PYDRON_EIO, "worker %d is gone", where);
        goto out;
    }
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!p->c) {
            rc = pdi_conn_dial(p->url, w->o.tls_ca_file, HANDSHAKE_MS, &p->c);
            if (rc == 0) {
                Pydron__Hello h = PYDRON__HELLO__INIT;
                h.worker_id = w->id;
                h.role = 1;
                h.pid = (int32_t)getpid();
                h.host_id = (char *)pdi_shm_host_id();
                rc = pdi_auth_dial(p->c, &h, w->secret, w->secret_len, HANDSHAKE_MS);
                if (rc) {
                    pdi_conn_free(p->c);
                    p->c = NULL;
                }
            }
            if (rc)
                goto out;
        }
        Pydron__Fetch f = PYDRON__FETCH__INIT;
        f.request_id = id;
        f.value_id = id;
        Pydron__Frame fr = PYDRON__FRAME__INIT;
        fr.body_case = PYDRON__FRAME__BODY_FETCH;
        fr.fetch = &f;
        pdi_frame in;
    again:
        rc = pdi_conn_send(p->c, &fr, NULL, 0);
        if (rc == 0)
            rc = pdi_conn_recv(p->c, pdi_wire_limits_session(), -1, &in);
        if (rc) {
            /* a cached connection may have died with an earlier peer: redial once */
            pdi_conn_free(p->c);
            p->c = NULL;
            continue;
        }
        if (in.hdr->body_case == PYDRON__FRAME__BODY_FETCH_REPLY &&
            in.hdr->fetch_reply->value_id == id && in.hdr->fetch_reply->status == 0 &&
            in.hdr->fetch_reply->shm) {
            pdi_shm_ref ref;
            pdi_shm_ref_from_pb(in.hdr->fetch_reply->shm, &ref);
            rc = pdi_shm_map(&ref, data);
            pdi_frame_free(&in);
            if (rc == 0) {
                *len = (size_t)ref.len;
                break;
            }
            /* cannot map it here: ask for the bytes instead */
            pdi_debug(WHO, "worker %d: value %llu from peer %d by bytes: %s", w->id,
                      (unsigned long long)id, where, pydron_error_last());
            if (f.no_shm) {
                rc = pdi_err(PYDRON_EPROTO, "peer %d sent a ShmRef after no_shm", where);
                break;
            }
            f.no_shm = 1;
            goto again;
        }
        if (in.hdr->body_case != PYDRON__FRAME__BODY_FETCH_REPLY ||
            in.hdr->fetch_reply->value_id != id) {
            rc = pdi_err(PYDRON_EPROTO, "peer %d answered a fetch with a %s frame", where,
                         pdi_frame_type_name(in.hdr));
            pdi_conn_free(p->c);
            p->c = NULL;
        } else if (in.hdr->fetch_reply->status != 0) {
            rc = pdi_err(PYDRON_EIO, "peer %d cannot give value %llu: %s", where,
                         (unsigned long long)id, in.hdr->fetch_reply->error);
        } else {
            int32_t seg = in.hdr->fetch_reply->segment;
            if (seg < 0 || (size_t)seg >= in.nseg) {
                rc = pdi_err(PYDRON_EPROTO, "fetch reply without bytes");
            } else {
                *data = pdi_frame_take(&in, (size_t)seg, len);
                rc = 0;
            }
        }
        pdi_frame_free(&in);
        break;
    }
out:
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Answer a Fetch from the store on connection c; shm: the fetcher is on
 * this host, so a memfd-backed value goes as a ShmRef. */
static int serve_fetch(worker *w, pdi_conn *c, const Pydron__Fetch *f, int shm)
{
    Pydron__FetchReply r = PYDRON__FETCH_REPLY__INIT;
    Pydron__Frame fr = PYDRON__FRAME__INIT;
    fr.body_case = PYDRON__FRAME__BODY_FETCH_REPLY;
    fr.fetch_reply = &r;
    r.request_id = f->request_id;
    r.value_id = f->value_id;
    r.segment = -1;
    pdi_stored *v;
    pdi_seg seg;
    if (pdi_store_get(w->store, f->value_id, &v, &seg.data, &seg.len) != 0) {
        r.status = PYDRON_ENOTFOUND;
        char msg[128];
        snprintf(msg, sizeof msg, "value %llu is not on worker %d",
                 (unsigned long long)f->value_id, w->id);
        r.error = msg;
        return pdi_conn_send(c, &fr, NULL, 0);
    }
    pdi_shm_ref ref;
    Pydron__ShmRef mref;
    int rc;
    if (shm && !f->no_shm && pdi_shm_ref_of(seg.data, seg.len, &ref)) {
        /* the fetcher maps it and keeps its own fd: no bytes move */
        pdi_shm_ref_to_pb(&ref, &mref);
        r.shm = &mref;
        rc = pdi_conn_send(c, &fr, NULL, 0);
        if (rc == 0)
            pdi_shm_note_sent();
        pdi_store_unpin(w->store, v);
        return rc;
    }
    r.segment = 0;
    rc = pdi_conn_send(c, &fr, &seg, 1); /* straight from the store, no copy */
    pdi_store_unpin(w->store, v);
    return rc;
}

typedef struct srv_arg {
    worker *w;
    peer_srv *s;
} srv_arg;

static void *peer_server_thread(void *arg)
{
    srv_arg *a = arg;
    worker *w = a->w;
    peer_srv *s = a->s;
    free(a);
    pdi_frame hello;
    int rc = pdi_auth_accept(s->c, w->secret, w->secret_len, HANDSHAKE_MS, &hello);
    if (rc) {
        pdi_log(WHO, "refused peer connection from %s: %s", pdi_conn_peer(s->c),
                pydron_error_last());
    } else {
        s->shm = pdi_shm_same_host(hello.hdr->hello->host_id);
        pdi_frame_free(&hello);
        for (;;) {
            pdi_frame in;
            if ((rc = pdi_conn_recv(s->c, pdi_wire_limits_session(), -1, &in)) != 0) {
                if (rc == PYDRON_EPROTO)
                    pdi_log(WHO, "dropping peer %s: %s", pdi_conn_peer(s->c), pydron_error_last());
                break;
            }
            if (in.hdr->body_case == PYDRON__FRAME__BODY_FETCH) {
                rc = serve_fetch(w, s->c, in.hdr->fetch, s->shm);
            } else {
                pdi_log(WHO, "dropping peer %s: unexpected %s frame", pdi_conn_peer(s->c),
                        pdi_frame_type_name(in.hdr));
                rc = PYDRON_EPROTO;
            }
            pdi_frame_free(&in);
            if (rc)
                break;
        }
    }
    pthread_mutex_lock(&w->plock);
    for (peer_srv **pp = &w->servers; *pp; pp = &(*pp)->next) {
        if (*pp == s) {
            *pp = s->next;
            break;
        }
    }
    w->nservers--;
    pthread_cond_broadcast(&w->pcond);
    pthread_mutex_unlock(&w->plock);
    pdi_conn_free(s->c);
    free(s);
    return NULL;
}

static void *peer_accept_thread(void *arg)
{
    worker *w = arg;
    for (;;) {
        pdi_conn *c;
        int rc = pdi_listener_accept(w->pl, &c);
        if (rc) {
            if (rc == PYDRON_ECLOSED)
                break;
            continue;
        }
        peer_srv *s = calloc(1, sizeof *s);
        srv_arg *a = malloc(sizeof *a);
        pthread_t th;
        pthread_attr_t at;
        if (!s || !a) {
            free(s);
            free(a);
            pdi_conn_free(c);
            continue;
        }
        s->c = c;
        a->w = w;
        a->s = s;
        pthread_mutex_lock(&w->plock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->plock);
            pdi_conn_free(c);
            free(s);
            free(a);
            break;
        }
        s->next = w->servers;
        w->servers = s;
        w->nservers++;
        pthread_mutex_unlock(&w->plock);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, peer_server_thread, a) != 0) {
            pthread_mutex_lock(&w->plock);
            w->servers = s->next;
            w->nservers--;
            pthread_mutex_unlock(&w->plock);
            pdi_conn_free(c);
            free(s);
            free(a);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

/* ----------------------------------------------------------- task threads */

static void sf_unref(shared_frame *sf)
{
    if (atomic_fetch_sub(&sf->refs, 1) == 1) {
        pdi_frame_free(&sf->f);
        free(sf);
    }
}

static void done_push(worker *w, done_item *d)
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
static void flush_completions(worker *w)
{
    pthread_mutex_lock(&w->olock);
    uint64_t target = w->pushed;
    pthread_cond_signal(&w->ocond);
    while (w->sent < target && !w->ostop && !atomic_load(&w->lost))
        pthread_cond_wait(&w->sentcond, &w->olock);
    pthread_mutex_unlock(&w->olock);
}

static void done_free(done_item *d)
{
    if (d->outs)
        for (size_t i = 0; i < d->nout; i++)
            pdi_out_release(&d->outs[i]);
    free(d->outs);
    free(d->ids);
    free(d->sizes);
    free(d->error);
    free(d->detail);
    free(d);
}

static void fail_item(done_item *d, int status, const char *msg)
{
    d->status = status;
    free(d->error);
    d->error = pdi_strdup(msg);
}

static void out_free(void *p) { free(p); }

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
        fail_item(d, PYDRON_ENOMEM, "worker out of memory");
        goto out;
    }
    if (t->n_outputs)
        memcpy(d->ids, t->outputs, t->n_outputs * sizeof *d->ids);
    const pydron_worker_runner *r = find_runner(w, t->kind);
    if (!r) {
        char msg[300];
        snprintf(msg, sizeof msg, "worker %d has no runner for kind \"%s\"", w->id, t->kind);
        fail_item(d, PYDRON_ETASK, msg);
        goto out;
    }
    const void *payload = NULL;
    size_t plen = 0;
    if (t->payload_segment >= 0 && pdi_frame_seg(&it->sf->f, t->payload_segment, &payload, &plen)) {
        fail_item(d, PYDRON_EPROTO, pydron_error_last());
        goto out;
    }
    for (size_t i = 0; i < nin; i++) {
        Pydron__Input *x = t->inputs[i];
        int rc = 0;
        if (x->where < 0 && x->shm) {
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
            rc = peer_fetch(w, x->where, x->value_id, &fetched[i], &l);
            in[i].data = fetched[i];
            in[i].len = l;
        }
        if (rc) {
            /* EIO: the driver re-runs the job (and recomputes a lost input) */
            char msg[512];
            snprintf(msg, sizeof msg, "input %zu (value %llu): %s", i,
                     (unsigned long long)x->value_id, pydron_error_last());
            fail_item(d, rc == PYDRON_EPROTO ? PYDRON_EPROTO : PYDRON_EIO, msg);
            goto out;
        }
    }
    if (t->flush_before)
        flush_completions(w);
    pydron_task_ctx ctx;
    if (pdi_ctx_init(&ctx, t->kind, t->attempt, payload, plen, in, nin, t->n_outputs) != 0) {
        fail_item(d, PYDRON_ENOMEM, pydron_error_last());
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
                    fail_item(d, src, "cannot store an output");
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
    done_push(w, d);
}

static void *task_thread(void *arg)
{
    worker *w = arg;
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
        sf_unref(it->sf);
        free(it);
    }
    return NULL;
}

/* --------------------------------------------------------------- sender */

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
        done_free(list);
        list = nx;
    }
    return rc;
}

static void *sender_thread(void *arg)
{
    worker *w = arg;
    uint64_t last_send = pdi_now_ns(), hb_seq = 0;
    uint64_t hb_ns = (uint64_t)w->hb_ms * 1000000ull;
    /* silence from the driver for this long means it is gone */
    uint64_t dead_ns = hb_ns * 10 < 3000000000ull ? 3000000000ull : hb_ns * 10;
    for (;;) {
        pthread_mutex_lock(&w->olock);
        while (!w->ohead && !w->fhead && !w->ostop) {
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t ns = (uint64_t)ts.tv_nsec + (hb_ns ? hb_ns / 2 : 500000000ull);
            ts.tv_sec += (time_t)(ns / 1000000000ull);
            ts.tv_nsec = (long)(ns % 1000000000ull);
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
            if (!atomic_load(&w->lost) && serve_fetch(w, w->drv, &fi->f, w->shm_drv) != 0 &&
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

/* --------------------------------------------------- leftovers and signals */

/* Paths removed when the driver disappears without saying shutdown (it
 * cannot clean its private directory after a SIGKILL). Fixed buffers: the
 * signal handler uses them. */
static char cleanup_files[4][512];
static char cleanup_dir[512];

static void cleanup_paths(void)
{
    for (int i = 0; i < 4; i++)
        if (cleanup_files[i][0])
            unlink(cleanup_files[i]);
    if (cleanup_dir[0])
        rmdir(cleanup_dir);
}

static volatile pid_t parent_pid;

static void on_term(int sig)
{
    (void)sig;
    /* PR_SET_PDEATHSIG fires when the parent *thread* that spawned us ends
     * (e.g. a driver thread that replaced a lost worker); only a dead
     * parent process means the driver is gone. */
    if (parent_pid > 1 && getppid() == parent_pid)
        return;
    cleanup_paths(); /* unlink/rmdir are async-signal-safe */
    _exit(3);
}

static void ipc_path(const char *url, char *out, size_t n)
{
    out[0] = 0;
    if (url && strncmp(url, "ipc://", 6) == 0)
        snprintf(out, n, "%s", url + 6);
}

/* ------------------------------------------------------------------ main */

void pydron_worker_options_init(pydron_worker_options *opts)
{
    if (opts) {
        pydron_worker_options d = PYDRON_WORKER_OPTIONS_INIT;
        *opts = d;
    }
}

static int handle_frame(worker *w, pdi_frame *in, int *shutdown)
{
    Pydron__Frame *h = in->hdr;
    for (size_t i = 0; i < h->n_releases; i++)
        pdi_store_release(w->store, h->releases[i]);
    switch (h->body_case) {
    case PYDRON__FRAME__BODY_TASKS: {
        Pydron__TaskBatch *b = h->tasks;
        if (b->n_tasks == 0)
            break;
        shared_frame *sf = malloc(sizeof *sf);
        if (!sf)
            return pdi_err(PYDRON_ENOMEM, "out of memory for a task batch");
        sf->f = *in;
        memset(in, 0, sizeof *in);
        atomic_init(&sf->refs, (int)b->n_tasks);
        task_item *first = NULL, *last = NULL;
        for (size_t i = 0; i < b->n_tasks; i++) {
            task_item *it = calloc(1, sizeof *it);
            if (!it) {
                /* not fatal for the others: report this one */
                done_item *d = calloc(1, sizeof *d);
                if (d) {
                    d->task_id = b->tasks[i]->task_id;
                    d->seq = b->tasks[i]->seq;
                    fail_item(d, PYDRON_EIO, "worker out of memory");
                    done_push(w, d);
                }
                sf_unref(sf);
                continue;
            }
            it->sf = sf;
            it->t = b->tasks[i];
            if (last)
                last->next = it;
            else
                first = it;
            last = it;
        }
        if (first) {
            pthread_mutex_lock(&w->qlock);
            if (w->qtail)
                w->qtail->next = first;
            else
                w->qhead = first;
            w->qtail = last;
            pthread_cond_broadcast(&w->qcond);
            pthread_mutex_unlock(&w->qlock);
        }
        break;
    }
    case PYDRON__FRAME__BODY_FETCH: {
        /* Answered by the sender thread. The reader must never wait on a
         * write: the driver's reader may itself be writing a large task
         * batch to us, and it reads our reply only when that write is done;
         * a reply written from here (160 KB-1 MiB, below the shared-memory
         * threshold) filled both sockets and hung both processes. */
        fetch_item *fi = calloc(1, sizeof *fi);
        if (!fi)
            return pdi_err(PYDRON_ENOMEM, "out of memory for a fetch");
        pydron__fetch__init(&fi->f);
        fi->f.request_id = h->fetch->request_id;
        fi->f.value_id = h->fetch->value_id;
        fi->f.no_shm = h->fetch->no_shm;
        pthread_mutex_lock(&w->olock);
        if (w->ftail)
            w->ftail->next = fi;
        else
            w->fhead = fi;
        w->ftail = fi;
        pthread_cond_signal(&w->ocond);
        pthread_mutex_unlock(&w->olock);
        break;
    }
    case PYDRON__FRAME__BODY_RELEASE:
        for (size_t i = 0; i < h->release->n_value_ids; i++)
            pdi_store_release(w->store, h->release->value_ids[i]);
        break;
    case PYDRON__FRAME__BODY_PEER_UPDATE:
        peers_update(w, h->peer_update->peers, h->peer_update->n_peers);
        break;
    case PYDRON__FRAME__BODY_HEARTBEAT:
        break;
    case PYDRON__FRAME__BODY_SHUTDOWN:
        pdi_debug(WHO, "worker %d: shutdown (%s)", w->id, h->shutdown->reason);
        *shutdown = 1;
        break;
    default:
        return pdi_err(PYDRON_EPROTO, "unexpected %s frame from the driver",
                       pdi_frame_type_name(h));
    }
    return 0;
}

int pydron_worker_main(const pydron_worker_options *opts)
{
    if (!opts || opts->version != PYDRON_WORKER_OPTIONS_VERSION || !opts->url)
        return pdi_err(PYDRON_EINVAL, "pydron_worker_main: options with a url are required");
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    int rc = 0;
    pthread_t *tt = NULL, sender, acceptor;
    int have_sender = 0, have_acceptor = 0;
    size_t nthreads = 0;
    w->o = *opts;
    w->id = opts->worker_id;
    pthread_mutex_init(&w->qlock, NULL);
    pthread_cond_init(&w->qcond, NULL);
    pthread_mutex_init(&w->olock, NULL);
    pthread_cond_init(&w->ocond, NULL);
    pthread_cond_init(&w->sentcond, NULL);
    pthread_mutex_init(&w->plock, NULL);
    pthread_cond_init(&w->pcond, NULL);

    const char *secret = opts->secret ? opts->secret : getenv("PYDRON_SECRET");
    if (!secret || !*secret) {
        rc = pdi_err(PYDRON_EAUTH, "no shared secret (set it in the options or PYDRON_SECRET)");
        goto done;
    }
    w->secret = pdi_strdup(secret);
    w->secret_len = strlen(secret);
    w->store = pdi_store_new();
    w->nrunners = 1 + opts->nrunners;
    w->runners = calloc(w->nrunners, sizeof *w->runners);
    if (!w->secret || !w->store || !w->runners) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        goto done;
    }
    w->runners[0].kind_name = PYDRON_KIND_FFI;
    w->runners[0].ops = &pdi_ffi_runner_ops;
    for (size_t i = 0; i < opts->nrunners; i++) {
        if (!opts->runners[i].kind_name || !opts->runners[i].ops || !opts->runners[i].ops->run) {
            rc = pdi_err(PYDRON_EINVAL, "runner %zu has no kind name or run function", i);
            goto done;
        }
        w->runners[1 + i] = opts->runners[i];
    }

    if (opts->exit_with_parent) {
        const char *pp = getenv("PYDRON_PARENT_PID");
        /* the handler first: PR_SET_PDEATHSIG may fire as soon as it is set
         * (when the parent *thread* that spawned us has already ended) */
        struct sigaction sa, old;
        parent_pid = getppid();
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_term;
        if (sigaction(SIGTERM, NULL, &old) == 0 && old.sa_handler == SIG_DFL)
            sigaction(SIGTERM, &sa, NULL);
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        /* the parent may have died before prctl took effect */
        if ((pp && atoi(pp) > 0 && getppid() != (pid_t)atoi(pp)) || getppid() == 1) {
            rc = pdi_err(PYDRON_ECLOSED, "parent process is gone");
            goto done;
        }
    }

    if ((rc = pdi_conn_dial(opts->url, opts->tls_ca_file, HANDSHAKE_MS, &w->drv)) != 0)
        goto done;

    /* Our peer address: next to the driver's socket for ipc, else our
     * address on the route to the driver. */
    if (opts->listen_peer_url) {
        snprintf(w->peer_url, sizeof w->peer_url, "%s", opts->listen_peer_url);
    } else if (strncmp(opts->url, "ipc://", 6) == 0) {
        const char *slash = strrchr(opts->url, '/');
        snprintf(w->peer_url, sizeof w->peer_url, "%.*s/peer-%d.sock",
                 (int)(slash - opts->url), opts->url, (int)getpid());
    } else {
        char host[64];
        if (pdi_conn_local_ip(w->drv, host, sizeof host) != 0)
            snprintf(host, sizeof host, "127.0.0.1");
        snprintf(w->peer_url, sizeof w->peer_url, "tcp://%s:0", host);
    }
    if ((rc = pdi_listener_open(w->peer_url, NULL, NULL, &w->pl)) != 0) {
        pdi_log(WHO, "cannot serve peers at %s: %s", w->peer_url, pydron_error_last());
        goto done;
    }
    snprintf(w->peer_url, sizeof w->peer_url, "%s", pdi_listener_url(w->pl));
    if (opts->exit_with_parent) {
        /* files to remove if the driver dies without cleaning up */
        ipc_path(w->peer_url, cleanup_files[0], sizeof cleanup_files[0]);
        ipc_path(opts->url, cleanup_files[1], sizeof cleanup_files[1]);
        const char *sf = getenv("PYDRON_SECRET_FILE_CLEANUP");
        if (sf)
            snprintf(cleanup_files[2], sizeof cleanup_files[2], "%s", sf);
        const char *pd = getenv("PYDRON_PRIVATE_DIR");
        if (pd)
            snprintf(cleanup_dir, sizeof cleanup_dir, "%s", pd);
    }

    /* handshake */
    {
        char hostname[256] = "";
        gethostname(hostname, sizeof hostname - 1);
        const char **kinds = calloc(w->nrunners, sizeof *kinds);
        if (!kinds) {
            rc = pdi_err(PYDRON_ENOMEM, "out of memory");
            goto done;
        }
        for (size_t i = 0; i < w->nrunners; i++)
            kinds[i] = w->runners[i].kind_name;
        Pydron__Hello h = PYDRON__HELLO__INIT;
        h.worker_id = opts->worker_id;
        h.kinds = (char **)kinds;
        h.n_kinds = w->nrunners;
        h.threads = opts->threads ? opts->threads : 1;
        h.peer_url = w->peer_url;
        h.capabilities = 1;
        h.pid = (int32_t)getpid();
        h.hostname = hostname;
        h.host_id = (char *)pdi_shm_host_id();
        rc = pdi_auth_dial(w->drv, &h, w->secret, w->secret_len, HANDSHAKE_MS);
        free(kinds);
        if (rc)
            goto done;
        pdi_frame in;
        if ((rc = pdi_conn_recv(w->drv, &pdi_wire_limits_handshake, HANDSHAKE_MS, &in)) != 0)
            goto done;
        if (in.hdr->body_case != PYDRON__FRAME__BODY_WELCOME) {
            if (in.hdr->body_case == PYDRON__FRAME__BODY_REFUSED)
                rc = pdi_err(PYDRON_EAUTH, "driver refused this worker: %s",
                             in.hdr->refused->message);
            else
                rc = pdi_err(PYDRON_EPROTO, "expected welcome, got a %s frame",
                             pdi_frame_type_name(in.hdr));
            pdi_frame_free(&in);
            goto done;
        }
        w->id = in.hdr->welcome->worker_id;
        w->hb_ms = in.hdr->welcome->heartbeat_ms;
        w->inline_max = in.hdr->welcome->inline_max;
        w->shm_drv = pdi_shm_same_host(in.hdr->welcome->host_id);
        peers_update(w, in.hdr->welcome->peers, in.hdr->welcome->n_peers);
        pdi_frame_free(&in);
    }
    pdi_debug(WHO, "worker %d connected to %s, serving peers at %s", w->id, opts->url,
              w->peer_url);
    atomic_store(&w->last_recv_ns, pdi_now_ns());

    if (pthread_create(&acceptor, NULL, peer_accept_thread, w) == 0)
        have_acceptor = 1;
    if (pthread_create(&sender, NULL, sender_thread, w) == 0)
        have_sender = 1;
    nthreads = opts->threads ? opts->threads : 1;
    tt = calloc(nthreads, sizeof *tt);
    if (!tt || !have_sender || !have_acceptor) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start worker threads");
        nthreads = 0;
        goto stop;
    }
    for (size_t i = 0; i < nthreads; i++) {
        if (pthread_create(&tt[i], NULL, task_thread, w) != 0) {
            nthreads = i;
            rc = pdi_err(PYDRON_ENOMEM, "cannot start task threads");
            goto stop;
        }
    }

    for (;;) {
        pdi_frame in;
        int shutdown = 0;
        rc = pdi_conn_recv(w->drv, pdi_wire_limits_session(), -1, &in);
        if (rc) {
            if (rc == PYDRON_EPROTO)
                pdi_log(WHO, "worker %d: bad frame from the driver, disconnecting: %s", w->id,
                        pydron_error_last());
            else if (!atomic_load(&w->lost))
                pdi_debug(WHO, "worker %d: driver connection lost: %s", w->id,
                          pydron_error_last());
            atomic_store(&w->lost, 1);
            if (rc != PYDRON_EPROTO)
                rc = pdi_err(PYDRON_ECLOSED, "driver connection lost");
            break;
        }
        atomic_store(&w->last_recv_ns, pdi_now_ns());
        rc = handle_frame(w, &in, &shutdown);
        pdi_frame_free(&in);
        if (rc) {
            pdi_log(WHO, "worker %d: %s; disconnecting", w->id, pydron_error_last());
            atomic_store(&w->lost, 1);
            break;
        }
        if (shutdown)
            break;
    }

stop:
    if (w->store) {
        size_t nv = 0;
        uint64_t nb = 0;
        pdi_store_stats(w->store, &nv, &nb);
        pdi_debug(WHO, "worker %d stopping with %zu values (%llu bytes) in its store", w->id, nv,
                  (unsigned long long)nb);
    }
    /* stop task threads (queued tasks are dropped: the driver asked us to
     * stop or is gone), flush completions, stop the sender */
    pthread_mutex_lock(&w->qlock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->qcond);
    pthread_mutex_unlock(&w->qlock);
    for (size_t i = 0; i < nthreads; i++)
        pthread_join(tt[i], NULL);
    free(tt);
    while (w->qhead) {
        task_item *it = w->qhead;
        w->qhead = it->next;
        sf_unref(it->sf);
        free(it);
    }
    if (have_sender) {
        pthread_mutex_lock(&w->olock);
        w->ostop = 1;
        pthread_cond_signal(&w->ocond);
        pthread_cond_broadcast(&w->sentcond);
        pthread_mutex_unlock(&w->olock);
        pthread_join(sender, NULL);
    }
    if (w->pl)
        pdi_listener_close(w->pl);
    if (have_acceptor)
        pthread_join(acceptor, NULL);
    pthread_mutex_lock(&w->plock);
    w->stopping = 1;
    for (peer_srv *s = w->servers; s; s = s->next)
        pdi_conn_close(s->c);
    while (w->nservers > 0)
        pthread_cond_wait(&w->pcond, &w->plock);
    pthread_mutex_unlock(&w->plock);
    if (atomic_load(&w->lost) && opts->exit_with_parent) {
        if (w->pl) {
            pdi_listener_free(w->pl); /* nng unlinks our ipc socket */
            w->pl = NULL;
        }
        cleanup_paths();
    }
done:
    if (rc && rc != PYDRON_ECLOSED)
        pdi_log(WHO, "worker %d: %s", w->id, pydron_error_last());
    {
        int keep = rc;
        const char *msg = pydron_error_last();
        char *saved = msg ? pdi_strdup(msg) : NULL;
        if (w->pl)
            pdi_listener_free(w->pl);
        if (w->drv)
            pdi_conn_free(w->drv);
        while (w->peers) {
            peer *p = w->peers;
            w->peers = p->next;
            if (p->c)
                pdi_conn_free(p->c);
            free(p->url);
            pthread_mutex_destroy(&p->lock);
            free(p);
        }
        while (w->ohead) {
            done_item *d = w->ohead;
            w->ohead = d->next;
            done_free(d);
        }
        while (w->fhead) {
            fetch_item *fi = w->fhead;
            w->fhead = fi->next;
            free(fi);
        }
        pdi_store_free(w->store);
        free(w->runners);
        if (w->secret) {
            memset(w->secret, 0, w->secret_len);
            free(w->secret);
        }
        free(w);
        if (keep)
            pdi_err(keep, "%s", saved ? saved : "worker failed");
        free(saved);
        rc = keep;
    }
    return rc;
}
