/* Slabs: chunked arrays of task and value records, allocation, free lists
 * and lookup by id. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include "graph/graph.h"

/* ------------------------------------------------------------ chunk cache
 *
 * The chunks of a freed graph's records are kept for the next graph of the
 * process, up to a limit. A chunk is a few MiB: malloc takes it from the
 * kernel with mmap and gives it back at free, so every graph paid for its
 * records' pages afresh - a fault and a zeroed page per 4 KiB, ~20 of the
 * ~45 ns of adding a task to a large graph on a VM (bench_core: building
 * chains of 1M tasks, 44 -> 22 ns per task once the memory was reused).
 * Taskflow's node pool and oneTBB's allocator keep their memory the same
 * way. Limit: PYDRON_RECORD_CACHE_MB in the environment (0: keep none),
 * else min(256 MiB, RAM / 16); pydron_memory_trim gives it all back. Not
 * under AddressSanitizer, whose use-after-free checks a reused chunk would
 * blind. */
#if defined(__SANITIZE_ADDRESS__)
#define PDI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PDI_ASAN 1
#endif
#endif

typedef struct cached_chunk {
    struct cached_chunk *next;
    size_t bytes;
} cached_chunk;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static cached_chunk *cache_head;
static size_t cache_bytes, cache_limit;
static pthread_once_t cache_once = PTHREAD_ONCE_INIT;

static void cache_at_fork_child(void) { pthread_mutex_init(&cache_mu, NULL); }

static void cache_init(void)
{
#if defined(PDI_ASAN)
    cache_limit = 0;
#else
    const char *e = getenv("PYDRON_RECORD_CACHE_MB");
    char *end;
    unsigned long long mb = e && *e ? strtoull(e, &end, 10) : 0;
    if (e && *e && *end == '\0' && mb <= ((size_t)-1 >> 20)) {
        cache_limit = (size_t)mb << 20;
    } else {
        long pages = sysconf(_SC_PHYS_PAGES), psz = sysconf(_SC_PAGESIZE);
        size_t ram = pages > 0 && psz > 0 ? (size_t)pages * (size_t)psz : 0;
        cache_limit = (size_t)256 << 20;
        if (ram / 16 < cache_limit)
            cache_limit = ram / 16;
    }
#endif
    pthread_atfork(NULL, NULL, cache_at_fork_child);
}

void *pdi_chunk_get(size_t bytes, int *fresh)
{
    pthread_once(&cache_once, cache_init);
    *fresh = 0;
    if (cache_limit) {
        pthread_mutex_lock(&cache_mu);
        for (cached_chunk **p = &cache_head; *p; p = &(*p)->next) {
            cached_chunk *c = *p;
            if (c->bytes == bytes) {
                *p = c->next;
                cache_bytes -= bytes;
                pthread_mutex_unlock(&cache_mu);
                return c;
            }
        }
        pthread_mutex_unlock(&cache_mu);
    }
    *fresh = 1;
    return malloc(bytes);
}

/* ------------------------------------------------------------- prefault
 *
 * A fresh chunk's pages come from the kernel one fault at a time as records
 * are first written: a trap, a zeroed page and a page-table update per
 * 4 KiB. Asking for a block of pages in one call (MADV_POPULATE_WRITE,
 * Linux 5.14) does the same work without a trap per page: writing 88-byte
 * records into fresh memory took 20-23 ns each with faults and 12-14 with
 * 44-88 KiB blocks populated ahead on this VM. A block at a time, not the
 * whole chunk, so a small graph's memory stays what it touches. Kernels
 * without it (EINVAL) fall back to faults, asked once. */
#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static int prefault_off;

void pdi_slab_prefault(void *chunk, size_t esz, uint32_t idx)
{
    if (__atomic_load_n(&prefault_off, __ATOMIC_RELAXED))
        return;
    long psz = sysconf(_SC_PAGESIZE);
    if (psz <= 0)
        return;
    uintptr_t pg = (uintptr_t)psz;
    uint32_t first = idx & (PDI_CHUNK - 1) & ~(PDI_PREFAULT_RECS - 1);
    uint32_t end = first + PDI_PREFAULT_RECS;
    uintptr_t c0 = (uintptr_t)chunk, c1 = c0 + (uintptr_t)PDI_CHUNK * esz;
    /* the pages holding the block's records, within the chunk's pages */
    uintptr_t a = (c0 + first * esz) & ~(pg - 1);
    uintptr_t b = (c0 + (uintptr_t)end * esz + pg - 1) & ~(pg - 1);
    uintptr_t hi = (c1 + pg - 1) & ~(pg - 1);
    if (b > hi)
        b = hi;
    if (a < b && madvise((void *)a, b - a, MADV_POPULATE_WRITE) != 0 && errno == EINVAL)
        __atomic_store_n(&prefault_off, 1, __ATOMIC_RELAXED);
}

void pdi_chunk_put(void *p, size_t bytes)
{
    if (!p)
        return;
    pthread_once(&cache_once, cache_init);
    pthread_mutex_lock(&cache_mu);
    if (cache_bytes + bytes <= cache_limit) {   /* a chunk is far larger than its link */
        cached_chunk *c = p;
        c->bytes = bytes;
        c->next = cache_head;
        cache_head = c;
        cache_bytes += bytes;
        p = NULL;
    }
    pthread_mutex_unlock(&cache_mu);
    free(p);
}

PYDRON_API size_t pydron_memory_cached(void)
{
    pthread_mutex_lock(&cache_mu);
    size_t n = cache_bytes;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

PYDRON_API size_t pydron_memory_trim(void)
{
    pthread_mutex_lock(&cache_mu);
    cached_chunk *c = cache_head;
    size_t n = cache_bytes;
    cache_head = NULL;
    cache_bytes = 0;
    pthread_mutex_unlock(&cache_mu);
    while (c) {
        cached_chunk *next = c->next;
        free(c);
        c = next;
    }
    return n;
}

/* ------------------------------------------------------------------ slabs */

static int slab_slot(void ***chunks, size_t *nchunks, uint32_t *count, size_t esz, uint32_t *idx,
                     uint8_t *fresh)
{
    uint32_t i = *count + 1;  /* index 0 is never used */
    if (i > PDI_MAX_IDX)
        return pdi_err(PYDRON_ENOMEM, "too many live records in one graph (max %u)", PDI_MAX_IDX);
    size_t c = i >> PDI_CHUNK_BITS;
    if (c >= *nchunks) {
        void **nc = realloc(*chunks, (c + 1) * sizeof(void *));
        if (!nc)
            return pdi_err(PYDRON_ENOMEM, "out of memory growing the graph");
        *chunks = nc;
        int f;
        nc[c] = pdi_chunk_get(PDI_CHUNK * esz, &f);
        if (!nc[c])
            return pdi_err(PYDRON_ENOMEM, "out of memory growing the graph");
        *nchunks = c + 1;
        *fresh = (uint8_t)f;
        if (f)
            pdi_slab_prefault(nc[c], esz, i);   /* the block of slot i (index 0 never starts one) */
    } else {
        pdi_slab_touch(*chunks, *fresh, esz, i);
    }
    *count = i;
    *idx = i;
    return 0;
}

int pdi_task_alloc(pydron_graph *g, uint32_t *idx)
{
    uint32_t i, gen = 1;
    if (g->tfree) {
        i = g->tfree;
        pdi_task *t = pdi_T(g, i);
        g->tfree = t->hpos;
        gen = t->gen;
    } else {
        int rc = slab_slot((void ***)&g->tchunks, &g->ntchunks, &g->tcount, sizeof(pdi_task), &i,
                           &g->tfresh);
        if (rc)
            return rc;
    }
    pdi_task *t = pdi_T(g, i);
    memset(t, 0, sizeof *t);
    t->gen = gen;
    t->hpos = PDI_NOPOS;
    *idx = i;
    return 0;
}

void pdi_task_free(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    if (PDI_UNLIKELY(t->bits & (TB_IN_HEAP | TB_OUT_HEAP | TB_TICK_HEAP | TB_PAY_HEAP))) {
        if (t->bits & TB_IN_HEAP)
            free(t->ins.p);
        if (t->bits & TB_OUT_HEAP)
            free(t->outs.p);
        if (t->bits & TB_TICK_HEAP)
            free(t->tick.p);
        if (t->bits & TB_PAY_HEAP)
            free(t->payload.p);
    }
    pdi_task_slot_free(g, t, ti);
}

int pdi_value_new_locked(pydron_graph *g, uint32_t *idx)
{
    uint32_t i, gen = 1;
    if (g->vfree) {
        i = g->vfree;
        pdi_value *v = pdi_V(g, i);
        g->vfree = v->u.cin[0];
        gen = v->gen;
    } else {
        int rc = slab_slot((void ***)&g->vchunks, &g->nvchunks, &g->vcount, sizeof(pdi_value), &i,
                           &g->vfresh);
        if (rc)
            return rc;
    }
    pdi_value *v = pdi_V(g, i);
    memset(v, 0, sizeof *v);
    v->gen = gen;
    v->where = -1;
    v->state = PYDRON_VALUE_PENDING;
    g->stats.values_live++;
    *idx = i;
    return 0;
}

pdi_task *pdi_task_get(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    uint32_t i = pdi_id_idx(id);
    if (pdi_id_tag(id) != g->tag || i == 0 || i > g->tcount) {
        pdi_err(PYDRON_ESTALE, "task id %#llx is not from this graph", (unsigned long long)id);
        return NULL;
    }
    pdi_task *t = pdi_T(g, i);
    if (t->state == PDI_T_FREE || (t->bits & TB_ZOMBIE) || t->gen != pdi_id_gen(id)) {
        pdi_err(PYDRON_ESTALE, "task id %#llx is stale (the task has finished and was freed)",
                (unsigned long long)id);
        return NULL;
    }
    if (idx)
        *idx = i;
    return t;
}

pdi_value *pdi_value_get(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    uint32_t i = pdi_id_idx(id);
    if (pdi_id_tag(id) != g->tag || i == 0 || i > g->vcount) {
        pdi_err(PYDRON_ESTALE, "value id %#llx is not from this graph", (unsigned long long)id);
        return NULL;
    }
    pdi_value *v = pdi_V(g, i);
    if (v->state == PDI_V_FREE || v->gen != pdi_id_gen(id) || pdi_value_hidden(v)) {
        pdi_err(PYDRON_ESTALE, "value id %#llx is stale (released)", (unsigned long long)id);
        return NULL;
    }
    if (idx)
        *idx = i;
    return v;
}

pdi_value *pdi_value_root(pydron_graph *g, pdi_value *v)
{
    while (v->vf & VF_ALIAS)
        v = pdi_V(g, v->u.cin[0]);
    return v;
}
