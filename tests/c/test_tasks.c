/*
 * test_tasks.c - adding tasks (graph/tasks.c): the fast path for the common
 * task and the general path must give the same graph. Random graphs mix
 * tasks each path takes (ports, payload sizes, ticks, labels, one value as
 * both inputs, slots reused from the free lists); slab chunk boundaries
 * make the fast path give back the slots it took; and every error the
 * fast path leaves to the general path keeps its code, message and blame.
 * Internal: reads the slabs (graph/graph.h) to set up the boundaries and
 * to check the free lists and counters afterwards.
 */
#include "testutil.h"

#include "graph/graph.h"

/* The record counters agree with the records: every slot is on its free
 * list or live, no slot twice on a list, values_live counts the rest. */
static void check_slabs(pydron_graph *g)
{
    uint8_t *seen = calloc((size_t)g->vcount + g->tcount + 2, 1);
    cr_assert_not_null(seen);
    uint64_t nfree = 0;
    for (uint32_t vi = g->vfree; vi; vi = pdi_V(g, vi)->u.cin[0]) {
        cr_assert(vi >= 1 && vi <= g->vcount, "free value slot %u out of range", vi);
        cr_assert_eq(pdi_V(g, vi)->state, PDI_V_FREE, "value slot %u listed free", vi);
        cr_assert_eq(seen[vi], 0, "value slot %u twice on the free list", vi);
        seen[vi] = 1;
        nfree++;
    }
    uint64_t live = 0;
    for (uint32_t vi = 1; vi <= g->vcount; vi++)
        if (pdi_V(g, vi)->state != PDI_V_FREE)
            live++;
    cr_assert_eq(live, g->stats.values_live, "values_live %llu, live records %llu",
                 (unsigned long long)g->stats.values_live, (unsigned long long)live);
    cr_assert_leq(nfree, g->vcount);
    memset(seen, 0, (size_t)g->vcount + g->tcount + 2);
    for (uint32_t ti = g->tfree; ti; ti = pdi_T(g, ti)->hpos) {
        cr_assert(ti >= 1 && ti <= g->tcount, "free task slot %u out of range", ti);
        cr_assert_eq(pdi_T(g, ti)->state, PDI_T_FREE, "task slot %u listed free", ti);
        cr_assert_eq(seen[ti], 0, "task slot %u twice on the free list", ti);
        seen[ti] = 1;
    }
    free(seen);
}

typedef struct {
    pydron_value v;
    uint64_t x;     /* what it must hold */
    int held;       /* we hold a reference */
} tv;

/* The record of task t holds what was asked for, as the general path
 * writes it (tick: the auto tick when none was given). */
static void check_record(pydron_graph *g, pydron_task t, const pydron_value *in, size_t nin,
                         const pydron_value *out, size_t nout, const void *payload,
                         size_t plen, const uint32_t *tick, size_t tick_len, int label)
{
    pydron_task_state st;
    TU_OK(pydron_task_state_get(g, t, &st));
    if (st != PYDRON_TASK_WAITING && st != PYDRON_TASK_READY)
        return;   /* ran already (the graph is started): its record is gone */
    pdi_task *r = pdi_T(g, pdi_id_idx(t.id));
    cr_assert_eq(r->gen, pdi_id_gen(t.id));
    cr_assert_geq(r->gen, 1);
    cr_assert_eq(r->flags, PYDRON_TASK_PURE);
    cr_assert_eq(r->nin, nin);
    cr_assert_eq(r->nout, nout);
    for (size_t j = 0; j < nin; j++)
        cr_assert_eq(pdi_task_ins(r)[j], pdi_id_idx(in[j].id));
    for (size_t o = 0; o < nout; o++) {
        cr_assert_eq(pdi_task_outs(r)[o], pdi_id_idx(out[o].id));
        cr_assert_geq(pdi_id_gen(out[o].id), 1);
        pdi_value *v = pdi_V(g, pdi_id_idx(out[o].id));
        cr_assert_eq(v->producer, t.id);
        cr_assert_eq(v->where, -1);
        cr_assert_eq(v->urefs, 1);
    }
    cr_assert_eq(r->payload_len, plen);
    if (plen)
        cr_assert_eq(memcmp(pdi_task_payload(r), payload, plen), 0);
    if (tick_len) {
        cr_assert_eq(r->tick_len, tick_len);
        cr_assert_eq(memcmp(pdi_task_tick(r), tick, tick_len * sizeof *tick), 0);
    } else {
        cr_assert_eq(r->tick_len, 1);
        cr_assert_eq(pdi_task_tick(r)[0], g->top_tick);
    }
    cr_assert_eq(r->label != 0, label);
    cr_assert_eq(r->attempt, 0);
    cr_assert_eq(r->duration, 0.0f);
}

/* Add a "sum" task (payload + sum of inputs on every output) with any
 * shape; *expect is what its outputs must hold. */
static pydron_task add_sum(pydron_graph *g, uint32_t k, const pydron_value *in, size_t nin,
                           size_t nout, pydron_value *out, size_t plen, uint64_t pay,
                           const uint32_t *tick, size_t tick_len, const char *label)
{
    unsigned char payload[16] = {0};
    memcpy(payload, &pay, sizeof pay);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = nin;
    d.inputs = in;
    d.noutputs = nout;
    d.payload = plen ? payload : NULL;
    d.payload_len = plen;
    d.tick = tick;
    d.tick_len = tick_len;
    d.label = label;
    pydron_task t = PYDRON_TASK_NONE;
    TU_OK(pydron_task_add(g, &d, &t, out));
    cr_assert_neq(t.id, 0);
    check_record(g, t, in, nin, out, nout, payload, plen, tick, tick_len, label != NULL);
    return t;
}

/* Random graphs in rounds on one graph (later rounds reuse freed slots):
 * each value must hold what the tasks computed, whichever path added it. */
Test(tasks, fast_and_general_paths_agree)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    tu_rng r = {12345};
    uint32_t top = 1000;
    uint64_t added = 0;
    for (int round = 0; round < 6; round++) {
        enum { N = 700 };
        tv *vals = calloc(N * 4 + 8, sizeof *vals);
        size_t nv = 0;
        for (int c = 0; c < 4; c++) {
            uint64_t x = tu_next(&r) % 1000;
            vals[nv++] = (tv){tu_const_u64(g, x), x, 1};
        }
        for (int i = 0; i < N; i++) {
            size_t nin = tu_below(&r, 4), nout = 1 + tu_below(&r, 3);
            size_t pick[3];
            for (size_t j = 0; j < nin; j++) {
                pick[j] = nv - 1 - tu_below(&r, nv < 12 ? (unsigned)nv : 12);
                if (!vals[pick[j]].held)
                    pick[j] = 0;   /* a constant, held all round */
            }
            if (nin == 2 && tu_below(&r, 6) == 0)
                pick[1] = pick[0];   /* one value, both inputs */
            pydron_value in[3];
            uint64_t sum = 0;
            for (size_t j = 0; j < nin; j++) {
                in[j] = vals[pick[j]].v;
                sum += vals[pick[j]].x;
            }
            size_t plen = (size_t[]){0, 0, 8, 8, 9, 3}[tu_below(&r, 6)];
            uint64_t pay = tu_next(&r) % 100;
            uint64_t expect = sum + (plen == 8 ? pay : 0);
            uint32_t tick[3] = {++top, tu_below(&r, 9), tu_below(&r, 9)};
            size_t tick_len = tu_below(&r, 4);   /* 0: the next top-level tick */
            const char *label = tu_below(&r, 7) == 0 ? "lbl" : NULL;
            pydron_value out[3];
            pydron_task t = add_sum(g, k, in, nin, nout, out, plen, pay,
                                    tick_len ? tick : NULL, tick_len, label);
            added++;
            pydron_task_state st;
            TU_OK(pydron_task_state_get(g, t, &st));
            cr_assert(st != PYDRON_TASK_FAILED && st != PYDRON_TASK_CANCELED, "state %d", st);
            for (size_t o = 0; o < nout; o++) {
                pydron_task p;
                TU_OK(pydron_value_producer(g, out[o], &p));
                cr_assert_eq(p.id, t.id);
                for (size_t m = 0; m < nv; m++)
                    cr_assert_neq(out[o].id, vals[m].v.id, "output id reused while live");
                vals[nv++] = (tv){out[o], expect, 1};
            }
            /* let go of some outputs early (consumed or not) */
            if (tu_below(&r, 4) == 0 && nv > 8) {
                size_t m = 4 + tu_below(&r, (unsigned)(nv - 4));
                if (vals[m].held) {
                    TU_OK(pydron_value_release(g, vals[m].v));
                    vals[m].held = 0;
                }
            }
        }
        check_slabs(g);
        TU_OK(pydron_graph_run(g, 60000));
        for (size_t m = 0; m < nv; m++) {
            if (!vals[m].held)
                continue;
            const void *p;
            size_t n;
            TU_OK(pydron_value_bytes(g, vals[m].v, &p, &n));
            cr_assert_eq(n, 8);
            uint64_t x;
            memcpy(&x, p, sizeof x);
            cr_assert_eq(x, vals[m].x, "round %d value %zu: %llu, expected %llu", round, m,
                         (unsigned long long)x, (unsigned long long)vals[m].x);
            TU_OK(pydron_value_release(g, vals[m].v));
        }
        free(vals);
        check_slabs(g);
        cr_assert_eq(g->stats.values_live, 0);
        cr_assert_gt(g->vfree, 0, "no slot to reuse in the next round");
    }
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, added);
    cr_assert_eq(s.tasks_done, added);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* Value slots up to the end of the first chunk; the next one needs a new
 * chunk, which only the general path makes. */
static void fill_values_to(pydron_graph *g, uint32_t last)
{
    while (g->vcount < last)
        (void)tu_const_u64(g, 0);   /* held until the graph is freed */
    cr_assert_eq(g->vcount, last);
}

static uint64_t value_u64(pydron_graph *g, pydron_value v)
{
    const void *p;
    size_t n;
    TU_OK(pydron_value_bytes(g, v, &p, &n));
    cr_assert_eq(n, 8);
    uint64_t x;
    memcpy(&x, p, sizeof x);
    return x;
}

/* At a chunk boundary the fast path takes the slots there are, finds the
 * next one missing and gives them back: the general path then adds the
 * task into exactly the slots a fresh graph would use. */
Test(tasks, slots_given_back_at_chunk_boundaries)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 5);

    /* 1: the first output from the slab (generation 1), the second would
     * need a new chunk */
    fill_values_to(g, PDI_CHUNK - 2);
    cr_assert_eq(g->vfree, 0);
    pydron_value o[2];
    add_sum(g, k, &c, 1, 2, o, 0, 0, NULL, 0, NULL);
    cr_assert_eq(pdi_id_idx(o[0].id), PDI_CHUNK - 1);
    cr_assert_eq(pdi_id_idx(o[1].id), PDI_CHUNK);
    check_slabs(g);

    /* 2: the first output from the free list, the second would need a new
     * chunk: that slot goes back on the list */
    fill_values_to(g, 2 * PDI_CHUNK - 2);
    pydron_value x = tu_const_u64(g, 0);
    cr_assert_eq(pdi_id_idx(x.id), 2 * PDI_CHUNK - 1);
    TU_OK(pydron_value_release(g, x));
    cr_assert_eq(g->vfree, 2 * PDI_CHUNK - 1);
    pydron_value p[2];
    add_sum(g, k, &o[1], 1, 2, p, 8, 0, NULL, 0, NULL);
    cr_assert_eq(pdi_id_idx(p[0].id), 2 * PDI_CHUNK - 1);
    cr_assert_eq(pdi_id_idx(p[1].id), 2 * PDI_CHUNK);
    cr_assert_neq(p[0].id, x.id, "a reused slot keeps its generation bumped");
    cr_assert_eq(g->vfree, 0);
    check_slabs(g);

    /* 3: value slots there, the task slot would need a new chunk */
    pydron_value chain = p[0];
    TU_OK(pydron_value_retain(g, chain));
    while (g->tcount < PDI_CHUNK - 1) {
        pydron_value n;
        add_sum(g, k, &chain, 1, 1, &n, 0, 0, NULL, 0, NULL);
        TU_OK(pydron_value_release(g, chain));
        chain = n;
    }
    cr_assert_eq(g->tfree, 0);
    uint32_t vbefore = g->vcount, vfree = g->vfree;
    pydron_value q[2];
    pydron_task tq = add_sum(g, k, &chain, 1, 2, q, 0, 0, NULL, 0, "last");
    cr_assert_eq(pdi_id_idx(tq.id), PDI_CHUNK);
    cr_assert_eq(pdi_id_idx(q[0].id), vfree ? vfree : vbefore + 1);
    check_slabs(g);

    TU_OK(pydron_graph_run(g, 60000));
    cr_assert_eq(value_u64(g, o[0]), 5);
    cr_assert_eq(value_u64(g, o[1]), 5);
    cr_assert_eq(value_u64(g, p[0]), 5);
    cr_assert_eq(value_u64(g, p[1]), 5);
    cr_assert_eq(value_u64(g, q[0]), 5);
    cr_assert_eq(value_u64(g, q[1]), 5);
    check_slabs(g);
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}

/* What the fast path does not take keeps its error: code, message, and
 * for a failed input the blame on the task that failed. */
Test(tasks, errors_left_to_the_general_path)
{
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t k = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kf = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_graph *other = tu_graph(rt);
    pydron_value c = tu_const_u64(g, 1), foreign = tu_const_u64(other, 1);
    pydron_value out[2];
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.ninputs = 1;
    d.inputs = &c;
    d.noutputs = 1;

    pydron_task_desc e = d;
    e.version = 0;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "version"), "%s", pydron_error_last());
    e = d;
    e.kind = k + 100;
    TU_ERR(PYDRON_ENOTFOUND, pydron_task_add(g, &e, NULL, out));
    e = d;
    e.flags = 0x100;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "flags"), "%s", pydron_error_last());
    e = d;
    e.inputs = NULL;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &e, NULL, out));
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &d, NULL, NULL));
    e = d;
    e.payload_len = 4;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "payload"), "%s", pydron_error_last());
    e = d;
    e.duration_hint = -1;
    TU_ERR(PYDRON_EINVAL, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "duration"), "%s", pydron_error_last());
    e = d;
    e.inputs = &foreign;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "input 0"), "%s", pydron_error_last());
    pydron_value gone = tu_const_u64(g, 2);
    TU_OK(pydron_value_release(g, gone));
    pydron_value two[2] = {c, gone};
    e = d;
    e.ninputs = 2;
    e.inputs = two;
    TU_ERR(PYDRON_ESTALE, pydron_task_add(g, &e, NULL, out));
    cr_assert(strstr(pydron_error_last(), "input 1"), "%s", pydron_error_last());
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, gone));
    cr_assert(strstr(pydron_error_last(), "stale"), "%s", pydron_error_last());
    pydron_value none = {0};
    TU_ERR(PYDRON_ESTALE, pydron_value_release(g, none));
    check_slabs(g);
    pydron_graph_stats s;
    TU_OK(pydron_graph_stats_get(g, &s));
    cr_assert_eq(s.tasks_added, 0, "a refused task was counted");

    /* a failed input: the task fails at once, blamed on the first failure */
    uint64_t seven = 7;
    pydron_value bad, after, after2;
    pydron_task tbad = tu_add(g, kf, 0, &c, 1, 1, &bad, &seven);
    TU_OK(pydron_graph_run(g, 60000));
    pydron_value_state vs;
    TU_OK(pydron_value_state_get(g, bad, &vs));
    cr_assert_eq(vs, PYDRON_VALUE_FAILED);
    pydron_task t = tu_add(g, k, 0, &bad, 1, 1, &after, NULL);
    pydron_task_state ts;
    TU_OK(pydron_task_state_get(g, t, &ts));
    cr_assert_eq(ts, PYDRON_TASK_FAILED);
    pydron_value pair[2] = {c, after};
    tu_add(g, k, 0, pair, 2, 1, &after2, NULL);
    pydron_task who;
    char *msg = NULL;
    TU_OK(pydron_value_error(g, after2, &who, &msg, NULL, NULL));
    cr_assert_eq(who.id, tbad.id);
    cr_assert(strstr(msg, "boom 7"), "%s", msg);
    pydron_free(msg);

    /* cancel mid-chain: the tasks added by the fast path are canceled */
    pydron_value in;
    TU_OK(pydron_value_input(g, &in));
    pydron_value cur = in;
    pydron_task ts3[3];
    for (int i = 0; i < 3; i++) {
        pydron_value n;
        ts3[i] = tu_add(g, k, 0, &cur, 1, 1, &n, NULL);
        cur = n;
    }
    TU_OK(pydron_graph_cancel(g));
    for (int i = 0; i < 3; i++) {
        TU_OK(pydron_task_state_get(g, ts3[i], &ts));
        cr_assert_eq(ts, PYDRON_TASK_CANCELED);
    }
    TU_OK(pydron_value_state_get(g, cur, &vs));
    cr_assert_eq(vs, PYDRON_VALUE_FAILED);
    TU_ERR(PYDRON_ESTATE, pydron_task_add(g, &d, NULL, out));
    check_slabs(g);
    TU_OK(pydron_graph_free(other));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
