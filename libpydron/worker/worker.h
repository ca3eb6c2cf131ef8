/* worker.h - what the files of the worker loop share (worker.c: main loop
 * and frame dispatch; peers.c; tasks.c; sender.c). Nothing here is
 * exported. */
#ifndef PDI_WORKER_H
#define PDI_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pydron.h"
#include "runner/ctx.h"
#include "store/store.h"
#include "wire/wire.h"

#define WHO "worker"
#define HANDSHAKE_MS 10000
/*
 * Locks of a worker (docs/internals.md, "wire, worker, store, util"):
 *
 *   plock  (peers, peer servers)  ->  peer.lock  ->  the connection's locks
 *   qlock  (task queue)           leaf
 *   olock  (completion and fetch queues)  leaf
 *
 * plock is taken before a peer's lock (pdi_wk_peers_update) and never while
 * one is held; a peer's lock is held across a fetch round trip on that
 * peer's connection (pdi_conn_send/recv take the connection's own locks
 * inside). qlock and olock are leaves: nothing else is locked, and no I/O
 * is done, while either is held. The store's lock (store/store.c) is a leaf
 * too: it is taken under none of these.
 */

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
 * never wait on a write: see handle_frame in worker.c). */
typedef struct fetch_item {
    struct fetch_item *next;
    Pydron__Fetch f;
} fetch_item;

typedef struct done_item {
    struct done_item *next;
    uint64_t task_id, seq, start_ns, end_ns;
    uint64_t fetch_start_ns, fetch_end_ns;   /* inputs from peers (0: none) */
    int status;
    int shm_failed;     /* an input ShmRef could not be mapped */
    char *error;
    void *detail;
    size_t detail_len;
    size_t nout;
    uint64_t *ids;
    pdi_out *outs;      /* inline outputs (set) or stored ones (not set) */
    uint64_t *sizes;
    pdi_buf *notes;     /* nout notes of stored outputs (malloc'd data), else NULL */
} done_item;

typedef struct peer {
    int32_t id;
    char *url;
    pdi_conn *c;
    pthread_mutex_t lock; /* one fetch at a time on c */
    pthread_mutex_t clk;  /* c and next_url, for a peer update during a fetch */
    char *next_url;       /* set by an update that found a fetch under way */
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
    unsigned loops;          /* task loops still running (qlock) */
    pthread_cond_t loopcond; /* a task loop ended (qlock) */
    int reader_rc;           /* how the driver's connection ended */
    char *reader_msg;        /* ... and the error message, for the caller's thread */

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
    struct pdi_guard *guard; /* caps on peers' handshakes (wire/guard.h) */
    char peer_url[512];
    atomic_uint_fast64_t last_recv_ns;
    atomic_int lost;
} worker;

/* ---- peers.c: other workers' values ---- */
/* Apply a peer list (welcome or peer_update frame). Takes plock, then each
 * peer's lock. */
void pdi_wk_peers_update(worker *w, Pydron__Peer **ps, size_t n);
/* Fetch value id from worker `where`, peer to peer: a mapping of the
 * peer's shared memory when it can, else the bytes. Free *data with
 * pdi_shm_free. Holds that peer's lock during the round trip. */
int pdi_wk_peer_fetch(worker *w, int32_t where, uint64_t id, void **data, size_t *len);
/* Answer a Fetch from the store on connection c (the driver's or a peer's);
 * shm: the fetcher is on this host, so a memfd-backed value goes as a
 * ShmRef. */
int pdi_wk_serve_fetch(worker *w, pdi_conn *c, const Pydron__Fetch *f, int shm);
/* Thread: accept peer connections, one detached server thread each. */
void *pdi_wk_peer_accept_thread(void *arg);

/* ---- tasks.c: task threads ---- */
void pdi_wk_sf_unref(shared_frame *sf);
void pdi_wk_fail_item(done_item *d, int status, const char *msg);
/* Take tasks from the queue (qlock) and run them until stopping; the
 * calling thread of pydron_worker_main runs one, so that a task runs on the
 * process's main thread where the worker was started from it. */
void pdi_wk_task_loop(worker *w);
/* Thread: pdi_wk_task_loop, for the task threads after the first. */
void *pdi_wk_task_thread(void *arg);
/* Drop the queued tasks with these seqs (a Recall from the driver; qlock). */
void pdi_wk_recall(worker *w, const uint64_t *seqs, size_t n);

/* ---- sender.c: completions and heartbeats to the driver ---- */
/* Queue a completion for the sender (olock). */
void pdi_wk_done_push(worker *w, done_item *d);
/* Queue a fetch from the driver for the sender (olock); ENOMEM. */
int pdi_wk_fetch_push(worker *w, const Pydron__Fetch *f);
/* Wait until every completion queued so far has been written. */
void pdi_wk_flush_completions(worker *w);
void pdi_wk_done_free(done_item *d);
/* Thread: batch completions into frames, answer the driver's fetches,
 * send heartbeats, notice a silent driver. */
void *pdi_wk_sender_thread(void *arg);

#endif
