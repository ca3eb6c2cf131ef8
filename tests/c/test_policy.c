/*
 * test_policy.c - scheduling policies. A custom executor with one worker
 * that holds one job at a time makes the policy's pick order observable.
 */
#include "testutil.h"

static int fn_sleep_us(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t us = tu_payload_u64(ctx);
    if (us)
        usleep((useconds_t)us);
    return tu_fn_sum(ctx, NULL);
}

typedef struct pol_graph {
    pydron_runtime *rt;
    pydron_graph *g;
    tuex x;
    uint32_t k;
} pol_graph;

static void pol_open(pol_graph *p, pydron_policy_kind policy)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = policy;
    TU_OK(pydron_runtime_new(&p->rt, &o));
    tuex_init(&p->x, 42, 1, 1, 0, 0);
    TU_OK(pydron_runtime_set_executor(p->rt, &tuex_ops, &p->x));
    p->k = tu_kind_c(p->rt, "sum", fn_sleep_us, NULL);
    p->g = tu_graph(p->rt);
}

static void pol_close(pol_graph *p)
{
    cr_assert_eq(p->x.over_limit, 0, "core exceeded the executor's in-flight limit of 1");
    TU_OK(pydron_graph_free(p->g));
    TU_OK(pydron_runtime_free(p->rt));
    tuex_fini(&p->x);
}

static pydron_task add_hint(pol_graph *p, pydron_value *in, size_t nin, pydron_value *out,
                            double hint)
{
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = p->k;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = 1;
    d.duration_hint = hint;
    pydron_task t;
    TU_OK(pydron_task_add(p->g, &d, &t, out));
    return t;
}

static void expect_order(const tuex *x, const pydron_task *want, size_t n, const char *what)
{
    cr_assert_eq(x->norder, n, "%s: %zu jobs submitted, expected %zu", what, x->norder, n);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(x->order[i], want[i].id, "%s: pick %zu was task %llu, expected %llu", what, i,
                     (unsigned long long)x->order[i], (unsigned long long)want[i].id);
}

/* FIFO: tasks go out in the order they became ready. */
Test(policy, fifo_add_order)
{
    pol_graph p;
    pol_open(&p, PYDRON_POLICY_FIFO);
    pydron_value c = tu_const_u64(p.g, 1), out;
    pydron_task t[16];
    for (int i = 0; i < 16; i++)
        t[i] = add_hint(&p, &c, 1, &out, 0.0);
    TU_OK(pydron_graph_run(p.g, 60000));
    expect_order(&p.x, t, 16, "fifo");
    pol_close(&p);
}

/* FIFO follows readiness, not creation: inputs set in reverse order. */
Test(policy, fifo_readiness_order)
{
    pol_graph p;
    pol_open(&p, PYDRON_POLICY_FIFO);
    pydron_value in[8], out;
    pydron_task t[8], want[8];
    for (int i = 0; i < 8; i++) {
        TU_OK(pydron_value_input(p.g, &in[i]));
        t[i] = add_hint(&p, &in[i], 1, &out, 0.0);
    }
    TU_OK(pydron_graph_start(p.g));
    for (int i = 7; i >= 0; i--) {
        uint64_t v = (uint64_t)i;
        TU_OK(pydron_value_set(p.g, in[i], &v, sizeof v));
        want[7 - i] = t[i];
    }
    TU_OK(pydron_graph_run(p.g, 60000));
    expect_order(&p.x, want, 8, "fifo/readiness");
    pol_close(&p);
}

/* A graph where the policy matters: 4 short independent tasks added first,
 * then a chain of 6. Critical path starts the chain (longest remaining
 * path) and keeps following it; FIFO starts with the independent ones.
 * gate: all of it hangs off an input set once everything was added. */
static pydron_value build_chain_vs_independent(pol_graph *p, pydron_task *ind, pydron_task *chain,
                                               int gate)
{
    pydron_value c = tu_const_u64(p->g, 1), out, prev, in = PYDRON_VALUE_NONE;
    if (gate) {
        TU_OK(pydron_value_input(p->g, &in));
        c = in;
    }
    for (int i = 0; i < 4; i++) /* shorter than any chain task: no ties */
        ind[i] = add_hint(p, &c, 1, &out, 0.005);
    prev = c;
    for (int i = 0; i < 6; i++) {
        chain[i] = add_hint(p, &prev, 1, &out, 0.010);
        prev = out;
    }
    return in;
}

static void open_gate(pol_graph *p, pydron_value gate)
{
    uint64_t one = 1;
    TU_OK(pydron_graph_start(p->g));
    TU_OK(pydron_value_set(p->g, gate, &one, sizeof one));
}

Test(policy, critical_path_longest_first)
{
    pol_graph p;
    pol_open(&p, PYDRON_POLICY_CRITICAL_PATH);
    pydron_task ind[4], chain[6], want[10];
    open_gate(&p, build_chain_vs_independent(&p, ind, chain, 1));
    TU_OK(pydron_graph_run(p.g, 60000));
    for (int i = 0; i < 6; i++)
        want[i] = chain[i];
    for (int i = 0; i < 4; i++)
        want[6 + i] = ind[i];
    /* the independent tasks are equal; only require them after the chain */
    cr_assert_eq(p.x.norder, 10);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(p.x.order[i], chain[i].id, "critical path: pick %d is not chain task %d", i, i);
    pol_close(&p);

    pol_open(&p, PYDRON_POLICY_FIFO);
    open_gate(&p, build_chain_vs_independent(&p, ind, chain, 1));
    TU_OK(pydron_graph_run(p.g, 60000));
    cr_assert_eq(p.x.order[0], ind[0].id, "fifo should start with the first independent task");
    cr_assert_neq(p.x.order[0], want[0].id);
    pol_close(&p);
}

/* Measured durations: without hints, critical path uses the measured mean
 * of each kind. A slow kind (20 ms) and a fast kind (no sleep). */
Test(policy, critical_path_measured_durations)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.policy = PYDRON_POLICY_CRITICAL_PATH;
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, &o));
    tuex x;
    tuex_init(&x, 7, 1, 1, 0, 0);
    TU_OK(pydron_runtime_set_executor(rt, &tuex_ops, &x));
    uint32_t kfast = tu_kind_c(rt, "fast", fn_sleep_us, NULL);
    uint32_t kslow = tu_kind_c(rt, "slow", fn_sleep_us, NULL);
    pydron_graph *g = tu_graph(rt);
    uint64_t slow_us = 20000, fast_us = 0;
    pydron_value c = tu_const_u64(g, 1), out, gate;
    /* warm-up: one of each so both kinds have a measured mean */
    tu_add(g, kslow, 0, &c, 1, 1, &out, &slow_us);
    tu_add(g, kfast, 0, &c, 1, 1, &out, &fast_us);
    TU_OK(pydron_graph_run(g, 60000));
    size_t before = x.norder;
    /* then: three fast tasks added first, one slow; all ready at once */
    TU_OK(pydron_value_input(g, &gate));
    for (int i = 0; i < 3; i++)
        tu_add(g, kfast, 0, &gate, 1, 1, &out, &fast_us);
    pydron_task slow = tu_add(g, kslow, 0, &gate, 1, 1, &out, &slow_us);
    uint64_t one = 1;
    TU_OK(pydron_value_set(g, gate, &one, sizeof one));
    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_eq(x.norder, before + 4);
    cr_assert_eq(x.order[before], slow.id, "critical path did not pick the measured-slow task first");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    tuex_fini(&x);
}

/* ------------------------------------------------------- custom policy */

typedef struct lifo {
    pthread_mutex_t mu; /* pick may come from any thread */
    pydron_task stack[4096];
    size_t n;
    uint64_t pushes, picks, removes;
    pydron_task pushed[4096];
    size_t npushed;
    int bad_fields;     /* sched_task fields looked wrong */
    int bad_worker;
    unsigned nworkers;
    uint64_t last_seq;
    int destroyed;
    uint32_t kind;
    double hint;
} lifo;

static int lifo_push(void *self, const pydron_sched_task *t)
{
    lifo *l = (lifo *)self;
    pthread_mutex_lock(&l->mu);
    l->pushes++;
    if (t->kind != l->kind || t->ninputs != 1 || !t->input_sizes || t->input_sizes[0] != 8 ||
        t->duration != l->hint || (l->pushes > 1 && t->seq <= l->last_seq) || t->task.id == 0)
        l->bad_fields = 1;
    l->last_seq = t->seq;
    if (l->npushed < 4096)
        l->pushed[l->npushed++] = t->task;
    if (l->n < 4096)
        l->stack[l->n++] = t->task;
    pthread_mutex_unlock(&l->mu);
    return 0;
}

static int lifo_pick(void *self, unsigned worker, pydron_task *out)
{
    lifo *l = (lifo *)self;
    pthread_mutex_lock(&l->mu);
    if (worker >= l->nworkers)
        l->bad_worker = 1;
    int got = 0;
    if (l->n > 0) {
        *out = l->stack[--l->n];
        l->picks++;
        got = 1;
    }
    pthread_mutex_unlock(&l->mu);
    return got;
}

static void lifo_remove(void *self, pydron_task t)
{
    lifo *l = (lifo *)self;
    pthread_mutex_lock(&l->mu);
    for (size_t i = 0; i < l->n; i++)
        if (l->stack[i].id == t.id) {
            memmove(&l->stack[i], &l->stack[i + 1], (l->n - i - 1) * sizeof l->stack[0]);
            l->n--;
            l->removes++;
            break;
        }
    pthread_mutex_unlock(&l->mu);
}

static void lifo_destroy(void *self) { ((lifo *)self)->destroyed++; }

static const pydron_policy_ops lifo_ops = {PYDRON_POLICY_OPS_VERSION, "lifo", lifo_push,
                                           lifo_pick, lifo_remove, lifo_destroy};

static lifo *lifo_new(unsigned nworkers, double hint)
{
    lifo *l = (lifo *)calloc(1, sizeof *l);
    pthread_mutex_init(&l->mu, NULL);
    l->nworkers = nworkers;
    l->hint = hint;
    return l;
}

Test(policy, custom_policy_is_used)
{
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, NULL));
    tuex x;
    tuex_init(&x, 3, 1, 1, 0, 0);
    TU_OK(pydron_runtime_set_executor(rt, &tuex_ops, &x));
    lifo *l = lifo_new(1, 0.5);
    TU_OK(pydron_runtime_set_policy(rt, &lifo_ops, l));
    l->kind = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1), out[12];
    pydron_task t[12];
    for (int i = 0; i < 12; i++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = l->kind;
        d.ninputs = 1;
        d.inputs = &c;
        d.noutputs = 1;
        d.duration_hint = 0.5;
        TU_OK(pydron_task_add(g, &d, &t[i], &out[i]));
    }
    TU_OK(pydron_graph_run(g, 60000));
    for (int i = 0; i < 12; i++)
        cr_assert_eq(tu_get_u64(g, out[i]), 1);
    cr_assert_eq(l->pushes, 12);
    cr_assert_eq(l->picks, 12);
    cr_assert_eq(l->bad_fields, 0, "pydron_sched_task fields wrong (kind/inputs/duration/seq)");
    cr_assert_eq(l->bad_worker, 0);
    /* the executor saw exactly the tasks the policy handed out, and not in
     * add order (LIFO over whatever was queued) */
    cr_assert_eq(x.norder, 12);
    int same = 1;
    for (int i = 0; i < 12; i++)
        same &= x.order[i] == t[i].id;
    cr_assert(!same, "custom LIFO policy produced FIFO order: not used?");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(l->destroyed, 1, "policy destroy not called by runtime_free");
    tuex_fini(&x);
    free(l);
}

/* A custom policy on the shipped threads executor sees every PURE task. */
Test(policy, custom_policy_threads_executor)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    lifo *l = lifo_new(2, 0.0);
    TU_OK(pydron_runtime_set_policy(rt, &lifo_ops, l));
    l->kind = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 2), out;
    uint64_t total = 0;
    pydron_value outs[300];
    for (int i = 0; i < 300; i++) {
        uint64_t pay = (uint64_t)i;
        tu_add(g, l->kind, 0, &c, 1, 1, &outs[i], &pay);
        total += 2 + (uint64_t)i;
    }
    (void)out;
    uint64_t got = 0;
    for (int i = 0; i < 300; i++)
        got += tu_get_u64(g, outs[i]);
    cr_assert_eq(got, total);
    cr_assert_eq(l->pushes, 300);
    cr_assert_eq(l->picks, 300);
    cr_assert_eq(l->bad_worker, 0, "pick() got a worker index >= nworkers");
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    free(l);
}

Test(policy, set_policy_misuse)
{
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, NULL));
    lifo *l = lifo_new(1, 0.0);
    pydron_policy_ops bad = lifo_ops;
    bad.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy(rt, &bad, l));
    bad = lifo_ops;
    bad.pick = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy(rt, &bad, l));
    bad = lifo_ops;
    bad.push = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy(rt, &bad, l));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy(rt, NULL, l));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy(NULL, &lifo_ops, l));
    pydron_graph *g = tu_graph(rt);
    TU_OK(pydron_graph_start(g));
    TU_ERR(PYDRON_ESTATE, pydron_runtime_set_policy(rt, &lifo_ops, l));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(l->destroyed, 0, "destroy called for a policy that was never installed");
    free(l);
}

/* ------------------------------------------------------- policy factory */

/* A factory of LIFO instances: one per graph, all recorded so the test can
 * check what each graph's instance saw. */
typedef struct lifo_factory {
    lifo *made[8];
    pydron_graph *graphs[8];
    int nmade;
    int fail;           /* create fails with this code */
    int bad_ops;        /* create returns ops without pick() */
    int destroyed;
    uint32_t kind;
} lifo_factory;

static const pydron_policy_ops lifo_ops_nopick = {PYDRON_POLICY_OPS_VERSION, "lifo-nopick",
                                                  lifo_push, NULL, NULL, NULL};

static int lifo_factory_create(void *user, pydron_graph *g, const pydron_policy_ops **ops,
                               void **self)
{
    lifo_factory *f = (lifo_factory *)user;
    if (f->fail)
        return f->fail;
    if (f->nmade >= 8)
        return PYDRON_ERANGE;
    lifo *l = lifo_new(1, 0.0);
    l->kind = f->kind;
    f->graphs[f->nmade] = g;
    f->made[f->nmade++] = l;
    *ops = f->bad_ops ? &lifo_ops_nopick : &lifo_ops;
    *self = l;
    return 0;
}

static void lifo_factory_destroy(void *user) { ((lifo_factory *)user)->destroyed++; }

static const pydron_policy_factory lifo_factory_ops = {
    PYDRON_POLICY_FACTORY_VERSION, "lifo-factory", lifo_factory_create, lifo_factory_destroy};

/* One custom policy serves several graphs at once, each with its own
 * instance (pydron_runtime_set_policy allowed one graph only). */
Test(policy, factory_serves_several_graphs)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    lifo_factory f;
    memset(&f, 0, sizeof f);
    TU_OK(pydron_runtime_set_policy_factory(rt, &lifo_factory_ops, &f));
    f.kind = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g[3];
    pydron_value outs[3][50];
    for (int k = 0; k < 3; k++)
        g[k] = tu_graph(rt);
    cr_assert_eq(f.nmade, 3, "one instance per graph");
    for (int k = 0; k < 3; k++) {
        cr_assert_eq(f.graphs[k], g[k]);
        pydron_value c = tu_const_u64(g[k], (uint64_t)k);
        for (int i = 0; i < 10 * (k + 1); i++) {
            uint64_t pay = (uint64_t)i;
            tu_add(g[k], f.kind, 0, &c, 1, 1, &outs[k][i], &pay);
        }
    }
    for (int k = 0; k < 3; k++)
        for (int i = 0; i < 10 * (k + 1); i++)
            cr_assert_eq(tu_get_u64(g[k], outs[k][i]), (uint64_t)(k + i));
    for (int k = 0; k < 3; k++) {
        lifo *l = f.made[k];
        cr_assert_eq(l->pushes, (uint64_t)(10 * (k + 1)), "graph %d's instance saw %llu tasks", k,
                     (unsigned long long)l->pushes);
        cr_assert_eq(l->picks, l->pushes);
        cr_assert_eq(l->bad_fields, 0);
        /* every task it saw is one of its own graph's */
        for (size_t i = 0; i < l->npushed; i++) {
            pydron_task_state st;
            TU_OK(pydron_task_state_get(g[k], l->pushed[i], &st));
        }
    }
    TU_OK(pydron_graph_free(g[1]));
    cr_assert_eq(f.made[1]->destroyed, 1, "the instance goes with its graph");
    cr_assert_eq(f.made[0]->destroyed, 0);
    pydron_graph *g4 = tu_graph(rt);   /* still serves new graphs */
    cr_assert_eq(f.nmade, 4);
    TU_OK(pydron_graph_free(g4));
    TU_OK(pydron_graph_free(g[0]));
    TU_OK(pydron_graph_free(g[2]));
    cr_assert_eq(f.destroyed, 0);
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(f.destroyed, 1, "factory destroy not called by runtime_free");
    for (int k = 0; k < f.nmade; k++) {
        cr_assert_eq(f.made[k]->destroyed, 1);
        free(f.made[k]);
    }
}

Test(policy, factory_misuse)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    lifo_factory f;
    memset(&f, 0, sizeof f);
    pydron_policy_factory bad = lifo_factory_ops;
    bad.version = 999;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy_factory(rt, &bad, &f));
    bad = lifo_factory_ops;
    bad.create = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy_factory(rt, &bad, &f));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy_factory(rt, NULL, &f));
    TU_ERR(PYDRON_EINVAL, pydron_runtime_set_policy_factory(NULL, &lifo_factory_ops, &f));
    TU_OK(pydron_runtime_set_policy_factory(rt, &lifo_factory_ops, &f));
    pydron_graph *g = NULL;
    f.fail = PYDRON_ENOMEM;
    TU_ERR(PYDRON_ENOMEM, pydron_graph_new(rt, &g));
    cr_assert_null(g);
    f.fail = 0;
    f.bad_ops = 1;
    TU_ERR(PYDRON_EINVAL, pydron_graph_new(rt, &g));
    cr_assert_null(g);
    f.bad_ops = 0;
    g = tu_graph(rt);
    TU_ERR(PYDRON_ESTATE, pydron_runtime_set_policy_factory(rt, &lifo_factory_ops, &f));
    TU_ERR(PYDRON_ESTATE, pydron_runtime_set_policy(rt, &lifo_ops, f.made[0]));
    TU_OK(pydron_graph_free(g));
    /* the old one-instance policy replaces the factory (destroyed) */
    lifo *one = lifo_new(1, 0.0);
    TU_OK(pydron_runtime_set_policy(rt, &lifo_ops, one));
    cr_assert_eq(f.destroyed, 1);
    g = tu_graph(rt);
    pydron_graph *g2 = NULL;
    TU_ERR(PYDRON_EBUSY, pydron_graph_new(rt, &g2));   /* one graph at a time, as before */
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(one->destroyed, 1);
    for (int k = 0; k < f.nmade; k++)
        free(f.made[k]);
    free(one);
}

/* Every shipped policy runs a mixed graph to the right result. */
Test(policy, shipped_policies_compute_the_same)
{
    pydron_policy_kind pols[3] = {PYDRON_POLICY_FIFO, PYDRON_POLICY_CRITICAL_PATH,
                                  PYDRON_POLICY_LOCALITY};
    for (int pi = 0; pi < 3; pi++) {
        pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
        o.executor = PYDRON_EXECUTOR_THREADS;
        o.workers = 2;
        o.policy = pols[pi];
        pydron_runtime *rt;
        TU_OK(pydron_runtime_new(&rt, &o));
        uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
        pydron_graph *g = tu_graph(rt);
        /* a binary reduction tree over 256 leaves 0..255 */
        pydron_value lv[256];
        for (int i = 0; i < 256; i++)
            lv[i] = tu_const_u64(g, (uint64_t)i);
        int n = 256;
        while (n > 1) {
            for (int i = 0; i < n / 2; i++) {
                pydron_value pair[2] = {lv[2 * i], lv[2 * i + 1]}, s;
                tu_add(g, k, 0, pair, 2, 1, &s, NULL);
                TU_OK(pydron_value_release(g, pair[0]));
                TU_OK(pydron_value_release(g, pair[1]));
                lv[i] = s;
            }
            n /= 2;
        }
        cr_assert_eq(tu_get_u64(g, lv[0]), 255 * 256 / 2, "policy %d", (int)pols[pi]);
        TU_OK(pydron_graph_free(g));
        TU_OK(pydron_runtime_free(rt));
    }
}

/* The same choice when the whole graph was added before the run started
 * (no gate): the chain head became ready when it was added, before its
 * successors existed, but by the first pick they are all known. */
Test(policy, critical_path_graph_added_before_start)
{
    pol_graph p;
    pol_open(&p, PYDRON_POLICY_CRITICAL_PATH);
    pydron_task ind[4], chain[6];
    build_chain_vs_independent(&p, ind, chain, 0);
    TU_OK(pydron_graph_run(p.g, 60000));
    cr_assert_eq(p.x.norder, 10);
    for (int i = 0; i < 6; i++)
        cr_assert_eq(p.x.order[i], chain[i].id,
                     "critical path: pick %d is not chain task %d (bottom level computed before "
                     "the successors were added?)", i, i);
    pol_close(&p);
}
