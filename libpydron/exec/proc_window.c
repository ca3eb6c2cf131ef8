/* proc_window.c - how many jobs each worker gets in flight, from what is
 * measured, and idle workers taking queued jobs of workers stuck on long
 * ones.
 *
 * A worker with `threads` task threads, tasks of d seconds and a round trip
 * of r seconds needs threads * (1 + r/d) jobs in flight to stay busy (the
 * bandwidth-delay product: the ones running plus those on the way), plus
 * one more round of `threads` so that a completion is never waited for.
 * Tiny tasks over a slow link get thousands; tasks of seconds get two per
 * thread, so they are not queued deep on one worker while another idles.
 *
 * The round trip is a job's time in flight minus its run time, taken only
 * from jobs sent while the worker had a free thread: the others waited in
 * the worker's queue, and counting that wait (which grows with the window)
 * would grow the window without end. The run time is a moving average of
 * the run times the worker reports. */
#include <limits.h>
#include <stdlib.h>

#include "exec/proc.h"
#include "util/util.h"

unsigned pdi_proc_window_sample_locked(pdi_proc *p, const jobent *e, uint64_t now_ns,
                                       uint64_t run_ns)
{
    if (p->fixed_window || e->worker >= p->nw)
        return 0;
    pworker *w = &p->w[e->worker];
    if (e->first && now_ns > e->sent_ns) {
        uint64_t flight = now_ns - e->sent_ns;
        uint64_t rtt = flight > run_ns ? flight - run_ns : 0;
        /* the smallest recent one: queueing in the driver's and worker's
         * sender only ever adds; it moves up slowly (1/16 per sample) in
         * case the route got slower */
        if (!w->rtt_ns || rtt < w->rtt_ns)
            w->rtt_ns = rtt ? rtt : 1;
        else
            w->rtt_ns += (rtt - w->rtt_ns) / 16;
    }
    if (!w->dur_ns)
        w->dur_ns = run_ns ? run_ns : 1;
    else /* a moving average over ~8 tasks */
        w->dur_ns = w->dur_ns - w->dur_ns / 8 + run_ns / 8;
    if (!w->rtt_ns)
        return 0; /* no round trip yet: the default window stays */
    unsigned threads = w->threads ? w->threads : 1;
    uint64_t d = w->dur_ns ? w->dur_ns : 1;
    uint64_t need = (uint64_t)threads * (2 + (w->rtt_ns + d - 1) / d);
    if (need > WINDOW_MAX)
        need = WINDOW_MAX;
    if (need < threads + 1u)
        need = threads + 1u;
    unsigned win = (unsigned)need;
    /* tell the core when it changed by more than 1/8 (it reads an atomic:
     * cheap, but not for every completion) */
    unsigned old = w->window;
    if (old && win <= old + old / 8 && win + old / 8 >= old)
        return 0;
    w->window = win;
    return win;
}

/* Idle workers take queued, not started jobs of workers stuck on long
 * ones. A worker is stuck when it has more jobs than threads (so at least
 * one waits in its queue) and has finished nothing for longer than moving
 * a job costs: STEAL_MIN_NS (tiny tasks finish far more often, so they are
 * never taken one by one), 4 round trips of the idle worker, and twice its
 * own mean run time up to STEAL_MAX_NS (a job behind one of normal length
 * will start soon; a task of seconds must not hold one back for seconds).
 * An idle worker has a free thread and nothing queued.
 *
 * The newest queued jobs of the stuck worker are recalled from it (a
 * Recall frame: it drops those it has not started; one it started anyway
 * runs twice, and its second completion is ignored, its outputs released)
 * and handed straight to the idle worker (pydron_job_moved tells the core,
 * which counts it there from now on). Not through the core: it would give
 * them to any worker with room in its window, the stuck one included.
 * Their inputs reach the new worker the normal way (fetched from the
 * worker holding them, or the driver's bytes or shared memory). */
#define STEAL_EVERY_NS 20000000ull /* at most one round every 20 ms */
#define STEAL_MIN_NS 30000000ull
#define STEAL_MAX_NS 200000000ull
#define STEAL_MAX 64 /* jobs moved per round */

/* Lock held: worker v, which has jobs queued, has finished nothing for
 * long enough that a job waiting there is better run by idle worker i. */
static int stuck_for(const pdi_proc *p, unsigned v, unsigned i, uint64_t now)
{
    const pworker *w = &p->w[v];
    uint64_t wait = STEAL_MIN_NS;
    uint64_t own = 2 * w->dur_ns < STEAL_MAX_NS ? 2 * w->dur_ns : STEAL_MAX_NS;
    if (own > wait)
        wait = own;
    if (4 * p->w[i].rtt_ns > wait)
        wait = 4 * p->w[i].rtt_ns;
    return now > w->progress_ns && now - w->progress_ns >= wait;
}

typedef struct steal_move {
    pydron_job *job;
    unsigned to;
} steal_move;

/* Lock held: move up to `room` of worker v's queued jobs that idle worker i
 * can run into mv (recalled from v). Returns how many. */
static size_t take_queued(pdi_proc *p, unsigned v, unsigned i, unsigned room, steal_move *mv)
{
    pworker *bw = &p->w[v];
    unsigned t = bw->threads ? bw->threads : 1;
    unsigned queued = bw->njobs - t; /* the oldest `t` may be running */
    if (queued > STEAL_MAX)
        queued = STEAL_MAX;
    /* v's newest `queued` entries (they start last on v), by insertion
     * into a small list sorted by seq, descending. Only those: an older
     * one may be running there, whatever kind it is */
    jobent *best[STEAL_MAX];
    size_t nb = 0;
    for (size_t k = 0; k < p->njb; k++) {
        for (jobent *e = p->jb[k]; e; e = e->next) {
            if (e->worker != v || (nb == queued && e->seq < best[nb - 1]->seq))
                continue;
            size_t at = nb < queued ? nb++ : nb - 1;
            while (at > 0 && best[at - 1]->seq < e->seq) {
                best[at] = best[at - 1];
                at--;
            }
            best[at] = e;
        }
    }
    size_t n = 0;
    for (size_t x = 0; x < nb && n < room; x++) {
        jobent *e = best[x];
        if (!pdi_proc_worker_runs(&p->w[i], pydron_job_kind_name(e->job)))
            continue;
        if (pdi_grow((void **)&bw->rcl, &bw->caprcl, bw->nrcl + 1, sizeof *bw->rcl) != 0)
            break;
        (void)pdi_proc_job_take(p, e->seq, v);
        bw->rcl[bw->nrcl++] = e->seq;
        mv[n].job = e->job;
        mv[n++].to = i;
        free(e);
    }
    return n;
}

/* Lock held: queue worker v's pending recalls (after the batches that
 * carried them: queue order). */
void pdi_proc_send_recalls_locked(pdi_proc *p, unsigned v)
{
    pworker *w = &p->w[v];
    if (!w->nrcl)
        return;
    Pydron__Recall r = PYDRON__RECALL__INIT;
    r.seqs = w->rcl;
    r.n_seqs = w->nrcl;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_RECALL;
    f.recall = &r;
    (void)pdi_proc_enqueue_frame_locked(p, v, &f);
    w->nrcl = 0;
}

void pdi_proc_steal_locked(pdi_proc *p, uint64_t now)
{
    if (!p->steal || p->stopping || p->nw < 2 || now - p->last_steal_ns < STEAL_EVERY_NS)
        return;
    steal_move mv[STEAL_MAX];
    size_t nmv = 0;
    for (unsigned i = 0; i < p->nw && nmv < STEAL_MAX; i++) {
        pworker *iw = &p->w[i];
        unsigned ti = iw->threads ? iw->threads : 1;
        if (!iw->alive || iw->njobs >= ti)
            continue;
        unsigned room = ti - iw->njobs; /* its free threads */
        /* the stuck worker with the most queued */
        unsigned v = UINT_MAX, most = 0;
        for (unsigned k = 0; k < p->nw; k++) {
            pworker *w = &p->w[k];
            unsigned t = w->threads ? w->threads : 1;
            if (k == i || !w->alive || w->njobs <= t || w->njobs - t <= most ||
                !stuck_for(p, k, i, now))
                continue;
            most = w->njobs - t;
            v = k;
        }
        if (v == UINT_MAX)
            continue;
        if (room > STEAL_MAX - nmv)
            room = (unsigned)(STEAL_MAX - nmv);
        size_t got = take_queued(p, v, i, room, mv + nmv);
        if (got) {
            pdi_debug(WHO, "worker %u idle: %zu queued jobs taken from worker %u (nothing "
                           "finished there for %llu ms)", i, got, v,
                      (unsigned long long)((now - p->w[v].progress_ns) / 1000000ull));
            pdi_proc_send_recalls_locked(p, v);
        }
        nmv += got;
        /* counted as the idle worker's from now on: it is not idle for the
         * next one, and the stuck one's queue is shorter */
        iw->njobs += (unsigned)got;
    }
    if (!nmv)
        return;
    p->last_steal_ns = now;
    /* njobs of the idle workers were raised for the loop only: submit
     * registers the jobs (and counts them) itself */
    for (size_t x = 0; x < nmv; x++)
        p->w[mv[x].to].njobs--;
    pthread_mutex_unlock(&p->lock);
    for (size_t x = 0; x < nmv;) {
        /* one batch per idle worker (consecutive in mv) */
        size_t y = x;
        pydron_job *batch[STEAL_MAX];
        size_t nb = 0;
        for (; y < nmv && mv[y].to == mv[x].to; y++) {
            (void)pydron_job_moved(mv[y].job, mv[y].to);
            batch[nb++] = mv[y].job;
        }
        if (pdi_proc_submit(p, batch, nb, mv[x].to) < 0)
            for (size_t z = 0; z < nb; z++)
                pydron_job_requeue(batch[z]); /* back to the core, uncharged */
        x = y;
    }
    pthread_mutex_lock(&p->lock);
}
