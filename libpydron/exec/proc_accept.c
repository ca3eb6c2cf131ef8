/* proc_accept.c - accepting workers: the acceptor thread, one short-lived
 * handshake thread per incoming connection (so a slow or hostile peer
 * cannot hold up others), the welcome and the peer updates. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"
#include "wire/guard.h"

void pdi_proc_send_peer_update(pdi_proc *p, unsigned except, int32_t id, const char *url)
{
    Pydron__Peer pe = PYDRON__PEER__INIT;
    Pydron__Peer *pp = &pe;
    pe.worker_id = id;
    pe.url = (char *)(url ? url : "");
    Pydron__PeerUpdate u = PYDRON__PEER_UPDATE__INIT;
    u.peers = &pp;
    u.n_peers = 1;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_PEER_UPDATE;
    f.peer_update = &u;
    pdi_conn **cs = calloc(p->nw, sizeof *cs);
    size_t nc = 0;
    if (!cs)
        return;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < p->nw; i++)
        if (i != except && p->w[i].alive)
            cs[nc++] = p->w[i].c;
    pthread_mutex_unlock(&p->lock);
    /* never write while holding p->lock: a write can wait for the worker,
     * and the worker may be waiting for our reader, which needs the lock */
    for (size_t i = 0; i < nc; i++)
        (void)pdi_proc_send(cs[i], &f); /* a failure shows up in that worker's reader */
    free(cs);
}

/* ---------------------------------------------------- accept + handshake */

typedef struct hs_arg {
    pdi_proc *p;
    pdi_conn *c;
} hs_arg;

/* Lock held: c is no longer in handshake (stop must not close it). */
static void hs_forget(pdi_proc *p, pdi_conn *c)
{
    for (size_t i = 0; i < p->nhs; i++) {
        if (p->hs_conns[i] == c) {
            p->hs_conns[i] = p->hs_conns[--p->nhs];
            return;
        }
    }
}

static void refuse(pdi_conn *c, int code, const char *msg)
{
    Pydron__Refused r = PYDRON__REFUSED__INIT;
    r.code = code;
    r.message = (char *)msg;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_REFUSED;
    f.refused = &r;
    if (pdi_proc_send(c, &f) == 0)
        pdi_conn_linger(c, 1000); /* so the peer reads why */
}

static void *handshake_thread(void *arg)
{
    hs_arg a = *(hs_arg *)arg;
    free(arg);
    pdi_proc *p = a.p;
    pdi_frame hello;
    int rc = pdi_auth_accept(a.c, p->secret, p->secret_len, pdi_handshake_ms(), &hello);
    pdi_guard_leave(p->guard, a.c);
    /* from here on stop no longer closes a.c for us: it is freed below, or
     * becomes a worker's connection (under the lock, checking stopping) */
    pthread_mutex_lock(&p->lock);
    hs_forget(p, a.c);
    pthread_mutex_unlock(&p->lock);
    if (rc) {
        pdi_guard_log(p->guard, "refused connection from %s: %s", pdi_conn_peer(a.c),
                      pydron_error_last());
        pdi_conn_free(a.c);
        goto out;
    }
    Pydron__Hello *h = hello.hdr->hello;
    if (h->role != 0) {
        refuse(a.c, PYDRON_EPROTO, "this is a driver, not a peer");
        pdi_frame_free(&hello);
        pdi_conn_free(a.c);
        goto out;
    }
    for (size_t k = 0; p->required_kinds && p->required_kinds[k]; k++) {
        int has = 0;
        for (size_t i = 0; i < h->n_kinds && !has; i++)
            has = strcmp(h->kinds[i], p->required_kinds[k]) == 0;
        if (!has) {
            /* e.g. a C pydron-worker dialling a Python program's driver:
             * it could run none of its tasks */
            char msg[300];
            snprintf(msg, sizeof msg, "this worker cannot run '%s' tasks%s", p->required_kinds[k],
                     strcmp(p->required_kinds[k], "python") == 0
                         ? ": start `python -m pydron worker` (the C pydron-worker has no "
                           "Python runner)"
                         : ": start a worker with a runner for them (pydron-worker --load LIB)");
            pdi_log(WHO, "refused worker from %s (%s, pid %d): %s", pdi_conn_peer(a.c),
                    h->hostname ? h->hostname : "?", h->pid, msg);
            refuse(a.c, PYDRON_EINVAL, msg);
            pdi_frame_free(&hello);
            pdi_conn_free(a.c);
            goto out;
        }
    }
    pthread_mutex_lock(&p->lock);
    int slot = -1;
    if (!p->stopping) {
        if (h->worker_id >= 0 && (unsigned)h->worker_id < p->nw && !p->w[h->worker_id].alive)
            slot = h->worker_id;
        for (unsigned i = 0; slot < 0 && i < p->nw; i++)
            if (!p->w[i].alive && !p->w[i].used)
                slot = (int)i;
        /* a replacement for a lost worker */
        for (unsigned i = 0; slot < 0 && p->launcher->refill_slots && i < p->nw; i++)
            if (!p->w[i].alive)
                slot = (int)i;
    }
    if (slot < 0) {
        pthread_mutex_unlock(&p->lock);
        pdi_log(WHO, "refused worker from %s: %s", pdi_conn_peer(a.c),
                p->stopping ? "shutting down" : "all worker slots are taken");
        refuse(a.c, PYDRON_EBUSY, "all worker slots are taken");
        pdi_frame_free(&hello);
        pdi_conn_free(a.c);
        goto out;
    }
    pworker *w = &p->w[slot];
    int replacement = w->used; /* the slot had a worker that was lost */
    /* the previous occupant's reader may still be finishing (it may even be
     * the thread that started this replacement): join it at stop, and keep
     * its connection until then */
    if (w->have_reader) {
        if (pdi_grow((void **)&p->old_readers, &p->cap_old, p->nold + 1,
                     sizeof *p->old_readers) == 0) {
            p->old_readers[p->nold].th = w->reader;
            p->old_readers[p->nold++].c = w->c;
            w->c = NULL;
        }
        w->have_reader = 0;
    }
    if (w->c)
        pdi_conn_free(w->c);
    w->c = a.c;
    free(w->peer_url);
    w->peer_url = pdi_strdup(h->peer_url);
    snprintf(w->host, sizeof w->host, "%s", h->hostname);
    for (size_t i = 0; i < w->nkinds; i++)
        free(w->kinds[i]);
    free(w->kinds);
    w->nkinds = 0;
    w->kinds = calloc(h->n_kinds ? h->n_kinds : 1, sizeof *w->kinds);
    for (size_t i = 0; w->kinds && i < h->n_kinds; i++)
        if ((w->kinds[w->nkinds] = pdi_strdup(h->kinds[i])) != NULL)
            w->nkinds++;
    w->threads = h->threads ? h->threads : 1;
    w->shm = pdi_shm_same_host(h->host_id);
    w->supervised = (h->capabilities & 2) != 0;
    w->end[0] = 0;
    w->gen++;
    w->nrel = 0;
    w->nrcl = 0;
    w->pid = h->pid; /* informative; a spawned pid is kept in launched */
    w->njobs = 0;
    w->rtt_ns = w->dur_ns = 0;
    w->window = 0;

    /* welcome with the peers known so far */
    Pydron__Peer *pe = calloc(p->nw, sizeof *pe);
    Pydron__Peer **pps = calloc(p->nw, sizeof *pps);
    size_t np = 0;
    for (unsigned i = 0; pe && pps && i < p->nw; i++) {
        if (p->w[i].alive && p->w[i].peer_url) {
            pydron__peer__init(&pe[np]);
            pe[np].worker_id = (int32_t)i;
            pe[np].url = p->w[i].peer_url;
            pps[np] = &pe[np];
            np++;
        }
    }
    Pydron__Welcome wm = PYDRON__WELCOME__INIT;
    wm.worker_id = slot;
    wm.heartbeat_ms = p->hb_ms;
    wm.host_id = (char *)pdi_shm_host_id();
    wm.peers = pps;
    wm.n_peers = np;
    wm.inline_max = INLINE_MAX;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_WELCOME;
    f.welcome = &wm;
    rc = pdi_proc_send(a.c, &f);
    free(pe);
    free(pps);
    if (rc == 0) {
        rd_arg *ra = malloc(sizeof *ra);
        atomic_store(&w->last_recv_ns, pdi_now_ns());
        if (ra) {
            ra->p = p;
            ra->wi = (unsigned)slot;
            ra->gen = w->gen;
            ra->c = w->c;
            w->used = 1;
            w->alive = 1;
            if (pthread_create(&w->reader, NULL, pdi_proc_reader_thread, ra) == 0) {
                w->have_reader = 1;
                w->exit_known = 0;
                p->nconnected++;
                p->none_alive_since = 0; /* parked jobs go to it (service thread) */
            } else {
                w->alive = 0;
                free(ra);
                rc = PYDRON_ENOMEM;
            }
        } else {
            rc = PYDRON_ENOMEM;
        }
    }
    char *url = rc == 0 && w->peer_url ? pdi_strdup(w->peer_url) : NULL;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    if (rc == 0) {
        pdi_debug(WHO, "worker %d joined from %s (%s, pid %d, peers at %s)", slot,
                  pdi_conn_peer(a.c), h->hostname, h->pid, h->peer_url);
        pdi_proc_send_peer_update(p, (unsigned)slot, slot, url);
        pdi_proc_predecessor_ended(p, h->hostname, h->previous_pid, h->previous_end);
        if (replacement && p->host)
            pydron_exec_worker_ready(p->host, (unsigned)slot); /* work goes to it now */
    } else {
        pdi_log(WHO, "could not welcome worker from %s: %s", pdi_conn_peer(a.c),
                pydron_error_last());
    }
    free(url);
    pdi_frame_free(&hello);
out:
    pthread_mutex_lock(&p->lock);
    p->nhandshakes--;
    pthread_cond_broadcast(&p->cond);
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void *pdi_proc_acceptor_thread(void *arg)
{
    pdi_proc *p = arg;
    for (;;) {
        pdi_conn *c;
        int rc = pdi_listener_accept(p->l, &c);
        if (rc) {
            if (rc == PYDRON_ECLOSED)
                break;
            pthread_mutex_lock(&p->lock);
            int st = p->stopping;
            pthread_mutex_unlock(&p->lock);
            if (st)
                break;
            pdi_guard_accept_failed(p->guard, pydron_error_last());
            continue;
        }
        pdi_guard_accept_ok(p->guard);
        if (pdi_guard_enter(p->guard, c) != 0) {
            pdi_conn_free(c);
            continue;
        }
        hs_arg *a = malloc(sizeof *a);
        pthread_t th;
        pthread_attr_t at;
        if (!a) {
            pdi_guard_leave(p->guard, c);
            pdi_conn_free(c);
            continue;
        }
        a->p = p;
        a->c = c;
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            pdi_guard_leave(p->guard, c);
            pdi_conn_free(c);
            free(a);
            break;
        }
        if (pdi_grow((void **)&p->hs_conns, &p->cap_hs, p->nhs + 1, sizeof *p->hs_conns) != 0) {
            pthread_mutex_unlock(&p->lock);
            pdi_guard_leave(p->guard, c);
            pdi_conn_free(c);
            free(a);
            continue;
        }
        p->hs_conns[p->nhs++] = c;
        p->nhandshakes++;
        pthread_mutex_unlock(&p->lock);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        if (pthread_create(&th, &at, handshake_thread, a) != 0) {
            pthread_mutex_lock(&p->lock);
            p->nhandshakes--;
            hs_forget(p, c);
            pthread_mutex_unlock(&p->lock);
            pdi_guard_leave(p->guard, c);
            pdi_conn_free(c);
            free(a);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

