/* sim.c - the simulated executor: a discrete-event model of N workers with
 * C cores each and a network (latency + max-min fair sharing of every
 * node's up and down link, as in Estee, Beranek et al.), driven by the
 * real scheduler and policy. Nothing runs on a worker: a "pydron.bench"
 * task takes the duration its payload says and its outputs are digests
 * kept here; a task of another kind runs its body on the driver thread
 * (inside poll) and costs what cost() says or what it measured.
 *
 * Time is virtual: poll() pops events in (time, sequence) order, so a run
 * is deterministic. Written against pydron.h alone (plus util/), like an
 * executor from outside the tree.
 *
 * Locks: x->mu guards the model; it is never held while calling into
 * pydron (pydron_job_done may call submit() on this thread). x->vmu guards
 * the value table; release() takes it with the graph lock held, so nothing
 * here takes a graph lock while holding vmu. */
#include <math.h>
#include <pthread.h>
#include <time.h>

#include "pydron.h"
#include "util/util.h"

#define WINDOW_MAX 4096   /* as the process executors' measured window */

enum { EV_ARRIVE, EV_FLOW_START, EV_NET, EV_FINISH, EV_REPORT };
enum { SJ_SENT, SJ_QUEUED, SJ_FETCHING, SJ_RUNNING, SJ_DONE };

typedef struct sjob {
    pydron_job *j;
    unsigned worker;
    int state;
    int bench;             /* pydron.bench: modelled, not run */
    int canceled;          /* reported canceled: events for it are ignored */
    int arrived;           /* the job message reached its worker */
    int first;             /* sent while its worker had a free core (a round-trip sample) */
    int rc;                /* outcome of a body run here */
    unsigned pending;      /* transfers still to arrive */
    unsigned refs;         /* events and flows that point here, + 1 while live */
    double duration;       /* virtual seconds (bench; else set when run) */
    double sent;           /* when the driver sent it */
    double start, end;
    uint64_t out_bytes, seed;
    struct sjob *qnext;    /* worker queue */
    struct sjob *lnext, *lprev;   /* live list */
    struct sjob *anext;    /* every sjob ever allocated (freed by destroy) */
} sjob;

typedef struct flow {
    sjob *sj;
    unsigned src, dst;     /* nodes: workers 0..N-1, the driver N */
    double remaining, rate, last;
    uint64_t ver;
    uint64_t seq;          /* creation order: flows that end together are done in it */
    size_t slot;           /* index in the active array, or SIZE_MAX */
    int fixed, ended;
    unsigned evrefs;       /* events that point here */
    struct flow *fnext, *fprev;   /* every flow not yet freed */
} flow;

typedef struct ev {
    double t;
    uint64_t seq;
    int type;
    void *p;
    uint64_t ver;
} ev;

typedef struct swk {
    sjob *qhead, *qtail;
    unsigned free_cores;
    unsigned njobs;        /* sent, not yet reported or canceled */
    double rtt, dur;       /* measured window: round trip, mean run time */
    unsigned window;       /* last depth given to the core (0: none yet) */
} swk;

typedef struct vent {
    uint64_t id;           /* 0 = empty */
    uint64_t digest, size;
} vent;

typedef struct sim {
    pthread_mutex_t mu;
    pydron_sim_options o;
    pydron_exec_host *host;
    unsigned n;            /* workers */
    unsigned in_flight;
    int measured_window;   /* in_flight not set: a window from round trip and run time */
    swk *w;
    double now, driver_free;
    ev *heap;
    size_t nheap, capheap;
    uint64_t seq;
    flow **act;            /* flows in their bandwidth phase */
    size_t nact, capact;
    flow **fin;            /* scratch: flows ending in one EV_NET */
    size_t capfin;
    uint64_t nflows;       /* flows made (their seq) */
    int net_dirty;
    uint64_t net_ver;      /* the EV_NET event that is current */
    /* max-min scratch, per link (up link of node i: i; down link: N+1+i) */
    double *lrem;
    unsigned *ln, *lstart, *lstamp, *lseen, *touched;
    flow **lflows;         /* flows grouped by link (two entries per flow) */
    size_t caplflows;
    struct lh { double share; unsigned link, stamp; } *lheap;
    size_t nlheap, caplheap;
    sjob *live;
    sjob *freelist;
    sjob *all;
    flow *flows;
    uint64_t rng;
    pydron_sim_stats st;
    int stopped;
    /* values made here: id -> digest, size (open addressing) */
    pthread_mutex_t vmu;
    vent *vt;
    size_t vcap, vlen;
} sim;

/* ------------------------------------------------------------ events */

static int ev_before(const ev *a, const ev *b)
{
    return a->t < b->t || (a->t == b->t && a->seq < b->seq);
}

static int ev_push(sim *x, double t, int type, void *p, uint64_t ver)
{
    if (pdi_grow((void **)&x->heap, &x->capheap, x->nheap + 1, sizeof(ev)))
        return PYDRON_ENOMEM;
    ev e = {t, x->seq++, type, p, ver};
    size_t i = x->nheap++;
    while (i > 0 && ev_before(&e, &x->heap[(i - 1) / 2])) {
        x->heap[i] = x->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    x->heap[i] = e;
    return 0;
}

static int ev_pop(sim *x, ev *out)
{
    if (!x->nheap)
        return 0;
    *out = x->heap[0];
    ev e = x->heap[--x->nheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const ev *best = &e;
        if (l < x->nheap && ev_before(&x->heap[l], best))
            m = l, best = &x->heap[l];
        if (l + 1 < x->nheap && ev_before(&x->heap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        x->heap[i] = x->heap[m];
        i = m;
    }
    if (x->nheap)
        x->heap[i] = e;
    return 1;
}

/* ------------------------------------------------------------ values */

static size_t vhash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdull;
    id ^= id >> 33;
    return (size_t)id & (cap - 1);
}

static int vput(sim *x, uint64_t id, uint64_t digest, uint64_t size)
{
    if ((x->vlen + 1) * 4 > x->vcap * 3) {
        size_t nc = x->vcap ? x->vcap * 2 : 1024;
        vent *nt = calloc(nc, sizeof *nt);
        if (!nt)
            return PYDRON_ENOMEM;
        for (size_t k = 0; k < x->vcap; k++) {
            if (!x->vt[k].id)
                continue;
            size_t i = vhash(x->vt[k].id, nc);
            while (nt[i].id)
                i = (i + 1) & (nc - 1);
            nt[i] = x->vt[k];
        }
        free(x->vt);
        x->vt = nt;
        x->vcap = nc;
    }
    size_t i = vhash(id, x->vcap);
    while (x->vt[i].id && x->vt[i].id != id)
        i = (i + 1) & (x->vcap - 1);
    if (!x->vt[i].id)
        x->vlen++;
    x->vt[i] = (vent){id, digest, size};
    return 0;
}

static vent *vget(sim *x, uint64_t id)
{
    if (!x->vcap)
        return NULL;
    size_t i = vhash(id, x->vcap);
    while (x->vt[i].id) {
        if (x->vt[i].id == id)
            return &x->vt[i];
        i = (i + 1) & (x->vcap - 1);
    }
    return NULL;
}

static void vdel(sim *x, uint64_t id)
{
    vent *e = vget(x, id);
    if (!e)
        return;
    /* backward-shift deletion keeps probe chains intact */
    size_t i = (size_t)(e - x->vt), j = i;
    for (;;) {
        j = (j + 1) & (x->vcap - 1);
        if (!x->vt[j].id)
            break;
        size_t k = vhash(x->vt[j].id, x->vcap);
        if ((j > i && (k <= i || k > j)) || (j < i && (k <= i && k > j))) {
            x->vt[i] = x->vt[j];
            i = j;
        }
    }
    x->vt[i].id = 0;
    x->vlen--;
}

static uint64_t first8(const void *data, size_t len)
{
    unsigned char b[8] = {0};
    if (data)
        memcpy(b, data, len < 8 ? len : 8);
    uint64_t v = 0;
    for (int k = 7; k >= 0; k--)
        v = (v << 8) | b[k];
    return v;
}

/* ------------------------------------------------------------ jobs */

static sjob *sj_new(sim *x)
{
    sjob *s = x->freelist;
    if (s)
        x->freelist = s->qnext;
    else if (!(s = malloc(sizeof *s)))
        return NULL;
    else
        s->anext = x->all, x->all = s;
    sjob *keep = s->anext;
    memset(s, 0, sizeof *s);
    s->anext = keep;
    s->refs = 1;
    s->lnext = x->live;
    if (x->live)
        x->live->lprev = s;
    x->live = s;
    return s;
}

static void sj_unref(sim *x, sjob *s)
{
    if (--s->refs)
        return;
    s->qnext = x->freelist;
    x->freelist = s;
}

/* The job left the model (reported): off the live list, one ref less. */
static void sj_retire(sim *x, sjob *s)
{
    if (x->w[s->worker].njobs)
        x->w[s->worker].njobs--;
    if (s->lprev)
        s->lprev->lnext = s->lnext;
    else
        x->live = s->lnext;
    if (s->lnext)
        s->lnext->lprev = s->lprev;
    s->lnext = s->lprev = NULL;
    sj_unref(x, s);
}

static double rnd_unit(sim *x)
{
    uint64_t v = x->rng;
    v ^= v >> 12;
    v ^= v << 25;
    v ^= v >> 27;
    x->rng = v;
    return (double)((v * 0x2545f4914f6cdd1dull) >> 11) / 9007199254740992.0;
}

static double jittered(sim *x, double d)
{
    if (x->o.jitter > 0)
        d *= 1 + x->o.jitter * (2 * rnd_unit(x) - 1);
    return d > 0 ? d : 0;
}

/* ------------------------------------------------------------ network */

static void sj_unref(sim *x, sjob *s);

/* Free a flow once it has ended and no event points at it. */
static void flow_free(sim *x, flow *f)
{
    if (!f->ended || f->evrefs)
        return;
    if (f->fprev)
        f->fprev->fnext = f->fnext;
    else
        x->flows = f->fnext;
    if (f->fnext)
        f->fnext->fprev = f->fprev;
    sj_unref(x, f->sj);
    free(f);
}

static int flow_new(sim *x, sjob *s, unsigned src, unsigned dst, uint64_t bytes, double t)
{
    flow *f = calloc(1, sizeof *f);
    if (!f)
        return PYDRON_ENOMEM;
    f->sj = s;
    f->src = src;
    f->dst = dst;
    f->remaining = (double)bytes;
    f->slot = SIZE_MAX;
    f->seq = x->nflows++;
    f->fnext = x->flows;
    if (x->flows)
        x->flows->fprev = f;
    x->flows = f;
    s->refs++;
    s->pending++;
    x->st.transfers++;
    x->st.bytes_moved += bytes;
    int rc = ev_push(x, t + x->o.latency, EV_FLOW_START, f, 0);
    if (rc == 0)
        f->evrefs++;
    else
        s->pending--, f->ended = 1, flow_free(x, f);
    return rc;
}

/* A heap of links by fair share (lazy: an entry whose stamp is old is
 * skipped). */
static int lh_before(const struct lh *a, const struct lh *b)
{
    return a->share < b->share || (a->share == b->share && a->link < b->link);
}

static void lh_push(sim *x, double share, unsigned link)
{
    if (pdi_grow((void **)&x->lheap, &x->caplheap, x->nlheap + 1, sizeof *x->lheap))
        return;
    struct lh e = {share, link, x->lstamp[link]};
    size_t i = x->nlheap++;
    while (i > 0 && lh_before(&e, &x->lheap[(i - 1) / 2])) {
        x->lheap[i] = x->lheap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    x->lheap[i] = e;
}

static int lh_pop(sim *x, struct lh *out)
{
    if (!x->nlheap)
        return 0;
    *out = x->lheap[0];
    struct lh e = x->lheap[--x->nlheap];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const struct lh *best = &e;
        if (l < x->nlheap && lh_before(&x->lheap[l], best))
            m = l, best = &x->lheap[l];
        if (l + 1 < x->nlheap && lh_before(&x->lheap[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        x->lheap[i] = x->lheap[m];
        i = m;
    }
    if (x->nlheap)
        x->lheap[i] = e;
    return 1;
}

static inline unsigned up_link(const flow *f) { return f->src; }
static inline unsigned dn_link(const sim *x, const flow *f) { return x->n + 1 + f->dst; }

/* Max-min fair rates of the active flows (progressive filling): every
 * node has an up and a down link of `bandwidth`. The link with the
 * smallest fair share (capacity left / flows not yet fixed) fixes the rate
 * of its flows at that share, which is taken from their other link; then
 * the next one, in O((F + L) log L). Afterwards one EV_NET event stands for
 * the earliest end of a flow. */
static void net_update(sim *x)
{
    x->net_dirty = 0;
    x->net_ver++;
    double bw = x->o.bandwidth;
    size_t F = x->nact;
    if (!F)
        return;
    for (size_t k = 0; k < F; k++) {
        flow *f = x->act[k];
        f->remaining -= f->rate * (x->now - f->last);
        if (f->remaining < 0)
            f->remaining = 0;
        f->last = x->now;
        f->fixed = 0;
        unsigned u = up_link(f), d = dn_link(x, f);
        x->ln[u] = x->ln[d] = 0;
        x->lrem[u] = x->lrem[d] = bw;
    }
    for (size_t k = 0; k < F; k++) {
        x->ln[up_link(x->act[k])]++;
        x->ln[dn_link(x, x->act[k])]++;
    }
    if (pdi_grow((void **)&x->lflows, &x->caplflows, 2 * F, sizeof *x->lflows))
        return;
    /* group flows by link: lstart[l] = first slot (counting sort) */
    size_t pos = 0, nt = 0;
    unsigned mark = (unsigned)x->net_ver;
    for (size_t k = 0; k < F; k++) {
        unsigned ls[2] = {up_link(x->act[k]), dn_link(x, x->act[k])};
        for (int j = 0; j < 2; j++) {
            unsigned l = ls[j];
            if (x->lseen[l] != mark) {
                x->lseen[l] = mark;
                x->touched[nt++] = l;
                x->lstart[l] = (unsigned)pos;
                pos += x->ln[l];
                x->ln[l] = 0;   /* refilled below */
            }
        }
    }
    for (size_t k = 0; k < F; k++) {
        flow *f = x->act[k];
        unsigned u = up_link(f), d = dn_link(x, f);
        x->lflows[x->lstart[u] + x->ln[u]++] = f;
        x->lflows[x->lstart[d] + x->ln[d]++] = f;
    }
    x->nlheap = 0;
    for (size_t k = 0; k < nt; k++) {
        unsigned l = x->touched[k];
        x->lstamp[l]++;
        lh_push(x, x->lrem[l] / x->ln[l], l);
    }
    /* ln[] now counts the flows of a link not yet fixed */
    struct lh e;
    while (lh_pop(x, &e)) {
        unsigned l = e.link;
        if (e.stamp != x->lstamp[l] || !x->ln[l])
            continue;
        double share = x->lrem[l] / x->ln[l];
        if (share < 0)
            share = 0;
        /* every unfixed flow on l: its slots are lstart[l] .. until ln[l]
         * unfixed ones were seen */
        for (size_t k = x->lstart[l]; x->ln[l]; k++) {
            flow *f = x->lflows[k];
            if (f->fixed)
                continue;
            f->fixed = 1;
            f->rate = share;
            unsigned u = up_link(f), d = dn_link(x, f);
            unsigned other = u == l ? d : u;
            x->lrem[l] -= share;
            x->ln[l]--;
            x->lrem[other] -= share;
            x->ln[other]--;
            x->lstamp[other]++;
            if (x->ln[other])
                lh_push(x, x->lrem[other] / x->ln[other], other);
        }
    }
    double next = INFINITY;
    for (size_t k = 0; k < F; k++) {
        flow *f = x->act[k];
        double t = f->rate > 0 ? x->now + f->remaining / f->rate : INFINITY;
        if (f->remaining <= 0)
            t = x->now;
        if (t < next)
            next = t;
    }
    if (isfinite(next))
        (void)ev_push(x, next, EV_NET, NULL, x->net_ver);
}

/* ------------------------------------------------------------ the model */

typedef struct act {
    int what;              /* 0: run the body, 1: report */
    sjob *sj;
} act;

typedef struct acts {
    act *a;
    size_t n, cap;
} acts;

static void add_act(acts *q, int what, sjob *s)
{
    if (pdi_grow((void **)&q->a, &q->cap, q->n + 1, sizeof *q->a) == 0)
        q->a[q->n++] = (act){what, s};
}

static void inputs_ready(sim *x, sjob *s, acts *q)
{
    s->state = SJ_RUNNING;
    s->start = x->now;
    if (s->bench) {
        if (ev_push(x, x->now + x->o.task_overhead + s->duration, EV_FINISH, s, 0) == 0)
            s->refs++;
    } else {
        add_act(q, 0, s);   /* the body runs now, on this thread */
    }
}

static void enqueue(sim *x, sjob *s)
{
    swk *w = &x->w[s->worker];
    s->state = SJ_QUEUED;
    s->qnext = NULL;
    if (w->qtail)
        w->qtail->qnext = s;
    else
        w->qhead = s;
    w->qtail = s;
    s->refs++;
}

/* Free cores of worker wi take the jobs at the head of its queue and
 * fetch their inputs held by other workers (all at once). */
static void try_start(sim *x, unsigned wi, acts *q)
{
    swk *w = &x->w[wi];
    while (w->free_cores && w->qhead) {
        sjob *s = w->qhead;
        w->qhead = s->qnext;
        if (!w->qhead)
            w->qtail = NULL;
        s->qnext = NULL;
        if (s->canceled) {
            sj_unref(x, s);   /* the queue's reference */
            continue;
        }
        sj_unref(x, s);       /* still live: not freed */
        w->free_cores--;
        s->state = SJ_FETCHING;
        size_t nin = pydron_job_ninputs(s->j);
        for (size_t i = 0; i < nin; i++) {
            size_t size = 0;
            int32_t where = -1;
            if (pydron_job_input(s->j, i, NULL, &size, &where, NULL, NULL) != 0 || where < 0 ||
                (unsigned)where == wi || (unsigned)where >= x->n)
                continue;   /* here already, or sent with the job */
            (void)flow_new(x, s, (unsigned)where, wi, size, x->now);
        }
        if (!s->pending)
            inputs_ready(x, s, q);
    }
}

static void flow_done(sim *x, flow *f, acts *q)
{
    if (f->slot != SIZE_MAX) {
        x->act[f->slot] = x->act[--x->nact];
        x->act[f->slot]->slot = f->slot;
        f->slot = SIZE_MAX;
        x->net_dirty = 1;
    }
    f->ended = 1;
    sjob *s = f->sj;
    s->pending--;
    if (!s->canceled && !s->pending) {
        if (s->state == SJ_FETCHING) {
            inputs_ready(x, s, q);
        } else if (s->state == SJ_SENT && s->arrived) {
            enqueue(x, s);
            try_start(x, s->worker, q);
        }
    }
    flow_free(x, f);
}

static int flow_cmp(const void *a, const void *b)
{
    const flow *x = *(flow *const *)a, *y = *(flow *const *)b;
    return x->seq < y->seq ? -1 : x->seq > y->seq;
}

static void handle(sim *x, const ev *e, acts *q)
{
    switch (e->type) {
    case EV_ARRIVE: {
        sjob *s = e->p;
        s->arrived = 1;
        if (!s->canceled && !s->pending) {
            enqueue(x, s);
            try_start(x, s->worker, q);
        }
        sj_unref(x, s);   /* the event's reference */
        break;
    }
    case EV_FLOW_START: {
        flow *f = e->p;
        f->evrefs--;
        f->last = x->now;
        if (f->remaining <= 0 || !isfinite(x->o.bandwidth) ||
            pdi_grow((void **)&x->act, &x->capact, x->nact + 1, sizeof *x->act) != 0) {
            flow_done(x, f, q);
            break;
        }
        f->slot = x->nact;
        x->act[x->nact++] = f;
        x->net_dirty = 1;
        break;
    }
    case EV_NET: {
        if (e->ver != x->net_ver)
            break;   /* the rates changed since */
        /* flows whose last byte arrives now end; the rest go on */
        size_t nfin = 0;
        for (size_t k = 0; k < x->nact; k++) {
            flow *f = x->act[k];
            f->remaining -= f->rate * (x->now - f->last);
            f->last = x->now;
            /* within a nanosecond (the resolution of reported times): done, so
             * that flows that end together by the model end in one event
             * whatever the rounding */
            if (f->remaining <= f->rate * 1e-9 + 1e-9) {
                if (pdi_grow((void **)&x->fin, &x->capfin, nfin + 1, sizeof *x->fin) != 0)
                    break;   /* the rest end at the next EV_NET */
                x->fin[nfin++] = f;
            }
        }
        /* in the order they started: the jobs they complete reach their
         * workers' queues in the order the driver sent them, as over a
         * real connection (not in the order of the active array) */
        qsort(x->fin, nfin, sizeof *x->fin, flow_cmp);
        for (size_t k = 0; k < nfin; k++)
            flow_done(x, x->fin[k], q);
        x->net_dirty = 1;
        break;
    }
    case EV_FINISH: {
        sjob *s = e->p;
        s->end = x->now;
        x->w[s->worker].free_cores++;
        x->st.busy += s->end - s->start;
        if (!s->canceled) {
            s->state = SJ_DONE;
            if (ev_push(x, x->now + x->o.latency, EV_REPORT, s, 0) == 0)
                s->refs++;
        }
        try_start(x, s->worker, q);
        sj_unref(x, s);
        break;
    }
    case EV_REPORT: {
        sjob *s = e->p;
        if (!s->canceled)
            add_act(q, 1, s);   /* the event's reference goes to the action */
        else
            sj_unref(x, s);
        break;
    }
    }
}

/* The window of the process executors (proc_window.c) on virtual time: a
 * worker with C cores, tasks of d seconds and a round trip of r needs
 * C * (2 + ceil(r/d)) jobs in flight to stay busy. r comes from jobs sent
 * while the worker had a free core (the smallest recent one, moving up by
 * 1/16 per sample), d is a moving average over ~8 run times. Without it
 * the simulated driver kept 64 jobs queued on every worker, where the real
 * one keeps a few: the dispatch delays of dependent tasks went unmodelled
 * (x->mu held). */
static void window_sample(sim *x, sjob *s)
{
    if (!x->measured_window || s->worker >= x->n)
        return;
    swk *w = &x->w[s->worker];
    double run = s->end > s->start ? s->end - s->start : 0;
    if (s->first) {
        double rtt = x->now - s->sent - run;
        if (rtt < 1e-9)
            rtt = 1e-9;
        if (!(w->rtt > 0) || rtt < w->rtt)
            w->rtt = rtt;
        else
            w->rtt += (rtt - w->rtt) / 16;
    }
    /* a job that took no virtual time (an empty task, no task_overhead)
     * says nothing of the run time: it would ask for the largest window */
    if (run > 0)
        w->dur = w->dur > 0 ? w->dur - w->dur / 8 + run / 8 : run;
    if (!(w->rtt > 0) || !(w->dur > 0))
        return;
    double d = w->dur > 1e-9 ? w->dur : 1e-9;
    double need = x->o.cores * (2 + ceil(w->rtt / d - 1e-9));
    if (need > WINDOW_MAX)
        need = WINDOW_MAX;
    if (need < x->o.cores + 1.0)
        need = x->o.cores + 1.0;
    unsigned win = (unsigned)need, old = w->window;
    /* as the process executors: tell the core only of a change of 1/8 */
    if (old && win <= old + old / 8 && win + old / 8 >= old)
        return;
    w->window = win;
    (void)pydron_exec_set_window(x->host, s->worker, win);
}

static uint64_t vns(double t)
{
    double ns = t * 1e9;
    return ns < 1 ? 1 : (uint64_t)llround(ns);
}

/* Report a finished bench job: outputs stay on its worker as digests. */
static int report_bench(sim *x, sjob *s)
{
    pydron_job *j = s->j;
    size_t nin = pydron_job_ninputs(j), nout = pydron_job_noutputs(j);
    uint64_t st[16], *ins = nin <= 16 ? st : malloc(nin * sizeof *ins);
    if (!ins)
        return PYDRON_ENOMEM;
    pthread_mutex_lock(&x->vmu);
    for (size_t i = 0; i < nin; i++) {
        pydron_value v;
        const void *data = NULL;
        size_t len = 0, size = 0;
        ins[i] = 0;
        if (pydron_job_input(j, i, &v, &size, NULL, &data, &len) != 0)
            continue;
        if (data || !size) {
            ins[i] = first8(data, len);
        } else {
            vent *e = vget(x, v.id);
            ins[i] = e ? e->digest : 0;
        }
    }
    pthread_mutex_unlock(&x->vmu);
    int rc = 0;
    for (size_t o = 0; o < nout && rc == 0; o++) {
        pydron_value ov;
        if ((rc = pydron_job_output_value(j, o, &ov)) != 0)
            break;
        uint64_t d = pydron_bench_digest(s->seed, o, ins, nin);
        pthread_mutex_lock(&x->vmu);
        rc = vput(x, ov.id, d, s->out_bytes);
        pthread_mutex_unlock(&x->vmu);
        if (rc == 0)
            rc = pydron_job_set_output_remote(j, o, (int32_t)s->worker, (size_t)s->out_bytes);
    }
    if (ins != st)
        free(ins);
    return rc;
}

/* Run the queued actions (x->mu held on entry and exit, released around
 * anything that calls into pydron). Returns the jobs reported. */
static int run_acts(sim *x, acts *q, int *ran_body)
{
    int done = 0;
    for (size_t k = 0; k < q->n; k++) {
        sjob *s = q->a[k].sj;
        pydron_job *j = s->j;
        if (q->a[k].what == 0) {
            pthread_mutex_unlock(&x->mu);
            struct timespec a, b;
            clock_gettime(CLOCK_MONOTONIC, &a);
            int rc = pydron_job_canceled(j) ? PYDRON_ECANCELED : pydron_job_run_local(j);
            clock_gettime(CLOCK_MONOTONIC, &b);
            double d = -1;
            if (x->o.cost)
                d = x->o.cost(x->o.cost_user, j);
            if (!(d >= 0))
                d = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) * 1e-9;
            pthread_mutex_lock(&x->mu);
            *ran_body = 1;
            s->rc = rc;
            s->duration = jittered(x, d);
            (void)ev_push(x, x->now + x->o.task_overhead + s->duration, EV_FINISH, s, 0);
            s->refs++;
            continue;
        }
        /* report (the job is SJ_DONE: recall leaves it alone) */
        window_sample(x, s);
        double start = s->start, end = s->end;
        int rc = s->bench ? 0 : s->rc;
        pthread_mutex_unlock(&x->mu);
        if (s->bench && (rc = report_bench(x, s)) != 0) {
            (void)pydron_job_set_error(j, "the simulator ran out of memory", NULL, 0);
            rc = PYDRON_ETASK;
        }
        (void)pydron_job_set_times(j, vns(start), vns(end));
        pthread_mutex_lock(&x->mu);
        x->st.jobs++;
        sj_retire(x, s);   /* off the live list */
        sj_unref(x, s);    /* the report's reference */
        pthread_mutex_unlock(&x->mu);
        pydron_job_done(j, rc);
        pthread_mutex_lock(&x->mu);
        done++;
    }
    q->n = 0;
    return done;
}

/* ------------------------------------------------------------ ops */

static int sim_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    sim *x = self;
    x->host = host;
    x->w = calloc(x->n, sizeof *x->w);
    size_t nl = 2 * ((size_t)x->n + 1);
    x->lrem = calloc(nl, sizeof(double));
    x->ln = calloc(nl, sizeof(unsigned));
    x->lstart = calloc(nl, sizeof(unsigned));
    x->lstamp = calloc(nl, sizeof(unsigned));
    x->lseen = calloc(nl, sizeof(unsigned));
    x->touched = calloc(nl, sizeof(unsigned));
    if (!x->w || !x->lrem || !x->ln || !x->lstart || !x->lstamp || !x->lseen || !x->touched)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate %u simulated workers", x->n);
    for (unsigned i = 0; i < x->n; i++)
        x->w[i].free_cores = x->o.cores;
    *nworkers = x->n;
    *in_flight = x->in_flight;
    return 0;
}

static int sim_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    sim *x = self;
    pthread_mutex_lock(&x->mu);
    if (x->stopped || worker >= x->n) {
        pthread_mutex_unlock(&x->mu);
        return pdi_err(PYDRON_ECLOSED, "the simulator is stopped or has no worker %u", worker);
    }
    /* room first: the core fails the whole batch on error */
    if (pdi_grow((void **)&x->heap, &x->capheap, x->nheap + 2 * n + 8, sizeof(ev)) != 0) {
        pthread_mutex_unlock(&x->mu);
        return pdi_err(PYDRON_ENOMEM, "cannot grow the event queue");
    }
    for (size_t k = 0; k < n; k++) {
        sjob *s = sj_new(x);
        if (!s) {
            /* not taken: fail it like a body that could not run */
            (void)pydron_job_set_error(jobs[k], "the simulator ran out of memory", NULL, 0);
            pthread_mutex_unlock(&x->mu);
            pydron_job_done(jobs[k], PYDRON_ETASK);
            pthread_mutex_lock(&x->mu);
            continue;
        }
        s->j = jobs[k];
        s->worker = worker;
        s->state = SJ_SENT;
        const void *p;
        size_t plen;
        pydron_bench_task bt;
        if (strcmp(pydron_job_kind_name(jobs[k]), PYDRON_KIND_BENCH) == 0 &&
            pydron_job_payload(jobs[k], &p, &plen) == 0 && plen >= sizeof bt) {
            memcpy(&bt, p, sizeof bt);
            if (bt.magic == PYDRON_BENCH_MAGIC && bt.version == 1) {
                s->bench = 1;
                s->duration = jittered(x, (double)bt.duration_ns * 1e-9);
                s->out_bytes = bt.output_bytes;
                s->seed = bt.seed;
            }
        }
        double sent = (x->now > x->driver_free ? x->now : x->driver_free) + x->o.driver_overhead;
        x->driver_free = sent;
        s->sent = sent;
        s->first = x->w[worker].njobs < x->o.cores;
        x->w[worker].njobs++;
        /* inputs held by the driver travel with the job */
        size_t nin = pydron_job_ninputs(jobs[k]);
        for (size_t i = 0; i < nin; i++) {
            size_t size = 0;
            int32_t where = 0;
            if (pydron_job_input(jobs[k], i, NULL, &size, &where, NULL, NULL) == 0 && where < 0 &&
                size > 0)
                (void)flow_new(x, s, x->n, worker, size, sent);
        }
        s->refs++;
        (void)ev_push(x, sent + x->o.latency, EV_ARRIVE, s, 0);
    }
    pthread_mutex_unlock(&x->mu);
    return 0;
}

static int sim_poll(void *self, int timeout_ms)
{
    sim *x = self;
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    double slice = (timeout_ms > 1 ? timeout_ms : 1) * 1e-3;
    acts q = {NULL, 0, 0};
    int done = 0, ran_body = 0;
    pthread_mutex_lock(&x->mu);
    for (unsigned k = 0; k < 65536; k++) {
        /* rates matter once time moves on: update after the last event of
         * this instant */
        if (x->net_dirty && (!x->nheap || x->heap[0].t > x->now))
            net_update(x);
        ev e;
        if (!ev_pop(x, &e))
            break;
        if (e.t > x->now)
            x->now = e.t;
        x->st.events++;
        handle(x, &e, &q);
        if (q.n)
            done += run_acts(x, &q, &ran_body);
        /* jobs were reported: let the core dispatch what they made ready
         * before the clock moves on (a job it submits from its own loop,
         * after poll returns, would otherwise start only after every event
         * this call still pops: workers idle in virtual time while their
         * window is short) */
        if (done && (!x->nheap || x->heap[0].t > x->now))
            break;
        if (ran_body) {
            clock_gettime(CLOCK_MONOTONIC, &t1);
            if ((double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9 >= slice)
                break;   /* keep pydron_graph_wait's deadline */
        }
    }
    x->st.clock = x->now;
    pthread_mutex_unlock(&x->mu);
    free(q.a);
    return done;
}

static int sim_fetch(void *self, pydron_value v, unsigned worker)
{
    (void)worker;
    sim *x = self;
    pthread_mutex_lock(&x->vmu);
    vent *e = vget(x, v.id);
    uint64_t d = e ? e->digest : 0, size = e ? e->size : 0;
    int found = e != NULL;
    pthread_mutex_unlock(&x->vmu);
    if (!found) {
        pydron_exec_fetched(x->host, v, PYDRON_EIO, NULL, 0, NULL, NULL);
        return 0;
    }
    unsigned char *buf = calloc(1, size ? (size_t)size : 1);
    if (!buf) {
        pydron_exec_fetched(x->host, v, PYDRON_ENOMEM, NULL, 0, NULL, NULL);
        return 0;
    }
    for (size_t k = 0; k < 8 && k < size; k++)
        buf[k] = (unsigned char)(d >> (8 * k));
    pydron_exec_fetched(x->host, v, 0, buf, (size_t)size, free, buf);
    return 0;
}

static void sim_release(void *self, pydron_value v, unsigned worker)
{
    (void)worker;
    sim *x = self;
    pthread_mutex_lock(&x->vmu);
    vdel(x, v.id);
    pthread_mutex_unlock(&x->vmu);
}

/* Report every live job that pydron says is canceled (all of them when
 * `all`): those not yet reported come back ECANCELED. */
static void give_back(sim *x, int all)
{
    for (;;) {
        pydron_job *back[64];
        size_t nb = 0;
        pthread_mutex_lock(&x->mu);
        for (sjob *s = x->live, *nx; s && nb < 64; s = nx) {
            nx = s->lnext;
            /* on a core (fetching or running) or reported: it finishes normally */
            if (!all && s->state >= SJ_FETCHING)
                continue;
            if (!all && !pydron_job_canceled(s->j))
                continue;
            s->canceled = 1;
            back[nb++] = s->j;
            sj_retire(x, s);
        }
        pthread_mutex_unlock(&x->mu);
        for (size_t k = 0; k < nb; k++)
            pydron_job_done(back[k], PYDRON_ECANCELED);
        if (nb < 64)
            break;
    }
}

static void sim_recall(void *self) { give_back(self, 0); }

static void sim_stop(void *self)
{
    sim *x = self;
    pthread_mutex_lock(&x->mu);
    x->stopped = 1;
    pthread_mutex_unlock(&x->mu);
    give_back(x, 1);
}

static void sim_destroy(void *self)
{
    sim *x = self;
    while (x->flows) {
        flow *f = x->flows;
        x->flows = f->fnext;
        free(f);
    }
    while (x->all) {
        sjob *s = x->all;
        x->all = s->anext;
        free(s);
    }
    pthread_mutex_destroy(&x->mu);
    pthread_mutex_destroy(&x->vmu);
    free(x->heap);
    free(x->act);
    free(x->fin);
    free(x->w);
    free(x->lrem);
    free(x->ln);
    free(x->lstart);
    free(x->lstamp);
    free(x->lseen);
    free(x->touched);
    free(x->lflows);
    free(x->lheap);
    free(x->vt);
    free(x);
}

const pydron_executor_ops pdi_sim_ops = {PYDRON_EXECUTOR_OPS_VERSION, "sim", sim_start,
                                         sim_submit, sim_poll, sim_fetch, sim_release,
                                         sim_stop, sim_destroy, sim_recall};

int pdi_sim_stats(const pydron_executor_ops *ops, void *self, pydron_sim_stats *out)
{
    if (ops != &pdi_sim_ops)
        return pdi_err(PYDRON_ENOTSUP, "the runtime's executor is '%s', not the simulator",
                       ops && ops->name ? ops->name : "?");
    sim *x = self;
    pthread_mutex_lock(&x->mu);
    *out = x->st;
    out->clock = x->now;
    pthread_mutex_unlock(&x->mu);
    return 0;
}

int pdi_exec_create_sim(void *user, const pydron_runtime_options *opts, const void *exec_options,
                        const pydron_executor_ops **ops, void **self)
{
    (void)user;
    pydron_sim_options o = PYDRON_SIM_OPTIONS_INIT;
    if (exec_options) {
        const pydron_sim_options *u = exec_options;
        if (u->version != PYDRON_SIM_OPTIONS_VERSION)
            return pdi_err(PYDRON_EINVAL, "pydron_sim_options.version is %u, expected %u",
                           u->version, PYDRON_SIM_OPTIONS_VERSION);
        o = *u;
    }
    /* as the process executors: a window from what is measured unless
     * in_flight is given (here, in the runtime options or PYDRON_WINDOW) */
    int measured_window = !o.in_flight && !(opts && opts->in_flight) && !pdi_env_window();
    if (!o.workers)
        o.workers = opts && opts->workers ? opts->workers : 4;
    if (!o.cores)
        o.cores = 1;
    if (!o.in_flight)
        o.in_flight = opts && opts->in_flight ? opts->in_flight : 64;
    if (!(o.latency >= 0))
        o.latency = 0;
    if (o.bandwidth == 0)
        o.bandwidth = 1e9;
    if (o.workers > 32767 || o.cores > 65536 || !(o.bandwidth > 0) || !(o.task_overhead >= 0) ||
        !(o.driver_overhead >= 0) || !(o.jitter >= 0 && o.jitter < 1) || !isfinite(o.latency))
        return pdi_err(PYDRON_EINVAL, "simulator options out of range (workers <= 32767, "
                                      "bandwidth > 0, overheads >= 0, 0 <= jitter < 1)");
    sim *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the simulator");
    pthread_mutex_init(&x->mu, NULL);
    pthread_mutex_init(&x->vmu, NULL);
    x->o = o;
    x->n = o.workers;
    x->in_flight = o.in_flight;
    x->measured_window = measured_window;
    x->rng = (o.seed + 1) * 0x9e3779b97f4a7c15ull;
    if (!x->rng)
        x->rng = 1;
    *ops = &pdi_sim_ops;
    *self = x;
    return 0;
}
