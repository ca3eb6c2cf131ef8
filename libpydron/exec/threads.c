/* The threads executor: a fixed pool of threads sharing one job queue
 * (mutex + condvar). Bodies run on pool threads; completions are reported
 * from there, a group at a time (pydron_jobs_done). Size: opts.workers,
 * else the number of online CPUs.
 * Written against pydron.h alone (plus util/), like an outside executor,
 * but for pdi_job_run_timed (exec/exec.h), which saves clock reads. */
#include <pthread.h>
#include <stdatomic.h>
#include <unistd.h>

#include "exec/exec.h"
#include "pydron.h"
#include "util/ring.h"
#include "util/util.h"

/* A pool thread takes up to TH_GROUP queued jobs at a time into its slots
 * and reports them with one pydron_jobs_done (one graph lock and one
 * dispatch per group): tiny tasks then cost a fraction of a lock each. It
 * takes at most its share of the queue, and one job at a time once its
 * jobs take longer than TH_TINY_NS per task each (a group job, the
 * dispatcher's tiny tasks many to a job, counts its tasks). A job waiting in a slot is still
 * everyone's: the owner, recall (cancel) and idle threads (stealing) each
 * take it with an atomic exchange, so cancel stays synchronous and a long
 * job does not hold the ones behind it for long (an idle thread steals from
 * a group that has run TH_STEAL_NS, and naps no longer than that while
 * jobs wait in a group; one that went to sleep just before a group was
 * taken wakes at the next submit). */
/* 64, not 16: the bypass then keeps up to 64 successors on the thread that
 * readied them, one graph lock per 64 completions (bench_core, 2 threads:
 * independent tasks 383 -> 225 ns, chains 468 -> ~300-400 ns per task); a
 * group taken from the queue is still capped by the thread's share. */
#define TH_GROUP 64
#define TH_TINY_NS 20000u
/* The core keeps in_flight jobs here (default max(4 x threads, 64)), so that
 * long jobs are not committed early to this pool ahead of the policy's
 * later picks. While jobs are tiny, that window is what limits each
 * thread's group: 64 in flight on two threads made groups of about 16, a
 * graph lock (and its cache lines moving between cores) per 16 jobs; chains
 * of 100 took ~300-450 ns per task. So while the last group was tiny the
 * window is TH_DEEP groups per thread (enough for every thread to run a
 * full group with another one queued behind it), and back to the default
 * once a group is not (measured: chains 300-450 -> 280-300 ns). Not when
 * the user fixed the window (in_flight, PYDRON_WINDOW). */
#define TH_DEEP 2u
/* SOLO: a tiny job's bookkeeping (the core's completion and dispatch, under
 * the graph lock) costs more than the job, and only one thread can do it at
 * a time: the others wait for the graph lock, asleep, and are woken (a
 * context switch per group on each side). On two threads, chains of empty
 * tasks ran at ~190-330 ns per task, on one at ~124 (bench_core --workers;
 * oneTBB's own chains: 52 ns on two threads, 27 on one). So while a thread's
 * report (pydron_jobs_done) takes longer than running its group did, the
 * pool goes solo: one thread at a time holds a group; the others stay
 * asleep and are not fed by the bypass. It ends when a group runs longer
 * than twice its report SOLO_CALM times in a row (one group now and then
 * runs slowly: a cache miss per record, an interrupt), or SOLO_SLOW groups
 * in a row are not tiny (one alone may be a thread descheduled for a tick
 * on a loaded machine: ~4 ms for 64 empty jobs; ending solo for it cost
 * ~12 changes of thread each time, up to ~200 a second under ASan next to
 * other tests); and a thread that has waited TH_STEAL_NS while a group ran
 * takes work again (a job that turned long does not hold the queue, nor
 * does a descheduled thread). PYDRON_THREADS_SOLO=0 turns it off. */
#define SOLO_CALM 4
#define SOLO_SLOW 2

struct thr;
/* An idle thread steals from a group only when that group has run this
 * long (tiny groups finish sooner than stealing would help: taking their
 * jobs one by one would cost a completion each), and naps this long at
 * most while jobs wait in a group. */
#define TH_STEAL_NS 100000u

typedef struct tslots {
    struct thr *x;
    _Atomic uint64_t since;                /* when the current group started */
    _Atomic(pydron_job *) job[TH_GROUP];   /* taken from the queue, not started */
    /* Scheduler bypass: while this thread reports its group
     * (pydron_jobs_done), jobs the core submits from here - those its
     * completions made ready, the successor of a chain - go into its own
     * empty slots instead of the shared queue (only the first while another
     * thread waits for work: it gets the rest), and it runs them next: no
     * queue lock, no wakeup, and the successor runs where its input was
     * just written. They stay everyone's (recall and stealing take them
     * from the slots as before). Sound for any policy: the core's dispatch
     * still picks each job (policy, windows, in-flight counts); only which
     * pool thread of this one location runs it changes, and that was never
     * ordered. */
    int bypass;   /* room for bypassed jobs: TH_GROUP, 1 or 0 (not reporting) */
    int nlocal;   /* slots filled by the bypass */
} tslots;

typedef struct thr {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pdi_ring q;          /* of pydron_job * */
    pthread_t *th;
    tslots *slots;       /* one per thread */
    unsigned n, started;
    unsigned in_flight;
    unsigned deep;       /* the window while jobs are tiny; 0: fixed by the user */
    atomic_int is_deep;  /* the window is deep now */
    pydron_exec_host *host;
    int stop;
    /* threads waiting for work (changed under mu, read without it as a
     * hint): while one waits, the bypass keeps one job only and queues the
     * rest, where that thread finds them */
    atomic_uint nidle;
    /* Solo (see SOLO below): one thread at a time runs tiny groups. running:
     * threads holding a group, from taking it to the end of its report;
     * run_since: when the last group began. solo_ok: PYDRON_THREADS_SOLO
     * is not 0. */
    atomic_int solo;
    atomic_uint running;
    _Atomic uint64_t run_since;
    int solo_ok;
} thr;

/* the pool thread running here, if any (for the bypass in thr_submit) */
static _Thread_local tslots *tl_me;

/* Take a job waiting in another thread's slots behind a group that has
 * run for TH_STEAL_NS (x->mu not needed); *waiting: jobs were left. */
static pydron_job *steal(thr *x, const tslots *mine, int *waiting)
{
    uint64_t now = 0;
    for (unsigned t = 0; t < x->n; t++) {   /* slots of threads not started are empty */
        tslots *s = &x->slots[t];
        if (s == mine)
            continue;
        for (unsigned k = TH_GROUP; k-- > 0;) {
            if (!atomic_load_explicit(&s->job[k], memory_order_relaxed))
                continue;
            if (!now)
                now = pdi_now_ns();
            if (now - atomic_load_explicit(&s->since, memory_order_relaxed) < TH_STEAL_NS) {
                *waiting = 1;
                break;
            }
            pydron_job *j = atomic_exchange(&s->job[k], NULL);
            if (j)
                return j;
        }
    }
    return NULL;
}

/* Solo and another thread holds a group that began less than TH_STEAL_NS
 * ago: this one waits (x->mu held or not: hints, rechecked in the loop). */
static int solo_wait(thr *x)
{
    if (!atomic_load_explicit(&x->solo, memory_order_relaxed) ||
        !atomic_load_explicit(&x->running, memory_order_relaxed))
        return 0;
    uint64_t since = atomic_load_explicit(&x->run_since, memory_order_relaxed);
    return pdi_now_ns() - since < TH_STEAL_NS;
}

static void *worker_main(void *arg)
{
    tslots *me = arg;
    thr *x = me->x;
    tl_me = me;
    pydron_job *jobs[TH_GROUP];
    int rcs[TH_GROUP];
    int tiny = 1;   /* the last group's jobs were tiny */
    int calm = 0;   /* groups in a row that ran over twice their report */
    int slow = 0;   /* groups in a row that were not tiny */
    pdi_jtimer tm;   /* kept across groups: whether jobs are timed in runs */
    pdi_jtimer_init(&tm, 0);
    pthread_mutex_lock(&x->mu);
    for (;;) {
        size_t m = 0, len;
        if (me->nlocal && solo_wait(x)) {
            /* SOLO and another thread runs: what our report kept for us
             * goes to the queue, where that thread tops up its groups */
            int kept = 0;
            for (int k = 0; k < me->nlocal; k++) {
                pydron_job *j = atomic_exchange(&me->job[k], NULL);
                if (j && pdi_ring_push(&x->q, &j, sizeof j) != 0) {
                    atomic_store(&me->job[kept++], j);   /* no room: we run it */
                }
            }
            me->nlocal = kept;
        }
        if (me->nlocal) {
            /* jobs bypassed into our slots by our last report: run them
             * first (those stolen meanwhile are NULL and skipped) */
            m = (size_t)me->nlocal;
            me->nlocal = 0;
        }
        int idle = 0, stole = 0;
        while (!m && !x->stop && (!(len = pdi_ring_len(&x->q)) || solo_wait(x))) {
            int waiting = 0;
            if (!idle) {
                idle = 1;
                atomic_fetch_add_explicit(&x->nidle, 1, memory_order_relaxed);
            }
            pthread_mutex_unlock(&x->mu);
            pydron_job *j = steal(x, me, &waiting);
            pthread_mutex_lock(&x->mu);
            if (j) {
                atomic_store(&me->job[0], j);
                m = 1;
                stole = 1;
                break;
            }
            if (x->stop)
                continue;
            if (pdi_ring_len(&x->q)) {
                if (!solo_wait(x))
                    continue;
                waiting = 1;   /* look again once that group is old */
            }
            if (waiting) {
                struct timespec ts = pdi_abstime_after(CLOCK_REALTIME, TH_STEAL_NS);
                pthread_cond_timedwait(&x->cv, &x->mu, &ts);
            } else {
                pthread_cond_wait(&x->cv, &x->mu);
            }
        }
        if (idle)
            atomic_fetch_sub_explicit(&x->nidle, 1, memory_order_relaxed);
        len = pdi_ring_len(&x->q);
        if (!m && !len)
            break;   /* stopping and drained */
        if (!stole && len) {
            /* a group from the queue, or what the bypass left in our slots
             * topped up from it: the bypass must not shrink groups (each
             * group costs one report) */
            size_t share = atomic_load_explicit(&x->solo, memory_order_relaxed)
                               ? TH_GROUP   /* the others wait: a whole group */
                               : (len + 2 * (size_t)x->n - 1) / (2 * (size_t)x->n);
            size_t want = tiny ? (share < TH_GROUP ? share : TH_GROUP) : 1;
            for (; m < want && pdi_ring_len(&x->q); m++) {
                pydron_job *j = NULL;
                (void)pdi_ring_pop(&x->q, &j, sizeof j);
                atomic_store_explicit(&me->job[m], j, memory_order_release);
            }
        }
        int stopping = x->stop;
        uint64_t t0 = pdi_now_ns();
        atomic_fetch_add_explicit(&x->running, 1, memory_order_relaxed);
        atomic_store_explicit(&x->run_since, t0, memory_order_relaxed);
        pthread_mutex_unlock(&x->mu);
        atomic_store_explicit(&me->since, t0, memory_order_relaxed);
        size_t n = 0;
        /* a job starts when the one before ended (pdi_job_run_timed) */
        pdi_jtimer_restart(&tm, t0);
        for (size_t k = 0; k < m; k++) {
            pydron_job *j = atomic_exchange(&me->job[k], NULL);
            if (!j)
                continue;   /* recalled or stolen */
            /* ECANCELED if the graph was canceled */
            rcs[n] = stopping ? PYDRON_ECANCELED : pdi_job_run_timed(j, &tm);
            jobs[n++] = j;
        }
        uint64_t now = pdi_jtimer_flush(&tm);
        /* per task: a group job (sched/direct.c) holds many */
        size_t ntasks = tm.tasks > n ? tm.tasks : n;
        tiny = now - t0 < (uint64_t)(ntasks ? ntasks : 1) * TH_TINY_NS;
        if (x->deep && n && atomic_load_explicit(&x->is_deep, memory_order_relaxed) != tiny &&
            atomic_exchange(&x->is_deep, tiny) != tiny)
            (void)pydron_exec_set_window(x->host, 0, tiny ? x->deep : 0);
        /* our slots are all empty now: the report may refill them (one job
         * only after slow jobs, as a group would hold) */
        me->bypass = tiny ? TH_GROUP : 1;
        pydron_jobs_done(jobs, rcs, n);
        me->bypass = 0;
        int wake = 0;
        if (x->solo_ok && n) {
            /* SOLO: the report against the run of the group */
            uint64_t report = pdi_now_ns() - now, ran = now - t0;
            int solo = atomic_load_explicit(&x->solo, memory_order_relaxed);
            calm = tiny && ran > 2 * report ? calm + 1 : 0;
            slow = tiny ? 0 : slow + 1;
            if (!solo && tiny && report > ran)
                atomic_store_explicit(&x->solo, 1, memory_order_relaxed);
            else if (solo && (slow >= SOLO_SLOW || calm >= SOLO_CALM))
                wake = atomic_exchange(&x->solo, 0);
        }
        pthread_mutex_lock(&x->mu);
        atomic_fetch_sub_explicit(&x->running, 1, memory_order_relaxed);
        if (wake && pdi_ring_len(&x->q))
            pthread_cond_broadcast(&x->cv);   /* the others take work again */
    }
    pthread_mutex_unlock(&x->mu);
    return NULL;
}

static int thr_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    thr *x = self;
    x->host = host;
    x->th = calloc(x->n, sizeof *x->th);
    x->slots = calloc(x->n, sizeof *x->slots);
    if (!x->th || !x->slots) {
        free(x->th);
        free(x->slots);
        x->th = NULL;
        x->slots = NULL;
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the thread pool");
    }
    for (unsigned i = 0; i < x->n; i++)
        x->slots[i].x = x;
    for (unsigned i = 0; i < x->n; i++) {
        if (pthread_create(&x->th[i], NULL, worker_main, &x->slots[i]) != 0) {
            pthread_mutex_lock(&x->mu);
            x->stop = 1;
            pthread_cond_broadcast(&x->cv);
            pthread_mutex_unlock(&x->mu);
            for (unsigned k = 0; k < i; k++)
                pthread_join(x->th[k], NULL);
            free(x->th);
            x->th = NULL;
            return pdi_err(PYDRON_EIO, "cannot start pool thread %u", i);
        }
        x->started++;
    }
    *nworkers = 1;   /* one location: all threads share the address space */
    *in_flight = x->in_flight;
    return 0;
}

/* Into the shared queue, waking a thread unless quiet (SOLO: the others
 * wait for the running group, and look again after TH_STEAL_NS). */
static int queue_submit(thr *x, pydron_job *const *jobs, size_t n, int quiet)
{
    pthread_mutex_lock(&x->mu);
    if (x->stop) {
        pthread_mutex_unlock(&x->mu);
        return pdi_err(PYDRON_ECLOSED, "the thread pool is stopping");
    }
    /* room for all of them first: the core fails the whole batch on error */
    while (x->q.cap - pdi_ring_len(&x->q) < n) {
        if (pdi_ring_grow(&x->q, sizeof(pydron_job *)) != 0) {
            pthread_mutex_unlock(&x->mu);
            return pdi_err(PYDRON_ENOMEM, "cannot grow the job queue");
        }
    }
    for (size_t k = 0; k < n; k++)
        (void)pdi_ring_push(&x->q, &jobs[k], sizeof jobs[k]);
    if (!quiet && n == 1)
        pthread_cond_signal(&x->cv);
    else if (!quiet)
        pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    return 0;
}

static int thr_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    (void)worker;
    thr *x = self;
    tslots *me = tl_me;
    if (!me || me->x != x || !me->bypass)
        return queue_submit(x, jobs, n, 0);
    /* from our own report (see tslots.bypass): the first ones into our
     * empty slots, as many as fit; one only while a thread waits for work,
     * so that it gets the rest at once (not when solo: we run them) */
    int solo = atomic_load_explicit(&x->solo, memory_order_relaxed);
    int room = (!solo && atomic_load_explicit(&x->nidle, memory_order_relaxed) ? 1 : me->bypass) -
               me->nlocal;
    size_t keep = room <= 0 ? 0 : n < (size_t)room ? n : (size_t)room;
    /* the rest first: the core fails a whole batch that submit refuses, so
     * none may be in our slots then */
    if (keep < n) {
        int rc = queue_submit(x, jobs + keep, n - keep, solo);
        if (rc)
            return rc;
    }
    /* an idle thread may steal one of them meanwhile: its slot is not
     * reused (nlocal only grows until we run them) */
    for (size_t k = 0; k < keep; k++)
        atomic_store(&me->job[me->nlocal++], jobs[k]);
    return 0;
}

/* Queued jobs of a canceled graph come back now (not when a pool thread
 * reaches them), so that pydron_graph_cancel is synchronous. */
static void thr_recall(void *self)
{
    thr *x = self;
    pydron_job *back[64];
    for (;;) {
        size_t nb = 0;
        pthread_mutex_lock(&x->mu);
        /* once around the ring: canceled ones out, the rest back in order
         * (a push after a pop never needs to grow) */
        for (size_t k = 0, len = pdi_ring_len(&x->q); k < len; k++) {
            pydron_job *j = NULL;
            (void)pdi_ring_pop(&x->q, &j, sizeof j);
            if (nb < 64 && pydron_job_canceled(j))
                back[nb++] = j;
            else
                (void)pdi_ring_push(&x->q, &j, sizeof j);
        }
        /* and those waiting in the threads' slots */
        for (unsigned t = 0; t < x->n && nb < 64; t++) {
            for (unsigned k = 0; k < TH_GROUP && nb < 64; k++) {
                pydron_job *j = atomic_load(&x->slots[t].job[k]);
                if (j && pydron_job_canceled(j) && atomic_exchange(&x->slots[t].job[k], NULL) == j)
                    back[nb++] = j;
            }
        }
        pthread_mutex_unlock(&x->mu);
        for (size_t k = 0; k < nb; k++)
            pydron_job_done(back[k], PYDRON_ECANCELED);
        if (nb < 64)
            break;
    }
}

static void thr_stop(void *self)
{
    thr *x = self;
    pthread_mutex_lock(&x->mu);
    x->stop = 1;
    pthread_cond_broadcast(&x->cv);
    pthread_mutex_unlock(&x->mu);
    for (unsigned i = 0; i < x->started; i++)
        pthread_join(x->th[i], NULL);
    x->started = 0;
    /* nothing can remain: threads drain the queue (as canceled) before exiting */
}

static void thr_destroy(void *self)
{
    thr *x = self;
    pthread_mutex_destroy(&x->mu);
    pthread_cond_destroy(&x->cv);
    pdi_ring_free(&x->q);
    free(x->th);
    free(x->slots);
    free(x);
}

static const pydron_executor_ops threads_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "threads", thr_start, thr_submit, NULL, NULL, NULL,
    thr_stop, thr_destroy, thr_recall};

int pdi_exec_create_threads(void *user, const pydron_runtime_options *opts,
                          const void *exec_options, const pydron_executor_ops **ops, void **self)
{
    (void)user;
    (void)exec_options;
    thr *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the threads executor");
    pthread_mutex_init(&x->mu, NULL);
    pthread_cond_init(&x->cv, NULL);
    long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
    x->n = opts && opts->workers ? opts->workers : ncpu > 0 ? (unsigned)ncpu : 1u;
    if (x->n > 4096)
        x->n = 4096;
    unsigned env_win = pdi_env_window();
    unsigned inf = opts && opts->in_flight ? opts->in_flight : env_win ? env_win : 4 * x->n;
    x->in_flight = inf < 64 ? 64 : inf;
    int fixed = (opts && opts->in_flight) || env_win;
    x->deep = fixed ? 0 : x->n * TH_DEEP * TH_GROUP;
    const char *so = getenv("PYDRON_THREADS_SOLO");
    x->solo_ok = x->n > 1 && !(so && so[0] == '0' && so[1] == '\0');
    if (x->deep > 65536)
        x->deep = 65536;
    if (x->deep && x->deep < x->in_flight)
        x->deep = x->in_flight;
    *ops = &threads_ops;
    *self = x;
    return 0;
}
