/* launch_spawn.c - the spawn-local launcher: pydron-worker processes on this
 * machine, started with posix_spawn, and their replacement when one is
 * lost. */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"

/* ------------------------------------------------------------ launching */

static int executable(const char *path) { return access(path, X_OK) == 0; }

/* pydron-worker in dir or dir/../bin. */
static int worker_near(const char *file, char *out, size_t n)
{
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return 0;
    *slash = 0;
    return (snprintf(out, n, "%s/pydron-worker", dir) < (int)n && executable(out)) ||
           (snprintf(out, n, "%s/../bin/pydron-worker", dir) < (int)n && executable(out));
}

/* The worker program: the option, $PYDRON_WORKER, next to libpydron (or to
 * the executable, for a host linked with the static library) or in its
 * ../bin, the install prefix, the build tree, then PATH. Not found: an
 * error that names the places tried. */
static int find_worker_command(pdi_proc *p, char *out, size_t n)
{
    const char *env = getenv("PYDRON_WORKER");
    const char *given = p->worker_command ? p->worker_command : env && *env ? env : NULL;
    if (given) {
        snprintf(out, n, "%s", given);
        if (strchr(given, '/') && !executable(given))
            return pdi_err(PYDRON_ENOTFOUND, "pydron-worker not found: %s '%s' is not an "
                                             "executable file",
                           p->worker_command ? "worker_command" : "PYDRON_WORKER", given);
        return 0;
    }
    Dl_info di;
    if (dladdr((void *)&pdi_proc_new, &di) && di.dli_fname && worker_near(di.dli_fname, out, n))
        return 0;
    char exe[PATH_MAX];
    ssize_t el = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (el > 0) {
        exe[el] = 0;
        if (worker_near(exe, out, n))
            return 0;
    }
#ifdef PYDRON_WORKER_INSTALL_PATH
    if (snprintf(out, n, "%s", PYDRON_WORKER_INSTALL_PATH) < (int)n && executable(out))
        return 0;
#endif
#ifdef PYDRON_WORKER_BUILD_PATH
    if (snprintf(out, n, "%s", PYDRON_WORKER_BUILD_PATH) < (int)n && executable(out))
        return 0;
#endif
    const char *path = getenv("PATH");
    for (const char *d = path; d && *d;) {
        const char *e = strchr(d, ':');
        size_t dl = e ? (size_t)(e - d) : strlen(d);
        if (dl && snprintf(out, n, "%.*s/pydron-worker", (int)dl, d) < (int)n && executable(out))
            return 0;
        d = e ? e + 1 : d + dl;
    }
    snprintf(out, n, "pydron-worker");
    return pdi_err(PYDRON_ENOTFOUND,
                   "pydron-worker not found (looked next to %s and %s, in their ../bin"
#ifdef PYDRON_WORKER_INSTALL_PATH
                   ", at " PYDRON_WORKER_INSTALL_PATH
#endif
                   " and on PATH); install it, set PYDRON_WORKER or "
                   "pydron_process_options.worker_command",
                   di.dli_fname ? di.dli_fname : "libpydron", el > 0 ? exe : "the executable");
}
void pdi_proc_spawnattr_init(posix_spawnattr_t *at, int sigint_default)
{
    posix_spawnattr_init(at);
    posix_spawnattr_setflags(at, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF |
                                     POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(at, 0);
    sigset_t none, def;
    sigemptyset(&none);
    sigemptyset(&def);
    sigaddset(&def, SIGTERM);
    sigaddset(&def, SIGPIPE);
    if (sigint_default)
        sigaddset(&def, SIGINT);
    posix_spawnattr_setsigmask(at, &none);
    posix_spawnattr_setsigdefault(at, &def);
}

static int spawn_one(pdi_proc *p, unsigned id, pid_t *pid)
{
    char cmd[PATH_MAX], ids[16];
    int frc = find_worker_command(p, cmd, sizeof cmd);
    if (frc)
        return frc;
    snprintf(ids, sizeof ids, "%u", id);
    size_t na = 0;
    while (p->worker_args && p->worker_args[na])
        na++;
    const char **argv = calloc(na + 12, sizeof *argv);
    char **env = pdi_proc_child_env(p);
    if (!argv || !env) {
        free(argv);
        pdi_proc_free_child_env(env);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    size_t k = 0;
    argv[k++] = cmd;
    for (size_t i = 0; i < na; i++)
        argv[k++] = p->worker_args[i];
    char url[400];
    snprintf(url, sizeof url, "ipc://%s", p->sock_path);
    argv[k++] = "--connect";
    argv[k++] = url;
    argv[k++] = "--secret-file";
    argv[k++] = p->secret_path;
    argv[k++] = "--id";
    argv[k++] = ids;
    argv[k++] = "--exit-with-parent";
    argv[k] = NULL;
    posix_spawnattr_t at;
    /* own process group: a Ctrl-C at the driver's terminal reaches the
     * driver only (it decides; workers stop with it, through the
     * connection and the parent-death signal) */
    pdi_proc_spawnattr_init(&at, 0);
    int err = posix_spawnp(pid, cmd, NULL, &at, (char *const *)argv, env);
    posix_spawnattr_destroy(&at);
    free(argv);
    pdi_proc_free_child_env(env);
    if (err)
        return pdi_err(PYDRON_EIO, "cannot start worker %s: %s", cmd, strerror(err));
    return 0;
}

/* Substitute {url} {id} {host} {secret_file} in the launch template. */

/* Local: start a replacement in the same slot, so that the number of
 * workers stays what the core was told (bounded, against crash loops). */
static void spawn_lost(pdi_proc *p, unsigned wi)
{
    pthread_mutex_lock(&p->lock);
    if (p->stopping || p->respawns >= 16u * p->nw || wi >= p->nlaunched) {
        if (!p->stopping && !p->launcher_gave_up) {
            p->launcher_gave_up = 1;
            pdi_log(WHO, "worker %u is not replaced: %u workers were started again already "
                         "(they keep dying)", wi, p->respawns);
        }
        pthread_mutex_unlock(&p->lock);
        return;
    }
    p->respawns++;
    pid_t old = p->launched[wi];
    pthread_mutex_unlock(&p->lock);
    if (old > 0) {
        /* the old process may still be alive (connection dropped): make sure */
        kill(old, SIGKILL);
        waitpid(old, NULL, 0);
    }
    pid_t pid;
    int rc = spawn_one(p, wi, &pid);
    pthread_mutex_lock(&p->lock);
    p->launched[wi] = rc == 0 ? pid : 0;
    if (rc)
        p->launcher_gave_up = 1; /* parked jobs fail instead of waiting */
    pthread_mutex_unlock(&p->lock);
    if (rc)
        pdi_log(WHO, "cannot replace worker %u: %s", wi, pydron_error_last());
    else
        pdi_debug(WHO, "worker %u replaced by pid %d", wi, (int)pid);
}


/* The workers dial a socket in the private directory with a fresh secret. */
static int spawn_listen(pdi_proc *p)
{
    int rc;
    if ((rc = pdi_proc_make_private_dir(p)) != 0 || (rc = pdi_proc_write_secret_file(p)) != 0)
        return rc;
    char url[400];
    snprintf(url, sizeof url, "ipc://%s", p->sock_path);
    return pdi_listener_open(url, NULL, NULL, &p->l);
}

static int spawn_launch(pdi_proc *p)
{
    int rc;
    p->launched = calloc(p->nw, sizeof *p->launched);
    if (!p->launched)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    for (unsigned i = 0; i < p->nw; i++) {
        pid_t pid;
        if ((rc = spawn_one(p, i, &pid)) != 0)
            return rc;
        pthread_mutex_lock(&p->lock);
        p->launched[p->nlaunched++] = pid;
        pthread_mutex_unlock(&p->lock);
    }
    return 0;
}

/* A child that died before joining: say why now, not at timeout. */
static int spawn_joining(pdi_proc *p)
{
    int st = 0;
    for (size_t i = 0; i < p->nlaunched; i++) {
        if (p->launched[i] > 0 && !p->w[i].used &&
            waitpid(p->launched[i], &st, WNOHANG) == p->launched[i]) {
            p->launched[i] = -p->launched[i];
            return pdi_err(PYDRON_EIO, "a worker process exited before joining (status %d%s)",
                           WIFEXITED(st) ? WEXITSTATUS(st) : -1,
                           WIFEXITED(st) && WEXITSTATUS(st) == 127
                               ? ": pydron-worker not found; set worker_command"
                               : "");
        }
    }
    return 0;
}

const pdi_launcher_ops pdi_launcher_spawn = {
    .name = "local",
    .default_workers = 0,
    .join_ms = 15000,
    .user_secret = 0,
    .refill_slots = 0,
    .check = NULL,
    .listen = spawn_listen,
    .launch = spawn_launch,
    .joining = spawn_joining,
    .lost = spawn_lost,
};
