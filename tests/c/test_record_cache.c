/*
 * test_record_cache.c - the record chunks of a freed graph are kept for the
 * next graph of the process (pydron_memory_cached, pydron_memory_trim,
 * PYDRON_RECORD_CACHE_MB), and a graph built on reused chunks behaves as
 * one built on fresh memory: the same results, states and statistics. The
 * chunks live graphs use are counted (pydron_memory_records); where the
 * address space a graph's records are reserved in is limited, the graph
 * holds fewer and says so.
 *
 * Criterion runs each test in its own process, so each one starts with an
 * empty cache and reads PYDRON_RECORD_CACHE_MB afresh. Under AddressSanitizer
 * the library keeps nothing (a reused chunk would blind its use-after-free
 * checks): the tests that need kept chunks say so and check that instead.
 */
#include "testutil.h"

#include <sys/resource.h>

#if defined(__SANITIZE_ADDRESS__)
#define ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define ASAN 1
#endif
#endif
#ifndef ASAN
#define ASAN 0
#endif

/* A graph of `n` chains of `len` "sum" tasks (each adds its payload, the
 * link number, to its predecessor), some "fail" tasks, labels, payloads and
 * tasks with more inputs than a record holds, run to the end. Returns the
 * sum of the chains' ends and checks the statistics; frees everything. */
static uint64_t build_and_run(pydron_executor_kind ex, unsigned n, unsigned len, int run)
{
    pydron_runtime *rt = tu_runtime(ex, 2);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    uint32_t kf = tu_kind_c(rt, "fail", tu_fn_fail, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value zero = tu_const_u64(g, 0);
    pydron_value *ends = (pydron_value *)calloc(n, sizeof *ends);
    cr_assert_not_null(ends);
    unsigned failing = 0;
    for (unsigned c = 0; c < n; c++) {
        pydron_value cur = zero;
        for (unsigned s = 0; s < len; s++) {
            uint64_t pay = s;
            pydron_value out;
            pydron_task_desc d = PYDRON_TASK_DESC_INIT;
            d.kind = ks;
            d.ninputs = 1;
            d.inputs = &cur;
            d.noutputs = 1;
            d.payload = &pay;
            d.payload_len = sizeof pay;
            d.label = s == 0 ? "head" : NULL;
            TU_OK(pydron_task_add(g, &d, NULL, &out));
            if (cur.id != zero.id)
                TU_OK(pydron_value_release(g, cur));
            cur = out;
        }
        ends[c] = cur;
        if (c % 7 == 0) {
            /* a failing task and one with five inputs (its lists outside
             * the record) that reads it: both fail */
            uint64_t pay = c;
            pydron_value bad, wide, in[5] = {zero, zero, cur, zero, zero};
            tu_add(g, kf, 0, &zero, 1, 1, &bad, &pay);
            in[4] = bad;
            tu_add(g, ks, 0, in, 5, 1, &wide, NULL);
            TU_OK(pydron_value_release(g, bad));
            TU_OK(pydron_value_release(g, wide));
            failing += 2;
        }
    }
    uint64_t total = 0;
    if (run) {
        pydron_graph_run(g, 120000);   /* fails: some tasks do */
        for (unsigned c = 0; c < n; c++)
            total += tu_get_u64(g, ends[c]);
        pydron_graph_stats st;
        TU_OK(pydron_graph_stats_get(g, &st));
        cr_assert_eq(st.tasks_added, (uint64_t)n * len + failing);
        cr_assert_eq(st.tasks_done, (uint64_t)n * len);
        cr_assert_eq(st.tasks_failed, failing);
    }
    for (unsigned c = 0; c < n; c++)
        TU_OK(pydron_value_release(g, ends[c]));
    free(ends);
    TU_OK(pydron_value_release(g, zero));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    return total;
}

/* sum of 0..len-1 per chain */
static uint64_t expected(unsigned n, unsigned len) { return (uint64_t)n * len * (len - 1) / 2; }

Test(record_cache, freed_graph_chunks_are_kept_then_reused_then_trimmed)
{
    cr_assert_eq(pydron_memory_cached(), 0, "a new process keeps nothing");
    cr_assert_eq(build_and_run(PYDRON_EXECUTOR_INLINE, 50, 40, 1), expected(50, 40));
    size_t kept = pydron_memory_cached();
    if (ASAN) {
        cr_assert_eq(kept, 0, "nothing is kept under AddressSanitizer");
        return;
    }
    /* a task chunk and a value chunk, each at least 32768 records of 16 B */
    cr_assert_geq(kept, 2u * 32768u * 16u, "kept %zu bytes", kept);

    /* the next graph takes them (nothing more is kept while it lives) */
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value one = tu_const_u64(g, 1), out;
    cr_assert_lt(pydron_memory_cached(), kept, "a constant's record came from the cache");
    tu_add(g, ks, 0, &one, 1, 1, &out, NULL);
    cr_assert_eq(pydron_memory_cached(), 0, "the task's chunk came from the cache too");
    cr_assert_eq(tu_get_u64(g, out), 1);
    TU_OK(pydron_value_release(g, one));
    TU_OK(pydron_value_release(g, out));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(pydron_memory_cached(), kept, "the same chunks came back");

    cr_assert_eq(pydron_memory_trim(), kept);
    cr_assert_eq(pydron_memory_cached(), 0);
    cr_assert_eq(pydron_memory_trim(), 0);
}

/* Differential: the same graphs on reused chunks (full of the records of
 * graphs of another shape, some never run) give the same results as on
 * fresh memory, on both in-process executors. */
Test(record_cache, reused_chunks_give_the_same_results, .timeout = 300)
{
    uint64_t fresh_i = build_and_run(PYDRON_EXECUTOR_INLINE, 300, 100, 1);
    pydron_memory_trim();
    uint64_t fresh_t = build_and_run(PYDRON_EXECUTOR_THREADS, 300, 100, 1);
    cr_assert_eq(fresh_i, expected(300, 100));
    cr_assert_eq(fresh_t, fresh_i);
    for (int round = 0; round < 3; round++) {
        /* records left in every state: built and freed unrun, then run */
        build_and_run(PYDRON_EXECUTOR_INLINE, 400, 90, 0);
        cr_assert_eq(build_and_run(PYDRON_EXECUTOR_INLINE, 300, 100, 1), fresh_i);
        build_and_run(PYDRON_EXECUTOR_THREADS, 200, 130, 1);
        cr_assert_eq(build_and_run(PYDRON_EXECUTOR_THREADS, 300, 100, 1), fresh_t);
    }
}

/* Graphs made and freed on several threads at once share the cache. */
static void *graphs_thread(void *arg)
{
    (void)arg;
    for (int i = 0; i < 6; i++)
        if (build_and_run(PYDRON_EXECUTOR_INLINE, 40, 60, 1) != expected(40, 60))
            return (void *)1;
    return NULL;
}

Test(record_cache, graphs_on_several_threads, .timeout = 300)
{
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        cr_assert_eq(pthread_create(&th[i], NULL, graphs_thread, NULL), 0);
    for (int i = 0; i < 3; i++) {
        void *r;
        pthread_join(th[i], &r);
        cr_assert_null(r, "a thread's graphs gave a wrong sum");
    }
    cr_assert_leq(pydron_memory_cached(), (size_t)256 << 20);
}

Test(record_cache, limit_zero_keeps_nothing)
{
    setenv("PYDRON_RECORD_CACHE_MB", "0", 1);
    cr_assert_eq(build_and_run(PYDRON_EXECUTOR_INLINE, 20, 30, 1), expected(20, 30));
    cr_assert_eq(pydron_memory_cached(), 0);
    cr_assert_eq(pydron_memory_trim(), 0);
}

Test(record_cache, limit_in_mib_is_never_exceeded)
{
    /* room for one chunk of one kind at most (task chunks are larger than
     * value chunks; both are over 1 MiB) */
    setenv("PYDRON_RECORD_CACHE_MB", "3", 1);
    cr_assert_eq(build_and_run(PYDRON_EXECUTOR_INLINE, 20, 30, 1), expected(20, 30));
    size_t kept = pydron_memory_cached();
    cr_assert_leq(kept, (size_t)3 << 20, "kept %zu bytes over a 3 MiB limit", kept);
    if (!ASAN)
        cr_assert_gt(kept, (size_t)1 << 20, "one chunk fits under 3 MiB");
}

Test(record_cache, bad_limit_falls_back_to_the_default)
{
    setenv("PYDRON_RECORD_CACHE_MB", "lots", 1);
    cr_assert_eq(build_and_run(PYDRON_EXECUTOR_INLINE, 20, 30, 1), expected(20, 30));
    if (ASAN)
        cr_assert_eq(pydron_memory_cached(), 0);
    else
        cr_assert_gt(pydron_memory_cached(), 0, "the default limit keeps the chunks");
}

/* The chunks a live graph uses are counted while it lives, from the first
 * record on, and not after it is freed (kept or not). */
Test(record_cache, records_of_live_graphs_are_counted)
{
    cr_assert_eq(pydron_memory_records(), 0, "no graph yet");
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    pydron_value one = tu_const_u64(g, 1), out;
    size_t v1 = pydron_memory_records();
    cr_assert_geq(v1, (size_t)32768 * 16, "a value chunk: %zu bytes", v1);
    tu_add(g, ks, 0, &one, 1, 1, &out, NULL);
    size_t t1 = pydron_memory_records();
    cr_assert_gt(t1, v1, "and a task chunk");
    /* 70,000 more pending tasks: two more chunks of each kind */
    for (int i = 0; i < 70000; i++) {
        pydron_value o;
        tu_add(g, ks, 0, &one, 1, 1, &o, NULL);
        TU_OK(pydron_value_release(g, o));
    }
    cr_assert_eq(pydron_memory_records(), 3 * t1, "three chunks of each: %zu of %zu",
                 pydron_memory_records(), t1);
    TU_OK(pydron_graph_run(g, 120000));
    cr_assert_eq(tu_get_u64(g, out), 1);
    TU_OK(pydron_value_release(g, one));
    TU_OK(pydron_value_release(g, out));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
    cr_assert_eq(pydron_memory_records(), 0, "the freed graph's chunks are not in use");
    if (!ASAN)
        cr_assert_eq(pydron_memory_cached(), 3 * t1, "they are kept instead");
}

static size_t vm_size(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    cr_assert_not_null(f);
    char line[256];
    size_t kb = 0;
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "VmSize: %zu kB", &kb) == 1)
            break;
    fclose(f);
    cr_assert_gt(kb, 0);
    return kb << 10;
}

/* A graph made where the process may map little (ulimit -v) reserves room
 * for fewer records, leaving the program most of what it may map: adding
 * past them is PYDRON_ENOMEM naming the address space, and the graph keeps
 * working - every task added before runs. */
Test(record_cache, limited_address_space_gives_fewer_records_and_a_clear_error, .timeout = 120)
{
    if (ASAN)
        cr_skip_test("AddressSanitizer maps terabytes: no address space limit to set");
    pydron_runtime *rt = tu_runtime(PYDRON_EXECUTOR_INLINE, 0);
    uint32_t ks = tu_kind_c(rt, "sum", tu_fn_sum, NULL);
    pydron_graph *g = tu_graph(rt);
    struct rlimit old, low;
    cr_assert_eq(getrlimit(RLIMIT_AS, &old), 0);
    low = old;
    low.rlim_cur = vm_size() + ((size_t)160 << 20);
    cr_assert_eq(setrlimit(RLIMIT_AS, &low), 0);
    /* the value and task reservations are made now, under the limit */
    pydron_value one = tu_const_u64(g, 1), first;
    tu_add(g, ks, 0, &one, 1, 1, &first, NULL);
    /* and they left the program most of its room */
    void *big = malloc((size_t)96 << 20);
    cr_assert_not_null(big, "the graph's records took the room a program's own 96 MiB needs");
    free(big);
    cr_assert_eq(setrlimit(RLIMIT_AS, &old), 0, "the rest of the test mallocs freely");
    uint64_t added = 1;
    int rc = 0;
    while (added < 4000000) {
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        pydron_value o;
        d.kind = ks;
        d.ninputs = 1;
        d.inputs = &one;
        d.noutputs = 1;
        if ((rc = pydron_task_add(g, &d, NULL, &o)) != 0)
            break;
        TU_OK(pydron_value_release(g, o));
        added++;
    }
    cr_assert_eq(rc, PYDRON_ENOMEM, "adding stopped with %d after %llu tasks", rc,
                 (unsigned long long)added);
    cr_assert_not_null(strstr(pydron_error_last(), "address space"), "%s", pydron_error_last());
    cr_assert_gt(added, 32768, "at least a chunk of records: %llu", (unsigned long long)added);
    TU_OK(pydron_graph_run(g, 120000));
    pydron_graph_stats st;
    TU_OK(pydron_graph_stats_get(g, &st));
    cr_assert_eq(st.tasks_done, added);
    cr_assert_eq(tu_get_u64(g, first), 1);
    TU_OK(pydron_value_release(g, one));
    TU_OK(pydron_value_release(g, first));
    TU_OK(pydron_graph_free(g));
    TU_OK(pydron_runtime_free(rt));
}
