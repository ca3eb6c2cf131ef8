/* The "heft" policy: HEFT (Topcuoglu et al.) turned round for a pull
 * scheduler. Ready tasks are ranked by b-level (the longest remaining path,
 * with durations from the task's hint or its kind's measured history: the
 * core computes it); a worker with room gets, among the best-ranked
 * candidates, the task that could start earliest on it - the one whose
 * inputs it mostly holds already - unless that costs more rank than the
 * transfer it saves. One instance per graph, called under its lock. */
#include "sched/sched.h"

/* Candidates looked at per pick (the first slots of the heap hold its top
 * levels) and the bandwidth assumed to price a transfer (bytes/s). */
#define HEFT_WINDOW 16
#define HEFT_BANDWIDTH 1e9
#define HEFT_NLOC 4

typedef struct heft_ent {
    double bl;
    uint64_t seq, id;
    uint64_t bytes;              /* all inputs held by workers */
    int32_t where[HEFT_NLOC];    /* largest inputs: worker, bytes */
    uint64_t size[HEFT_NLOC];
} heft_ent;

typedef struct heft {
    heft_ent *h;
    size_t n, cap;
} heft;

static int before(const heft_ent *a, const heft_ent *b)
{
    return a->bl > b->bl || (a->bl == b->bl && a->seq < b->seq);
}

static void sift_up(heft *x, size_t i)
{
    heft_ent e = x->h[i];
    while (i > 0 && before(&e, &x->h[(i - 1) / 2])) {
        x->h[i] = x->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    x->h[i] = e;
}

static void sift_down(heft *x, size_t i)
{
    heft_ent e = x->h[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const heft_ent *best = &e;
        if (l < x->n && before(&x->h[l], best))
            m = l, best = &x->h[l];
        if (l + 1 < x->n && before(&x->h[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        x->h[i] = x->h[m];
        i = m;
    }
    x->h[i] = e;
}

static int heft_push(void *self, const pydron_sched_task *t)
{
    heft *x = self;
    if (pdi_grow((void **)&x->h, &x->cap, x->n + 1, sizeof(heft_ent)))
        return PYDRON_ENOMEM;
    heft_ent e;
    memset(&e, 0, sizeof e);
    e.bl = t->bottom_level;
    e.seq = t->seq;
    e.id = t->task.id;
    for (int k = 0; k < HEFT_NLOC; k++)
        e.where[k] = -1;
    for (size_t i = 0; i < t->ninputs; i++) {
        if (t->input_where[i] < 0)
            continue;   /* on the driver: the same cost for every worker */
        uint64_t s = t->input_sizes[i];
        e.bytes += s;
        /* keep the largest few, summed per worker */
        int slot = -1;
        for (int k = 0; k < HEFT_NLOC; k++)
            if (e.where[k] == t->input_where[i])
                slot = k;
        if (slot < 0) {
            for (int k = 0; k < HEFT_NLOC; k++)
                if (slot < 0 || e.size[k] < e.size[slot])
                    slot = k;
            if (e.where[slot] >= 0 && e.size[slot] >= s)
                continue;
            e.where[slot] = t->input_where[i];
            e.size[slot] = 0;
        }
        e.size[slot] += s;
    }
    x->h[x->n++] = e;
    sift_up(x, x->n - 1);
    return 0;
}

/* Seconds the inputs of e need to reach worker w. */
static double transfer_s(const heft_ent *e, unsigned w)
{
    uint64_t local = 0;
    for (int k = 0; k < HEFT_NLOC; k++)
        if (e->where[k] == (int32_t)w)
            local += e->size[k];
    return (double)(e->bytes - local) / HEFT_BANDWIDTH;
}

static int heft_pick(void *self, unsigned worker, pydron_task *out)
{
    heft *x = self;
    if (!x->n)
        return 0;
    /* earliest start on this worker, ranked: the rank a candidate gives up
     * against the top must be paid back by the transfer time it saves */
    size_t best = 0;
    double best_score = x->h[0].bl - transfer_s(&x->h[0], worker);
    size_t lim = x->n < HEFT_WINDOW ? x->n : HEFT_WINDOW;
    for (size_t i = 1; i < lim; i++) {
        double s = x->h[i].bl - transfer_s(&x->h[i], worker);
        if (s > best_score || (s == best_score && before(&x->h[i], &x->h[best]))) {
            best = i;
            best_score = s;
        }
    }
    out->id = x->h[best].id;
    x->h[best] = x->h[--x->n];
    if (best < x->n) {
        sift_down(x, best);
        sift_up(x, best);
    }
    return 1;
}

static void heft_destroy(void *self)
{
    heft *x = self;
    free(x->h);
    free(x);
}

static const pydron_policy_ops heft_ops = {PYDRON_POLICY_OPS_VERSION, "heft", heft_push,
                                           heft_pick, NULL, heft_destroy};

int pdi_policy_heft(const pydron_policy_ops **ops, void **self)
{
    *ops = &heft_ops;
    *self = calloc(1, sizeof(heft));
    return *self ? 0 : pdi_err(PYDRON_ENOMEM, "cannot allocate the heft policy");
}
