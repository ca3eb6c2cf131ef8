/* launch_remote.c - the launch-command launcher of the remote executor: a
 * shell command template run once per worker. */
#include <spawn.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"

extern char **environ;

static char *expand(const char *tpl, const char *url, unsigned id, const char *host,
                    const char *secret_file)
{
    pdi_str s = {0};
    char ids[16];
    snprintf(ids, sizeof ids, "%u", id);
    for (const char *c = tpl; *c;) {
        const char *rep = NULL;
        size_t skip = 0;
        if (strncmp(c, "{url}", 5) == 0) rep = url, skip = 5;
        else if (strncmp(c, "{id}", 4) == 0) rep = ids, skip = 4;
        else if (strncmp(c, "{host}", 6) == 0) rep = host, skip = 6;
        else if (strncmp(c, "{secret_file}", 13) == 0) rep = secret_file, skip = 13;
        if (rep) {
            pdi_str_puts(&s, rep);
            c += skip;
        } else {
            char ch[2] = {*c, 0};
            pdi_str_puts(&s, ch);
            c++;
        }
    }
    if (s.oom) {
        free(s.buf);
        return NULL;
    }
    return s.buf ? s.buf : pdi_strdup("");
}

int pdi_proc_launch_remote(pdi_proc *p)
{
    size_t nh = 0;
    while (p->launch_hosts && p->launch_hosts[nh])
        nh++;
    p->launched = calloc(p->nw, sizeof *p->launched);
    if (!p->launched)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    char **env = pdi_proc_child_env(p);
    for (unsigned i = 0; i < p->nw; i++) {
        const char *host = nh ? p->launch_hosts[i % nh] : "localhost";
        char *cmd = expand(p->launch_command, pdi_listener_url(p->l), i, host, p->secret_path);
        if (!cmd) {
            pdi_proc_free_child_env(env);
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        }
        const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
        pid_t pid;
        int err = posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *)argv, env);
        pdi_debug(WHO, "launch: %s", cmd);
        free(cmd);
        if (err) {
            pdi_proc_free_child_env(env);
            return pdi_err(PYDRON_EIO, "cannot run the launch command: %s", strerror(err));
        }
        p->launched[p->nlaunched++] = pid;
    }
    pdi_proc_free_child_env(env);
    return 0;
}

