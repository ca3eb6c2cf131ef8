/* The direct lane: with the inline executor, the thread that drives a graph
 * runs its ready C tasks itself, in groups, without a job record each.
 *
 * The inline executor runs every job on the driving thread anyway; what a
 * tiny task cost there was the way to it: a job taken from the free list
 * and filled in, handed to the executor's queue, polled out again, run
 * through the generic job runner, reported back and cleared. A chained
 * task of bench_core spent ~1,240 instructions there, the body's own ~25
 * among them, against ~360 for a whole oneTBB task. The direct lane keeps
 * what a task's meaning needs (its inputs read in place, its outcome, its
 * duration, its log entry, its consumers readied) and drops the rest: a
 * group of up to DL_GROUP tasks is taken from the FIFO queue under the
 * graph lock, run with the lock released, and completed under one lock.
 *
 * A task takes the lane when its kind is a C function (not SERIAL) and
 * every input's bytes are in this process; others become jobs for the
 * executor, as pdi_dispatch would make them. Jobs queued in the executor
 * before (from pydron_task_add) still run through it. Tasks run in the
 * policy's order: the FIFO queue's, or on the work-stealing policy the
 * newest ready task first (the one worker's own deque; oneTBB and Cilk run
 * a chain depth first the same way, its input still in the cache);
 * durations are measured as the inline executor's (pdi_jtimer's runs of
 * tiny tasks); a group stops after the driver's time
 * slice, and the tasks it did not reach go back to the queue.
 *
 * PYDRON_DIRECT=0 when a runtime is made turns the lane off for it (the job
 * path, for comparison). */
#include <stdlib.h>

#include "exec/exec.h"
#include "graph/fast.h"
#include "runner/ctx.h"
#include "runner/runner.h"
#include "sched/sched.h"
#include "util/trace.h"

#define DL_GROUP 64
/* the driver's slice: a group of slow tasks does not hold up a wait's
 * deadline longer than the inline executor's poll would */
#define DL_SLICE_NS 1000000u

struct pdi_dslot {
    uint32_t ti;
    uint16_t nin, nout;
    int rc;
    const pdi_c_runner *r;
    pdi_kind *k;
    unsigned attempt;
    const void *payload;
    size_t payload_len;
    uint64_t start_ns, end_ns;
    char *err;
    void *detail;
    size_t detail_len;
    pdi_buf ins[PDI_JOB_INLINE];
    pdi_tout outs[PDI_JOB_INLINE];
};

/* Software prefetch. On the FIFO policy ready tasks come from the queue's
 * front in the order they became ready: across many chains (bench_core's
 * 10,000), a task's record, its input's and its output's were last touched
 * thousands of tasks before, and are out of the cache; so is the record of
 * the consumer its outcome readies. Those loads were a fifth of a chained
 * task's time on the lane (perf, cpu-clock samples). The lane asks for each
 * record a few tasks ahead: the task's PF_TASK places ahead in the queue,
 * its input's and output's PF_VAL places ahead (the task record is there by
 * then), the consumer's PF_CONS completions ahead. A record may straddle
 * two cache lines: both are asked for. Prefetches never fault; the indexes
 * are checked against the slabs' counts so that no chunk pointer is read
 * out of bounds. */
#define PF_TASK 16
#define PF_VAL 8
#define PF_CONS 4

static PDI_ALWAYS_INLINE void pf_rec(const void *p, size_t n)
{
    __builtin_prefetch(p);
    __builtin_prefetch((const char *)p + n - 1);
}

static PDI_ALWAYS_INLINE void pf_value(pydron_graph *g, uint32_t vi)
{
    if (vi && vi <= g->vcount)
        pf_rec(pdi_V(g, vi), sizeof(pdi_value));
}

/* The queue (len entries) will be taken from its front: the records of the
 * task PF_TASK ahead, the values of the one PF_VAL ahead. */
static PDI_ALWAYS_INLINE void pf_queued(pydron_graph *g, const pdi_ring *q, size_t len)
{
    uint64_t id;
    if (len > PF_TASK) {
        memcpy(&id, pdi_ring_at(q, PF_TASK, sizeof id), sizeof id);
        uint32_t ti = pdi_id_idx(id);
        if (ti <= g->tcount)
            pf_rec(pdi_T(g, ti), sizeof(pdi_task));
    }
    if (len > PF_VAL) {
        memcpy(&id, pdi_ring_at(q, PF_VAL, sizeof id), sizeof id);
        uint32_t ti = pdi_id_idx(id);
        if (ti > g->tcount)
            return;
        /* a stale entry or ports on the heap give indexes of other
         * records, or of none (0, or past the count: not asked for); a
         * wrong prefetch costs a load, no test per task */
        const pdi_task *t = pdi_T(g, ti);
        pf_value(g, t->ins.in[0]);
        pf_value(g, t->outs.in[0]);
    }
}

/* Slot s is about to complete: the record of its output's first consumer. */
static PDI_ALWAYS_INLINE void pf_consumer(pydron_graph *g, const struct pdi_dslot *s)
{
    const pdi_task *t = pdi_T(g, s->ti);
    if (!t->nout || (t->bits & TB_OUT_HEAP))
        return;
    const pdi_value *o = pdi_V(g, t->outs.in[0]);
    if (o->state != PYDRON_VALUE_PENDING || (o->vf & VF_CONSHEAP) || !o->len)
        return;
    uint32_t c = o->u.cin[0];
    if (!(c & PDI_CONS_FWD) && c && c <= g->tcount)
        pf_rec(pdi_T(g, c), sizeof(pdi_task));
}

int pdi_direct_off_env(void)
{
    const char *e = getenv("PYDRON_DIRECT");
    return e && e[0] == '0' && e[1] == '\0';
}

/* Task t (READY) fits the lane: 1 with slot s filled (but for its index),
 * else 0. Changes nothing else but *fit (NULL, or the last kind found to
 * fit: kinds never change once registered). */
static PDI_ALWAYS_INLINE int take(pydron_graph *g, pdi_task *t, struct pdi_dslot *s,
                                  const pdi_kind **fit)
{
    pdi_kind *k = g->kt->kinds[t->kind];
    /* *fit: a kind of the lane (one test for the tasks of a group's kind) */
    if (k != *fit) {
        if (k->runner != &pdi_c_runner_ops || (k->flags & PYDRON_KIND_SERIAL))
            return 0;
        *fit = k;
    }
    uint16_t nin = t->nin, nout = t->nout;
    if (nin > PDI_JOB_INLINE || nout > PDI_JOB_INLINE)
        return 0;
    uint32_t *ins = pdi_task_ins(t);
    for (uint16_t i = 0; i < nin; i++) {
        pdi_value *r = pdi_value_root(g, pdi_V(g, ins[i]));
        if (PDI_UNLIKELY(r->state != PYDRON_VALUE_READY || !pdi_value_has_bytes(r)))
            return 0;   /* the job path fails it, or has it fetched */
        s->ins[i].data = pdi_value_data(r);
        s->ins[i].len = (size_t)r->len;
    }
    /* the outputs are unset, all zero (calloc, and complete() leaves them so) */
    for (uint16_t i = 0; i < nout; i++)
        s->outs[i].where = -1;
    /* the first output's record, read first by the completion after the
     * group has run (pf_consumer): out of the cache since the add on a
     * long graph, it stalled there (perf) */
    if (nout && !(t->bits & TB_OUT_HEAP))
        pf_value(g, t->outs.in[0]);
    s->nin = nin;
    s->nout = nout;
    s->k = k;
    s->r = k->runner_self;
    s->attempt = t->attempt;
    s->payload = t->payload_len ? pdi_task_payload(t) : NULL;
    s->payload_len = t->payload_len;
    /* err and detail are NULL (calloc, and complete() leaves them so) */
    return 1;
}

/* Equal shares of [from, now) for slots a..b-1 (a run of tiny tasks timed
 * by one clock read), as pdi_jtimer_flush. */
static void share(struct pdi_dslot *s, size_t a, size_t b, uint64_t from, uint64_t now)
{
    uint64_t share = (now - from) / (b - a);
    for (size_t i = a; i < b; i++) {
        s[i].start_ns = from + (i - a) * share;
        s[i].end_ns = from + (i - a + 1) * share;
    }
    s[b - 1].end_ns = now;
}

/* Tiny tasks of one kind are timed in runs of up to DL_RUN, one clock read
 * for the run (pdi_jtimer's runs are of PDI_JT_RUN): a read costs ~24 ns
 * on this VM, ~11 reads per group of 64 chained tasks were ~4 ns a task
 * (perf). A slow call of a tiny kind shares its time with up to DL_RUN - 1
 * calls of that kind next to it; each run's total stays exact. */
#define DL_RUN 32

/* The lane's clock between groups: whether tasks of kind rk were tiny
 * (every: DL_RUN, else 1), so that a group does not time its first task
 * alone again; now: the last reading of the last group. */
struct dl_clock {
    unsigned every;
    const pdi_kind *rk;
    uint64_t now;
};

/* Run slots 0..n-1 (g->mu released). Returns how many ran; the rest were
 * not reached within the slice. Timed as pdi_job_run_timed times the
 * inline executor's jobs: a task is timed alone (a clock read after it)
 * unless it follows tiny tasks of its own kind; those are timed in runs of
 * up to DL_RUN, one read for the run, an equal share each. The clock starts
 * anew with each group (the completions between groups are no task's
 * time); *ck carries what was learnt about the kind from group to group. */
static size_t run_group(pydron_graph *g, struct pdi_dslot *s, size_t n, uint64_t slice_ns,
                        struct dl_clock *ck)
{
    pdi_err_clear();
    pdi_tls_state *tls = &pdi_tls;
    pydron_graph *prev = tls->cb_graph;
    tls->cb_graph = g;
    uint64_t t0 = pdi_now_ns(), from = t0, now = t0;
    size_t first = 0, i = 0;   /* slots first..i-1: a run not timed yet */
    unsigned every = ck->every;
    const pdi_kind *rk = ck->rk;  /* the kind of the run */
    while (i < n) {
        struct pdi_dslot *d = &s[i];
        int alone = every == 1 || d->k != rk;
        if (alone && first < i) {
            now = pdi_now_ns();
            share(s, first, i, from, now);
            from = now;
            first = i;
        }
        int rc;
        if (PDI_UNLIKELY(__atomic_load_n(&g->canceled, __ATOMIC_RELAXED))) {
            rc = PYDRON_ECANCELED;
        } else {
            pydron_task_ctx ctx;
            pdi_ctx_init_view(&ctx, d->k->name ? d->k->name : "", d->attempt, d->payload,
                              d->payload_len, d->ins, sizeof d->ins[0], d->nin, &d->outs[0].out,
                              sizeof d->outs[0], d->nout);
            rc = pdi_ctx_finish_fast(&ctx, d->r->fn(&ctx, d->r->user));
            if (PDI_UNLIKELY(rc != 0)) {
                pdi_ctx_error_take(&ctx, &d->err, &d->detail, &d->detail_len);
                pdi_ctx_cleanup(&ctx);
            }
        }
        d->rc = rc;
        i++;
        if (alone) {
            now = pdi_now_ns();
            d->start_ns = from;
            d->end_ns = now;
            every = rc == 0 && now - from < PDI_JT_TINY_NS ? DL_RUN : 1;
            rk = d->k;
        } else if (rc != 0 || i - first == every || i == n) {
            now = pdi_now_ns();
            share(s, first, i, from, now);
            if (rc != 0 || now - from >= (uint64_t)(i - first) * PDI_JT_TINY_NS)
                every = 1;   /* not tiny (any more): one read per task */
        } else {
            continue;
        }
        from = now;
        first = i;
        if (now - t0 >= slice_ns)
            break;
    }
    tls->cb_graph = prev;
    ck->every = every;
    ck->rk = rk;
    ck->now = now;
    return i;
}

/* One outcome, as job_complete_dec reports a job's; worker: where it ran
 * (-1: the driving thread). */
static PDI_ALWAYS_INLINE void complete(pydron_graph *g, struct pdi_dslot *d, int32_t worker)
{
    pdi_run run = {worker, 1, d->start_ns, d->end_ns, d->outs, 1};
    pdi_task *t = pdi_T(g, d->ti);
    /* the duration, as pdi_sched_drain_slow counts a reported one */
    if (d->end_ns > d->start_ns && d->start_ns)
        pdi_kstat_add(g, t->kind, (double)((float)(d->end_ns - d->start_ns) * 1e-9f));
    g->now_hint = d->end_ns;
    if (PDI_LIKELY(d->rc == 0)) {
        /* the commonest shape here, without a call */
        if (!pdi_task_succeeded_simple(g, d->ti, t, &run))
            pdi_task_succeeded(g, d->ti, &run);
    } else {
        pdi_task_run_failed(g, d->ti, pdi_tid(g, d->ti), d->rc, &d->err, &d->detail,
                            d->detail_len, &run);
    }
    g->now_hint = 0;
    /* what the outcome did not take (an unset output is all zero); a
     * task's one output is taken on success (one test, not a loop) */
    uint16_t nout = d->nout;
    if (PDI_UNLIKELY(nout > 1 || (nout && d->outs[0].out.set)))
        for (uint16_t i = 0; i < nout; i++)
            if (d->outs[i].out.set)
                pdi_out_release(&d->outs[i].out);
    if (PDI_UNLIKELY(d->rc != 0)) {   /* NULL again for the slot's next task */
        free(d->err);
        free(d->detail);
        d->err = NULL;
        d->detail = NULL;
        d->detail_len = 0;
    }
    g->events++;
}

int pdi_direct_use(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    return sg->rt->xkind == PYDRON_EXECUTOR_INLINE &&
           (sg->pops == &pdi_fifo_ops || sg->pops == &pdi_steal_ops) &&
           !sg->rt->direct_off && !sg->direct_oom && !g->canceled && !g->freeing &&
           !pdi_tracing();
}

/* Back to the newest end of the ready list, unqueued: what the lane takes
 * next in the work-stealing order (newest first). */
static void relist(pydron_graph *g, uint32_t ti, uint64_t id)
{
    pdi_changes *c = &g->chg;
    pdi_T(g, ti)->state = PYDRON_TASK_READY;
    if (c->nready == c->capready &&
        pdi_grow((void **)&c->ready, &c->capready, c->nready + 1, sizeof(uint64_t)) != 0) {
        c->ready_lost = 1;   /* found again by the scan */
        c->dirty = 1;
        return;
    }
    c->ready[c->nready++] = id;
}

void pdi_task_unpick(pydron_graph *g, uint32_t ti, uint64_t id)
{
    pdi_sgraph *sg = pdi_S(g);
    if (sg->pops != &pdi_fifo_ops) {
        relist(g, ti, id);
        return;
    }
    pdi_task *t = pdi_T(g, ti);
    t->state = PYDRON_TASK_READY;
    if (pdi_ring_unpop(sg->pself, &id, sizeof id) == 0) {
        t->bits |= TB_QUEUED;
        sg->nqueued++;
    } else {
        pdi_task_ready(g, ti);   /* out of memory: behind the queue */
    }
}

/* Not reached within the slice: back where the group took them, in order -
 * the front of the FIFO queue, or (work-stealing, taken newest first) the
 * newest end of the ready list. */
static void put_back(pydron_graph *g, struct pdi_dslot *s, size_t a, size_t n)
{
    for (size_t i = n; i-- > a;)
        pdi_task_unpick(g, s[i].ti, pdi_tid(g, s[i].ti));
}

size_t pdi_direct_run(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    if (!g->started || !sg->rt->xstarted)
        return 0;
    if (!sg->dslots && !(sg->dslots = calloc(DL_GROUP, sizeof *sg->dslots))) {
        sg->direct_oom = 1;   /* pdi_dispatch does it the job way */
        return 0;
    }
    struct pdi_dslot *s = sg->dslots;
    pdi_ring *q = sg->pself;
    pdi_changes *c = &g->chg;
    size_t total = 0;
    uint64_t t0 = pdi_now_ns();
    /* work-stealing: the newest ready task first, as the policy's worker
     * takes the newest of its own deque (the one worker here is this
     * thread): what the last group made ready, newest first, then the
     * policy's pick. A chain's next step runs while its input is hot. */
    int lifo = sg->pops == &pdi_steal_ops;
    struct dl_clock ck = {1, NULL, t0};
    for (;;) {
        /* FIFO: what became ready since goes behind the queue; while the
         * queue is empty it is the front, taken straight from the list of
         * changes (a chain's next step without a trip through the queue).
         * Work-stealing: the list is newer than all the policy holds. */
        pdi_sched_drain(g);
        if (lifo ? c->ready_lost : (sg->nqueued || c->nready > DL_GROUP || c->ready_lost))
            pdi_flush_ready(g);
        /* a group: tasks of the lane, or jobs for the executor, in queue
         * order; the first task of the other class ends it */
        size_t n = 0, nj = 0, k = 0;
        uint64_t carry = 0;   /* picked, of the other class: relisted after */
        pydron_job *jobs[DL_GROUP];
        const pdi_kind *fit = NULL;
        while (n < DL_GROUP && nj < DL_GROUP) {
            uint64_t id;
            int listed = k < c->nready, picked = 0;
            if (listed) {
                id = c->ready[lifo ? c->nready - 1 - k : k];
            } else if (lifo) {
                pydron_task pt;
                if (!sg->nqueued || sg->pops->pick(sg->pself, 0, &pt) != 1)
                    break;
                id = pt.id;
                picked = 1;
            } else if (sg->nqueued && pdi_ring_len(q)) {
                pf_queued(g, q, pdi_ring_len(q));
                memcpy(&id, pdi_ring_at(q, 0, sizeof id), sizeof id);
            } else {
                break;
            }
            uint32_t ti = pdi_id_idx(id);
            pdi_task *t = picked ? pdi_task_get(g, id, &ti) : pdi_T(g, ti);
            if (picked) {
                if (!pdi_pick_check(g, t, id))
                    continue;
            } else if (listed) {
                if (t->gen != pdi_id_gen(id) || t->state != PYDRON_TASK_READY ||
                    (t->bits & TB_QUEUED)) {
                    k++;   /* as pdi_flush_ready skips it */
                    continue;
                }
            } else {
                if (t->state == PDI_T_FREE || t->gen != pdi_id_gen(id) ||
                    (t->bits & TB_ZOMBIE) || !(t->bits & TB_QUEUED)) {
                    (void)pdi_ring_pop(q, &id, sizeof id);   /* canceled or stale */
                    continue;
                }
                if (t->state != PYDRON_TASK_READY) {
                    /* waiting again: pushed anew when ready */
                    (void)pdi_ring_pop(q, &id, sizeof id);
                    t->bits &= (uint8_t)~TB_QUEUED;
                    sg->nqueued--;
                    continue;
                }
            }
            int direct = take(g, t, &s[n], &fit);
            if (direct ? nj != 0 : n != 0) {
                if (picked)
                    carry = id;   /* out of the policy now: first in the next group */
                break;   /* the other class: the next group */
            }
            if (listed) {
                k++;
            } else if (picked) {
                /* taken out of the policy above */
            } else {
                (void)pdi_ring_pop(q, &id, sizeof id);
                t->bits &= (uint8_t)~TB_QUEUED;
                sg->nqueued--;
            }
            if (direct) {
                s[n++].ti = ti;
                t->state = PYDRON_TASK_RUNNING;
                continue;
            }
            pydron_job *j = pdi_job_get(g);
            int rc = j ? pdi_job_prepare(g, j, ti, 0) : PYDRON_ENOMEM;
            if (rc) {
                if (j)
                    pdi_job_put(g, j);
                else
                    g->chg.ready_lost = 1;
                continue;
            }
            jobs[nj++] = j;
        }
        if (k && lifo) {   /* taken from the newest end */
            c->nready -= k;
        } else if (k) {   /* what the group did not reach stays at the list's front */
            memmove(c->ready, c->ready + k, (c->nready - k) * sizeof *c->ready);
            c->nready -= k;
        }
        if (carry)
            relist(g, pdi_id_idx(carry), carry);
        if (nj) {
            /* older than the queue's rest: the driver polls them first */
            pdi_submit_jobs(g, jobs, nj, 0);
            break;
        }
        if (!n)
            break;
        sg->inflight += n;
        pthread_mutex_unlock(&sg->mu);
        size_t ran = run_group(g, s, n, DL_SLICE_NS, &ck);
        pthread_mutex_lock(&sg->mu);
        for (size_t i = 0; i < ran; i++) {
            if (i + PF_CONS < ran)
                pf_consumer(g, &s[i + PF_CONS]);
            complete(g, &s[i], -1);
        }
        put_back(g, s, ran, n);
        sg->inflight -= n;
        total += ran;
        g->stats.tasks_direct += ran;
        pdi_sched_drain(g);
        if (sg->waiters > (unsigned)sg->drv_waiting)
            pthread_cond_broadcast(&sg->cv);
        if (ran < n || ck.now - t0 >= DL_SLICE_NS || g->canceled)
            break;
    }
    return total;
}

/* ------------------------------------------------------------ group jobs
 *
 * The lane's groups for the threads executor. Its pool threads, not the
 * driving thread, run the tasks; what a tiny task cost there was its job:
 * prepared, queued, run through the generic runner, completed and cleared,
 * one each (~1,830 instructions per chained task of bench_core, against
 * ~1,430 on the inline executor's lane). So the dispatcher puts the ready
 * C tasks of kinds measured tiny into one job (GROUP jobs): up to GJ_GROUP
 * of them, as many as fill GJ_BUDGET_NS by their kind's mean duration.
 * The pool thread runs them one after another as the lane does (each its
 * own outcome, duration and log entry), and their completion is one
 * report. A kind's first GJ_MIN_RUNS tasks go as jobs of their own (its
 * duration is unknown), and so do tasks of kinds that take GJ_BUDGET_NS /
 * 2 or more: a task of seconds is not queued behind others on one thread
 * while another idles. A group that has run GJ_SLICE_NS (a tiny kind's
 * call that turned slow) stops; the tasks it did not reach go back to the
 * policy. At most GJ_PER_WORKER groups per worker are out at a time: their
 * slots stay in the cache, and tasks wait in the policy's order, not in a
 * pool thread's. Only the shipped threads executor gets them (it runs every
 * job with pdi_job_run_timed); PYDRON_DIRECT=0 turns them off with the
 * lane. */
#define GJ_GROUP DL_GROUP
#define GJ_BUDGET_NS 100000.0
#define GJ_SLICE_NS 400000u
#define GJ_MIN_RUNS 8u
#define GJ_PER_WORKER 2u

struct pdi_dgroup {
    size_t n, cap;
    size_t ran;                 /* slots run (the rest go back) */
    const pdi_kind *fit;        /* take()'s kind of the lane */
    struct pdi_dgroup *next;    /* free list */
    struct pdi_dslot s[GJ_GROUP];
};

int pdi_group_use(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    return sg->rt->xkind == PYDRON_EXECUTOR_THREADS &&
           (sg->pops == &pdi_fifo_ops || sg->pops == &pdi_steal_ops) && !sg->rt->direct_off &&
           !g->canceled && !g->freeing && !pdi_tracing();
}

/* How many tasks of t's kind fill a group (>= 2), or 0: not a kind for
 * groups (not a C function, SERIAL, not measured yet, not tiny). */
static size_t group_cap(pydron_graph *g, const pdi_task *t)
{
    pdi_sgraph *sg = pdi_S(g);
    uint32_t k = t->kind;
    if (k >= sg->kcap || sg->kcnt[k] < GJ_MIN_RUNS)
        return 0;
    const pdi_kind *kd = g->kt->kinds[k];
    if (kd->runner != &pdi_c_runner_ops || (kd->flags & PYDRON_KIND_SERIAL))
        return 0;
    double mean_ns = sg->ksum[k] * 1e9 / sg->kcnt[k];
    if (mean_ns * GJ_GROUP <= GJ_BUDGET_NS)
        return GJ_GROUP;
    size_t cap = (size_t)(GJ_BUDGET_NS / mean_ns);
    return cap >= 2 ? cap : 0;
}

int pdi_group_add(pydron_graph *g, pydron_job **gj, uint32_t ti, int32_t worker)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_task *t = pdi_T(g, ti);
    size_t cap = group_cap(g, t);
    if (!cap)
        return 0;
    struct pdi_dgroup *gr = *gj ? (*gj)->group : NULL;
    if (gr && gr->n < gr->cap) {
        if (!take(g, t, &gr->s[gr->n], &gr->fit))
            return 0;
        gr->s[gr->n++].ti = ti;
        t->state = PYDRON_TASK_RUNNING;
        return 1;
    }
    if (sg->ngroups >= GJ_PER_WORKER * sg->rt->nworkers)
        return -1;
    if ((gr = sg->gfree) != NULL) {
        sg->gfree = gr->next;
    } else if (!(gr = calloc(1, sizeof *gr))) {
        return 0;   /* a job of its own */
    }
    pydron_job *j = pdi_job_get(g);
    gr->fit = NULL;
    if (!j || !take(g, t, &gr->s[0], &gr->fit)) {
        if (j)
            pdi_job_put(g, j);
        gr->next = sg->gfree;
        sg->gfree = gr;
        return 0;
    }
    gr->s[0].ti = ti;
    gr->n = 1;
    gr->cap = cap;
    gr->ran = 0;
    pdi_job_fill(g, j, ti, worker);   /* a job with no ports of its own */
    j->group = gr;
    sg->ngroups++;
    *gj = j;
    return 2;
}

uint64_t pdi_group_run(pydron_job *j, size_t *ran)
{
    struct pdi_dgroup *gr = j->group;
    struct dl_clock ck = {1, NULL, 0};
    *ran = gr->ran = run_group(j->g, gr->s, gr->n, GJ_SLICE_NS, &ck);
    return gr->s[gr->ran ? gr->ran - 1 : 0].end_ns;
}

void pdi_group_complete(pydron_graph *g, pydron_job *j, int rc, int requeue)
{
    pdi_sgraph *sg = pdi_S(g);
    struct pdi_dgroup *gr = j->group;
    size_t ran = 0;
    if (requeue) {
        ran = 0;   /* not run: every task back to the policy */
    } else if (rc == 0) {
        ran = gr->ran;
    } else {
        /* not run (canceled): each task has that outcome */
        if (g->canceled)
            rc = PYDRON_ECANCELED;
        for (size_t i = 0; i < gr->n; i++) {
            gr->s[i].rc = rc;
            gr->s[i].start_ns = gr->s[i].end_ns = 0;
        }
        ran = gr->n;
    }
    for (size_t i = 0; i < ran; i++)
        complete(g, &gr->s[i], j->worker);
    put_back(g, gr->s, ran, gr->n);
    g->stats.tasks_grouped += rc == 0 ? ran : 0;
    gr->n = gr->ran = 0;
    gr->next = sg->gfree;
    sg->gfree = gr;
    j->group = NULL;
    sg->ngroups--;
}

void pdi_group_free_all(pydron_graph *g)
{
    pdi_sgraph *sg = pdi_S(g);
    while (sg->gfree) {
        struct pdi_dgroup *gr = sg->gfree;
        sg->gfree = gr->next;
        free(gr);
    }
}
