/* guard.c - bounds on what unauthenticated peers cost a listener (guard.h). */
#include "wire/guard.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/util.h"
#include "wire/conn_internal.h"

typedef struct hs_entry {
    pdi_conn *c;
    uint64_t addr; /* pdi_conn_addr_key: 0 = not an IP peer (ipc) */
    uint64_t since_ns;
} hs_entry;

struct pdi_guard {
    pthread_mutex_t lock;
    hs_entry *e;
    unsigned n, max_total, max_per_addr;
    unsigned backoff_ms;
    /* refusal log: window start, lines in it, lines not logged */
    uint64_t win_ns;
    unsigned in_win, dropped;
    char who[32];
};

static unsigned env_uint(const char *name, unsigned dflt, unsigned lo, unsigned hi)
{
    const char *s = getenv(name);
    long v = s && *s ? strtol(s, NULL, 10) : (long)dflt;
    return v < (long)lo ? lo : v > (long)hi ? hi : (unsigned)v;
}

int pdi_handshake_ms(void)
{
    return (int)env_uint("PYDRON_HANDSHAKE_MS", 10000, 100, 600000);
}

pdi_guard *pdi_guard_new(const char *who)
{
    pdi_guard *g = calloc(1, sizeof *g);
    if (!g)
        return NULL;
    g->max_total = env_uint("PYDRON_MAX_HANDSHAKES", 64, 1, 4096);
    g->max_per_addr = env_uint("PYDRON_MAX_HANDSHAKES_PER_ADDR", 8, 1, 4096);
    g->e = calloc(g->max_total, sizeof *g->e);
    if (!g->e) {
        free(g);
        return NULL;
    }
    pthread_mutex_init(&g->lock, NULL);
    snprintf(g->who, sizeof g->who, "%s", who);
    return g;
}

void pdi_guard_free(pdi_guard *g)
{
    if (!g)
        return;
    pthread_mutex_destroy(&g->lock);
    free(g->e);
    free(g);
}

int pdi_guard_enter(pdi_guard *g, pdi_conn *c)
{
    uint64_t addr = pdi_conn_addr_key(c), now = pdi_now_ns();
    pthread_mutex_lock(&g->lock);
    unsigned same = 0, oldest = 0;
    for (unsigned i = 0; i < g->n; i++) {
        if (addr && g->e[i].addr == addr)
            same++;
        if (g->e[i].since_ns < g->e[oldest].since_ns)
            oldest = i;
    }
    if (addr && same >= g->max_per_addr) {
        pthread_mutex_unlock(&g->lock);
        pdi_guard_log(g, "refused connection from %s: %u handshakes from that address are "
                         "already in progress", pdi_conn_peer(c), same);
        return PYDRON_EBUSY;
    }
    char evicted[96] = "";
    if (g->n == g->max_total) {
        /* the evicted thread fails its I/O, then calls leave (this lock)
         * before it frees its connection */
        pdi_conn *old = g->e[oldest].c;
        snprintf(evicted, sizeof evicted, "%s", pdi_conn_peer(old));
        pdi_conn_close(old);
        g->e[oldest] = g->e[--g->n];
    }
    g->e[g->n].c = c;
    g->e[g->n].addr = addr;
    g->e[g->n].since_ns = now;
    g->n++;
    unsigned n = g->n;
    pthread_mutex_unlock(&g->lock);
    if (evicted[0])
        pdi_guard_log(g, "closed the handshake of %s to make room: %u handshakes in progress",
                      evicted, n);
    return 0;
}

void pdi_guard_leave(pdi_guard *g, pdi_conn *c)
{
    pthread_mutex_lock(&g->lock);
    for (unsigned i = 0; i < g->n; i++) {
        if (g->e[i].c == c) {
            g->e[i] = g->e[--g->n];
            break;
        }
    }
    pthread_mutex_unlock(&g->lock);
}

void pdi_guard_accept_failed(pdi_guard *g, const char *msg)
{
    pthread_mutex_lock(&g->lock);
    unsigned ms = g->backoff_ms = g->backoff_ms ? (g->backoff_ms >= 500 ? 1000 : g->backoff_ms * 2)
                                                : 10;
    pthread_mutex_unlock(&g->lock);
    pdi_guard_log(g, "accept failed (%s); waiting %u ms", msg, ms);
    struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

void pdi_guard_accept_ok(pdi_guard *g)
{
    pthread_mutex_lock(&g->lock);
    g->backoff_ms = 0;
    pthread_mutex_unlock(&g->lock);
}

#define LOG_WINDOW_NS 10000000000ull
#define LOG_PER_WINDOW 10u

void pdi_guard_log(pdi_guard *g, const char *fmt, ...)
{
    uint64_t now = pdi_now_ns();
    unsigned dropped = 0;
    int emit;
    pthread_mutex_lock(&g->lock);
    if (now - g->win_ns >= LOG_WINDOW_NS) {
        dropped = g->dropped;
        g->dropped = 0;
        g->in_win = 0;
        g->win_ns = now;
    }
    emit = g->in_win < LOG_PER_WINDOW;
    if (emit)
        g->in_win++;
    else
        g->dropped++;
    pthread_mutex_unlock(&g->lock);
    if (dropped)
        pdi_log(g->who, "%u more refusals in the last %llu s were not logged", dropped,
                (unsigned long long)(LOG_WINDOW_NS / 1000000000ull));
    if (!emit)
        return;
    char line[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    pdi_log(g->who, "%s", line);
}
