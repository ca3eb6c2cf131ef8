/* launch_slurm.c - the slurm launcher: one `srun` step starts one worker
 * per task on the nodes of a Slurm allocation.
 *
 * Inside an allocation ($SLURM_JOB_ID: the program runs in an sbatch
 * script or under salloc) the step uses that allocation; workers=0 takes
 * every allotted CPU ($SLURM_JOB_CPUS_PER_NODE). Outside one (a login
 * node) plan first asks for one, `salloc --no-shell` with the launcher
 * arguments (the user's --partition, --time, --nodes, --account ...;
 * launch_args, else $PYDRON_LAUNCH_ARGS split on white space) and
 * --ntasks=workers, or --exclusive (whole nodes) when workers=0; it waits
 * at most the join timeout for it to be granted (salloc --immediate) and
 * gives it back (scancel) when the workers are gone (stop, or a failed
 * start) or, if start never ran, when the executor is destroyed. A driver
 * killed outright leaves it to its time limit. Launcher arguments are
 * allocation options: inside an allocation they are not used.
 *
 * The secret reaches every task on its stdin (srun --input=all), never a
 * command line or a file; a task's worker id is its SLURM_PROCID. The
 * workers dial the address of this host on the route to the allocation's
 * first node (its NodeAddr, from sinfo). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"
#include "util/log.h"
#include "util/util.h"

#define QUERY_MS 30000
#define MAX_ARGS 64

typedef struct slurm_state {
    char job[32];     /* the allocation's id */
    int own;          /* we asked for it: scancel at the end */
    char nodes[512];  /* its node list ("node[1-3]") */
    char addr[256];   /* the first node's address, for the route */
} slurm_state;

/* "2(x3),4" ($SLURM_JOB_CPUS_PER_NODE) -> 10; 0 when malformed. */
static unsigned cpus_total(const char *s)
{
    unsigned long total = 0;
    while (s && *s) {
        char *end;
        errno = 0;
        unsigned long c = strtoul(s, &end, 10), r = 1;
        if (end == s || errno)
            return 0;
        s = end;
        if (*s == '(') {
            if (s[1] != 'x')
                return 0;
            r = strtoul(s + 2, &end, 10);
            if (end == s + 2 || *end != ')')
                return 0;
            s = end + 1;
        }
        if (c > 1u << 20 || r > 1u << 20 || (total += c * r) > 1u << 20)
            return 0;
        if (*s == ',')
            s++;
        else if (*s)
            return 0;
    }
    return (unsigned)total;
}

/* Run a Slurm query; its stdout (malloc'd) or NULL with the error set. */
static char *query(char *const argv[], const char *what)
{
    char *out = NULL, err[400];
    int st = 0;
    int rc = pdi_launch_run(argv, QUERY_MS, &out, err, sizeof err, &st);
    if (rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
        return out;
    free(out);
    char how[96] = "";
    if (rc == 0)
        pdi_proc_describe_status(st, how, sizeof how);
    pdi_err(PYDRON_EIO, "slurm: cannot %s: %s %s%s%s", what, argv[0],
            rc ? pydron_error_last() : how, err[0] ? ": " : "", err);
    return NULL;
}

/* The first node's address (NodeAddr), for the route to the workers. */
static int first_node_addr(slurm_state *s)
{
    const char *argv[] = {"sinfo", "-h", "-N", "-n", s->nodes, "-o", "%o", NULL};
    char *out = query((char *const *)argv, "ask for the allocation's node addresses");
    if (!out)
        return PYDRON_EIO;
    size_t n = strcspn(out, " \n");
    snprintf(s->addr, sizeof s->addr, "%.*s", (int)n, out);
    free(out);
    return 0;
}

/* "salloc: Granted job allocation 12" (or Pending ...): the job id. */
static int job_of(const char *err, char *job, size_t n)
{
    const char *m = strstr(err, "job allocation ");
    if (!m)
        return -1;
    m += strlen("job allocation ");
    size_t k = strspn(m, "0123456789");
    if (!k || k >= n)
        return -1;
    snprintf(job, n, "%.*s", (int)k, m);
    return 0;
}

static void cancel(const char *job)
{
    const char *argv[] = {"scancel", job, NULL};
    char *out = NULL, err[200];
    int st;
    if (pdi_launch_run((char *const *)argv, QUERY_MS, &out, err, sizeof err, &st) != 0 ||
        !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        pdi_log(WHO, "slurm: could not give back allocation %s (scancel %s): %s", job, job,
                err[0] ? err : pydron_error_last());
    else
        pdi_debug(WHO, "slurm: gave back allocation %s", job);
    free(out);
}

/* Outside an allocation: ask for one. */
static int allocate(pdi_proc *p, slurm_state *s, unsigned wait_s)
{
    const char *argv[MAX_ARGS];
    char ntasks[32], immediate[32];
    size_t k = 0;
    argv[k++] = "salloc";
    argv[k++] = "--no-shell";
    argv[k++] = "--job-name=pydron";
    snprintf(immediate, sizeof immediate, "--immediate=%u", wait_s ? wait_s : 1);
    argv[k++] = immediate;
    size_t first_shown = k;
    if (p->nw) {
        snprintf(ntasks, sizeof ntasks, "--ntasks=%u", p->nw);
        argv[k++] = ntasks;
    } else {
        argv[k++] = "--exclusive"; /* workers=0: every CPU of whole nodes */
    }
    for (size_t i = 0; p->launch_args && p->launch_args[i]; i++) {
        if (k >= MAX_ARGS - 1)
            return pdi_err(PYDRON_EINVAL, "slurm: too many launcher arguments (at most %d)",
                           MAX_ARGS - 8);
        argv[k++] = p->launch_args[i];
    }
    argv[k] = NULL;
    pdi_str cmd = {0};
    for (size_t i = first_shown; i < k; i++)
        pdi_str_printf(&cmd, " %s", argv[i]);
    pdi_log(WHO, "slurm: not inside an allocation; asking for one (salloc%s, waiting up to %u s)",
            cmd.buf ? cmd.buf : "", wait_s);
    char *out = NULL, err[1000];
    int st = 0;
    int rc = pdi_launch_run((char *const *)argv, (wait_s + 30) * 1000u, &out, err, sizeof err, &st);
    free(out);
    int got = job_of(err, s->job, sizeof s->job) == 0;
    int granted = rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && got &&
                  strstr(err, "Granted job allocation");
    if (!granted) {
        if (got)
            cancel(s->job); /* a pending request must not be granted later */
        int pending = strstr(err, "queued and waiting") || strstr(err, "Connection timed out") ||
                      rc == PYDRON_ETIMEDOUT;
        if (pending)
            rc = pdi_err(PYDRON_ETIMEDOUT,
                         "slurm: the allocation (salloc%s) was not granted within %u s, it is "
                         "still queued; ask for fewer or smaller nodes, another partition, or a "
                         "longer wait (join_timeout / PYDRON_CONNECT_TIMEOUT_MS), or submit the "
                         "program with sbatch%s%s",
                         cmd.buf ? cmd.buf : "", wait_s, err[0] ? ": " : "", err);
        else
            rc = pdi_err(PYDRON_EIO, "slurm: could not get an allocation (salloc%s): %s",
                         cmd.buf ? cmd.buf : "", err[0] ? err : pydron_error_last());
        free(cmd.buf);
        return rc;
    }
    free(cmd.buf);
    s->own = 1;
    /* what was granted: CPU count and nodes */
    const char *qv[] = {"squeue", "-h", "-j", s->job, "-o", "%C %N", NULL};
    char *q = query((char *const *)qv, "read the allocation");
    if (!q)
        return PYDRON_EIO;
    unsigned cpus = 0;
    if (sscanf(q, "%u %511s", &cpus, s->nodes) != 2 || !cpus) {
        rc = pdi_err(PYDRON_EIO, "slurm: cannot read allocation %s (squeue said '%s')", s->job, q);
        free(q);
        return rc;
    }
    free(q);
    if (!p->nw)
        p->nw = cpus;
    pdi_log(WHO, "slurm: got allocation %s: %u CPUs on %s", s->job, cpus, s->nodes);
    return 0;
}

/* p->launch_args from $PYDRON_LAUNCH_ARGS ("--partition=short --time=30")
 * when the options gave none: words split on white space. */
static int args_from_env(pdi_proc *p)
{
    const char *e = getenv("PYDRON_LAUNCH_ARGS");
    if ((p->launch_args && p->launch_args[0]) || !e || !*e)
        return 0;
    size_t n = 0, cap = 0;
    char **v = NULL;
    for (const char *c = e; *c;) {
        c += strspn(c, " \t\n");
        size_t k = strcspn(c, " \t\n");
        if (!k)
            break;
        if (pdi_grow((void **)&v, &cap, n + 2, sizeof *v) != 0 || !(v[n] = malloc(k + 1))) {
            for (size_t i = 0; i < n; i++)
                free(v[i]);
            free(v);
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        }
        memcpy(v[n], c, k);
        v[n][k] = 0;
        v[++n] = NULL;
        c += k;
    }
    free(p->launch_args);
    p->launch_args = v;
    return 0;
}

static int slurm_plan(pdi_proc *p)
{
    slurm_state *s = calloc(1, sizeof *s);
    if (!s)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    p->lstate = s;
    const char *job = getenv("SLURM_JOB_ID");
    int rc = args_from_env(p);
    if (rc)
        return rc;
    if (job && *job) {
        snprintf(s->job, sizeof s->job, "%s", job);
        const char *nodes = getenv("SLURM_JOB_NODELIST");
        const char *cpn = getenv("SLURM_JOB_CPUS_PER_NODE");
        unsigned cpus = cpus_total(cpn);
        if (!nodes || !*nodes || !cpus)
            return pdi_err(PYDRON_EINVAL,
                           "slurm: SLURM_JOB_ID is %s but SLURM_JOB_NODELIST (%s) or "
                           "SLURM_JOB_CPUS_PER_NODE (%s) is missing or unreadable",
                           job, nodes ? nodes : "unset", cpn ? cpn : "unset");
        snprintf(s->nodes, sizeof s->nodes, "%s", nodes);
        if (!p->nw)
            p->nw = cpus;
        if (p->launch_args && p->launch_args[0])
            pdi_log(WHO, "slurm: inside allocation %s: the allocation options (%s ...) are "
                         "not used", job, p->launch_args[0]);
        pdi_debug(WHO, "slurm: inside allocation %s: %u CPUs on %s, %u workers", job, cpus,
                  nodes, p->nw);
    } else {
        unsigned wait_s = (p->max_wait_ms + 999) / 1000;
        if ((rc = allocate(p, s, wait_s)) != 0)
            return rc;
    }
    if ((rc = first_node_addr(s)) != 0)
        return rc;
    char label[600];
    snprintf(label, sizeof label, "slurm job %s on %s", s->job, s->nodes);
    return pdi_launch_group_add(p, label, p->nw);
}

/* The srun step of group gi: every worker (gi 0), or a lost worker's
 * replacement (one task on its node, or on a node Slurm picks; --overlap:
 * the first step still holds its CPUs). */
static int slurm_start(pdi_proc *p, size_t gi)
{
    slurm_state *s = p->lstate;
    pthread_mutex_lock(&p->lock);
    pdi_launch_group *g = &p->groups[gi];
    unsigned first = g->first, n = g->n;
    g->must_live = 1; /* the step lasts as long as its workers */
    char lost_host[64] = "";
    if (gi > 0 && first < p->nw)
        snprintf(lost_host, sizeof lost_host, "%s", p->w[first].host);
    pthread_mutex_unlock(&p->lock);
    /* a replacement goes to the lost worker's node when its host name is
     * a node of the allocation (else Slurm picks one) */
    char nodelist[96] = "--input=all";
    if (lost_host[0]) {
        const char *qv[] = {"scontrol", "show", "hostnames", s->nodes, NULL};
        char *names = query((char *const *)qv, "list the allocation's nodes");
        for (char *save = NULL, *t = names ? strtok_r(names, "\n", &save) : NULL; t;
             t = strtok_r(NULL, "\n", &save))
            if (strcmp(t, lost_host) == 0)
                snprintf(nodelist, sizeof nodelist, "--nodelist=%s", lost_host);
        free(names);
    }
    char url[512];
    pdi_launch_url(p, s->addr, url, sizeof url);
    /* each task: the worker with id first + SLURM_PROCID, the secret line
     * on its stdin (srun --input=all gives every task a copy) */
    pdi_str cmd = {0};
    pdi_str_puts(&cmd, "exec ");
    pdi_launch_worker_argv_sh(p, &cmd, url);
    pdi_str_printf(&cmd, " --secret-file - --id $((%u + SLURM_PROCID))", first);
    if (cmd.oom) {
        free(cmd.buf);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    char jobid[64], ntasks[32];
    snprintf(jobid, sizeof jobid, "--jobid=%s", s->job);
    snprintf(ntasks, sizeof ntasks, "--ntasks=%u", n);
    /* the driver itself runs in a step (`srun python prog.py`): ours shares
     * its CPUs, else it waits for them forever */
    const char *step = getenv("SLURM_STEP_ID");
    int overlap = gi > 0 || (!s->own && step && *step);
    const char *argv[] = {"srun", jobid, ntasks, "--cpus-per-task=1", "--input=all",
                          "--kill-on-bad-exit=0", "--job-name=pydron-workers",
                          overlap ? "--overlap" : "--input=all",
                          gi > 0 ? "--nodes=1" : "--input=all", nodelist,
                          "/bin/sh", "-c", cmd.buf, NULL};
    int rc = pdi_launch_spawn(p, gi, (char *const *)argv);
    free(cmd.buf);
    return rc;
}

static int slurm_launch(pdi_proc *p) { return slurm_start(p, 0); }

/* The allocation goes back as soon as the workers are gone (stop, also
 * after a failed start), or at destroy when start never ran. */
static void give_back(slurm_state *s)
{
    if (s && s->own) {
        cancel(s->job);
        s->own = 0;
    }
}

static void slurm_stop(pdi_proc *p)
{
    pdi_launch_stop(p);
    give_back(p->lstate);
}

static void slurm_release(pdi_proc *p)
{
    give_back(p->lstate);
    free(p->lstate);
    p->lstate = NULL;
}

const pdi_launcher_ops pdi_launcher_slurm = {
    PDI_LAUNCH_CMD_OPS,
    .check = pdi_launch_check,
    .plan = slurm_plan,
    .launch = slurm_launch,
    .stop = slurm_stop,
    .release = slurm_release,
    .relaunch = slurm_start,
};
