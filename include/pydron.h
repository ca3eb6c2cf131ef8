/*
 * pydron.h - the only public header of libpydron.
 *
 * libpydron holds a data-flow graph of tasks and values, lets a frontend
 * refine it while it runs, and schedules its tasks onto pluggable executors
 * (in-process inline / threads, local worker processes, remote workers).
 *
 * Conventions (see docs/c-api.md for the full contracts):
 *  - Every function that can fail returns int: 0 (PYDRON_OK) or a negative
 *    PYDRON_E* code. Results come back through out-parameters.
 *    pydron_error_last() gives the detail (see there for its lifetime).
 *  - Handles are opaque pointers (pydron_runtime *, pydron_graph *); tasks and
 *    values are small id structs. A stale or foreign id is an error
 *    (PYDRON_ESTALE), never a crash.
 *  - Options structs carry a version; initialise them with the _INIT macro or
 *    the _init() function so that fields can be added without breaking ABI.
 *  - Unless a function says otherwise, it is thread-safe.
 */
#ifndef PYDRON_H
#define PYDRON_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(PYDRON_STATIC)
#define PYDRON_API
#elif defined(_WIN32)
#ifdef PYDRON_BUILDING
#define PYDRON_API __declspec(dllexport)
#else
#define PYDRON_API __declspec(dllimport)
#endif
#elif defined(__GNUC__)
#define PYDRON_API __attribute__((visibility("default")))
#else
#define PYDRON_API
#endif

/* ------------------------------------------------------------------------
 * Version
 * ------------------------------------------------------------------------ */
#define PYDRON_VERSION_MAJOR 0
#define PYDRON_VERSION_MINOR 1
#define PYDRON_VERSION_PATCH 0
#define PYDRON_VERSION_NUMBER \
    (PYDRON_VERSION_MAJOR * 10000 + PYDRON_VERSION_MINOR * 100 + PYDRON_VERSION_PATCH)
#define PYDRON_VERSION_STRING "0.1.0"

/* Version of the library actually linked (compare with PYDRON_VERSION_NUMBER). */
PYDRON_API int pydron_version(void);
PYDRON_API const char *pydron_version_string(void);

/* ------------------------------------------------------------------------
 * Errors
 * ------------------------------------------------------------------------ */
typedef enum pydron_error {
    PYDRON_OK = 0,
    PYDRON_EINVAL = -1,     /* invalid argument (NULL, bad port, bad flags) */
    PYDRON_ENOMEM = -2,     /* out of memory */
    PYDRON_ESTALE = -3,     /* task/value id unknown, freed or from another graph */
    PYDRON_ESTATE = -4,     /* wrong state (graph closed, value already set, ...) */
    PYDRON_ECYCLE = -5,     /* the operation would create a cycle */
    PYDRON_ETIMEDOUT = -6,  /* a wait ran out of time */
    PYDRON_ETASK = -7,      /* the task producing a value failed (see message) */
    PYDRON_ECANCELED = -8,  /* the graph was stopped before the value was made */
    PYDRON_ENOTFOUND = -9,  /* no such kind/executor/policy/runner/symbol */
    PYDRON_EIO = -10,       /* system or transport error */
    PYDRON_EPROTO = -11,    /* malformed or incompatible wire message */
    PYDRON_EAUTH = -12,     /* authentication failed */
    PYDRON_ECLOSED = -13,   /* connection or object closed */
    PYDRON_ENOTSUP = -14,   /* not supported by this build or component */
    PYDRON_ERANGE = -15,    /* value out of range (e.g. tick order, sizes) */
    PYDRON_EEXIST = -16,    /* already exists (kind name, value already produced) */
    PYDRON_EBUSY = -17,     /* resource busy (e.g. freeing a running graph) */
    PYDRON_EINTR = -18      /* interrupted by pydron_graph_interrupt() */
} pydron_error;

/* Static English description of an error code; never NULL. */
PYDRON_API const char *pydron_strerror(int rc);

/* Detailed message of the calling thread's most recent call of a pydron_*
 * function that returns an error code (every int-returning function but
 * pydron_version): such a call clears it when it starts and sets it when it
 * fails. So right after a call returned 0 it is "", and after a failure it
 * describes that failure ("" if there is no more to say than
 * pydron_strerror(rc)); an older message never survives. Thread-local:
 * calls on other threads do not change it, but pydron_* calls made on this
 * thread by callbacks (task bodies run inline, refine callbacks) do. Never
 * NULL; the string stays readable during the next pydron_* call on this
 * thread (it may be passed to it, as in pydron_ctx_fail(ctx, "%s",
 * pydron_error_last())) and is overwritten by the one after. */
PYDRON_API const char *pydron_error_last(void);

/* Free memory that libpydron allocated and handed to the caller
 * (DOT text, copied value bytes, ...). NULL is fine. */
PYDRON_API void pydron_free(void *p);

/* The memory of a freed graph's task and value records (chunks of a few
 * MiB) is kept for the next graph of the process, so that building a large
 * graph does not take every page afresh from the kernel (a fault and a
 * zeroed page per 4 KiB). At most PYDRON_RECORD_CACHE_MB MiB (environment,
 * read once; 0 keeps none), else min(256 MiB, RAM / 16). Thread-safe.
 * pydron_memory_cached: the bytes kept now. pydron_memory_trim: gives them
 * back to the kernel; returns how many. pydron_memory_records: the bytes
 * of the chunks the live graphs of the process use (records are mapped
 * from the kernel, not malloc'd: mallinfo does not count them). */
PYDRON_API size_t pydron_memory_cached(void);
PYDRON_API size_t pydron_memory_trim(void);
PYDRON_API size_t pydron_memory_records(void);

/* ------------------------------------------------------------------------
 * Ids
 * ------------------------------------------------------------------------ */
/* 0 is never a valid id. Ids are not reused within a graph's lifetime. */
typedef struct pydron_task { uint64_t id; } pydron_task;
typedef struct pydron_value { uint64_t id; } pydron_value;

#define PYDRON_TASK_NONE ((pydron_task){0})
#define PYDRON_VALUE_NONE ((pydron_value){0})

/* ------------------------------------------------------------------------
 * Forward declarations
 * ------------------------------------------------------------------------ */
typedef struct pydron_runtime pydron_runtime;   /* executor + policy + kinds */
typedef struct pydron_graph pydron_graph;       /* one graph run on a runtime */
typedef struct pydron_task_ctx pydron_task_ctx; /* a running task body's view */
typedef struct pydron_refine pydron_refine;     /* a refinement in progress */

/* ------------------------------------------------------------------------
 * Task bodies: runners
 *
 * A runner executes the body of one task. It reads its inputs and payload
 * and writes its outputs through the pydron_task_ctx. The same runner code
 * serves in-process executors (inline, threads) and worker processes.
 * ------------------------------------------------------------------------ */

/* Number of inputs / outputs of the running task. */
PYDRON_API size_t pydron_ctx_ninputs(const pydron_task_ctx *ctx);
PYDRON_API size_t pydron_ctx_noutputs(const pydron_task_ctx *ctx);
/* Borrowed view of input i; valid until the body returns. */
PYDRON_API int pydron_ctx_input(const pydron_task_ctx *ctx, size_t i,
                                const void **data, size_t *len);
/* Borrowed view of the task's payload (the bytes given at pydron_task_add). */
PYDRON_API int pydron_ctx_payload(const pydron_task_ctx *ctx,
                                  const void **data, size_t *len);
/* Allocate output i with len bytes and return a writable pointer to it
 * (zero-copy). Calling it again for the same i replaces the output. */
PYDRON_API int pydron_ctx_output_alloc(pydron_task_ctx *ctx, size_t i,
                                       size_t len, void **data);
/* Copy len bytes into output i. */
PYDRON_API int pydron_ctx_output_set(pydron_task_ctx *ctx, size_t i,
                                     const void *data, size_t len);
/* One byte range of pydron_ctx_output_setv. */
typedef struct pydron_iov {
    const void *data;
    size_t len;
} pydron_iov;
/* Copy the concatenation of n byte ranges into output i (parts may be NULL
 * if n == 0). A large output is written straight into shared memory, which
 * is faster than pydron_ctx_output_alloc followed by memcpy. */
PYDRON_API int pydron_ctx_output_setv(pydron_task_ctx *ctx, size_t i,
                                      const pydron_iov *parts, size_t n);
/* Hand an existing buffer to output i without copying; free_fn(free_arg)
 * is called exactly once, from any thread, when the bytes are no longer
 * needed (free_fn may be NULL for static data). */
PYDRON_API int pydron_ctx_output_take(pydron_task_ctx *ctx, size_t i,
                                      const void *data, size_t len,
                                      void (*free_fn)(void *), void *free_arg);
/* The largest note (pydron_ctx_output_note). */
#define PYDRON_NOTE_MAX (16u << 20)
/* A note for output i: up to PYDRON_NOTE_MAX bytes (copied) that reach the
 * driver with the task's completion when the output's bytes do not: an
 * output larger than the inline limit stays on the worker process that
 * made it until someone reads it, and its note tells the driver at once
 * what it must know of it (the Python package sends the output a task
 * printed this way). Where the bytes come to the driver with the
 * completion (small outputs, in-process executors), the note is dropped:
 * the bytes must carry whatever it says too. Calling it again for the same
 * i replaces the note; len 0 removes it. */
PYDRON_API int pydron_ctx_output_note(pydron_task_ctx *ctx, size_t i, const void *data,
                                      size_t len);
/* Mark the task as failed with a message (printf-style; copied). The runner
 * should then return PYDRON_ETASK. An optional detail (e.g. a traceback or
 * a pickled exception) travels with the error as opaque bytes. */
PYDRON_API int pydron_ctx_fail(pydron_task_ctx *ctx, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
PYDRON_API int pydron_ctx_fail_detail(pydron_task_ctx *ctx, const void *detail,
                                      size_t len);
/* Kind name and attempt number (0 on first run, incremented on retries). */
PYDRON_API const char *pydron_ctx_kind_name(const pydron_task_ctx *ctx);
PYDRON_API unsigned pydron_ctx_attempt(const pydron_task_ctx *ctx);

/* A C task body linked into the host program (the "C runner").
 * Return 0 on success; on failure call pydron_ctx_fail and return a negative
 * code. Called on an executor thread; it may block (it occupies the thread). */
typedef int (*pydron_c_fn)(pydron_task_ctx *ctx, void *user);

/* Runner ops table. Contract:
 *  - run() is called on an executor thread (inline: the thread calling
 *    pydron_graph_wait or pydron_graph_run; threads: a pool thread; worker
 *    process: the worker's task thread). It may block; it must write every
 *    output or fail. Concurrent run() calls on the same self must be safe
 *    unless the kind sets PYDRON_KIND_SERIAL.
 *  - destroy() is called once when the runtime/worker that owns it is freed.
 */
#define PYDRON_RUNNER_OPS_VERSION 1
typedef struct pydron_runner_ops {
    unsigned version;                 /* PYDRON_RUNNER_OPS_VERSION */
    int (*run)(void *self, pydron_task_ctx *ctx);
    void (*destroy)(void *self);      /* may be NULL */
} pydron_runner_ops;

/* ------------------------------------------------------------------------
 * Runtime: kinds, executor and policy
 * ------------------------------------------------------------------------ */

/* Refine callback: called on the driver thread (inside pydron_graph_run /
 * pydron_graph_wait*) when a REFINABLE task's inputs are all ready. It reads
 * the inputs with pydron_refine_input(), adds the replacement subgraph with
 * pydron_refine_add_task() and binds every output of the replaced task with
 * pydron_refine_bind_output(). Returning non-zero (after pydron_refine_fail)
 * fails the task like a failing body. It must not call pydron_graph_wait*. */
typedef int (*pydron_refine_fn)(pydron_refine *r, void *user);

/* Kind flags */
#define PYDRON_KIND_SERIAL 0x1u /* run() of this kind is never called concurrently */

#define PYDRON_KIND_DESC_VERSION 1
typedef struct pydron_kind_desc {
    unsigned version;            /* PYDRON_KIND_DESC_VERSION */
    const char *name;            /* unique within the runtime; workers look up
                                    their runner by this name */
    const pydron_runner_ops *runner; /* NULL: tasks of this kind are refined or
                                        run by a worker-side runner only */
    void *runner_self;
    pydron_refine_fn refine;     /* NULL unless tasks of this kind are REFINABLE */
    void *refine_user;
    unsigned flags;              /* PYDRON_KIND_* */
} pydron_kind_desc;
#define PYDRON_KIND_DESC_INIT {PYDRON_KIND_DESC_VERSION, NULL, NULL, NULL, NULL, NULL, 0}

/* Built-in kind names (registered in every runtime and worker):
 *   "pydron.ffi": call a C function from a shared object through libffi; the
 *                 payload is made by pydron_ffi_payload(). */
#define PYDRON_KIND_FFI "pydron.ffi"

typedef enum pydron_executor_kind {
    PYDRON_EXECUTOR_INLINE = 0,  /* on the thread that waits; deterministic */
    PYDRON_EXECUTOR_THREADS = 1, /* in-process thread pool */
    PYDRON_EXECUTOR_LOCAL = 2,   /* worker processes on this machine */
    PYDRON_EXECUTOR_REMOTE = 3,  /* workers that dial in over tcp/tls */
    PYDRON_EXECUTOR_CUSTOM = 4   /* set by pydron_runtime_set_executor */
} pydron_executor_kind;

typedef enum pydron_policy_kind {
    PYDRON_POLICY_FIFO = 0,
    PYDRON_POLICY_CRITICAL_PATH = 1,
    PYDRON_POLICY_LOCALITY = 2,
    PYDRON_POLICY_CUSTOM = 3,       /* set by pydron_runtime_set_policy[_factory] */
    PYDRON_POLICY_HEFT = 4,         /* b-level (durations from the kind's history)
                                       with an earliest-start choice of task per worker */
    PYDRON_POLICY_WORK_STEALING = 5,/* a deque per worker (the one holding the largest
                                       input); idle workers steal the oldest task */
    PYDRON_POLICY_RANDOM = 6        /* any ready task, uniformly at random: a floor */
} pydron_policy_kind;

/* The built-in policy named `name` ("fifo", "critical-path", "locality",
 * "heft", "work-stealing", "random"; '_' may stand for '-'):
 * PYDRON_ENOTFOUND if there is none. */
PYDRON_API int pydron_policy_from_name(const char *name, pydron_policy_kind *out);
/* Static name of a built-in policy kind ("custom" for PYDRON_POLICY_CUSTOM,
 * NULL if unknown). */
PYDRON_API const char *pydron_policy_name(pydron_policy_kind kind);

#define PYDRON_RUNTIME_OPTIONS_VERSION 1
typedef struct pydron_runtime_options {
    unsigned version;           /* PYDRON_RUNTIME_OPTIONS_VERSION */
    pydron_executor_kind executor;
    pydron_policy_kind policy;
    unsigned workers;           /* threads or worker processes; 0 = cores */
    unsigned max_retries;       /* per task after a worker loss; 0 = default (3) */
    /* Process executors (local, remote) only: the fields from here to
     * heartbeat_ms are kept for callers built against 0.1 and read only
     * when no pydron_process_options is given; new code passes a
     * pydron_process_options to pydron_runtime_use_executor. */
    /* local executor */
    const char *worker_command; /* argv[0] of workers; NULL: see
                                   pydron_process_options.worker_command */
    const char *const *worker_args; /* extra args, NULL-terminated, or NULL */
    /* remote executor */
    const char *listen_url;     /* "tcp://127.0.0.1:0" by default */
    const char *secret;         /* shared secret; required for remote */
    const char *tls_cert_file;  /* PEM; enables tls+tcp:// with tls_key_file */
    const char *tls_key_file;
    const char *launch_command; /* template run once per worker, with {url}
                                   {secret_file} {id} {host} replaced; NULL: none */
    const char *const *launch_hosts; /* NULL-terminated hosts for {host} */
    unsigned heartbeat_ms;      /* 0 = default (1000) */
    unsigned in_flight;         /* tasks in flight per worker; 0 = default (64; the
                                   process executors then follow what they measure:
                                   enough to cover the round trip, few for long
                                   tasks; the threads executor keeps two groups of
                                   64 per thread while tasks are tiny;
                                   PYDRON_WINDOW fixes it there too) */
} pydron_runtime_options;

#define PYDRON_RUNTIME_OPTIONS_INIT \
    {PYDRON_RUNTIME_OPTIONS_VERSION, PYDRON_EXECUTOR_INLINE, PYDRON_POLICY_FIFO, \
     0, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0}
/* Fill opts with this header's defaults, as PYDRON_RUNTIME_OPTIONS_INIT does
 * (a macro over pydron_runtime_options_init_version, see "Growing structs"). */
PYDRON_API void pydron_runtime_options_init(pydron_runtime_options *opts);

/* Create a runtime. opts may be NULL (inline executor, FIFO policy). The
 * executor starts lazily, when the first graph starts. */
PYDRON_API int pydron_runtime_new(pydron_runtime **out, const pydron_runtime_options *opts);
/* Stop the executor (workers exit) and free everything. Graphs on this
 * runtime must have been freed before (else PYDRON_EBUSY). NULL is fine; a
 * runtime that was freed already gives PYDRON_ESTALE. */
PYDRON_API int pydron_runtime_free(pydron_runtime *rt);

/* Register a task kind; *out_kind receives its id. Kind ids are opaque and
 * belong to their runtime: another runtime refuses them (PYDRON_ENOTFOUND). */
PYDRON_API int pydron_runtime_register_kind(pydron_runtime *rt, const pydron_kind_desc *desc,
                                            uint32_t *out_kind);
/* Convenience: a kind whose body is the C function fn (the C runner). */
PYDRON_API int pydron_runtime_register_c(pydron_runtime *rt, const char *name,
                                         pydron_c_fn fn, void *user, uint32_t *out_kind);
/* Look up a registered kind by name. */
PYDRON_API int pydron_runtime_kind(pydron_runtime *rt, const char *name, uint32_t *out_kind);

/* Number of places tasks can run (threads count as one location;
 * processes count one each). Valid after the first graph started. */
PYDRON_API int pydron_runtime_nworkers(pydron_runtime *rt, unsigned *out);
/* Worker `worker`'s in-flight window now: how many jobs the core keeps
 * sent and not yet done there (what the executor measured it needs, else
 * in_flight), and whether it is down (lost, no replacement yet). ESTATE
 * before the executor started, EINVAL for a worker out of range. */
PYDRON_API int pydron_runtime_worker_window(pydron_runtime *rt, unsigned worker, unsigned *window,
                                            int *down);

/* ------------------------------------------------------------------------
 * Graph
 * ------------------------------------------------------------------------ */

/* Task flags */
#define PYDRON_TASK_PURE 0x1u      /* no side effects: may run on any worker */
#define PYDRON_TASK_SYNC 0x2u      /* runs on the driver thread in tick order */
#define PYDRON_TASK_REFINABLE 0x4u /* replaced via its kind's refine callback */
/* Not a property of the task but of the call: the task takes one of the
 * caller's references on each of its inputs (one per input slot: a value
 * given twice takes two), as if the caller released each input right after
 * the add - in the same call, under one lock. A loop that builds a chain
 * (add, then release the step before) saves a call and a lock per step.
 * If the caller does not hold enough references, the add fails with
 * PYDRON_ESTATE; a failed add takes nothing. May be combined with the
 * other flags (alone it means PURE). */
#define PYDRON_TASK_TAKE_INPUTS 0x8u

/* Tick modes for tasks added during refinement */
#define PYDRON_TICK_CHILD 0        /* tick = replaced task's tick + given components */
#define PYDRON_TICK_SUCCESSOR 1    /* tick = replaced task's tick with its last
                                      component incremented (loops: keeps depth
                                      constant); the given components must be empty */

#define PYDRON_TICK_MAX_DEPTH 32

#define PYDRON_TASK_DESC_VERSION 1
typedef struct pydron_task_desc {
    unsigned version;            /* PYDRON_TASK_DESC_VERSION */
    uint32_t kind;               /* from pydron_runtime_register_kind */
    unsigned flags;              /* PYDRON_TASK_*; PURE if 0 */
    size_t ninputs;
    const pydron_value *inputs;  /* values consumed, in port order */
    size_t noutputs;             /* number of output ports (values created) */
    const void *payload;         /* copied; interpreted by the runner/refiner */
    size_t payload_len;
    /* Tick: hierarchical position in the sequential program. At top level the
     * components are absolute; an empty tick gets the next top-level number.
     * Inside a refinement they are relative (see tick_mode). */
    const uint32_t *tick;
    size_t tick_len;
    int tick_mode;               /* PYDRON_TICK_CHILD / PYDRON_TICK_SUCCESSOR */
    double duration_hint;        /* seconds, for critical-path; 0 = unknown */
    const char *label;           /* for DOT/trace; copied; may be NULL */
} pydron_task_desc;
#define PYDRON_TASK_DESC_INIT \
    {PYDRON_TASK_DESC_VERSION, 0, 0, 0, NULL, 0, NULL, 0, NULL, 0, PYDRON_TICK_CHILD, 0.0, NULL}

/* Create an empty graph on a runtime. Not started yet: tasks can be added.
 * Task and value ids are unique among the live graphs of the process (at
 * most 4095 at once: PYDRON_ERANGE), so an id of another graph is
 * PYDRON_ESTALE. A freed runtime gives PYDRON_ESTALE. */
PYDRON_API int pydron_graph_new(pydron_runtime *rt, pydron_graph **out);
/* Cancel what is still pending, wait for running tasks to come back, free.
 * Must not be called from a task body or callback. NULL is fine; a graph
 * that was freed already gives PYDRON_ESTALE (as long as its address was
 * not reused by a new graph). */
PYDRON_API int pydron_graph_free(pydron_graph *g);

/* Add a task. out_task may be NULL. out_values must have room for
 * desc->noutputs values (may be NULL if noutputs == 0). Each created output
 * value carries one reference owned by the caller (release it with
 * pydron_value_release when no longer needed). Each input gains a reference
 * held until the task has run. Errors: EINVAL (bad desc), ESTALE (input id),
 * ENOTFOUND (kind), ESTATE (graph closed), ERANGE (SYNC tick smaller than an
 * already-started SYNC task). */
PYDRON_API int pydron_task_add(pydron_graph *g, const pydron_task_desc *desc,
                               pydron_task *out_task, pydron_value *out_values);
/* pydron_task_add of descs[0..n) in order, under one lock (for loops that
 * add many tiny tasks: the per-call cost of taking the graph lock goes).
 * out_tasks (may be NULL) gets n ids; out_values gets each task's outputs
 * one after the other (the sum of the noutputs). A task's outputs are
 * written before the next desc is read, so a desc's inputs may point into
 * out_values at outputs of earlier tasks of the batch (a chain in one
 * call). Not all or nothing: on an error, tasks 0..*added-1 were added
 * (their outputs are the caller's, as from pydron_task_add), the rest not,
 * and the message names the task. added may be NULL. */
PYDRON_API int pydron_task_add_many(pydron_graph *g, const pydron_task_desc *descs, size_t n,
                                    pydron_task *out_tasks, pydron_value *out_values,
                                    size_t *added);

/* A constant value: bytes copied now; ready immediately. Caller owns one ref. */
PYDRON_API int pydron_value_constant(pydron_graph *g, const void *data, size_t len,
                                     pydron_value *out);
/* Same without copying: free_fn(free_arg) is called once, from any thread,
 * when the bytes are no longer needed. */
PYDRON_API int pydron_value_constant_take(pydron_graph *g, const void *data, size_t len,
                                          void (*free_fn)(void *), void *free_arg,
                                          pydron_value *out);
/* An input supplied later with pydron_value_set / pydron_value_set_failed. */
PYDRON_API int pydron_value_input(pydron_graph *g, pydron_value *out);
PYDRON_API int pydron_value_set(pydron_graph *g, pydron_value v, const void *data, size_t len);
PYDRON_API int pydron_value_set_failed(pydron_graph *g, pydron_value v, const char *message);

/* References: a value's bytes are released once it has no reference left
 * (the caller's and those of consumers that have not run). */
PYDRON_API int pydron_value_retain(pydron_graph *g, pydron_value v);
PYDRON_API int pydron_value_release(pydron_graph *g, pydron_value v);
/* pydron_value_release of vs[0..n) under one lock (a value given k times
 * gives up k references). All or nothing: when one of them is not a live
 * value of g whose references the caller still holds, none is released and
 * the error names it. */
PYDRON_API int pydron_value_release_many(pydron_graph *g, const pydron_value *vs, size_t n);

typedef enum pydron_value_state {
    PYDRON_VALUE_PENDING = 0,  /* not produced yet */
    PYDRON_VALUE_READY = 1,    /* produced; bytes available (maybe remote) */
    PYDRON_VALUE_FAILED = 2,   /* its producer failed or was canceled */
    PYDRON_VALUE_RELEASED = 3  /* produced, and its bytes were freed */
} pydron_value_state;

PYDRON_API int pydron_value_state_get(pydron_graph *g, pydron_value v, pydron_value_state *out);
/* Size in bytes of a ready value. */
PYDRON_API int pydron_value_size(pydron_graph *g, pydron_value v, size_t *out);
/* The note that came with the value from the worker that holds its bytes
 * (pydron_ctx_output_note): a borrowed view, valid while the caller holds
 * a reference to v; *data NULL and *len 0 when it has none. 0, or EINVAL,
 * ESTALE. */
PYDRON_API int pydron_value_note(pydron_graph *g, pydron_value v, const void **data, size_t *len);

/* Borrowed view of a ready value's bytes, fetched to the driver if they live
 * on a worker. The view stays valid while the caller holds a reference to v.
 * Errors: ESTATE if pending, ETASK if failed (message names task and error). */
PYDRON_API int pydron_value_bytes(pydron_graph *g, pydron_value v, const void **data, size_t *len);

/* Bring a ready value's bytes to the driver, waiting at most timeout_ms
 * (-1: as long as it takes): 0 once they are here (pydron_value_bytes then
 * returns at once), PYDRON_ETIMEDOUT if they are still on their way (the
 * fetch goes on; call again). For callers that must stay responsive while
 * a value crosses, e.g. to signals: wait in slices. Errors as
 * pydron_value_bytes (ESTATE if pending: wait for it first, also after a
 * value lost with its worker is being made again). Any thread but a task
 * body's. */
PYDRON_API int pydron_value_fetch(pydron_graph *g, pydron_value v, int timeout_ms);

/* The bytes of a ready value that are on the driver already, without
 * waiting and without other work: 0 with the borrowed view set (valid as
 * for pydron_value_bytes); 1 when there is nothing to hand out now (pending,
 * failed, released, or still on its worker: ask pydron_value_state_get and
 * pydron_value_bytes), *data and *len untouched. For callers that decode
 * many small results in a row and must not pay a wait's set-up for each.
 * Errors: EINVAL, ESTALE. Thread-safe. */
PYDRON_API int pydron_value_peek(pydron_graph *g, pydron_value v, const void **data, size_t *len);

/* A fresh private, writable, copy-on-write mapping of a ready value's bytes
 * (fetched to the driver first, like pydron_value_bytes), without copying
 * them: writes go to private copies of the touched pages and never reach
 * the value or other mappings. Only for values held in shared memory
 * (large ones, docs/wire.md "Shared memory"); others: PYDRON_ENOTSUP (the
 * caller copies pydron_value_bytes instead). The mapping stays valid after
 * the value and the graph are gone; undo it with pydron_value_unmap(*addr,
 * *len). Thread-safe. Errors as pydron_value_bytes, plus ENOTSUP, ENOMEM. */
PYDRON_API int pydron_value_map_private(pydron_graph *g, pydron_value v, void **addr,
                                        size_t *len);
/* Unmap a mapping made by pydron_value_map_private (EINVAL if it is not one). */
PYDRON_API int pydron_value_unmap(void *addr, size_t len);

/* Failure details of a FAILED value: the failed task, its message (copied into
 * *message, free with pydron_free) and the optional detail bytes (may be NULL;
 * free with pydron_free). Any out-parameter may be NULL. */
PYDRON_API int pydron_value_error(pydron_graph *g, pydron_value v, pydron_task *task,
                                  char **message, void **detail, size_t *detail_len);

/* The producer task of a value and the kind/flags/label of a task. */
PYDRON_API int pydron_value_producer(pydron_graph *g, pydron_value v, pydron_task *out);

typedef enum pydron_task_state {
    PYDRON_TASK_WAITING = 0,   /* inputs not ready */
    PYDRON_TASK_READY = 1,     /* queued for an executor or the driver */
    PYDRON_TASK_RUNNING = 2,
    PYDRON_TASK_DONE = 3,
    PYDRON_TASK_FAILED = 4,
    PYDRON_TASK_REFINED = 5,   /* replaced by a subgraph */
    PYDRON_TASK_CANCELED = 6
} pydron_task_state;
PYDRON_API int pydron_task_state_get(pydron_graph *g, pydron_task t, pydron_task_state *out);

/* ------------------------------------------------------------------------
 * Running
 *
 * The "driver thread" is the thread that calls pydron_graph_run or
 * pydron_graph_wait*; SYNC task bodies, refine callbacks and (with the inline
 * executor) all task bodies run on it, inside those calls. Other tasks run
 * on executor threads or workers as soon as they are ready.
 * ------------------------------------------------------------------------ */

/* Start scheduling. Tasks may still be added after this. */
PYDRON_API int pydron_graph_start(pydron_graph *g);
/* Wait until value v is READY or FAILED, running driver work meanwhile.
 * timeout_ms < 0 waits forever. Returns 0, ETASK (failed), ETIMEDOUT,
 * ECANCELED, EINTR. Starts the graph if needed. */
PYDRON_API int pydron_graph_wait(pydron_graph *g, pydron_value v, int timeout_ms);
/* Wait for every task added so far (and the ones they spawn) to finish.
 * Returns 0 even if tasks failed (failures live in their values). */
PYDRON_API int pydron_graph_run(pydron_graph *g, int timeout_ms);
/* No more tasks will be added (adding fails with ESTATE afterwards). */
PYDRON_API int pydron_graph_close(pydron_graph *g);
/* Cancel everything not yet running; pending values become FAILED with
 * ECANCELED. */
PYDRON_API int pydron_graph_cancel(pydron_graph *g);
/* Make a concurrent pydron_graph_wait or pydron_graph_run on another thread return EINTR
 * (safe from signal-handling threads; not async-signal-safe). */
PYDRON_API int pydron_graph_interrupt(pydron_graph *g);

/* ------------------------------------------------------------------------
 * Refinement (only valid inside a refine callback)
 * ------------------------------------------------------------------------ */
PYDRON_API pydron_graph *pydron_refine_graph(pydron_refine *r);
PYDRON_API pydron_task pydron_refine_task(pydron_refine *r);       /* replaced task */
PYDRON_API size_t pydron_refine_ninputs(pydron_refine *r);
PYDRON_API size_t pydron_refine_noutputs(pydron_refine *r);
/* Input value ids of the replaced task (usable as inputs of new tasks). */
PYDRON_API int pydron_refine_input_value(pydron_refine *r, size_t i, pydron_value *out);
/* Bytes of input i (ready by construction). */
PYDRON_API int pydron_refine_input(pydron_refine *r, size_t i, const void **data, size_t *len);
PYDRON_API int pydron_refine_payload(pydron_refine *r, const void **data, size_t *len);
/* Add a task of the replacement subgraph; its tick is relative to the
 * replaced task (desc->tick_mode). Output refs belong to the callback (release
 * what you do not bind). */
PYDRON_API int pydron_refine_add_task(pydron_refine *r, const pydron_task_desc *desc,
                                      pydron_task *out_task, pydron_value *out_values);
/* A constant inside the refinement (caller owns one ref). */
PYDRON_API int pydron_refine_constant(pydron_refine *r, const void *data, size_t len,
                                      pydron_value *out);
/* Output i of the replaced task becomes value v (a subgraph output, a
 * constant or one of the replaced task's inputs). Every output must be bound
 * before the callback returns 0. */
PYDRON_API int pydron_refine_bind_output(pydron_refine *r, size_t i, pydron_value v);
PYDRON_API int pydron_refine_fail(pydron_refine *r, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;

/* ------------------------------------------------------------------------
 * Scheduling policies
 *
 * Contract: all policy ops are called with the graph's scheduler lock held,
 * on any thread; they must not block or call back into pydron_graph_* or
 * pydron_task_*. push() gets every task that became ready (PURE tasks only:
 * SYNC tasks and refinements go to the driver in tick order). pick() is
 * asked for a task to send to a worker that has room; it returns 1 and sets
 * *out, or 0 if it has none for that worker.
 * ------------------------------------------------------------------------ */
typedef struct pydron_sched_task {
    pydron_task task;
    uint32_t kind;
    double duration;        /* declared hint, else measured mean of its kind, else 0 */
    double bottom_level;    /* longest remaining path in seconds (estimate) */
    uint64_t seq;           /* order in which tasks became ready */
    size_t ninputs;
    const uint64_t *input_sizes;  /* bytes of each input */
    const int32_t *input_where;   /* worker holding each input, -1 = driver/any */
} pydron_sched_task;

#define PYDRON_POLICY_OPS_VERSION 1
typedef struct pydron_policy_ops {
    unsigned version;        /* PYDRON_POLICY_OPS_VERSION */
    const char *name;
    int (*push)(void *self, const pydron_sched_task *t);
    /* worker: 0..nworkers-1. */
    int (*pick)(void *self, unsigned worker, pydron_task *out);
    /* remove a task that was canceled before it was picked (may be NULL) */
    void (*remove)(void *self, pydron_task t);
    void (*destroy)(void *self);  /* may be NULL */
} pydron_policy_ops;

/* Replace the runtime's policy (before the first graph starts). The one
 * instance serves one graph at a time (a second graph: PYDRON_EBUSY); use a
 * factory for a policy that serves several graphs. */
PYDRON_API int pydron_runtime_set_policy(pydron_runtime *rt, const pydron_policy_ops *ops,
                                         void *self);

/* A policy factory makes one policy instance per graph, so that one custom
 * policy serves any number of graphs, each with its own state (the built-in
 * policies work this way).
 *   create(user, g, ops, self): called by pydron_graph_new on the calling
 *     thread, no lock held; sets *ops (same contract as above) and *self for
 *     graph g (which only names the graph here: do not call functions on
 *     it), or returns a negative PYDRON_E... (pydron_graph_new fails with
 *     it). ops->destroy(self), if set, is called when g is freed.
 *   destroy(user): called when the runtime is freed or the factory
 *     replaced (may be NULL).
 * Set it before the first graph is created (else PYDRON_ESTATE); it replaces
 * a policy set with pydron_runtime_set_policy and vice versa. */
#define PYDRON_POLICY_FACTORY_VERSION 1
typedef struct pydron_policy_factory {
    unsigned version;        /* PYDRON_POLICY_FACTORY_VERSION */
    const char *name;
    int (*create)(void *user, pydron_graph *g, const pydron_policy_ops **ops, void **self);
    void (*destroy)(void *user);
} pydron_policy_factory;

/* Give every graph rt creates from now on a policy made by factory (the
 * contract above); user is passed to its create and destroy. */
PYDRON_API int pydron_runtime_set_policy_factory(pydron_runtime *rt,
                                                 const pydron_policy_factory *factory,
                                                 void *user);

/* ------------------------------------------------------------------------
 * Executors
 *
 * An executor runs jobs (one task each) somewhere: on the driver thread, a
 * thread pool, worker processes, another engine. The core talks to it only
 * through the ops table below, and an executor written outside libpydron
 * against this header alone works like a shipped one (the test suite runs
 * one: tests/c/oot_executor.c).
 *
 * Ownership. The core owns every pydron_job. Between submit() and
 * pydron_job_done() the executor may read the job (pydron_job_*) and set
 * its results; input bytes are borrowed until then; after pydron_job_done()
 * it must not touch the job. `self` belongs to the runtime once it has been
 * handed over (pydron_runtime_set_executor, or a registered factory):
 * destroy() frees it.
 *
 * Threads, locks and blocking (no pydron lock is held during an op unless
 * it says so):
 *  - start(self, host, &nworkers, &in_flight): once, on the thread that
 *    starts the first graph, before any submit. It returns the number of
 *    workers (locations) and the jobs each may hold in flight. May block
 *    (spawning processes, waiting for them to join).
 *  - submit(self, jobs, n, worker): on any thread that dispatches (a driver
 *    thread, or an executor thread inside pydron_job_done). MUST NOT BLOCK:
 *    not on task execution, not on a worker coming back, not on I/O; hand
 *    the work to the executor's own threads. A negative return means none
 *    was taken (the core fails them); else every job comes back through
 *    pydron_job_done().
 *  - pydron_job_done(j, rc): exactly once per job, from any thread (also
 *    inside submit or poll). It takes the graph lock briefly and may call
 *    submit() again on the same thread: do not hold a lock of your own that
 *    submit() takes while calling it.
 *  - poll(self, timeout_ms): on the driver thread while it waits (may be
 *    NULL). An executor that runs work on the driver thread (inline) does it
 *    here and returns within about max(timeout_ms, 1) ms (after at least one
 *    job, if any), so that pydron_graph_wait keeps its deadline. Returns the
 *    number of jobs it finished.
 *  - fetch(self, v, worker): any thread, no lock held; start bringing a
 *    remote value's bytes to the driver and report them later with
 *    pydron_exec_fetched() (from any thread). Must not wait for the bytes.
 *  - release(self, v, worker): called WITH the graph lock held, on any
 *    thread: forget a remote value. MUST NOT BLOCK and must not call into
 *    pydron; queue it for the executor's own thread.
 *  - recall(self) (ops version >= 2, may be NULL): a graph was canceled or is
 *    being freed. Report every job of yours that has not started and for
 *    which pydron_job_canceled() is true with pydron_job_done(j,
 *    PYDRON_ECANCELED) BEFORE returning (so that pydron_graph_cancel is
 *    synchronous); jobs already running may finish normally. Called on the
 *    canceling thread, no lock held; must not wait for running jobs.
 *  - stop(self): once, when the runtime is freed; ends all work and joins
 *    threads and processes; jobs still outstanding come back with
 *    PYDRON_ECANCELED. May block. destroy(self): frees self (after stop, or
 *    without start); may be NULL.
 *  - fetch and release may be NULL for in-process executors (values are
 *    always in the driver's memory).
 * ------------------------------------------------------------------------ */
typedef struct pydron_job pydron_job;          /* one task handed to an executor */
typedef struct pydron_exec_host pydron_exec_host; /* the core, as seen by executors */

/* What an executor may read of a job. */
PYDRON_API pydron_task pydron_job_task(const pydron_job *j);
PYDRON_API const char *pydron_job_kind_name(const pydron_job *j);
PYDRON_API unsigned pydron_job_attempt(const pydron_job *j);
PYDRON_API int pydron_job_payload(const pydron_job *j, const void **data, size_t *len);
PYDRON_API size_t pydron_job_ninputs(const pydron_job *j);
PYDRON_API size_t pydron_job_noutputs(const pydron_job *j);
/* Input i: its value id, size, the worker holding it (-1: bytes are on the
 * driver, then data/len are set), borrowed until pydron_job_done. */
PYDRON_API int pydron_job_input(const pydron_job *j, size_t i, pydron_value *v, size_t *size,
                                int32_t *where, const void **data, size_t *len);
/* Output value ids (so a worker can store outputs under them). */
PYDRON_API int pydron_job_output_value(const pydron_job *j, size_t i, pydron_value *out);
/* 1 if the job's graph was canceled or is being freed: the executor should
 * then report the job with pydron_job_done(j, PYDRON_ECANCELED) instead of
 * running it. Any thread, no lock needed; a job not yet done only. */
PYDRON_API int pydron_job_canceled(const pydron_job *j);
/* Run the job's body right here with the runtime's runner for its kind
 * (in-process executors). Fills the job's outputs or error; then call
 * pydron_job_done(j, rc). */
PYDRON_API int pydron_job_run_local(pydron_job *j);
/* Record a remote result before pydron_job_done: output i lives on worker
 * `where` with `size` bytes. */
PYDRON_API int pydron_job_set_output_remote(pydron_job *j, size_t i, int32_t where, size_t size);
/* The note that came with remote output i (pydron_ctx_output_note; copied,
 * at most PYDRON_NOTE_MAX bytes): call after pydron_job_set_output_remote
 * for that output. pydron_value_note reads it on the driver. */
PYDRON_API int pydron_job_set_output_note(pydron_job *j, size_t i, const void *data, size_t len);
PYDRON_API int pydron_job_set_output_bytes(pydron_job *j, size_t i, const void *data, size_t len,
                                           void (*free_fn)(void *), void *free_arg);
PYDRON_API int pydron_job_set_error(pydron_job *j, const char *message, const void *detail,
                                    size_t detail_len);
/* Timings measured where the job ran (ns, CLOCK_REALTIME-independent
 * durations are fine; 0 = unknown). */
PYDRON_API int pydron_job_set_times(pydron_job *j, uint64_t start_ns, uint64_t end_ns);
/* rc: 0 = success (outputs set), PYDRON_ETASK = body failed (error set),
 * PYDRON_ECANCELED = not run, PYDRON_EIO = worker lost (the core retries
 * up to max_retries). After this call the job must not be touched. */
PYDRON_API void pydron_job_done(pydron_job *j, int rc);
/* pydron_job_done for n jobs at once: jobs[i] finished with rcs[i] (NULL
 * entries are skipped). Same contract as n calls in that order, but the
 * graph lock is taken, changes are acted on and more work is submitted once
 * per run of consecutive jobs of the same graph, not once per job: the way
 * to report tiny tasks that finished together (a batch run on one thread, a
 * completion frame with many results). After this call none of the jobs
 * may be touched. Any thread; hold no lock that submit() takes. */
PYDRON_API void pydron_jobs_done(pydron_job *const *jobs, const int *rcs, size_t n);
/* The job did not run and goes back to the scheduler uncharged (no
 * attempt counted): its worker was lost before it started, an input it
 * needs could not be reached, or it was taken back from a busy worker for
 * an idle one. The core prepares it again with its inputs' current places
 * (a value lost with its worker is made again first) and sends it to a
 * worker that is up. A task returned more than 64 times counts each
 * further return as a lost run (PYDRON_EIO), so that it cannot go round
 * for ever. After this call the job must not be touched. Any thread; hold
 * no lock that submit() takes. */
PYDRON_API void pydron_job_requeue(pydron_job *j);
/* The executor runs job j on `worker` instead of the worker it was
 * submitted to (an idle worker took it from a busy one's queue): the core
 * counts it against that worker's in-flight jobs from now on, so that
 * neither gets more or less work than the window allows. The job's
 * outputs are placed where its completion says. 0, or EINVAL for a worker
 * out of range. Any thread; hold no lock that submit() takes. */
PYDRON_API int pydron_job_moved(pydron_job *j, unsigned worker);

/* Host services for executors */
/* A worker is gone: the core re-runs its jobs in flight and recomputes values
 * that lived only there and are still needed. */
PYDRON_API void pydron_exec_worker_lost(pydron_exec_host *h, unsigned worker);
/* Worker slot `worker`, lost before (pydron_exec_worker_lost), has a
 * replacement: it gets work again (queued tasks are sent to it now). Until
 * then the core gives a lost worker nothing, unless every worker is lost
 * (the executor then keeps the jobs until one is back). Any thread; hold no
 * lock that submit() takes. */
PYDRON_API void pydron_exec_worker_ready(pydron_exec_host *h, unsigned worker);
/* How many jobs the core keeps in flight on `worker` (sent and not yet
 * done); 0 = the runtime's in_flight. An executor that measures its round
 * trip and task durations sets it (the process executors keep enough jobs
 * in flight to cover the round trip, and few when tasks are long). Valid
 * once start() has returned; any thread, no lock. EINVAL for a worker out
 * of range or before start. */
PYDRON_API int pydron_exec_set_window(pydron_exec_host *h, unsigned worker, unsigned depth);
/* Wake the driver thread (e.g. from an I/O thread after a job completed). */
PYDRON_API void pydron_exec_wake(pydron_exec_host *h);
/* Called by fetch() implementations when bytes arrived (or rc < 0). */
PYDRON_API void pydron_exec_fetched(pydron_exec_host *h, pydron_value v, int rc,
                                    const void *data, size_t len,
                                    void (*free_fn)(void *), void *free_arg);

#define PYDRON_EXECUTOR_OPS_VERSION 2
typedef struct pydron_executor_ops {
    unsigned version;   /* PYDRON_EXECUTOR_OPS_VERSION (1: no recall) */
    const char *name;
    int (*start)(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight);
    int (*submit)(void *self, pydron_job *const *jobs, size_t n, unsigned worker);
    int (*poll)(void *self, int timeout_ms);              /* may be NULL */
    int (*fetch)(void *self, pydron_value v, unsigned worker); /* may be NULL */
    void (*release)(void *self, pydron_value v, unsigned worker); /* may be NULL */
    void (*stop)(void *self);
    void (*destroy)(void *self);                          /* may be NULL */
    void (*recall)(void *self);                           /* version >= 2; may be NULL */
} pydron_executor_ops;

/* Use a custom executor (before the first graph starts). */
PYDRON_API int pydron_runtime_set_executor(pydron_runtime *rt, const pydron_executor_ops *ops,
                                           void *self);

/* Executor registry (process-wide). An executor is registered under a name
 * with a factory; a runtime then uses it by name. The shipped executors
 * ("inline", "threads", "local", "remote") are registered when the first
 * runtime is created; pydron_runtime_options.executor selects one of them.
 *
 * create() is called by pydron_runtime_new (for the shipped ones) or by
 * pydron_runtime_use_executor, on the caller's thread. It reads opts (never
 * NULL; the generic options) and exec_options (executor-specific, may be
 * NULL; for the process executors a pydron_process_options *), copies what
 * it keeps, and returns the ops table and a fresh self. The runtime then
 * owns self: it calls stop() (if started) and destroy() when it is freed or
 * the executor is replaced. */
typedef int (*pydron_executor_create_fn)(void *user, const pydron_runtime_options *opts,
                                         const void *exec_options,
                                         const pydron_executor_ops **ops, void **self);
#define PYDRON_EXECUTOR_DESC_VERSION 1
typedef struct pydron_executor_desc {
    unsigned version;                 /* PYDRON_EXECUTOR_DESC_VERSION */
    const char *name;                 /* unique in the process; copied */
    pydron_executor_create_fn create;
    void *user;                       /* passed to create(); not owned */
} pydron_executor_desc;
#define PYDRON_EXECUTOR_DESC_INIT {PYDRON_EXECUTOR_DESC_VERSION, NULL, NULL, NULL}

/* Register an executor factory. PYDRON_EEXIST if the name is taken. */
PYDRON_API int pydron_executor_register(const pydron_executor_desc *desc);
/* Replace rt's executor by a new instance of the registered executor `name`
 * (before the first graph is created; PYDRON_ENOTFOUND if unknown). */
PYDRON_API int pydron_runtime_use_executor(pydron_runtime *rt, const char *name,
                                           const void *exec_options);

/* Options of the process executors ("local", "remote"), passed as
 * exec_options to pydron_runtime_use_executor. They replace the
 * process-only fields of pydron_runtime_options (worker_command ...
 * heartbeat_ms), which are still honoured when exec_options is NULL, so that
 * callers built against 0.1 keep working. Strings are copied. Initialise
 * with PYDRON_PROCESS_OPTIONS_INIT or pydron_process_options_init(o,
 * PYDRON_PROCESS_OPTIONS_VERSION): the library then reads only the fields
 * that the given version has. */
#define PYDRON_PROCESS_OPTIONS_VERSION 4
typedef struct pydron_process_options {
    unsigned version;                /* PYDRON_PROCESS_OPTIONS_VERSION */
    /* local: the worker program. NULL: $PYDRON_WORKER, else pydron-worker
     * next to libpydron or the executable, in ../bin, in the install
     * prefix, then on PATH (a clear error names the places tried) */
    const char *worker_command;
    const char *const *worker_args;  /* extra args, NULL-terminated, or NULL */
    /* remote */
    const char *listen_url;          /* "tcp://127.0.0.1:0" by default */
    const char *secret;              /* shared secret; required for remote
                                        (else $PYDRON_SECRET) */
    const char *tls_cert_file;       /* PEM; enables tls+tcp:// with tls_key_file */
    const char *tls_key_file;
    const char *launch_command;      /* template run once per worker, with {url}
                                        {secret_file} {id} {host} replaced */
    const char *const *launch_hosts; /* NULL-terminated hosts for {host} */
    unsigned heartbeat_ms;           /* 0 = default (1000) */
    /* A task whose kind no worker has a runner for (a C function of the
     * host program) fails with a message saying so (0, the default). 1: it
     * runs in the driver process instead, after a one-time warning. */
    int run_unknown_kinds_in_driver;
    /* Version 2. How long tasks wait for a live worker when every worker
     * is gone (a lost remote worker may be restarted by whoever started
     * it, a local one is restarted by the driver); after that they fail
     * with a message saying that worker capacity is gone. 0 = default:
     * $PYDRON_WORKER_WAIT_MS, else 30000. Only runs that started on a
     * worker count against max_retries; waiting costs no attempt. */
    unsigned worker_wait_ms;
    /* Version 3. Who starts the remote executor's workers (its launcher):
     * NULL = $PYDRON_CLUSTER, else nobody (workers dial in by themselves;
     * launch_command, when set, is run per worker as with "command");
     * "ssh": OpenSSH (BatchMode) to each of launch_hosts, given as "host",
     * "user@host" or "host:N" (N workers; without N and with workers 0,
     * the host is asked for its CPU count); "command": launch_command, a
     * /bin/sh command with {url} {secret_file} {n} {host} {id} replaced,
     * run once per host (or once in all, without hosts) when it contains
     * {n}, else once per worker; other launchers (slurm, mpi) by name.
     * Launched commands get the secret as one line on stdin (never in
     * argv); a launcher makes a fresh secret when none is given; workers
     * stop when the executor stops. A launcher listens on tcp://0.0.0.0:0
     * unless listen_url is set, and hands each host an address it can
     * dial. */
    const char *cluster;
    /* extra arguments for the launcher's program, NULL-terminated, or
     * NULL: ssh options (-p PORT, -i KEY, -F CONFIG), srun options */
    const char *const *launch_args;
    /* how long start waits for every worker to join; 0 =
     * $PYDRON_CONNECT_TIMEOUT_MS, else 60000 for remote, 15000 for local.
     * A launched command that fails ends the wait at once, and the error
     * says how many workers joined and what each host's command printed. */
    unsigned join_timeout_ms;
    /* kind names every worker must run, NULL-terminated, or NULL: a
     * worker without a runner for one of them is refused at its handshake
     * with a message naming the kind (the Python binding requires
     * "python", so a C pydron-worker cannot take Python tasks) */
    const char *const *required_kinds;
    /* Version 4. How many times a lost worker's slot is restarted by the
     * launcher that started it (ssh, command, slurm; local workers are
     * always restarted), with a growing back-off: -1 = default
     * ($PYDRON_WORKER_RESTARTS, else 8), 0 = never (a lost worker's
     * capacity is gone at once). */
    int worker_restarts;
} pydron_process_options;
#define PYDRON_PROCESS_OPTIONS_INIT \
    {PYDRON_PROCESS_OPTIONS_VERSION, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, 0, 0, 0, \
     NULL, NULL, 0, NULL, -1}
/* Fill o with the defaults of `version` (1..PYDRON_PROCESS_OPTIONS_VERSION),
 * writing only the fields that version has. */
PYDRON_API int pydron_process_options_init(pydron_process_options *o, unsigned version);

/* ------------------------------------------------------------------------
 * Benchmark tasks, graph patterns and the simulated executor
 *
 * "pydron.bench" is a built-in kind (registered in every runtime and
 * worker, like "pydron.ffi") whose task waits (busy or asleep) for a given
 * time and writes outputs of a given size: the synthetic task of Task Bench
 * (Slaughter et al., SC'20). Its payload is a pydron_bench_task. Every
 * output i is output_bytes long; its first min(8, output_bytes) bytes are
 * the little-endian digest pydron_bench_digest(seed, i, inputs) and the
 * rest are zero, so a run's results depend on every edge of the graph and
 * any two executors or policies must agree on them.
 * ------------------------------------------------------------------------ */
#define PYDRON_KIND_BENCH "pydron.bench"
#define PYDRON_BENCH_MAGIC 0x48434e42u /* "BNCH" */
typedef struct pydron_bench_task {
    uint32_t magic;          /* PYDRON_BENCH_MAGIC */
    uint32_t version;        /* 1 */
    uint64_t duration_ns;    /* busy wait (wall clock) */
    uint64_t output_bytes;   /* size of every output */
    uint64_t seed;           /* mixed into the output digests */
    uint32_t kernel;         /* PYDRON_BENCH_BUSY or PYDRON_BENCH_SLEEP */
    uint32_t reserved;       /* 0 */
} pydron_bench_task;
#define PYDRON_BENCH_BUSY 0u  /* spin on the clock (Task Bench's busy_wait): uses a core */
#define PYDRON_BENCH_SLEEP 1u /* sleep: the task's time without using a core, so that
                                 runs on a shared machine measure the runtime, not the load */
/* Digest of output `out` of a bench task: mixes seed, out and the digests
 * of its inputs (an input's digest is its first 8 bytes, little endian,
 * zero-padded; an empty input counts as 0). Pure function. */
PYDRON_API uint64_t pydron_bench_digest(uint64_t seed, size_t out, const uint64_t *inputs,
                                        size_t ninputs);

/* Task Bench's dependence patterns, built from bench tasks.
 *   trivial     width x steps independent tasks
 *   no-comm     width chains: point x of step t reads point x of step t-1
 *   stencil-1d  x reads x-1, x, x+1 of the step before
 *   nearest     x reads the `radix` points centred on x of the step before
 *   spread      x reads `radix` points spread over the width (x + i*width/radix
 *               + a shift that changes with the step), wrapping around
 *   fft         butterfly: x reads x and x +- 2^(t-1 mod log2 width)
 *   tree        fan-out: step t has min(width, 2^t) points, x reads x/2
 *   random      x reads 1..radix random points of the step before (seeded)
 * Tasks of step 0 have no inputs. */
#define PYDRON_PATTERN_VERSION 1
typedef struct pydron_pattern {
    unsigned version;        /* PYDRON_PATTERN_VERSION */
    const char *name;        /* one of the names above ('_' for '-' is fine) */
    unsigned width;          /* points per step (>= 1) */
    unsigned steps;          /* steps (>= 1) */
    double duration;         /* seconds per task (busy wait) */
    uint64_t output_bytes;   /* size of every task's output */
    unsigned radix;          /* nearest/spread/random: inputs per task; 0 = 3 */
    uint64_t seed;           /* random pattern, imbalance and digests */
    double imbalance;        /* 0: every task takes `duration`; f in (0,1]: uniform
                                in [duration*(1-f), duration*(1+f)], seeded */
    unsigned kernel;         /* PYDRON_BENCH_BUSY (0) or PYDRON_BENCH_SLEEP */
} pydron_pattern;
#define PYDRON_PATTERN_INIT {PYDRON_PATTERN_VERSION, "trivial", 1, 1, 0.0, 8, 0, 1, 0.0, 0}

/* Add pattern p to graph g of runtime rt (PURE "pydron.bench" tasks, each
 * with its duration as hint and a label "name[t,x]"). The values of the last
 * step go to last[0..min(nlast, width of the last step)-1] (the caller owns
 * one reference to each); the rest are released. *ntasks (may be NULL)
 * receives the number of tasks added. EINVAL for an unknown name or bad
 * sizes (the message says which). */
PYDRON_API int pydron_pattern_build(pydron_runtime *rt, pydron_graph *g, const pydron_pattern *p,
                                    pydron_value *last, size_t nlast, size_t *ntasks);

/* The simulated executor ("sim", registered with the shipped ones): the
 * real scheduler and policy drive it, but tasks run on N simulated workers
 * of C cores each against a virtual clock, with a network model (latency +
 * max-min fair sharing of each node's up and down bandwidth). Deterministic:
 * the same graph, options and seed give the same virtual times.
 *  - A "pydron.bench" task takes its payload's duration and makes its
 *    outputs on its worker (the driver can still read them: their bytes are
 *    made on demand from the digests), without running anything.
 *  - Other tasks run their body on the driver thread inside
 *    pydron_graph_wait/run (like the inline executor); their virtual duration
 *    is what cost() says, else the measured run time; their outputs stay on
 *    the driver (a task of another kind that reads a bench output fails).
 *  - A job sent to a worker arrives after driver_overhead (the driver
 *    handles one job at a time) + latency; a worker runs its jobs in arrival
 *    order, each on a free core: it fetches the inputs that are elsewhere
 *    (latency + size over the shared bandwidth; inputs held by the driver
 *    travel with the job), then runs for task_overhead + duration; the
 *    completion reaches the driver after latency.
 *  - The driver keeps as many jobs in flight per worker as the local and
 *    remote executors would (in_flight below), so that dependent tasks wait
 *    for their dispatch as they do there.
 * python -m pydron.bench measures driver_overhead, latency and task_overhead
 * on the local executor before it compares (docs/schedulers.md).
 * Task timings (pydron_graph_timings) carry virtual times in ns. */
#define PYDRON_SIM_OPTIONS_VERSION 1
typedef struct pydron_sim_options {
    unsigned version;            /* PYDRON_SIM_OPTIONS_VERSION */
    unsigned workers;            /* 0: pydron_runtime_options.workers, else 4 */
    unsigned cores;              /* per worker; 0 = 1 */
    unsigned in_flight;          /* jobs per worker; 0: the runtime's in_flight or
                                    PYDRON_WINDOW if set, else a window measured as the
                                    process executors do: cores x (2 + round trip / run
                                    time), 64 until the first completion */
    double latency;              /* seconds per message / transfer; < 0: 0; default 50e-6 */
    double bandwidth;            /* bytes/s of each node's up and down link; 0 = 1e9 */
    double task_overhead;        /* seconds a core spends per task besides its body */
    double driver_overhead;      /* seconds the driver spends per job it sends */
    double jitter;               /* each duration times 1 + jitter*u, u uniform in [-1,1) */
    uint64_t seed;               /* for jitter */
    /* Virtual duration of a job that is not a bench task (may be NULL):
     * return seconds >= 0, or < 0 to use the measured run time. Called on
     * the driver thread; must not call into pydron but pydron_job_*. */
    double (*cost)(void *user, const pydron_job *j);
    void *cost_user;
} pydron_sim_options;
#define PYDRON_SIM_OPTIONS_INIT \
    {PYDRON_SIM_OPTIONS_VERSION, 0, 0, 0, 50e-6, 1e9, 0.0, 0.0, 0.0, 1, NULL, NULL}

typedef struct pydron_sim_stats {
    double clock;                /* virtual seconds since the executor started */
    uint64_t jobs;               /* jobs completed */
    uint64_t transfers;          /* inputs moved between nodes */
    uint64_t bytes_moved;
    double busy;                 /* core-seconds spent running jobs */
    uint64_t events;             /* events processed */
} pydron_sim_stats;
/* Statistics of rt's executor if it is the simulated one (ENOTSUP if not). */
PYDRON_API int pydron_sim_stats_get(pydron_runtime *rt, pydron_sim_stats *out);

/* ------------------------------------------------------------------------
 * Recording a run (PYDRON_RECORD=file)
 * ------------------------------------------------------------------------ */
/* With PYDRON_RECORD set, every graph made in the process appends one JSON
 * object per line to that file for each task that finishes (docs/schedulers.md
 * "Recorded graphs" describes the fields: graph, task, kind, label, state,
 * worker, start_ns, end_ns, inputs [[value, bytes]...], outputs [[value,
 * bytes]...]). The file is truncated by the first graph of the process.
 * pydron_record_open does the same for graphs created afterwards (path NULL:
 * stop recording). */
PYDRON_API int pydron_record_open(const char *path);

/* ------------------------------------------------------------------------
 * Observability
 * ------------------------------------------------------------------------ */
/* Graphviz DOT text of the current graph (tasks, values, states); free the
 * string with pydron_free. */
PYDRON_API int pydron_graph_dot(pydron_graph *g, char **out, size_t *len);
/* Record the graph of the whole run from now on, for pydron_graph_dot_run:
 * every task added (its label, else its kind), the tasks whose outputs it
 * reads, and how it ended (state, worker), kept after the task's own record
 * is recycled. At most max_tasks tasks (0: 100,000); later ones are only
 * counted. Calling it again changes max_tasks. Memory: about 40 bytes per
 * task and edge, freed with the graph. */
PYDRON_API int pydron_graph_record(pydron_graph *g, size_t max_tasks);
/* Graphviz DOT text of the recorded run (free with pydron_free): one node
 * per task with its name, state and worker (failed in red, unfinished
 * dashed), an edge from each task to each task that read its outputs.
 * PYDRON_ESTATE if pydron_graph_record was not called. */
PYDRON_API int pydron_graph_dot_run(pydron_graph *g, char **out, size_t *len);

typedef struct pydron_task_timing {
    pydron_task task;
    uint32_t kind;
    pydron_task_state state;
    uint64_t queued_ns;     /* monotonic clock, ns */
    uint64_t started_ns;
    uint64_t finished_ns;
    int32_t worker;         /* -1: driver thread */
    const char *executor;   /* static name */
    const char *label;      /* borrowed until the graph is freed */
    /* version 2 */
    unsigned version;       /* set by the library: the version it filled */
} pydron_task_timing;
#define PYDRON_TASK_TIMING_VERSION 2

/* Fill *out with task t's timing so far: when it was queued, started and
 * finished, on which worker and executor (a macro over
 * pydron_task_timing_get_version, see "Growing structs"). */
PYDRON_API int pydron_task_timing_get(pydron_graph *g, pydron_task t, pydron_task_timing *out);
/* Call fn for every task that has finished, in finish order. The graph keeps
 * the timings of its last 65,536 finished tasks ($PYDRON_TIMING_LOG_MAX to
 * change it), so that its memory does not grow with every task: older
 * ones are forgotten (pydron_task_timing_get and pydron_task_state_get then
 * give PYDRON_ESTALE for a finished task whose record was recycled), while
 * pydron_graph_stats keeps counting all of them. fn must not call
 * back into the graph. t is filled to this library's version (t->version);
 * a callback reads only the fields its pydron.h knows. */
PYDRON_API int pydron_graph_timings(pydron_graph *g,
                                    void (*fn)(const pydron_task_timing *t, void *user),
                                    void *user);

typedef struct pydron_graph_stats {
    uint64_t tasks_added, tasks_done, tasks_failed, tasks_refined, tasks_retried;
    uint64_t values_live, bytes_live, bytes_peak;
    /* version 2 */
    unsigned version;       /* set by the library: the version it filled */
    /* version 3: data moved and time the driver waited. Bytes count the
     * task inputs that had to reach the worker a task was sent to (from the
     * driver's memory, by socket or shared memory, or from another worker)
     * and the values brought to the driver; in-process executors move
     * nothing. */
    uint64_t bytes_to_workers;      /* inputs sent from the driver */
    uint64_t bytes_between_workers; /* inputs a worker took from another worker */
    uint64_t bytes_to_driver;       /* values fetched to the driver */
    uint64_t wait_ns;               /* time callers spent in pydron_graph_wait/run
                                       before what they waited for was there (ns) */
    /* version 4 */
    uint64_t tasks_direct;          /* tasks the waiting thread ran itself, without a
                                       job (the inline executor's direct lane: C kinds
                                       whose inputs are in this process; PYDRON_DIRECT=0
                                       turns it off) */
    /* version 5 */
    uint64_t tasks_grouped;         /* tasks a pool thread ran in a group, many to a job
                                       (the threads executor: C kinds measured tiny;
                                       PYDRON_DIRECT=0 turns it off) */
} pydron_graph_stats;
#define PYDRON_GRAPH_STATS_VERSION 5
PYDRON_API int pydron_graph_stats_get(pydron_graph *g, pydron_graph_stats *out);

/* Trace of the run in the Chrome/Perfetto Trace Event Format (a JSON file
 * that ui.perfetto.dev and chrome://tracing open): one track per worker
 * with the spans of the tasks it ran, named by their label (else their
 * kind); a "driver" process with the driver thread's waits (and spans a
 * frontend adds with pydron_trace_span, e.g. barriers), the tasks run on
 * the driver thread, and the transfers of values to the driver; on a
 * worker's track, a span for the inputs it took from other workers before
 * a task, and instants for the inputs sent to it.
 *
 * One trace per process, for every runtime and graph in it. Events are
 * streamed to the file by a thread of the library, through a bounded
 * buffer (buffer_bytes): if the writer falls behind, events are dropped
 * and the file says how many ("otherData"), so a trace of any length
 * costs bounded memory. Setting PYDRON_TRACE=file in the environment
 * starts a trace at the first pydron_runtime_new of the process and stops
 * it at exit. Times of tasks that ran on other hosts are put on the
 * driver's clock by keeping their duration and ending them when their
 * completion arrived. */
#define PYDRON_TRACE_OPTIONS_VERSION 1
typedef struct pydron_trace_options {
    unsigned version;       /* PYDRON_TRACE_OPTIONS_VERSION */
    const char *path;       /* file to write (created or truncated); copied */
    size_t buffer_bytes;    /* bound on events not yet written; 0 = 8 MiB */
} pydron_trace_options;
#define PYDRON_TRACE_OPTIONS_INIT {PYDRON_TRACE_OPTIONS_VERSION, NULL, 0}
/* Fill o with the defaults of `version` (1..PYDRON_TRACE_OPTIONS_VERSION). */
PYDRON_API int pydron_trace_options_init(pydron_trace_options *o, unsigned version);
/* Start the process's trace. Errors: EINVAL (no path, bad version), EBUSY
 * (a trace is on), EIO (the file cannot be written). Any thread. */
PYDRON_API int pydron_trace_start(const pydron_trace_options *o);
/* Write what is buffered and close the file (a complete JSON document).
 * 0 if no trace was on; EIO if writing failed. Any thread; it waits for
 * the writer (do not call it from a task body or callback). */
PYDRON_API int pydron_trace_stop(void);
/* Add a span to the driver thread's track, e.g. a frontend's barrier:
 * times on CLOCK_MONOTONIC in ns (as pydron_task_timing); category and
 * name are copied (NULL category: "driver"). Nothing happens when no trace
 * is on. Spans on this track should nest (a span that encloses others ends
 * after them), as calls on one thread do. */
PYDRON_API int pydron_trace_span(const char *category, const char *name, uint64_t start_ns,
                                 uint64_t end_ns);
/* 1 while a trace is being written, else 0 (lets a frontend skip work). */
PYDRON_API int pydron_trace_active(void);

/* ------------------------------------------------------------------------
 * C functions in workers (dlopen + libffi)
 * ------------------------------------------------------------------------ */
/* Build the payload of a PYDRON_KIND_FFI task: the function `symbol` in the
 * shared object `library` with the signature
 *     int symbol(pydron_task_ctx *ctx)          when signature is NULL or "ctx"
 * or a plain C signature over scalars, e.g. "d(dd)" = double f(double,double):
 * each input is one scalar in native byte order, the result is output 0.
 * Letters: i=int32 l=int64 u=uint32 L=uint64 f=float d=double.
 * Free *out with pydron_free. */
PYDRON_API int pydron_ffi_payload(const char *library, const char *symbol, const char *signature,
                                  void **out, size_t *len);

/* ------------------------------------------------------------------------
 * Workers (the loop behind `pydron-worker` and `python -m pydron.worker`)
 * ------------------------------------------------------------------------ */
typedef struct pydron_worker_runner {
    const char *kind_name;
    const pydron_runner_ops *ops;
    void *self;
} pydron_worker_runner;

#define PYDRON_WORKER_OPTIONS_VERSION 2
typedef struct pydron_worker_options {
    unsigned version;           /* PYDRON_WORKER_OPTIONS_VERSION */
    const char *url;            /* driver address to dial (ipc://, tcp://, tls+tcp://) */
    const char *secret;         /* shared secret (NULL: read PYDRON_SECRET) */
    const char *tls_ca_file;    /* PEM CA to verify the driver (tls+tcp://) */
    int32_t worker_id;          /* assigned by the launcher; -1 = ask the driver */
    unsigned threads;           /* threads running tasks, the caller's one of them; 0 = 1 */
    const pydron_worker_runner *runners; /* extra runners (the FFI one is built in) */
    size_t nrunners;
    int exit_with_parent;       /* 1: die when the parent process dies */
    const char *listen_peer_url; /* where peers fetch our values; NULL = automatic */
    /* Version 2. Keep dialling a driver that does not listen yet (refused,
     * unreachable) for up to this long; 0 = one attempt. The command-line
     * workers use 60000 (--connect-timeout). */
    unsigned connect_timeout_ms;
} pydron_worker_options;
#define PYDRON_WORKER_OPTIONS_INIT \
    {PYDRON_WORKER_OPTIONS_VERSION, NULL, NULL, NULL, -1, 0, NULL, 0, 1, NULL, 0}
/* Fill opts with the defaults of `version` (1..PYDRON_WORKER_OPTIONS_VERSION),
 * writing only the fields that version has; EINVAL for NULL or another
 * version. pydron_worker_options_init(opts) asks for the current one (a
 * program built against 0.1.0 calls the symbol, which writes version 1). */
PYDRON_API int pydron_worker_options_init_version(pydron_worker_options *opts, unsigned version);
PYDRON_API void pydron_worker_options_init(pydron_worker_options *opts);
#define pydron_worker_options_init(opts) \
    ((void)pydron_worker_options_init_version((opts), PYDRON_WORKER_OPTIONS_VERSION))

/* Run the worker loop until the driver says shutdown or the connection is
 * lost for good. Blocks the calling thread, which runs tasks (one of the
 * `threads`; the driver's connection is read on a thread of the library's):
 * called from a process's main thread, tasks run there. Returns 0 on
 * orderly shutdown.
 * A supervisor that restarts crashed workers (pydron-worker --restart,
 * python -m pydron.worker --restart) sets $PYDRON_SUPERVISED: "0" for its
 * first worker, "PID HOW" for a replacement ("4242 killed by SIGSEGV");
 * the worker tells the driver, which names HOW in the error of the task
 * that worker PID was running. */
PYDRON_API int pydron_worker_main(const pydron_worker_options *opts);

/* ------------------------------------------------------------------------
 * The shared secret (docs/wire.md, "Trust model")
 *
 * Whoever holds the secret can run code on the driver and on every worker.
 * A secret is text of PYDRON_SECRET_MIN..PYDRON_SECRET_MAX bytes (32 hex
 * characters are 128 bits); it is never taken from a command line.
 * ------------------------------------------------------------------------ */
#define PYDRON_SECRET_MIN 32
#define PYDRON_SECRET_MAX 1024

/* 0 when secret (len bytes) is strong enough; PYDRON_EINVAL with a message
 * saying how to make a good one otherwise (too short, too few different
 * characters, NUL bytes). Any thread. */
PYDRON_API int pydron_secret_check(const char *secret, size_t len);
/* Read a secret file into buf (cap bytes, NUL-terminated; *len = length,
 * may be NULL): its bytes without trailing whitespace. Refuses (EINVAL) a
 * regular file that group or others may read ("run `chmod 600 FILE`") and
 * a weak secret (as pydron_secret_check); EIO when it cannot be read. The
 * C and the Python worker both read secrets with this function. */
PYDRON_API int pydron_secret_read_file(const char *path, char *buf, size_t cap, size_t *len);
/* A fresh secret: 64 hex characters (256 random bits) and a NUL in buf
 * (cap >= 65, else EINVAL). `pydron-secret` prints one. */
PYDRON_API int pydron_secret_generate(char *buf, size_t cap);

/* ------------------------------------------------------------------------
 * Growing structs (the libgit2 way)
 *
 * pydron_runtime_options (input) and pydron_graph_stats / pydron_task_timing
 * (output) gain fields at their end in later releases; each version of the
 * library reads or writes only the part of such a struct that the caller's
 * version knows, so a program built against an older pydron.h keeps
 * working with a newer library. Version 1 is the 0.1.0 layout. These
 * functions accept any 0 < version <= the current *_VERSION (else
 * PYDRON_EINVAL, nothing written) and never touch a byte past the end of
 * that version's struct.
 *
 * The one-argument names of 0.1.0 stay exported for programs built against
 * it and write version 1; in code compiled against this header they are
 * macros that ask for the current version.
 * ------------------------------------------------------------------------ */

/* Fill opts with the defaults of `version` (PYDRON_RUNTIME_OPTIONS_VERSION
 * for the fields this header knows); opts->version = version. */
PYDRON_API int pydron_runtime_options_init_version(pydron_runtime_options *opts,
                                                   unsigned version);
/* As pydron_graph_stats_get / pydron_task_timing_get, filling `version`'s
 * fields; out->version (from version 2 on) tells which version was filled. */
PYDRON_API int pydron_graph_stats_get_version(pydron_graph *g, pydron_graph_stats *out,
                                              unsigned version);
PYDRON_API int pydron_task_timing_get_version(pydron_graph *g, pydron_task t,
                                              pydron_task_timing *out, unsigned version);

#define pydron_runtime_options_init(opts) \
    ((void)pydron_runtime_options_init_version((opts), PYDRON_RUNTIME_OPTIONS_VERSION))
#define pydron_graph_stats_get(g, out) \
    pydron_graph_stats_get_version((g), (out), PYDRON_GRAPH_STATS_VERSION)
#define pydron_task_timing_get(g, t, out) \
    pydron_task_timing_get_version((g), (t), (out), PYDRON_TASK_TIMING_VERSION)

#ifdef __cplusplus
}
#endif

#endif /* PYDRON_H */
