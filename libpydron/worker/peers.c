/* peers.c - a worker's peers: the peer list from the driver, fetching
 * values from other workers, and serving our values to them (an accept
 * thread plus one server thread per peer connection). */
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
#include "wire/guard.h"
#include "wire/shmref.h"
#include "wire/wire.h"
#include "worker/worker.h"

static peer *peer_find(worker *w, int32_t id)
{
    for (peer *p = w->peers; p; p = p->next)
        if (p->id == id)
            return p;
    return NULL;
}

/* p->c is set and dropped under p->clk as well as p->lock, so that a peer
 * update can close the connection of a fetch that waits on it. */
static void peer_set_conn(peer *p, pdi_conn *c)
{
    pthread_mutex_lock(&p->clk);
    p->c = c;
    pthread_mutex_unlock(&p->clk);
}

static void peer_drop_conn(peer *p)
{
    pthread_mutex_lock(&p->clk);
    pdi_conn *c = p->c;
    p->c = NULL;
    pthread_mutex_unlock(&p->clk);
    if (c)
        pdi_conn_free(c);
}

/* p->lock held: a url the update could not set while a fetch held the
 * lock (next_url) takes effect */
static void peer_apply_next(peer *p)
{
    pthread_mutex_lock(&p->clk);
    char *nu = p->next_url;
    p->next_url = NULL;
    pthread_mutex_unlock(&p->clk);
    if (!nu)
        return;
    if (!p->url || strcmp(p->url, nu) != 0) {
        free(p->url);
        p->url = nu;
        peer_drop_conn(p);
    } else {
        free(nu);
    }
}

void pdi_wk_peers_update(worker *w, Pydron__Peer **ps, size_t n)
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
            pthread_mutex_init(&p->clk, NULL);
            p->next = w->peers;
            w->peers = p;
        }
        /* url changes are rare (a respawned or lost worker): swap under the
         * peer lock. A fetch may hold it, waiting on a peer that does not
         * answer (stopped, its host cut off): this thread (the worker's
         * reader) must not wait for it; the fetch's connection is closed
         * instead, and the fetch takes the new url when it lets go. */
        if (pthread_mutex_trylock(&p->lock) == 0) {
            if (!p->url || strcmp(p->url, ps[i]->url) != 0) {
                free(p->url);
                p->url = pdi_strdup(ps[i]->url);
                peer_drop_conn(p);
            }
            pthread_mutex_unlock(&p->lock);
        } else {
            char *nu = pdi_strdup(ps[i]->url);
            pthread_mutex_lock(&p->clk);
            if (nu) {
                free(p->next_url);
                p->next_url = nu;
            }
            if (p->c)
                pdi_conn_close(p->c); /* the fetch's recv returns */
            pthread_mutex_unlock(&p->clk);
        }
    }
    pthread_mutex_unlock(&w->plock);
}

/* Fetch value id from worker `where`, peer to peer: a mapping of the
 * peer's shared memory when it can, else the bytes. Free *data with
 * pdi_shm_free. */
int pdi_wk_peer_fetch(worker *w, int32_t where, uint64_t id, void **data, size_t *len)
{
    pthread_mutex_lock(&w->plock);
    peer *p = peer_find(w, where);
    pthread_mutex_unlock(&w->plock);
    if (!p)
        return pdi_err(PYDRON_EIO, "value %llu lives on worker %d, which this worker does not know",
                       (unsigned long long)id, where);
    pthread_mutex_lock(&p->lock);
    int rc = 0;
    for (int attempt = 0; attempt < 2; attempt++) {
        peer_apply_next(p);
        if (!p->url || !*p->url) {
            rc = pdi_err(PYDRON_EIO, "worker %d is gone", where);
            goto out;
        }
        if (!p->c) {
            pdi_conn *c = NULL;
            rc = pdi_conn_dial(p->url, w->o.tls_ca_file, HANDSHAKE_MS, &c);
            if (rc == 0) {
                peer_set_conn(p, c); /* from here a peer update can close it */
                Pydron__Hello h = PYDRON__HELLO__INIT;
                h.worker_id = w->id;
                h.role = 1;
                h.pid = (int32_t)getpid();
                h.host_id = (char *)pdi_shm_host_id();
                rc = pdi_auth_dial(c, &h, w->secret, w->secret_len, HANDSHAKE_MS);
                if (rc)
                    peer_drop_conn(p);
            }
            if (rc)
                goto out;
        }
        Pydron__Fetch f = PYDRON__FETCH__INIT;
        f.request_id = id;
        f.value_id = id;
        /* shared memory only from a peer on this host (an ipc socket) */
        f.no_shm = strncmp(p->url, "ipc://", 6) != 0;
        Pydron__Frame fr = PYDRON__FRAME__INIT;
        fr.body_case = PYDRON__FRAME__BODY_FETCH;
        fr.fetch = &f;
        pdi_frame in;
    again:
        rc = pdi_conn_send(p->c, &fr, NULL, 0);
        if (rc == 0)
            rc = pdi_conn_recv(p->c, pdi_wire_limits_session(), -1, &in);
        if (rc) {
            /* a cached connection may have died with an earlier peer: redial
             * once; a frame that failed its checks is worth a line */
            if (rc == PYDRON_EPROTO)
                pdi_log(WHO, "worker %d: dropping the link to peer %d: %s", w->id, where,
                        pydron_error_last());
            peer_drop_conn(p);
            continue;
        }
        if (in.hdr->body_case == PYDRON__FRAME__BODY_FETCH_REPLY &&
            in.hdr->fetch_reply->value_id == id && in.hdr->fetch_reply->status == 0 &&
            in.hdr->fetch_reply->shm) {
            pdi_shm_ref ref;
            pdi_shm_ref_from_pb(in.hdr->fetch_reply->shm, &ref);
            if (f.no_shm) {
                /* not asked for (another host, or after asking for bytes):
                 * never opened, and not asked again */
                pdi_frame_free(&in);
                rc = pdi_err(PYDRON_EPROTO, "peer %d sent a shared memory reference it was not asked for",
                             where);
                peer_drop_conn(p);
                break;
            }
            rc = pdi_shm_map(&ref, data);
            pdi_frame_free(&in);
            if (rc == 0) {
                *len = (size_t)ref.len;
                break;
            }
            /* cannot map it here: ask for the bytes instead (once) */
            pdi_debug(WHO, "worker %d: value %llu from peer %d by bytes: %s", w->id,
                      (unsigned long long)id, where, pydron_error_last());
            f.no_shm = 1;
            goto again;
        }
        if (in.hdr->body_case != PYDRON__FRAME__BODY_FETCH_REPLY ||
            in.hdr->fetch_reply->value_id != id) {
            rc = pdi_err(PYDRON_EPROTO, "peer %d answered a fetch with a %s frame", where,
                         pdi_frame_type_name(in.hdr));
            peer_drop_conn(p);
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
    peer_apply_next(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

/* Answer a Fetch from the store on connection c; shm: the fetcher is on
 * this host, so a memfd-backed value goes as a ShmRef. */
int pdi_wk_serve_fetch(worker *w, pdi_conn *c, const Pydron__Fetch *f, int shm)
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
    int rc = pdi_auth_accept(s->c, w->secret, w->secret_len, pdi_handshake_ms(), &hello);
    pdi_guard_leave(w->guard, s->c);
    if (rc) {
        pdi_guard_log(w->guard, "refused peer connection from %s: %s", pdi_conn_peer(s->c),
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
                rc = pdi_wk_serve_fetch(w, s->c, in.hdr->fetch, s->shm);
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

void *pdi_wk_peer_accept_thread(void *arg)
{
    worker *w = arg;
    for (;;) {
        pdi_conn *c;
        int rc = pdi_listener_accept(w->pl, &c);
        if (rc) {
            if (rc == PYDRON_ECLOSED)
                break;
            pdi_guard_accept_failed(w->guard, pydron_error_last());
            continue;
        }
        pdi_guard_accept_ok(w->guard);
        if (pdi_guard_enter(w->guard, c) != 0) {
            pdi_conn_free(c);
            continue;
        }
        peer_srv *s = calloc(1, sizeof *s);
        srv_arg *a = malloc(sizeof *a);
        pthread_t th;
        pthread_attr_t at;
        if (!s || !a) {
            free(s);
            free(a);
            pdi_guard_leave(w->guard, c);
            pdi_conn_free(c);
            continue;
        }
        s->c = c;
        a->w = w;
        a->s = s;
        pthread_mutex_lock(&w->plock);
        if (w->stopping) {
            pthread_mutex_unlock(&w->plock);
            pdi_guard_leave(w->guard, c);
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
            pdi_guard_leave(w->guard, c);
            pdi_conn_free(c);
            free(s);
            free(a);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}
