/* trace.c - the run trace in the Trace Event Format (util/trace.h).
 *
 * The file is one JSON object {"displayTimeUnit":"ns","traceEvents":[...],
 * "otherData":{...}} that ui.perfetto.dev and chrome://tracing open. Events
 * are "X" (complete) spans, "i" instants and "M" metadata naming the
 * tracks; times are microseconds since the trace started. */
#include "util/trace.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/log.h"
#include "util/util.h"

atomic_int pdi_trace_on;

#define CHUNK (64u * 1024u)             /* a buffer is handed to the writer at this size */
#define DEFAULT_LIMIT (8u * 1024u * 1024u)
#define MAX_LANES 64

typedef struct tbuf {
    struct tbuf *next;
    size_t len, cap;
    char data[];
} tbuf;

typedef struct lanes {          /* one lane group: a worker, driver tasks, transfers */
    uint64_t end[MAX_LANES];    /* end of the last span in each lane (ns since t0) */
    unsigned n;
} lanes;

static struct {
    pthread_mutex_t mu;         /* leaf lock: nothing is called with it held */
    pthread_cond_t cv;
    int on, stopping;
    FILE *f;
    tbuf *cur;
    tbuf *qhead, *qtail;        /* full buffers for the writer */
    size_t held, limit;         /* bytes in buffers, and their bound */
    uint64_t t0, events, dropped;
    int io_error;
    pthread_t writer;
    lanes *groups;              /* index = worker + 2 (0: transfers, 1: driver tasks) */
    size_t ngroups;
    int driver_named;
} T = {.mu = PTHREAD_MUTEX_INITIALIZER, .cv = PTHREAD_COND_INITIALIZER};

/* ---- formatting (T.mu held) ---- */

/* Hand the buffer being filled to the writer. */
static void flush_cur(void)
{
    tbuf *b = T.cur;
    if (!b)
        return;
    b->next = NULL;
    if (T.qtail)
        T.qtail->next = b;
    else
        T.qhead = b;
    T.qtail = b;
    T.cur = NULL;
    pthread_cond_signal(&T.cv);
}

static tbuf *room(size_t need)
{
    tbuf *b = T.cur;
    if (b && b->len + need <= b->cap)
        return b;
    flush_cur();
    size_t cap = need > CHUNK ? need : CHUNK;
    if (T.held + cap > T.limit)
        return NULL;
    if (!(b = malloc(sizeof *b + cap)))
        return NULL;
    b->len = 0;
    b->cap = cap;
    T.held += cap;
    T.cur = b;
    return b;
}

/* Append one event (a JSON object, no separator). */
static void emit(const char *ev, size_t n)
{
    tbuf *b = room(n + 2);
    if (!b) {
        T.dropped++;
        return;
    }
    if (T.events++)
        b->data[b->len++] = ',';
    b->data[b->len++] = '\n';
    memcpy(b->data + b->len, ev, n);
    b->len += n;
}

/* JSON string body of s (escaped, at most max bytes of input). */
static void put_json(pdi_str *s, const char *text, size_t max)
{
    for (size_t i = 0; text && text[i] && i < max; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c == '"' || c == '\\')
            pdi_str_printf(s, "\\%c", c);
        else if (c < 0x20)
            pdi_str_printf(s, "\\u%04x", c);
        else
            pdi_str_printf(s, "%c", c);
    }
}

static void put_us(pdi_str *s, uint64_t ns)
{
    pdi_str_printf(s, "%llu.%03u", (unsigned long long)(ns / 1000u), (unsigned)(ns % 1000u));
}

static void emit_str(pdi_str *s)
{
    if (!s->oom && s->buf)
        emit(s->buf, s->len);
    else
        T.dropped++;
    free(s->buf);
}

static void meta(const char *what, int pid, int tid, const char *name, int sort)
{
    pdi_str s = {0};
    pdi_str_printf(&s, "{\"name\":\"%s\",\"ph\":\"M\",\"pid\":%d,", what, pid);
    if (tid)
        pdi_str_printf(&s, "\"tid\":%d,", tid);
    if (name) {
        pdi_str_puts(&s, "\"args\":{\"name\":\"");
        put_json(&s, name, 200);
        pdi_str_puts(&s, "\"}}");
    } else {
        pdi_str_printf(&s, "\"args\":{\"sort_index\":%d}}", sort);
    }
    emit_str(&s);
}

static void name_driver(void)
{
    if (T.driver_named)
        return;
    T.driver_named = 1;
    meta("process_name", 1, 0, "driver", 0);
    meta("process_sort_index", 1, 0, NULL, 0);
    meta("thread_name", 1, 1, "driver", 0);
    meta("thread_sort_index", 1, 1, NULL, 0);
}

/* pid and tid of a lane of a group (group = worker, or PDI_TRACK_*) */
static void lane_ids(int32_t group, unsigned lane, int *pid, int *tid)
{
    if (group >= 0) {
        *pid = group + 2;
        *tid = (int)lane + 1;
    } else {
        *pid = 1;
        *tid = (group == PDI_TRACK_DRIVER_TASKS ? 100 : 200) + (int)lane;
    }
}

/* A lane of `group` free at start (ns since t0); names new tracks. -1: no memory. */
static int lane_for(int32_t group, uint64_t start, uint64_t end)
{
    size_t gi = (size_t)(group + 2);
    if (gi >= T.ngroups) {
        size_t n = gi + 8;
        lanes *ng = realloc(T.groups, n * sizeof *ng);
        if (!ng)
            return -1;
        memset(ng + T.ngroups, 0, (n - T.ngroups) * sizeof *ng);
        T.groups = ng;
        T.ngroups = n;
    }
    lanes *L = &T.groups[gi];
    /* best fit: the lane that became free last before start (spans come in
     * finish order, not start order: first fit would open lanes needlessly) */
    unsigned k = L->n;
    for (unsigned i = 0; i < L->n; i++)
        if (L->end[i] <= start && (k == L->n || L->end[i] > L->end[k]))
            k = i;
    if (k == L->n) {
        if (L->n == MAX_LANES) {
            k = MAX_LANES - 1;  /* absurd overlap: share the last lane */
        } else {
            L->n++;
            L->end[k] = 0;
            int pid, tid;
            lane_ids(group, k, &pid, &tid);
            char name[64];
            if (group >= 0 && k == 0) {
                snprintf(name, sizeof name, "worker %d", (int)group);
                meta("process_name", pid, 0, name, 0);
                meta("process_sort_index", pid, 0, NULL, group + 1);
            }
            if (group < 0)
                name_driver();
            const char *base = group >= 0 ? "tasks"
                               : group == PDI_TRACK_DRIVER_TASKS ? "driver tasks" : "transfers";
            if (k)
                snprintf(name, sizeof name, "%s %u", base, k + 1);
            else
                snprintf(name, sizeof name, "%s", base);
            meta("thread_name", pid, tid, name, 0);
            meta("thread_sort_index", pid, tid, NULL, tid);
        }
    }
    if (end > L->end[k])
        L->end[k] = end;
    return (int)k;
}

static uint64_t rel(uint64_t ns) { return ns > T.t0 ? ns - T.t0 : 0; }

/* ---- the writer thread ---- */

static void *writer_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&T.mu);
    for (;;) {
        while (!T.qhead && !T.stopping)
            pthread_cond_wait(&T.cv, &T.mu);
        tbuf *b = T.qhead;
        if (!b)
            break;  /* stopping, nothing left */
        T.qhead = b->next;
        if (!T.qhead)
            T.qtail = NULL;
        pthread_mutex_unlock(&T.mu);
        int bad = fwrite(b->data, 1, b->len, T.f) != b->len;
        pthread_mutex_lock(&T.mu);
        T.io_error |= bad;
        T.held -= b->cap;
        free(b);
    }
    pthread_mutex_unlock(&T.mu);
    return NULL;
}

static void at_fork_child(void)
{
    /* a forked child has no writer: it does not trace (its parent's file
     * stays the parent's) */
    atomic_store(&pdi_trace_on, 0);
    pthread_mutex_init(&T.mu, NULL);
    pthread_cond_init(&T.cv, NULL);
    T.on = 0;
    T.f = NULL;
    T.cur = T.qhead = T.qtail = NULL;
    T.groups = NULL;
    T.ngroups = 0;
}

static void install_fork_handler(void) { pthread_atfork(NULL, NULL, at_fork_child); }

int pdi_trace_start(const char *path, size_t buf_bytes)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, install_fork_handler);
    pthread_mutex_lock(&T.mu);
    if (T.on || T.f) {
        pthread_mutex_unlock(&T.mu);
        return pdi_err(PYDRON_EBUSY, "a trace is already being written");
    }
    FILE *f = fopen(path, "w");
    if (!f) {
        int e = errno;
        pthread_mutex_unlock(&T.mu);
        return pdi_err(PYDRON_EIO, "cannot write the trace file '%s': %s", path, strerror(e));
    }
    T.f = f;
    T.limit = buf_bytes ? (buf_bytes < 2 * CHUNK ? 2 * CHUNK : buf_bytes) : DEFAULT_LIMIT;
    T.held = 0;
    T.events = T.dropped = 0;
    T.io_error = 0;
    T.stopping = 0;
    T.driver_named = 0;
    free(T.groups);
    T.groups = NULL;
    T.ngroups = 0;
    T.t0 = pdi_now_ns();
    fputs("{\"displayTimeUnit\":\"ns\",\"traceEvents\":[", f);
    if (pthread_create(&T.writer, NULL, writer_main, NULL) != 0) {
        fclose(f);
        T.f = NULL;
        pthread_mutex_unlock(&T.mu);
        return pdi_err(PYDRON_ENOMEM, "cannot start the trace writer thread");
    }
    T.on = 1;
    name_driver();
    atomic_store(&pdi_trace_on, 1);
    pthread_mutex_unlock(&T.mu);
    return 0;
}

int pdi_trace_stop(void)
{
    pthread_mutex_lock(&T.mu);
    if (!T.on) {
        pthread_mutex_unlock(&T.mu);
        return 0;
    }
    atomic_store(&pdi_trace_on, 0);
    T.on = 0;
    flush_cur();
    T.stopping = 1;
    pthread_cond_signal(&T.cv);
    pthread_mutex_unlock(&T.mu);
    pthread_join(T.writer, NULL);
    pthread_mutex_lock(&T.mu);
    FILE *f = T.f;
    fprintf(f, "\n],\"otherData\":{\"producer\":\"pydron %s\",\"events\":%llu,"
               "\"dropped_events\":%llu}}\n",
            PYDRON_VERSION_STRING, (unsigned long long)T.events, (unsigned long long)T.dropped);
    int bad = T.io_error | (fflush(f) != 0) | ferror(f);
    bad |= fclose(f) != 0;
    T.f = NULL;
    free(T.groups);
    T.groups = NULL;
    T.ngroups = 0;
    uint64_t dropped = T.dropped;
    pthread_mutex_unlock(&T.mu);
    if (dropped)
        pdi_log("trace", "%llu events were dropped (the writer fell behind)",
                (unsigned long long)dropped);
    return bad ? pdi_err(PYDRON_EIO, "writing the trace file failed") : 0;
}

void pdi_trace_counts(uint64_t *events, uint64_t *dropped)
{
    pthread_mutex_lock(&T.mu);
    *events = T.events;
    *dropped = T.dropped;
    pthread_mutex_unlock(&T.mu);
}

static const char *state_name(int s)
{
    static const char *n[] = {"waiting", "ready", "running", "done", "failed", "refined", "canceled"};
    return s >= 0 && s < 7 ? n[s] : "?";
}

/* Under T.mu: lock a trace that is on (0), or leave it unlocked (-1). */
static int trace_lock(void)
{
    pthread_mutex_lock(&T.mu);
    if (T.on)
        return 0;
    pthread_mutex_unlock(&T.mu);
    return -1;
}

/* Under T.mu: a complete ("X") event from start_ns to end_ns on a free lane
 * of group, written into s up to its duration: the caller adds
 * ,"args":{...}} and emits. -1 (counted as dropped) when no lane is free. */
static int span_begin(pdi_str *s, int32_t group, uint64_t start_ns, uint64_t end_ns,
                      const char *name, const char *cat)
{
    uint64_t s0 = rel(start_ns), e0 = rel(end_ns);
    int lane = lane_for(group, s0, e0);
    if (lane < 0) {
        T.dropped++;
        return -1;
    }
    int pid, tid;
    lane_ids(group, (unsigned)lane, &pid, &tid);
    pdi_str_puts(s, "{\"name\":\"");
    put_json(s, name, 200);
    pdi_str_printf(s, "\",\"cat\":\"%s\",\"ph\":\"X\",\"pid\":%d,\"tid\":%d,\"ts\":", cat, pid, tid);
    put_us(s, s0);
    pdi_str_puts(s, ",\"dur\":");
    put_us(s, e0 - s0);
    return 0;
}

void pdi_trace_task(const char *name, uint64_t task, int32_t worker, int state, unsigned attempt,
                    uint64_t queued_ns, uint64_t start_ns, uint64_t end_ns)
{
    uint64_t now = pdi_now_ns();
    if (!end_ns)
        end_ns = now;
    if (!start_ns)
        start_ns = queued_ns ? queued_ns : end_ns;
    if (end_ns < start_ns || end_ns > now || (queued_ns && start_ns < queued_ns && worker >= 0)) {
        /* another clock (a remote host): keep the duration, end it now */
        uint64_t d = end_ns >= start_ns ? end_ns - start_ns : 0;
        end_ns = now;
        start_ns = now - (d < now ? d : 0);
    }
    if (trace_lock())
        return;
    pdi_str s = {0};
    if (span_begin(&s, worker >= 0 ? worker : PDI_TRACK_DRIVER_TASKS, start_ns, end_ns,
                   name ? name : "?", "task")) {
        pthread_mutex_unlock(&T.mu);
        return;
    }
    pdi_str_printf(&s, ",\"args\":{\"task\":\"%#llx\",\"state\":\"%s\",\"attempt\":%u",
                   (unsigned long long)task, state_name(state), attempt);
    if (queued_ns && queued_ns <= start_ns) {
        pdi_str_puts(&s, ",\"queued_us\":");
        put_us(&s, start_ns - queued_ns);
    }
    pdi_str_puts(&s, "}}");
    emit_str(&s);
    pthread_mutex_unlock(&T.mu);
}

void pdi_trace_driver_span(const char *cat, const char *name, uint64_t start_ns, uint64_t end_ns,
                           const char *args_json)
{
    if (end_ns < start_ns)
        end_ns = start_ns;
    if (trace_lock())
        return;
    pdi_str s = {0};
    pdi_str_puts(&s, "{\"name\":\"");
    put_json(&s, name ? name : "?", 200);
    pdi_str_puts(&s, "\",\"cat\":\"");
    put_json(&s, cat ? cat : "driver", 64);
    pdi_str_puts(&s, "\",\"ph\":\"X\",\"pid\":1,\"tid\":1,\"ts\":");
    put_us(&s, rel(start_ns));
    pdi_str_puts(&s, ",\"dur\":");
    put_us(&s, rel(end_ns) - rel(start_ns));
    if (args_json)
        pdi_str_printf(&s, ",\"args\":{%s}", args_json);
    pdi_str_puts(&s, "}");
    emit_str(&s);
    pthread_mutex_unlock(&T.mu);
}

void pdi_trace_transfer(const char *name, uint64_t start_ns, uint64_t end_ns, uint64_t bytes,
                        int32_t from, int32_t to)
{
    if (end_ns < start_ns)
        end_ns = start_ns;
    if (trace_lock())
        return;
    pdi_str s = {0};
    if (span_begin(&s, PDI_TRACK_TRANSFERS, start_ns, end_ns, name ? name : "transfer",
                   "transfer")) {
        pthread_mutex_unlock(&T.mu);
        return;
    }
    pdi_str_printf(&s, ",\"args\":{\"bytes\":%llu,\"from\":%d,\"to\":%d}}",
                   (unsigned long long)bytes, (int)from, (int)to);
    emit_str(&s);
    pthread_mutex_unlock(&T.mu);
}

void pdi_trace_input_moved(uint64_t value, uint64_t bytes, int32_t from, int32_t to)
{
    uint64_t now = pdi_now_ns();
    if (to < 0 || trace_lock())
        return;
    /* on the receiving worker's first lane (named if new) */
    uint64_t t = rel(now);
    if ((size_t)(to + 2) >= T.ngroups || !T.groups[to + 2].n) {
        if (lane_for(to, t, 0) < 0) {
            T.dropped++;
            pthread_mutex_unlock(&T.mu);
            return;
        }
    }
    pdi_str s = {0};
    pdi_str_printf(&s, "{\"name\":\"input from %s", from < 0 ? "driver" : "worker");
    if (from >= 0)
        pdi_str_printf(&s, " %d", (int)from);
    pdi_str_printf(&s, "\",\"cat\":\"transfer\",\"ph\":\"i\",\"s\":\"t\",\"pid\":%d,\"tid\":1,\"ts\":",
                   (int)to + 2);
    put_us(&s, t);
    pdi_str_printf(&s, ",\"args\":{\"value\":\"%#llx\",\"bytes\":%llu,\"from\":%d,\"to\":%d}}",
                   (unsigned long long)value, (unsigned long long)bytes, (int)from, (int)to);
    emit_str(&s);
    pthread_mutex_unlock(&T.mu);
}

void pdi_trace_worker_fetch(int32_t worker, int32_t from, unsigned ninputs, uint64_t bytes,
                            uint64_t start_ns, uint64_t end_ns, uint64_t task_start_ns,
                            uint64_t task_end_ns)
{
    if (worker < 0 || end_ns < start_ns)
        return;
    uint64_t now = pdi_now_ns();
    if (trace_lock())
        return;
    if (task_end_ns > now || task_end_ns < task_start_ns || start_ns < T.t0) {
        /* another clock (a remote host): as pdi_trace_task does for the
         * task, end the task now and keep the fetch just before it */
        uint64_t back = task_end_ns >= start_ns ? task_end_ns - start_ns : 0;
        uint64_t d = end_ns - start_ns;
        start_ns = now > back ? now - back : 0;
        end_ns = start_ns + d;
    }
    char name[64];
    if (from >= 0)
        snprintf(name, sizeof name, "fetch %u input%s from worker %d", ninputs,
                 ninputs == 1 ? "" : "s", (int)from);
    else
        snprintf(name, sizeof name, "fetch %u input%s from workers", ninputs,
                 ninputs == 1 ? "" : "s");
    pdi_str s = {0};
    if (span_begin(&s, worker, start_ns, end_ns, name, "transfer")) {
        pthread_mutex_unlock(&T.mu);
        return;
    }
    pdi_str_printf(&s, ",\"args\":{\"bytes\":%llu,\"inputs\":%u,\"from\":%d,\"to\":%d}}",
                   (unsigned long long)bytes, ninputs, (int)from, (int)worker);
    emit_str(&s);
    pthread_mutex_unlock(&T.mu);
}
