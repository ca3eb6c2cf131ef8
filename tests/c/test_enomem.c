/* test_enomem.c - running out of memory is an error, not an abort().
 *
 * util's test hook (pdi_test_fail_grow) makes one growth of an internal
 * array fail as if malloc had. pydron_task_add reserves every queue slot a
 * task will need (tick heap, ready queue) before it commits the task, so a
 * failure there is PYDRON_ENOMEM with the graph unchanged; the task can be
 * added again and everything runs. (Before, a full tick heap or ready queue
 * grew only when the task became ready, and failing to grow aborted.) */
#include "testutil.h"

#include "util/util.h"

static int fn_sum(pydron_task_ctx *ctx, void *user) { return tu_fn_sum(ctx, user); }

/* REFINABLE "sum": replaced by a constant, input 0 + payload. */
static int refine_sum(pydron_refine *r, void *user)
{
    (void)user;
    const void *p, *q;
    size_t n, m;
    if (pydron_refine_input(r, 0, &p, &n) || pydron_refine_payload(r, &q, &m) || n != 8 || m != 8)
        return pydron_refine_fail(r, "refine_sum: bad input"), PYDRON_ETASK;
    uint64_t a, b;
    memcpy(&a, p, 8);
    memcpy(&b, q, 8);
    a += b;
    pydron_value c;
    int rc = pydron_refine_constant(r, &a, sizeof a, &c);
    return rc ? rc : pydron_refine_bind_output(r, 0, c);
}

/* absorbed: growths that may fail inside an add without failing it (the
 * library recovers later); counted into *nabsorbed. */
static void add_with_failing_growth_ex(unsigned flags, int ntasks, int *nabsorbed)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", fn_sum, NULL);
    if (flags & PYDRON_TASK_REFINABLE) {
        pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
        kd.name = "refine-sum";
        kd.refine = refine_sum;
        TU_OK(pydron_runtime_register_kind(rt, &kd, &k));
    }
    pydron_graph *g = tu_graph(rt);
    pydron_value one = tu_const_u64(g, 1);
    pydron_value *outs = calloc((size_t)ntasks, sizeof *outs);
    cr_assert_not_null(outs);
    int enomem = 0;
    for (int i = 0; i < ntasks; i++) {
        uint64_t add = (uint64_t)i;
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.flags = flags;
        d.ninputs = 1;
        d.inputs = &one;
        d.noutputs = 1;
        d.payload = &add;
        d.payload_len = sizeof add;
        /* fail the 1st growth inside this add, then the 2nd, ... until the
         * add needs no more growths than the hook lets through */
        for (int nth = 1;; nth++) {
            pydron_graph_stats before, after;
            TU_OK(pydron_graph_stats_get(g, &before));
            pydron_task t;
            pdi_test_fail_grow = nth;
            int rc = pydron_task_add(g, &d, &t, &outs[i]);
            int armed = pdi_test_fail_grow;
            pdi_test_fail_grow = 0;
            if (rc == PYDRON_ENOMEM) {
                enomem++;
                cr_assert_neq(pydron_error_last()[0], 0, "ENOMEM with a message");
                TU_OK(pydron_graph_stats_get(g, &after));
                cr_assert_eq(after.tasks_added, before.tasks_added, "a failed add adds nothing");
                continue;
            }
            cr_assert_eq(rc, 0, "task %d: %d (%s)", i, rc, pydron_error_last());
            if (!armed && nabsorbed) {
                ++*nabsorbed;   /* a growth failed, and the add went on */
                continue;
            }
            cr_assert(armed, "task %d: growth %d failed and the add succeeded anyway", i, nth);
            break;
        }
    }
    cr_assert_gt(enomem + (nabsorbed ? *nabsorbed : 0), 0,
                 "no growth failed: the hook never fired inside pydron_task_add");
    TU_OK(pydron_graph_run(g, 20000));
    for (int i = 0; i < ntasks; i++)
        cr_assert_eq(tu_get_u64(g, outs[i]), 1 + (uint64_t)i, "task %d", i);
    free(outs);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

static void add_with_failing_growth(unsigned flags, int ntasks)
{
    add_with_failing_growth_ex(flags, ntasks, NULL);
}

/* A PURE task that becomes ready when the ready queue cannot grow is not
 * lost: the next dispatch finds it (the add itself succeeds). */
Test(enomem, pure_tasks_ready_without_queue_room_still_run)
{
    int absorbed = 0;
    add_with_failing_growth_ex(PYDRON_TASK_PURE, 200, &absorbed);
    cr_assert_gt(absorbed, 0, "the ready queue never failed to grow");
}

Test(enomem, sync_tasks_reserve_their_tick_heap_slot) { add_with_failing_growth(PYDRON_TASK_SYNC, 200); }

Test(enomem, refinable_tasks_reserve_their_refinement_queue_slot)
{
    add_with_failing_growth(PYDRON_TASK_REFINABLE, 200);
}

Test(enomem, the_hook_fails_exactly_one_growth)
{
    void *buf = NULL;
    size_t cap = 0;
    pdi_test_fail_grow = 2;
    cr_assert_eq(pdi_grow(&buf, &cap, 4, 8), 0, "the first growth succeeds");
    cr_assert_eq(pdi_grow(&buf, &cap, 100, 8), PYDRON_ENOMEM, "the second fails");
    cr_assert_eq(cap, 8, "and leaves the buffer as it was");
    cr_assert_eq(pdi_grow(&buf, &cap, 100, 8), 0, "then memory is back");
    cr_assert_eq(pdi_test_fail_grow, 0);
    free(buf);
}

/* Completing a task with more than 64 outputs used to malloc a scratch
 * array (and abort without it); it is a bitmap on the stack now. Outputs
 * across several 64-bit words, succeeded and failed. */
#define NOUT 130

static int fn_many_outputs(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    if (tu_payload_u64(ctx) == 1) {
        pydron_ctx_fail(ctx, "many outputs, all failed");
        return PYDRON_ETASK;
    }
    for (size_t i = 0; i < pydron_ctx_noutputs(ctx); i++) {
        uint64_t x = i * 3;
        int rc = pydron_ctx_output_set(ctx, i, &x, sizeof x);
        if (rc)
            return rc;
    }
    return 0;
}

static void many_outputs(pydron_executor_kind ex)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t k = tu_kind_c(rt, "many", fn_many_outputs, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value ok[NOUT], bad[NOUT];
    uint64_t zero = 0, one = 1;
    tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, NOUT, ok, &zero);
    tu_add(g, k, PYDRON_TASK_PURE, NULL, 0, NOUT, bad, &one);
    TU_OK(pydron_graph_run(g, 60000));
    for (size_t i = 0; i < NOUT; i++) {
        cr_assert_eq(tu_get_u64(g, ok[i]), i * 3, "output %zu", i);
        TU_ERR(PYDRON_ETASK, pydron_graph_wait(g, bad[i], 1000));
    }
    for (size_t i = 0; i < NOUT; i++) {
        TU_OK(pydron_value_release(g, ok[i]));
        TU_OK(pydron_value_release(g, bad[i]));
    }
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_eq(st.values_live, 0, "every output released: %llu live",
                 (unsigned long long)st.values_live);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(enomem, many_outputs_inline) { many_outputs(PYDRON_EXECUTOR_INLINE); }
Test(enomem, many_outputs_threads) { many_outputs(PYDRON_EXECUTOR_THREADS); }
