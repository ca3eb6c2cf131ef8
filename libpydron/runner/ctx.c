#include <stdio.h>

#include "runner/ctx.h"
#include "store/shm.h"
#include "util/util.h"

void pdi_out_release_slow(pdi_out *o)
{
    o->free_fn(o->free_arg);
    memset(o, 0, sizeof *o);
}

struct pdi_cnote {
    void *data;
    size_t len;
};

int pdi_ctx_init(pydron_task_ctx *ctx, const char *kind_name, unsigned attempt,
                 const void *payload, size_t payload_len, const pdi_buf *inputs, size_t nin,
                 size_t nout)
{
    if (!ctx || (nin && !inputs) || (payload_len && !payload))
        return pdi_err(PYDRON_EINVAL, "pdi_ctx_init: invalid arguments");
    /* the view's fields, then outputs the ctx owns */
    pdi_ctx_init_view(ctx, kind_name ? kind_name : "", attempt, payload, payload_len, inputs,
                      sizeof(pdi_buf), nin, NULL, sizeof(pdi_out), nout);
    ctx->keep_notes = 1;
    ctx->outs_heap = nout > PDI_CTX_OUT_STACK;
    if (nout <= PDI_CTX_OUT_STACK) {
        ctx->outs = ctx->outs_stack;
        memset(ctx->outs_stack, 0, nout * sizeof(pdi_out));
    } else {
        ctx->outs = calloc(nout, sizeof(pdi_out));
        if (!ctx->outs) {
            ctx->nout = 0;
            return pdi_err(PYDRON_ENOMEM, "pdi_ctx_init: cannot allocate %zu outputs", nout);
        }
    }
    return 0;
}

void pdi_ctx_cleanup(pydron_task_ctx *ctx)
{
    if (!ctx)
        return;
    if (ctx->outs) {
        for (size_t i = 0; i < ctx->nout; i++)
            pdi_out_release(pdi_ctx_out_at(ctx, i));
        if (ctx->outs_heap)
            free(ctx->outs);
    }
    ctx->outs = NULL;
    ctx->nout = 0;
    ctx->nset = 0;
    ctx->outs_heap = 0;
    free(ctx->error);
    free(ctx->detail);
    ctx->error = NULL;
    ctx->detail = NULL;
    ctx->detail_len = 0;
    if (ctx->notes) {
        for (size_t i = 0; i < ctx->nnotes; i++)
            free(ctx->notes[i].data);
        free(ctx->notes);
        ctx->notes = NULL;
    }
}

PYDRON_API int pydron_ctx_output_note(pydron_task_ctx *ctx, size_t i, const void *data,
                                      size_t len)
{
    pdi_err_clear();
    if (!ctx || (len && !data))
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_note: NULL argument");
    if (i >= ctx->nout)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_note: output %zu out of range (%zu)", i,
                       ctx->nout);
    if (len > PYDRON_NOTE_MAX)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_note: %zu bytes, more than "
                       "PYDRON_NOTE_MAX (%u)", len, (unsigned)PYDRON_NOTE_MAX);
    if (!ctx->keep_notes)
        return 0;   /* in process: the output's bytes reach the driver */
    void *copy = NULL;
    if (len && !(copy = pdi_memdup(data, len)))
        return pdi_err(PYDRON_ENOMEM, "out of memory for a note of %zu bytes", len);
    if (!ctx->notes) {
        if (!(ctx->notes = calloc(ctx->nout, sizeof *ctx->notes))) {
            free(copy);
            return pdi_err(PYDRON_ENOMEM, "out of memory for notes");
        }
        ctx->nnotes = ctx->nout;
    }
    free(ctx->notes[i].data);
    ctx->notes[i].data = copy;
    ctx->notes[i].len = len;
    return 0;
}

void pdi_ctx_note_take(pydron_task_ctx *ctx, size_t i, void **data, size_t *len)
{
    *data = NULL;
    *len = 0;
    if (ctx->notes && i < ctx->nnotes) {
        *data = ctx->notes[i].data;
        *len = ctx->notes[i].len;
        ctx->notes[i].data = NULL;
        ctx->notes[i].len = 0;
    }
}

pdi_out *pdi_ctx_output(pydron_task_ctx *ctx, size_t i)
{
    return (ctx && i < ctx->nout) ? pdi_ctx_out_at(ctx, i) : NULL;
}

int pdi_ctx_output_move(pydron_task_ctx *ctx, size_t i, pdi_out *dst)
{
    pdi_out *o = pdi_ctx_output(ctx, i);
    if (!o || !dst)
        return pdi_err(PYDRON_EINVAL, "output %zu out of range", i);
    if (o->set)
        ctx->nset--;
    *dst = *o;
    memset(o, 0, sizeof *o);
    return 0;
}

const char *pdi_ctx_error(const pydron_task_ctx *ctx, const void **detail, size_t *detail_len)
{
    if (detail)
        *detail = ctx->detail;
    if (detail_len)
        *detail_len = ctx->detail_len;
    return ctx->error ? ctx->error : "";
}

void pdi_ctx_error_take(pydron_task_ctx *ctx, char **message, void **detail, size_t *detail_len)
{
    if (message)
        *message = ctx->error;
    else
        free(ctx->error);
    if (detail) {
        *detail = ctx->detail;
        if (detail_len)
            *detail_len = ctx->detail_len;
    } else {
        free(ctx->detail);
    }
    ctx->error = NULL;
    ctx->detail = NULL;
    ctx->detail_len = 0;
}

static void set_msg(pydron_task_ctx *ctx, const char *fmt, ...) PDI_PRINTF(2, 3);
static void set_msg(pydron_task_ctx *ctx, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *m = pdi_vasprintf(fmt, ap);
    va_end(ap);
    free(ctx->error);
    ctx->error = m;
    ctx->failed = 1;
}

int pdi_ctx_finish(pydron_task_ctx *ctx, int rc)
{
    if (rc == 0 && !ctx->failed) {
        for (size_t i = 0; i < ctx->nout; i++) {
            if (!pdi_ctx_out_at(ctx, i)->set) {
                set_msg(ctx, "task of kind '%s' returned without setting output %zu of %zu",
                        ctx->kind_name, i, ctx->nout);
                break;
            }
        }
    } else if (rc == 0) {
        /* pydron_ctx_fail but returned 0: the failure wins */
    } else if (!ctx->failed || !ctx->error) {
        set_msg(ctx, "task of kind '%s' failed with code %d (%s)", ctx->kind_name, rc,
                pydron_strerror(rc));
    }
    if (ctx->failed) {
        if (!ctx->error)
            ctx->error = pdi_strdup("task failed");
        for (size_t i = 0; i < ctx->nout; i++)
            pdi_out_release(pdi_ctx_out_at(ctx, i));
        ctx->nset = 0;
        return PYDRON_ETASK;
    }
    return 0;
}

int pdi_ctx_run(pydron_task_ctx *ctx, const pydron_runner_ops *ops, void *self)
{
    int rc;
    if (!ops || !ops->run)
        rc = pdi_err(PYDRON_ENOTFOUND, "kind '%s' has no runner", ctx->kind_name);
    else
        rc = ops->run(self, ctx);
    return pdi_ctx_finish_fast(ctx, rc);
}

/* ---- public accessors used by task bodies ---- */

PYDRON_API size_t pydron_ctx_ninputs(const pydron_task_ctx *ctx) { return ctx ? ctx->nin : 0; }
PYDRON_API size_t pydron_ctx_noutputs(const pydron_task_ctx *ctx) { return ctx ? ctx->nout : 0; }

PYDRON_API int pydron_ctx_input(const pydron_task_ctx *ctx, size_t i, const void **data,
                                size_t *len)
{
    pdi_err_clear();
    if (!ctx || !data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_input: NULL argument");
    if (i >= ctx->nin)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_input: input %zu out of range (task has %zu)",
                       i, ctx->nin);
    const pdi_buf *b = pdi_ctx_in_at(ctx, i);
    *data = b->data;
    *len = b->len;
    return 0;
}

PYDRON_API int pydron_ctx_payload(const pydron_task_ctx *ctx, const void **data, size_t *len)
{
    pdi_err_clear();
    if (!ctx || !data || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_payload: NULL argument");
    *data = ctx->payload;
    *len = ctx->payload_len;
    return 0;
}

static pdi_out *out_slot(pydron_task_ctx *ctx, size_t i, const char *fn)
{
    if (!ctx) {
        pdi_err(PYDRON_EINVAL, "%s: NULL ctx", fn);
        return NULL;
    }
    if (i >= ctx->nout) {
        pdi_err(PYDRON_EINVAL, "%s: output %zu out of range (task has %zu)", fn, i, ctx->nout);
        return NULL;
    }
    pdi_out *o = pdi_ctx_out_at(ctx, i);
    if (o->set)
        ctx->nset--;
    pdi_out_release(o);
    return o;
}

void pdi_free_cb(void *p) { free(p); }

PYDRON_API int pydron_ctx_output_alloc(pydron_task_ctx *ctx, size_t i, size_t len, void **data)
{
    pdi_err_clear();
    if (!data)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_alloc: NULL data");
    pdi_out *o = out_slot(ctx, i, "pydron_ctx_output_alloc");
    if (!o)
        return PYDRON_EINVAL;
    if (len <= PDI_OUT_INLINE) {
        o->is_inline = 1;
        *data = o->inl;
    } else if (len >= pdi_shm_min()) {
        /* large: in shared memory, so that a process on this host that
         * needs it maps it instead of receiving a copy */
        void *p = pdi_shm_alloc(len);
        if (!p)
            return pdi_err(PYDRON_ENOMEM, "cannot allocate %zu bytes for output %zu", len, i);
        o->data = p;
        o->free_fn = pdi_shm_free;
        o->free_arg = p;
        *data = p;
    } else {
        void *p = malloc(len);
        if (!p)
            return pdi_err(PYDRON_ENOMEM, "cannot allocate %zu bytes for output %zu", len, i);
        o->data = p;
        o->free_fn = pdi_free_cb;
        o->free_arg = p;
        *data = p;
    }
    o->len = len;
    o->set = 1;
    ctx->nset++;
    return 0;
}

/* Copy n <= PDI_OUT_INLINE bytes without a call: two overlapping moves of
 * the widest size that fits (as memcpy does for small sizes). */
static inline void copy_small(unsigned char *d, const unsigned char *s, size_t n)
{
    if (n >= 8) {
        uint64_t a, b;
        memcpy(&a, s, 8);
        memcpy(&b, s + n - 8, 8);
        memcpy(d, &a, 8);
        memcpy(d + n - 8, &b, 8);
    } else if (n >= 4) {
        uint32_t a, b;
        memcpy(&a, s, 4);
        memcpy(&b, s + n - 4, 4);
        memcpy(d, &a, 4);
        memcpy(d + n - 4, &b, 4);
    } else {
        for (size_t k = 0; k < n; k++)
            d[k] = s[k];
    }
}

/* pydron_ctx_output_set but for a small output into an unset slot: apart,
 * so that the common case saves no registers */
static PDI_NOINLINE int output_set_slow(pydron_task_ctx *ctx, size_t i, const void *data,
                                       size_t len)
{
    if (len && !data)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_set: NULL data");
    if (len > PDI_OUT_INLINE && len >= pdi_shm_min() && ctx && i < ctx->nout) {
        void *c = pdi_shm_copy(data, len); /* written into the memfd, not faulted in */
        if (!c)
            return pdi_err(PYDRON_ENOMEM, "cannot allocate %zu bytes for output %zu", len, i);
        return pydron_ctx_output_take(ctx, i, c, len, pdi_shm_free, c);
    }
    void *p;
    int rc = pydron_ctx_output_alloc(ctx, i, len, &p);
    if (rc)
        return rc;
    if (len)
        memcpy(p, data, len);
    return 0;
}

PYDRON_API int pydron_ctx_output_set(pydron_task_ctx *ctx, size_t i, const void *data, size_t len)
{
    pdi_err_clear();
    pdi_out *o;
    if (PDI_LIKELY(len <= PDI_OUT_INLINE && data && ctx && i < ctx->nout &&
                   !(o = pdi_ctx_out_at(ctx, i))->set)) {
        /* small (scalars) into an unset output, which is all zero: its bytes
         * go into the output itself, as pydron_ctx_output_alloc + memcpy
         * would put them, without their calls */
        copy_small(o->inl, data, len);
        o->len = len;
        o->is_inline = 1;
        o->set = 1;
        ctx->nset++;
        return 0;
    }
    return output_set_slow(ctx, i, data, len);
}

PYDRON_API int pydron_ctx_output_setv(pydron_task_ctx *ctx, size_t i, const pydron_iov *parts,
                                      size_t n)
{
    pdi_err_clear();
    if (n && !parts)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_setv: NULL parts");
    size_t total = 0;
    for (size_t k = 0; k < n; k++) {
        if (parts[k].len && !parts[k].data)
            return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_setv: part %zu has NULL data", k);
        if (total + parts[k].len < total)
            return pdi_err(PYDRON_ERANGE, "pydron_ctx_output_setv: sizes overflow");
        total += parts[k].len;
    }
    if (total > PDI_OUT_INLINE && total >= pdi_shm_min() && ctx && i < ctx->nout) {
        void *c = pdi_shm_copyv(parts, n);
        if (!c)
            return pdi_err(PYDRON_ENOMEM, "cannot allocate %zu bytes for output %zu", total, i);
        return pydron_ctx_output_take(ctx, i, c, total, pdi_shm_free, c);
    }
    void *p;
    int rc = pydron_ctx_output_alloc(ctx, i, total, &p);
    if (rc)
        return rc;
    for (size_t k = 0, off = 0; k < n; off += parts[k].len, k++)
        if (parts[k].len)
            memcpy((char *)p + off, parts[k].data, parts[k].len);
    return 0;
}

PYDRON_API int pydron_ctx_output_take(pydron_task_ctx *ctx, size_t i, const void *data,
                                      size_t len, void (*free_fn)(void *), void *free_arg)
{
    pdi_err_clear();
    if (len && !data) {
        if (free_fn)
            free_fn(free_arg);
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_output_take: NULL data");
    }
    pdi_out *o = out_slot(ctx, i, "pydron_ctx_output_take");
    if (!o) {
        /* the buffer was handed over: honour "free_fn called exactly once" */
        if (free_fn)
            free_fn(free_arg);
        return PYDRON_EINVAL;
    }
    o->data = data;
    o->len = len;
    o->free_fn = free_fn;
    o->free_arg = free_arg;
    o->set = 1;
    ctx->nset++;
    return 0;
}

PYDRON_API int pydron_ctx_fail(pydron_task_ctx *ctx, const char *fmt, ...)
{
    pdi_err_clear();
    if (!ctx || !fmt)
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_fail: NULL argument");
    va_list ap;
    va_start(ap, fmt);
    char *m = pdi_vasprintf(fmt, ap);
    va_end(ap);
    free(ctx->error);
    ctx->error = m;
    ctx->failed = 1;
    return 0;
}

PYDRON_API int pydron_ctx_fail_detail(pydron_task_ctx *ctx, const void *detail, size_t len)
{
    pdi_err_clear();
    if (!ctx || (len && !detail))
        return pdi_err(PYDRON_EINVAL, "pydron_ctx_fail_detail: NULL argument");
    void *d = len ? pdi_memdup(detail, len) : NULL;
    if (len && !d)
        return pdi_err(PYDRON_ENOMEM, "cannot copy %zu detail bytes", len);
    free(ctx->detail);
    ctx->detail = d;
    ctx->detail_len = len;
    ctx->failed = 1;
    return 0;
}

PYDRON_API const char *pydron_ctx_kind_name(const pydron_task_ctx *ctx)
{
    return ctx ? ctx->kind_name : "";
}

PYDRON_API unsigned pydron_ctx_attempt(const pydron_task_ctx *ctx) { return ctx ? ctx->attempt : 0; }
