/* Slabs: chunked arrays of task and value records, allocation, free lists
 * and lookup by id. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include "graph/graph.h"

/* ------------------------------------------------------------ reservations
 *
 * A slab is one reservation of address space (mmap, PROT_NONE: no memory
 * and no commit charge until used), made readable and writable a chunk of
 * PDI_CHUNK records at a time as the graph grows. Record i is then base +
 * i: one add from a pointer the lane keeps in a register, where chunked
 * arrays took a load of the chunk's pointer, dependent on i, on every one
 * of a task's ~30 record lookups (bench_core's chained tasks: ~8% of their
 * time on the inline executor). The reservation is as large as a graph's
 * records may be (PDI_MAX_IDX: 5 GiB of address space for tasks, 3 GiB for
 * values; 2^47 bytes are there to take, for at most 4,095 live graphs).
 * Under an address space limit (ulimit -v) it takes at most an eighth of
 * what the process may still map, so that the program's own allocations
 * keep their room; where a tool's address space refuses that much, a
 * smaller one. Such a graph holds fewer live records (the error says so).
 *
 * The chunks of a freed graph are kept for the next graph of the process,
 * up to a limit, with their reservation. A chunk is a few MiB of pages the
 * kernel would otherwise take back and fault in and zero afresh for every
 * graph: a fault and a zeroed page per 4 KiB, ~20 of the ~45 ns of adding
 * a task to a large graph on a VM (bench_core: building chains of 1M
 * tasks, 44 -> 22 ns per task once the memory was reused). Taskflow's node
 * pool and oneTBB's allocator keep their memory the same way. Limit:
 * PYDRON_RECORD_CACHE_MB in the environment (0: keep none), else min(256
 * MiB, RAM / 16); pydron_memory_trim gives it all back. The bytes of kept
 * chunks count as cached until a graph grows into them. Not under
 * AddressSanitizer, whose use-after-free checks a reused chunk would blind. */
#if defined(__SANITIZE_ADDRESS__)
#define PDI_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PDI_ASAN 1
#endif
#endif

/* A kept reservation; the header sits in its record 0, which is never
 * used (a kept reservation has a chunk committed). */
typedef struct kept_res {
    struct kept_res *next;
    size_t esz;
    pdi_slab s;
} kept_res;
_Static_assert(sizeof(kept_res) <= sizeof(pdi_value), "a header fits in record 0");

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static kept_res *cache_head;
static size_t cache_bytes, cache_limit;   /* committed chunks no graph uses */
static size_t live_bytes;                 /* chunks graphs use */
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

static size_t chunk_bytes(size_t esz) { return (size_t)PDI_CHUNK * esz; }

/* The address space the process may still map under its limit (ulimit
 * -v: RLIMIT_AS), or SIZE_MAX when there is none. */
static size_t as_room(void)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_AS, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY)
        return SIZE_MAX;
    unsigned long pages = 0;
    FILE *f = fopen("/proc/self/statm", "r");
    if (f) {
        if (fscanf(f, "%lu", &pages) != 1)
            pages = 0;
        fclose(f);
    }
    size_t used = (size_t)pages * (size_t)sysconf(_SC_PAGESIZE);
    return (size_t)rl.rlim_cur > used ? (size_t)rl.rlim_cur - used : 0;
}

/* A reservation for records of esz bytes: a kept one, else a new one of
 * as many chunks as a graph may have - under an address space limit, of
 * at most an eighth of what is left - or fewer where that much is refused.
 * NULL: not even one chunk's worth. */
static char *res_get(size_t esz, pdi_slab *s)
{
    pthread_once(&cache_once, cache_init);
    pthread_mutex_lock(&cache_mu);
    for (kept_res **p = &cache_head; *p; p = &(*p)->next) {
        kept_res *k = *p;
        if (k->esz == esz) {
            *p = k->next;
            *s = k->s;
            pthread_mutex_unlock(&cache_mu);
            return (char *)k;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    size_t n = ((size_t)PDI_MAX_IDX >> PDI_CHUNK_BITS) + 1, room = as_room();
    while (n > 1 && n * chunk_bytes(esz) > room / 8)
        n /= 2;   /* an eighth of what is left: the program keeps room to map */
    for (; n >= 1; n /= 2) {
        void *p = mmap(NULL, n * chunk_bytes(esz), PROT_NONE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
        if (p != MAP_FAILED) {
            s->ncommit = 0;
            s->nres = (uint32_t)n;
            return p;
        }
    }
    return NULL;
}

/* Chunk c of a reservation (the next one a graph grows into): usable.
 * *fresh: its pages are new from the kernel. */
static int res_chunk(char *base, pdi_slab *s, size_t esz, size_t c, uint8_t *fresh)
{
    size_t cb = chunk_bytes(esz);
    if (c >= s->nres)
        return pdi_err(PYDRON_ENOMEM,
                       "too many live records in one graph (%zu: the address space this "
                       "process may reserve for them)",
                       (size_t)s->nres * PDI_CHUNK - 1);
    int kept = c < s->ncommit;
    if (!kept && mprotect(base + c * cb, cb, PROT_READ | PROT_WRITE) != 0)
        return pdi_err(PYDRON_ENOMEM, "out of memory growing the graph");
    pthread_mutex_lock(&cache_mu);
    if (kept)
        cache_bytes -= cb;
    live_bytes += cb;
    pthread_mutex_unlock(&cache_mu);
    if (!kept)
        s->ncommit = (uint32_t)c + 1;
    *fresh = (uint8_t)!kept;
    return 0;
}

/* A graph's reservation (nuse chunks in use) back: its first chunks kept,
 * as many as the limit lets, the rest given back to the kernel. */
static void res_put(char *base, pdi_slab s, size_t nuse, size_t esz)
{
    if (!base)
        return;
    size_t cb = chunk_bytes(esz), keep = 0;
    pthread_mutex_lock(&cache_mu);
    live_bytes -= nuse * cb;
    cache_bytes -= (s.ncommit - nuse) * cb;   /* kept ones it never grew into */
    if (cache_limit > cache_bytes)
        keep = (cache_limit - cache_bytes) / cb;
    if (keep > s.ncommit)
        keep = s.ncommit;
    cache_bytes += keep * cb;
    if (keep) {
        kept_res *k = (kept_res *)(void *)base;
        s.ncommit = (uint32_t)keep;
        k->esz = esz;
        k->s = s;
        k->next = cache_head;
        cache_head = k;
    }
    pthread_mutex_unlock(&cache_mu);
    if (!keep) {
        munmap(base, (size_t)s.nres * cb);
    } else if (keep < s.ncommit) {
        /* the pages and their commit charge back; the range reserved again */
        (void)mmap(base + keep * cb, (s.ncommit - keep) * cb, PROT_NONE,
                   MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | MAP_FIXED, -1, 0);
    }
}

void pdi_slabs_release(pydron_graph *g)
{
    res_put((char *)g->tbase, g->tslab, g->ntchunks, sizeof(pdi_task));
    res_put((char *)g->vbase, g->vslab, g->nvchunks, sizeof(pdi_value));
    g->tbase = NULL;
    g->vbase = NULL;
    g->ntchunks = g->nvchunks = 0;
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

PYDRON_API size_t pydron_memory_cached(void)
{
    pthread_mutex_lock(&cache_mu);
    size_t n = cache_bytes;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

PYDRON_API size_t pydron_memory_records(void)
{
    pthread_mutex_lock(&cache_mu);
    size_t n = live_bytes;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

PYDRON_API size_t pydron_memory_trim(void)
{
    pthread_mutex_lock(&cache_mu);
    kept_res *k = cache_head;
    size_t n = 0;
    cache_head = NULL;
    while (k) {
        kept_res *next = k->next;
        size_t cb = chunk_bytes(k->esz);
        n += (size_t)k->s.ncommit * cb;
        munmap(k, (size_t)k->s.nres * cb);
        k = next;
    }
    cache_bytes -= n;
    pthread_mutex_unlock(&cache_mu);
    return n;
}

/* ------------------------------------------------------------------ slabs */

static int slab_slot(char **base, size_t *nchunks, pdi_slab *s, uint32_t *count, size_t esz,
                     uint32_t *idx, uint8_t *fresh)
{
    uint32_t i = *count + 1;  /* index 0 is never used */
    if (i > PDI_MAX_IDX)
        return pdi_err(PYDRON_ENOMEM, "too many live records in one graph (max %u)", PDI_MAX_IDX);
    size_t c = i >> PDI_CHUNK_BITS;
    if (c >= *nchunks) {
        if (!*base && !(*base = res_get(esz, s)))
            return pdi_err(PYDRON_ENOMEM, "out of address space for the graph's records");
        int rc = res_chunk(*base, s, esz, c, fresh);
        if (rc)
            return rc;
        *nchunks = c + 1;
        if (*fresh)
            pdi_slab_prefault(*base + c * chunk_bytes(esz), esz, i);   /* the block of slot i */
    } else {
        pdi_slab_touch(*base, *fresh, esz, i);
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
        char *b = (char *)g->tbase;
        int rc = slab_slot(&b, &g->ntchunks, &g->tslab, &g->tcount, sizeof(pdi_task), &i,
                           &g->tfresh);
        g->tbase = (pdi_task *)(void *)b;
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
        char *b = (char *)g->vbase;
        int rc = slab_slot(&b, &g->nvchunks, &g->vslab, &g->vcount, sizeof(pdi_value), &i,
                           &g->vfresh);
        g->vbase = (pdi_value *)(void *)b;
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
