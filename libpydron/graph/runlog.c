/* runlog.c - PYDRON_RECORD=file: one JSON object per line for every task
 * that finishes, so that a real run can be replayed (by the benchmark
 * harness or the simulator) with its measured durations and value sizes.
 * Format (docs/schedulers.md, "Recorded graphs"):
 *   {"pydron_record":1,"pid":P}                                first line
 *   {"graph":G,"task":T,"kind":"K","label":"L","state":"done","worker":W,
 *    "start_ns":S,"end_ns":E,"inputs":[[V,BYTES],...],"outputs":[[V,BYTES],...]}
 * Value ids are those of the values holding the bytes (aliases resolved),
 * so an input names the output of the task that made it; an input no
 * recorded task made is a constant or an input set by the program.
 * Called under the graph lock; the file has its own lock (taken after
 * a graph's, never before). */
#include <stdio.h>
#include <unistd.h>

#include "graph/graph.h"
#include "util/log.h"

static pthread_mutex_t rec_mu = PTHREAD_MUTEX_INITIALIZER;
static FILE *rec_f;
static uint32_t rec_graphs;
static int rec_env_done;

static void flush_at_exit(void)
{
    pthread_mutex_lock(&rec_mu);
    if (rec_f)
        fflush(rec_f);
    pthread_mutex_unlock(&rec_mu);
}

static int open_locked(const char *path)
{
    static int atexit_done;
    if (!atexit_done && atexit(flush_at_exit) == 0)
        atexit_done = 1;
    if (rec_f) {
        fclose(rec_f);
        rec_f = NULL;
    }
    if (!path || !*path)
        return 0;
    FILE *f = fopen(path, "w");
    if (!f)
        return pdi_err(PYDRON_EIO, "cannot write the record file '%s'", path);
    setvbuf(f, NULL, _IOFBF, 1 << 16);
    fprintf(f, "{\"pydron_record\":1,\"pid\":%ld}\n", (long)getpid());
    rec_f = f;
    return 0;
}

PYDRON_API int pydron_record_open(const char *path)
{
    pdi_err_clear();
    pthread_mutex_lock(&rec_mu);
    rec_env_done = 1;   /* the program decides from now on */
    int rc = open_locked(path);
    pthread_mutex_unlock(&rec_mu);
    return rc;
}

uint32_t pdi_record_graph_id(void)
{
    pthread_mutex_lock(&rec_mu);
    if (!rec_env_done) {
        rec_env_done = 1;
        const char *p = getenv("PYDRON_RECORD");
        if (p && *p && open_locked(p) != 0)
            pdi_log("record", "PYDRON_RECORD: %s", pydron_error_last());
    }
    uint32_t id = rec_f ? ++rec_graphs : 0;
    pthread_mutex_unlock(&rec_mu);
    return id;
}

void pdi_record_flush(void)
{
    pthread_mutex_lock(&rec_mu);
    if (rec_f)
        fflush(rec_f);
    pthread_mutex_unlock(&rec_mu);
}

static void json_str(FILE *f, const char *s)
{
    fputc('"', f);
    for (; s && *s; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\')
            fprintf(f, "\\%c", c);
        else if (c < 0x20)
            fprintf(f, "\\u%04x", c);
        else
            fputc(c, f);
    }
    fputc('"', f);
}

static const char *state_name(uint8_t st)
{
    switch (st) {
    case PYDRON_TASK_DONE: return "done";
    case PYDRON_TASK_FAILED: return "failed";
    case PYDRON_TASK_REFINED: return "refined";
    case PYDRON_TASK_CANCELED: return "canceled";
    default: return "other";
    }
}

void pdi_record_task(pydron_graph *g, uint32_t ti, uint8_t state, const pdi_run *run)
{
    pdi_task *t = pdi_T(g, ti);
    pthread_mutex_lock(&rec_mu);
    FILE *f = rec_f;
    if (!f) {
        pthread_mutex_unlock(&rec_mu);
        return;
    }
    const char *kind = t->kind < atomic_load(&g->kt->n) ? g->kt->kinds[t->kind]->name : "?";
    fprintf(f, "{\"graph\":%u,\"task\":%llu,\"kind\":", g->rec_id, (unsigned long long)pdi_tid(g, ti));
    json_str(f, kind);
    if (t->label) {
        fputs(",\"label\":", f);
        json_str(f, g->labels[t->label - 1].text);
    }
    fprintf(f, ",\"state\":\"%s\",\"flags\":%u,\"worker\":%d,\"queued_ns\":%llu,\"start_ns\":%llu,"
               "\"end_ns\":%llu,\"inputs\":[",
            state_name(state), (unsigned)t->flags, run ? (int)run->worker : -1,
            (unsigned long long)t->queued_ns, (unsigned long long)(run ? run->start_ns : 0),
            (unsigned long long)(run ? run->end_ns : 0));
    if (!(t->bits & (TB_RETAINED | TB_LINEAGE))) {
        uint32_t *ins = pdi_task_ins(t);
        for (uint16_t i = 0; i < t->nin; i++) {
            uint32_t vi = ins[i];
            for (int hop = 0; hop < 64 && (pdi_V(g, vi)->vf & VF_ALIAS); hop++)
                vi = pdi_V(g, vi)->u.cin[0];
            pdi_value *v = pdi_V(g, vi);
            fprintf(f, "%s[%llu,%llu]", i ? "," : "", (unsigned long long)pdi_vid(g, vi),
                    (unsigned long long)(v->state == PYDRON_VALUE_READY ? v->len : 0));
        }
    }
    fputs("],\"outputs\":[", f);
    uint32_t *outs = pdi_task_outs(t);
    for (uint16_t i = 0; i < t->nout && state == PYDRON_TASK_DONE; i++) {
        uint64_t size = 0;
        if (run && run->outs)
            size = run->outs[i].where >= 0 ? run->outs[i].size : run->outs[i].out.len;
        else if (pdi_V(g, outs[i])->state == PYDRON_VALUE_READY)
            size = pdi_V(g, outs[i])->len;
        fprintf(f, "%s[%llu,%llu]", i ? "," : "", (unsigned long long)pdi_vid(g, outs[i]),
                (unsigned long long)size);
    }
    fputs("]}\n", f);
    pthread_mutex_unlock(&rec_mu);
}
