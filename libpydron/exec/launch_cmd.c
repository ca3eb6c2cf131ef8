/* launch_cmd.c - what every command launcher shares (ssh, template, slurm,
 * mpi): groups of workers started by one command each, the secret on the
 * command's stdin, its stderr echoed and its tail kept for messages, the
 * address a host dials, the early failure and the final "what is missing"
 * message, and stopping the commands. See proc.h for how a launcher plugs
 * in. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ifaddrs.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/log.h"
#include "util/util.h"

extern char **environ;

/* ------------------------------------------------------------- groups */

int pdi_launch_group_add(pdi_proc *p, const char *host, unsigned n)
{
    if (pdi_grow((void **)&p->groups, &p->capgroups, p->ngroups + 1, sizeof *p->groups) != 0)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    pdi_launch_group *g = &p->groups[p->ngroups];
    memset(g, 0, sizeof *g);
    g->err_fd = -1;
    g->first = 0;
    for (size_t i = 0; i < p->ngroups; i++)
        g->first += p->groups[i].n;
    g->n = n;
    if (host && !(g->host = pdi_strdup(host)))
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    p->ngroups++;
    return 0;
}

int pdi_launch_parse_host(const char *spec, char *buf, size_t cap, unsigned *n)
{
    *n = 0;
    size_t len = spec ? strlen(spec) : 0;
    while (len && (spec[len - 1] == ' ' || spec[len - 1] == '\n' || spec[len - 1] == '\r'))
        len--;
    const char *colon = len ? memchr(spec, ':', len) : NULL;
    /* "host:N"; a second ':' would be an IPv6 address, which has no count */
    if (colon && !memchr(colon + 1, ':', len - (size_t)(colon + 1 - spec))) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(colon + 1, &end, 10);
        if (errno || end != spec + len || end == colon + 1 || v == 0 || v > 4096)
            return pdi_err(PYDRON_EINVAL, "host '%.*s': the worker count after ':' must be a "
                                          "whole number from 1 to 4096", (int)len, spec);
        *n = (unsigned)v;
        len = (size_t)(colon - spec);
    }
    if (len == 0 || len >= cap)
        return pdi_err(PYDRON_EINVAL, "host '%s': empty or too long", spec ? spec : "");
    memcpy(buf, spec, len);
    buf[len] = 0;
    if (buf[0] == '-')
        return pdi_err(PYDRON_EINVAL, "host '%s' starts with '-'", buf);
    return 0;
}

/* Hosts from the options, else $PYDRON_HOSTS: names separated by commas
 * or white space, or the name of a file with one host per line (# starts a
 * comment). */
int pdi_launch_host_list(pdi_proc *p, const char *who)
{
    if (p->launch_hosts && p->launch_hosts[0])
        return 0;
    const char *env = getenv("PYDRON_HOSTS");
    if (!env || !*env)
        return who ? pdi_err(PYDRON_EINVAL, "the %s launcher needs hosts: launch_hosts (Python: "
                                            "configure(hosts=[\"a\", \"b:4\"]) or a host file) "
                                            "or PYDRON_HOSTS", who)
                   : 0;
    pdi_str text = {0};
    FILE *f = strchr(env, '/') || !strpbrk(env, ", ") ? fopen(env, "r") : NULL;
    if (f) {
        char line[512];
        while (fgets(line, sizeof line, f)) {
            char *hash = strchr(line, '#');
            if (hash)
                *hash = 0;
            pdi_str_puts(&text, line);
            pdi_str_puts(&text, "\n");
        }
        fclose(f);
    } else if (strchr(env, '/')) {
        return pdi_err(PYDRON_EINVAL, "PYDRON_HOSTS names the host file %s, which cannot be "
                                      "read", env);
    } else {
        pdi_str_puts(&text, env);
    }
    if (text.oom || !text.buf) {
        free(text.buf);
        return pdi_err(PYDRON_EINVAL, "PYDRON_HOSTS holds no host");
    }
    size_t n = 0, cap = 0;
    char **hosts = NULL;
    for (char *save = NULL, *t = strtok_r(text.buf, ", \t\r\n", &save); t;
         t = strtok_r(NULL, ", \t\r\n", &save)) {
        if (pdi_grow((void **)&hosts, &cap, n + 2, sizeof *hosts) != 0 ||
            !(hosts[n] = pdi_strdup(t))) {
            free(text.buf);
            return pdi_err(PYDRON_ENOMEM, "out of memory");
        }
        hosts[++n] = NULL;
    }
    free(text.buf);
    if (!n)
        return pdi_err(PYDRON_EINVAL, "PYDRON_HOSTS holds no host");
    p->launch_hosts = hosts;
    return 0;
}

int pdi_launch_plan_hosts(pdi_proc *p, int (*ask)(pdi_proc *p, const char *host, unsigned *n))
{
    int rc = 0;
    size_t nh = 0;
    while (p->launch_hosts[nh])
        nh++;
    char(*names)[256] = calloc(nh, sizeof *names);
    unsigned *count = calloc(nh, sizeof *count);
    if (!names || !count) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nh; i++)
        if ((rc = pdi_launch_parse_host(p->launch_hosts[i], names[i], sizeof names[i],
                                        &count[i])) != 0)
            goto out;
    if (p->nw == 0) {
        /* every CPU of every host */
        for (size_t i = 0; i < nh; i++) {
            if (!count[i] && !ask) {
                rc = pdi_err(PYDRON_EINVAL, "workers=0 needs a worker count for every host "
                                            "(\"%s:N\"), or give workers=N", names[i]);
                goto out;
            }
            if (!count[i] && (rc = ask(p, names[i], &count[i])) != 0)
                goto out;
            p->nw += count[i];
        }
        for (size_t i = 0; i < nh; i++)
            if ((rc = pdi_launch_group_add(p, names[i], count[i])) != 0)
                goto out;
    } else {
        /* workers=N over the hosts, round robin, a host:K taking K per round */
        unsigned *n = calloc(nh, sizeof *n);
        if (!n) {
            rc = pdi_err(PYDRON_ENOMEM, "out of memory");
            goto out;
        }
        unsigned left = p->nw;
        while (left)
            for (size_t i = 0; i < nh && left; i++)
                for (unsigned k = 0; k < (count[i] ? count[i] : 1) && left; k++, left--)
                    n[i]++;
        for (size_t i = 0; i < nh && rc == 0; i++)
            if (n[i])
                rc = pdi_launch_group_add(p, names[i], n[i]);
        free(n);
    }
out:
    free(names);
    free(count);
    return rc;
}

/* --------------------------------------------------------- addresses */

/* Our IPv4 address on the route to host (a name, "user@name"), or to any
 * non-loopback interface when host is NULL or cannot be resolved. */
static int local_ip_toward(const char *host, char *out, size_t n)
{
    if (host) {
        const char *at = strrchr(host, '@');
        const char *name = at ? at + 1 : host;
        struct addrinfo hints, *ai = NULL;
        memset(&hints, 0, sizeof hints);
        hints.ai_family = AF_INET;
        hints.ai_socktype = SOCK_DGRAM;
        if (getaddrinfo(name, "9", &hints, &ai) == 0 && ai) {
            int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
            struct sockaddr_in me;
            socklen_t ml = sizeof me;
            /* a UDP connect sends nothing: it only picks the route */
            int ok = fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
                     getsockname(fd, (struct sockaddr *)&me, &ml) == 0 &&
                     inet_ntop(AF_INET, &me.sin_addr, out, (socklen_t)n) != NULL;
            if (fd >= 0)
                close(fd);
            freeaddrinfo(ai);
            if (ok)
                return 0;
        }
    }
    struct ifaddrs *ifs = NULL, *i;
    int ok = 0;
    if (getifaddrs(&ifs) == 0) {
        for (i = ifs; i && !ok; i = i->ifa_next) {
            if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET)
                continue;
            struct in_addr a = ((struct sockaddr_in *)i->ifa_addr)->sin_addr;
            if ((ntohl(a.s_addr) >> 24) == 127)
                continue;
            ok = inet_ntop(AF_INET, &a, out, (socklen_t)n) != NULL;
        }
        freeifaddrs(ifs);
    }
    if (!ok)
        snprintf(out, n, "127.0.0.1");
    return ok ? 0 : -1;
}

static int is_wildcard(const char *h, size_t len)
{
    return (len == 7 && !strncmp(h, "0.0.0.0", 7)) || (len == 1 && h[0] == '*') ||
           (len == 4 && !strncmp(h, "[::]", 4)) || len == 0;
}

void pdi_launch_url(pdi_proc *p, const char *host, char *out, size_t n)
{
    const char *url = pdi_listener_url(p->l);
    const char *h = strstr(url, "://");
    if (!h || strncmp(url, "ipc", 3) == 0) {
        snprintf(out, n, "%s", url);
        return;
    }
    h += 3;
    const char *colon = strrchr(h, ':');
    size_t hl = colon ? (size_t)(colon - h) : strlen(h);
    if (!is_wildcard(h, hl)) {
        snprintf(out, n, "%s", url);
        return;
    }
    char ip[64];
    local_ip_toward(host, ip, sizeof ip);
    snprintf(out, n, "%.*s%s%s", (int)(h - url), url, ip, colon ? colon : "");
}

/* ------------------------------------------------------- check, listen */

int pdi_launch_check(const pydron_process_options *o)
{
    if ((o->tls_cert_file != NULL) != (o->tls_key_file != NULL))
        return pdi_err(PYDRON_EINVAL, "TLS needs both tls_cert_file and tls_key_file");
    return 0;
}

/* Every host is this machine (or there are none, and the template has no
 * {host}): then loopback is enough. */
static int all_local(pdi_proc *p)
{
    if (p->ngroups == 0)
        return 0;
    for (size_t i = 0; i < p->ngroups; i++) {
        const char *h = p->groups[i].host;
        if (!h)
            return 0;
        const char *at = strrchr(h, '@');
        h = at ? at + 1 : h;
        if (strcmp(h, "localhost") != 0 && strncmp(h, "127.", 4) != 0)
            return 0;
    }
    return 1;
}

int pdi_launch_listen(pdi_proc *p)
{
    int rc;
    const char *url = p->listen_url;
    if (!p->listen_given && !all_local(p))
        url = "tcp://0.0.0.0:0"; /* other hosts must reach us; each is told our address */
    if ((rc = pdi_listener_open(url, p->cert, p->key, &p->l)) != 0)
        return rc;
    /* {secret_file}: a private 0600 copy for templates that want a file */
    if ((rc = pdi_proc_make_private_dir(p)) != 0 || (rc = pdi_proc_write_secret_file(p)) != 0)
        return rc;
    pdi_debug(WHO, "%s launcher: listening on %s", p->launcher->name, pdi_listener_url(p->l));
    return 0;
}

/* ---------------------------------------------------------- stderr */

/* Lock held: line (without newline) of group g's stderr: keep it in the
 * tail (the last lines that fit) and echo it. */
static void keep_line(pdi_launch_group *g, const char *line, size_t len)
{
    if (len == 0)
        return;
    if (len > sizeof g->tail - 2)
        len = sizeof g->tail - 2;
    while (g->ntail && g->ntail + len + 2 > sizeof g->tail) {
        /* drop the oldest line */
        char *nl = memchr(g->tail, '\n', g->ntail);
        size_t drop = nl ? (size_t)(nl - g->tail) + 1 : g->ntail;
        memmove(g->tail, g->tail + drop, g->ntail - drop);
        g->ntail -= drop;
    }
    if (g->ntail)
        g->tail[g->ntail++] = '\n';
    memcpy(g->tail + g->ntail, line, len);
    g->ntail += len;
    g->tail[g->ntail] = 0;
}

/* Lock held: read what group g's stderr has (non-blocking). */
static void drain(pdi_proc *p, pdi_launch_group *g)
{
    char buf[4096];
    for (;;) {
        ssize_t r = read(g->err_fd, buf, sizeof buf);
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0) {
            if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
                if (g->nline)
                    keep_line(g, g->line, g->nline);
                g->nline = 0;
                close(g->err_fd);
                g->err_fd = -1;
            }
            return;
        }
        for (ssize_t i = 0; i < r; i++) {
            char c = buf[i];
            if (c == '\n' || g->nline == sizeof g->line - 1) {
                g->line[g->nline] = 0;
                if (g->nline) {
                    keep_line(g, g->line, g->nline);
                    /* the workers' own messages: the user must see them */
                    fprintf(stderr, "[%s] %s\n", g->host ? g->host : p->launcher->name, g->line);
                }
                g->nline = 0;
                if (c == '\n')
                    continue;
            }
            if (c != '\r')
                g->line[g->nline++] = c;
        }
    }
}

static void *err_thread(void *arg)
{
    pdi_proc *p = arg;
    struct pollfd fds[65];
    for (;;) {
        size_t nf = 0;
        pthread_mutex_lock(&p->lock);
        fds[nf].fd = p->errpipe[0];
        fds[nf++].events = POLLIN;
        for (size_t i = 0; i < p->ngroups && nf < 65; i++) {
            if (p->groups[i].err_fd >= 0) {
                fds[nf].fd = p->groups[i].err_fd;
                fds[nf++].events = POLLIN;
            }
        }
        pthread_mutex_unlock(&p->lock);
        if (poll(fds, nf, 500) < 0 && errno != EINTR)
            break;
        if (fds[0].revents) {
            char c;
            if (read(p->errpipe[0], &c, 1) <= 0 || c == 'q')
                break;
        }
        pthread_mutex_lock(&p->lock);
        for (size_t i = 0; i < p->ngroups; i++)
            if (p->groups[i].err_fd >= 0)
                drain(p, &p->groups[i]);
        pthread_mutex_unlock(&p->lock);
    }
    return NULL;
}

/* ----------------------------------------------------------- spawning */

/* Our environment without the hints meant for directly spawned workers
 * (a launched worker's parent is a shell, sshd or srun, not us). */
static char **launch_env(void) { return pdi_proc_env_without_hints(0, NULL); }

int pdi_launch_spawn(pdi_proc *p, size_t gi, char *const argv[])
{
    int in[2] = {-1, -1}, err[2] = {-1, -1};
    if (pipe2(in, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0) {
        int e = errno;
        if (in[0] >= 0)
            close(in[0]), close(in[1]);
        return pdi_err(PYDRON_EIO, "cannot make pipes for the launch command: %s", strerror(e));
    }
    pthread_mutex_lock(&p->lock);
    if (!p->have_errth) {
        if (pipe2(p->errpipe, O_CLOEXEC) == 0 &&
            pthread_create(&p->errth, NULL, err_thread, p) == 0)
            p->have_errth = 1;
    }
    pthread_mutex_unlock(&p->lock);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    posix_spawnattr_t at;
    /* own process group: stop signals the command and whatever it started
     * here; a Ctrl-C at our terminal reaches the driver only */
    pdi_proc_spawnattr_init(&at, 1);
    char **env = launch_env();
    pid_t pid = 0;
    int e = env ? posix_spawnp(&pid, argv[0], &fa, &at, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(in[0]);
    close(err[1]);
    if (e) {
        close(in[1]);
        close(err[0]);
        return pdi_err(PYDRON_EIO, "cannot run %s: %s", argv[0], strerror(e));
    }
    /* the secret: one line on its stdin, then EOF (a pipe holds far more
     * than PYDRON_SECRET_MAX bytes: this does not block) */
    (void)!write(in[1], p->secret, p->secret_len);
    (void)!write(in[1], "\n", 1);
    close(in[1]);
    fcntl(err[0], F_SETFL, fcntl(err[0], F_GETFL) | O_NONBLOCK);
    pthread_mutex_lock(&p->lock);
    pdi_launch_group *g = &p->groups[gi];
    const char *base = strrchr(argv[0], '/');
    snprintf(g->prog, sizeof g->prog, "%s", base ? base + 1 : argv[0]);
    g->pid = pid;
    g->err_fd = err[0];
    pthread_mutex_unlock(&p->lock);
    if (p->have_errth)
        (void)!write(p->errpipe[1], "w", 1); /* poll the new fd too */
    pdi_debug(WHO, "launched %s for %u worker(s) on %s (pid %d)", argv[0], g->n,
              g->host ? g->host : "-", (int)pid);
    return 0;
}

static void sq(pdi_str *s, const char *arg)
{
    pdi_str_puts(s, "'");
    for (const char *c = arg; *c; c++) {
        if (*c == '\'')
            pdi_str_puts(s, "'\\''");
        else {
            char ch[2] = {*c, 0};
            pdi_str_puts(s, ch);
        }
    }
    pdi_str_puts(s, "'");
}

void pdi_launch_worker_argv_sh(pdi_proc *p, pdi_str *s, const char *url)
{
    const char *cmd = p->worker_command;
    const char *envw = getenv("PYDRON_WORKER");
    sq(s, cmd ? cmd : envw && *envw ? envw : "pydron-worker");
    for (size_t i = 0; p->worker_args && p->worker_args[i]; i++) {
        pdi_str_puts(s, " ");
        sq(s, p->worker_args[i]);
    }
    pdi_str_puts(s, " --connect ");
    sq(s, url);
}

char *pdi_launch_worker_script(pdi_proc *p, size_t gi, const char *url)
{
    pdi_launch_group *g = &p->groups[gi];
    pdi_str s = {0};
    /* the secret stays in a shell variable: printf is a builtin, so it is
     * never in a command line */
    pdi_str_printf(&s, "IFS= read -r s || { echo 'pydron: no secret on stdin' >&2; exit 2; }; "
                       "i=%u; pids=; while [ $i -lt %u ]; do printf '%%s\\n' \"$s\" | ",
                   g->first, g->first + g->n);
    pdi_launch_worker_argv_sh(p, &s, url);
    pdi_str_puts(&s, " --secret-file - --id $i & pids=\"$pids $!\"; i=$((i+1)); done; st=0; "
                     "for q in $pids; do wait $q || st=$?; done; exit $st");
    if (s.oom) {
        free(s.buf);
        return NULL;
    }
    return s.buf;
}

int pdi_launch_run(char *const argv[], unsigned timeout_ms, char **out, char *err, size_t errn,
                   int *status)
{
    int o[2], e[2];
    *out = NULL;
    err[0] = 0;
    if (pipe2(o, O_CLOEXEC) != 0)
        return pdi_err(PYDRON_EIO, "pipe: %s", strerror(errno));
    if (pipe2(e, O_CLOEXEC) != 0) {
        close(o[0]), close(o[1]);
        return pdi_err(PYDRON_EIO, "pipe: %s", strerror(errno));
    }
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, o[1], 1);
    posix_spawn_file_actions_adddup2(&fa, e[1], 2);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP);
    posix_spawnattr_setpgroup(&at, 0);
    char **env = launch_env();
    pid_t pid;
    int rc = env ? posix_spawnp(&pid, argv[0], &fa, &at, argv, env) : ENOMEM;
    free(env);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&at);
    close(o[1]);
    close(e[1]);
    if (rc) {
        close(o[0]);
        close(e[0]);
        return pdi_err(PYDRON_EIO, "cannot run %s: %s", argv[0], strerror(rc));
    }
    pdi_str so = {0};
    size_t ne = 0;
    uint64_t until = pdi_now_ns() + (uint64_t)timeout_ms * 1000000ull;
    struct pollfd fds[2] = {{o[0], POLLIN, 0}, {e[0], POLLIN, 0}};
    int open_fds = 2, timed_out = 0;
    while (open_fds > 0) {
        uint64_t now = pdi_now_ns();
        if (now >= until) {
            timed_out = 1;
            break;
        }
        if (poll(fds, 2, (int)((until - now) / 1000000ull) + 1) < 0 && errno != EINTR)
            break;
        for (int k = 0; k < 2; k++) {
            if (fds[k].fd < 0 || !fds[k].revents)
                continue;
            char buf[1024];
            ssize_t r = read(fds[k].fd, buf, sizeof buf - 1);
            if (r <= 0) {
                close(fds[k].fd);
                fds[k].fd = -1;
                open_fds--;
                continue;
            }
            buf[r] = 0;
            if (k == 0) {
                pdi_str_puts(&so, buf);
            } else {
                for (ssize_t i = 0; i < r && ne + 1 < errn; i++)
                    err[ne++] = buf[i];
                err[ne] = 0;
            }
        }
    }
    for (int k = 0; k < 2; k++)
        if (fds[k].fd >= 0)
            close(fds[k].fd);
    if (timed_out)
        kill(-pid, SIGKILL);
    int st = 0;
    while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
        ;
    while (ne && (err[ne - 1] == '\n' || err[ne - 1] == '\r'))
        err[--ne] = 0;
    *status = st;
    *out = so.buf ? so.buf : pdi_strdup("");
    if (timed_out)
        return pdi_err(PYDRON_ETIMEDOUT, "%s did not finish within %.0f s", argv[0],
                       timeout_ms / 1000.0);
    return 0;
}

int pdi_launch_ask_ncpus(char *const argv[], unsigned timeout_ms, const char *host,
                         const char *prog, const char *who, const char *hint, unsigned *n)
{
    char *out = NULL, err[400];
    int st = 0;
    int rc = pdi_launch_run(argv, timeout_ms, &out, err, sizeof err, &st);
    long v = out ? strtol(out, NULL, 10) : 0;
    free(out);
    if (rc == 0 && WIFEXITED(st) && WEXITSTATUS(st) == 0 && v > 0 && v <= 4096) {
        *n = (unsigned)v;
        return 0;
    }
    char how[160] = "";
    if (rc)
        snprintf(how, sizeof how, "%s", pydron_error_last());
    else if (WIFEXITED(st) && WEXITSTATUS(st) == 0)
        snprintf(how, sizeof how, "it answered no CPU count");
    else
        pdi_proc_describe_status(st, how, sizeof how);
    return pdi_err(PYDRON_EIO, "%scannot ask host %s for its CPU count (workers=0%s): %s %s%s%s",
                   who, host, hint, prog, how, err[0] ? ": " : "", err);
}

/* ------------------------------------------------- joining, missing */

static unsigned joined_of(pdi_proc *p, const pdi_launch_group *g)
{
    unsigned k = 0;
    for (unsigned i = g->first; i < g->first + g->n && i < p->nw; i++)
        k += p->w[i].used;
    return k;
}

/* The last line of the group's stderr (its most telling part), or "". */
const char *pdi_launch_last_words(const pdi_launch_group *g)
{
    const char *nl = strrchr(g->tail, '\n');
    return nl ? nl + 1 : g->tail;
}

static void describe_group(pdi_proc *p, pdi_launch_group *g, pdi_str *s)
{
    char st[96] = "";
    if (g->exited)
        pdi_proc_describe_status(g->status, st, sizeof st);
    pdi_str_printf(s, "%s%s: %u of %u joined", g->host ? "host " : "",
                   g->host ? g->host : "the launch command", joined_of(p, g), g->n);
    if (!g->pid)
        pdi_str_puts(s, " (not started)");
    else if (g->exited)
        pdi_str_printf(s, "; %s %s", g->prog[0] ? g->prog : "its launch command", st);
    if (g->tail[0])
        pdi_str_printf(s, ": %s", g->tail);
}

/* Lock held: reap the groups' commands that ended. */
void pdi_launch_reap_locked(pdi_proc *p)
{
    for (size_t i = 0; i < p->ngroups; i++) {
        pdi_launch_group *g = &p->groups[i];
        int st;
        if (g->pid > 0 && !g->exited && waitpid(g->pid, &st, WNOHANG) == g->pid) {
            g->exited = 1;
            g->status = st;
            if (g->err_fd >= 0)
                drain(p, g); /* its last words, before the message is made */
        }
    }
}

int pdi_launch_joining(pdi_proc *p)
{
    pdi_launch_reap_locked(p);
    for (size_t i = 0; i < p->ngroups; i++) {
        pdi_launch_group *g = &p->groups[i];
        unsigned got = joined_of(p, g);
        int failed = g->exited && got < g->n &&
                     (g->must_live || !WIFEXITED(g->status) || WEXITSTATUS(g->status) != 0);
        if (!failed)
            continue;
        if (g->err_fd >= 0)
            drain(p, g);
        pdi_str s = {0};
        pdi_str_printf(&s, "%u of %u workers joined; ", p->nconnected, p->nw);
        describe_group(p, g, &s);
        int rc = pdi_err(PYDRON_EIO, "%s", s.buf ? s.buf : "a launch command failed");
        free(s.buf);
        return rc;
    }
    /* a worker that joined and is gone again while others are awaited: say
     * so now rather than at the deadline */
    for (unsigned i = 0; i < p->nw; i++) {
        if (p->w[i].used && !p->w[i].alive) {
            const pdi_launch_group *g = NULL;
            for (size_t k = 0; k < p->ngroups; k++)
                if (i >= p->groups[k].first && i < p->groups[k].first + p->groups[k].n)
                    g = &p->groups[k];
            return pdi_err(PYDRON_EIO, "worker %u (%s) joined and was lost before the others "
                                       "joined (%u of %u had joined)%s%s",
                           i, g && g->host ? g->host : p->w[i].host, p->nconnected, p->nw,
                           g && g->tail[0] ? ": " : "", g ? pdi_launch_last_words(g) : "");
        }
    }
    return 0;
}

int pdi_launch_missing(pdi_proc *p)
{
    pdi_launch_reap_locked(p);
    pdi_str s = {0};
    pdi_str_printf(&s, "%u of %u workers joined after %.0f s", p->nconnected, p->nw,
                   p->max_wait_ms / 1000.0);
    int any = 0;
    for (size_t i = 0; i < p->ngroups; i++) {
        pdi_launch_group *g = &p->groups[i];
        if (g->err_fd >= 0)
            drain(p, g);
        if (joined_of(p, g) == g->n)
            continue;
        pdi_str_puts(&s, any ? "; " : " on ");
        describe_group(p, g, &s);
        any = 1;
    }
    if (!any && p->ngroups)
        pdi_str_puts(&s, " (every launch command is still running: are the workers able to "
                         "reach this driver's address?)");
    int rc = pdi_err(PYDRON_ETIMEDOUT, "%s", s.buf ? s.buf : "workers missing");
    free(s.buf);
    return rc;
}

/* --------------------------------------------------------------- stop */

void pdi_launch_stop(pdi_proc *p)
{
    /* the workers were told to shut down: their commands end by
     * themselves; then the group is signalled */
    uint64_t soft = pdi_now_ns() + 3000000000ull, hard = soft + 2000000000ull;
    int termed = 0;
    for (;;) {
        int left = 0;
        pthread_mutex_lock(&p->lock);
        pdi_launch_reap_locked(p);
        for (size_t i = 0; i < p->ngroups; i++)
            left += p->groups[i].pid > 0 && !p->groups[i].exited;
        pthread_mutex_unlock(&p->lock);
        if (!left)
            break;
        uint64_t now = pdi_now_ns();
        if (now > soft && !termed) {
            for (size_t i = 0; i < p->ngroups; i++)
                if (p->groups[i].pid > 0 && !p->groups[i].exited)
                    kill(-p->groups[i].pid, SIGTERM);
            termed = 1;
        }
        if (now > hard) {
            for (size_t i = 0; i < p->ngroups; i++) {
                pdi_launch_group *g = &p->groups[i];
                if (g->pid > 0 && !g->exited) {
                    kill(-g->pid, SIGKILL);
                    waitpid(g->pid, &g->status, 0);
                    g->exited = 1;
                }
            }
            break;
        }
        usleep(10000);
    }
    if (p->have_errth) {
        (void)!write(p->errpipe[1], "q", 1);
        pthread_join(p->errth, NULL);
        p->have_errth = 0;
    }
    for (int k = 0; k < 2; k++)
        if (p->errpipe[k] >= 0)
            close(p->errpipe[k]), p->errpipe[k] = -1;
    pthread_mutex_lock(&p->lock);
    for (size_t i = 0; i < p->ngroups; i++) {
        if (p->groups[i].err_fd >= 0) {
            drain(p, &p->groups[i]);
            if (p->groups[i].err_fd >= 0)
                close(p->groups[i].err_fd);
            p->groups[i].err_fd = -1;
        }
    }
    free(p->lslots); /* the service thread, which restarts workers, has ended */
    p->lslots = NULL;
    pthread_mutex_unlock(&p->lock);
}
