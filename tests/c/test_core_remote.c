/* A custom executor that behaves like a remote one: outputs stay in the
 * executor's own store (pydron_job_set_output_remote), the driver fetches
 * them through fetch() + pydron_exec_fetched() from another thread, and
 * release() is called when the core no longer needs a value. Also checks
 * retries after PYDRON_EIO (worker lost). */
#include <criterion/criterion.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "pydron.h"

#define MAXV 4096
typedef struct fake {
    pydron_exec_host *host;
    pthread_mutex_t mu;
    uint64_t ids[MAXV];
    int64_t vals[MAXV];
    int wk[MAXV];
    int nvals;
    int releases;
    int fail_first;     /* report EIO on the first attempt of every job */
    int lost_total;
    int lose_on_fetch;  /* the next fetch loses the worker holding the value */
} fake;

static int f_start(void *self, pydron_exec_host *host, unsigned *nw, unsigned *inf)
{
    fake *f = self;
    f->host = host;
    *nw = 2;
    *inf = 4;
    return 0;
}

static int64_t lookup(fake *f, uint64_t id)
{
    for (int i = f->nvals; i-- > 0;)
        if (f->ids[i] == id && f->wk[i] >= 0)
            return f->vals[i];
    cr_assert_fail("value %llx not in the fake store", (unsigned long long)id);
    return 0;
}

/* runs synchronously inside submit: allowed by the contract */
static int f_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    fake *f = self;
    for (size_t k = 0; k < n; k++) {
        pydron_job *j = jobs[k];
        if ((f->fail_first == 1 && pydron_job_attempt(j) == 0) || f->fail_first == 2) {
            f->lost_total++;
            pydron_job_done(j, PYDRON_EIO);
            continue;
        }
        int64_t sum = 1;
        for (size_t i = 0; i < pydron_job_ninputs(j); i++) {
            pydron_value v;
            size_t size;
            int32_t where;
            const void *data;
            size_t len;
            cr_assert_eq(pydron_job_input(j, i, &v, &size, &where, &data, &len), 0);
            cr_assert_eq(size, 8);
            if (where >= 0) {
                pthread_mutex_lock(&f->mu);
                sum += lookup(f, v.id);
                pthread_mutex_unlock(&f->mu);
            } else {
                int64_t x;
                memcpy(&x, data, 8);
                sum += x;
            }
        }
        pydron_value out;
        cr_assert_eq(pydron_job_output_value(j, 0, &out), 0);
        pthread_mutex_lock(&f->mu);
        cr_assert_lt(f->nvals, MAXV);
        f->ids[f->nvals] = out.id;
        f->wk[f->nvals] = (int)worker;
        f->vals[f->nvals++] = sum;
        pthread_mutex_unlock(&f->mu);
        /* a note only for a remote output, within its bounds; a later
         * one replaces it */
        cr_assert_eq(pydron_job_set_output_note(j, 0, "x", 1), PYDRON_ESTATE);
        cr_assert_eq(pydron_job_set_output_remote(j, 0, (int32_t)worker, 8), 0);
        cr_assert_eq(pydron_job_set_output_note(j, 1, "x", 1), PYDRON_EINVAL);
        cr_assert_eq(pydron_job_set_output_note(j, 0, NULL, 1), PYDRON_EINVAL);
        cr_assert_eq(pydron_job_set_output_note(NULL, 0, "x", 1), PYDRON_EINVAL);
        cr_assert_eq(pydron_job_set_output_note(j, 0, "x", (size_t)PYDRON_NOTE_MAX + 1),
                     PYDRON_EINVAL);
        char note[32];
        int nl = snprintf(note, sizeof note, "sum %lld", (long long)sum);
        cr_assert_eq(pydron_job_set_output_note(j, 0, "old", 3), 0);
        cr_assert_eq(pydron_job_set_output_note(j, 0, note, (size_t)nl), 0);
        pydron_job_done(j, 0);
    }
    return 0;
}

typedef struct fetch_req {
    fake *f;
    pydron_value v;
} fetch_req;

static void *fetch_thread(void *arg)
{
    fetch_req *r = arg;
    pthread_mutex_lock(&r->f->mu);
    if (r->f->lose_on_fetch) {
        r->f->lose_on_fetch = 0;
        int victim = -1;
        for (int i = 0; i < r->f->nvals; i++)
            if (r->f->ids[i] == r->v.id && r->f->wk[i] >= 0)
                victim = r->f->wk[i];
        for (int i = 0; i < r->f->nvals; i++)
            if (r->f->wk[i] == victim)
                r->f->wk[i] = -1;
        pthread_mutex_unlock(&r->f->mu);
        /* as the process executor does: the loss first, then the fetch fails */
        pydron_exec_worker_lost(r->f->host, (unsigned)victim);
        pydron_exec_fetched(r->f->host, r->v, PYDRON_EIO, NULL, 0, NULL, NULL);
        free(r);
        return NULL;
    }
    int64_t *x = malloc(8);
    *x = lookup(r->f, r->v.id);
    pthread_mutex_unlock(&r->f->mu);
    pydron_exec_fetched(r->f->host, r->v, 0, x, 8, free, x);
    free(r);
    return NULL;
}

static int f_fetch(void *self, pydron_value v, unsigned worker)
{
    (void)worker;
    fetch_req *r = malloc(sizeof *r);
    r->f = self;
    r->v = v;
    pthread_t t;
    pthread_create(&t, NULL, fetch_thread, r);
    pthread_detach(t);
    return 0;
}

static void f_release(void *self, pydron_value v, unsigned worker)
{
    (void)v;
    (void)worker;
    fake *f = self;
    f->releases++;
}

static void f_stop(void *self) { (void)self; }

static const pydron_executor_ops fake_ops = {PYDRON_EXECUTOR_OPS_VERSION, "fake-remote", f_start,
                                             f_submit, NULL, f_fetch, f_release, f_stop, NULL, NULL};

static int never(pydron_task_ctx *ctx, void *u)
{
    (void)ctx;
    (void)u;
    cr_assert_fail("bodies run in the fake executor, not here");
    return 0;
}

static void run(int fail_first, unsigned max_retries)
{
    static fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.mu, NULL);
    f.fail_first = fail_first;
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.max_retries = max_retries;
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, &o), 0);
    cr_assert_eq(pydron_runtime_set_executor(rt, &fake_ops, &f), 0);
    uint32_t k;
    pydron_runtime_register_c(rt, "k", never, NULL, &k);
    pydron_graph *g;
    cr_assert_eq(pydron_graph_new(rt, &g), 0);
    int64_t zero = 0;
    pydron_value cur;
    pydron_value_constant(g, &zero, 8, &cur);
    for (int i = 0; i < 100; i++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.ninputs = 1;
        d.inputs = &cur;
        d.noutputs = 1;
        pydron_value out;
        cr_assert_eq(pydron_task_add(g, &d, NULL, &out), 0);
        pydron_value_release(g, cur);
        cur = out;
    }
    int rc = pydron_graph_wait(g, cur, 10000);
    if (fail_first < 2) {
        cr_assert_eq(rc, 0, "%s", pydron_error_last());
        const void *d;
        size_t n;
        cr_assert_eq(pydron_value_bytes(g, cur, &d, &n), 0, "%s", pydron_error_last());
        int64_t x;
        memcpy(&x, d, 8);
        cr_assert_eq(x, 100);
        /* the executor's note for the last value (pydron_job_set_output_note) */
        cr_assert_eq(pydron_value_note(g, cur, &d, &n), 0);
        cr_assert_eq(n, 7);
        cr_assert(memcmp(d, "sum 100", 7) == 0);
        pydron_graph_stats st;
        pydron_graph_stats_get(g, &st);
        cr_assert_eq(st.tasks_retried, fail_first ? 100u : 0u);
        /* intermediate remote values were released as soon as they were consumed */
        cr_assert_eq(f.releases, 99);
    } else {
        cr_assert_eq(rc, PYDRON_ETASK);
        cr_assert(strstr(pydron_error_last(), "lost its worker 2 times (max_retries=1)"), "%s",
                  pydron_error_last());
        cr_assert_eq(f.lost_total, 2);   /* first task: 2 attempts, then its consumers fail */
    }
    pydron_value_release(g, cur);
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
    pthread_mutex_destroy(&f.mu);
}

Test(core_remote, remote_values_fetch_and_release) { run(0, 0); }
Test(core_remote, retry_after_worker_loss) { run(1, 0); }
Test(core_remote, give_up_after_max_retries) { run(2, 1); }

/* A worker dies after the chain ran: values only it had are recomputed
 * from their producers (kept as lineage). mode 1: every value is still
 * held; mode 0: the intermediate values were released, so their producers
 * run again first, recursively (lineage); mode 2: the worker holding the
 * result dies twice with max_retries=1: the second time it fails saying
 * why. */
static int victim_of(fake *f, pydron_value v)
{
    int victim = -1;
    pthread_mutex_lock(&f->mu);
    for (int i = 0; i < f->nvals; i++)
        if (f->ids[i] == v.id && f->wk[i] >= 0)
            victim = f->wk[i];
    cr_assert_geq(victim, 0);
    for (int i = 0; i < f->nvals; i++)
        if (f->wk[i] == victim)
            f->wk[i] = -1;
    pthread_mutex_unlock(&f->mu);
    return victim;
}

static void lose_worker(int mode)
{
    static fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.mu, NULL);
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.max_retries = mode == 2 ? 1 : 0;
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, &o), 0);
    cr_assert_eq(pydron_runtime_set_executor(rt, &fake_ops, &f), 0);
    uint32_t k;
    pydron_runtime_register_c(rt, "k", never, NULL, &k);
    pydron_graph *g;
    pydron_graph_new(rt, &g);
    int64_t zero = 0;
    static pydron_value vals[41];
    pydron_value_constant(g, &zero, 8, &vals[0]);
    for (int i = 1; i <= 40; i++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.ninputs = 1;
        d.inputs = &vals[i - 1];
        d.noutputs = 1;
        cr_assert_eq(pydron_task_add(g, &d, NULL, &vals[i]), 0);
        if (mode != 1 && i > 1 && i < 40)
            pydron_value_release(g, vals[i - 1]);
    }
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    int releases = f.releases;
    if (mode != 1)
        cr_assert_eq(releases, 38, "released intermediates must leave the workers");
    pydron_value_state vs;
    if (mode != 1) {
        /* a released value reads as released, even though its record is
         * kept as lineage */
        cr_assert_eq(pydron_value_state_get(g, vals[20], &vs), 0);
        cr_assert_eq(vs, PYDRON_VALUE_RELEASED);
    }
    pydron_exec_worker_lost(f.host, (unsigned)victim_of(&f, vals[40]));
    int rc = pydron_graph_wait(g, vals[40], 10000);
    cr_assert_eq(rc, 0, "%s", pydron_error_last());
    if (mode != 2) {   /* (a copy fetched to the driver would survive the next loss) */
        const void *d;
        size_t n;
        cr_assert_eq(pydron_value_bytes(g, vals[40], &d, &n), 0, "%s", pydron_error_last());
        int64_t x;
        memcpy(&x, d, 8);
        cr_assert_eq(x, 40);
    }
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    if (mode == 1)
        cr_assert_geq(st.tasks_retried, 1);
    else   /* every released intermediate was made again, in order */
        cr_assert_eq(st.tasks_retried, 40, "%llu", (unsigned long long)st.tasks_retried);
    if (mode == 2) {
        pydron_exec_worker_lost(f.host, (unsigned)victim_of(&f, vals[40]));
        rc = pydron_graph_wait(g, vals[40], 10000);
        cr_assert_eq(rc, PYDRON_ETASK);
        cr_assert(strstr(pydron_error_last(), "ran 2 times") &&
                      strstr(pydron_error_last(), "max_retries=1"),
                  "%s", pydron_error_last());
    }
    for (int i = 0; i <= 40; i++)
        if (mode == 1 || i == 0 || i == 39 || i == 40)
            pydron_value_release(g, vals[i]);
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.values_live, 0, "%llu values live", (unsigned long long)st.values_live);
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
    pthread_mutex_destroy(&f.mu);
}

Test(core_remote, worker_lost_recompute) { lose_worker(1); }
Test(core_remote, worker_lost_inputs_released_recomputed_recursively) { lose_worker(0); }
Test(core_remote, worker_lost_twice_past_max_retries_fails_saying_why) { lose_worker(2); }

/* A refinement binds its output to a value made on a worker (an alias).
 * That worker dies before the alias's consumer runs: the alias resolves
 * again when the value has been made again, and the consumer waits for it
 * instead of failing. */
static uint32_t k_plain;

static int refine_to_remote(pydron_refine *r, void *user)
{
    (void)user;
    pydron_value in, out;
    pydron_refine_input_value(r, 0, &in);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k_plain;
    d.ninputs = 1;
    d.inputs = &in;
    d.noutputs = 1;
    int rc = pydron_refine_add_task(r, &d, NULL, &out);
    if (rc)
        return rc;
    return pydron_refine_bind_output(r, 0, out);
}

Test(core_remote, worker_lost_alias_resolves_again)
{
    static fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.mu, NULL);
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, NULL), 0);
    cr_assert_eq(pydron_runtime_set_executor(rt, &fake_ops, &f), 0);
    pydron_runtime_register_c(rt, "k", never, NULL, &k_plain);
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "r";
    kd.refine = refine_to_remote;
    uint32_t kr;
    cr_assert_eq(pydron_runtime_register_kind(rt, &kd, &kr), 0);
    pydron_graph *g;
    cr_assert_eq(pydron_graph_new(rt, &g), 0);
    int64_t five = 5;
    pydron_value c, alias, gate, res;
    cr_assert_eq(pydron_value_constant(g, &five, 8, &c), 0);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = kr;
    d.flags = PYDRON_TASK_REFINABLE;
    d.ninputs = 1;
    d.inputs = &c;
    d.noutputs = 1;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &alias), 0);   /* alias of 1 + 5 */
    cr_assert_eq(pydron_value_input(g, &gate), 0);
    pydron_value cin[2] = {alias, gate};
    pydron_task_desc dc = PYDRON_TASK_DESC_INIT;
    dc.kind = k_plain;
    dc.ninputs = 2;
    dc.inputs = cin;
    dc.noutputs = 1;
    cr_assert_eq(pydron_task_add(g, &dc, NULL, &res), 0);
    pydron_value_release(g, c);
    cr_assert_eq(pydron_graph_wait(g, alias, 10000), 0, "%s", pydron_error_last());
    /* the alias's root lives on one worker: kill it */
    int victim;
    pthread_mutex_lock(&f.mu);
    cr_assert_eq(f.nvals, 1);
    victim = f.wk[0];
    f.wk[0] = -1;
    pthread_mutex_unlock(&f.mu);
    pydron_exec_worker_lost(f.host, (unsigned)victim);
    pydron_value_state vs;
    cr_assert_eq(pydron_value_state_get(g, alias, &vs), 0);
    cr_assert_eq(vs, PYDRON_VALUE_PENDING, "the alias waits for the new copy");
    int64_t ten = 10;
    cr_assert_eq(pydron_value_set(g, gate, &ten, 8), 0);
    cr_assert_eq(pydron_graph_wait(g, res, 10000), 0, "%s", pydron_error_last());
    const void *p;
    size_t n;
    int64_t x;
    cr_assert_eq(pydron_value_bytes(g, res, &p, &n), 0, "%s", pydron_error_last());
    memcpy(&x, p, 8);
    cr_assert_eq(x, 1 + 6 + 10);
    cr_assert_eq(pydron_value_bytes(g, alias, &p, &n), 0, "%s", pydron_error_last());
    memcpy(&x, p, 8);
    cr_assert_eq(x, 6);
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.tasks_retried, 1);
    pydron_value_release(g, alias);
    pydron_value_release(g, gate);
    pydron_value_release(g, res);
    cr_assert_eq(pydron_graph_run(g, 10000), 0);
    pydron_graph_stats_get(g, &st);
    cr_assert_eq(st.values_live, 0, "%llu values live", (unsigned long long)st.values_live);
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
    pthread_mutex_destroy(&f.mu);
}

/* The worker holding a value dies while the driver fetches it: the fetch
 * waits for the value to be made again instead of failing. */
Test(core_remote, worker_lost_during_fetch_value_bytes_waits_for_recompute)
{
    static fake f;
    memset(&f, 0, sizeof f);
    pthread_mutex_init(&f.mu, NULL);
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, NULL), 0);
    cr_assert_eq(pydron_runtime_set_executor(rt, &fake_ops, &f), 0);
    uint32_t k;
    pydron_runtime_register_c(rt, "k", never, NULL, &k);
    pydron_graph *g;
    cr_assert_eq(pydron_graph_new(rt, &g), 0);
    int64_t zero = 0;
    pydron_value cur;
    pydron_value_constant(g, &zero, 8, &cur);
    for (int i = 0; i < 5; i++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.ninputs = 1;
        d.inputs = &cur;
        d.noutputs = 1;
        pydron_value out;
        cr_assert_eq(pydron_task_add(g, &d, NULL, &out), 0);
        pydron_value_release(g, cur);
        cur = out;
    }
    cr_assert_eq(pydron_graph_wait(g, cur, 10000), 0, "%s", pydron_error_last());
    f.lose_on_fetch = 1;
    const void *p;
    size_t n;
    cr_assert_eq(pydron_value_bytes(g, cur, &p, &n), 0, "%s", pydron_error_last());
    int64_t x;
    memcpy(&x, p, 8);
    cr_assert_eq(x, 5);
    pydron_graph_stats st;
    pydron_graph_stats_get(g, &st);
    cr_assert_geq(st.tasks_retried, 1);
    pydron_value_release(g, cur);
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
    pthread_mutex_destroy(&f.mu);
}
