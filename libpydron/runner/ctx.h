/* ctx.h - pydron_task_ctx: a running task body's view of its inputs,
 * payload and outputs. Plain struct, independent of any graph, so that the
 * same runner code runs in-process (inline/threads executors) and in worker
 * processes (the wire layer builds a ctx from a received message).
 *
 * Life cycle:
 *     pydron_task_ctx ctx;
 *     pdi_ctx_init(&ctx, kind, attempt, payload, len, inputs, nin, nout);
 *     rc = pdi_ctx_run(&ctx, runner_ops, runner_self);    // 0 or PYDRON_ETASK
 *     if (rc == 0) for each i: pdi_ctx_output_move(&ctx, i, &out) ... use out
 *     else         pdi_ctx_error(&ctx, &detail, &dlen)
 *     pdi_ctx_cleanup(&ctx);      // frees whatever was not moved out
 *
 * Input buffers and the payload are borrowed: they must stay valid until
 * pdi_ctx_cleanup. A ctx is used by one thread at a time. */
#ifndef PDI_CTX_H
#define PDI_CTX_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "pydron.h"
#include "util/util.h"

/* Borrowed bytes. */
typedef struct pdi_buf {
    const void *data;
    size_t len;
} pdi_buf;

/* Outputs of at most this many bytes live inside the pdi_out itself (no
 * malloc for small results such as scalars). */
#define PDI_OUT_INLINE 16

/* One output buffer and how to free it. */
typedef struct pdi_out {
    const void *data;          /* ignored when is_inline: use pdi_out_data() */
    size_t len;
    void (*free_fn)(void *);   /* NULL: nothing to free */
    void *free_arg;
    unsigned char set;         /* the body produced this output */
    unsigned char is_inline;   /* bytes are in inl[] */
    unsigned char inl[PDI_OUT_INLINE];
} pdi_out;

static inline const void *pdi_out_data(const pdi_out *o)
{
    return o->is_inline ? (const void *)o->inl : o->data;
}
/* free(p), usable as free_fn (the core recognises it and skips a wrapper). */
void pdi_free_cb(void *p);
void pdi_out_release_slow(pdi_out *o);
/* Free the bytes of o (calls free_fn once) and reset it to "not set".
 * Inline: most outputs released per task are unset or inline bytes. */
static inline void pdi_out_release(pdi_out *o)
{
    if (o->set && !o->is_inline && o->free_fn) {
        pdi_out_release_slow(o);
        return;
    }
    /* the fields, not the inline bytes (read only while is_inline): a
     * memset of the whole became `rep stos`, a fifth of a tiny task's
     * completion in perf */
    o->data = NULL;
    o->len = 0;
    o->free_fn = NULL;
    o->free_arg = NULL;
    o->set = 0;
    o->is_inline = 0;
}

#define PDI_CTX_OUT_STACK 4

struct pydron_task_ctx {
    const char *kind_name;
    unsigned attempt;
    const void *payload;
    size_t payload_len;
    const pdi_buf *inputs;     /* nin entries, in_stride bytes apart */
    size_t nin;
    pdi_out *outs;             /* nout entries, out_stride bytes apart: outs_stack,
                                  heap (outs_heap) or the caller's (pdi_ctx_init_view) */
    size_t nout;
    size_t nset;               /* outputs set (so that success is one test) */
    size_t in_stride, out_stride;
    int outs_heap;
    pdi_out outs_stack[PDI_CTX_OUT_STACK];
    char *error;               /* malloc'd message once failed */
    void *detail;              /* malloc'd opaque detail bytes */
    size_t detail_len;
    int failed;
    int keep_notes;            /* notes are kept (pdi_ctx_init: worker processes) */
    struct pdi_cnote *notes;   /* nnotes notes (pydron_ctx_output_note), else NULL */
    size_t nnotes;             /* the outputs when notes were made (cleanup sets nout 0) */
    void *user;                /* free for the embedding code (wire, executor) */
};

/* Initialise ctx (it keeps notes: pydron_ctx_output_note). Returns 0 or PYDRON_ENOMEM (when nout > PDI_CTX_OUT_STACK
 * and the output array cannot be allocated) or PYDRON_EINVAL. */
int pdi_ctx_init(pydron_task_ctx *ctx, const char *kind_name, unsigned attempt,
                 const void *payload, size_t payload_len, const pdi_buf *inputs, size_t nin,
                 size_t nout);

/* Initialise ctx over the caller's arrays, so that nothing is copied in or
 * out (in-process jobs, sched/job.c): input i is the pdi_buf at
 * (char *)inputs + i * in_stride, output i the pdi_out at (char *)outs +
 * i * out_stride; the outputs must be unset (zero). The body writes the
 * outputs in place; after a failure (pdi_ctx_finish) they are released
 * again. Nothing to clean up after a success; after a failure take the
 * error (pdi_ctx_error_take) or call pdi_ctx_cleanup, which also releases
 * the caller's outputs. Cannot fail. */
static inline void pdi_ctx_init_view(pydron_task_ctx *ctx, const char *kind_name,
                                     unsigned attempt, const void *payload, size_t payload_len,
                                     const pdi_buf *inputs, size_t in_stride, size_t nin,
                                     pdi_out *outs, size_t out_stride, size_t nout)
{
    ctx->kind_name = kind_name;
    ctx->attempt = attempt;
    ctx->payload = payload;
    ctx->payload_len = payload_len;
    ctx->inputs = inputs;
    ctx->nin = nin;
    ctx->outs = outs;
    ctx->nout = nout;
    ctx->nset = 0;
    ctx->in_stride = in_stride;
    ctx->out_stride = out_stride;
    ctx->outs_heap = 0;
    ctx->error = NULL;
    ctx->detail = NULL;
    ctx->detail_len = 0;
    ctx->failed = 0;
    ctx->keep_notes = 0;   /* in process: the bytes come to the driver */
    ctx->notes = NULL;
    ctx->user = NULL;
}

static inline const pdi_buf *pdi_ctx_in_at(const pydron_task_ctx *ctx, size_t i)
{
    return (const pdi_buf *)(const void *)((const char *)ctx->inputs + i * ctx->in_stride);
}
static inline pdi_out *pdi_ctx_out_at(const pydron_task_ctx *ctx, size_t i)
{
    return (pdi_out *)(void *)((char *)ctx->outs + i * ctx->out_stride);
}

/* Run ops->run(self, ctx) and normalise the outcome: returns 0 when the body
 * succeeded and set every output, else PYDRON_ETASK with ctx->error set
 * (a body that returned non-zero without a message, or forgot an output,
 * gets a message saying so). */
int pdi_ctx_run(pydron_task_ctx *ctx, const pydron_runner_ops *ops, void *self);

/* Normalise the return code of a body that was called by other means. */
int pdi_ctx_finish(pydron_task_ctx *ctx, int rc);
/* The same, with the common case (success, every output set) inline. */
static inline int pdi_ctx_finish_fast(pydron_task_ctx *ctx, int rc)
{
    if (PDI_LIKELY(rc == 0 && !ctx->failed && ctx->nset == ctx->nout))
        return 0;
    return pdi_ctx_finish(ctx, rc);
}

/* Output i (NULL if out of range). */
pdi_out *pdi_ctx_output(pydron_task_ctx *ctx, size_t i);
/* Move output i into *dst (ownership passes to dst; the ctx forgets it). */
int pdi_ctx_output_move(pydron_task_ctx *ctx, size_t i, pdi_out *dst);

/* Take output i's note (pydron_ctx_output_note): *data (free() it) and
 * *len, or NULL and 0. */
void pdi_ctx_note_take(pydron_task_ctx *ctx, size_t i, void **data, size_t *len);

/* The failure message ("" if none); detail may be NULL. Borrowed until cleanup. */
const char *pdi_ctx_error(const pydron_task_ctx *ctx, const void **detail, size_t *detail_len);
/* Take the error message and detail (caller frees both with free()). */
void pdi_ctx_error_take(pydron_task_ctx *ctx, char **message, void **detail, size_t *detail_len);

/* Free outputs still held, the error and the output array. Idempotent. */
void pdi_ctx_cleanup(pydron_task_ctx *ctx);

#endif
