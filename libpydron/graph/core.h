/* core.h - internal data structures of the libpydron core: runtime, graph,
 * task and value records, jobs. Shared by graph/, sched/ and exec/.
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
#ifndef PDI_CORE_H
#define PDI_CORE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "pydron.h"
#include "runner/ctx.h"
#include "util/ring.h"
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

#define PDI_CHUNK_BITS 12
#define PDI_CHUNK (1u << PDI_CHUNK_BITS)

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
    TB_QUEUED = 0x20,   /* handed to the policy (READY, PURE) */
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
    uint32_t kind;
    uint32_t npending;  /* inputs not yet available */
    uint16_t nin, nout;
    uint32_t payload_len;
    uint32_t hpos;      /* position in the driver heap; next free when free */
    uint32_t seq;       /* add order, tie-break among equal ticks */
    float duration;     /* hint in seconds, 0 = unknown */
    uint32_t label;     /* index into g->labels, 0 = none */
    uint16_t attempt;
    uint16_t pad_;
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

typedef struct pdi_label {
    char *text;
    uint32_t kind;
} pdi_label;

/* ---- kinds ---- */
#define PDI_MAX_KINDS 4096
typedef struct pdi_kind {
    char *name;
    const pydron_runner_ops *runner;
    void *runner_self;
    pydron_refine_fn refine;
    void *refine_user;
    unsigned flags;
    pthread_mutex_t serial;   /* held around run() for PYDRON_KIND_SERIAL */
} pdi_kind;

/* ---- jobs ---- */
#define PDI_JOB_INLINE 4
typedef struct pdi_jin {
    uint64_t value;
    uint64_t size;
    int32_t where;
    const void *data;   /* NULL when the bytes are not on the driver */
} pdi_jin;

typedef struct pdi_jout {
    pdi_out out;        /* local bytes */
    int32_t where;      /* >= 0: remote output */
    uint64_t size;
} pdi_jout;

struct pydron_job {
    pydron_graph *g;
    uint64_t task;        /* task id */
    pdi_kind *kind;
    unsigned attempt;
    int32_t worker;       /* -1: driver thread */
    int canceled;         /* graph asked to cancel before it ran */
    const void *payload;
    size_t payload_len;
    size_t nin, nout;
    pdi_jin *ins;
    pdi_jout *outs;
    pdi_jin ins_inl[PDI_JOB_INLINE];
    pdi_jout outs_inl[PDI_JOB_INLINE];
    char *err;
    void *detail;
    size_t detail_len;
    uint64_t start_ns, end_ns;
    struct pydron_job *next;  /* free list / in-flight list */
    struct pydron_job *prev;
};

/* ---- runtime ---- */
struct pydron_exec_host {
    pydron_runtime *rt;
};

struct pydron_runtime {
    pthread_mutex_t mu;
    pdi_kind *kinds[PDI_MAX_KINDS];
    _Atomic uint32_t nkinds;
    pydron_runtime_options opts;        /* strings not kept beyond creation hooks */
    const pydron_executor_ops *xops;
    void *xself;
    pydron_executor_kind xkind;
    int xstarted;
    unsigned nworkers, in_flight;
    _Atomic unsigned *inflight;         /* per worker, shared by graphs */
    const pydron_policy_ops *pops;      /* custom policy or NULL */
    void *pself;
    int policy_users;                   /* graphs running with the custom policy */
    pydron_exec_host host;
    pydron_graph *graphs;               /* list of live graphs */
    unsigned ngraphs;
};

/* driver-ordered heap entry ordering helpers live in sched/ */
struct pydron_graph {
    pydron_runtime *rt;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    uint32_t tag;
    pydron_graph *next_in_rt, *prev_in_rt;

    /* slabs */
    pdi_task **tchunks;
    size_t ntchunks;
    uint32_t tcount;       /* slots handed out (index 0 unused) */
    uint32_t tfree;        /* free list head, 0 = empty */
    pdi_value **vchunks;
    size_t nvchunks;
    uint32_t vcount;
    uint32_t vfree;

    /* state */
    int started, closed, canceled, freeing;
    _Atomic int interrupt;
    int driving;           /* a thread runs the driver loop */
    unsigned waiters;      /* threads blocked on cv */
    uint64_t events;       /* bumped on every completion/readiness change */
    int drv_waiting;       /* the driving thread sleeps on cv for drv_vi ... */
    uint32_t drv_vi;       /* ... (0: for every task to finish) */
    uint64_t nretained;    /* finished task records kept (TB_RETAINED) */
    uint32_t *lin;         /* per value index: TB_LINEAGE tasks reading it (NULL until
                              a remote output exists: in-process executors pay nothing) */
    size_t lincap;
    int need_loc;          /* the policy reads input sizes/locations */
    uint64_t pending;      /* tasks not finished */
    uint32_t seq;
    uint32_t top_tick;
    uint32_t *last_sync_tick;
    size_t last_sync_len;

    /* driver work */
    uint32_t *heap;        /* SYNC + unrefined REFINABLE tasks, by tick */
    size_t nheap, capheap;
    pdi_ring refq;         /* uint32_t: REFINABLE tasks ready for their callback */
    size_t refq_promised;  /* REFINABLE tasks added, not yet in refq: each has room
                              reserved there (pydron_task_add) */

    /* dispatch */
    const pydron_policy_ops *pops;
    void *pself;
    int own_policy;        /* pself is ours to destroy */
    int need_bl;           /* policy wants bottom levels */
    uint64_t ready_seq;
    uint64_t nqueued;      /* tasks handed to the policy not yet picked */
    uint64_t *newready;    /* PURE tasks ready but not yet pushed to the policy:
                              pushing at dispatch time lets the critical-path
                              policy see the graph built meanwhile */
    size_t nnewready, capnewready;
    int ready_lost;        /* a READY PURE task is in no queue (out of memory):
                              the next pdi_flush_ready scans for it */
    uint64_t inflight;     /* jobs of this graph held by the executor */
    pydron_job *jfree;     /* job free list */
    pydron_job *jlive;     /* jobs handed out (for worker loss) */
    int dispatching;

    /* measured durations per kind (seconds) */
    double *ksum;
    uint32_t *kcnt;
    size_t kcap;

    /* observability */
    pdi_tlog **lchunks;
    size_t nlchunks;
    uint64_t nlog;
    pdi_label *labels;
    size_t nlabels, caplabels;
    uint64_t now_hint;     /* a fresh clock reading, valid during a completion */
    pydron_graph_stats stats;
    uint64_t fetch_fail_id;   /* last failed fetch (id, rc) */
    int fetch_fail_rc;
};

/* ---- internal API (graph/graph.c) ---- */
static inline pdi_task *pdi_T(pydron_graph *g, uint32_t i)
{
    return &g->tchunks[i >> PDI_CHUNK_BITS][i & (PDI_CHUNK - 1)];
}
static inline pdi_value *pdi_V(pydron_graph *g, uint32_t i)
{
    return &g->vchunks[i >> PDI_CHUNK_BITS][i & (PDI_CHUNK - 1)];
}
static inline uint64_t pdi_tid(pydron_graph *g, uint32_t i) { return pdi_mkid(g->tag, pdi_T(g, i)->gen, i); }
static inline uint64_t pdi_vid(pydron_graph *g, uint32_t i) { return pdi_mkid(g->tag, pdi_V(g, i)->gen, i); }

/* Look up a live task/value by id; NULL (with error message set) if stale. */
pdi_task *pdi_task_get(pydron_graph *g, uint64_t id, uint32_t *idx);
pdi_value *pdi_value_get(pydron_graph *g, uint64_t id, uint32_t *idx);
/* Follow an alias to the value that holds the bytes. */
pdi_value *pdi_value_root(pydron_graph *g, pdi_value *v);
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
        return pdi_mkid(g->tag, 0, oi);
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
void pdi_value_unref(pydron_graph *g, uint32_t vi);      /* internal ref */
/* The caller's last reference to vi went (its producer may be unretained). */
void pdi_value_release_hook(pydron_graph *g, uint32_t vi);
void pdi_value_ref(pydron_graph *g, uint32_t vi);
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

/* Task outcome: success (outputs from job j, or NULL when all outputs are
 * already set) / failure / refined / canceled. All release the task. */
void pdi_task_succeeded(pydron_graph *g, uint32_t ti, pydron_job *j);
void pdi_task_failed(pydron_graph *g, uint32_t ti, pdi_error *err, uint8_t state,
                     pydron_job *j);
void pdi_task_refined(pydron_graph *g, uint32_t ti);
void pdi_task_log(pydron_graph *g, uint32_t ti, uint8_t state, pydron_job *j);
int pdi_tick_cmp(const uint32_t *a, size_t na, const uint32_t *b, size_t nb);
const char *pdi_task_name(pydron_graph *g, pdi_task *t);
char *pdi_fail_message(pydron_graph *g, pdi_error *e);
void pdi_graph_cancel_locked(pydron_graph *g);
uint32_t pdi_label_add(pydron_graph *g, const char *label, uint32_t kind);

/* ---- sched/driver.c ---- */
void pdi_task_became_ready(pydron_graph *g, uint32_t ti);
void pdi_heap_insert(pydron_graph *g, uint32_t ti);
/* Room for one more tick-heap entry / refinement-queue entry, reserved by
 * pydron_task_add so that inserting later never allocates (0 or ENOMEM). */
int pdi_heap_reserve(pydron_graph *g);
int pdi_refq_reserve(pydron_graph *g);
void pdi_heap_remove(pydron_graph *g, uint32_t ti);
/* Hand ready tasks to the executor (called with g->mu held; may release
 * and re-acquire it around submit). */
void pdi_dispatch(pydron_graph *g);
/* Should pydron_task_add dispatch now, or leave it to the next completion? */
int pdi_dispatch_on_add(pydron_graph *g);
void pdi_wake(pydron_graph *g);
/* Narrower wake-ups: only threads that may care are woken, so that a
 * driver waiting for one value is not woken by every completion. */
void pdi_wake_value(pydron_graph *g, uint32_t vi);
void pdi_wake_done(pydron_graph *g, const pdi_task *t);
int pdi_graph_start_locked(pydron_graph *g);
void pdi_kstat_add(pydron_graph *g, uint32_t kind, double seconds);
double pdi_task_duration(pydron_graph *g, pdi_task *t);

void pdi_flush_ready(pydron_graph *g);
/* ---- sched/policy.c ---- */
int pdi_policy_create(pydron_policy_kind kind, const pydron_policy_ops **ops, void **self);

/* ---- exec/job.c ---- */
pydron_job *pdi_job_get(pydron_graph *g);
void pdi_job_put(pydron_graph *g, pydron_job *j);
int pdi_job_prepare(pydron_graph *g, pydron_job *j, uint32_t ti, int32_t worker);
void pdi_job_clear(pydron_job *j);
int pdi_job_is_canceled(const pydron_job *j);
void pdi_exec_recall(pydron_runtime *rt);

/* Fetch a remote value's bytes to the driver (g->mu held; waits until
 * deadline_ns on pdi_now_ns's clock, 0 = no deadline: PYDRON_ETIMEDOUT then,
 * and the fetch goes on). Returns 1 if the value was lost with its worker
 * meanwhile and is pending again (being recomputed). */
int pdi_fetch_wait(pydron_graph *g, pdi_value *root, uint64_t deadline_ns);
/* Complete a job (g->mu held): outcome rc as in pydron_job_done. */
void pdi_job_complete_locked(pydron_graph *g, pydron_job *j, int rc);
/* Run the refine callback of task ti on the driver thread (g->mu held,
 * released around the callback). */
void pdi_refine_run(pydron_graph *g, uint32_t ti);

/* thread-local: graph whose callback/body runs on this thread (misuse checks) */
extern _Thread_local pydron_graph *pdi_tls_cb_graph;

/* ---- runtime helpers ---- */
pydron_graph *pdi_rt_graph_by_tag(pydron_runtime *rt, uint32_t tag);
int pdi_rt_start_executor(pydron_runtime *rt);

#endif
