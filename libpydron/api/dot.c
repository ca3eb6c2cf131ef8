/* Graphviz export of the live part of a graph. */
#include "api/api.h"
#include "graph/graph.h"
#include "sched/sched.h"

static const char *tstate(uint8_t s)
{
    static const char *n[] = {"waiting", "ready", "running", "done", "failed", "refined", "canceled"};
    return s < 7 ? n[s] : "?";
}

static void put_escaped(pdi_str *s, const char *text)
{
    for (; *text; text++) {
        if (*text == '"' || *text == '\\')
            pdi_str_printf(s, "\\%c", *text);
        else if ((unsigned char)*text >= 0x20)
            pdi_str_printf(s, "%c", *text);
    }
}

PYDRON_API int pydron_graph_dot(pydron_graph *g, char **out, size_t *len)
{
    pdi_err_clear();
    if (!g || !out)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_dot: NULL argument");
    pdi_str s = {0};
    pthread_mutex_lock(&pdi_S(g)->mu);
    pdi_str_puts(&s, "digraph pydron {\n  rankdir=TB;\n  node [fontsize=10];\n");
    for (uint32_t i = 1; i <= g->tcount; i++) {
        pdi_task *t = pdi_T(g, i);
        if (t->state == PDI_T_FREE || (t->bits & TB_ZOMBIE))
            continue;
        pdi_str_printf(&s, "  t%u [shape=box, label=\"", i);
        put_escaped(&s, pdi_task_name(g, t));
        pdi_str_puts(&s, "\\n");
        uint32_t *tick = pdi_task_tick(t);
        for (uint8_t k = 0; k < t->tick_len; k++)
            pdi_str_printf(&s, "%s%u", k ? "." : "", tick[k]);
        pdi_str_printf(&s, " %s%s%s%s\"];\n", tstate(t->state),
                       (t->flags & PYDRON_TASK_SYNC) ? " sync" : "",
                       (t->flags & PYDRON_TASK_REFINABLE) ? " refinable" : "",
                       (t->flags & PYDRON_TASK_PURE) ? "" : "");
        uint64_t tid = pdi_tid(g, i);
        for (uint16_t k = 0; k < t->nin; k++) {
            if (t->bits & TB_RETAINED) {
                /* finished: inputs are ids; draw those still alive */
                const uint64_t *ids = t->nin == 1 ? (const uint64_t *)(const void *)&t->ins : (const uint64_t *)(const void *)t->ins.p;
                uint32_t vi;
                if (pdi_value_get(g, ids[k], &vi))
                    pdi_str_printf(&s, "  v%u -> t%u [label=\"%u\"];\n", vi, i, k);
            } else {
                pdi_str_printf(&s, "  v%u -> t%u [label=\"%u\"];\n", pdi_task_ins(t)[k], i, k);
            }
        }
        for (uint16_t k = 0; k < t->nout; k++) {
            uint32_t vi = pdi_task_outs(t)[k];
            pdi_value *v = pdi_V(g, vi);
            if (v->state != PDI_V_FREE && v->producer == tid)
                pdi_str_printf(&s, "  t%u -> v%u [label=\"%u\"];\n", i, vi, k);
        }
    }
    static const char *vs[] = {"pending", "ready", "failed", "released"};
    for (uint32_t i = 1; i <= g->vcount; i++) {
        pdi_value *v = pdi_V(g, i);
        if (v->state == PDI_V_FREE || pdi_value_hidden(v))
            continue;   /* free, or a lineage-only record */
        pdi_str_printf(&s, "  v%u [shape=ellipse, label=\"v%u %s", i, i, vs[v->state & 3]);
        if (v->state == PYDRON_VALUE_READY)
            pdi_str_printf(&s, " %lluB", (unsigned long long)pdi_value_root(g, v)->len);
        if (v->vf & VF_REMOTE)
            pdi_str_printf(&s, " @w%d", v->where);
        pdi_str_puts(&s, "\"");
        if (v->state == PYDRON_VALUE_FAILED)
            pdi_str_puts(&s, ", color=red");
        pdi_str_puts(&s, "];\n");
        if (v->state == PYDRON_VALUE_READY && (v->vf & VF_ALIAS))
            pdi_str_printf(&s, "  v%u -> v%u [style=dashed, label=\"alias\"];\n", i, v->u.cin[0]);
    }
    pdi_str_puts(&s, "}\n");
    pthread_mutex_unlock(&pdi_S(g)->mu);
    if (s.oom) {
        free(s.buf);
        return pdi_err(PYDRON_ENOMEM, "out of memory writing DOT");
    }
    *out = s.buf;
    if (len)
        *len = s.len;
    return 0;
}

PYDRON_API int pydron_graph_record(pydron_graph *g, size_t max_tasks)
{
    pdi_err_clear();
    if (pdi_lock_graph(g, "pydron_graph_record"))
        return PYDRON_EINVAL;
    int rc = pdi_rec_start(g, max_tasks ? max_tasks : 100000);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    return rc ? pdi_err(rc, "out of memory starting the record of the run") : 0;
}

PYDRON_API int pydron_graph_dot_run(pydron_graph *g, char **out, size_t *len)
{
    pdi_err_clear();
    if (!out)
        return pdi_err(PYDRON_EINVAL, "pydron_graph_dot_run: NULL out");
    if (pdi_lock_graph(g, "pydron_graph_dot_run"))
        return PYDRON_EINVAL;
    pdi_str s = {0};
    int rc = pdi_rec_dot(g, &s);
    pthread_mutex_unlock(&pdi_S(g)->mu);
    if (rc) {
        free(s.buf);
        return pdi_err(rc, "the run is not recorded: call pydron_graph_record first");
    }
    if (s.oom) {
        free(s.buf);
        return pdi_err(PYDRON_ENOMEM, "out of memory writing DOT");
    }
    *out = s.buf;
    if (len)
        *len = s.len;
    return 0;
}
