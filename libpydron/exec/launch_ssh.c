/* launch_ssh.c - the ssh launcher: one OpenSSH session per host (BatchMode:
 * keys or an agent, never a password prompt) runs a small /bin/sh script
 * that reads the secret line from its stdin and starts the host's workers
 * with --secret-file - (the secret is in no command line, here or there).
 * Hosts are "host", "user@host" or "host:N"; with workers=0 a host without
 * N is asked for its CPU count (nproc). The sessions end with the workers
 * when the executor stops; stop then signals any that linger. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"
#include "util/util.h"

#define NPROC_TIMEOUT_MS 30000
#define MAX_ARGS 64

/* ssh [options] [launch_args] host [command]; n = number of argv entries */
static size_t ssh_argv(pdi_proc *p, const char *host, const char *command, const char **argv)
{
    const char *prog = getenv("PYDRON_SSH");
    size_t k = 0;
    argv[k++] = prog && *prog ? prog : "ssh";
    argv[k++] = "-T";                       /* no terminal */
    argv[k++] = "-o";
    argv[k++] = "BatchMode=yes";            /* never ask for a password */
    argv[k++] = "-o";
    argv[k++] = "ConnectTimeout=15";
    argv[k++] = "-o";
    argv[k++] = "LogLevel=ERROR";           /* no "Warning: Permanently added" */
    for (size_t i = 0; p->launch_args && p->launch_args[i] && k < MAX_ARGS - 4; i++)
        argv[k++] = p->launch_args[i];
    argv[k++] = "--";
    argv[k++] = host;
    argv[k++] = command;
    argv[k] = NULL;
    return k;
}

/* Ask host for its CPU count. */
static int ask_ncpus(pdi_proc *p, const char *host, unsigned *n)
{
    const char *argv[MAX_ARGS];
    ssh_argv(p, host, "nproc 2>/dev/null || getconf _NPROCESSORS_ONLN", argv);
    return pdi_launch_ask_ncpus((char *const *)argv, NPROC_TIMEOUT_MS, host, "ssh", "", "", n);
}

static int ssh_plan(pdi_proc *p)
{
    int rc = pdi_launch_host_list(p, "ssh");
    return rc ? rc : pdi_launch_plan_hosts(p, ask_ncpus);
}

/* One ssh session for group gi (also a lost worker's replacement). */
static int ssh_start(pdi_proc *p, size_t gi)
{
    pthread_mutex_lock(&p->lock);
    pdi_launch_group *g = &p->groups[gi];
    char host[300];
    snprintf(host, sizeof host, "%s", g->host);
    g->must_live = 1; /* the session lasts as long as its workers */
    pthread_mutex_unlock(&p->lock);
    char url[512];
    pdi_launch_url(p, host, url, sizeof url);
    char *script = pdi_launch_worker_script(p, gi, url);
    /* the remote login shell runs `exec /bin/sh -c SCRIPT`: the
     * script is POSIX sh whatever the user's shell is */
    pdi_str cmd = {0};
    pdi_str_puts(&cmd, "exec /bin/sh -c '");
    for (const char *c = script ? script : ""; *c; c++)
        pdi_str_puts(&cmd, *c == '\'' ? "'\\''" : (char[2]){*c, 0});
    pdi_str_puts(&cmd, "'");
    free(script);
    if (!script || cmd.oom) {
        free(cmd.buf);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    const char *argv[MAX_ARGS];
    ssh_argv(p, host, cmd.buf, argv);
    int rc = pdi_launch_spawn(p, gi, (char *const *)argv);
    free(cmd.buf);
    return rc;
}

static int ssh_launch(pdi_proc *p)
{
    for (size_t gi = 0; gi < p->ngroups; gi++) {
        int rc = ssh_start(p, gi);
        if (rc)
            return rc;
    }
    return 0;
}

const pdi_launcher_ops pdi_launcher_ssh = {
    PDI_LAUNCH_CMD_OPS,
    .check = pdi_launch_check,
    .plan = ssh_plan,
    .launch = ssh_launch,
    .stop = pdi_launch_stop,
    .relaunch = ssh_start,
};
