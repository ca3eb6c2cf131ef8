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

static void add_with_failing_growth(unsigned flags, int ntasks)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", fn_sum, NULL);
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
        pydron_graph_stats before, after;
        TU_OK(pydron_graph_stats_get(g, &before));
        pydron_task t;
        pdi_test_fail_grow = 1; /* the next growth fails */
        int rc = pydron_task_add(g, &d, &t, &outs[i]);
        int armed = pdi_test_fail_grow;
        pdi_test_fail_grow = 0;
        if (rc == PYDRON_ENOMEM) {
            enomem++;
            cr_assert_neq(pydron_error_last()[0], 0, "ENOMEM with a message");
            TU_OK(pydron_graph_stats_get(g, &after));
            cr_assert_eq(after.tasks_added, before.tasks_added, "a failed add adds nothing");
            rc = pydron_task_add(g, &d, &t, &outs[i]); /* memory is back */
        }
        cr_assert_eq(rc, 0, "task %d: %d (%s), hook %s", i, rc, pydron_error_last(),
                     armed ? "not reached" : "fired");
    }
    cr_assert_gt(enomem, 0, "no growth failed: the hook never fired inside pydron_task_add");
    TU_OK(pydron_graph_run(g, 60000));
    for (int i = 0; i < ntasks; i++)
        cr_assert_eq(tu_get_u64(g, outs[i]), 1 + (uint64_t)i, "task %d", i);
    free(outs);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

Test(enomem, pure_tasks_reserve_their_ready_slot) { add_with_failing_growth(PYDRON_TASK_PURE, 200); }

Test(enomem, sync_tasks_reserve_their_tick_heap_slot) { add_with_failing_growth(PYDRON_TASK_SYNC, 200); }

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
