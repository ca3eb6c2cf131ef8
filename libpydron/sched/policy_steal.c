/* The "work-stealing" policy: a deque per worker. A ready task goes to the
 * worker that holds its largest input (where its producer ran: the task is
 * "spawned" there), tasks without such an input round-robin. A worker takes
 * the newest task of its own deque (depth first, its data is warm) and,
 * when that is empty, steals the oldest task of a victim chosen at random
 * (seeded: PYDRON_SEED, else 1), as Cilk and Estee's work stealing do. One
 * instance per graph, called under its lock. */
#include "sched/sched.h"

typedef struct steal {
    pdi_ring *dq;        /* uint64_t task ids */
    size_t ndq;
    size_t rr;           /* next worker for tasks without a placed input */
    uint64_t rng;
    uint64_t queued;
} steal;

static uint64_t next_rand(uint64_t *s)
{
    /* xorshift64* */
    uint64_t x = *s;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *s = x;
    return x * 0x2545f4914f6cdd1dull;
}

static int ensure(steal *x, size_t n)
{
    if (n <= x->ndq)
        return 0;
    pdi_ring *d = realloc(x->dq, n * sizeof *d);
    if (!d)
        return PYDRON_ENOMEM;
    for (size_t k = x->ndq; k < n; k++)
        d[k] = (pdi_ring)PDI_RING_INIT;
    x->dq = d;
    x->ndq = n;
    return 0;
}

static int steal_push(void *self, const pydron_sched_task *t)
{
    steal *x = self;
    int32_t where = -1;
    uint64_t best = 0;
    for (size_t i = 0; i < t->ninputs; i++) {
        if (t->input_where[i] >= 0 && (where < 0 || t->input_sizes[i] > best)) {
            best = t->input_sizes[i];
            where = t->input_where[i];
        }
    }
    if (ensure(x, 1))
        return PYDRON_ENOMEM;
    size_t w;
    if (where >= 0) {
        if (ensure(x, (size_t)where + 1))
            return PYDRON_ENOMEM;
        w = (size_t)where;
    } else {
        w = x->rr++ % x->ndq;
    }
    int rc = pdi_ring_push(&x->dq[w], &t->task.id, sizeof t->task.id);
    if (rc == 0)
        x->queued++;
    return rc;
}

static int steal_pick(void *self, unsigned worker, pydron_task *out)
{
    steal *x = self;
    /* a worker that asks exists: later round-robin includes it */
    if (ensure(x, (size_t)worker + 1) || !x->queued)
        return 0;
    pdi_ring *own = &x->dq[worker];
    if (own->len) {
        memcpy(&out->id, pdi_ring_at(own, own->len - 1, sizeof(uint64_t)), sizeof(uint64_t));
        own->len--;
        x->queued--;
        return 1;
    }
    /* steal the oldest task of a random victim, then of anyone */
    size_t v = (size_t)(next_rand(&x->rng) % x->ndq);
    for (size_t k = 0; k < x->ndq; k++) {
        pdi_ring *d = &x->dq[(v + k) % x->ndq];
        if (d->len && pdi_ring_pop(d, &out->id, sizeof out->id)) {
            x->queued--;
            return 1;
        }
    }
    return 0;
}

static void steal_destroy(void *self)
{
    steal *x = self;
    for (size_t k = 0; k < x->ndq; k++)
        pdi_ring_free(&x->dq[k]);
    free(x->dq);
    free(x);
}

const pydron_policy_ops pdi_steal_ops = {PYDRON_POLICY_OPS_VERSION, "work-stealing",
                                         steal_push, steal_pick, NULL, steal_destroy};

int pdi_policy_steal(const pydron_policy_ops **ops, void **self)
{
    steal *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the work-stealing policy");
    x->rng = pdi_policy_seed();
    *ops = &pdi_steal_ops;
    *self = x;
    return 0;
}
