/* Refinement runs: a REFINABLE task is replaced by a subgraph built by its
 * kind's refine callback on the driver thread. */
#include "sched/sched.h"

void pdi_refine_run(pydron_graph *g, uint32_t ti)
{
    pdi_sgraph *sg = pdi_S(g);
    pdi_task *t = pdi_T(g, ti);
    pdi_kind *k = g->kt->kinds[t->kind];
    pydron_refine r;
    memset(&r, 0, sizeof r);
    r.g = g;
    r.ti = ti;
    r.tid = pdi_tid(g, ti);
    r.tick_len = t->tick_len;
    memcpy(r.tick, pdi_task_tick(t), t->tick_len * sizeof(uint32_t));
    r.nin = t->nin;
    r.nout = t->nout;
    r.bound = calloc(t->nout ? t->nout : 1, sizeof(uint32_t));
    t->state = PYDRON_TASK_RUNNING;
    uint64_t start = pdi_now_ns();
    int rc;
    if (!r.bound) {
        rc = PYDRON_ENOMEM;
        r.fail = pdi_strdup("out of memory");
    } else {
        r.active = 1;
        sg->inflight++;
        pthread_mutex_unlock(&sg->mu);
        pydron_graph *prev = pdi_tls.cb_graph;
        pdi_tls.cb_graph = g;
        rc = k->refine(&r, k->refine_user);
        pdi_tls.cb_graph = prev;
        pthread_mutex_lock(&sg->mu);
        sg->inflight--;
        r.active = 0;
    }
    t = pdi_T(g, ti);
    if (rc == 0 && !r.fail) {
        for (size_t i = 0; i < r.nout; i++) {
            if (!r.bound[i]) {
                r.fail = pdi_asprintf("refine callback of kind '%s' returned without binding "
                                      "output %zu of %zu", k->name, i, r.nout);
                break;
            }
        }
    }
    pdi_run run = {-1, 0, start, pdi_now_ns(), NULL, 0};   /* the timing, for the log */
    if (rc == 0 && !r.fail) {
        uint32_t *outs = pdi_task_outs(t);
        for (size_t i = 0; i < r.nout; i++) {
            pdi_value_forward(g, outs[i], r.bound[i]);
            pdi_value_unref(g, r.bound[i]);
        }
        pdi_task_refined(g, ti);
    } else {
        for (size_t i = 0; i < r.nout; i++)
            if (r.bound && r.bound[i])
                pdi_value_unref(g, r.bound[i]);
        char *m = r.fail ? r.fail
                         : pdi_asprintf("refine callback of kind '%s' failed with %d (%s)",
                                        k->name, rc, pydron_strerror(rc));
        r.fail = NULL;
        pdi_error *e = pdi_error_new(r.tid, PYDRON_ETASK, m, NULL, 0);
        pdi_task_failed(g, ti, e, PYDRON_TASK_FAILED, &run);
        if (e)
            pdi_error_unref(e);
    }
    free(r.fail);
    free(r.bound);
    free(r.created);
    pdi_dispatch(g);
}
