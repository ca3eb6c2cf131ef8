/* launch_mpi.c - the mpi launcher, for sites without Slurm: one OpenMPI
 * `mpirun` starts the workers on the hosts of a host file, one worker per
 * slot; mpirun reaches the hosts as it always does (ssh, or its
 * plm_rsh_agent), and every worker dials the driver.
 *
 * Hosts come as for ssh (launch_hosts or $PYDRON_HOSTS: "host", "host:N",
 * or a file of them, one per line) and an mpirun host file line "host
 * slots=N" is read too. workers=0 takes every slot; a host without a count
 * is asked for its CPU count (mpirun -np 1 nproc). mpirun gets a host file
 * written for the run, --map-by slot (rank r is on the host whose slots
 * hold r) and --stdin all: every rank gets the secret line on its stdin,
 * never in a command line; a rank's worker id is its rank.
 * $PYDRON_MPIRUN names another mpirun; launch_args go to mpirun. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"
#include "util/log.h"
#include "util/util.h"

#define QUERY_MS 60000
#define MAX_ARGS 64

typedef struct mpi_state {
    char hostfile[400];
    char **hosts;      /* per host, in rank order (without user@) */
    unsigned *slots;   /* its workers */
    size_t nhosts;
} mpi_state;

static const char *mpirun_prog(void)
{
    const char *m = getenv("PYDRON_MPIRUN");
    return m && *m ? m : "mpirun";
}

/* mpirun [launch_args] -np 1 --host HOST:1 --bind-to none nproc */
static int ask_ncpus(pdi_proc *p, const char *host, unsigned *n)
{
    char h[300];
    snprintf(h, sizeof h, "%s:1", host);
    const char *argv[MAX_ARGS];
    size_t k = 0;
    argv[k++] = mpirun_prog();
    for (size_t i = 0; p->launch_args && p->launch_args[i] && k < MAX_ARGS - 8; i++)
        argv[k++] = p->launch_args[i];
    const char *tail[] = {"-np", "1", "--host", h, "--bind-to", "none", "nproc", NULL};
    for (size_t i = 0; tail[i]; i++)
        argv[k++] = tail[i];
    argv[k] = NULL;
    return pdi_launch_ask_ncpus((char *const *)argv, QUERY_MS, host, mpirun_prog(), "mpi: ",
                                "; give host:N or 'host slots=N' instead", n);
}

/* Lines of an mpirun host file ("host slots=N", "host:N", "host",
 * comments) -> "host:N" / "host" entries. Returns a NULL-terminated array
 * or NULL (error set). */
static char **read_hostfile(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        pdi_err(PYDRON_EINVAL, "mpi: cannot read host file %s", path);
        return NULL;
    }
    char **v = NULL;
    size_t n = 0, cap = 0;
    char line[512];
    int bad = 0;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash)
            *hash = 0;
        char host[300] = "", rest[200] = "";
        if (sscanf(line, "%299s %199[^\n]", host, rest) < 1)
            continue;
        char entry[320];
        const char *slots = strstr(rest, "slots=");
        if (slots) {
            char *end;
            long s = strtol(slots + 6, &end, 10);
            if (s <= 0 || s > 4096) {
                bad = 1;
                pdi_err(PYDRON_EINVAL, "mpi: host file %s: bad slot count in '%s %s'", path,
                        host, rest);
                break;
            }
            snprintf(entry, sizeof entry, "%s:%ld", host, s);
        } else {
            snprintf(entry, sizeof entry, "%s", host);
        }
        if (pdi_grow((void **)&v, &cap, n + 2, sizeof *v) != 0 || !(v[n] = pdi_strdup(entry))) {
            bad = 1;
            pdi_err(PYDRON_ENOMEM, "out of memory");
            break;
        }
        v[++n] = NULL;
    }
    fclose(f);
    if (!bad && n == 0) {
        bad = 1;
        pdi_err(PYDRON_EINVAL, "mpi: host file %s names no host", path);
    }
    if (bad) {
        for (size_t i = 0; v && v[i]; i++)
            free(v[i]);
        free(v);
        return NULL;
    }
    return v;
}

static int mpi_plan(pdi_proc *p)
{
    mpi_state *s = calloc(1, sizeof *s);
    if (!s)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    p->lstate = s;
    /* hosts or $PYDRON_HOSTS naming one file: an mpirun host file ("host
     * slots=N") or pydron's ("host:N") */
    const char *one = NULL;
    if (p->launch_hosts && p->launch_hosts[0])
        one = p->launch_hosts[1] ? NULL : p->launch_hosts[0];
    else
        one = getenv("PYDRON_HOSTS");
    struct stat st;
    int rc;
    if (one && *one && stat(one, &st) == 0 && S_ISREG(st.st_mode)) {
        char **v = read_hostfile(one);
        if (!v)
            return PYDRON_EINVAL;
        for (size_t i = 0; p->launch_hosts && p->launch_hosts[i]; i++)
            free(p->launch_hosts[i]);
        free(p->launch_hosts);
        p->launch_hosts = v;
    } else if ((rc = pdi_launch_host_list(p, "mpi")) != 0) {
        return rc;
    }
    if ((rc = pdi_launch_plan_hosts(p, ask_ncpus)) != 0)
        return rc;
    /* one mpirun starts them all: the per-host groups become the host
     * file, and one group (one command) stands for every worker */
    s->hosts = calloc(p->ngroups, sizeof *s->hosts);
    s->slots = calloc(p->ngroups, sizeof *s->slots);
    if (!s->hosts || !s->slots)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    pdi_str label = {0};
    for (size_t i = 0; i < p->ngroups; i++) {
        const char *h = p->groups[i].host;
        const char *at = strrchr(h, '@'); /* mpirun's host file has no user@ */
        if (!(s->hosts[i] = pdi_strdup(at ? at + 1 : h)))
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        s->slots[i] = p->groups[i].n;
        s->nhosts++;
        if (i < 8)
            pdi_str_printf(&label, "%s%s:%u", i ? "," : "", s->hosts[i], s->slots[i]);
        else if (i == 8)
            pdi_str_puts(&label, ",...");
        free(p->groups[i].host);
    }
    p->ngroups = 0;
    rc = label.oom ? pdi_err(PYDRON_ENOMEM, "out of memory")
                   : pdi_launch_group_add(p, label.buf, p->nw);
    free(label.buf);
    return rc;
}

static int mpi_check_openmpi(void)
{
    const char *argv[] = {mpirun_prog(), "--version", NULL};
    char *out = NULL, err[300];
    int st = 0;
    int rc = pdi_launch_run((char *const *)argv, QUERY_MS, &out, err, sizeof err, &st);
    int ok = rc == 0 && out && strstr(out, "Open MPI");
    if (!ok) {
        size_t n = out ? strcspn(out, "\n") : 0;
        rc = pdi_err(PYDRON_EINVAL,
                     "mpi: the mpi launcher needs OpenMPI's mpirun (%s --version said '%.*s%s'); "
                     "use cluster=\"ssh\" or a command template instead",
                     argv[0], (int)n, out ? out : "", rc ? pydron_error_last() : err);
    }
    free(out);
    return ok ? 0 : rc;
}

static int mpi_launch(pdi_proc *p)
{
    mpi_state *s = p->lstate;
    int rc = mpi_check_openmpi();
    if (rc)
        return rc;
    /* the host file, in group order: rank r runs on the host holding slot r */
    snprintf(s->hostfile, sizeof s->hostfile, "%s/hostfile", p->dir);
    FILE *f = fopen(s->hostfile, "w");
    if (!f)
        return pdi_err(PYDRON_EIO, "mpi: cannot write %s", s->hostfile);
    for (size_t i = 0; i < s->nhosts; i++)
        fprintf(f, "%s slots=%u\n", s->hosts[i], s->slots[i]);
    if (fclose(f) != 0)
        return pdi_err(PYDRON_EIO, "mpi: cannot write %s", s->hostfile);
    char url[512];
    pdi_launch_url(p, s->hosts[0], url, sizeof url);
    pdi_str cmd = {0};
    pdi_str_puts(&cmd, "exec ");
    pdi_launch_worker_argv_sh(p, &cmd, url);
    pdi_str_puts(&cmd, " --secret-file - --id ${OMPI_COMM_WORLD_RANK:?not started by OpenMPI}");
    if (cmd.oom) {
        free(cmd.buf);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    char np[32];
    snprintf(np, sizeof np, "%u", p->nw);
    const char *argv[MAX_ARGS];
    size_t k = 0;
    argv[k++] = mpirun_prog();
    for (size_t i = 0; p->launch_args && p->launch_args[i] && k < MAX_ARGS - 16; i++)
        argv[k++] = p->launch_args[i];
    const char *tail[] = {"--hostfile", s->hostfile, "-np", np, "--map-by", "slot",
                          "--bind-to", "none", "--stdin", "all", "/bin/sh", "-c", cmd.buf, NULL};
    for (size_t i = 0; tail[i]; i++)
        argv[k++] = tail[i];
    argv[k] = NULL;
    p->groups[0].must_live = 1; /* mpirun lasts as long as its workers */
    rc = pdi_launch_spawn(p, 0, (char *const *)argv);
    free(cmd.buf);
    return rc;
}

static void mpi_release(pdi_proc *p)
{
    mpi_state *s = p->lstate;
    for (size_t i = 0; s && i < s->nhosts; i++)
        free(s->hosts[i]);
    if (s) {
        free(s->hosts);
        free(s->slots);
    }
    free(s);
    p->lstate = NULL;
}

const pdi_launcher_ops pdi_launcher_mpi = {
    PDI_LAUNCH_CMD_OPS,
    .check = pdi_launch_check,
    .plan = mpi_plan,
    .launch = mpi_launch,
    .stop = pdi_launch_stop,
    .release = mpi_release,
    .relaunch = NULL,
    .no_restart = "mpirun cannot add a process to its running job, so a lost mpi worker is "
                  "not started again (use cluster=\"ssh\" or \"slurm\" for restarts)",
};
