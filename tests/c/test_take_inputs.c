/*
 * test_take_inputs.c - PYDRON_TASK_TAKE_INPUTS: the task takes one of the
 * caller's references per input slot, as a release right after the add
 * would; not enough references is PYDRON_ESTATE and a failed add takes
 * nothing. Differential: a chain built with the flag gives the same results
 * and the same memory as one built with add + release, on the fast path
 * (up to two inputs) and the general one (more inputs, a long payload).
 */
#include "testutil.h"

static pydron_graph_stats stats(pydron_graph *g)
{
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    return s;
}

/* A chain of len "sum" steps from 0, each adding its payload 1 (and, with
 * wide, reading the constant `one` in three more slots: the general path).
 * take: the flag, else add + release. Returns the end (the caller's). */
static pydron_value chain(pydron_graph *g, uint32_t k, int len, int take, int wide,
                          pydron_value one, pydron_value zero)
{
    pydron_value cur = zero;
    TU_OK(pydron_value_retain(g, cur));   /* the chain's own reference on its start */
    uint64_t pay = 1;
    for (int s = 0; s < len; s++) {
        pydron_value in[4] = {cur, one, one, one}, out;
        if (take && wide) {
            /* one reference per slot: two more on `one` (the caller keeps its own) */
            TU_OK(pydron_value_retain(g, one));
            TU_OK(pydron_value_retain(g, one));
            TU_OK(pydron_value_retain(g, one));
        }
        tu_add(g, k, take ? PYDRON_TASK_TAKE_INPUTS : 0, in, wide ? 4 : 1, 1, &out, &pay);
        if (!take)
            TU_OK(pydron_value_release(g, cur));
        cur = out;
    }
    return cur;
}

static void run_chains(pydron_executor_kind ex, int wide)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    enum { C = 50, LEN = 200 };
    pydron_graph_stats st[2];
    uint64_t sums[2] = {0, 0};
    for (int take = 0; take < 2; take++) {
        pydron_graph *g = tu_graph(rt);
        pydron_value zero = tu_const_u64(g, 0), one = tu_const_u64(g, 1), ends[C];
        for (int c = 0; c < C; c++)
            ends[c] = chain(g, k, LEN, take, wide, one, zero);
        TU_OK(pydron_graph_run(g, 60000));
        for (int c = 0; c < C; c++) {
            sums[take] += tu_get_u64(g, ends[c]);
            TU_OK(pydron_value_release(g, ends[c]));
        }
        /* every reference was taken or released: only the two constants
         * the caller still holds remain */
        st[take] = stats(g);
        cr_assert_eq(st[take].values_live, 2, "take=%d: %llu values live", take,
                     (unsigned long long)st[take].values_live);
        TU_OK(pydron_value_release(g, zero));
        TU_OK(pydron_value_release(g, one));
        cr_assert_eq(stats(g).values_live, 0);
        TU_OK(pydron_graph_free(g));
    }
    uint64_t per = wide ? 4 : 1;   /* 1 + three times `one` */
    cr_assert_eq(sums[0], (uint64_t)C * LEN * per);
    cr_assert_eq(sums[1], sums[0]);
    cr_assert_eq(st[1].tasks_done, st[0].tasks_done);
    if (ex == PYDRON_EXECUTOR_INLINE)   /* deterministic order: the same peak */
        cr_assert_eq(st[1].bytes_peak, st[0].bytes_peak,
                     "peak bytes %llu with the flag, %llu without",
                     (unsigned long long)st[1].bytes_peak, (unsigned long long)st[0].bytes_peak);
    TU_OK(pydron_runtime_free(rt));
}

Test(take_inputs, chain_as_with_release_inline) { run_chains(PYDRON_EXECUTOR_INLINE, 0); }
Test(take_inputs, chain_as_with_release_threads) { run_chains(PYDRON_EXECUTOR_THREADS, 0); }
Test(take_inputs, wide_chain_general_path_inline) { run_chains(PYDRON_EXECUTOR_INLINE, 1); }
Test(take_inputs, wide_chain_general_path_threads) { run_chains(PYDRON_EXECUTOR_THREADS, 1); }

/* A constant given to one task with the flag: the caller's reference is
 * gone, and the bytes go once the task has run. */
Test(take_inputs, taken_constant_is_released_after_its_task)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 41), out;
    uint64_t one = 1;
    tu_add(g, k, PYDRON_TASK_TAKE_INPUTS, &c, 1, 1, &out, &one);
    TU_ERR(PYDRON_ESTATE, pydron_value_release(g, c));   /* taken */
    cr_assert_eq(tu_get_u64(g, out), 42);
    pydron_value_state vs;
    int rc = pydron_value_state_get(g, c, &vs);
    cr_assert(rc == PYDRON_ESTALE || (rc == 0 && vs == PYDRON_VALUE_RELEASED),
              "the taken constant is still there (rc %d, state %d)", rc, (int)vs);
    TU_OK(pydron_value_release(g, out));
    cr_assert_eq(stats(g).values_live, 0);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Not enough references: ESTATE, nothing added, nothing taken. */
Test(take_inputs, too_few_references_is_estate_and_takes_nothing)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = tu_const_u64(g, 1), b = tu_const_u64(g, 2), out;
    /* a twice with one reference: the second slot has none */
    pydron_value twice[2] = {a, a};
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_TAKE_INPUTS;
    d.ninputs = 2;
    d.inputs = twice;
    d.noutputs = 1;
    TU_ERR(PYDRON_ESTATE, pydron_task_add(g, &d, NULL, &out));
    cr_assert(strstr(pydron_error_last(), "input 1") != NULL, "%s", pydron_error_last());
    /* five slots, the last one a value whose reference was released while a
     * consumer still holds it (live, but not the caller's) */
    pydron_value c = tu_const_u64(g, 3), held;
    tu_add(g, k, 0, &c, 1, 1, &held, NULL);
    TU_OK(pydron_value_release(g, c));
    pydron_value five[5] = {a, b, b, a, c};
    TU_OK(pydron_value_retain(g, a));
    TU_OK(pydron_value_retain(g, b));
    d.ninputs = 5;
    d.inputs = five;
    TU_ERR(PYDRON_ESTATE, pydron_task_add(g, &d, NULL, &out));
    cr_assert(strstr(pydron_error_last(), "input 4") != NULL, "%s", pydron_error_last());
    cr_assert_eq(stats(g).tasks_added, 1, "a failed add added a task");
    /* every reference is still the caller's: a and b twice each */
    TU_OK(pydron_value_release(g, a));
    TU_OK(pydron_value_release(g, a));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, a));   /* no reference left: freed */
    TU_OK(pydron_value_release(g, b));
    TU_OK(pydron_value_release(g, b));
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, b));
    cr_assert_eq(tu_get_u64(g, held), 3);
    TU_OK(pydron_value_release(g, held));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Enough references for a value given twice: both taken. An add that fails
 * for another reason (unknown kind, a stale input) takes nothing. */
Test(take_inputs, duplicates_take_two_and_failed_adds_take_none)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value a = tu_const_u64(g, 5), out;
    TU_OK(pydron_value_retain(g, a));
    pydron_value twice[2] = {a, a};
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k + 100;   /* no such kind */
    d.flags = PYDRON_TASK_TAKE_INPUTS;
    d.ninputs = 2;
    d.inputs = twice;
    d.noutputs = 1;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add(g, &d, NULL, &out));
    pydron_value stale = {a.id + 1000};
    pydron_value bad[2] = {a, stale};
    d.kind = k;
    d.inputs = bad;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &d, NULL, &out));
    d.inputs = twice;
    TU_OK(pydron_task_add(g, &d, NULL, &out));
    TU_ERR(PYDRON_ESTATE, pydron_value_release(g, a));   /* both references taken */
    cr_assert_eq(tu_get_u64(g, out), 10);
    TU_OK(pydron_value_release(g, out));
    cr_assert_eq(stats(g).values_live, 0);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* With a failed input the task fails at once; the taken reference is
 * released with it, and the failure reaches the output. */
static int fn_fail(pydron_task_ctx *ctx, void *user) { return tu_fn_fail(ctx, user); }

Test(take_inputs, failed_input_fails_the_task_and_releases_the_reference)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kf = tu_kind_c(rt, "fail", fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value z = tu_const_u64(g, 0), bad, out;
    uint64_t seven = 7;
    tu_add(g, kf, PYDRON_TASK_TAKE_INPUTS, &z, 1, 1, &bad, &seven);
    pydron_graph_run(g, 60000);   /* fails: the task does */
    pydron_value_state vs;
    TU_OK(pydron_value_state_get(g, bad, &vs));
    cr_assert_eq(vs, PYDRON_VALUE_FAILED);
    tu_add(g, k, PYDRON_TASK_TAKE_INPUTS, &bad, 1, 1, &out, NULL);
    int rc = pydron_value_release(g, bad);   /* taken: gone, or not ours any more */
    cr_assert(rc == PYDRON_ESTALE || rc == PYDRON_ESTATE, "release after take -> %d", rc);
    TU_OK(pydron_value_state_get(g, out, &vs));
    cr_assert_eq(vs, PYDRON_VALUE_FAILED);
    TU_OK(pydron_value_release(g, out));
    cr_assert_eq(stats(g).values_live, 0, "%llu values live",
                 (unsigned long long)stats(g).values_live);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Inside a refinement: the callback owns its tasks' outputs and chains
 * them with the flag, then binds the last one. */
static uint32_t refine_sum_kind;
static int refine_chain(pydron_refine *r, void *user)
{
    (void)user;
    pydron_value v;
    int rc = pydron_refine_input_value(r, 0, &v);
    if (rc)
        return rc;
    uint64_t pay = 10;
    for (int s = 0; s < 3; s++) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = refine_sum_kind;
        /* the replaced task's input is not the callback's to give */
        d.flags = s ? PYDRON_TASK_TAKE_INPUTS : 0;
        d.ninputs = 1;
        d.inputs = &v;
        d.noutputs = 1;
        d.payload = &pay;
        d.payload_len = sizeof pay;
        uint32_t tick = (uint32_t)s + 1;
        d.tick = &tick;
        d.tick_len = 1;
        if ((rc = pydron_refine_add_task(r, &d, NULL, &v)) != 0)
            return rc;
    }
    return pydron_refine_bind_output(r, 0, v);   /* takes the callback's reference */
}

Test(take_inputs, in_a_refinement)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    refine_sum_kind = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    kd.name = "chain3";
    kd.refine = refine_chain;
    uint32_t kr = 0;
    TU_OK(pydron_runtime_register_kind(rt, &kd, &kr));
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 5), out;
    tu_add(g, kr, PYDRON_TASK_REFINABLE | PYDRON_TASK_TAKE_INPUTS, &c, 1, 1, &out, NULL);
    cr_assert_eq(tu_get_u64(g, out), 35);
    TU_OK(pydron_graph_run(g, 60000));
    TU_OK(pydron_value_release(g, out));
    cr_assert_eq(stats(g).values_live, 0, "%llu values live",
                 (unsigned long long)stats(g).values_live);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
