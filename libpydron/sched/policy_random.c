/* The "random" policy: a worker with room gets a ready task chosen
 * uniformly at random (seeded: PYDRON_SEED, else 1). It ignores data,
 * ranks and order, and is the floor the other policies must beat. One
 * instance per graph, called under its lock. */
#include "sched/sched.h"

typedef struct rnd {
    uint64_t *ids;
    size_t n, cap;
    uint64_t s;
} rnd;

uint64_t pdi_policy_seed(void)
{
    const char *e = getenv("PYDRON_SEED");
    uint64_t s = e && *e ? strtoull(e, NULL, 0) : 1;
    /* never 0 (xorshift's fixed point); spread small seeds */
    s = (s + 1) * 0x9e3779b97f4a7c15ull;
    return s ? s : 1;
}

static int rnd_push(void *self, const pydron_sched_task *t)
{
    rnd *x = self;
    if (pdi_grow((void **)&x->ids, &x->cap, x->n + 1, sizeof *x->ids))
        return PYDRON_ENOMEM;
    x->ids[x->n++] = t->task.id;
    return 0;
}

static int rnd_pick(void *self, unsigned worker, pydron_task *out)
{
    (void)worker;
    rnd *x = self;
    if (!x->n)
        return 0;
    uint64_t v = x->s;
    v ^= v >> 12;
    v ^= v << 25;
    v ^= v >> 27;
    x->s = v;
    size_t i = (size_t)((v * 0x2545f4914f6cdd1dull) % x->n);
    out->id = x->ids[i];
    x->ids[i] = x->ids[--x->n];
    return 1;
}

static void rnd_destroy(void *self)
{
    rnd *x = self;
    free(x->ids);
    free(x);
}

static const pydron_policy_ops rnd_ops = {PYDRON_POLICY_OPS_VERSION, "random", rnd_push, rnd_pick,
                                          NULL, rnd_destroy};

int pdi_policy_random(const pydron_policy_ops **ops, void **self)
{
    rnd *x = calloc(1, sizeof *x);
    if (!x)
        return pdi_err(PYDRON_ENOMEM, "cannot allocate the random policy");
    x->s = pdi_policy_seed();
    *ops = &rnd_ops;
    *self = x;
    return 0;
}
