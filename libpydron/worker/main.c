/* pydron-worker: a worker process for the local and remote executors.
 *   pydron-worker --connect URL [--secret-file F] [--id N] [--threads N]
 *                 [--tls-ca F] [--peer-url URL] [--exit-with-parent]
 *                 [--load LIB]...
 * The secret comes from --secret-file, $PYDRON_SECRET_FILE or $PYDRON_SECRET,
 * never from the command line (every local user can read that in ps).
 * --load dlopens a shared object that exports the runners of its task
 * kinds as
 *     const pydron_worker_runner pydron_worker_runners[]
 * terminated by an entry whose kind_name is NULL; tasks of those kinds
 * then run in this worker (e.g. C functions a host program registered
 * with pydron_runtime_register_c under the same names). */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"

static void usage(void)
{
    fprintf(stderr,
            "usage: pydron-worker --connect URL [--secret-file FILE] [--id N] [--threads N]\n"
            "                     [--tls-ca FILE] [--peer-url URL] [--exit-with-parent]\n"
            "                     [--load LIB]...\n"
            "  URL: ipc:///path, tcp://host:port or tls+tcp://host:port of the driver\n"
            "  the shared secret is read from FILE, $PYDRON_SECRET_FILE or $PYDRON_SECRET\n"
            "  (make one with: pydron-secret > FILE; chmod 600 FILE)\n");
}

#define MAX_RUNNERS 256

/* Add the runners exported by a shared object. */
static int load_runners(const char *path, pydron_worker_runner *rs, size_t *n)
{
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        fprintf(stderr, "pydron-worker: cannot load %s: %s\n", path, dlerror());
        return -1;
    }
    const pydron_worker_runner *tab = dlsym(h, "pydron_worker_runners");
    if (!tab) {
        fprintf(stderr, "pydron-worker: %s exports no pydron_worker_runners table\n", path);
        return -1;
    }
    for (size_t i = 0; tab[i].kind_name; i++) {
        if (*n == MAX_RUNNERS || !tab[i].ops || !tab[i].ops->run) {
            fprintf(stderr, "pydron-worker: %s: runner %zu (%s) is invalid or one too many\n",
                    path, i, tab[i].kind_name);
            return -1;
        }
        rs[(*n)++] = tab[i];
    }
    return 0;
}

int main(int argc, char **argv)
{
    static pydron_worker_runner runners[MAX_RUNNERS];
    static char secret[PYDRON_SECRET_MAX + 1];
    size_t nrunners = 0;
    pydron_worker_options o;
    pydron_worker_options_init(&o);
    o.exit_with_parent = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(a, "--connect") == 0 && v) {
            o.url = v;
            i++;
        } else if (strcmp(a, "--secret-file") == 0 && v) {
            if (pydron_secret_read_file(v, secret, sizeof secret, NULL) != 0) {
                fprintf(stderr, "pydron-worker: %s\n", pydron_error_last());
                return 2;
            }
            o.secret = secret;
            i++;
        } else if (strcmp(a, "--secret") == 0 || strncmp(a, "--secret=", 9) == 0) {
            fprintf(stderr, "pydron-worker: --secret is not accepted: a command line is "
                            "visible to every local user (ps). Put the secret in a file "
                            "(pydron-secret > FILE; chmod 600 FILE) and pass --secret-file "
                            "FILE, or set PYDRON_SECRET_FILE or PYDRON_SECRET\n");
            return 2;
        } else if (strcmp(a, "--id") == 0 && v) {
            o.worker_id = atoi(v);
            i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            o.threads = (unsigned)atoi(v);
            i++;
        } else if (strcmp(a, "--tls-ca") == 0 && v) {
            o.tls_ca_file = v;
            i++;
        } else if (strcmp(a, "--peer-url") == 0 && v) {
            o.listen_peer_url = v;
            i++;
        } else if (strcmp(a, "--load") == 0 && v) {
            if (load_runners(v, runners, &nrunners) != 0)
                return 2;
            i++;
        } else if (strcmp(a, "--exit-with-parent") == 0) {
            o.exit_with_parent = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage();
            return 0;
        } else {
            fprintf(stderr, "pydron-worker: unknown or incomplete argument %s\n", a);
            usage();
            return 2;
        }
    }
    if (!o.url) {
        usage();
        return 2;
    }
    o.runners = runners;
    o.nrunners = nrunners;
    int rc = pydron_worker_main(&o);
    if (rc != 0 && rc != PYDRON_ECLOSED) {
        fprintf(stderr, "pydron-worker: %s: %s\n", pydron_strerror(rc), pydron_error_last());
        return 1;
    }
    return 0;
}
