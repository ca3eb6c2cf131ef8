/* Handles that cannot be confused (api/handles.c): ids of one runtime's
 * graph are refused by every other graph in the process, kind ids carry
 * their runtime, and a freed graph or runtime is reported as stale instead
 * of being read after free. */
#include "testutil.h"

/* Body "ten": output 0 = 10. */
static int fn_ten(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t x = 10;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

/* Body "twenty": output 0 = 20. */
static int fn_twenty(pydron_task_ctx *ctx, void *user)
{
    (void)user;
    uint64_t x = 20;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

/* A value id of a graph on runtime 1 must not read bytes from any graph of
 * runtime 2. Graph tags used to be unique per runtime only: one of 4,095
 * consecutive graphs of runtime 2 had the tag of g1, and g1's first value id
 * named that graph's first value. */
Test(handles, value_id_of_another_runtime_is_stale)
{
    pydron_runtime *rt1 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    pydron_runtime *rt2 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    pydron_graph *g1 = tu_graph(rt1);
    pydron_value v1 = tu_const_u64(g1, 1111);
    for (unsigned i = 0; i < 4200; i++) {
        pydron_graph *g2 = tu_graph(rt2);
        pydron_value v2 = tu_const_u64(g2, 2222);   /* same slot as v1 in its graph */
        const void *p = NULL;
        size_t n = 0;
        int rc = pydron_value_bytes(g2, v1, &p, &n);
        cr_assert_eq(rc, PYDRON_ESTALE,
                     "graph %u of runtime 2 accepted a value id of runtime 1 (rc %d, %zu bytes)",
                     i, rc, n);
        pydron_value_state st;
        cr_assert_eq(pydron_value_state_get(g2, v1, &st), PYDRON_ESTALE);
        cr_assert_eq(pydron_value_bytes(g1, v2, &p, &n), PYDRON_ESTALE);
        cr_assert_neq(v1.id, v2.id);
        TU_OK(pydron_graph_free(g2));
    }
    cr_assert_eq(tu_get_u64(g1, v1), 1111);
    TU_OK(pydron_graph_free(g1));
    TU_OK(pydron_runtime_free(rt1));
    TU_OK(pydron_runtime_free(rt2));
}

/* Tags are unique in the process: 4,095 graphs may live at once, over all
 * runtimes; one more is a clear error, and freeing one makes room. */
Test(handles, graph_tags_are_unique_in_the_process)
{
    pydron_runtime *rt1 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    pydron_runtime *rt2 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    enum { N = 4095 };
    pydron_graph **gs = calloc(N, sizeof *gs);
    cr_assert_not_null(gs);
    for (unsigned i = 0; i < N; i++)
        TU_OK(pydron_graph_new(i % 2 ? rt2 : rt1, &gs[i]));
    pydron_graph *extra = NULL;
    TU_ERR(PYDRON_ERANGE, pydron_graph_new(rt2, &extra));
    cr_assert_null(extra);
    TU_OK(pydron_graph_free(gs[7]));
    TU_OK(pydron_graph_new(rt2, &gs[7]));
    for (unsigned i = 0; i < N; i++)
        TU_OK(pydron_graph_free(gs[i]));
    free(gs);
    TU_OK(pydron_runtime_free(rt1));
    TU_OK(pydron_runtime_free(rt2));
}

/* A kind id names a kind of its own runtime only. Kind ids used to be
 * indices: the second kind of runtime 1 was the second kind of runtime 2,
 * and a task added with it ran runtime 2's body. */
Test(handles, kind_id_of_another_runtime_is_refused)
{
    pydron_runtime *rt1 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    pydron_runtime *rt2 = tu_runtime(PYDRON_EXECUTOR_INLINE, 1);
    uint32_t k1 = tu_kind_c(rt1, "ten", fn_ten, NULL);
    uint32_t k2 = tu_kind_c(rt2, "twenty", fn_twenty, NULL);
    uint32_t f1, f2;
    TU_OK(pydron_runtime_kind(rt1, PYDRON_KIND_FFI, &f1));
    TU_OK(pydron_runtime_kind(rt2, PYDRON_KIND_FFI, &f2));

    pydron_graph *g2 = tu_graph(rt2);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k1;
    d.noutputs = 1;
    pydron_value out = PYDRON_VALUE_NONE;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add(g2, &d, NULL, &out));
    d.kind = f1;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add(g2, &d, NULL, &out));
    cr_assert_neq(k1, k2);
    cr_assert_neq(f1, f2, "the same kind name gets a different id in each runtime");
    uint32_t again;
    TU_OK(pydron_runtime_kind(rt2, "twenty", &again));
    cr_assert_eq(again, k2);
    d.kind = k2;
    TU_OK(pydron_task_add(g2, &d, NULL, &out));
    cr_assert_eq(tu_get_u64(g2, out), 20);

    /* the id it reports back is the one it was given */
    pydron_task t;
    TU_OK(pydron_value_producer(g2, out, &t));
    pydron_task_timing tt;
    TU_OK(pydron_task_timing_get(g2, t, &tt));
    cr_assert_eq(tt.kind, k2);
    TU_OK(pydron_graph_free(g2));
    TU_OK(pydron_runtime_free(rt1));
    TU_OK(pydron_runtime_free(rt2));
}

/* A second pydron_graph_free is PYDRON_ESTALE (it was a use after free). */
Test(handles, second_graph_free_is_stale)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    pydron_graph *g = tu_graph(rt);
    uint32_t k = tu_kind_c(rt, "ten", fn_ten, NULL);
    pydron_value out;
    tu_add(g, k, 0, NULL, 0, 1, &out, NULL);
    cr_assert_eq(tu_get_u64(g, out), 10);
    TU_OK(pydron_graph_free(g));
    TU_ERR(PYDRON_ESTALE, pydron_graph_free(g));
    TU_ERR(PYDRON_ESTALE, pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* A second pydron_runtime_free is PYDRON_ESTALE, and so is a graph made on
 * a freed runtime. */
Test(handles, second_runtime_free_is_stale)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_THREADS, 2);
    pydron_graph *g = tu_graph(rt);
    TU_ERR(PYDRON_EBUSY, pydron_runtime_free(rt));   /* still has a graph: stays live */
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    TU_ERR(PYDRON_ESTALE, pydron_runtime_free(rt));
    pydron_graph *g2 = NULL;
    TU_ERR(PYDRON_ESTALE, pydron_graph_new(rt, &g2));
    cr_assert_null(g2);
}
