/* sched.h - scheduling: jobs, readiness, dispatch to the executor, the
 * driver loop, refinement runs, policies and the host side of the executor
 * contract (sched/). */
#ifndef PDI_SCHED_H
#define PDI_SCHED_H

#include "graph/graph.h"
#include "util/ring.h"

/* ---- the scheduler's side of a graph ----
 * pydron_graph_new (api/) allocates a pdi_sgraph; the public handle points
 * at its first member, the graph data structure. */
typedef struct pdi_sgraph {
    struct pydron_graph g;  /* first */
    pydron_runtime *rt;
    pthread_mutex_t mu;     /* the graph lock: everything in g and here */
    pthread_cond_t cv;
    pydron_graph *next_in_rt, *prev_in_rt;   /* the runtime's list (under rt->mu) */

    _Atomic int interrupt;
    int driving;           /* a thread runs the driver loop */
    unsigned waiters;      /* threads blocked on cv */
    int drv_waiting;       /* the driving thread sleeps on cv for g.chg.watch_vi
                              (0: for every task to finish) */
    unsigned long wait_timeouts;   /* the driver's waits that ran out unwoken (tests) */

    /* driver work */
    pdi_ring refq;         /* uint32_t: REFINABLE tasks ready for their callback */

    /* dispatch */
    const pydron_policy_ops *pops;
    void *pself;
    int own_policy;        /* pself is ours to destroy */
    int need_bl;           /* policy wants bottom levels */
    int need_loc;          /* the policy reads input sizes/locations */
    uint64_t ready_seq;
    uint64_t nqueued;      /* tasks handed to the policy not yet picked */
    uint64_t inflight;     /* jobs of this graph held by the executor */
    pydron_job *jfree;     /* job free list */
    struct pdi_dslot *dslots;   /* the direct lane's group (sched/direct.c) */
    int direct_oom;        /* dslots could not be allocated: no direct lane */
    struct pdi_dgroup *gfree;   /* group jobs' slots not in use (sched/direct.c) */
    unsigned ngroups;      /* group jobs out (held by the executor) */
    int dispatching;
    int redispatch;   /* a dispatch was skipped while another ran: it loops once more */

    /* measured durations per kind (seconds) */
    double *ksum;
    uint32_t *kcnt;
    size_t kcap;

    uint64_t fetch_fail_id;   /* last failed fetch (id, rc) */
    int fetch_fail_rc;

    /* a wait that timed out and may go on (callers wait in slices): traced
     * as one span when it ends (sched/driver.c) */
    uint64_t tw_target;       /* value id, ~0 for "every task", 0 = none */
    uint64_t tw_start, tw_end;
    const char *tw_name;      /* task label or kind name: lives as long as g */
} pdi_sgraph;

static inline pdi_sgraph *pdi_S(pydron_graph *g) { return (pdi_sgraph *)(void *)g; }

/* ---- jobs ---- */
#define PDI_JOB_INLINE 4
typedef struct pdi_jin {
    pdi_buf buf;        /* data NULL when the bytes are not on the driver, else
                           len == size: a task body reads it in place (ctx) */
    uint64_t value;
    uint64_t size;
    int32_t where;
} pdi_jin;

struct pydron_job {
    pydron_graph *g;
    uint64_t task;        /* task id */
    pdi_kind *kind;
    unsigned attempt;
    int32_t worker;       /* -1: driver thread */
    int canceled;         /* graph asked to cancel before it ran */
    int on_driver;        /* ran on the thread that drives its graph (inline) */
    int ins_local;        /* every input's bytes are in this process (run_local) */
    int outs_preset;      /* the executor set an output (run_local resets them) */
    const void *payload;
    size_t payload_len;
    size_t nin, nout;
    pdi_jin *ins;
    pdi_tout *outs;
    pdi_jin ins_inl[PDI_JOB_INLINE];
    pdi_tout outs_inl[PDI_JOB_INLINE];
    char *err;
    void *detail;
    size_t detail_len;
    uint64_t start_ns, end_ns;
    struct pdi_dgroup *group; /* a group job: its tasks (sched/direct.c), else NULL */
    struct pdi_jnote *notes;  /* nout notes of remote outputs (pydron_job_set_output_note),
                                 else NULL */
    struct pydron_job *next;  /* free list */
};

/* ---- sched/driver.c ---- */
/* Act on what the graph reported (g->chg): SYNC/REFINABLE readiness,
 * finished tasks, released bytes, wake-ups. Called with g->mu held after
 * every change to the graph and before the lock is released. PURE
 * readiness waits for the next dispatch (pdi_flush_ready). */
void pdi_sched_drain_slow(pydron_graph *g);
static inline void pdi_sched_drain(pydron_graph *g)
{
    if (g->chg.dirty)
        pdi_sched_drain_slow(g);
}
/* Hand ready tasks to the executor (called with g->mu held; may release
 * and re-acquire it around submit). */
void pdi_dispatch(pydron_graph *g);
/* Hand prepared jobs to the executor's worker w (g->mu held, released
 * around submit): counted in flight; failed here if the executor refuses
 * them all. */
void pdi_submit_jobs(pydron_graph *g, pydron_job **jobs, size_t n, unsigned w);
/* Should pydron_task_add dispatch now, or leave it to the next completion? */
int pdi_dispatch_on_add(pydron_graph *g);
void pdi_wake(pydron_graph *g);
int pdi_graph_start_locked(pydron_graph *g);
/* Cancel: take queued tasks back from the policy, cancel the graph, drain. */
void pdi_sched_cancel_locked(pydron_graph *g);
/* What pydron_graph_wait/run drive the graph to: one value, or every task. */
typedef struct pdi_target {
    int is_value;
    uint64_t id;
} pdi_target;
/* The driver loop of pydron_graph_wait/run (takes g->mu). */
int pdi_drive(pydron_graph *g, pdi_target tg, int timeout_ms);
void pdi_kstat_add_slow(pydron_graph *g, uint32_t kind, double seconds);
/* A task of kind took seconds: its kind's figures (the common case without
 * a call; the arrays grow in pdi_kstat_add_slow). */
static inline void pdi_kstat_add(pydron_graph *g, uint32_t kind, double seconds)
{
    pdi_sgraph *sg = pdi_S(g);
    if (PDI_LIKELY(kind < sg->kcap)) {
        sg->ksum[kind] += seconds;
        sg->kcnt[kind]++;
    } else {
        pdi_kstat_add_slow(g, kind, seconds);
    }
}
double pdi_task_duration(pydron_graph *g, pdi_task *t);

void pdi_flush_ready(pydron_graph *g);
/* A task id the policy handed out (t: its record, or NULL if not live):
 * the READY task to run, taken out of the queue count; else NULL: canceled
 * or stale (skipped), or out of the queue and waiting again (an input was
 * lost with its worker: pushed anew when ready). Every pick is checked so,
 * by pdi_dispatch and by the direct lane. */
static inline pdi_task *pdi_pick_check(pydron_graph *g, pdi_task *t, uint64_t id)
{
    if (!t || t->state == PDI_T_FREE || t->gen != pdi_id_gen(id) || (t->bits & TB_ZOMBIE) ||
        !(t->bits & TB_QUEUED))
        return NULL;
    t->bits &= (uint8_t)~TB_QUEUED;
    pdi_S(g)->nqueued--;
    return t->state == PYDRON_TASK_READY ? t : NULL;
}
/* ---- sched/direct.c ---- */
/* PYDRON_DIRECT is "0" (read when a runtime is made). */
int pdi_direct_off_env(void);
/* The direct lane applies to g now: the inline executor, the FIFO or the
 * work-stealing policy,
 * no trace being written, the graph neither canceled nor being freed. */
int pdi_direct_use(pydron_graph *g);
/* The driving thread runs g's queued tasks (g->mu held, released around
 * each group): C tasks whose inputs are here directly, others handed to
 * the executor as jobs. Returns how many ran directly. */
size_t pdi_direct_run(pydron_graph *g);
/* Group jobs (the threads executor's): ready tiny C tasks dispatched many
 * to a job. pdi_group_use: they apply to g now. pdi_group_add (g->mu held):
 * task ti (READY, picked for worker) joins the open group job *gj: 1; or a
 * new one, made and stored in *gj, to be submitted: 2; 0: not a task for a
 * group (a job of its own; nothing changed); -1: it would need a new group
 * and enough are out (the caller puts it back). pdi_group_run (no lock):
 * run the group's tasks, on the executor's thread; returns when the last
 * one ended, and how many ran in *ran. pdi_group_complete (g->mu held): the tasks' outcomes, and
 * those not reached (all of them with requeue) back to the policy; or each
 * fails with rc (!= 0: the group did not run). */
int pdi_group_use(pydron_graph *g);
int pdi_group_add(pydron_graph *g, pydron_job **gj, uint32_t ti, int32_t worker);
uint64_t pdi_group_run(pydron_job *j, size_t *ran);
void pdi_group_complete(pydron_graph *g, pydron_job *j, int rc, int requeue);
void pdi_group_free_all(pydron_graph *g);
/* Task ti (READY), picked from the policy (pdi_pick_check), goes back
 * where it was taken: the front of the FIFO queue, else the ready list
 * (the lane's next pick on work-stealing; pushed to the policy again by
 * the next dispatch). */
void pdi_task_unpick(pydron_graph *g, uint32_t ti, uint64_t id);

/* ---- sched/policy.c ---- */
int pdi_policy_create(pydron_policy_kind kind, const pydron_policy_ops **ops, void **self);
/* The built-in FIFO (its self is a pdi_ring of task ids): the dispatcher
 * pushes and picks on it directly, without building a pydron_sched_task
 * that FIFO does not read (the per-task cost of tiny tasks). */
extern const pydron_policy_ops pdi_fifo_ops;
/* the work-stealing policy's ops (the direct lane takes its order) */
extern const pydron_policy_ops pdi_steal_ops;
/* Which inputs of push() a built-in policy reads (the core skips the rest). */
void pdi_policy_needs(pydron_policy_kind kind, int *bottom_level, int *locality);
/* sched/policy_heft.c, policy_steal.c, policy_random.c */
int pdi_policy_heft(const pydron_policy_ops **ops, void **self);
int pdi_policy_steal(const pydron_policy_ops **ops, void **self);
int pdi_policy_random(const pydron_policy_ops **ops, void **self);
/* PYDRON_SEED (else 1), scrambled, never 0 */
uint64_t pdi_policy_seed(void);

/* ---- exec/job.c ---- */
pydron_job *pdi_job_get(pydron_graph *g);
/* The header of job j for task ti (g->mu held): no ports, no payload, no
 * error yet; the task RUNNING, counted in flight when worker >= 0
 * (pdi_job_prepare fills the ports after it, a group job its group). */
void pdi_job_fill(pydron_graph *g, pydron_job *j, uint32_t ti, int32_t worker);
void pdi_job_put(pydron_graph *g, pydron_job *j);
int pdi_job_prepare(pydron_graph *g, pydron_job *j, uint32_t ti, int32_t worker);
void pdi_job_clear(pydron_job *j);
/* Uncharged returns of one task (pydron_job_requeue) after which the next
 * one counts as a lost run: a job whose inputs stay unreachable must not
 * go round for ever. */
#define PDI_MAX_REQUEUES 64
/* Workers the dispatcher may give work to: every one that is not down, or
 * all of them when every one is down (the executor then keeps the jobs
 * until a worker is back, or fails them after its deadline). */
static inline int pdi_worker_usable(const pydron_runtime *rt, unsigned w);
int pdi_job_is_canceled(const pydron_job *j);

/* Fetch a remote value's bytes to the driver (g->mu held; waits until
 * deadline_ns on pdi_now_ns's clock, 0 = no deadline: PYDRON_ETIMEDOUT then,
 * and the fetch goes on). Returns 1 if the value was lost with its worker
 * meanwhile and is pending again (being recomputed). */
int pdi_fetch_wait(pydron_graph *g, pdi_value *root, uint64_t deadline_ns);
/* A run of task ti (id tid) ended in rc, neither success nor a lost
 * worker (g->mu held): the task fails with the message *err (taken; NULL:
 * one saying rc) and *detail (taken), or is canceled if rc is
 * PYDRON_ECANCELED and the graph was. */
void pdi_task_run_failed(pydron_graph *g, uint32_t ti, uint64_t tid, int rc, char **err,
                         void **detail, size_t detail_len, const pdi_run *run);
/* Complete a job (g->mu held): outcome rc as in pydron_job_done. */
void pdi_job_complete_locked(pydron_graph *g, pydron_job *j, int rc);
/* Run the refine callback of task ti on the driver thread (g->mu held,
 * released around the callback). */
void pdi_refine_run(pydron_graph *g, uint32_t ti);

/* The refinement under way (public handle of a refine callback). */
struct pydron_refine {
    pydron_graph *g;
    uint32_t ti;
    uint64_t tid;
    uint32_t tick[PYDRON_TICK_MAX_DEPTH];
    size_t tick_len;
    uint32_t child;
    size_t nin, nout;
    uint32_t *created;     /* value indices made inside this refinement */
    size_t ncreated, capcreated;
    uint32_t *bound;       /* per output: bound value index (held), 0 = none */
    char *fail;
    int active;
};

/* Thread-local state, one struct so that a function reaches it with one TLS
 * lookup (in a shared library each costs a call). */
typedef struct pdi_tls_state {
    pydron_graph *cb_graph;   /* graph whose callback/body runs here (misuse checks) */
    pydron_graph *driver;     /* graph this thread drives (inside wait/run) */
} pdi_tls_state;
extern _Thread_local pdi_tls_state pdi_tls;

/* ---- runtime (made by api/runtime.c, the composition root) ---- */
struct pydron_exec_host {
    pydron_runtime *rt;
};

struct pydron_runtime {
    pthread_mutex_t mu;
    pdi_kindtab kt;                     /* kinds (read by graphs without rt->mu) */
    pydron_runtime_options opts;        /* strings not kept beyond creation hooks */
    const pydron_executor_ops *xops;
    void *xself;
    pydron_executor_kind xkind;
    int direct_off;                     /* PYDRON_DIRECT=0 when it was made (sched/direct.c) */
    int xstarted;
    unsigned nworkers, in_flight;
    _Atomic unsigned *inflight;         /* per worker, shared by graphs */
    _Atomic unsigned *window;           /* per worker: jobs kept in flight there, set by
                                           the executor from what it measures
                                           (pydron_exec_set_window); in_flight until then */
    _Atomic unsigned char *down;        /* per worker: lost, no replacement yet
                                           (pydron_exec_worker_lost / _ready) */
    _Atomic unsigned ndown;
    _Atomic int window_ready;           /* the arrays above exist (executor started) */
    const pydron_policy_ops *pops;      /* custom policy or NULL */
    void *pself;
    int policy_users;                   /* graphs running with the custom policy */
    const pydron_policy_factory *pfac;  /* custom policy factory or NULL */
    void *pfac_user;
    pydron_exec_host host;
    pydron_graph *graphs;               /* list of live graphs */
    unsigned ngraphs;
};

static inline int pdi_worker_usable(const pydron_runtime *rt, unsigned w)
{
    return !atomic_load_explicit(&rt->down[w], memory_order_relaxed) ||
           atomic_load_explicit(&rt->ndown, memory_order_relaxed) >= rt->nworkers;
}
static inline unsigned pdi_worker_window(const pydron_runtime *rt, unsigned w)
{
    unsigned n = atomic_load_explicit(&rt->window[w], memory_order_relaxed);
    return n ? n : rt->in_flight;
}

/* ---- runtime helpers ---- */
pydron_graph *pdi_rt_graph_by_tag(pydron_runtime *rt, uint32_t tag);
int pdi_rt_start_executor(pydron_runtime *rt);
/* A graph was canceled: the executor recalls queued jobs (no lock held). */
void pdi_exec_recall(pydron_runtime *rt);

#endif
