/* privdir.c - the private 0700 directory of a process executor (listening
 * socket, secret file) and the environment its children get. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"

extern char **environ;


char **pdi_proc_env_without_hints(size_t room, size_t *k_out)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **e = calloc(n + room + 1, sizeof *e);
    if (!e)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "PYDRON_PARENT_PID=", 18) != 0 &&
            strncmp(environ[i], "PYDRON_PRIVATE_DIR=", 19) != 0 &&
            strncmp(environ[i], "PYDRON_SECRET_FILE_CLEANUP=", 27) != 0)
            e[k++] = environ[i];
    e[k] = NULL;
    if (k_out)
        *k_out = k;
    return e;
}

/* The thread pools of the libraries a task may call (OpenMP, OpenBLAS as
 * numpy ships it, MKL, BLIS, Accelerate, numexpr) start a thread per core
 * in every process. Local workers are one process per core already, so each
 * gets cores / workers threads (at least 1) unless the user set the
 * variable: no oversubscription, and no idle BLAS threads spinning beside
 * the next task. joblib's loky and Ray limit their workers the same way. */
static const char *const thread_vars[] = {"OMP_NUM_THREADS",  "OPENBLAS_NUM_THREADS",
                                          "MKL_NUM_THREADS",  "BLIS_NUM_THREADS",
                                          "VECLIB_MAXIMUM_THREADS", "NUMEXPR_NUM_THREADS"};
#define NTHREAD_VARS (sizeof thread_vars / sizeof *thread_vars)

static unsigned worker_lib_threads(unsigned workers)
{
    cpu_set_t set;
    long cores = sched_getaffinity(0, sizeof set, &set) == 0 ? CPU_COUNT(&set)
                                                             : sysconf(_SC_NPROCESSORS_ONLN);
    if (cores < 1)
        cores = 1;
    unsigned n = workers ? (unsigned)cores / workers : (unsigned)cores;
    return n ? n : 1;
}

/* Environment for children: ours plus the PYDRON_* cleanup hints and the
 * library thread limits. */
char **pdi_proc_child_env(pdi_proc *p)
{
    size_t k;
    char **e = pdi_proc_env_without_hints(3 + NTHREAD_VARS, &k);
    if (!e)
        return NULL;
    /* every string our own (pdi_proc_free_child_env frees them all) */
    for (size_t i = 0; i < k; i++)
        if (!(e[i] = pdi_strdup(e[i]))) {
            pdi_proc_free_child_env(e);
            return NULL;
        }
    e[k++] = pdi_asprintf("PYDRON_PARENT_PID=%d", (int)getpid());
    if (p->dir[0]) {
        e[k++] = pdi_asprintf("PYDRON_PRIVATE_DIR=%s", p->dir);
        e[k++] = pdi_asprintf("PYDRON_SECRET_FILE_CLEANUP=%s", p->secret_path);
    }
    unsigned lib = worker_lib_threads(p->nw);
    for (size_t i = 0; i < NTHREAD_VARS; i++)
        if (!getenv(thread_vars[i]))
            e[k++] = pdi_asprintf("%s=%u", thread_vars[i], lib);
    e[k] = NULL;
    return e;
}

void pdi_proc_free_child_env(char **e)
{
    if (!e)
        return;
    for (size_t i = 0; e[i]; i++)
        free(e[i]);
    free(e);
}


/* ---------------------------------------------------------------- setup */

int pdi_proc_make_private_dir(pdi_proc *p)
{
    const char *base = getenv("XDG_RUNTIME_DIR");
    if (!base || !*base || access(base, W_OK) != 0)
        base = getenv("TMPDIR");
    if (!base || !*base)
        base = "/tmp";
    snprintf(p->dir, sizeof p->dir, "%s/pydron-XXXXXX", base);
    if (strlen(p->dir) > 80) /* ipc socket paths must stay short (sun_path) */
        snprintf(p->dir, sizeof p->dir, "/tmp/pydron-XXXXXX");
    if (!mkdtemp(p->dir)) { /* mode 0700 */
        int e = errno;
        p->dir[0] = 0;
        return pdi_err(PYDRON_EIO, "cannot create a private directory: %s", strerror(e));
    }
    snprintf(p->sock_path, sizeof p->sock_path, "%s/driver.sock", p->dir);
    snprintf(p->secret_path, sizeof p->secret_path, "%s/secret", p->dir);
    return 0;
}

int pdi_proc_write_secret_file(pdi_proc *p)
{
    int fd = open(p->secret_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return pdi_err(PYDRON_EIO, "cannot write %s: %s", p->secret_path, strerror(errno));
    ssize_t w = write(fd, p->secret, p->secret_len);
    close(fd);
    if (w != (ssize_t)p->secret_len)
        return pdi_err(PYDRON_EIO, "cannot write %s", p->secret_path);
    return 0;
}

void pdi_proc_remove_private_dir(pdi_proc *p)
{
    if (!p->dir[0])
        return;
    /* everything in it is ours: sockets of workers that were killed before
     * they could unlink them, the secret, the listening socket */
    DIR *d = opendir(p->dir);
    struct dirent *e;
    char path[PATH_MAX];
    while (d && (e = readdir(d)) != NULL) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(path, sizeof path, "%s/%s", p->dir, e->d_name);
        unlink(path);
    }
    if (d)
        closedir(d);
    if (rmdir(p->dir) != 0 && errno != ENOENT)
        pdi_log(WHO, "cannot remove %s: %s", p->dir, strerror(errno));
    p->dir[0] = 0;
}

