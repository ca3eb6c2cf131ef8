/* launch_accept.c - the accept-remote launcher: workers on other machines
 * dial the driver over tcp:// or tls+tcp:// and authenticate with the
 * shared secret; optionally a shell command template is run once per worker
 * to start them. */
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

static int launch_command(pdi_proc *p);

static int accept_launch(pdi_proc *p)
{
    if (!p->launch_command)
        return 0; /* they dial in by themselves */
    pthread_mutex_lock(&p->lock);
    int rc = launch_command(p);
    pthread_mutex_unlock(&p->lock);
    return rc;
}

static int launch_command(pdi_proc *p)
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


static int accept_check(const pydron_process_options *o)
{
    char *s;
    size_t n;
    int rc = pdi_secret_resolve(o->secret, &s, &n);
    if (rc)
        return pdi_err(rc == PYDRON_EAUTH ? PYDRON_EINVAL : rc,
                       "the remote executor needs a strong shared secret (options.secret, "
                       "PYDRON_SECRET or PYDRON_SECRET_FILE): %s", pydron_error_last());
    pdi_secret_free(s, n);
    if ((o->tls_cert_file != NULL) != (o->tls_key_file != NULL))
        return pdi_err(PYDRON_EINVAL, "TLS needs both tls_cert_file and tls_key_file");
    return 0;
}

static int accept_listen(pdi_proc *p)
{
    int rc;
    if ((rc = pdi_listener_open(p->listen_url, p->cert, p->key, &p->l)) != 0)
        return rc;
    if (p->launch_command) {
        /* the secret reaches launched workers through a private file */
        if ((rc = pdi_proc_make_private_dir(p)) != 0 || (rc = pdi_proc_write_secret_file(p)) != 0)
            return rc;
    }
    pdi_log(WHO, "remote executor listening on %s; start workers with: pydron-worker "
                 "--connect %s --secret-file FILE (or PYDRON_SECRET_FILE)",
            pdi_listener_url(p->l), pdi_listener_url(p->l));
    return 0;
}

const pdi_launcher_ops pdi_launcher_accept = {
    .name = "remote",
    .default_workers = 1,
    .join_ms = 60000,
    .user_secret = 1,
    .refill_slots = 1,
    .check = accept_check,
    .listen = accept_listen,
    .launch = accept_launch,
    .joining = NULL,
    .lost = NULL,
};
