/* proc.c - driver side of the local and remote executors.
 *
 * Threads: an acceptor (plus a short-lived handshake thread per incoming
 * connection, so a slow or hostile peer cannot hold up others), one reader
 * per worker that turns completions into pydron_job_done and fetch replies
 * into pydron_exec_fetched, and a service thread for heartbeats, batched
 * releases and reaping child processes. submit() encodes a whole batch into
 * one frame and writes it on the caller's thread; it never waits for a
 * reply, so many tasks are in flight per worker (credit = in_flight). */
#include <errno.h>
#include <limits.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "exec/exec.h"
#include "exec/proc.h"
#include "wire/guard.h"
#include "util/sha256.h"
#include "util/util.h"

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

/* The size of pydron_process_options as a caller of `version` has it. */
static size_t options_size(unsigned version)
{
    switch (version) {
    case 1:
        return offsetof(pydron_process_options, worker_wait_ms);
    case 2:
        return offsetof(pydron_process_options, cluster);
    case 3:
        return offsetof(pydron_process_options, worker_restarts);
    default:
        return sizeof(pydron_process_options);
    }
}

PYDRON_API int pydron_process_options_init(pydron_process_options *o, unsigned version)
{
    pdi_err_clear();
    if (!o || version < 1 || version > PYDRON_PROCESS_OPTIONS_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron_process_options_init: NULL or version %u not in 1..%d",
                       version, PYDRON_PROCESS_OPTIONS_VERSION);
    pydron_process_options d = PYDRON_PROCESS_OPTIONS_INIT;
    d.version = version;
    memcpy(o, &d, options_size(version)); /* a caller's older struct is shorter */
    return 0;
}

/* The process options to use: exec_options when given (a
 * pydron_process_options of a version we know), else the process fields of
 * the runtime options (callers built against 0.1). */
static int process_options(const pydron_runtime_options *o, const void *exec_options,
                           pydron_process_options *out)
{
    pydron_process_options d = PYDRON_PROCESS_OPTIONS_INIT;
    if (exec_options) {
        const pydron_process_options *po = exec_options;
        if (po->version < 1 || po->version > PYDRON_PROCESS_OPTIONS_VERSION)
            return pdi_err(PYDRON_EINVAL, "pydron_process_options.version is %u, expected 1..%d",
                           po->version, PYDRON_PROCESS_OPTIONS_VERSION);
        /* only the fields the caller's version has */
        memcpy(&d, po, options_size(po->version));
    } else {
        d.worker_command = o->worker_command;
        d.worker_args = o->worker_args;
        d.listen_url = o->listen_url;
        d.secret = o->secret;
        d.tls_cert_file = o->tls_cert_file;
        d.tls_key_file = o->tls_key_file;
        d.launch_command = o->launch_command;
        d.launch_hosts = o->launch_hosts;
        d.heartbeat_ms = o->heartbeat_ms;
    }
    *out = d;
    return 0;
}

int pdi_proc_new(const pydron_runtime_options *ro, const void *exec_options,
                 const pdi_launcher_ops *launcher, pdi_proc **out)
{
    pydron_runtime_options d = PYDRON_RUNTIME_OPTIONS_INIT;
    pydron_process_options po;
    int rc;
    if (!ro)
        ro = &d;
    if ((rc = process_options(ro, exec_options, &po)) != 0)
        return rc;
    const pydron_process_options *o = &po;
    if (launcher == &pdi_launcher_accept) {
        /* the remote executor: who starts its workers */
        const char *cl = o->cluster ? o->cluster : getenv("PYDRON_CLUSTER");
        if (cl && *cl && strcmp(cl, "none") != 0) {
            if (!(launcher = pdi_launcher_find(cl)))
                return pdi_err(PYDRON_EINVAL, "unknown cluster launcher '%s' (known: %s)", cl,
                               pdi_launcher_names());
        } else if (o->launch_command) {
            launcher = pdi_launcher_find("command");
        }
    }
    if (launcher->check && (rc = launcher->check(o)) != 0)
        return rc;
    pdi_proc *p = calloc(1, sizeof *p);
    if (!p)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    p->launcher = launcher;
    p->errpipe[0] = p->errpipe[1] = -1;
    pthread_mutex_init(&p->lock, NULL);
    pthread_cond_init(&p->cond, NULL);
    pthread_cond_init(&p->lcond, NULL);
    p->launch_hosts = dupv(o->launch_hosts);
    p->launch_args = dupv(o->launch_args);
    p->required_kinds = dupv(o->required_kinds);
    p->launch_command = dupstr(o->launch_command);
    p->worker_command = dupstr(o->worker_command);
    p->worker_args = dupv(o->worker_args);
    p->listen_given = o->listen_url != NULL;
    p->nw = ro->workers;
    const char *mw = getenv("PYDRON_CONNECT_TIMEOUT_MS");
    p->max_wait_ms = o->join_timeout_ms            ? o->join_timeout_ms
                     : mw && atoi(mw) > 0 ? (unsigned)atoi(mw)
                                          : launcher->join_ms;
    if (launcher->plan && (rc = launcher->plan(p)) != 0) {
        pdi_proc_destroy(p);
        return rc;
    }
    if (!p->nw && launcher == &pdi_launcher_accept) {
        /* remote, workers not given: as many as dial in, up to a cap
         * (PYDRON_MAX_WORKERS, default 64); start waits for the first and
         * for those that come with it; slots without a worker hand their
         * jobs to the live ones (proc_submit.c: route) */
        const char *mx = getenv("PYDRON_MAX_WORKERS");
        p->nw = mx && atoi(mx) > 0 && atoi(mx) <= 4096 ? (unsigned)atoi(mx) : 64;
        p->open_ended = 1;
    }
    if (!p->nw)
        p->nw = launcher->default_workers ? launcher->default_workers : pdi_ncpus();
    /* the user's in_flight (configure(window=...), PYDRON_WINDOW) is kept
     * as it is; else each worker's window follows what is measured */
    unsigned env_win = pdi_env_window();
    p->in_flight = ro->in_flight ? ro->in_flight : env_win ? env_win : DEFAULT_IN_FLIGHT;
    p->fixed_window = ro->in_flight || env_win;
    /* idle workers take queued jobs of stuck ones (proc_window.c) unless
     * PYDRON_STEAL=0; read per executor, so a program (or test) may set it */
    const char *st = getenv("PYDRON_STEAL");
    p->steal = !(st && *st == '0');
    p->unknown_in_driver = o->run_unknown_kinds_in_driver != 0;
    p->hb_ms = o->heartbeat_ms ? o->heartbeat_ms : DEFAULT_HB_MS;
    const char *ww = getenv("PYDRON_WORKER_WAIT_MS");
    p->worker_wait_ms = o->worker_wait_ms           ? o->worker_wait_ms
                        : ww && atoi(ww) > 0 ? (unsigned)atoi(ww)
                                             : DEFAULT_WORKER_WAIT_MS;
    p->restarts = o->worker_restarts;
    p->listen_url = dupstr(o->listen_url ? o->listen_url : "tcp://127.0.0.1:0");
    p->cert = dupstr(o->tls_cert_file ? o->tls_cert_file : getenv("PYDRON_TLS_CERT"));
    p->key = dupstr(o->tls_key_file ? o->tls_key_file : getenv("PYDRON_TLS_KEY"));
    p->w = calloc(p->nw, sizeof *p->w);
    p->njb = 1024;
    p->jb = calloc(p->njb, sizeof *p->jb);
    for (unsigned i = 0; p->w && i < p->nw; i++)
        pthread_cond_init(&p->w[i].scv, NULL);
    const char *es = getenv("PYDRON_SECRET"), *ef = getenv("PYDRON_SECRET_FILE");
    int have_secret = (o->secret && *o->secret) || (es && *es) || (ef && *ef);
    /* user_secret 2: the user's when given, else a fresh one (a launcher
     * hands it to the workers it starts) */
    if (launcher->user_secret == 1 || (launcher->user_secret == 2 && have_secret)) {
        rc = pdi_secret_resolve(o->secret, &p->secret, &p->secret_len);
        if (rc) {
            pdi_proc_destroy(p);
            return rc;
        }
    } else {
        /* a fresh secret per executor: other local users cannot connect
         * even if they could reach the socket */
        p->secret = malloc(PYDRON_SECRET_MAX + 1);
        if (p->secret && pydron_secret_generate(p->secret, PYDRON_SECRET_MAX + 1) == 0) {
            p->secret_len = strlen(p->secret);
        } else {
            free(p->secret);
            p->secret = NULL;
        }
    }
    p->guard = pdi_guard_new(WHO);
    if (!p->w || !p->jb || !p->secret || !p->listen_url || !p->guard) {
        pdi_proc_destroy(p);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    *out = p;
    return 0;
}

/* ------------------------------------------------------------------- ops */

int pdi_proc_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    pdi_proc *p = self;
    int rc;
    if (p->started)
        return pdi_err(PYDRON_ESTATE, "executor already started");
    p->started = 1;
    p->host = host;
    /* a worker that dies must not take the driver down with SIGPIPE */
    signal(SIGPIPE, SIG_IGN);
    if ((rc = p->launcher->listen(p)) != 0)
        goto fail;
    if (pthread_create(&p->acceptor, NULL, pdi_proc_acceptor_thread, p) != 0) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start the acceptor thread");
        goto fail;
    }
    p->have_acceptor = 1;
    if (pthread_create(&p->service, NULL, pdi_proc_service_thread, p) != 0) {
        rc = pdi_err(PYDRON_ENOMEM, "cannot start the service thread");
        goto fail;
    }
    p->have_service = 1;
    for (unsigned i = 0; i < p->nw; i++) {
        sd_arg *sa = malloc(sizeof *sa);
        if (sa) {
            sa->p = p;
            sa->wi = i;
        }
        if (!sa || pthread_create(&p->w[i].sender, NULL, pdi_proc_sender_thread, sa) != 0) {
            free(sa);
            rc = pdi_err(PYDRON_ENOMEM, "cannot start the sender threads");
            goto fail;
        }
        p->w[i].have_sender = 1;
    }
    if ((rc = p->launcher->launch(p)) != 0)
        goto fail;
    /* wait until every worker has joined (open-ended: the first, and the
     * others that join with it, until none came for SETTLE_MS) */
    uint64_t deadline = pdi_now_ns() + (uint64_t)p->max_wait_ms * 1000000ull;
    pthread_mutex_lock(&p->lock);
    unsigned seen = 0;
    uint64_t last_join = 0;
    while (p->nconnected < p->nw) {
        uint64_t now = pdi_now_ns();
        if (p->nconnected != seen) {
            seen = p->nconnected;
            last_join = now;
        }
        if (p->open_ended && seen > 0 && now - last_join >= SETTLE_MS * 1000000ull)
            break;
        if (now >= deadline)
            break;
        if (p->launcher->joining && (rc = p->launcher->joining(p)) != 0) {
            pthread_mutex_unlock(&p->lock);
            goto fail;
        }
        struct timespec ts = pdi_abstime_after(CLOCK_REALTIME, 20 * 1000000ull);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
    }
    unsigned got = p->nconnected;
    pthread_mutex_unlock(&p->lock);
    if (p->open_ended && got > 0) {
        pdi_debug(WHO, "%u worker(s) joined; up to %u may join later", got, p->nw);
    } else if (got < p->nw) {
        pthread_mutex_lock(&p->lock);
        if (p->launcher->missing)
            rc = p->launcher->missing(p);
        else
            rc = pdi_err(PYDRON_ETIMEDOUT, "only %u of %u workers joined within %.0f s", got,
                         p->nw, p->max_wait_ms / 1000.0);
        pthread_mutex_unlock(&p->lock);
        goto fail;
    }
    pthread_mutex_lock(&p->lock);
    p->running = 1;
    pthread_mutex_unlock(&p->lock);
    *nworkers = p->nw;
    *in_flight = p->in_flight;
    return 0;
fail:
    {
        char *msg = pdi_strdup(pydron_error_last());
        pdi_proc_stop(p);
        pdi_err(rc, "%s", msg ? msg : "cannot start workers");
        free(msg);
    }
    return rc;
}

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
    return pdi_abstime_after(CLOCK_REALTIME, (uint64_t)ms * 1000000ull);
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

void pdi_proc_stop(void *self)
{
    pdi_proc *p = self;
    pthread_mutex_lock(&p->lock);
    if (p->stopping) {
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->stopping = 1;
    pthread_cond_broadcast(&p->cond);
    for (unsigned i = 0; i < p->nw; i++)
        pthread_cond_broadcast(&p->w[i].scv);
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
    /* a sender may be writing to a worker that does not read */
    for (unsigned i = 0; i < p->nw; i++) {
        if (p->w[i].have_sender) {
            char what[64];
            snprintf(what, sizeof what, "the sender of worker %u", i);
            join_bounded(p, p->w[i].sender, what, giveup, close_workers, NULL);
            p->w[i].have_sender = 0;
        }
    }
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
    if (p->launcher->stop)
        p->launcher->stop(p);
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
    jobent *left = pdi_proc_jobs_take_worker(p, UINT_MAX);
    pydron_job **parked = p->parked;
    size_t nparked = p->nparked;
    p->parked = NULL;
    p->nparked = p->capparked = 0;
    laterent *later = p->later;
    size_t nlater = p->nlater;
    p->later = NULL;
    p->nlater = p->caplater = 0;
    fetchent *fl = p->fetches;
    p->fetches = NULL;
    pdi_proc_flush_held_locked(p, 0, 1); /* unlocks around the calls */
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < nparked; i++)
        pydron_job_done(parked[i], PYDRON_ECANCELED);
    free(parked);
    for (size_t i = 0; i < nlater; i++)
        pydron_job_done(later[i].job, PYDRON_ECANCELED);
    free(later);
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
    pdi_proc_remove_private_dir(p);
}

void pdi_proc_destroy(void *self)
{
    pdi_proc *p = self;
    if (!p)
        return;
    if (p->started)
        pdi_proc_stop(p);
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
        free(p->w[i].rcl);
        pdi_proc_sendq_free(&p->w[i]);
        pthread_cond_destroy(&p->w[i].scv);
        for (size_t k = 0; k < p->w[i].nkinds; k++)
            free(p->w[i].kinds[k]);
        free(p->w[i].kinds);
    }
    free(p->w);
    free(p->jb);
    free(p->parked);
    free(p->later);
    free(p->lt);
    pdi_ring_free(&p->lq);
    free(p->old_readers);
    free(p->hs_conns);
    pdi_guard_free(p->guard);
    pthread_cond_destroy(&p->lcond);
    if (p->launcher && p->launcher->release)
        p->launcher->release(p);
    free(p->launched);
    free(p->worker_command);
    freev(p->worker_args);
    free(p->listen_url);
    free(p->cert);
    free(p->key);
    free(p->launch_command);
    freev(p->launch_hosts);
    freev(p->launch_args);
    freev(p->required_kinds);
    for (size_t i = 0; i < p->ngroups; i++)
        free(p->groups[i].host);
    free(p->groups);
    pdi_secret_free(p->secret, p->secret_len);
    pthread_mutex_destroy(&p->lock);
    pthread_cond_destroy(&p->cond);
    free(p);
}
