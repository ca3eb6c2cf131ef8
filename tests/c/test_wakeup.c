/* test_wakeup.c - the thread that drives a graph is woken when what it waits
 * for happens, not found by its wait running out: pydron_graph_run on the
 * threads executor, whose pool threads finish the last tasks (counted runs,
 * which are not reported one by one), returned only when the driver's 50 ms
 * wait timed out. Counts the driver's waits that ran out (an internal
 * counter), not time: a wait that ran out in each of several short runs is
 * a missed wake-up. */
#include "testutil.h"
#include <criterion/criterion.h>

#include "pydron.h"
#include "sched/sched.h"

static int step(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    const void *p;
    size_t n;
    uint64_t x = 0;
    if (pydron_ctx_input(ctx, 0, &p, &n) == 0 && n == sizeof x)
        memcpy(&x, p, sizeof x);
    x++;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

/* chains of tiny tasks on `ex`; the driver's waits that ran out, summed
 * over `runs` graphs */
static unsigned long timeouts(pydron_executor_kind ex, int runs, int run_all)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = 2;
    pydron_runtime *rt;
    TU_OK(pydron_runtime_new(&rt, &o));
    uint32_t k;
    TU_OK(pydron_runtime_register_c(rt, "wakeup.step", step, NULL, &k));
    unsigned long sum = 0;
    for (int r = 0; r < runs; r++) {
        pydron_graph *g;
        TU_OK(pydron_graph_new(rt, &g));
        pydron_value cur = tu_const_u64(g, 0), first = cur;
        for (int c = 0; c < 4; c++) {
            cur = first;
            for (int i = 0; i < 200; i++) {
                pydron_task_desc d = PYDRON_TASK_DESC_INIT;
                d.kind = k;
                d.inputs = &cur;
                d.ninputs = 1;
                d.noutputs = 1;
                pydron_value out;
                TU_OK(pydron_task_add(g, &d, NULL, &out));
                if (cur.id != first.id)
                    TU_OK(pydron_value_release(g, cur));
                cur = out;
            }
            if (c < 3)
                TU_OK(pydron_value_release(g, cur));
        }
        if (run_all)
            TU_OK(pydron_graph_run(g, -1));
        else
            TU_OK(pydron_graph_wait(g, cur, -1));
        cr_assert_eq(tu_get_u64(g, cur), 200);
        sum += pdi_S(g)->wait_timeouts;
        TU_OK(pydron_value_release(g, cur));
        TU_OK(pydron_value_release(g, first));
        TU_OK(pydron_graph_free(g));
    }
    TU_OK(pydron_runtime_free(rt));
    return sum;
}

Test(wakeup, graph_run_returns_when_the_last_task_finishes, .timeout = 60)
{
    unsigned long n = timeouts(PYDRON_EXECUTOR_THREADS, 8, 1);
    cr_assert_lt(n, 8, "the driver's wait ran out %lu times in 8 runs of 800 tiny tasks", n);
}

Test(wakeup, graph_wait_returns_when_its_value_is_ready, .timeout = 60)
{
    unsigned long n = timeouts(PYDRON_EXECUTOR_THREADS, 8, 0);
    cr_assert_lt(n, 8, "the driver's wait ran out %lu times in 8 runs of 800 tiny tasks", n);
}
