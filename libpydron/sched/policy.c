/* Built-in scheduling policies: FIFO, critical path, locality. One
 * instance per graph; all calls happen under that graph's lock. */
#include "sched/sched.h"
#include "util/ring.h"

/* ---- a ring of task ids (util/ring.h) ---- */
typedef pdi_ring ring;
static int ring_push(ring *r, uint64_t v) { return pdi_ring_push(r, &v, sizeof v); }
static int ring_pop(ring *r, uint64_t *v) { return pdi_ring_pop(r, v, sizeof *v); }

/* ---- FIFO ---- */
static int fifo_push(void *self, const pydron_sched_task *t)
{
    return ring_push(self, t->task.id);
}
static int fifo_pick(void *self, unsigned worker, pydron_task *out)
{
    (void)worker;
    return ring_pop(self, &out->id);
}
static void fifo_destroy(void *self)
{
    ring *r = self;
    pdi_ring_free(r);
    free(r);
}
const pydron_policy_ops pdi_fifo_ops = {PYDRON_POLICY_OPS_VERSION, "fifo", fifo_push,
                                        fifo_pick, NULL, fifo_destroy};

/* ---- critical path: max-heap on bottom level; among equals the task that
 * became ready last goes first (depth-first: follow the chain just
 * extended, which keeps fewer intermediate values alive) ---- */
typedef struct cp_ent {
    double bl;
    uint64_t seq;
    uint64_t id;
} cp_ent;
typedef struct cp {
    cp_ent *h;
    size_t n, cap;
} cp;

static int cp_before(const cp_ent *a, const cp_ent *b)
{
    return a->bl > b->bl || (a->bl == b->bl && a->seq > b->seq);
}

static int cp_push(void *self, const pydron_sched_task *t)
{
    cp *c = self;
    if (pdi_grow((void **)&c->h, &c->cap, c->n + 1, sizeof(cp_ent)))
        return PYDRON_ENOMEM;
    cp_ent e = {t->bottom_level, t->seq, t->task.id};
    size_t i = c->n++;
    while (i > 0 && cp_before(&e, &c->h[(i - 1) / 2])) {
        c->h[i] = c->h[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    c->h[i] = e;
    return 0;
}

static int cp_pick(void *self, unsigned worker, pydron_task *out)
{
    (void)worker;
    cp *c = self;
    if (!c->n)
        return 0;
    out->id = c->h[0].id;
    cp_ent e = c->h[--c->n];
    size_t i = 0;
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        const cp_ent *best = &e;
        if (l < c->n && cp_before(&c->h[l], best))
            m = l, best = &c->h[l];
        if (l + 1 < c->n && cp_before(&c->h[l + 1], best))
            m = l + 1;
        if (m == i)
            break;
        c->h[i] = c->h[m];
        i = m;
    }
    if (c->n)
        c->h[i] = e;
    return 1;
}

static void cp_destroy(void *self)
{
    cp *c = self;
    free(c->h);
    free(c);
}
static const pydron_policy_ops cp_ops = {PYDRON_POLICY_OPS_VERSION, "critical-path", cp_push,
                                         cp_pick, NULL, cp_destroy};

/* ---- locality: a queue per worker holding the task's largest input,
 * a shared queue for the rest; idle workers take shared work first, then
 * steal. ---- */
typedef struct loc {
    ring shared;
    ring *per;
    size_t nper;
} loc;

static int loc_push(void *self, const pydron_sched_task *t)
{
    loc *l = self;
    int32_t where = -1;
    uint64_t best = 0;
    for (size_t i = 0; i < t->ninputs; i++) {
        if (t->input_where[i] >= 0 && t->input_sizes[i] >= best) {
            best = t->input_sizes[i];
            where = t->input_where[i];
        }
    }
    if (where < 0)
        return ring_push(&l->shared, t->task.id);
    if ((size_t)where >= l->nper) {
        size_t nn = (size_t)where + 1;
        ring *p = realloc(l->per, nn * sizeof *p);
        if (!p)
            return ring_push(&l->shared, t->task.id);
        memset(p + l->nper, 0, (nn - l->nper) * sizeof *p);
        l->per = p;
        l->nper = nn;
    }
    return ring_push(&l->per[where], t->task.id);
}

static int loc_pick(void *self, unsigned worker, pydron_task *out)
{
    loc *l = self;
    if (worker < l->nper && ring_pop(&l->per[worker], &out->id))
        return 1;
    if (ring_pop(&l->shared, &out->id))
        return 1;
    for (size_t w = 0; w < l->nper; w++)
        if (ring_pop(&l->per[w], &out->id))
            return 1;
    return 0;
}

static void loc_destroy(void *self)
{
    loc *l = self;
    pdi_ring_free(&l->shared);
    for (size_t w = 0; w < l->nper; w++)
        pdi_ring_free(&l->per[w]);
    free(l->per);
    free(l);
}
static const pydron_policy_ops loc_ops = {PYDRON_POLICY_OPS_VERSION, "locality", loc_push,
                                          loc_pick, NULL, loc_destroy};

int pdi_policy_create(pydron_policy_kind kind, const pydron_policy_ops **ops, void **self)
{
    switch (kind) {
    case PYDRON_POLICY_FIFO:
        *ops = &pdi_fifo_ops;
        *self = calloc(1, sizeof(ring));
        break;
    case PYDRON_POLICY_CRITICAL_PATH:
        *ops = &cp_ops;
        *self = calloc(1, sizeof(cp));
        break;
    case PYDRON_POLICY_LOCALITY:
        *ops = &loc_ops;
        *self = calloc(1, sizeof(loc));
        break;
    case PYDRON_POLICY_HEFT:
        return pdi_policy_heft(ops, self);
    case PYDRON_POLICY_WORK_STEALING:
        return pdi_policy_steal(ops, self);
    case PYDRON_POLICY_RANDOM:
        return pdi_policy_random(ops, self);
    default:
        return pdi_err(PYDRON_EINVAL, "unknown policy %d", (int)kind);
    }
    return *self ? 0 : pdi_err(PYDRON_ENOMEM, "cannot allocate policy");
}

void pdi_policy_needs(pydron_policy_kind kind, int *bottom_level, int *locality)
{
    *bottom_level = kind == PYDRON_POLICY_CRITICAL_PATH || kind == PYDRON_POLICY_HEFT;
    *locality = kind == PYDRON_POLICY_LOCALITY || kind == PYDRON_POLICY_HEFT ||
                kind == PYDRON_POLICY_WORK_STEALING;
}

static const char *const policy_names[] = {"fifo", "critical-path", "locality", "custom",
                                           "heft", "work-stealing", "random"};

PYDRON_API const char *pydron_policy_name(pydron_policy_kind kind)
{
    unsigned k = (unsigned)kind;
    return k < sizeof policy_names / sizeof *policy_names ? policy_names[k] : NULL;
}

PYDRON_API int pydron_policy_from_name(const char *name, pydron_policy_kind *out)
{
    pdi_err_clear();
    if (!name || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_policy_from_name: NULL argument");
    for (unsigned k = 0; k < sizeof policy_names / sizeof *policy_names; k++) {
        const char *a = name, *b = policy_names[k];
        if (k == PYDRON_POLICY_CUSTOM)
            continue;
        while (*a && *b && (*a == *b || (*a == '_' && *b == '-')))
            a++, b++;
        if (!*a && !*b) {
            *out = (pydron_policy_kind)k;
            return 0;
        }
    }
    return pdi_err(PYDRON_ENOTFOUND, "no policy named '%s' (fifo, critical-path, locality, heft, "
                                     "work-stealing, random)", name);
}
