/*
 * test_exec_api.c - the executor side of the contract: what a custom
 * executor can read of a job (pydron_job_*), completing jobs without the
 * in-process runner (outputs as bytes, errors, times), and misuse of the
 * job API (wrong indices, NULL) returning errors instead of crashing.
 */
#include "testutil.h"

typedef struct jx {
    pydron_exec_host *host;
    pydron_job *held[64];
    size_t nheld;
    int bad_view;           /* a job read back something unexpected */
    char why[256];
    int rc_bad_input, rc_bad_output, rc_null_payload, rc_bad_set;
    pydron_value expect_out[8];
    size_t nexpect;
} jx;

static void mark_bad(jx *x, const char *why)
{
    if (!x->bad_view) {
        x->bad_view = 1;
        snprintf(x->why, sizeof x->why, "%s", why);
    }
}

static int jx_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    jx *x = (jx *)self;
    x->host = host;
    *nworkers = 1;
    *in_flight = 64;
    return 0;
}

static int jx_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    jx *x = (jx *)self;
    for (size_t i = 0; i < n && x->nheld < 64; i++)
        x->held[x->nheld++] = jobs[i];
    return 0;
}

/* Complete held jobs on the driver thread, by hand: payload "sum" -> output
 * 0 = sum of u64 inputs; payload "fail" -> error. */
static int jx_poll(void *self, int timeout_ms)
{
    jx *x = (jx *)self;
    int done = 0;
    while (x->nheld > 0) {
        pydron_job *j = x->held[--x->nheld];
        const void *pay;
        size_t plen;
        if (pydron_job_payload(j, &pay, &plen) != 0)
            mark_bad(x, "payload unreadable");
        if (pydron_job_attempt(j) != 0)
            mark_bad(x, "attempt != 0");
        const char *kn = pydron_job_kind_name(j);
        if (!kn || strcmp(kn, "handmade") != 0)
            mark_bad(x, "kind name");
        size_t nin = pydron_job_ninputs(j), nout = pydron_job_noutputs(j);
        uint64_t s = 0;
        for (size_t i = 0; i < nin; i++) {
            pydron_value v;
            size_t size = 0, len = 0;
            int32_t where = 99;
            const void *data = NULL;
            if (pydron_job_input(j, i, &v, &size, &where, &data, &len) != 0 || v.id == 0 ||
                where != -1 || !data || len != 8 || size != 8)
                mark_bad(x, "input view");
            else {
                uint64_t u;
                memcpy(&u, data, 8);
                s += u;
            }
        }
        pydron_value v;
        size_t sz, len;
        int32_t where;
        const void *data;
        x->rc_bad_input = pydron_job_input(j, nin, &v, &sz, &where, &data, &len);
        x->rc_bad_output = pydron_job_output_value(j, nout, &v);
        x->rc_null_payload = pydron_job_payload(j, NULL, NULL);
        x->rc_bad_set = pydron_job_set_output_bytes(j, nout, "x", 1, NULL, NULL);
        for (size_t o = 0; o < nout; o++) {
            pydron_value ov;
            if (pydron_job_output_value(j, o, &ov) != 0)
                mark_bad(x, "output value");
            int known = 0;
            for (size_t e = 0; e < x->nexpect; e++)
                known |= x->expect_out[e].id == ov.id;
            if (!known)
                mark_bad(x, "output value id not one task_add returned");
        }
        uint64_t t0 = tu_now_ns();
        pydron_job_set_times(j, t0, t0 + 1000);
        if (plen == 4 && memcmp(pay, "fail", 4) == 0) {
            pydron_job_set_error(j, "handmade failure", "det", 3);
            pydron_job_done(j, PYDRON_ETASK);
        } else {
            for (size_t o = 0; o < nout; o++) {
                uint64_t *b = (uint64_t *)malloc(sizeof *b);
                *b = s;
                if (pydron_job_set_output_bytes(j, o, b, sizeof *b, free, b) != 0)
                    mark_bad(x, "set_output_bytes");
            }
            pydron_job_done(j, 0);
        }
        done++;
    }
    return done;
}

static void jx_stop(void *self)
{
    jx *x = (jx *)self;
    while (x->nheld > 0)
        pydron_job_done(x->held[--x->nheld], PYDRON_ECANCELED);
}

/* version 1: an executor built against the first ops table (no recall) */
static const pydron_executor_ops jx_ops = {1, "handmade-exec", jx_start,
                                           jx_submit, jx_poll, NULL, NULL, jx_stop, NULL, NULL};

Test(exec_api, custom_executor_completes_by_hand)
{
    jx x;
    memset(&x, 0, sizeof x);
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, NULL));
    TU_OK(pydron_runtime_set_executor(rt, &jx_ops, &x));
    /* a kind without a runner: only this executor can run it */
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "handmade";
    uint32_t k;
    TU_OK(pydron_runtime_register_kind(rt, &kd, &k));
    pydron_graph *g = tu_graph(rt);
    pydron_value in[2] = {tu_const_u64(g, 40), tu_const_u64(g, 2)}, sum[2], bad, dep;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 2;
    d.inputs = in;
    d.noutputs = 2;
    d.payload = "sum";
    d.payload_len = 3;
    pydron_task ts;
    TU_OK(pydron_task_add(g, &d, &ts, sum));
    d.ninputs = 0;
    d.noutputs = 1;
    d.payload = "fail";
    d.payload_len = 4;
    pydron_task tf;
    TU_OK(pydron_task_add(g, &d, &tf, &bad));
    d.ninputs = 1;
    d.inputs = &bad;
    d.payload = "sum";
    d.payload_len = 3;
    TU_OK(pydron_task_add(g, &d, NULL, &dep));
    x.expect_out[0] = sum[0];
    x.expect_out[1] = sum[1];
    x.expect_out[2] = bad;
    x.expect_out[3] = dep;
    x.nexpect = 4;

    cr_assert_eq(tu_get_u64(g, sum[0]), 42);
    cr_assert_eq(tu_get_u64(g, sum[1]), 42);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, dep, 60000));
    pydron_task culprit;
    char *msg = NULL;
    void *det = NULL;
    size_t dlen = 0;
    TU_OK(pydron_value_error(g, dep, &culprit, &msg, &det, &dlen));
    cr_assert_eq(culprit.id, tf.id);
    cr_assert(msg && strstr(msg, "handmade failure"), "message '%s'", msg ? msg : "");
    cr_assert_eq(dlen, 3);
    cr_assert_arr_eq(det, "det", 3);
    pydron_free(msg);
    pydron_free(det);

    cr_assert_eq(x.bad_view, 0, "job view: %s", x.why);
    cr_assert_eq(x.rc_bad_input, PYDRON_EINVAL);
    cr_assert_eq(x.rc_bad_output, PYDRON_EINVAL);
    cr_assert_eq(x.rc_null_payload, PYDRON_EINVAL);
    cr_assert_eq(x.rc_bad_set, PYDRON_EINVAL);

    pydron_task_timing tt;
    TU_OK(pydron_task_timing_get(g, ts, &tt));
    cr_assert_eq(tt.state, PYDRON_TASK_DONE);
    cr_assert_str_eq(tt.executor, "handmade-exec");
    cr_assert_leq(tt.started_ns, tt.finished_ns);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* The job API with NULL jobs: errors and neutral values, never a crash. */
Test(exec_api, null_job)
{
    cr_assert_eq(pydron_job_task(NULL).id, 0);
    cr_assert_eq(pydron_job_ninputs(NULL), 0);
    cr_assert_eq(pydron_job_noutputs(NULL), 0);
    const void *p;
    size_t n;
    pydron_value v;
    int32_t w;
    TU_ERR(PYDRON_EINVAL, pydron_job_payload(NULL, &p, &n));
    TU_ERR(PYDRON_EINVAL, pydron_job_input(NULL, 0, &v, &n, &w, &p, &n));
    TU_ERR(PYDRON_EINVAL, pydron_job_output_value(NULL, 0, &v));
    TU_ERR(PYDRON_EINVAL, pydron_job_run_local(NULL));
    TU_ERR(PYDRON_EINVAL, pydron_job_set_output_bytes(NULL, 0, "x", 1, NULL, NULL));
    TU_ERR(PYDRON_EINVAL, pydron_job_set_output_remote(NULL, 0, 0, 1));
    TU_ERR(PYDRON_EINVAL, pydron_job_set_error(NULL, "x", NULL, 0));
    TU_ERR(PYDRON_EINVAL, pydron_job_set_times(NULL, 1, 2));
    pydron_job_done(NULL, 0); /* ignored */
}

/* ---- batched completions: pydron_jobs_done ---- */

typedef struct bx {
    pydron_job *held[64];
    size_t nheld;
} bx;

static int bx_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    (void)self;
    (void)host;
    *nworkers = 1;
    *in_flight = 64;
    return 0;
}

static int bx_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    bx *x = (bx *)self;
    (void)worker;
    for (size_t i = 0; i < n && x->nheld < 64; i++)
        x->held[x->nheld++] = jobs[i];
    return 0;
}

static void bx_stop(void *self)
{
    bx *x = (bx *)self;
    while (x->nheld > 0)
        pydron_job_done(x->held[--x->nheld], PYDRON_ECANCELED);
}

static const pydron_executor_ops bx_ops = {PYDRON_EXECUTOR_OPS_VERSION, "batch-exec", bx_start,
                                           bx_submit, NULL, NULL, NULL, bx_stop, NULL, NULL};

/* Finish every held job in one pydron_jobs_done, in the order held (jobs of
 * two graphs interleaved, a NULL entry in the middle): payload "fail" fails,
 * else output 0 = 1 + the sum of the u64 inputs. */
static size_t bx_finish_all(bx *x)
{
    pydron_job *jobs[65];
    int rcs[65];
    size_t n = 0;
    size_t held = x->nheld;
    for (size_t i = 0; i < held; i++) {
        if (n == 2)
            jobs[n] = NULL, rcs[n++] = 12345;   /* skipped, rc unused */
        pydron_job *j = x->held[i];
        const void *pay;
        size_t plen;
        pydron_job_payload(j, &pay, &plen);
        uint64_t s = 1;
        for (size_t k = 0; k < pydron_job_ninputs(j); k++) {
            const void *data;
            size_t len;
            uint64_t u = 0;
            if (pydron_job_input(j, k, NULL, NULL, NULL, &data, &len) == 0 && len == 8)
                memcpy(&u, data, 8);
            s += u;
        }
        if (plen == 4 && memcmp(pay, "fail", 4) == 0) {
            pydron_job_set_error(j, "batched failure", NULL, 0);
            rcs[n] = PYDRON_ETASK;
        } else {
            uint64_t *b = (uint64_t *)malloc(sizeof *b);
            *b = s;
            pydron_job_set_output_bytes(j, 0, b, sizeof *b, free, b);
            rcs[n] = 0;
        }
        jobs[n++] = j;
    }
    x->nheld = 0;   /* jobs_done may submit more (held anew) */
    pydron_jobs_done(jobs, rcs, n);
    return held;
}

Test(exec_api, jobs_done_completes_a_batch_across_graphs)
{
    bx x;
    memset(&x, 0, sizeof x);
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, NULL));
    TU_OK(pydron_runtime_set_executor(rt, &bx_ops, &x));
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "batched";
    uint32_t k;
    TU_OK(pydron_runtime_register_kind(rt, &kd, &k));
    pydron_graph *g1 = tu_graph(rt), *g2 = tu_graph(rt);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.noutputs = 1;
    /* g1: a, b (fails), c = a + 1 (dispatched by the batch that finishes a);
     * g2: p, q */
    pydron_value a, b, c, p, q;
    d.payload = "ok";
    d.payload_len = 2;
    TU_OK(pydron_task_add(g1, &d, NULL, &a));
    d.payload = "fail";
    d.payload_len = 4;
    TU_OK(pydron_task_add(g1, &d, NULL, &b));
    d.payload = "ok";
    d.payload_len = 2;
    d.ninputs = 1;
    d.inputs = &a;
    TU_OK(pydron_task_add(g1, &d, NULL, &c));
    d.ninputs = 0;
    d.inputs = NULL;
    TU_OK(pydron_task_add(g2, &d, NULL, &p));
    TU_OK(pydron_task_add(g2, &d, NULL, &q));
    /* start both graphs: their ready tasks are submitted */
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_wait(g1, c, 0));
    TU_ERR(PYDRON_ETIMEDOUT, pydron_graph_wait(g2, q, 0));
    cr_assert_eq(x.nheld, 4, "held %zu", x.nheld);
    /* interleave the graphs: g1 a, g2 p, NULL, g1 b, g2 q */
    pydron_job *t = x.held[1];
    x.held[1] = x.held[2];
    x.held[2] = t;
    cr_assert_eq(bx_finish_all(&x), 4);
    /* c became ready and was submitted inside the batch */
    cr_assert_eq(x.nheld, 1, "held %zu after the batch", x.nheld);
    cr_assert_eq(bx_finish_all(&x), 1);
    cr_assert_eq(tu_get_u64(g1, a), 1);
    cr_assert_eq(tu_get_u64(g1, c), 2);
    cr_assert_eq(tu_get_u64(g2, p), 1);
    cr_assert_eq(tu_get_u64(g2, q), 1);
    TU_ERR(PYDRON_ETASK, pydron_graph_wait(g1, b, 1000));
    cr_assert(strstr(pydron_error_last(), "batched failure"), "%s", pydron_error_last());
    TU_OK(pydron_graph_run(g1, 1000));
    TU_OK(pydron_graph_run(g2, 1000));
    pydron_jobs_done(NULL, NULL, 3);   /* ignored */
    TU_OK(pydron_graph_free(g1));
    TU_OK(pydron_graph_free(g2));
    TU_OK(pydron_runtime_free(rt));
}
