/* proc.h - the driver side of worker processes, shared by the local and
 * remote executors: accepting and authenticating workers, sending task
 * batches, receiving completions on one reader thread per worker, fetch,
 * release, heartbeats and worker loss.
 *
 * Files: proc.c (create, start, stop, destroy), proc_jobs.c (job map,
 * worker loss), proc_accept.c (acceptor, handshake, peer updates),
 * proc_reader.c (one reader per worker), proc_service.c (heartbeats,
 * releases, reaping), proc_submit.c (submit, fetch, release),
 * proc_window.c (in-flight window by measurement, stealing),
 * privdir.c (private directory, secret file, child environment),
 * launch_spawn.c and launch_accept.c (the launchers), launch_cmd.c (what
 * every command launcher shares), launch_restart.c (a command launcher
 * starting a lost worker again), launch_ssh.c, launch_template.c,
 * launch_slurm.c, launch_mpi.c, launch_table.c (launchers by name). */
#ifndef PDI_PROC_H
#define PDI_PROC_H

#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <sys/types.h>

#include "pydron.h"
#include "util/ring.h"
#include "util/util.h"
#include "wire/shmref.h"
#include "wire/wire.h"

typedef struct pdi_proc pdi_proc;

/* A launcher: how the workers of a process executor come to be and how
 * they reach the driver. The shared core (proc*.c) does everything else:
 * handshake, job map, reader, service thread, submit, worker loss. The
 * local executor is core + spawn-local, the remote one core + accept-remote;
 * ssh, slurm or mpi launchers are more tables like these.
 * Every function gets the executor; none is called with p->lock held
 * unless it says so. */
typedef struct pdi_launcher_ops {
    const char *name;            /* the executor's name ("local", "remote") */
    unsigned default_workers;    /* when opts.workers is 0; 0 = one per CPU */
    unsigned join_ms;            /* default wait for every worker to join */
    int user_secret;             /* the secret comes from the options or
                                    PYDRON_SECRET; else a fresh one is made */
    int refill_slots;            /* a new worker may take a lost worker's slot */
    /* options are usable (may be NULL) */
    int (*check)(const pydron_process_options *o);
    /* open p->l and whatever the workers need to reach it (start) */
    int (*listen)(pdi_proc *p);
    /* start the workers (start, after the acceptor runs); may do nothing */
    int (*launch)(pdi_proc *p);
    /* lock held, while start waits for workers: fail if a launched worker
     * can no longer join (may be NULL) */
    int (*joining)(pdi_proc *p);
    /* service thread: worker wi was lost, replace it (may be NULL: lost
     * workers are not replaced by the launcher) */
    void (*lost)(pdi_proc *p, unsigned wi);
    /* --- added for the command launchers; every one may be NULL --- */
    /* pdi_proc_new, before the worker slots exist: decide how many workers
     * (p->nw, 0 when the user gave none) and where (pdi_launch_group_add) */
    int (*plan)(pdi_proc *p);
    /* lock held, start waited in vain for p->nw workers: set and return
     * the error that says what is missing (NULL: a generic message) */
    int (*missing)(pdi_proc *p);
    /* stop, after the workers were told to shut down and their
     * connections closed: end what launch started (NULL: wait for the pids
     * in p->launched, then kill them) */
    void (*stop)(pdi_proc *p);
    /* destroy (also when start never ran or failed, and after a failed
     * plan): give back what plan took (a Slurm allocation) and free
     * p->lstate (may be NULL) */
    void (*release)(pdi_proc *p);
    /* command launchers, for pdi_launch_lost (launch_restart.c): start
     * group gi's command again, a group made for one lost worker (its
     * host, first = the lost worker's slot, n = 1). Service thread, lock
     * not held. NULL: this launcher cannot start one worker on its own;
     * no_restart says why, for the "capacity is gone" message. */
    int (*relaunch)(pdi_proc *p, size_t gi);
    const char *no_restart;
} pdi_launcher_ops;

extern const pdi_launcher_ops pdi_launcher_spawn;  /* launch_spawn.c */
extern const pdi_launcher_ops pdi_launcher_accept; /* launch_accept.c */

/* ------------------------------------------------------------------------
 * Command launchers (launch_cmd.c): workers started by a command per host
 * or group (ssh, a template, srun, mpirun). How a new one plugs in:
 *
 *  1. Write a pdi_launcher_ops in exec/launch_NAME.c that starts with
 *     PDI_LAUNCH_CMD_OPS (what every command launcher shares, below) and
 *     adds .check, .stop and its own .plan and .launch (and .release if
 *     it needs one). Add a line to launch_table.c so that
 *     cluster="NAME" (C option, configure(cluster=), PYDRON_CLUSTER) finds
 *     it.
 *  2. plan: set p->nw when it is 0 (workers=0 means "every CPU the
 *     launcher reports": ssh asks each host for nproc, slurm reads the
 *     allocation) and split the workers into groups with
 *     pdi_launch_group_add(p, host, n): one command starts the n workers
 *     with ids first..first+n-1 (host may be NULL). p->launch_hosts and
 *     p->launch_args hold the user's hosts and extra program arguments;
 *     pdi_launch_parse_host splits "user@host:N".
 *  3. launch: for each group, build its argv and call
 *     pdi_launch_spawn(p, gi, argv). The command runs in its own process
 *     group with the secret as one line on its stdin (never in argv); its
 *     stderr is read by a thread, echoed with the host's name and its tail
 *     kept for messages; p->groups[gi].must_live says that its end before
 *     its workers joined is a failure (ssh; a template may be fire and
 *     forget). pdi_launch_worker_script() gives a /bin/sh script that reads
 *     the secret line and starts a group's workers with --secret-file -
 *     and --id (for ssh, srun, mpirun); pdi_launch_url() the address a host
 *     dials (a 0.0.0.0 listener replaced by our address on its route).
 *     .relaunch (usually what launch does for one group) lets
 *     pdi_launch_lost start a lost worker again on its host.
 *  4. While start waits, pdi_launch_joining fails at once when a group's
 *     command ended early (status and stderr tail named) or a joined
 *     worker was lost; at the deadline pdi_launch_missing says per host how
 *     many joined and what its command printed. pdi_launch_stop waits a
 *     moment for the commands to end after the workers' shutdown, then
 *     signals their process groups (TERM, then KILL).
 * ------------------------------------------------------------------------ */
typedef struct pdi_launch_group {
    char *host;          /* "user@b" or NULL */
    char prog[32];       /* its program's name, for messages ("ssh", "sh") */
    unsigned first, n;   /* worker ids first..first+n-1 */
    int must_live;       /* its command ending before its workers joined is a failure */
    pid_t pid;           /* its command (leader of its process group); 0: not started */
    int err_fd;          /* read end of its stderr, -1 once closed */
    int exited, status;  /* reaped, wait status */
    char tail[600];      /* the last lines of its stderr */
    size_t ntail;
    char line[400];      /* the stderr line being read */
    size_t nline;
} pdi_launch_group;

/* The fields every command launcher's ops table shares (launch_cmd.c):
 *   const pdi_launcher_ops pdi_launcher_x = {PDI_LAUNCH_CMD_OPS, .plan = x_plan,
 *                                            .launch = x_launch};
 * and its .check (pdi_launch_check or one that calls it) and .stop
 * (pdi_launch_stop or one that calls it). */
#define PDI_LAUNCH_CMD_OPS                                                                 \
    .name = "remote", .default_workers = 0, .join_ms = 60000, .user_secret = 2,            \
    .refill_slots = 1, .listen = pdi_launch_listen, .joining = pdi_launch_joining,         \
    .missing = pdi_launch_missing, .lost = pdi_launch_lost

/* Launchers by name ("ssh", "command", ...; launch_table.c), NULL if none. */
const pdi_launcher_ops *pdi_launcher_find(const char *name);
/* A comma-separated list of the names, for messages. */
const char *pdi_launcher_names(void);

int pdi_launch_check(const pydron_process_options *o);
int pdi_launch_listen(pdi_proc *p);
int pdi_launch_joining(pdi_proc *p);
int pdi_launch_missing(pdi_proc *p);
void pdi_launch_stop(pdi_proc *p);
/* launch_restart.c: worker wi of a started executor was lost (service
 * thread, lock not held; called again every service pass while it sets
 * p->w[wi].need_respawn again). Runs the launcher's relaunch for wi's
 * host, within a budget per slot (PYDRON_WORKER_RESTARTS, default
 * PDI_RESTARTS) and with back-off after a failed try; a slot whose
 * replacements keep failing (PDI_RESTART_FAILS in a row: the command
 * ended or its worker did not join within the join timeout) is given up
 * with "capacity is gone: N of M workers, host H: <reason>" in the log. */
void pdi_launch_lost(pdi_proc *p, unsigned wi);
/* Lock held: reap the groups' commands that ended (their stderr read). */
void pdi_launch_reap_locked(pdi_proc *p);
/* The last line of group g's stderr, or "". */
const char *pdi_launch_last_words(const pdi_launch_group *g);
#define PDI_RESTARTS 8         /* replacements per worker slot and session */
#define PDI_RESTART_FAILS 3    /* failed ones in a row: the slot is given up */
int pdi_launch_group_add(pdi_proc *p, const char *host, unsigned n);
/* "user@host:N" -> host part ("user@host", in buf) and *n (0: not given).
 * EINVAL for an empty host or a bad count. */
int pdi_launch_parse_host(const char *spec, char *buf, size_t cap, unsigned *n);
/* Fill p->launch_hosts from $PYDRON_HOSTS when the options gave none:
 * names separated by commas or white space, or a file with one host per
 * line (# comments). None: EINVAL naming launcher `who`, or 0 if who is
 * NULL (hosts optional). */
int pdi_launch_host_list(pdi_proc *p, const char *who);
/* Groups from p->launch_hosts ("user@host:N"), one per host: with p->nw
 * 0, each host's N, or ask(p, host, &n) for a host without one (NULL: an
 * error); with p->nw given, spread round robin (a host:N takes N a
 * round). */
int pdi_launch_plan_hosts(pdi_proc *p, int (*ask)(pdi_proc *p, const char *host, unsigned *n));
/* The listener's URL as host (NULL: any) can dial it. */
void pdi_launch_url(pdi_proc *p, const char *host, char *out, size_t n);
/* Start group gi's command (argv[0] looked up on PATH). Lock not held. */
int pdi_launch_spawn(pdi_proc *p, size_t gi, char *const argv[]);
/* /bin/sh script starting group gi's workers (malloc'd, NULL on ENOMEM):
 * reads the secret line from stdin, then runs n times, in the background,
 * worker_command worker_args --connect URL --secret-file - --id ID with
 * the line on the worker's stdin; exits with the first failure's status. */
char *pdi_launch_worker_script(pdi_proc *p, size_t gi, const char *url);
/* Append to s the worker's command line as /bin/sh words, quoted:
 * worker_command worker_args --connect URL (for launchers that start one
 * worker per task of their own, srun and mpirun, and add --id). */
void pdi_launch_worker_argv_sh(pdi_proc *p, pdi_str *s, const char *url);
/* Ask a host for its CPU count: run argv (a command that prints it, e.g.
 * ssh host nproc) and read the number. The error says "<who>cannot ask
 * host HOST for its CPU count (workers=0<hint>): PROG <how>: <stderr>".
 * For a launcher's plan (pdi_launch_plan_hosts' ask). Lock not held. */
int pdi_launch_ask_ncpus(char *const argv[], unsigned timeout_ms, const char *host,
                         const char *prog, const char *who, const char *hint, unsigned *n);
/* Run argv and collect its stdout (*out, malloc'd) and stderr tail (err);
 * status = wait status. Lock not held; for plan steps (nproc). */
int pdi_launch_run(char *const argv[], unsigned timeout_ms, char **out, char *err, size_t errn,
                   int *status);

int pdi_proc_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight);
void pdi_proc_stop(void *self);
void pdi_proc_destroy(void *self);

/* opts: the generic options; exec_options: a pydron_process_options or
 * NULL (then the process fields of opts are used). */
int pdi_proc_new(const pydron_runtime_options *opts, const void *exec_options,
                 const pdi_launcher_ops *launcher, pdi_proc **out);

#define WHO "driver"
#define HANDSHAKE_MS 10000
/* Stop closes every connection, so its threads end at once. If one does
 * not (an nng operation that escaped the close), stop closes again every
 * STOP_NUDGE_MS and gives up after STOP_GIVEUP_MS, logging it and leaving
 * the executor's memory behind: a leak is better than a hang. */
#define STOP_NUDGE_MS 100
#define STOP_GIVEUP_MS 30000
#define SHUTDOWN_SEND_MS 1000
#define SETTLE_MS 1000 /* open-ended start: no new worker for this long, go */
#define DEFAULT_IN_FLIGHT 64  /* until a window is measured (or the user's in_flight) */
#define WINDOW_MAX 4096       /* the most a measured window grows to */
#define LATER_NS 20000000ull  /* an unreachable input: its job comes back after this */
#define DEFAULT_HB_MS 1000
#define DEFAULT_WORKER_WAIT_MS 30000 /* jobs wait this long for a live worker */
#define INLINE_MAX 4096 /* outputs up to this size come back with the completion */

typedef struct jobent {
    uint64_t seq;
    pydron_job *job;
    unsigned worker;
    int first;           /* the worker had a free thread when it was sent: its
                            time in flight minus its run time is a round trip */
    uint64_t sent_ns;
    struct jobent *next;
} jobent;

/* Jobs returned to the core a moment later (an input was unreachable: at
 * once, it would come straight back while its source's loss is not known
 * yet). */
typedef struct laterent {
    pydron_job *job;
    uint64_t due_ns;
} laterent;

typedef struct fetchent {
    uint64_t value;
    unsigned worker;
    int no_shm;          /* asked for bytes: a ShmRef in the reply is refused */
    struct fetchent *next;
} fetchent;

/* Driver constants kept by workers (proc_submit.c) */
#define PDI_KEEP_MAX 32
#define PDI_KEEP_BYTES (256ull << 20)
#define PDI_KEEP_ONE (65ull << 20) /* larger values always travel inline */
#define PDI_SEEN_SLOTS 512

typedef struct pworker {
    int used;            /* slot taken by a connected worker */
    int alive;
    unsigned gen;        /* bumped when the slot's worker changes */
    pdi_conn *c;
    pthread_t reader;
    int have_reader;
    pid_t pid;           /* local: the child process, else 0 */
    char *peer_url;
    char host[64];
    unsigned threads;    /* task threads the worker announced */
    int shm;             /* same host: inputs and fetches go by shared memory */
    int need_respawn;    /* local: start a replacement (service thread) */
    int exit_status;     /* local: wait status of the slot's last process */
    int exit_known;      /* exit_status is set (reaped) */
    int supervised;      /* its Hello said a supervisor restarts it (proc_jobs.c) */
    char end[PDI_HELLO_MAX_END + 1]; /* how its process ended, as its supervisor's
                                        replacement reported before the loss was seen */
    char **kinds;        /* runner kind names the worker announced */
    size_t nkinds;
    atomic_uint_fast64_t last_recv_ns;
    uint64_t *rel;       /* pending releases */
    size_t nrel, caprel;
    uint64_t *rcl;       /* recalled seqs, for the service thread to send */
    size_t nrcl, caprcl;
    unsigned njobs;      /* jobs sent to it and not back (the map's entries) */
    /* in-flight window (proc_window.c): measured round trip (ns, 0 =
     * unknown), mean task run time (ns), the depth last given to the core */
    uint64_t rtt_ns, dur_ns;
    unsigned window;
    /* its last completion, or when it was given work while it had none:
     * a worker with jobs queued and no progress for a while is stuck on
     * long ones, and an idle worker may take its queued jobs (stealing) */
    uint64_t progress_ns;
    struct pdi_sendq *sq_head, *sq_tail; /* frames for the sender thread */
    pthread_cond_t scv;
    pthread_t sender;
    int have_sender;
    /* driver constants this worker keeps (Input.keep; proc_submit.c): sent
     * once, then named by id. Valid while keep_gen == gen (a new worker in
     * the slot has none); never dropped before the connection ends, so
     * capped at PDI_KEEP_MAX values and PDI_KEEP_BYTES */
    uint64_t keep_ids[PDI_KEEP_MAX];
    unsigned nkeep, keep_gen;
    uint64_t keep_bytes;
} pworker;

struct pdi_proc {
    const pdi_launcher_ops *launcher;
    pydron_exec_host *host;
    /* options (copied) */
    unsigned nw, in_flight, hb_ms, max_wait_ms;
    int fixed_window;    /* in_flight was set by the user: no measured window */
    int steal;           /* idle workers take stuck workers' queued jobs (PYDRON_STEAL) */
    unsigned worker_wait_ms; /* parked jobs wait this long for a live worker */
    int restarts;            /* worker_restarts: -1 = $PYDRON_WORKER_RESTARTS/default */
    char *worker_command;
    char **worker_args;
    char *listen_url, *cert, *key, *launch_command;
    char **launch_hosts;
    /* command launchers (launch_cmd.c) */
    char **launch_args, **required_kinds;
    int listen_given;    /* the user chose listen_url */
    int open_ended;      /* remote without a worker count: nw is a cap, not a target */
    void *lstate;        /* the launcher's own (plan sets, release frees) */
    pdi_launch_group *groups;
    size_t ngroups, capgroups;
    struct pdi_launch_slot *lslots; /* restarts per slot (launch_restart.c) */
    int running;         /* start returned 0: lost workers may be started again */
    pthread_t errth;     /* reads the groups' stderr */
    int have_errth;
    int errpipe[2];      /* wakes errth */
    char *secret;
    size_t secret_len;
    /* local private directory */
    char dir[256], sock_path[320], secret_path[320];

    pthread_mutex_t lock;
    pthread_cond_t cond;
    pworker *w;
    unsigned nconnected;
    int stopping, started;
    uint64_t next_seq;
    jobent **jb;
    size_t njb;
    fetchent *fetches;

    pdi_listener *l;
    pthread_t acceptor, service;
    int have_acceptor, have_service;
    int nhandshakes;     /* handshake threads running */
    pdi_conn **hs_conns; /* their connections, closed by stop */
    struct pdi_guard *guard; /* caps on handshakes, accept back-off (wire/guard.h) */
    size_t nhs, cap_hs;
    atomic_int abandoned; /* stop gave up on a thread: never free our memory */
    pid_t *launched;     /* worker processes (local, by slot) or launchers (remote) */
    size_t nlaunched;
    unsigned respawns;
    int warned_divert;
    int unknown_in_driver; /* run kinds no worker has in this process */
    struct { pthread_t th; pdi_conn *c; } *old_readers; /* replaced workers */
    size_t nold, cap_old;

    /* jobs whose kind no worker runs (C functions registered in the host
     * program) run here, in-process, like the threads executor would */
    pthread_t *lt;
    unsigned nlt;
    pdi_ring lq;         /* of pydron_job *, for the threads lt */
    pthread_cond_t lcond;

    /* jobs submitted while no worker was alive and a replacement is on
     * its way: the service thread hands them on (submit never waits) */
    pydron_job **parked;
    size_t nparked, capparked;
    laterent *later;     /* returned to the core by the service thread */
    size_t nlater, caplater;
    int later_now;       /* a worker loss: return every held job now */
    uint64_t last_steal_ns;
    uint64_t none_alive_since; /* 0: a worker is alive (or none joined yet) */
    int launcher_gave_up;      /* local: no more replacements will come */
    char gave_up_why[512];     /* launch_restart.c: why the last slot was given up */
    struct pdi_held *held;     /* jobs of lost supervised workers (proc_jobs.c) */
    /* driver-held inputs already sent to some worker (direct-mapped by id):
     * seen again, a value is one many tasks read, and a worker keeps it */
    uint64_t seen[PDI_SEEN_SLOTS];
};

typedef struct sd_arg {
    pdi_proc *p;
    unsigned wi;
} sd_arg;

typedef struct rd_arg {
    pdi_proc *p;
    unsigned wi, gen;
    pdi_conn *c;
} rd_arg;

static inline int pdi_proc_send(pdi_conn *c, Pydron__Frame *f) { return pdi_conn_send(c, f, NULL, 0); }

/* proc_jobs.c: the map seq -> job (lock held), worker loss */
void pdi_proc_job_put(pdi_proc *p, jobent *e);
jobent *pdi_proc_job_take(pdi_proc *p, uint64_t seq, unsigned worker);
jobent *pdi_proc_jobs_take_worker(pdi_proc *p, unsigned worker);
void pdi_proc_worker_gone(pdi_proc *p, unsigned wi, unsigned gen, const char *why);
/* A supervised worker (Hello capability 2) is lost: the jobs that may have
 * been running wait up to HELD_MS for the replacement its supervisor starts
 * to report how it ended, so that a task failed for killing its worker
 * says "killed by SIGSEGV" rather than "lost its connection". */
#define HELD_MS 10000
/* Handshake thread, lock not held: the worker that just joined from `host`
 * replaces process `pid`, which ended as `how`: finish the jobs held for
 * it, or, when its loss is not seen yet, remember it for the message. */
void pdi_proc_predecessor_ended(pdi_proc *p, const char *host, int32_t pid, const char *how);
/* Service thread, lock held (released around the calls): jobs held for a
 * report that did not come in time go back as lost (all: canceled, stop). */
void pdi_proc_flush_held_locked(pdi_proc *p, uint64_t now, int all);
/* Lock held: reap local worker process i if it exited (WNOHANG), keeping
 * its wait status for the loss message. */
void pdi_proc_reap_locked(pdi_proc *p, size_t i);
/* "killed by SIGSEGV", "exited with status 3" (buf of n bytes) */
const char *pdi_proc_describe_status(int st, char *buf, size_t n);
void pdi_proc_recall(void *self);
/* Lock held: job j comes back to the core soon (service thread). */
void pdi_proc_later_locked(pdi_proc *p, pydron_job *j, uint64_t delay_ns);
/* Service thread, lock held (released around the calls): return the jobs
 * whose time has come (all if `all`). */
void pdi_proc_flush_later_locked(pdi_proc *p, int all);
/* proc_window.c: the in-flight window of each worker and stealing */
/* A completion of e arrived at now_ns, run time run_ns (lock held):
 * updates the worker's round trip and duration. Returns the new window if
 * the core should be told, else 0. */
unsigned pdi_proc_window_sample_locked(pdi_proc *p, const jobent *e, uint64_t now_ns,
                                       uint64_t run_ns);
/* Service thread, lock held (released around the calls): idle workers
 * take queued, not started jobs of workers stuck on long ones (on unless
 * PYDRON_STEAL=0). */
void pdi_proc_steal_locked(pdi_proc *p, uint64_t now);
/* Lock held: queue worker v's pending Recall frame, if any. */
void pdi_proc_send_recalls_locked(pdi_proc *p, unsigned v);
/* proc_accept.c */
void *pdi_proc_acceptor_thread(void *arg);
void pdi_proc_send_peer_update(pdi_proc *p, unsigned except, int32_t id, const char *url);
/* proc_reader.c */
void *pdi_proc_reader_thread(void *arg);
void pdi_proc_send_fetch_locked(pdi_proc *p, unsigned wi, uint64_t value, int no_shm);
/* proc_sender.c: frames a caller must not wait for (task batches, fetch
 * requests, releases, recalls, heartbeats) are encoded by the caller and
 * written by the worker's sender thread, in queue order. Lock held; a
 * frame queued for a worker that is then lost is dropped (its jobs come
 * back through worker loss). enqueue takes buf. */
void pdi_proc_enqueue_locked(pdi_proc *p, unsigned wi, uint8_t *buf, size_t len);
int pdi_proc_enqueue_frame_locked(pdi_proc *p, unsigned wi, Pydron__Frame *f);
void *pdi_proc_sender_thread(void *arg);
void pdi_proc_sendq_free(pworker *w);
/* proc_service.c */
void *pdi_proc_service_thread(void *arg);
uint64_t *pdi_proc_take_releases_locked(pdi_proc *p, unsigned wi, size_t *n);
/* pdi_proc_submit.c */
int pdi_proc_submit(void *self, pydron_job *const *jobs_in, size_t n, unsigned wi);
/* Lock held: worker w announced a runner for kind. */
int pdi_proc_worker_runs(const pworker *w, const char *kind);
/* service thread, lock held: hand parked jobs to a live worker, or fail
 * them when none came back in time (unlocks around the hand-over) */
void pdi_proc_unpark_locked(pdi_proc *p, uint64_t now);
int pdi_proc_fetch(void *self, pydron_value v, unsigned wi);
void pdi_proc_release(void *self, pydron_value v, unsigned wi);
/* privdir.c */
int pdi_proc_make_private_dir(pdi_proc *p);
int pdi_proc_write_secret_file(pdi_proc *p);
void pdi_proc_remove_private_dir(pdi_proc *p);
char **pdi_proc_child_env(pdi_proc *p);
void pdi_proc_free_child_env(char **e);
/* A copy of environ (the strings are shared) without the hints meant for
 * a directly spawned worker (PYDRON_PARENT_PID, PYDRON_PRIVATE_DIR,
 * PYDRON_SECRET_FILE_CLEANUP), with room for `room` more entries after
 * the *k copied ones; free() it. NULL on ENOMEM. */
char **pdi_proc_env_without_hints(size_t room, size_t *k);
/* launch_spawn.c: attributes for a child of ours: its own process group
 * (a Ctrl-C at our terminal reaches the driver only), no blocked signals,
 * SIGTERM and SIGPIPE (and SIGINT if sigint_default) at their defaults. */
void pdi_proc_spawnattr_init(posix_spawnattr_t *at, int sigint_default);

#endif
