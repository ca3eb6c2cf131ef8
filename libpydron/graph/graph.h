/* graph.h - the graph data structure: task and value records, ids, the
 * per-graph slabs and the functions that change them (graph/).
 *
 * Memory layout is chosen for the 1M-task benchmark (<= 200 B per task):
 * task and value records live in chunked slabs (stable addresses, no copy
 * on growth), are addressed by a 26-bit index plus a generation, and go back
 * to a free list as soon as the task has finished / the value has no
 * reference left. Small arrays (inputs, outputs, ticks, payloads, consumers,
 * value bytes) are stored inline in the record and spill to the heap only
 * when large.
 *
 * Locking: one mutex per graph (g->mu) protects everything in the graph.
 * Runner bodies, refine callbacks, executor submit/poll/fetch run without
 * it. The runtime mutex (rt->mu) protects the kind registry growth, the
 * graph list and executor start; it is never taken while holding g->mu
 * except in documented places (pdi_rt_* helpers take it alone). */
#ifndef PDI_GRAPH_H
#define PDI_GRAPH_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pydron.h"
#include "runner/ctx.h"
#include "util/ring.h"
#include "util/time.h"
#include "util/trace.h"
#include "util/util.h"

/* ---- ids: | tag:12 | gen:26 | index:26 | ---- */
#define PDI_IDX_BITS 26
#define PDI_GEN_BITS 26
#define PDI_IDX_MASK ((1u << PDI_IDX_BITS) - 1)
#define PDI_GEN_MASK ((1u << PDI_GEN_BITS) - 1)
#define PDI_MAX_IDX PDI_IDX_MASK

static inline uint64_t pdi_mkid(uint32_t tag, uint32_t gen, uint32_t idx)
{
    return ((uint64_t)tag << (PDI_IDX_BITS + PDI_GEN_BITS)) |
           ((uint64_t)gen << PDI_IDX_BITS) | idx;
}
static inline uint32_t pdi_id_idx(uint64_t id) { return (uint32_t)(id & PDI_IDX_MASK); }
static inline uint32_t pdi_id_gen(uint64_t id)
{
    return (uint32_t)((id >> PDI_IDX_BITS) & PDI_GEN_MASK);
}
static inline uint32_t pdi_id_tag(uint64_t id) { return (uint32_t)(id >> (PDI_IDX_BITS + PDI_GEN_BITS)); }

/* Records per slab chunk. 32768 (2.5 MB of tasks, 1.5 MB of values, of
 * which only the pages of records in use are ever touched): 32768 instead
 * of 4096 saved ~12 ns per chained task (bench_core, chains of 100). That
 * was measured as the dispatch's prefetches' gain (sched/driver.c), but GCC
 * had dropped those prefetches (see PDI_ALWAYS_INLINE): it was the larger
 * chunks' own. */
#define PDI_CHUNK_BITS 15
#define PDI_CHUNK (1u << PDI_CHUNK_BITS)
/* Entries per chunk of the timing log (graph/observe.c): its capacity is
 * a multiple of it. */
#define PDI_LOG_CHUNK_BITS 12
#define PDI_LOG_CHUNK (1u << PDI_LOG_CHUNK_BITS)

/* ---- error carried by failed values (refcounted under g->mu) ---- */
typedef struct pdi_error {
    uint32_t refs;
    int code;              /* PYDRON_ETASK or PYDRON_ECANCELED */
    uint64_t task;         /* task that failed (0: an input set failed) */
    char *who;             /* label or kind name of that task */
    char *msg;
    void *detail;
    size_t detail_len;
} pdi_error;

/* Who frees external value bytes. NULL owner in a value means free(data). */
typedef struct pdi_owner {
    void (*free_fn)(void *);
    void *arg;
} pdi_owner;

/* ---- value record (48 bytes) ---- */
/* PDI_V_PARKED: no reference is left, but a finished task kept for
 * recomputation (TB_LINEAGE) reads it: its remote bytes were released and
 * the record stays so that it can be recomputed from its own producer
 * (lineage). A value in any state with refs == urefs == 0 is such a
 * lineage-only record: invisible to the API (it reads as released). */
enum { PDI_V_FREE = 255, PDI_V_PARKED = 254 };
enum {
    VF_INLINE = 0x01,   /* bytes in u.in */
    VF_REMOTE = 0x02,   /* bytes live on worker `where` */
    VF_LOCAL = 0x04,    /* remote value whose bytes were fetched to the driver */
    VF_ALIAS = 0x08,    /* ready: bytes are those of value u.cin[0] (held) */
    VF_FWD = 0x10,      /* pending: resolves with a value it is bound to */
    VF_INPUT = 0x20,    /* set by pydron_value_set */
    VF_FETCHING = 0x40, /* a fetch is under way */
    VF_CONSHEAP = 0x80  /* pending: consumers in u.cp */
};
#define PDI_VCONS_INLINE 4
#define PDI_CONS_FWD 0x80000000u /* consumer entry is a forwarded value */

typedef struct pdi_value {
    uint32_t gen;
    uint8_t state;      /* pydron_value_state or PDI_V_FREE */
    uint8_t vf;
    int16_t where;      /* worker holding the bytes, -1 driver */
    uint32_t refs;      /* internal: consumers, producer, alias/forward holds */
    uint32_t urefs;     /* references owned by API callers */
    uint64_t producer;  /* task id, 0 for constants/inputs */
    uint64_t len;       /* size when ready; consumer count while pending */
    union {
        uint32_t cin[PDI_VCONS_INLINE];
        uint32_t *cp;
        unsigned char in[16];
        struct {
            const void *data;
            pdi_owner *owner;
        } ext;
        pdi_error *err;
    } u;
} pdi_value;

/* ---- task record ---- */
enum { PDI_T_FREE = 255 };
enum {
    TB_IN_HEAP = 0x01,
    TB_OUT_HEAP = 0x02,
    TB_TICK_HEAP = 0x04,
    TB_PAY_HEAP = 0x08,
    TB_ZOMBIE = 0x10,   /* finished early; still listed as consumer of pending inputs */
    TB_QUEUED = 0x20,   /* pushed to the policy (PURE); owned by sched/: graph/ only
                           hands it back when the task finishes (pdi_done.queued) */
    TB_RETAINED = 0x40, /* finished, kept while the caller holds one of its outputs;
                           ins then holds input ids (uint64_t) */
    TB_LINEAGE = 0x80   /* retained PURE task with a remote output: can run again
                           after a worker loss; ins holds the ids of its inputs'
                           roots, each counted in g->lin (kept alive) */
};
#define PDI_NOPOS 0xffffffffu

typedef struct pdi_task {
    uint32_t gen;
    uint8_t state;      /* pydron_task_state or PDI_T_FREE */
    uint8_t flags;      /* PYDRON_TASK_* */
    uint8_t tick_len;
    uint8_t bits;       /* TB_* */
    uint16_t kind;      /* < PDI_MAX_KINDS */
    uint16_t npending;  /* inputs not yet available (<= nin) */
    uint16_t nin, nout;
    uint32_t payload_len;
    uint32_t hpos;      /* position in the driver heap; next free when free */
    uint32_t seq;       /* add order, tie-break among equal ticks */
    float duration;     /* hint in seconds, 0 = unknown */
    uint32_t label;     /* index into g->labels, 0 = none */
    uint16_t attempt;
    uint16_t requeues;  /* uncharged returns by the executor (sched/job.c) */
    union { uint32_t in[2]; uint32_t *p; } ins;   /* value indices */
    union { uint32_t in[2]; uint32_t *p; } outs;  /* value indices */
    union { uint32_t in[2]; uint32_t *p; } tick;
    union { unsigned char in[8]; void *p; } payload;
    uint64_t queued_ns;
} pdi_task;

static inline uint32_t *pdi_task_ins(pdi_task *t) { return (t->bits & TB_IN_HEAP) ? t->ins.p : t->ins.in; }
static inline uint32_t *pdi_task_outs(pdi_task *t) { return (t->bits & TB_OUT_HEAP) ? t->outs.p : t->outs.in; }
static inline uint32_t *pdi_task_tick(pdi_task *t) { return (t->bits & TB_TICK_HEAP) ? t->tick.p : t->tick.in; }
static inline void *pdi_task_payload(pdi_task *t) { return (t->bits & TB_PAY_HEAP) ? t->payload.p : t->payload.in; }

/* finished-task log entry (timings) */
typedef struct pdi_tlog {  /* 40 bytes: it is kept for every finished task */
    uint64_t task;
    uint64_t queued_ns, started_ns, finished_ns;
    uint32_t kind;      /* PDI_TLOG_LABEL set: index into g->labels (which has the kind) */
    int16_t worker;
    uint8_t state;
    uint8_t exec;       /* 0: driver, 1: executor */
} pdi_tlog;
#define PDI_TLOG_LABEL 0x80000000u

typedef struct pdi_rec pdi_rec;  /* graph/record.c */

typedef struct pdi_label {
    char *text;
    uint32_t kind;
} pdi_label;

/* ---- kinds ---- */
#define PDI_MAX_KINDS 4096
_Static_assert(PDI_MAX_KINDS <= 65536, "pdi_task.kind is 16 bits");
typedef struct pdi_kind {
    char *name;
    const pydron_runner_ops *runner;
    void *runner_self;
    pydron_refine_fn refine;
    void *refine_user;
    unsigned flags;
    pthread_mutex_t serial;   /* held around run() for PYDRON_KIND_SERIAL */
} pdi_kind;

/* The kinds of a runtime, shared by its graphs (append-only: a slot is
 * filled before n is published, so readers need no lock). */
typedef struct pdi_kindtab {
    pdi_kind *kinds[PDI_MAX_KINDS];
    _Atomic uint32_t n;
    uint32_t tag;       /* the runtime's tag (api/handles.c), 1..2^20-1 */
} pdi_kindtab;

/* Kind ids: | runtime tag:20 | index:12 |, so that a kind id of another
 * runtime is refused instead of naming a different kind. Records store
 * the index. */
#define PDI_KIND_IDX_BITS 12
static inline uint32_t pdi_kind_id(const pdi_kindtab *kt, uint32_t idx)
{
    return (kt->tag << PDI_KIND_IDX_BITS) | idx;
}
/* 1 and *idx if id names a registered kind of kt, else 0. */
static inline int pdi_kind_idx(const pdi_kindtab *kt, uint32_t id, uint32_t *idx)
{
    uint32_t i = id & (PDI_MAX_KINDS - 1);
    if ((id >> PDI_KIND_IDX_BITS) != kt->tag || i >= atomic_load(&kt->n))
        return 0;
    *idx = i;
    return 1;
}

/* ---- what the graph reports (graph/ never calls up) ----
 * Every change that someone above the graph must act on is appended here
 * under the graph lock; sched/ drains the queues (pdi_sched_drain) before
 * it releases the lock:
 *   ready     PURE tasks that became READY (ids): sched pushes them to the
 *             policy when it next dispatches (late, so that the critical-path
 *             policy sees the graph built meanwhile);
 *   ready_drv SYNC and REFINABLE tasks that became READY: sched queues the
 *             refinements and wakes the driver;
 *   done      tasks that finished (any outcome): measured durations, and
 *             whom to wake;
 *   released  remote bytes nobody needs any more: sched asks the executor
 *             to release them.
 * Plus counters for values that resolved and a watched value (the one the
 * driver waits for), so that only threads that care are woken. */
typedef struct pdi_done {
    uint64_t task;
    uint32_t kind;
    uint8_t flags;      /* PYDRON_TASK_* */
    uint8_t state;
    uint8_t queued;     /* it still had TB_QUEUED (cleared here): the policy's
                           entry is stale */
    float seconds;      /* measured run time, 0 = unknown */
} pdi_done;

typedef struct pdi_released {
    uint64_t value;     /* id the bytes are stored under */
    int32_t where;      /* worker holding them */
} pdi_released;

typedef struct pdi_changes {
    uint64_t *ready;
    size_t nready, capready;
    uint64_t *ready_drv;
    size_t nready_drv, capready_drv;
    pdi_done *done;
    size_t ndone, capdone;
    pdi_released *rel;
    size_t nrel, caprel;
    uint64_t resolved;  /* values resolved (ready or failed) since the last drain */
    uint32_t watch_vi;  /* set by the caller: value index it waits for, 0 = none */
    int watch_hit;      /* watch_vi resolved since the last drain */
    int wake;           /* a change every waiter must see (cancel, worker loss) */
    int dirty;          /* any of the above since the last drain (one test for sched/) */
    int ready_lost;     /* a READY task is in no queue (out of memory): sched/
                           finds it by a scan of the records at its next dispatch */
} pdi_changes;

/* One output of a run: bytes on the driver, or where they stay. */
typedef struct pdi_tout {
    pdi_out out;        /* local bytes */
    int32_t where;      /* >= 0: remote output */
    uint64_t size;
} pdi_tout;

/* How a task ran (for its outcome and the log); NULL when it did not run. */
typedef struct pdi_run {
    int32_t worker;     /* where it ran: -1 = the driver thread */
    int exec;           /* 1: through the executor (0: on the driver by sched/) */
    uint64_t start_ns, end_ns;
    pdi_tout *outs;     /* per output (success only; NULL: all outputs already set) */
    int counted;        /* the caller adds the duration to its kind's figures itself
                           (a PURE task taken off every queue: nothing else to report) */
} pdi_run;

/* The reservation behind a slab: chunks of PDI_CHUNK records readable
 * and writable (committed; some may still be counted in the cache) and
 * chunks of address space reserved (graph/slabs.c). */
typedef struct pdi_slab {
    uint32_t ncommit, nres;
} pdi_slab;

/* The graph: records, indexes and what changed. The public handle
 * pydron_graph * points at a pdi_sgraph (sched/sched.h) whose first member
 * this is; graph/ never reads the rest. Everything here is protected by the
 * caller's lock (the scheduler's g->mu). */
struct pydron_graph {
    uint32_t tag;
    uint64_t tagbits;   /* tag in an id's place: pdi_gid (set with tag) */
    const pdi_kindtab *kt;  /* the runtime's kinds */
    unsigned max_retries;   /* runs of a task lost with its worker */
    int can_release;        /* the executor releases remote bytes (lineage parks values) */
    pdi_changes chg;        /* reported changes, drained by sched/ */

    /* slabs: each a reservation of address space, committed a chunk at a
     * time (graph/slabs.c), so that record i is base + i */
    pdi_task *tbase;       /* NULL until the first task */
    size_t ntchunks;       /* chunks in use: slots up to ntchunks * PDI_CHUNK - 1 */
    uint32_t tcount;       /* slots handed out (index 0 unused) */
    uint32_t tfree;        /* free list head, 0 = empty */
    pdi_value *vbase;
    size_t nvchunks;
    uint32_t vcount;
    uint32_t vfree;
    pdi_slab tslab, vslab; /* their reservations' sizes */
    uint8_t tfresh, vfresh; /* the last chunk is fresh from the kernel: prefault it */

    /* state */
    int started, closed, canceled, freeing;
    uint64_t events;       /* bumped on every completion/readiness change */
    uint64_t nretained;    /* finished task records kept (TB_RETAINED) */
    uint32_t *lin;         /* per value index: TB_LINEAGE tasks reading it (NULL until
                              a remote output exists: in-process executors pay nothing) */
    size_t lincap;
    uint64_t pending;      /* tasks not finished */
    uint32_t seq;
    uint32_t top_tick;
    uint32_t *last_sync_tick;  /* tick of the last SYNC task started */
    size_t last_sync_len;

    /* tick heap: SYNC + unrefined REFINABLE tasks, by tick (graph/ticks.c) */
    uint32_t *heap;
    size_t nheap, capheap;

    /* observability */
    pdi_tlog **lchunks;    /* a ring of the last logcap entries (graph/observe.c) */
    size_t nlchunks;
    uint64_t nlog;         /* entries ever logged; the oldest ones are overwritten */
    uint64_t logcap;       /* 0 until the first entry */
    uint64_t logslot;      /* nlog % logcap, kept without a division per task */
    pdi_label *labels;
    size_t nlabels, caplabels;
    uint32_t *lhash;       /* open addressing: label index (1-based) by (text, kind), 0 = empty */
    size_t lhcap;          /* power of two, > 2 * nlabels */
    pdi_rec *rec;          /* the whole run's graph, when recorded (graph/record.c) */
    uint64_t now_hint;     /* a fresh clock reading from the caller, valid during a completion */
    uint32_t rec_id;       /* PYDRON_RECORD: this graph's number in the record, 0 = off */
    struct pdi_vnote *notes; /* notes of remote values, by value index (graph/notes.c) */
    size_t nnotes, capnotes;
    pydron_graph_stats stats;
};

/* ---- internal API (graph/graph.c) ---- */
static inline pdi_task *pdi_T(pydron_graph *g, uint32_t i) { return g->tbase + i; }
static inline pdi_value *pdi_V(pydron_graph *g, uint32_t i) { return g->vbase + i; }
/* The id of record idx of g under generation gen: pdi_mkid with g's tag,
 * shifted once when the tag is given (ids are made several times a task). */
static inline uint64_t pdi_gid(const pydron_graph *g, uint32_t gen, uint32_t idx)
{
    return g->tagbits | ((uint64_t)gen << PDI_IDX_BITS) | idx;
}
static inline uint64_t pdi_tid(pydron_graph *g, uint32_t i) { return pdi_gid(g, pdi_T(g, i)->gen, i); }
static inline uint64_t pdi_vid(pydron_graph *g, uint32_t i) { return pdi_gid(g, pdi_V(g, i)->gen, i); }

/* The record named by id (and its index) if it is in use, even with no
 * reference counted on it at the moment; else NULL. */
static inline pdi_value *pdi_value_rec(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    uint32_t i = pdi_id_idx(id);
    if (pdi_id_tag(id) != g->tag || i - 1u >= g->vcount)   /* i == 0 wraps */
        return NULL;
    pdi_value *v = pdi_V(g, i);
    if (v->state == PDI_V_FREE || v->gen != pdi_id_gen(id))
        return NULL;
    *idx = i;
    return v;
}
/* The test of pdi_value_get without its message, for hot paths: the live
 * value named by id (and its index), else NULL - then pdi_value_get says why. */
static inline pdi_value *pdi_value_live(pydron_graph *g, uint64_t id, uint32_t *idx)
{
    pdi_value *v = pdi_value_rec(g, id, idx);
    return v && (v->refs || v->urefs) ? v : NULL;
}
/* Look up a live task/value by id; NULL (with error message set) if stale. */
pdi_task *pdi_task_get(pydron_graph *g, uint64_t id, uint32_t *idx);
pdi_value *pdi_value_get(pydron_graph *g, uint64_t id, uint32_t *idx);
/* Follow an alias to the value that holds the bytes. */
pdi_value *pdi_value_root(pydron_graph *g, pdi_value *v);
/* ---- graph/notes.c: the notes of values (pydron_ctx_output_note) ---- */
/* Keep note data[0..len) (malloc'd, taken; freed on failure: ENOMEM) for
 * value index vi, replacing its note; len 0 drops it. */
int pdi_note_put(pydron_graph *g, uint32_t vi, void *data, size_t len);
/* vi's note (borrowed, valid until it is dropped or replaced), else NULL. */
const void *pdi_note_get(const pydron_graph *g, uint32_t vi, size_t *len);
void pdi_note_drop_slow(pydron_graph *g, uint32_t vi);
/* A value record is freed or parked: its note goes with its bytes. */
static inline void pdi_note_drop(pydron_graph *g, uint32_t vi)
{
    if (PDI_UNLIKELY(g->nnotes != 0))
        pdi_note_drop_slow(g, vi);
}
void pdi_notes_free(pydron_graph *g);
static inline const void *pdi_value_data(pdi_value *v)
{
    return (v->vf & VF_INLINE) ? (const void *)v->u.in : v->u.ext.data;
}
/* Id under which a job stores output slot oi of task tid. A task that runs
 * again (recomputation) may have outputs whose records were freed and
 * recycled: those get generation 0, which no live value has, so that a
 * worker never overwrites another value's bytes. */
static inline uint64_t pdi_job_out_id(pydron_graph *g, uint64_t tid, uint32_t oi)
{
    pdi_value *o = pdi_V(g, oi);
    if (o->state == PDI_V_FREE || o->producer != tid)
        return pdi_gid(g, 0, oi);
    return pdi_vid(g, oi);
}

/* lineage-only record (see PDI_V_PARKED) */
static inline int pdi_value_hidden(const pdi_value *v) { return v->refs == 0 && v->urefs == 0; }
static inline int pdi_value_has_bytes(const pdi_value *v)
{
    return !(v->vf & VF_REMOTE) || (v->vf & VF_LOCAL);
}

int pdi_task_add_locked(pydron_graph *g, const pydron_task_desc *desc, const uint32_t *tick,
                        size_t tick_len, pydron_task *out_task, pydron_value *out_values,
                        uint32_t *out_tidx);
int pdi_value_new_locked(pydron_graph *g, uint32_t *idx);
/* The caller's last reference to vi went (its producer may be unretained). */
void pdi_value_release_hook(pydron_graph *g, uint32_t vi);
int pdi_value_set_bytes(pydron_graph *g, pdi_value *v, pdi_out *o);
/* Value vi (pending) resolves: ready (err NULL) or failed; notifies consumers. */
void pdi_value_resolved(pydron_graph *g, uint32_t vi);
void pdi_value_fail(pydron_graph *g, uint32_t vi, pdi_error *err);
/* Bind pending/ready output value oi of a refined task to value ti. */
void pdi_value_forward(pydron_graph *g, uint32_t oi, uint32_t ti);

/* Retry/recompute: back to WAITING or READY depending on its inputs. */
void pdi_task_requeue(pydron_graph *g, uint32_t ti);
/* Worker w is gone (g->mu held): recompute or fail values only it had. */
void pdi_worker_lost_locked(pydron_graph *g, unsigned w);

pdi_error *pdi_error_new(uint64_t task, int code, char *msg, void *detail, size_t dlen);
void pdi_error_unref(pdi_error *e);

/* Task outcome: success (outputs from run->outs, or none when all outputs are
 * already set) / failure / refined / canceled. All release the task. */
void pdi_task_succeeded(pydron_graph *g, uint32_t ti, const pdi_run *run);
void pdi_task_failed(pydron_graph *g, uint32_t ti, pdi_error *err, uint8_t state,
                     const pdi_run *run);
void pdi_task_refined(pydron_graph *g, uint32_t ti);
void pdi_task_log(pydron_graph *g, uint32_t ti, uint8_t state, const pdi_run *run);
/* Task ti's log entry *e (pdi_task_log). */
static inline void pdi_tlog_fill(pydron_graph *g, pdi_tlog *e, uint32_t ti, const pdi_task *t,
                                 uint8_t state, const pdi_run *j)
{
    *e = (pdi_tlog){
        .task = pdi_gid(g, t->gen, ti),
        .queued_ns = t->queued_ns,
        .started_ns = j ? j->start_ns : 0,
        .finished_ns = (j && j->end_ns) ? j->end_ns : pdi_now_ns(),
        .kind = t->label ? (PDI_TLOG_LABEL | t->label) : t->kind,
        .worker = (int16_t)(j ? j->worker : -1),
        .state = state,
        .exec = (uint8_t)(j && j->exec),
    };
    g->nlog++;
    if (++g->logslot == g->logcap)
        g->logslot = 0;
}
/* pdi_task_log for a task that ran (j not NULL), in the caller: a tiny
 * task's completion calls no function for its log entry unless a record,
 * the run log or the trace is on or the ring needs a chunk. */
static inline void pdi_task_log_ran(pydron_graph *g, const pdi_task *t, uint32_t ti, uint8_t state,
                                    const pdi_run *j)
{
    uint64_t slot = g->logslot;
    size_t c = (size_t)(slot >> PDI_LOG_CHUNK_BITS);
    if (PDI_UNLIKELY(g->rec != NULL || g->rec_id || pdi_tracing() || c >= g->nlchunks)) {
        pdi_task_log(g, ti, state, j);
        return;
    }
    pdi_tlog_fill(g, &g->lchunks[c][slot & (PDI_LOG_CHUNK - 1)], ti, t, state, j);
}
/* graph/runlog.c (PYDRON_RECORD): a number for a new graph (0 = not
 * recording), a JSON line per finished task, flush the file. */
uint32_t pdi_record_graph_id(void);
void pdi_record_task(pydron_graph *g, uint32_t ti, uint8_t state, const pdi_run *run);
void pdi_record_flush(void);
/* Task ti's inputs are all there: READY, reported in g->chg.ready(_drv). */
void pdi_task_ready_slow(pydron_graph *g, uint32_t ti);
/* Task ti is ready: on the list of changes (g->chg.ready), or the driver's
 * for SYNC and REFINABLE tasks. Inline for the common case (an ordinary
 * task, room in the list, the caller's clock reading in g->now_hint: a
 * completion readying its consumers); pdi_task_ready_slow does it all. */
static inline void pdi_task_ready(pydron_graph *g, uint32_t ti)
{
    pdi_task *t = pdi_T(g, ti);
    pdi_changes *c = &g->chg;
    if (PDI_UNLIKELY((t->flags & (PYDRON_TASK_SYNC | PYDRON_TASK_REFINABLE)) ||
                     c->nready == c->capready || !g->now_hint)) {
        pdi_task_ready_slow(g, ti);
        return;
    }
    t->state = PYDRON_TASK_READY;
    t->queued_ns = g->now_hint;
    c->ready[c->nready++] = pdi_gid(g, t->gen, ti);
}
/* Remote bytes of value id on worker where are not needed: report them. */
void pdi_report_release(pydron_graph *g, uint64_t id, int32_t where);
int pdi_tick_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
/* The tick heap (g->heap) of unfinished SYNC and unrefined REFINABLE tasks. */
void pdi_heap_insert(pydron_graph *g, uint32_t ti);
/* Room for one more tick-heap entry, reserved by pdi_task_add_locked so that
 * inserting later never allocates (0 or ENOMEM). */
int pdi_heap_reserve(pydron_graph *g);
void pdi_heap_remove(pydron_graph *g, uint32_t ti);
const char *pdi_task_name(pydron_graph *g, pdi_task *t);

/* The whole run's graph (graph/record.c): start (or change max_tasks),
 * free, a task added / finished (g->rec set), its DOT text. */
int pdi_rec_start(pydron_graph *g, size_t max_tasks);
void pdi_rec_free(pydron_graph *g);
void pdi_rec_add(pydron_graph *g, uint32_t ti);
void pdi_rec_done(pydron_graph *g, uint32_t ti, uint8_t state, int32_t worker);
int pdi_rec_dot(pydron_graph *g, pdi_str *s);
char *pdi_fail_message(pydron_graph *g, pdi_error *e);
void pdi_graph_cancel_locked(pydron_graph *g);
uint32_t pdi_label_add(pydron_graph *g, const char *label, uint32_t kind);


/* ---- shared by the files of graph/ (and the api/ facade) ---- */
/* A consumer list detached from a pending value (pdi_cons_take). */
typedef struct pdi_cons_list {
    uint32_t inl[PDI_VCONS_INLINE];
    uint32_t *p;
    size_t n;
    int heap;
} pdi_cons_list;
int pdi_cons_add(pdi_value *v, uint32_t entry);
/* Detach the consumer list of a pending value (hot: inline). */
static inline void pdi_cons_take(pdi_value *v, pdi_cons_list *c)
{
    c->n = (size_t)v->len;
    c->heap = (v->vf & VF_CONSHEAP) != 0;
    if (c->heap) {
        c->p = v->u.cp;
    } else {
        memcpy(c->inl, v->u.cin, sizeof c->inl);
        c->p = c->inl;
    }
    v->vf &= (uint8_t)~VF_CONSHEAP;
    v->len = 0;
}
int pdi_task_alloc(pydron_graph *g, uint32_t *idx);
/* The graph's slabs back to the process's cache (or the kernel), at
 * pydron_graph_free. */
void pdi_slabs_release(pydron_graph *g);
/* Slots of a fresh chunk are faulted in PDI_PREFAULT_RECS at a time, when
 * the first slot of such a block is handed out (pdi_slab_prefault). */
#define PDI_PREFAULT_RECS 1024u
void pdi_slab_prefault(void *chunk, size_t esz, uint32_t idx);
/* Slot idx of a slab (base, records of esz bytes) is handed out: fault in
 * its block if it starts one and the chunk is fresh. */
static inline void pdi_slab_touch(void *base, uint8_t fresh, size_t esz, uint32_t idx)
{
    if (PDI_UNLIKELY((idx & (PDI_PREFAULT_RECS - 1)) == 0) && fresh)
        pdi_slab_prefault((char *)base + (size_t)(idx >> PDI_CHUNK_BITS) * PDI_CHUNK * esz, esz,
                          idx);
}
void pdi_task_free(pydron_graph *g, uint32_t ti);
/* The end of pdi_task_free: record ti (nothing of it on the heap any more)
 * back on the free list under its next generation, or retired when its
 * generations are used up (so ids stay unique). */
static inline void pdi_task_slot_free(pydron_graph *g, pdi_task *t, uint32_t ti)
{
    t->bits = 0;
    t->state = PDI_T_FREE;
    if (++t->gen > PDI_GEN_MASK)
        return;
    t->hpos = g->tfree;
    g->tfree = ti;
}
/* pdi_task_free in the caller for a record with nothing on the heap. */
static inline void pdi_task_free_inline(pydron_graph *g, pdi_task *t, uint32_t ti)
{
    if (PDI_UNLIKELY(t->bits & (TB_IN_HEAP | TB_OUT_HEAP | TB_TICK_HEAP | TB_PAY_HEAP)))
        pdi_task_free(g, ti);
    else
        pdi_task_slot_free(g, t, ti);
}
/* Free value vi's record (no reference left), or park it for lineage. */
void pdi_value_drop(pydron_graph *g, uint32_t vi);
/* Internal references (consumers, producer, aliases); hot: inline. */
static inline void pdi_value_ref(pydron_graph *g, uint32_t vi) { pdi_V(g, vi)->refs++; }
static inline void pdi_value_unref(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    if (--v->refs == 0 && v->urefs == 0)
        pdi_value_drop(g, vi);
}
/* The end of pdi_value_drop: record vi (its bytes, error or consumers
 * freed) back on the free list under its next generation, or retired. */
static inline void pdi_value_slot_free(pydron_graph *g, pdi_value *v, uint32_t vi)
{
    v->state = PDI_V_FREE;
    v->vf = 0;
    v->producer = 0;
    g->stats.values_live--;
    if (++v->gen <= PDI_GEN_MASK) {   /* else retire the slot */
        v->u.cin[0] = g->vfree;
        g->vfree = vi;
    }
}
/* The record of task id producer is kept (TB_RETAINED) for an output the
 * caller holds (pdi_maybe_unretain frees it once none is held). */
static inline int pdi_producer_retained(pydron_graph *g, uint64_t producer)
{
    uint32_t ti = pdi_id_idx(producer);
    if (pdi_id_tag(producer) != g->tag || !ti || ti > g->tcount)
        return 0;
    const pdi_task *t = pdi_T(g, ti);
    return t->gen == pdi_id_gen(producer) && (t->bits & TB_RETAINED);
}
/* pdi_value_unref where a tiny task's completion drops its input: the
 * common last reference (a ready value with its few bytes in the record,
 * no note, lineage or retained producer) freed here, as pdi_value_drop
 * frees it; anything else through pdi_value_drop. A graph with kept
 * records (the caller holds a finished task's output: nretained) looks at
 * the value's own producer, not at the count: a run where one chain's end
 * finished early went the slow way for every task after it. */
static inline void pdi_value_unref_inline(pydron_graph *g, uint32_t vi)
{
    pdi_value *v = pdi_V(g, vi);
    if (--v->refs != 0 || v->urefs != 0)
        return;
    if (PDI_UNLIKELY(v->state != PYDRON_VALUE_READY ||
                     (v->vf & (VF_INLINE | VF_REMOTE | VF_ALIAS)) != VF_INLINE || g->nnotes ||
                     g->lin || g->freeing ||
                     (g->nretained && v->producer && pdi_producer_retained(g, v->producer)))) {
        pdi_value_drop(g, vi);
        return;
    }
    g->stats.bytes_live -= v->len;
    pdi_value_slot_free(g, v, vi);
}
/* Value vi (pending, consumers in c) has its bytes: mark ready and notify. */
void pdi_value_ready(pydron_graph *g, uint32_t vi, pdi_cons_list *c);
void pdi_maybe_unretain(pydron_graph *g, uint64_t producer, uint32_t except_vi);
/* One of the caller's references on value vi (it holds one) goes: the
 * record with its last reference, else the producer's kept record with the
 * caller's last (pydron_value_release, PYDRON_TASK_TAKE_INPUTS). */
static inline void pdi_value_urelease(pydron_graph *g, uint32_t vi)
{
    pdi_value *r = pdi_V(g, vi);
    if (--r->urefs == 0 && r->refs == 0)
        pdi_value_drop(g, vi);
    else if (PDI_UNLIKELY(r->urefs == 0 && r->producer && g->nretained))
        pdi_maybe_unretain(g, r->producer, 0);
}
/* A static error for out-of-memory during failure handling. */
extern pdi_error pdi_oom_error;
pdi_error *pdi_err_or_oom(pdi_error *e);
/* Run queued failures and forwards (outermost call only). */
void pdi_fail_drain(pydron_graph *g);
/* Input from_vi of task ti resolved: one input fewer to wait for (ready at
 * none); a zombie drops its hold and goes with its last one. Hot: inline. */
static inline void pdi_task_dec_pending(pydron_graph *g, uint32_t ti, uint32_t from_vi)
{
    pdi_task *t = pdi_T(g, ti);
    if (PDI_UNLIKELY(t->bits & TB_ZOMBIE)) {
        pdi_value_unref(g, from_vi);
        if (--t->npending == 0)
            pdi_task_free(g, ti);
        return;
    }
    if (--t->npending == 0 && t->state == PYDRON_TASK_WAITING)
        pdi_task_ready(g, ti);
}
void pdi_task_release(pydron_graph *g, uint32_t ti);
int pdi_task_retain(pydron_graph *g, uint32_t ti, const uint64_t *ids);
uint64_t *pdi_input_ids(pydron_graph *g, pdi_task *t, uint64_t *one, int roots);
int pdi_log_find(pydron_graph *g, uint64_t id, pdi_tlog **out);
/* The timing log keeps the last PDI_TLOG_DEFAULT_MAX finished tasks (or
 * $PYDRON_TIMING_LOG_MAX, rounded up to a chunk): entries [first, nlog). */
#define PDI_TLOG_DEFAULT_MAX 65536u
uint64_t pdi_log_first(const pydron_graph *g);
pdi_tlog *pdi_log_at(pydron_graph *g, uint64_t k);
uint32_t pdi_tlog_kind(pydron_graph *g, const pdi_tlog *e);
const char *pdi_tlog_label(pydron_graph *g, const pdi_tlog *e);

#endif
