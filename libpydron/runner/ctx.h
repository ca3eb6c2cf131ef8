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

#include "pydron.h"

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
/* Free the bytes of o (calls free_fn once) and reset it to "not set". */
void pdi_out_release(pdi_out *o);

#define PDI_CTX_OUT_STACK 4

struct pydron_task_ctx {
    const char *kind_name;
    unsigned attempt;
    const void *payload;
    size_t payload_len;
    const pdi_buf *inputs;
    size_t nin;
    pdi_out *outs;             /* nout entries: outs_stack or heap */
    size_t nout;
    pdi_out outs_stack[PDI_CTX_OUT_STACK];
    char *error;               /* malloc'd message once failed */
    void *detail;              /* malloc'd opaque detail bytes */
    size_t detail_len;
    int failed;
    void *user;                /* free for the embedding code (wire, executor) */
};

/* Initialise ctx. Returns 0 or PYDRON_ENOMEM (when nout > PDI_CTX_OUT_STACK
 * and the output array cannot be allocated) or PYDRON_EINVAL. */
int pdi_ctx_init(pydron_task_ctx *ctx, const char *kind_name, unsigned attempt,
                 const void *payload, size_t payload_len, const pdi_buf *inputs, size_t nin,
                 size_t nout);

/* Run ops->run(self, ctx) and normalise the outcome: returns 0 when the body
 * succeeded and set every output, else PYDRON_ETASK with ctx->error set
 * (a body that returned non-zero without a message, or forgot an output,
 * gets a message saying so). */
int pdi_ctx_run(pydron_task_ctx *ctx, const pydron_runner_ops *ops, void *self);

/* Normalise the return code of a body that was called by other means. */
int pdi_ctx_finish(pydron_task_ctx *ctx, int rc);

/* Output i (NULL if out of range). */
pdi_out *pdi_ctx_output(pydron_task_ctx *ctx, size_t i);
/* Move output i into *dst (ownership passes to dst; the ctx forgets it). */
int pdi_ctx_output_move(pydron_task_ctx *ctx, size_t i, pdi_out *dst);

/* The failure message ("" if none); detail may be NULL. Borrowed until cleanup. */
const char *pdi_ctx_error(const pydron_task_ctx *ctx, const void **detail, size_t *detail_len);
/* Take the error message and detail (caller frees both with free()). */
void pdi_ctx_error_take(pydron_task_ctx *ctx, char **message, void **detail, size_t *detail_len);

/* Free outputs still held, the error and the output array. Idempotent. */
void pdi_ctx_cleanup(pydron_task_ctx *ctx);

#endif
