/* launch_accept.c - the accept-remote launcher: workers on other machines
 * dial the driver over tcp:// or tls+tcp:// and authenticate with the
 * shared secret. (Launchers that start them: launch_ssh.c, launch_template.c
 * and the others in launch_table.c.) */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"

/* workers dial in by themselves: nothing to launch */
static int accept_launch(pdi_proc *p)
{
    (void)p;
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
    /* the address to give workers: a 0.0.0.0 listener is not dialable,
     * our address on the network is */
    char url[512];
    pdi_launch_url(p, NULL, url, sizeof url);
    int py = 0;
    for (size_t i = 0; p->required_kinds && p->required_kinds[i]; i++)
        py |= strcmp(p->required_kinds[i], "python") == 0;
    pdi_log(WHO, "remote executor listening on %s; start workers with: %s --connect %s "
                 "--secret-file FILE (or PYDRON_SECRET_FILE)",
            pdi_listener_url(p->l), py ? "python -m pydron worker" : "pydron-worker", url);
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
