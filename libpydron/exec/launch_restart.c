/* launch_restart.c - a worker started by a command launcher (ssh, a
 * template, srun) is lost while its host may be fine: the launcher starts
 * a replacement on the same host, as the local executor does for its
 * children (launch_spawn.c), through the same path: worker loss
 * (proc_jobs.c) marks the slot, the service thread calls the launcher's
 * lost op, the replacement dials in with the lost worker's id, takes its
 * slot (proc_accept.c) and the core sends it work again
 * (pydron_exec_worker_ready).
 *
 * Bounded: at most PYDRON_WORKER_RESTARTS (default PDI_RESTARTS)
 * replacements per slot in a session; a replacement that fails (its
 * command ends before its worker joined, or the worker does not join
 * within the join timeout) is tried again after a back-off (0.5 s
 * doubling to 10 s); after PDI_RESTART_FAILS failures in a row, or with
 * the budget spent, the slot is given up and the log says so plainly:
 * "capacity is gone: 2 of 3 workers, host b: <reason>". With no worker
 * left and none coming, jobs fail at once (launcher_gave_up) instead of
 * waiting. A launcher without relaunch (mpirun cannot add a process to a
 * running job) says the same at the first loss, with its reason. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include <pthread.h>
#include <stdatomic.h>

#include "exec/proc.h"
#include "util/log.h"
#include "util/util.h"

#define BACKOFF_FIRST_NS 500000000ull
#define BACKOFF_MAX_NS 10000000000ull

typedef struct pdi_launch_slot {
    unsigned tries;      /* replacements started for this slot */
    unsigned fails;      /* of them, failed in a row */
    long gi;             /* group of the replacement starting now, -1: none */
    unsigned gen;        /* the slot's gen when it was started */
    uint64_t started_ns, due_ns;
    int waiting;         /* lost: a try is due at due_ns */
    int gone;            /* given up */
    char why[400];       /* why the last try failed */
} pdi_launch_slot;

static unsigned budget(const pdi_proc *p)
{
    if (p->restarts >= 0)
        return (unsigned)p->restarts;
    const char *e = getenv("PYDRON_WORKER_RESTARTS");
    if (!e || !*e)
        return PDI_RESTARTS;
    char *end;
    long v = strtol(e, &end, 10);
    if (*end || v < 0 || v > 100000) {
        pdi_log(WHO, "PYDRON_WORKER_RESTARTS=%s is not a count; using %u", e, PDI_RESTARTS);
        return PDI_RESTARTS;
    }
    return (unsigned)v;
}

/* Lock held: the slots, made at the first loss. */
static pdi_launch_slot *slots_locked(pdi_proc *p)
{
    if (!p->lslots) {
        p->lslots = calloc(p->nw, sizeof *p->lslots);
        for (unsigned i = 0; p->lslots && i < p->nw; i++)
            p->lslots[i].gi = -1;
    }
    return p->lslots;
}

/* Lock held: the host of slot wi as the user named it (the group that
 * started it), else what its worker said. */
static const char *host_of(pdi_proc *p, unsigned wi)
{
    for (size_t k = 0; k < p->ngroups; k++) {
        const pdi_launch_group *g = &p->groups[k];
        if (wi >= g->first && wi < g->first + g->n && g->host)
            return g->host;
    }
    return p->w[wi].host[0] ? p->w[wi].host : "?";
}

static uint64_t backoff_ns(unsigned fails)
{
    uint64_t d = BACKOFF_FIRST_NS;
    for (unsigned i = 1; i < fails && d < BACKOFF_MAX_NS; i++)
        d *= 2;
    return d < BACKOFF_MAX_NS ? d : BACKOFF_MAX_NS;
}

/* Lock held: slot wi is given up. */
static void give_up_locked(pdi_proc *p, unsigned wi, const char *why)
{
    pdi_launch_slot *s = &p->lslots[wi];
    s->gone = 1;
    s->waiting = 0;
    unsigned alive = 0, coming = 0;
    for (unsigned i = 0; i < p->nw; i++) {
        alive += p->w[i].alive;
        coming += !p->w[i].alive && !p->lslots[i].gone;
    }
    pdi_log(WHO, "capacity is gone: %u of %u workers, host %s: %s (worker %u is not started "
                 "again)%s",
            alive, p->nw, host_of(p, wi), why, wi,
            alive ? "; the run goes on with the others" : "");
    snprintf(p->gave_up_why, sizeof p->gave_up_why, "host %s: %s", host_of(p, wi), why);
    if (!alive && !coming) {
        p->launcher_gave_up = 1; /* jobs that wait for a worker fail now */
        pthread_cond_broadcast(&p->cond);
    }
}

/* Lock held: the replacement in group s->gi has not joined; did it fail? */
static int failed_locked(pdi_proc *p, pdi_launch_slot *s, uint64_t now)
{
    pdi_launch_group *g = &p->groups[s->gi];
    pdi_launch_reap_locked(p);
    if (g->exited && (g->must_live || !WIFEXITED(g->status) || WEXITSTATUS(g->status) != 0)) {
        char st[96];
        pdi_proc_describe_status(g->status, st, sizeof st);
        const char *lw = pdi_launch_last_words(g);
        snprintf(s->why, sizeof s->why, "%s %s%s%s", g->prog[0] ? g->prog : "its command", st,
                 lw[0] ? ": " : "", lw);
        return 1;
    }
    if (now - s->started_ns > (uint64_t)p->max_wait_ms * 1000000ull) {
        if (g->pid > 0 && !g->exited)
            kill(-g->pid, SIGKILL); /* reaped by the next pdi_launch_reap_locked */
        snprintf(s->why, sizeof s->why, "a replacement did not join within %.0f s",
                 p->max_wait_ms / 1000.0);
        return 1;
    }
    return 0;
}

void pdi_launch_lost(pdi_proc *p, unsigned wi)
{
    uint64_t now = pdi_now_ns();
    pthread_mutex_lock(&p->lock);
    pdi_launch_slot *s = NULL;
    if (p->stopping || !p->running || wi >= p->nw || !(s = slots_locked(p)))
        goto out;
    s = &s[wi];
    pworker *w = &p->w[wi];
    if (s->gone)
        goto out;
    if (s->gi >= 0) {
        if (w->gen != s->gen) {
            /* its replacement joined */
            pdi_log(WHO, "worker %u on host %s was started again (try %u)", wi, host_of(p, wi),
                    s->tries);
            s->fails = 0;
            s->gi = -1;
            if (w->alive)
                goto out;
            s->waiting = 0; /* and was lost again: a fresh loss */
        } else if (failed_locked(p, s, now)) {
            s->fails++;
            s->gi = -1;
            s->waiting = 1;
            s->due_ns = now + backoff_ns(s->fails);
            pdi_log(WHO, "could not start worker %u again on host %s (try %u): %s", wi,
                    host_of(p, wi), s->tries, s->why);
        } else {
            w->need_respawn = 1; /* still starting: look again */
            goto out;
        }
    } else if (w->alive) {
        s->waiting = 0; /* a worker took the slot by itself */
        goto out;
    }
    if (!s->waiting) {
        s->waiting = 1;
        s->due_ns = now;
    }
    if (!p->launcher->relaunch) {
        give_up_locked(p, wi, p->launcher->no_restart ? p->launcher->no_restart
                                                       : "this launcher cannot restart a worker");
        goto out;
    }
    if (s->fails >= PDI_RESTART_FAILS) {
        char why[600];
        snprintf(why, sizeof why, "%u tries to start it again failed; the last: %s", s->fails,
                 s->why);
        give_up_locked(p, wi, why);
        goto out;
    }
    unsigned max = budget(p);
    if (s->tries >= max) {
        char why[600];
        if (max == 0)
            snprintf(why, sizeof why, "restarts are off (restarts=0: configure(restarts=) or PYDRON_WORKER_RESTARTS)");
        else
            snprintf(why, sizeof why, "it was started again %u times already "
                                      "(restarts=%u: configure(restarts=) or PYDRON_WORKER_RESTARTS)%s%s",
                     s->tries, max, s->why[0] ? "; the last failure: " : "", s->why);
        give_up_locked(p, wi, why);
        goto out;
    }
    if (now < s->due_ns) {
        w->need_respawn = 1; /* back-off: look again */
        goto out;
    }
    /* a group of one for the replacement, on the lost worker's host */
    char host[300];
    snprintf(host, sizeof host, "%s", host_of(p, wi));
    int has_host = 0;
    for (size_t k = 0; k < p->ngroups; k++)
        if (wi >= p->groups[k].first && wi < p->groups[k].first + p->groups[k].n)
            has_host = p->groups[k].host != NULL;
    if (pdi_launch_group_add(p, has_host ? host : NULL, 1) != 0) {
        give_up_locked(p, wi, "out of memory");
        goto out;
    }
    size_t gi = p->ngroups - 1;
    p->groups[gi].first = wi;
    s->gi = (long)gi;
    s->gen = w->gen;
    s->tries++;
    s->started_ns = now;
    s->waiting = 0;
    pthread_mutex_unlock(&p->lock);
    if (s->tries == 1 || s->fails == 0)
        pdi_log(WHO, "worker %u on host %s was lost; starting it again (try %u)", wi, host,
                s->tries);
    else
        pdi_log(WHO, "starting worker %u again on host %s (try %u)", wi, host, s->tries);
    int rc = p->launcher->relaunch(p, gi);
    pthread_mutex_lock(&p->lock);
    if (rc) {
        snprintf(s->why, sizeof s->why, "%s", pydron_error_last());
        s->fails++;
        s->gi = -1;
        s->waiting = 1;
        s->due_ns = pdi_now_ns() + backoff_ns(s->fails);
        pdi_log(WHO, "could not start worker %u again on host %s: %s", wi, host, s->why);
    }
    if (!p->stopping)
        w->need_respawn = 1; /* follow it until it joins or fails */
out:
    pthread_mutex_unlock(&p->lock);
}
