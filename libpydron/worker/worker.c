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
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "runner/ctx.h"
#include "runner/ffi.h"
#include "runner/runner.h"
#include "store/store.h"
#include "util/util.h"
#include "wire/guard.h"
#include "wire/shmref.h"
#include "wire/wire.h"
#include "worker/worker.h"

/* --------------------------------------------------- leftovers and signals */

/* Paths removed when the driver disappears without saying shutdown (it
 * cannot clean its private directory after a SIGKILL). Fixed buffers: the
 * signal handler uses them. */
static char cleanup_files[4][512];
static char cleanup_dir[512];

static volatile pid_t parent_pid;

/* The driver's files are ours to remove only when the driver process is
 * gone: a driver that is alive but was silent (stopped, overloaded) still
 * needs its secret file for the replacement it starts. */
static int parent_gone(void) { return parent_pid <= 1 || getppid() != parent_pid; }

static void cleanup_paths(void)
{
    for (int i = 0; i < 4; i++)
        if (cleanup_files[i][0])
            unlink(cleanup_files[i]);
    if (cleanup_dir[0])
        rmdir(cleanup_dir);
}

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

/* The driver is gone or said shutdown: nobody wants what the running
 * tasks make. They get a short grace to finish; a task still running after
 * it (one that never returns, or waits for something that will not come)
 * must not keep this process, its CPU and its memory: the worker process
 * ends. It is a worker process (pydron-worker, python -m pydron.worker):
 * nothing else of the program runs in it. */
#define STOP_GRACE_MS 2000

/* Count task loops about to run (d = 1) or that will not (d = -1). */
static void loops_add(worker *w, int d)
{
    pthread_mutex_lock(&w->qlock);
    w->loops = (unsigned)((int)w->loops + d);
    pthread_mutex_unlock(&w->qlock);
}

/* Stop the task loops (queued tasks are dropped: the driver asked us to
 * stop or is gone) and wait for them, at most the grace. */
static void stop_task_loops(worker *w)
{
    const char *g = getenv("PYDRON_WORKER_STOP_GRACE_MS");
    uint64_t grace_ms = g && atoi(g) > 0 ? (uint64_t)atoi(g) : STOP_GRACE_MS;
    struct timespec until = pdi_abstime_after(CLOCK_REALTIME, grace_ms * 1000000ull);
    pthread_mutex_lock(&w->qlock);
    w->stopping = 1;
    pthread_cond_broadcast(&w->qcond);
    int timed_out = 0;
    while (w->loops > 0 && !timed_out)
        timed_out = pthread_cond_timedwait(&w->loopcond, &w->qlock, &until) == ETIMEDOUT;
    unsigned running = w->loops;
    pthread_mutex_unlock(&w->qlock);
    if (!running)
        return;
    pdi_log(WHO, "worker %d: %s, and a task is still running %llu ms later: ending the "
                 "worker process so that the task does not run on", w->id,
            atomic_load(&w->lost) ? "the driver is gone" : "the driver said shutdown",
            (unsigned long long)grace_ms);
    if (w->o.exit_with_parent && parent_gone())
        cleanup_paths();
    fflush(NULL);
    _exit(0);
}

/* The driver's connection, on a thread of its own: the thread that called
 * pydron_worker_main runs tasks. Reads and handles frames until the driver
 * says shutdown or is gone, then stops the task loops. */
static int handle_frame(worker *w, pdi_frame *in, int *shutdown);

static void *reader_thread(void *arg)
{
    worker *w = arg;
    int rc;
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
    w->reader_rc = rc;
    if (rc)
        w->reader_msg = pdi_strdup(pydron_error_last());
    stop_task_loops(w);
    return NULL;
}

static void ipc_path(const char *url, char *out, size_t n)
{
    out[0] = 0;
    if (url && strncmp(url, "ipc://", 6) == 0)
        snprintf(out, n, "%s", url + 6);
}

/* ------------------------------------------------------------------ main */

/* Dial the driver; a driver that does not listen yet (refused,
 * unreachable, timed out) is tried again for up to connect_timeout_ms, so
 * that a worker may start before its driver. Other errors (a bad URL, TLS
 * set-up) fail at once. */
static int dial_driver(worker *w, const pydron_worker_options *opts)
{
    uint64_t t0 = pdi_now_ns();
    uint64_t until = t0 + (uint64_t)opts->connect_timeout_ms * 1000000ull;
    unsigned delay_ms = 50;
    for (int tries = 1;; tries++) {
        int rc = pdi_conn_dial(opts->url, opts->tls_ca_file, HANDSHAKE_MS, &w->drv);
        if (rc == 0)
            return 0;
        int again = rc == PYDRON_EIO || rc == PYDRON_ETIMEDOUT || rc == PYDRON_ECLOSED;
        uint64_t now = pdi_now_ns();
        if (!again || now >= until) {
            if (opts->connect_timeout_ms && again) {
                char *m = pdi_strdup(pydron_error_last());
                rc = pdi_err(rc, "cannot reach the driver at %s after %d attempts in %.0f s: %s",
                             opts->url, tries, (double)(now - t0) / 1e9, m ? m : "?");
                free(m);
            }
            return rc;
        }
        if (tries == 1)
            pdi_debug(WHO, "driver at %s not reachable yet (%s); trying again for %u ms",
                      opts->url, pydron_error_last(), opts->connect_timeout_ms);
        struct timespec ts = {(time_t)(delay_ms / 1000), (long)(delay_ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        delay_ms = delay_ms < 500 ? delay_ms * 2 : 1000;
    }
}

PYDRON_API int pydron_worker_options_init_version(pydron_worker_options *opts, unsigned version)
{
    pdi_err_clear();
    if (!opts || version < 1 || version > PYDRON_WORKER_OPTIONS_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_worker_options_init: NULL or version %u not in 1..%d",
                       version, PYDRON_WORKER_OPTIONS_VERSION);
    pydron_worker_options d = PYDRON_WORKER_OPTIONS_INIT;
    d.version = version;
    memcpy(opts, &d, version >= 2 ? sizeof d : offsetof(pydron_worker_options, connect_timeout_ms));
    return 0;
}

/* the 0.1.0 symbol (pydron.h makes the name a macro): version 1 */
PYDRON_API void (pydron_worker_options_init)(pydron_worker_options *opts)
{
    (void)pydron_worker_options_init_version(opts, 1);
}

/* $PYDRON_SUPERVISED, set by a supervisor (pydron-worker --restart,
 * python -m pydron.worker --restart) for the worker it runs: "0" for the
 * first one, "PID HOW" for a replacement ("4242 killed by SIGSEGV"). The
 * Hello then says the worker is supervised and, for a replacement, how its
 * predecessor ended, so that the driver can name that in the error of the
 * task it was running. Anything else is ignored (not supervised). */
static int supervised_from_env(int32_t *prev_pid, char *prev_end, size_t n)
{
    const char *s = getenv("PYDRON_SUPERVISED");
    *prev_pid = 0;
    prev_end[0] = 0;
    if (!s || !*s)
        return 0;
    char *end;
    errno = 0;
    long pid = strtol(s, &end, 10);
    if (errno || end == s || pid < 0 || pid > INT32_MAX)
        return 0;
    if (pid == 0)
        return *end == 0;
    if (*end != ' ')
        return 0;
    size_t k = 0;
    for (const char *c = end + 1; *c && k + 1 < n && k < PDI_HELLO_MAX_END; c++)
        if (*c >= 0x20 && *c <= 0x7e)
            prev_end[k++] = *c;
    prev_end[k] = 0;
    if (k == 0)
        return 0;
    *prev_pid = (int32_t)pid;
    return 1;
}

/* Inputs the driver asked us to keep (Input.keep): stored before any task
 * of the frame is queued, so a task of this or a later frame that names the
 * value with where == our id finds it whichever thread runs it first. */
static void keep_inputs(worker *w, pdi_frame *f, const Pydron__TaskBatch *b)
{
    for (size_t i = 0; i < b->n_tasks; i++) {
        const Pydron__Task *t = b->tasks[i];
        for (size_t x = 0; x < t->n_inputs; x++) {
            const Pydron__Input *in = t->inputs[x];
            const void *data;
            size_t len;
            if (!in->keep || in->where >= 0 || in->shm || in->segment < 0 ||
                pdi_frame_seg(f, in->segment, &data, &len) != 0 || len == 0)
                continue;
            void *copy = malloc(len);
            if (!copy)
                continue; /* a later task naming it fails with EIO: resent */
            memcpy(copy, data, len);
            pdi_store_put(w->store, in->value_id, copy, len, free, copy);
        }
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
        keep_inputs(w, in, b);
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
                    pdi_wk_fail_item(d, PYDRON_EIO, "worker out of memory");
                    pdi_wk_done_push(w, d);
                }
                pdi_wk_sf_unref(sf);
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
    case PYDRON__FRAME__BODY_FETCH:
        /* Answered by the sender thread. The reader must never wait on a
         * write: the driver's reader may itself be writing a large task
         * batch to us, and it reads our reply only when that write is done;
         * a reply written from here (160 KB-1 MiB, below the shared-memory
         * threshold) filled both sockets and hung both processes. */
        return pdi_wk_fetch_push(w, h->fetch);
    case PYDRON__FRAME__BODY_RELEASE:
        for (size_t i = 0; i < h->release->n_value_ids; i++)
            pdi_store_release(w->store, h->release->value_ids[i]);
        break;
    case PYDRON__FRAME__BODY_PEER_UPDATE:
        pdi_wk_peers_update(w, h->peer_update->peers, h->peer_update->n_peers);
        break;
    case PYDRON__FRAME__BODY_HEARTBEAT:
        break;
    case PYDRON__FRAME__BODY_RECALL:
        pdi_wk_recall(w, h->recall->seqs, h->recall->n_seqs);
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
    pdi_err_clear();
    if (!opts || opts->version < 1 || opts->version > PYDRON_WORKER_OPTIONS_VERSION || !opts->url)
        return pdi_err(PYDRON_EINVAL, "pydron_worker_main: options with a url are required");
    worker *w = calloc(1, sizeof *w);
    if (!w)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    int rc = 0;
    pthread_t *tt = NULL, sender, acceptor;
    int have_sender = 0, have_acceptor = 0;
    size_t nthreads = 0;
    int welcomed = 0;
    /* only the fields the caller's version has */
    w->o = (pydron_worker_options)PYDRON_WORKER_OPTIONS_INIT;
    memcpy(&w->o, opts, opts->version >= 2 ? sizeof *opts
                                           : offsetof(pydron_worker_options, connect_timeout_ms));
    opts = &w->o;
    w->id = opts->worker_id;
    pthread_mutex_init(&w->qlock, NULL);
    pthread_cond_init(&w->qcond, NULL);
    pthread_cond_init(&w->loopcond, NULL);
    pthread_mutex_init(&w->olock, NULL);
    pthread_cond_init(&w->ocond, NULL);
    pthread_cond_init(&w->sentcond, NULL);
    pthread_mutex_init(&w->plock, NULL);
    pthread_cond_init(&w->pcond, NULL);

    if ((rc = pdi_secret_resolve(opts->secret, &w->secret, &w->secret_len)) != 0)
        goto done;
    w->store = pdi_store_new();
    w->guard = pdi_guard_new(WHO);
    w->nrunners = 2 + opts->nrunners;
    w->runners = calloc(w->nrunners, sizeof *w->runners);
    if (!w->secret || !w->store || !w->runners || !w->guard) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        goto done;
    }
    w->runners[0].kind_name = PYDRON_KIND_FFI;
    w->runners[0].ops = &pdi_ffi_runner_ops;
    w->runners[1].kind_name = PYDRON_KIND_BENCH;
    w->runners[1].ops = &pdi_bench_runner_ops;
    for (size_t i = 0; i < opts->nrunners; i++) {
        if (!opts->runners[i].kind_name || !opts->runners[i].ops || !opts->runners[i].ops->run) {
            rc = pdi_err(PYDRON_EINVAL, "runner %zu has no kind name or run function", i);
            goto done;
        }
        w->runners[2 + i] = opts->runners[i];
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
            /* not ECLOSED (the quiet end of a worker): say why, fail */
            rc = pdi_err(PYDRON_ESTATE,
                         "--exit-with-parent: the process that started this worker (%s %s) is "
                         "not its parent (%d); leave the option out for a worker started "
                         "through a shell, nohup, srun or mpirun",
                         pp ? "PYDRON_PARENT_PID" : "pid", pp ? pp : "1", (int)getppid());
            goto done;
        }
    }

    if ((rc = dial_driver(w, opts)) != 0)
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
    /* PYDRON_PEER_ADVERTISE: the address peers reach us at when it is not
     * the one we listen on (NAT, a port forward, a relay in the tests) */
    const char *adv = getenv("PYDRON_PEER_ADVERTISE");
    if (adv && *adv)
        snprintf(w->peer_url, sizeof w->peer_url, "%s", adv);
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
        char prev_end[PDI_HELLO_MAX_END + 1];
        if (supervised_from_env(&h.previous_pid, prev_end, sizeof prev_end)) {
            h.capabilities |= 2;
            h.previous_end = prev_end;
        }
        rc = pdi_auth_dial(w->drv, &h, w->secret, w->secret_len, HANDSHAKE_MS);
        free(kinds);
        if (rc)
            goto done;
        pdi_frame in;
        /* sealed and authenticated from here on; a Welcome lists every peer */
        if ((rc = pdi_conn_recv(w->drv, pdi_wire_limits_session(), HANDSHAKE_MS, &in)) != 0)
            goto done;
        if (in.hdr->body_case != PYDRON__FRAME__BODY_WELCOME) {
            if (in.hdr->body_case == PYDRON__FRAME__BODY_REFUSED) {
                /* authenticated already: the driver's reason, not "authentication
                 * failed" (e.g. EINVAL: a C worker for a Python program) */
                int code = in.hdr->refused->code;
                if (code > PYDRON_OK || code < PYDRON_EINTR)
                    code = PYDRON_EAUTH;
                rc = pdi_err(code, "driver refused this worker: %s", in.hdr->refused->message);
            }
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
        pdi_wk_peers_update(w, in.hdr->welcome->peers, in.hdr->welcome->n_peers);
        pdi_frame_free(&in);
        welcomed = 1;
    }
    pdi_debug(WHO, "worker %d connected to %s, serving peers at %s", w->id, opts->url,
              w->peer_url);
    atomic_store(&w->last_recv_ns, pdi_now_ns());

    if (pthread_create(&acceptor, NULL, pdi_wk_peer_accept_thread, w) == 0)
        have_acceptor = 1;
    if (pthread_create(&sender, NULL, pdi_wk_sender_thread, w) == 0)
        have_sender = 1;
    nthreads = opts->threads ? opts->threads : 1;
    tt = calloc(nthreads, sizeof *tt); /* tt[0]: the calling thread */
    if (!tt || !have_sender || !have_acceptor) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start worker threads");
        nthreads = 0;
        goto stop;
    }
    for (size_t i = 1; i < nthreads; i++) {
        loops_add(w, 1);
        if (pthread_create(&tt[i], NULL, pdi_wk_task_thread, w) != 0) {
            loops_add(w, -1);
            nthreads = i;
            rc = pdi_err(PYDRON_ENOMEM, "cannot start task threads");
            goto stop;
        }
    }
    /* Tasks run on this thread, the reading on another: a worker started
     * from a process's main thread (python -m pydron.worker, pydron-worker)
     * runs its tasks there, as the sequential program and a process pool's
     * workers do. Signal handlers, signal.alarm timeouts and libraries that
     * insist on the main thread work in a task, and an interpreter's loop
     * runs on the stack the kernel placed for the process, as in a process
     * pool (a new thread's stack lies at the same offset in every worker). */
    loops_add(w, 1);
    pthread_t reader;
    if (pthread_create(&reader, NULL, reader_thread, w) != 0) {
        loops_add(w, -1);
        rc = pdi_err(PYDRON_ENOMEM, "cannot start the worker's reading thread");
        goto stop;
    }
    pdi_wk_task_loop(w); /* until the reader stops the loops */
    pthread_join(reader, NULL);
    rc = w->reader_rc;
    if (rc)
        pdi_err(rc, "%s", w->reader_msg ? w->reader_msg : "driver connection lost");

stop:
    if (w->store) {
        size_t nv = 0;
        uint64_t nb = 0;
        pdi_store_stats(w->store, &nv, &nb);
        pdi_debug(WHO, "worker %d stopping with %zu values (%llu bytes) in its store", w->id, nv,
                  (unsigned long long)nb);
    }
    /* stop the task loops, flush completions, stop the sender */
    stop_task_loops(w);
    for (size_t i = 1; i < nthreads; i++)
        pthread_join(tt[i], NULL); /* out of their loops already */
    free(tt);
    while (w->qhead) {
        task_item *it = w->qhead;
        w->qhead = it->next;
        pdi_wk_sf_unref(it->sf);
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
    if (atomic_load(&w->lost) && opts->exit_with_parent && parent_gone()) {
        if (w->pl) {
            pdi_listener_free(w->pl); /* nng unlinks our ipc socket */
            w->pl = NULL;
        }
        cleanup_paths();
    }
done:
    if (rc == PYDRON_ECLOSED && !welcomed) {
        /* ECLOSED is the quiet end of a session; this one never began */
        char *m = pdi_strdup(pydron_error_last());
        rc = pdi_err(PYDRON_EIO, "the driver at %s closed the connection before welcoming this "
                                 "worker (is it the right secret and address?): %s",
                     opts->url, m ? m : "?");
        free(m);
    }
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
            free(p->next_url);
            pthread_mutex_destroy(&p->lock);
            pthread_mutex_destroy(&p->clk);
            free(p);
        }
        while (w->fhead) {
            fetch_item *fi = w->fhead;
            w->fhead = fi->next;
            free(fi);
        }
        while (w->ohead) {
            done_item *d = w->ohead;
            w->ohead = d->next;
            pdi_wk_done_free(d);
        }
        pdi_store_free(w->store);
        pdi_guard_free(w->guard);
        free(w->runners);
        free(w->reader_msg);
        pdi_secret_free(w->secret, w->secret_len);
        free(w);
        if (keep)
            pdi_err(keep, "%s", saved ? saved : "worker failed");
        free(saved);
        rc = keep;
    }
    return rc;
}
