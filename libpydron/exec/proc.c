/* proc.c - driver side of the local and remote executors.
 *
 * Threads: an acceptor (plus a short-lived handshake thread per incoming
 * connection, so a slow or hostile peer cannot hold up others), one reader
 * per worker that turns completions into pydron_job_done and fetch replies
 * into pydron_exec_fetched, and a service thread for heartbeats, batched
 * releases and reaping child processes. submit() encodes a whole batch into
 * one frame and writes it on the caller's thread; it never waits for a
 * reply, so many tasks are in flight per worker (credit = in_flight). */
#include "exec/proc.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "exec/exec.h"
#include "util/sha256.h"
#include "util/util.h"
#include "wire/shmref.h"
#include "wire/wire.h"

extern char **environ;

#define WHO "driver"
#define HANDSHAKE_MS 10000
/* Stop closes every connection, so its threads end at once. If one does
 * not (an nng operation that escaped the close), stop closes again every
 * STOP_NUDGE_MS and gives up after STOP_GIVEUP_MS, logging it and leaving
 * the executor's memory behind: a leak is better than a hang. */
#define STOP_NUDGE_MS 100
#define STOP_GIVEUP_MS 30000
#define SHUTDOWN_SEND_MS 1000
#define DEFAULT_IN_FLIGHT 64
#define DEFAULT_HB_MS 1000
#define INLINE_MAX 4096 /* outputs up to this size come back with the completion */

typedef struct jobent {
    uint64_t seq;
    pydron_job *job;
    unsigned worker;
    struct jobent *next;
} jobent;

typedef struct fetchent {
    uint64_t value;
    unsigned worker;
    struct fetchent *next;
} fetchent;

typedef struct pworker {
    int used;            /* slot taken by a connected worker */
    int alive;
    unsigned gen;        /* bumped when the slot's worker changes */
    pdi_conn *c;
    pthread_t reader;
    int have_reader;
    pid_t pid;           /* local: the child process, else 0 */
    char *peer_url;
    char host[64];
    unsigned threads;    /* task threads the worker announced */
    int shm;             /* same host: inputs and fetches go by shared memory */
    int need_respawn;    /* local: start a replacement (service thread) */
    char **kinds;        /* runner kind names the worker announced */
    size_t nkinds;
    atomic_uint_fast64_t last_recv_ns;
    uint64_t *rel;       /* pending releases */
    size_t nrel, caprel;
} pworker;

struct pdi_proc {
    int remote;
    pydron_exec_host *host;
    /* options (copied) */
    unsigned nw, in_flight, hb_ms, max_wait_ms;
    char *worker_command;
    char **worker_args;
    char *listen_url, *cert, *key, *launch_command;
    char **launch_hosts;
    char *secret;
    size_t secret_len;
    /* local private directory */
    char dir[256], sock_path[320], secret_path[320];

    pthread_mutex_t lock;
    pthread_cond_t cond;
    pworker *w;
    unsigned nconnected;
    int stopping, started;
    uint64_t next_seq;
    jobent **jb;
    size_t njb;
    fetchent *fetches;

    pdi_listener *l;
    pthread_t acceptor, service;
    int have_acceptor, have_service;
    int nhandshakes;     /* handshake threads running */
    pdi_conn **hs_conns; /* their connections, closed by stop */
    size_t nhs, cap_hs;
    atomic_int abandoned; /* stop gave up on a thread: never free our memory */
    pid_t *launched;     /* worker processes (local, by slot) or launchers (remote) */
    size_t nlaunched;
    unsigned respawns;
    int warned_divert;
    struct { pthread_t th; pdi_conn *c; } *old_readers; /* replaced workers */
    size_t nold, cap_old;

    /* jobs whose kind no worker runs (C functions registered in the host
     * program) run here, in-process, like the threads executor would */
    pthread_t *lt;
    unsigned nlt;
    pydron_job **lq;
    size_t lq_head, lq_len, lq_cap;
    pthread_cond_t lcond;
};

/* ------------------------------------------------------------- jobs map */

static size_t jslot(const pdi_proc *p, uint64_t seq) { return (size_t)(seq * 0x9E3779B97F4A7C15ULL >> 40) & (p->njb - 1); }

static void job_put(pdi_proc *p, jobent *e)
{
    size_t k = jslot(p, e->seq);
    e->next = p->jb[k];
    p->jb[k] = e;
}

static jobent *job_take(pdi_proc *p, uint64_t seq, unsigned worker)
{
    for (jobent **pp = &p->jb[jslot(p, seq)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->seq == seq && (*pp)->worker == worker) {
            jobent *e = *pp;
            *pp = e->next;
            return e;
        }
    }
    return NULL;
}

/* All jobs of one worker (or all when worker == UINT_MAX), unlinked. */
static jobent *jobs_take_worker(pdi_proc *p, unsigned worker)
{
    jobent *out = NULL;
    for (size_t k = 0; k < p->njb; k++) {
        for (jobent **pp = &p->jb[k]; *pp;) {
            jobent *e = *pp;
            if (worker == UINT_MAX || e->worker == worker) {
                *pp = e->next;
                e->next = out;
                out = e;
            } else {
                pp = &e->next;
            }
        }
    }
    return out;
}

/* ----------------------------------------------------------- helpers */

static char *dupstr(const char *s) { return s ? pdi_strdup(s) : NULL; }

static char **dupv(const char *const *v)
{
    if (!v)
        return NULL;
    size_t n = 0;
    while (v[n])
        n++;
    char **o = calloc(n + 1, sizeof *o);
    if (!o)
        return NULL;
    for (size_t i = 0; i < n; i++)
        o[i] = pdi_strdup(v[i]);
    return o;
}

static void freev(char **v)
{
    if (!v)
        return;
    for (size_t i = 0; v[i]; i++)
        free(v[i]);
    free(v);
}

static int send_simple(pdi_conn *c, Pydron__Frame *f) { return pdi_conn_send(c, f, NULL, 0); }

static void send_peer_update(pdi_proc *p, unsigned except, int32_t id, const char *url)
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
        (void)send_simple(cs[i], &f); /* a failure shows up in that worker's reader */
    free(cs);
}

/* ---------------------------------------------------------- worker loss */

static int spawn_local(pdi_proc *p, unsigned id, pid_t *pid);
static int proc_submit(void *self, pydron_job *const *jobs_in, size_t n, unsigned wi);

static int cmp_seq(const void *a, const void *b)
{
    const jobent *x = *(jobent *const *)a, *y = *(jobent *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* Local: start a replacement in the same slot, so that the number of
 * workers stays what the core was told (bounded, against crash loops). */
static void respawn(pdi_proc *p, unsigned wi)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->respawns >= 16u * p->nw || wi >= p->nlaunched) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->respawns++;
    pid_t old = p->launched[wi];
    pthread_mutex_unlock(&p->lock);
    if (old > 0) {
        /* the old process may still be alive (connection dropped): make sure */
        kill(old, SIGKILL);
        waitpid(old, NULL, 0);
    }
    pid_t pid;
    int rc = spawn_local(p, wi, &pid);
    pthread_mutex_lock(&p->lock);
    p->launched[wi] = rc == 0 ? pid : 0;
    pthread_mutex_unlock(&p->lock);
    if (rc)
        pdi_log(WHO, "cannot replace worker %u: %s", wi, pydron_error_last());
    else
        pdi_debug(WHO, "worker %u replaced by pid %d", wi, (int)pid);
}

static void worker_gone(pdi_proc *p, unsigned wi, unsigned gen, const char *why)
{
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    if (!w->alive || w->gen != gen) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    w->alive = 0;
    pdi_conn *gone_c = w->c; /* the slot may get a new connection soon */
    int stopping = p->stopping;
    jobent *jobs = jobs_take_worker(p, wi);
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
    pthread_mutex_unlock(&p->lock);
    if (!stopping)
        pdi_log(WHO, "worker %u lost (%s)", wi, why);
    pdi_conn_close(gone_c);
    /* The worker runs its queue in order on `threads` threads: only the
     * oldest unfinished jobs can have been running. They come back as lost
     * (an attempt is charged); the others never started and go to another
     * worker uncharged, so that one crashing task does not use up the
     * retries of the innocent tasks queued behind it. */
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
    /* values only this worker had are recomputed or failed first, so that
     * the jobs returned below wait for inputs that are pending again
     * instead of being sent off to fetch them from a dead peer */
    if (!stopping)
        pydron_exec_worker_lost(p->host, wi);
    unsigned charged = w->threads ? w->threads : 1;
    pydron_job **again = NULL;
    size_t nagain = 0;
    if (arr && !stopping && n > charged)
        again = calloc(n - charged, sizeof *again);
    for (size_t k = 0; k < n; k++) {
        jobent *e = arr ? arr[k] : jobs;
        if (!arr)
            jobs = jobs->next;
        if (again && k >= charged)
            again[nagain++] = e->job;
        else
            pydron_job_done(e->job, stopping ? PYDRON_ECANCELED : PYDRON_EIO);
        free(e);
    }
    free(arr);
    while (fl) {
        fetchent *e = fl;
        fl = e->next;
        pydron_exec_fetched(p->host, (pydron_value){e->value}, PYDRON_EIO, NULL, 0, NULL, NULL);
        free(e);
    }
    if (!stopping) {
        send_peer_update(p, wi, (int32_t)wi, "");
        if (!p->remote) {
            /* from the long-lived service thread: PR_SET_PDEATHSIG follows
             * the spawning thread, and this reader thread ends now */
            pthread_mutex_lock(&p->lock);
            p->w[wi].need_respawn = 1;
            pthread_cond_broadcast(&p->cond);
            pthread_mutex_unlock(&p->lock);
        }
        if (nagain)
            (void)proc_submit(p, again, nagain, wi); /* reroutes: wi is gone */
        pydron_exec_wake(p->host);
    }
    free(again);
}

/* ---------------------------------------------------------------- reader */

static void free_seg(void *x) { free(x); }

static int on_completions(pdi_proc *p, unsigned wi, pdi_frame *in)
{
    Pydron__CompletionBatch *b = in->hdr->completions;
    for (size_t k = 0; k < b->n_done; k++) {
        Pydron__Completion *c = b->done[k];
        pthread_mutex_lock(&p->lock);
        jobent *e = job_take(p, c->seq, wi);
        pthread_mutex_unlock(&p->lock);
        if (!e) {
            pdi_debug(WHO, "worker %u: completion for unknown job %llu ignored", wi,
                      (unsigned long long)c->seq);
            continue;
        }
        pydron_job *j = e->job;
        free(e);
        int rc = c->status;
        if (c->shm_failed) {
            /* it cannot map our memory after all: bytes from now on */
            pdi_debug(WHO, "worker %u cannot map the driver's shared memory: %s", wi, c->error);
            pthread_mutex_lock(&p->lock);
            p->w[wi].shm = 0;
            pthread_mutex_unlock(&p->lock);
        }
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
                }
            }
        } else if (rc == PYDRON_EIO) {
            /* an input was unreachable: the core retries (and recomputes) */
            pdi_debug(WHO, "worker %u: job %llu: %s", wi, (unsigned long long)c->seq, c->error);
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
        pydron_job_done(j, rc);
    }
    pydron_exec_wake(p->host);
    return 0;
}

static int send_fetch(pdi_conn *c, uint64_t value, int no_shm)
{
    Pydron__Fetch fe = PYDRON__FETCH__INIT;
    fe.request_id = value;
    fe.value_id = value;
    fe.no_shm = no_shm != 0;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_FETCH;
    f.fetch = &fe;
    return send_simple(c, &f);
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
        e->next = p->fetches;
        p->fetches = e;
        pdi_conn *c = p->w[wi].c;
        pthread_mutex_unlock(&p->lock);
        if (send_fetch(c, v.id, 1) != 0)
            pdi_conn_close(c); /* reader: loss -> pending fetch fails with EIO */
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

typedef struct rd_arg {
    pdi_proc *p;
    unsigned wi, gen;
    pdi_conn *c;
} rd_arg;

static void *reader_thread(void *arg)
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
    worker_gone(p, a.wi, a.gen, why);
    return NULL;
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
    (void)send_simple(c, &f);
}

static void *handshake_thread(void *arg)
{
    hs_arg a = *(hs_arg *)arg;
    free(arg);
    pdi_proc *p = a.p;
    pdi_frame hello;
    int rc = pdi_auth_accept(a.c, p->secret, p->secret_len, HANDSHAKE_MS, &hello);
    /* from here on stop no longer closes a.c for us: it is freed below, or
     * becomes a worker's connection (under the lock, checking stopping) */
    pthread_mutex_lock(&p->lock);
    hs_forget(p, a.c);
    pthread_mutex_unlock(&p->lock);
    if (rc) {
        pdi_log(WHO, "refused connection from %s: %s", pdi_conn_peer(a.c), pydron_error_last());
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
    pthread_mutex_lock(&p->lock);
    int slot = -1;
    if (!p->stopping) {
        if (h->worker_id >= 0 && (unsigned)h->worker_id < p->nw && !p->w[h->worker_id].alive)
            slot = h->worker_id;
        for (unsigned i = 0; slot < 0 && i < p->nw; i++)
            if (!p->w[i].alive && !p->w[i].used)
                slot = (int)i;
        /* a replacement for a lost worker */
        for (unsigned i = 0; slot < 0 && p->remote && i < p->nw; i++)
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
    w->gen++;
    w->nrel = 0;
    if (!p->remote)
        w->pid = h->pid; /* informative; the spawned pid is kept in launched */

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
    rc = send_simple(a.c, &f);
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
            if (pthread_create(&w->reader, NULL, reader_thread, ra) == 0) {
                w->have_reader = 1;
                p->nconnected++;
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
        send_peer_update(p, (unsigned)slot, slot, url);
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

static void *acceptor_thread(void *arg)
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
            continue;
        }
        hs_arg *a = malloc(sizeof *a);
        pthread_t th;
        pthread_attr_t at;
        if (!a) {
            pdi_conn_free(c);
            continue;
        }
        a->p = p;
        a->c = c;
        pthread_mutex_lock(&p->lock);
        if (p->stopping) {
            pthread_mutex_unlock(&p->lock);
            pdi_conn_free(c);
            free(a);
            break;
        }
        if (pdi_grow((void **)&p->hs_conns, &p->cap_hs, p->nhs + 1, sizeof *p->hs_conns) != 0) {
            pthread_mutex_unlock(&p->lock);
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
            pdi_conn_free(c);
            free(a);
        }
        pthread_attr_destroy(&at);
    }
    return NULL;
}

/* ---------------------------------------------------------------- service */

/* Move worker wi's pending releases out (lock held); *n = 0 if none. */
static uint64_t *take_releases_locked(pdi_proc *p, unsigned wi, size_t *n)
{
    pworker *w = &p->w[wi];
    *n = 0;
    if (!w->alive || w->nrel == 0)
        return NULL;
    uint64_t *ids = w->rel;
    *n = w->nrel;
    w->rel = NULL;
    w->nrel = w->caprel = 0;
    return ids;
}

/* Send (lock NOT held) and free a taken release list. */
static void send_releases(pdi_conn *c, uint64_t *ids, size_t n)
{
    if (n) {
        Pydron__Release r = PYDRON__RELEASE__INIT;
        r.value_ids = ids;
        r.n_value_ids = n;
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = PYDRON__FRAME__BODY_RELEASE;
        f.release = &r;
        (void)send_simple(c, &f);
    }
    free(ids);
}

static void *service_thread(void *arg)
{
    pdi_proc *p = arg;
    uint64_t hb_ns = (uint64_t)p->hb_ms * 1000000ull, last_hb = pdi_now_ns(), seq = 0;
    uint64_t dead_ns = hb_ns * 10 < 3000000000ull ? 3000000000ull : hb_ns * 10;
    struct {
        pdi_conn *c;
        uint64_t *rel;
        size_t nrel;
    } *out = calloc(p->nw, sizeof *out);
    if (!out)
        return NULL;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->stopping)
            break;
        uint64_t now = pdi_now_ns();
        int beat = now - last_hb >= hb_ns;
        if (beat)
            last_hb = now;
        /* collect under the lock, write without it */
        for (unsigned i = 0; i < p->nw; i++) {
            out[i].c = p->w[i].alive ? p->w[i].c : NULL;
            out[i].rel = take_releases_locked(p, i, &out[i].nrel);
        }
        pthread_mutex_unlock(&p->lock);
        for (unsigned i = 0; i < p->nw; i++) {
            if (!out[i].c)
                continue;
            send_releases(out[i].c, out[i].rel, out[i].nrel);
            if (beat) {
                Pydron__Heartbeat h = PYDRON__HEARTBEAT__INIT;
                h.seq = ++seq;
                h.time_ns = now;
                Pydron__Frame f = PYDRON__FRAME__INIT;
                f.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
                f.heartbeat = &h;
                (void)send_simple(out[i].c, &f);
            }
        }
        pthread_mutex_lock(&p->lock);
        for (unsigned i = 0; i < p->nw; i++) {
            pworker *w = &p->w[i];
            if (!w->alive)
                continue;
            uint64_t lr = atomic_load(&w->last_recv_ns);
            if (now > lr && now - lr > dead_ns) {
                pdi_log(WHO, "worker %u missed its heartbeats (%llu ms silent)", i,
                        (unsigned long long)((now - lr) / 1000000ull));
                pdi_conn_close(w->c); /* its reader reports the loss */
                atomic_store(&w->last_recv_ns, now);
            }
        }
        for (unsigned i = 0; i < p->nw && !p->remote; i++) {
            if (p->w[i].need_respawn) {
                p->w[i].need_respawn = 0;
                pthread_mutex_unlock(&p->lock);
                respawn(p, i);
                pthread_mutex_lock(&p->lock);
            }
        }
        /* reap exited children (no zombies); the connection drop reports loss */
        for (size_t i = 0; i < p->nlaunched; i++) {
            if (p->launched[i] > 0) {
                int st;
                if (waitpid(p->launched[i], &st, WNOHANG) == p->launched[i])
                    p->launched[i] = -p->launched[i];
            }
        }
    }
    pthread_mutex_unlock(&p->lock);
    free(out);
    return NULL;
}

/* ------------------------------------------------------------ launching */

static int find_worker_command(pdi_proc *p, char *out, size_t n)
{
    const char *env = getenv("PYDRON_WORKER");
    if (p->worker_command) {
        snprintf(out, n, "%s", p->worker_command);
        return 0;
    }
    if (env && *env) {
        snprintf(out, n, "%s", env);
        return 0;
    }
    /* next to the library (build tree) or in ../bin (installed) */
    Dl_info di;
    if (dladdr((void *)&pdi_proc_new, &di) && di.dli_fname) {
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", di.dli_fname);
        char *slash = strrchr(dir, '/');
        if (slash) {
            *slash = 0;
            if (snprintf(out, n, "%s/pydron-worker", dir) < (int)n && access(out, X_OK) == 0)
                return 0;
            if (snprintf(out, n, "%s/../bin/pydron-worker", dir) < (int)n &&
                access(out, X_OK) == 0)
                return 0;
        }
    }
    snprintf(out, n, "pydron-worker"); /* PATH */
    return 0;
}

/* Environment for children: ours plus the PYDRON_* cleanup hints. */
static char **child_env(pdi_proc *p)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **e = calloc(n + 4, sizeof *e);
    if (!e)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PYDRON_PARENT_PID=", 18) != 0 &&
            strncmp(environ[i], "PYDRON_PRIVATE_DIR=", 19) != 0 &&
            strncmp(environ[i], "PYDRON_SECRET_FILE_CLEANUP=", 27) != 0)
            e[k++] = environ[i];
    e[k++] = pdi_asprintf("PYDRON_PARENT_PID=%d", (int)getpid());
    if (p->dir[0]) {
        e[k++] = pdi_asprintf("PYDRON_PRIVATE_DIR=%s", p->dir);
        e[k++] = pdi_asprintf("PYDRON_SECRET_FILE_CLEANUP=%s", p->secret_path);
    }
    e[k] = NULL;
    return e;
}

static void free_child_env(char **e)
{
    if (!e)
        return;
    size_t n = 0;
    while (environ[n])
        n++;
    /* only the entries we allocated (after the copied ones) */
    for (size_t i = 0; e[i]; i++)
        if (strncmp(e[i], "PYDRON_PARENT_PID=", 18) == 0 ||
            strncmp(e[i], "PYDRON_PRIVATE_DIR=", 19) == 0 ||
            strncmp(e[i], "PYDRON_SECRET_FILE_CLEANUP=", 27) == 0)
            free(e[i]);
    free(e);
}

static int spawn_local(pdi_proc *p, unsigned id, pid_t *pid)
{
    char cmd[PATH_MAX], ids[16];
    find_worker_command(p, cmd, sizeof cmd);
    snprintf(ids, sizeof ids, "%u", id);
    size_t na = 0;
    while (p->worker_args && p->worker_args[na])
        na++;
    const char **argv = calloc(na + 12, sizeof *argv);
    char **env = child_env(p);
    if (!argv || !env) {
        free(argv);
        free_child_env(env);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    size_t k = 0;
    argv[k++] = cmd;
    for (size_t i = 0; i < na; i++)
        argv[k++] = p->worker_args[i];
    char url[400];
    snprintf(url, sizeof url, "ipc://%s", p->sock_path);
    argv[k++] = "--connect";
    argv[k++] = url;
    argv[k++] = "--secret-file";
    argv[k++] = p->secret_path;
    argv[k++] = "--id";
    argv[k++] = ids;
    argv[k++] = "--exit-with-parent";
    argv[k] = NULL;
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    /* own process group: a Ctrl-C at the driver's terminal reaches the
     * driver only (it decides; workers stop with it, through the
     * connection and the parent-death signal) */
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                      POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGPIPE);
    posix_spawnattr_setsigmask(&at, &none);
    posix_spawnattr_setsigdefault(&at, &def);
    int err = posix_spawnp(pid, cmd, NULL, &at, (char *const *)argv, env);
    posix_spawnattr_destroy(&at);
    free(argv);
    free_child_env(env);
    if (err)
        return pdi_err(PYDRON_EIO, "cannot start worker %s: %s", cmd, strerror(err));
    return 0;
}

/* Substitute {url} {id} {host} {secret_file} in the launch template. */
static char *expand(const char *tpl, const char *url, unsigned id, const char *host,
                    const char *secret_file)
{
    pdi_str s = {0};
    char ids[16];
    snprintf(ids, sizeof ids, "%u", id);
    for (const char *c = tpl; *c;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (strncmp(c, "{url}", 5) == 0) rep = url, skip = 5;
        else if (strncmp(c, "{id}", 4) == 0) rep = ids, skip = 4;
        else if (strncmp(c, "{host}", 6) == 0) rep = host, skip = 6;
        else if (strncmp(c, "{secret_file}", 13) == 0) rep = secret_file, skip = 13;
        if (rep) {
            pdi_str_puts(&s, rep);
            c += skip;
        } else {
            char ch[2] = {*c, 0};
            pdi_str_puts(&s, ch);
            c++;
        }
    }
    if (s.oom) {
        free(s.buf);
        return NULL;
    }
    return s.buf ? s.buf : pdi_strdup("");
}

static int launch_remote(pdi_proc *p)
{
    size_t nh = 0;
    while (p->launch_hosts && p->launch_hosts[nh])
        nh++;
    p->launched = calloc(p->nw, sizeof *p->launched);
    if (!p->launched)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    char **env = child_env(p);
    for (unsigned i = 0; i < p->nw; i++) {
        const char *host = nh ? p->launch_hosts[i % nh] : "localhost";
        char *cmd = expand(p->launch_command, pdi_listener_url(p->l), i, host, p->secret_path);
        if (!cmd) {
            free_child_env(env);
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        }
        const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        pid_t pid;
        int err = posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *)argv, env);
        pdi_debug(WHO, "launch: %s", cmd);
        free(cmd);
        if (err) {
            free_child_env(env);
            return pdi_err(PYDRON_EIO, "cannot run the launch command: %s", strerror(err));
        }
        p->launched[p->nlaunched++] = pid;
    }
    free_child_env(env);
    return 0;
}

/* ---------------------------------------------------------------- setup */

static int make_private_dir(pdi_proc *p)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || !*base || access(base, W_OK) != 0)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(p->dir, sizeof p->dir, "%s/pydron-XXXXXX", base);
    if (strlen(p->dir) > 80) /* ipc socket paths must stay short (sun_path) */
        snprintf(p->dir, sizeof p->dir, "/tmp/pydron-XXXXXX");
    if (!mkdtemp(p->dir)) { /* mode 0700 */
        int e = errno;
        p->dir[0] = 0;
        return pdi_err(PYDRON_EIO, "cannot create a private directory: %s", strerror(e));
    }
    snprintf(p->sock_path, sizeof p->sock_path, "%s/driver.sock", p->dir);
    snprintf(p->secret_path, sizeof p->secret_path, "%s/secret", p->dir);
    return 0;
}

static int write_secret_file(pdi_proc *p)
{
    int fd = open(p->secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return pdi_err(PYDRON_EIO, "cannot write %s: %s", p->secret_path, strerror(errno));
    ssize_t w = write(fd, p->secret, p->secret_len);
    close(fd);
    if (w != (ssize_t)p->secret_len)
        return pdi_err(PYDRON_EIO, "cannot write %s", p->secret_path);
    return 0;
}

static void remove_private_dir(pdi_proc *p)
{
    if (!p->dir[0])
        return;
    /* everything in it is ours: sockets of workers that were killed before
     * they could unlink them, the secret, the listening socket */
    DIR *d = opendir(p->dir);
    struct dirent *e;
    char path[PATH_MAX];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", p->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    if (rmdir(p->dir) != 0 && errno != ENOENT)
        pdi_log(WHO, "cannot remove %s: %s", p->dir, strerror(errno));
    p->dir[0] = 0;
}

int pdi_proc_new(const pydron_runtime_options *o, int remote, pdi_proc **out)
{
    pydron_runtime_options d = PYDRON_RUNTIME_OPTIONS_INIT;
    if (!o)
        o = &d;
    if (remote && (!o->secret || !*o->secret) && !getenv("PYDRON_SECRET"))
        return pdi_err(PYDRON_EINVAL,
                       "the remote executor needs a shared secret (options.secret or "
                       "PYDRON_SECRET)");
    if (remote && ((o->tls_cert_file != NULL) != (o->tls_key_file != NULL)))
        return pdi_err(PYDRON_EINVAL, "TLS needs both tls_cert_file and tls_key_file");
    pdi_proc *p = calloc(1, sizeof *p);
    if (!p)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    p->remote = remote;
    p->nw = o->workers ? o->workers : (remote ? 1 : pdi_ncpus());
    p->in_flight = o->in_flight ? o->in_flight : DEFAULT_IN_FLIGHT;
    p->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : DEFAULT_HB_MS;
    const char *mw = getenv("PYDRON_CONNECT_TIMEOUT_MS");
    p->max_wait_ms = mw && atoi(mw) > 0 ? (unsigned)atoi(mw) : (remote ? 60000u : 15000u);
    p->worker_command = dupstr(o->worker_command);
    p->worker_args = dupv(o->worker_args);
    p->listen_url = dupstr(o->listen_url ? o->listen_url : "tcp://127.0.0.1:0");
    p->cert = dupstr(o->tls_cert_file);
    p->key = dupstr(o->tls_key_file);
    p->launch_command = dupstr(o->launch_command);
    p->launch_hosts = dupv(o->launch_hosts);
    p->w = calloc(p->nw, sizeof *p->w);
    p->njb = 1024;
    p->jb = calloc(p->njb, sizeof *p->jb);
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_cond_init(&p->lcond, NULL);
    if (remote) {
        const char *s = o->secret && *o->secret ? o->secret : getenv("PYDRON_SECRET");
        p->secret = pdi_strdup(s);
        p->secret_len = strlen(s);
    } else {
        /* a fresh secret per executor: other local users cannot connect
         * even if they could reach the socket */
        uint8_t r[24];
        p->secret = malloc(2 * sizeof r + 1);
        if (p->secret && pdi_random_bytes(r, sizeof r) == 0) {
            for (size_t i = 0; i < sizeof r; i++)
                snprintf(p->secret + 2 * i, 3, "%02x", r[i]);
            p->secret_len = 2 * sizeof r;
        } else {
            free(p->secret);
            p->secret = NULL;
        }
    }
    if (!p->w || !p->jb || !p->secret || !p->listen_url) {
        pydron_executor_ops const *ops = remote ? &pdi_proc_ops_remote : &pdi_proc_ops_local;
        ops->destroy(p);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------- ops */

static void proc_stop(void *self);

static int proc_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    pdi_proc *p = self;
    int rc;
    if (p->started)
        return pdi_err(PYDRON_ESTATE, "executor already started");
    p->started = 1;
    p->host = host;
    /* a worker that dies must not take the driver down with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    if (!p->remote) {
        if ((rc = make_private_dir(p)) != 0 || (rc = write_secret_file(p)) != 0)
            goto fail;
        char url[400];
        snprintf(url, sizeof url, "ipc://%s", p->sock_path);
        if ((rc = pdi_listener_open(url, NULL, NULL, &p->l)) != 0)
            goto fail;
    } else {
        if ((rc = pdi_listener_open(p->listen_url, p->cert, p->key, &p->l)) != 0)
            goto fail;
        if (p->launch_command) {
            /* the secret reaches launched workers through a private file */
            if ((rc = make_private_dir(p)) != 0 || (rc = write_secret_file(p)) != 0)
                goto fail;
        }
        pdi_log(WHO, "remote executor listening on %s; start workers with: pydron-worker "
                     "--connect %s (secret in PYDRON_SECRET or --secret-file)",
                pdi_listener_url(p->l), pdi_listener_url(p->l));
    }
    if (pthread_create(&p->acceptor, NULL, acceptor_thread, p) != 0) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start the acceptor thread");
        goto fail;
    }
    p->have_acceptor = 1;
    if (pthread_create(&p->service, NULL, service_thread, p) != 0) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start the service thread");
        goto fail;
    }
    p->have_service = 1;
    if (!p->remote) {
        p->launched = calloc(p->nw, sizeof *p->launched);
        if (!p->launched) {
            rc = pdi_err(PYDRON_ENOMEM, "out of memory");
            goto fail;
        }
        for (unsigned i = 0; i < p->nw; i++) {
            pid_t pid;
            if ((rc = spawn_local(p, i, &pid)) != 0)
                goto fail;
            pthread_mutex_lock(&p->lock);
            p->launched[p->nlaunched++] = pid;
            pthread_mutex_unlock(&p->lock);
        }
    } else if (p->launch_command) {
        pthread_mutex_lock(&p->lock);
        rc = launch_remote(p);
        pthread_mutex_unlock(&p->lock);
        if (rc)
            goto fail;
    }
    /* wait until every worker has joined */
    uint64_t deadline = pdi_now_ns() + (uint64_t)p->max_wait_ms * 1000000ull;
    pthread_mutex_lock(&p->lock);
    while (p->nconnected < p->nw) {
        uint64_t now = pdi_now_ns();
        if (now >= deadline)
            break;
        if (!p->remote) {
            /* a child that died before joining: say why now, not at timeout */
            int dead = 0, st = 0;
            for (size_t i = 0; i < p->nlaunched; i++) {
                if (p->launched[i] > 0 && !p->w[i].used &&
                    waitpid(p->launched[i], &st, WNOHANG) == p->launched[i]) {
                    p->launched[i] = -p->launched[i];
                    dead = 1;
                    break;
                }
            }
            if (dead) {
                pthread_mutex_unlock(&p->lock);
                rc = pdi_err(PYDRON_EIO, "a worker process exited before joining (status %d%s)",
                             WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                             WIFEXITED(st) && WEXITSTATUS(st) == 127
                                 ? ": pydron-worker not found; set worker_command"
                                 : "");
                goto fail;
            }
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    unsigned got = p->nconnected;
    pthread_mutex_unlock(&p->lock);
    if (got < p->nw) {
        rc = pdi_err(PYDRON_ETIMEDOUT, "only %u of %u workers joined within %u ms", got, p->nw,
                     p->max_wait_ms);
        goto fail;
    }
    *nworkers = p->nw;
    *in_flight = p->in_flight;
    return 0;
fail:
    {
        char *msg = pdi_strdup(pydron_error_last());
        proc_stop(p);
        pdi_err(rc, "%s", msg ? msg : "cannot start workers");
        free(msg);
    }
    return rc;
}

static void *local_thread(void *arg)
{
    pdi_proc *p = arg;
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (p->lq_len == 0 && !p->stopping)
            pthread_cond_wait(&p->lcond, &p->lock);
        if (p->lq_len == 0 && p->stopping)
            break;
        pydron_job *j = p->lq[p->lq_head];
        p->lq_head = (p->lq_head + 1) % p->lq_cap;
        p->lq_len--;
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
    if (p->lq_len == p->lq_cap) {
        size_t nc = p->lq_cap ? p->lq_cap * 2 : 256;
        pydron_job **nq = malloc(nc * sizeof *nq);
        if (!nq)
            return PYDRON_ENOMEM;
        for (size_t i = 0; i < p->lq_len; i++)
            nq[i] = p->lq[(p->lq_head + i) % p->lq_cap];
        free(p->lq);
        p->lq = nq;
        p->lq_cap = nc;
        p->lq_head = 0;
    }
    if (!p->lt) {
        p->lt = calloc(p->nw, sizeof *p->lt);
        for (unsigned i = 0; p->lt && i < p->nw; i++)
            if (pthread_create(&p->lt[i], NULL, local_thread, p) == 0)
                p->nlt++;
        if (p->nlt == 0)
            return PYDRON_ENOMEM;
    }
    p->lq[(p->lq_head + p->lq_len) % p->lq_cap] = j;
    p->lq_len++;
    pthread_cond_signal(&p->lcond);
    return 0;
}

static int worker_has_kind(const pworker *w, const char *kind)
{
    for (size_t i = 0; i < w->nkinds; i++)
        if (strcmp(w->kinds[i], kind) == 0)
            return 1;
    return 0;
}

/* Jobs the worker cannot run: run them in-process when their inputs are
 * here, else fail them with a message that says what to do. Returns how
 * many of jobs[] were kept for the worker (compacted to the front). */
static size_t divert_unrunnable(pdi_proc *p, unsigned wi, pydron_job **jobs, size_t n)
{
    size_t keep = 0;
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    for (size_t i = 0; i < n; i++) {
        pydron_job *j = jobs[i];
        const char *kind = pydron_job_kind_name(j);
        if (!w->alive || worker_has_kind(w, kind)) {
            jobs[keep++] = j;
            continue;
        }
        int local = 1;
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
                pdi_debug(WHO, "kind '%s' has no runner in worker %u: running it in-process",
                          kind, wi);
            }
            continue;
        }
        pthread_mutex_unlock(&p->lock);
        char *m = pdi_asprintf("kind '%s' has no runner in the worker processes and its inputs "
                               "are not in the driver; use pydron.ffi or a worker runner",
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
 * pick a worker whose loss it has not processed yet); a local executor
 * waits a little for a replacement when none is left. */
static unsigned route(pdi_proc *p, unsigned wi)
{
    pthread_mutex_lock(&p->lock);
    uint64_t deadline = pdi_now_ns() + 10000000000ull;
    while (!p->w[wi].alive && !p->stopping) {
        unsigned alt = UINT_MAX;
        for (unsigned k = 1; k <= p->nw && alt == UINT_MAX; k++)
            if (p->w[(wi + k) % p->nw].alive)
                alt = (wi + k) % p->nw;
        if (alt != UINT_MAX) {
            wi = alt;
            break;
        }
        if (p->remote || pdi_now_ns() > deadline)
            break;
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        ts.tv_nsec += 20 * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    pthread_mutex_unlock(&p->lock);
    return wi;
}

static int proc_submit(void *self, pydron_job *const *jobs_in, size_t n, unsigned wi)
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
    pthread_mutex_unlock(&p->lock);
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
                in->segment = (int32_t)ks;
                segs[ks].data = data;
                segs[ks++].len = len;
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

    /* register the jobs before sending: the reply can beat us back */
    ents = calloc(n ? n : 1, sizeof *ents);
    for (size_t i = 0; ents && i < n; i++) {
        if (!(ents[i] = malloc(sizeof **ents))) {
            for (size_t x = 0; x < i; x++)
                free(ents[x]);
            free(ents);
            ents = NULL;
        }
    }
    if (!ents) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        goto out;
    }
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    if (!w->alive || p->stopping) {
        pthread_mutex_unlock(&p->lock);
        for (size_t i = 0; i < n; i++)
            free(ents[i]);
        /* the core hears about the loss through worker_lost; these come
         * back to be re-run elsewhere */
        for (size_t i = 0; i < n; i++)
            pydron_job_done(jobs[i], p->stopping ? PYDRON_ECANCELED : PYDRON_EIO);
        goto out;
    }
    for (size_t i = 0; i < n; i++) {
        ents[i]->seq = seq0 + i + 1;
        ents[i]->job = jobs[i];
        ents[i]->worker = wi;
        job_put(p, ents[i]);
    }
    /* piggy-back pending releases */
    size_t nrel;
    uint64_t *rel = take_releases_locked(p, wi, &nrel);
    f.releases = rel;
    f.n_releases = nrel;
    pdi_conn *c = w->c;
    pthread_mutex_unlock(&p->lock);
    /* written without p->lock (the worker may be waiting for our reader,
     * which needs it); the jobs are registered, so a loss in between
     * returns them through worker_gone */
    int src = pdi_conn_send(c, &f, segs, ks);
    free(rel);
    if (src)
        pdi_conn_close(c); /* the reader reports the loss and returns the jobs */
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

static int proc_fetch(void *self, pydron_value v, unsigned wi)
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
    e->next = p->fetches;
    p->fetches = e;
    pdi_conn *c = p->w[wi].c;
    int no_shm = !p->w[wi].shm;
    pthread_mutex_unlock(&p->lock);
    if (send_fetch(c, v.id, no_shm) != 0)
        pdi_conn_close(c); /* reader: loss -> pending fetch fails with EIO */
    return 0;
}

static void proc_release(void *self, pydron_value v, unsigned wi)
{
    pdi_proc *p = self;
    if (wi >= p->nw)
        return;
    pthread_mutex_lock(&p->lock);
    pworker *w = &p->w[wi];
    if (w->alive && pdi_grow((void **)&w->rel, &w->caprel, w->nrel + 1, sizeof *w->rel) == 0)
        w->rel[w->nrel++] = v.id;
    size_t n = 0;
    uint64_t *ids = w->nrel >= 4096 ? take_releases_locked(p, wi, &n) : NULL;
    pdi_conn *c = w->c;
    pthread_mutex_unlock(&p->lock);
    if (ids)
        send_releases(c, ids, n);
}

/* Stop's helpers for threads that must end: close what they may be
 * waiting on (again: harmless, and it catches an operation that slipped
 * past an earlier close). */
static void close_workers(pdi_proc *p, void *unused)
{
    (void)unused;
    pthread_mutex_lock(&p->lock);
    for (unsigned i = 0; i < p->nw; i++)
        if (p->w[i].c)
            pdi_conn_close(p->w[i].c);
    for (size_t i = 0; i < p->nold; i++)
        pdi_conn_close(p->old_readers[i].c);
    pthread_mutex_unlock(&p->lock);
}

static void close_handshakes(pdi_proc *p, void *unused)
{
    (void)unused;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->nhs; i++)
        pdi_conn_close(p->hs_conns[i]);
    pthread_mutex_unlock(&p->lock);
}

static void close_listener(pdi_proc *p, void *unused)
{
    (void)unused;
    if (p->l)
        pdi_listener_close(p->l);
}

static void close_conn(pdi_proc *p, void *c)
{
    (void)p;
    pdi_conn_close(c);
}

static struct timespec abs_in_ms(unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)ms * 1000000ull;
    ts.tv_sec += (time_t)(ns / 1000000000ull);
    ts.tv_nsec = (long)(ns % 1000000000ull);
    return ts;
}

/* Join th: after a second, nudge every STOP_NUDGE_MS; after giveup_ns
 * (one more nudge at least) leave it behind: logged, detached, p marked
 * abandoned. */
static void join_bounded(pdi_proc *p, pthread_t th, const char *what, uint64_t giveup_ns,
                         void (*nudge)(pdi_proc *, void *), void *arg)
{
    for (int tries = 0;; tries++) {
        struct timespec ts = abs_in_ms(tries == 0 ? 1000 : STOP_NUDGE_MS);
        int r = pthread_timedjoin_np(th, NULL, &ts);
        if (r != ETIMEDOUT)
            return;
        if (tries > 0 && pdi_now_ns() > giveup_ns) {
            pdi_log(WHO, "%s did not stop within %u s; leaving it behind (its memory is not "
                         "freed)", what, STOP_GIVEUP_MS / 1000);
            pthread_detach(th);
            atomic_store(&p->abandoned, 1);
            return;
        }
        if (tries == 0)
            pdi_log(WHO, "stopping: %s is still running after 1 s; closing its connections "
                         "again", what);
        if (nudge)
            nudge(p, arg);
    }
}

static void proc_stop(void *self)
{
    pdi_proc *p = self;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    Pydron__Shutdown sd = PYDRON__SHUTDOWN__INIT;
    sd.reason = "driver stopping";
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_SHUTDOWN;
    f.shutdown = &sd;
    pdi_conn **cs = calloc(p->nw, sizeof *cs);
    size_t nc = 0;
    for (unsigned i = 0; cs && i < p->nw; i++)
        if (p->w[i].alive)
            cs[nc++] = p->w[i].c;
    pthread_mutex_unlock(&p->lock);
    /* bounded: a worker that does not read (stopped, or its host gone)
     * must not hold up the stop; it loses its connection instead */
    for (size_t i = 0; i < nc; i++)
        if (pdi_conn_send_timeout(cs[i], &f, NULL, 0, SHUTDOWN_SEND_MS) != 0)
            pdi_conn_close(cs[i]);
    free(cs);

    pthread_mutex_lock(&p->lock);
    pthread_cond_broadcast(&p->lcond);
    pthread_mutex_unlock(&p->lock);
    for (unsigned i = 0; i < p->nlt; i++)
        pthread_join(p->lt[i], NULL);
    p->nlt = 0;
    uint64_t giveup = pdi_now_ns() + (uint64_t)STOP_GIVEUP_MS * 1000000ull;
    if (p->l)
        pdi_listener_close(p->l);
    if (p->have_acceptor)
        join_bounded(p, p->acceptor, "the acceptor thread", giveup, close_listener, NULL);
    p->have_acceptor = 0;
    /* the service thread may be writing to a worker that does not read:
     * after a moment, its connection is closed */
    if (p->have_service)
        join_bounded(p, p->service, "the service thread", giveup, close_workers, NULL);
    p->have_service = 0;
    /* handshakes in progress: close them rather than wait out their
     * timeout (a peer with the wrong secret may be slow to go) */
    close_handshakes(p, NULL);
    pthread_mutex_lock(&p->lock);
    while (p->nhandshakes > 0) {
        struct timespec ts = abs_in_ms(STOP_NUDGE_MS);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->nhandshakes == 0)
            break;
        if (pdi_now_ns() > giveup) {
            pdi_log(WHO, "%d handshake thread(s) did not stop within %u s; leaving them behind",
                    p->nhandshakes, STOP_GIVEUP_MS / 1000);
            atomic_store(&p->abandoned, 1);
            break;
        }
        for (size_t i = 0; i < p->nhs; i++)
            pdi_conn_close(p->hs_conns[i]);
    }
    pthread_mutex_unlock(&p->lock);

    /* give workers a moment to exit on their own, then insist */
    uint64_t deadline = pdi_now_ns() + 2000000000ull;
    for (size_t i = 0; i < p->nlaunched; i++) {
        while (p->launched[i] > 0) {
            int st;
            pid_t r = waitpid(p->launched[i], &st, WNOHANG);
            if (r == p->launched[i] || (r < 0 && errno == ECHILD)) {
                p->launched[i] = -p->launched[i];
                break;
            }
            if (pdi_now_ns() > deadline) {
                kill(p->launched[i], SIGKILL);
                waitpid(p->launched[i], &st, 0);
                p->launched[i] = -p->launched[i];
                break;
            }
            usleep(2000);
        }
    }
    close_workers(p, NULL);
    for (unsigned i = 0; i < p->nw; i++) {
        if (p->w[i].have_reader) {
            char what[64];
            snprintf(what, sizeof what, "the reader of worker %u", i);
            join_bounded(p, p->w[i].reader, what, giveup, close_conn, p->w[i].c);
            p->w[i].have_reader = 0;
        }
    }
    for (size_t i = 0; i < p->nold; i++) {
        pdi_conn_close(p->old_readers[i].c);
        join_bounded(p, p->old_readers[i].th, "the reader of a replaced worker", giveup,
                     close_conn, p->old_readers[i].c);
        if (!atomic_load(&p->abandoned))
            pdi_conn_free(p->old_readers[i].c);
    }
    p->nold = 0;
    /* anything still registered comes back canceled */
    pthread_mutex_lock(&p->lock);
    jobent *left = jobs_take_worker(p, UINT_MAX);
    fetchent *fl = p->fetches;
    p->fetches = NULL;
    pthread_mutex_unlock(&p->lock);
    while (left) {
        jobent *e = left;
        left = e->next;
        pydron_job_done(e->job, PYDRON_ECANCELED);
        free(e);
    }
    while (fl) {
        fetchent *e = fl;
        fl = e->next;
        pydron_exec_fetched(p->host, (pydron_value){e->value}, PYDRON_ECANCELED, NULL, 0, NULL,
                            NULL);
        free(e);
    }
    remove_private_dir(p);
}

static void proc_destroy(void *self)
{
    pdi_proc *p = self;
    if (!p)
        return;
    if (p->started)
        proc_stop(p);
    if (atomic_load(&p->abandoned)) {
        /* a thread that did not stop may still use any of it */
        pdi_log(WHO, "executor state left allocated: a thread did not stop");
        return;
    }
    if (p->l)
        pdi_listener_free(p->l);
    for (unsigned i = 0; p->w && i < p->nw; i++) {
        if (p->w[i].c)
            pdi_conn_free(p->w[i].c);
        free(p->w[i].peer_url);
        free(p->w[i].rel);
        for (size_t k = 0; k < p->w[i].nkinds; k++)
            free(p->w[i].kinds[k]);
        free(p->w[i].kinds);
    }
    free(p->w);
    free(p->jb);
    free(p->lt);
    free(p->lq);
    free(p->old_readers);
    free(p->hs_conns);
    pthread_cond_destroy(&p->lcond);
    free(p->launched);
    free(p->worker_command);
    freev(p->worker_args);
    free(p->listen_url);
    free(p->cert);
    free(p->key);
    free(p->launch_command);
    freev(p->launch_hosts);
    if (p->secret) {
        memset(p->secret, 0, p->secret_len);
        free(p->secret);
    }
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}

const pydron_executor_ops pdi_proc_ops_local = {
    PYDRON_EXECUTOR_OPS_VERSION, "local", proc_start, proc_submit, NULL,
    proc_fetch, proc_release, proc_stop, proc_destroy};

const pydron_executor_ops pdi_proc_ops_remote = {
    PYDRON_EXECUTOR_OPS_VERSION, "remote", proc_start, proc_submit, NULL,
    proc_fetch, proc_release, proc_stop, proc_destroy};
