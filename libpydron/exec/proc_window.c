/* proc_window.c - how many jobs each worker gets in flight, from what is
 * measured, and idle workers taking queued jobs of busy ones.
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

/* Idle workers take queued, not started jobs of busy ones: a worker with a
 * free thread and nothing queued, another with more queued than it has
 * threads. The newest queued jobs of the busiest worker are recalled from
 * it (a Recall frame: it drops those it has not started; one it started
 * anyway is run twice, and its second completion is ignored) and go back
 * to the core, which gives them to the workers with room, the idle one
 * first. A replacement worker gets work this way too. */
#define STEAL_EVERY_NS 50000000ull /* at most every 50 ms */

static int cmp_seq_desc(const void *a, const void *b)
{
    const jobent *x = *(jobent *const *)a, *y = *(jobent *const *)b;
    return x->seq < y->seq ? 1 : x->seq > y->seq ? -1 : 0;
}

void pdi_proc_steal_locked(pdi_proc *p, uint64_t now)
{
    /* Off unless PYDRON_STEAL=1: the core may hand a stolen job straight
     * back to the worker it was taken from (seen in test_shm's spread of
     * consumers); until dispatch prefers the idle worker, the measured
     * window (a few jobs per thread for long tasks) and the lost slot's
     * work going to its replacement carry the balance. */
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("PYDRON_STEAL");
        on = e && *e == '1';
    }
    if (!on || p->stopping || now - p->last_steal_ns < STEAL_EVERY_NS)
        return;
    unsigned idle_room = 0, busy = UINT_MAX;
    unsigned most = 0;
    for (unsigned i = 0; i < p->nw; i++) {
        pworker *w = &p->w[i];
        if (!w->alive)
            continue;
        unsigned t = w->threads ? w->threads : 1;
        if (w->njobs < t)
            idle_room += t - w->njobs;
        else if (w->njobs - t > most) {
            most = w->njobs - t;
            busy = i;
        }
    }
    /* one job queued behind the running ones is what the window keeps
     * anyway; steal only more than that */
    if (!idle_room || busy == UINT_MAX || most < 2)
        return;
    p->last_steal_ns = now;
    unsigned take = most / 2 < idle_room ? most / 2 : idle_room;
    pworker *bw = &p->w[busy];
    jobent **all = malloc(bw->njobs * sizeof *all);
    if (!all)
        return;
    size_t n = 0;
    for (size_t k = 0; k < p->njb; k++)
        for (jobent *e = p->jb[k]; e; e = e->next)
            if (e->worker == busy && n < bw->njobs)
                all[n++] = e;
    qsort(all, n, sizeof *all, cmp_seq_desc);
    pydron_job *back[64];
    size_t nback = 0;
    if (take > 64)
        take = 64;
    for (size_t i = 0; i < n && nback < take; i++) {
        jobent *e = all[i];
        if (pdi_grow((void **)&bw->rcl, &bw->caprcl, bw->nrcl + 1, sizeof *bw->rcl) != 0)
            break;
        (void)pdi_proc_job_take(p, e->seq, busy);
        bw->rcl[bw->nrcl++] = e->seq;
        back[nback++] = e->job;
        free(e);
    }
    free(all);
    if (!nback)
        return;
    pdi_debug(WHO, "worker %u: %zu queued jobs taken back for idle workers", busy, nback);
    /* the recall goes out with the next service round (queue order: after
     * the batches that sent them) */
    pthread_mutex_unlock(&p->lock);
    for (size_t i = 0; i < nback; i++)
        pydron_job_requeue(back[i]);
    pthread_mutex_lock(&p->lock);
}
