/* launch_template.c - the command launcher (cluster "command"): a /bin/sh
 * command template for whatever else starts machines or processes (cloud
 * VMs, a Kubernetes Job, a site script). {url} is the address to dial (as
 * the host sees it), {secret_file} a private 0600 file holding the secret
 * (the secret is also one line on the command's stdin), {n} the number of
 * workers the command starts, {host} its host and {id} the first worker id.
 * A template with {n} runs once per host (once in all without hosts);
 * without {n}, once per worker. A command may end at once (it asked a
 * cloud for machines) or live as long as its workers; a non-zero exit
 * before its workers joined ends the wait with its stderr. docs/cluster.md
 * has EC2 and Kubernetes examples. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"
#include "util/util.h"

static char *expand(const char *tpl, const char *url, unsigned id, unsigned n, const char *host,
                    const char *secret_file)
{
    pdi_str s = {0};
    char ids[16], ns[16];
    snprintf(ids, sizeof ids, "%u", id);
    snprintf(ns, sizeof ns, "%u", n);
    static const char *const keys[] = {"{url}", "{id}", "{host}", "{secret_file}", "{n}"};
    const char *vals[] = {url, ids, host, secret_file, ns};
    for (const char *c = tpl; *c;) {
        size_t k = 0;
        while (k < 5 && strncmp(c, keys[k], strlen(keys[k])) != 0)
            k++;
        if (k < 5) {
            pdi_str_puts(&s, vals[k]);
            c += strlen(keys[k]);
        } else {
            char ch[2] = {*c++, 0};
            pdi_str_puts(&s, ch);
        }
    }
    if (s.oom) {
        free(s.buf);
        return NULL;
    }
    return s.buf ? s.buf : pdi_strdup("");
}

static int template_check(const pydron_process_options *o)
{
    if (!o->launch_command || !*o->launch_command)
        return pdi_err(PYDRON_EINVAL, "the command launcher needs launch_command, a /bin/sh "
                                      "command with {url} {secret_file} {n} {host} {id} (Python: "
                                      "configure(cluster=\"command\", launch_command=...))");
    return pdi_launch_check(o);
}

static int template_plan(pdi_proc *p)
{
    int rc = pdi_launch_host_list(p, NULL);
    if (rc)
        return rc;
    int per_host = strstr(p->launch_command, "{n}") != NULL;
    if (p->launch_hosts && p->launch_hosts[0]) {
        if ((rc = pdi_launch_plan_hosts(p, NULL)) != 0)
            return rc;
    } else {
        if (p->nw == 0)
            return pdi_err(PYDRON_EINVAL, "the command launcher cannot tell how many workers to "
                                          "start: give workers=N (or hosts as \"host:N\")");
        if ((rc = pdi_launch_group_add(p, NULL, p->nw)) != 0)
            return rc;
    }
    if (per_host)
        return 0;
    /* no {n}: one command per worker */
    pdi_launch_group *old = p->groups;
    size_t nold = p->ngroups;
    p->groups = NULL;
    p->ngroups = p->capgroups = 0;
    for (size_t i = 0; i < nold && rc == 0; i++)
        for (unsigned k = 0; k < old[i].n && rc == 0; k++)
            rc = pdi_launch_group_add(p, old[i].host, 1);
    for (size_t i = 0; i < nold; i++)
        free(old[i].host);
    free(old);
    return rc;
}

/* Run the template for group gi (also a lost worker's replacement: n=1,
 * id = its slot). */
static int template_start(pdi_proc *p, size_t gi)
{
    pthread_mutex_lock(&p->lock);
    pdi_launch_group *g = &p->groups[gi];
    char host[300];
    snprintf(host, sizeof host, "%s", g->host ? g->host : "localhost");
    int has_host = g->host != NULL;
    unsigned first = g->first, n = g->n;
    g->must_live = 0; /* it may only have asked for machines */
    pthread_mutex_unlock(&p->lock);
    char url[512];
    pdi_launch_url(p, has_host ? host : NULL, url, sizeof url);
    char *cmd = expand(p->launch_command, url, first, n, host, p->secret_path);
    if (!cmd)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pdi_debug(WHO, "launch: %s", cmd);
    int rc = pdi_launch_spawn(p, gi, (char *const *)argv);
    free(cmd);
    return rc;
}

static int template_launch(pdi_proc *p)
{
    for (size_t gi = 0; gi < p->ngroups; gi++) {
        int rc = template_start(p, gi);
        if (rc)
            return rc;
    }
    return 0;
}

const pdi_launcher_ops pdi_launcher_template = {
    PDI_LAUNCH_CMD_OPS,
    .check = template_check,
    .plan = template_plan,
    .launch = template_launch,
    .stop = pdi_launch_stop,
    .relaunch = template_start,
};
