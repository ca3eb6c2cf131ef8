/* proc_sender.c - one sender thread per worker slot.
 *
 * submit, fetch and release are called on threads that must not block (a
 * driver thread, a reader thread inside pydron_job_done, with the graph
 * lock held): they encode their frame into one buffer and queue it here.
 * The slot's sender writes the queue in order, so a recall follows the
 * batch it recalls. A write that fails closes the connection: the reader
 * reports the loss and the worker's jobs come back. */
#include <pthread.h>
#include <stdlib.h>

#include "exec/proc.h"
#include "util/util.h"

typedef struct pdi_sendq {
    struct pdi_sendq *next;
    uint8_t *buf;
    size_t len;
    unsigned gen;   /* the worker it is for; another one in the slot drops it */
} pdi_sendq;

void pdi_proc_enqueue_locked(pdi_proc *p, unsigned wi, uint8_t *buf, size_t len)
{
    pworker *w = &p->w[wi];
    pdi_sendq *q = malloc(sizeof *q);
    if (!q) {
        free(buf);
        pdi_conn_close(w->c); /* as if the write had failed */
        return;
    }
    q->next = NULL;
    q->buf = buf;
    q->len = len;
    q->gen = w->gen;
    if (w->sq_tail)
        w->sq_tail->next = q;
    else
        w->sq_head = q;
    w->sq_tail = q;
    pthread_cond_signal(&w->scv);
}

int pdi_proc_enqueue_frame_locked(pdi_proc *p, unsigned wi, Pydron__Frame *f)
{
    uint8_t *buf;
    size_t len;
    int rc = pdi_wire_encode(f, NULL, 0, &buf, &len);
    if (rc) {
        pdi_conn_close(p->w[wi].c);
        return rc;
    }
    pdi_proc_enqueue_locked(p, wi, buf, len);
    return 0;
}

void *pdi_proc_sender_thread(void *arg)
{
    sd_arg a = *(sd_arg *)arg;
    free(arg);
    pdi_proc *p = a.p;
    pworker *w = &p->w[a.wi];
    pthread_mutex_lock(&p->lock);
    for (;;) {
        while (!p->stopping && !w->sq_head)
            pthread_cond_wait(&w->scv, &p->lock);
        if (p->stopping)
            break; /* stop returns every job; the queue is freed with p */
        pdi_sendq *q = w->sq_head;
        w->sq_head = q->next;
        if (!w->sq_head)
            w->sq_tail = NULL;
        pdi_conn *c = w->alive && w->gen == q->gen ? w->c : NULL;
        pthread_mutex_unlock(&p->lock);
        if (c && pdi_conn_send_raw(c, q->buf, q->len) != 0)
            pdi_conn_close(c);
        free(q->buf);
        free(q);
        pthread_mutex_lock(&p->lock);
    }
    pthread_mutex_unlock(&p->lock);
    return NULL;
}

void pdi_proc_sendq_free(pworker *w)
{
    while (w->sq_head) {
        pdi_sendq *q = w->sq_head;
        w->sq_head = q->next;
        free(q->buf);
        free(q);
    }
    w->sq_tail = NULL;
}
