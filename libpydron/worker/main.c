/* pydron-worker: a worker process for the local and remote executors.
 *   pydron-worker --connect URL [--secret-file F] [--id N] [--threads N]
 *                 [--tls-ca F] [--peer-url URL] [--connect-timeout S]
 *                 [--exit-with-parent] [--load LIB]...
 * The secret comes from --secret-file (- = one line on stdin, as launchers
 * send it), $PYDRON_SECRET_FILE or $PYDRON_SECRET, never from the command
 * line (every local user can read that in ps). A driver that does not
 * listen yet is dialled again for --connect-timeout seconds (default 60).
 * Every exit but the driver's orderly end prints why on stderr and has a
 * non-zero status.
 * --load dlopens a shared object that exports the runners of its task
 * kinds as
 *     const pydron_worker_runner pydron_worker_runners[]
 * terminated by an entry whose kind_name is NULL; tasks of those kinds
 * then run in this worker (e.g. C functions a host program registered
 * with pydron_runtime_register_c under the same names).
 * --restart runs the worker in a child process and starts it again when it
 * crashes (a task killed it): see supervise(). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"

/* The options in the same words as `python -m pydron worker --help`
 * (tests/python/test_cli.py compares the two). */
static void usage(FILE *f)
{
    fprintf(f,
            "usage: pydron-worker --connect URL [--secret-file SECRET_FILE] [--id ID]\n"
            "                     [--threads THREADS] [--tls-ca TLS_CA] [--peer-url PEER_URL]\n"
            "                     [--connect-timeout SECONDS] [--exit-with-parent]\n"
            "                     [--load LIB]... [--restart]\n"
            "\n"
            "pydron worker process (C tasks; `python -m pydron worker` runs Python tasks too)\n"
            "\n"
            "options:\n"
            "  -h, --help            show this help message and exit\n"
            "  --connect URL, -c URL\n"
            "                        driver address (ipc://, tcp://, tls+tcp://)\n"
            "  --secret-file SECRET_FILE\n"
            "                        read the shared secret from this file (mode 600; -:\n"
            "                        one line on stdin; default: $PYDRON_SECRET_FILE, else\n"
            "                        $PYDRON_SECRET)\n"
            "  --id ID               worker id (-1: assigned by the driver)\n"
            "  --threads THREADS     task threads (default 1)\n"
            "  --tls-ca TLS_CA       PEM CA file to verify the driver (tls+tcp://; default:\n"
            "                        $PYDRON_TLS_CA)\n"
            "  --peer-url PEER_URL   where peers fetch this worker's values\n"
            "  --connect-timeout SECONDS\n"
            "                        keep trying to reach a driver that does not listen\n"
            "                        yet for this long (default 60; 0: one attempt)\n"
            "  --exit-with-parent    exit when the parent process dies\n"
            "  --load LIB            run the task kinds a shared object exports (its\n"
            "                        pydron_worker_runners table); may be repeated\n"
            "  --restart             supervise: start the worker in a child process and\n"
            "                        start it again when it dies (e.g. a task crashed it);\n"
            "                        stop when it ends normally\n"
            "\n"
            "Make a secret file with: pydron-secret > FILE; chmod 600 FILE\n");
}

/* A whole decimal number in [lo, hi], or a clear error. */
static int parse_int(const char *opt, const char *v, long lo, long hi, long *out)
{
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || end == v || *end || x < lo || x > hi) {
        fprintf(stderr, "pydron-worker: %s needs a whole number from %ld to %ld, not '%s'\n",
                opt, lo, hi, v);
        return -1;
    }
    *out = x;
    return 0;
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

/* ------------------------------------------------------------ --restart */

/* Exit statuses that end a worker by itself, as in `python -m pydron.worker`
 * (worker.py _FINAL): 0 = the driver said shutdown or is gone, 1 = refused
 * or cannot connect, 2 = bad arguments. Anything else (a signal, _exit(3)
 * in a task) is a crash, and the worker is started again. */
static int final_status(int st) { return WIFEXITED(st) && WEXITSTATUS(st) <= 2; }

static const char *signame(int sig)
{
    static const struct { int sig; const char *name; } t[] = {
        {SIGSEGV, "SIGSEGV"}, {SIGBUS, "SIGBUS"},   {SIGFPE, "SIGFPE"},   {SIGILL, "SIGILL"},
        {SIGABRT, "SIGABRT"}, {SIGKILL, "SIGKILL"}, {SIGTERM, "SIGTERM"}, {SIGINT, "SIGINT"},
        {SIGHUP, "SIGHUP"},   {SIGPIPE, "SIGPIPE"}, {SIGXCPU, "SIGXCPU"}, {SIGSYS, "SIGSYS"},
        {SIGTRAP, "SIGTRAP"}, {SIGUSR1, "SIGUSR1"}, {SIGUSR2, "SIGUSR2"}, {SIGXFSZ, "SIGXFSZ"},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (t[i].sig == sig)
            return t[i].name;
    return NULL;
}

/* The words of worker.py's _describe: "killed by SIGSEGV", "exited with status 3". */
static void describe(int st, char *buf, size_t n)
{
    if (WIFSIGNALED(st) && signame(WTERMSIG(st)))
        snprintf(buf, n, "killed by %s", signame(WTERMSIG(st)));
    else if (WIFSIGNALED(st))
        snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    else
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
}

static volatile sig_atomic_t stop_requested;
static volatile pid_t child_pid;

static void on_stop(int sig)
{
    (void)sig;
    stop_requested = 1;
    if (child_pid > 0)
        kill(child_pid, SIGTERM);
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Run the worker (run(o), in a forked child: arguments, runners and the
 * secret were read once, also from stdin) again each time it crashes, so
 * that a task that kills its worker costs the driver one run, not the
 * worker. The child learns through $PYDRON_SUPERVISED how its predecessor
 * ended and says so in its Hello (the driver names it in the error of the
 * task that was running). Quick crashes in a row (within 5 s of the start)
 * back off, 0.5 s doubling to 10 s; after 20 in a row it gives up (status
 * 1). SIGTERM/SIGINT stop the child and the supervisor (status 0). */
static int supervise(const pydron_worker_options *o, int (*run)(const pydron_worker_options *))
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    setenv("PYDRON_SUPERVISED", "0", 1);
    int quick = 0;
    double delay = 0.5;
    for (;;) {
        double t0 = now_s();
        fflush(NULL);
        /* SIGTERM/SIGINT stay blocked across the fork until each side has
         * its handlers: else a SIGTERM forwarded to the child before it reset
         * the inherited on_stop was taken by that handler and lost, and the
         * child went on (found by test_worker_restart: a supervisor that did
         * not stop) */
        sigset_t stops, old;
        sigemptyset(&stops);
        sigaddset(&stops, SIGTERM);
        sigaddset(&stops, SIGINT);
        sigprocmask(SIG_BLOCK, &stops, &old);
        pid_t pid = fork();
        if (pid < 0) {
            sigprocmask(SIG_SETMASK, &old, NULL);
            fprintf(stderr, "pydron-worker supervisor: cannot start the worker: %s\n",
                    strerror(errno));
            return 1;
        }
        if (pid == 0) {
            signal(SIGTERM, SIG_DFL);
            signal(SIGINT, SIG_IGN); /* Ctrl-C reaches the group: the driver decides */
            sigprocmask(SIG_SETMASK, &old, NULL);   /* a pending SIGTERM ends it here */
            int rc = run(o);
            fflush(NULL);
            _exit(rc);
        }
        child_pid = pid;
        sigprocmask(SIG_SETMASK, &old, NULL);   /* a pending stop is forwarded now */
        if (stop_requested) /* a signal before child_pid was set */
            kill(pid, SIGTERM);
        int st = 0;
        while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
            ;
        child_pid = 0;
        if (stop_requested)
            return 0;
        if (final_status(st))
            return WEXITSTATUS(st);
        char how[64];
        describe(st, how, sizeof how);
        quick = now_s() - t0 < 5 ? quick + 1 : 0;
        delay = quick > 1 ? (delay * 2 < 10 ? delay * 2 : 10) : 0.5;
        if (quick >= 20) {
            fprintf(stderr, "pydron-worker supervisor: worker process (pid %d) %s; it crashed "
                            "%d times in a row within seconds: giving up\n", (int)pid, how, quick);
            return 1;
        }
        fprintf(stderr, "pydron-worker supervisor: worker process (pid %d) %s; starting it "
                        "again\n", (int)pid, how);
        char env[96];
        snprintf(env, sizeof env, "%d %s", (int)pid, how);
        setenv("PYDRON_SUPERVISED", env, 1);
        if (quick > 1) {
            struct timespec ts = {(time_t)delay, (long)((delay - (double)(time_t)delay) * 1e9)};
            while (!stop_requested && nanosleep(&ts, &ts) != 0 && errno == EINTR)
                ;
            if (stop_requested)
                return 0;
        }
    }
}

/* The worker loop and main's exit status for it. */
static int run_worker(const pydron_worker_options *o)
{
    int rc = pydron_worker_main(o);
    if (rc != 0 && rc != PYDRON_ECLOSED) { /* ECLOSED: the driver ended the session */
        fprintf(stderr, "pydron-worker: %s: %s\n", pydron_strerror(rc), pydron_error_last());
        return 1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    static pydron_worker_runner runners[MAX_RUNNERS];
    static char secret[PYDRON_SECRET_MAX + 1];
    size_t nrunners = 0;
    int restart = 0;
    pydron_worker_options o;
    pydron_worker_options_init(&o);
    o.exit_with_parent = 0;
    o.connect_timeout_ms = 60000;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *v = i + 1 < argc ? argv[i + 1] : NULL;
        long num;
        if ((strcmp(a, "--connect") == 0 || strcmp(a, "-c") == 0) && v) {
            o.url = v;
            i++;
        } else if (strcmp(a, "--secret-file") == 0 && v) {
            if (pydron_secret_read_file(strcmp(v, "-") == 0 ? "/dev/stdin" : v, secret,
                                        sizeof secret, NULL) != 0) {
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
            if (parse_int(a, v, -1, 65535, &num) != 0)
                return 2;
            o.worker_id = (int)num;
            i++;
        } else if (strcmp(a, "--threads") == 0 && v) {
            if (parse_int(a, v, 0, 1024, &num) != 0)
                return 2;
            o.threads = (unsigned)num;
            i++;
        } else if (strcmp(a, "--connect-timeout") == 0 && v) {
            if (parse_int(a, v, 0, 86400, &num) != 0)
                return 2;
            o.connect_timeout_ms = (unsigned)num * 1000u;
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
        } else if (strcmp(a, "--restart") == 0) {
            restart = 1;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else {
            fprintf(stderr, "pydron-worker: unknown or incomplete argument %s\n", a);
            usage(stderr);
            return 2;
        }
    }
    if (!o.url) {
        fprintf(stderr, "pydron-worker: --connect URL is required\n");
        usage(stderr);
        return 2;
    }
    o.runners = runners;
    o.nrunners = nrunners;
    return restart ? supervise(&o, run_worker) : run_worker(&o);
}
