/* proc_service.c - the service thread: batched releases and recalls,
 * heartbeats (all queued for the senders: it never writes), dead
 * workers (silent too long), replacements of lost local workers, reaping
 * exited children. */
#include <signal.h>
#include <sys/wait.h>
#include <time.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "exec/proc.h"
#include "util/util.h"

/* ---------------------------------------------------------------- service */

/* Move worker wi's pending releases out (lock held); *n = 0 if none. */
uint64_t *pdi_proc_take_releases_locked(pdi_proc *p, unsigned wi, size_t *n)
{
    pworker *w = &p->w[wi];
    *n = 0;
    if (!w->alive || w->nrel == 0)
        return NULL;
    uint64_t *ids = w->rel;
    *n = w->nrel;
    w->rel = NULL;
    w->nrel = w->caprel = 0;
    return ids;
}

/* Lock held: queue worker wi's pending releases and recalls. */
static void queue_releases_locked(pdi_proc *p, unsigned wi)
{
    pdi_proc_send_recalls_locked(p, wi);
    size_t n;
    uint64_t *ids = pdi_proc_take_releases_locked(p, wi, &n);
    if (n) {
        Pydron__Release r = PYDRON__RELEASE__INIT;
        r.value_ids = ids;
        r.n_value_ids = n;
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = PYDRON__FRAME__BODY_RELEASE;
        f.release = &r;
        (void)pdi_proc_enqueue_frame_locked(p, wi, &f);
    }
    free(ids);
}

void *pdi_proc_service_thread(void *arg)
{
    pdi_proc *p = arg;
    uint64_t hb_ns = (uint64_t)p->hb_ms * 1000000ull, last_hb = pdi_now_ns(), seq = 0;
    uint64_t dead_ns = hb_ns * 10 < 3000000000ull ? 3000000000ull : hb_ns * 10;
    pthread_mutex_lock(&p->lock);
    while (!p->stopping) {
        struct timespec ts = pdi_abstime_after(CLOCK_REALTIME, 20 * 1000000ull);
        pthread_cond_timedwait(&p->cond, &p->lock, &ts);
        if (p->stopping)
            break;
        uint64_t now = pdi_now_ns();
        int beat = now - last_hb >= hb_ns;
        if (beat)
            last_hb = now;
        /* queued for the senders: this thread never writes */
        for (unsigned i = 0; i < p->nw; i++) {
            if (!p->w[i].alive)
                continue;
            queue_releases_locked(p, i);
            if (beat) {
                Pydron__Heartbeat h = PYDRON__HEARTBEAT__INIT;
                h.seq = ++seq;
                h.time_ns = now;
                Pydron__Frame f = PYDRON__FRAME__INIT;
                f.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
                f.heartbeat = &h;
                (void)pdi_proc_enqueue_frame_locked(p, i, &f);
            }
        }
        for (unsigned i = 0; i < p->nw; i++) {
            pworker *w = &p->w[i];
            if (!w->alive)
                continue;
            uint64_t lr = atomic_load(&w->last_recv_ns);
            if (now > lr && now - lr > dead_ns) {
                pdi_log(WHO, "worker %u missed its heartbeats (%llu ms silent)", i,
                        (unsigned long long)((now - lr) / 1000000ull));
                pdi_conn_close(w->c); /* its reader reports the loss */
                atomic_store(&w->last_recv_ns, now);
            }
        }
        for (unsigned i = 0; i < p->nw && p->launcher->lost; i++) {
            if (p->w[i].need_respawn) {
                p->w[i].need_respawn = 0;
                pthread_mutex_unlock(&p->lock);
                p->launcher->lost(p, i);
                pthread_mutex_lock(&p->lock);
            }
        }
        pdi_proc_unpark_locked(p, now);
        if (p->later_now) {
            p->later_now = 0;
            pdi_proc_flush_later_locked(p, 1);
        } else {
            pdi_proc_flush_later_locked(p, 0);
        }
        pdi_proc_flush_held_locked(p, now, 0);
        pdi_proc_steal_locked(p, now);
        /* reap exited children (no zombies); the connection drop reports loss */
        for (size_t i = 0; i < p->nlaunched; i++)
            pdi_proc_reap_locked(p, i);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}


void pdi_proc_reap_locked(pdi_proc *p, size_t i)
{
    int st;
    if (i >= p->nlaunched || p->launched[i] <= 0 ||
        waitpid(p->launched[i], &st, WNOHANG) != p->launched[i])
        return;
    p->launched[i] = -p->launched[i];
    /* slots are launch indices only for the spawn launcher (the accept
     * launcher's are shells running a launch template) */
    if (p->launcher == &pdi_launcher_spawn && i < p->nw) {
        p->w[i].exit_status = st;
        p->w[i].exit_known = 1;
    }
}

static const char *signame(int sig)
{
    switch (sig) {
    case SIGSEGV: return "SIGSEGV";
    case SIGBUS: return "SIGBUS";
    case SIGFPE: return "SIGFPE";
    case SIGILL: return "SIGILL";
    case SIGABRT: return "SIGABRT";
    case SIGKILL: return "SIGKILL";
    case SIGTERM: return "SIGTERM";
    case SIGINT: return "SIGINT";
    case SIGHUP: return "SIGHUP";
    case SIGPIPE: return "SIGPIPE";
    case SIGXCPU: return "SIGXCPU";
    case SIGXFSZ: return "SIGXFSZ";
    case SIGSYS: return "SIGSYS";
    case SIGTRAP: return "SIGTRAP";
    case SIGUSR1: return "SIGUSR1";
    case SIGUSR2: return "SIGUSR2";
    default: return NULL;
    }
}

const char *pdi_proc_describe_status(int st, char *buf, size_t n)
{
    if (WIFSIGNALED(st)) {
        const char *s = signame(WTERMSIG(st));
        if (s)
            snprintf(buf, n, "killed by %s%s", s, WCOREDUMP(st) ? " (core dumped)" : "");
        else
            snprintf(buf, n, "killed by signal %d", WTERMSIG(st));
    } else if (WIFEXITED(st)) {
        snprintf(buf, n, "exited with status %d", WEXITSTATUS(st));
    } else {
        snprintf(buf, n, "ended (wait status %#x)", (unsigned)st);
    }
    return buf;
}
