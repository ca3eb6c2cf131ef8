#include <stdio.h>
#include <sys/mman.h>
#include <time.h>

#include "util/util.h"

/* Per thread. Public functions that return an error code clear the
 * message first (pdi_err_clear) and set it when they fail (pdi_err), so it
 * always describes the thread's most recent such call (pydron.h).
 *
 * Two buffers: a new message is written into the one not shown, and a
 * clear only hides the shown one. So the string pydron_error_last() gave
 * stays intact while it is an argument of the next call, which clears
 * first and may fail with a message of its own - e.g.
 * pydron_ctx_fail(ctx, "%s", pydron_error_last()) or
 * pdi_err(rc, "...: %s", pydron_error_last()). */
static _Thread_local char tls_msg[2][1024];
static _Thread_local unsigned char tls_cur; /* buffer holding the message */
_Thread_local unsigned char pdi_err_set; /* 0: cleared */

int pdi_verr(int rc, const char *fmt, va_list ap)
{
    unsigned next = tls_cur ^ 1u;
    vsnprintf(tls_msg[next], sizeof tls_msg[next], fmt, ap);
    tls_cur = (unsigned char)next;
    pdi_err_set = 1;
    return rc;
}

int pdi_err(int rc, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    pdi_verr(rc, fmt, ap);
    va_end(ap);
    return rc;
}

PYDRON_API const char *pydron_error_last(void) { return pdi_err_set ? tls_msg[tls_cur] : ""; }

PYDRON_API const char *pydron_strerror(int rc)
{
    switch (rc) {
    case PYDRON_OK: return "success";
    case PYDRON_EINVAL: return "invalid argument";
    case PYDRON_ENOMEM: return "out of memory";
    case PYDRON_ESTALE: return "unknown, freed or foreign id";
    case PYDRON_ESTATE: return "operation not valid in the current state";
    case PYDRON_ECYCLE: return "operation would create a cycle";
    case PYDRON_ETIMEDOUT: return "timed out";
    case PYDRON_ETASK: return "task failed";
    case PYDRON_ECANCELED: return "canceled";
    case PYDRON_ENOTFOUND: return "not found";
    case PYDRON_EIO: return "system or transport error";
    case PYDRON_EPROTO: return "malformed or incompatible message";
    case PYDRON_EAUTH: return "authentication failed";
    case PYDRON_ECLOSED: return "closed";
    case PYDRON_ENOTSUP: return "not supported";
    case PYDRON_ERANGE: return "value out of range";
    case PYDRON_EEXIST: return "already exists";
    case PYDRON_EBUSY: return "busy";
    case PYDRON_EINTR: return "interrupted";
    default: return "unknown error code";
    }
}

PYDRON_API void pydron_free(void *p) { free(p); }

PYDRON_API int pydron_version(void) { return PYDRON_VERSION_NUMBER; }
PYDRON_API const char *pydron_version_string(void) { return PYDRON_VERSION_STRING; }

char *pdi_vasprintf(const char *fmt, va_list ap)
{
    va_list ap2;
    va_copy(ap2, ap);
    int n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        n = 0;
    char *s = malloc((size_t)n + 1);
    if (s)
        vsnprintf(s, (size_t)n + 1, fmt, ap);
    return s;
}

char *pdi_asprintf(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    char *s = pdi_vasprintf(fmt, ap);
    va_end(ap);
    return s;
}

char *pdi_strdup(const char *s)
{
    return s ? pdi_memdup(s, strlen(s) + 1) : NULL;
}

void *pdi_memdup(const void *p, size_t n)
{
    void *q = malloc(n ? n : 1);
    if (q && n)
        memcpy(q, p, n);
    return q;
}

void *pdi_malloc_large(size_t n)
{
    void *p = malloc(n ? n : 1);
#ifdef MADV_HUGEPAGE
    if (p && n >= PDI_MALLOC_LARGE) {
        /* glibc serves this from its own mapping; advising a page-aligned
         * part of it is harmless when THP is off or "never" */
        const uintptr_t huge = (uintptr_t)2 << 20;
        uintptr_t a = ((uintptr_t)p + huge - 1) & ~(huge - 1);
        uintptr_t e = ((uintptr_t)p + n) & ~(huge - 1);
        if (e > a)
            (void)madvise((void *)a, e - a, MADV_HUGEPAGE);
    }
#endif
    return p;
}

int pdi_test_fail_grow;

int pdi_grow(void **buf, size_t *cap, size_t n, size_t esz)
{
    if (n <= *cap)
        return 0;
    if (pdi_test_grow_fails())
        return PYDRON_ENOMEM;
    size_t nc = *cap ? *cap : 8;
    while (nc < n)
        nc *= 2;
    void *p = realloc(*buf, nc * esz);
    if (!p)
        return PYDRON_ENOMEM;
    *buf = p;
    *cap = nc;
    return 0;
}

void pdi_str_printf(pdi_str *s, const char *fmt, ...)
{
    if (s->oom)
        return;
    va_list ap;
    for (;;) {
        size_t room = s->cap - s->len;
        va_start(ap, fmt);
        int n = vsnprintf(s->buf ? s->buf + s->len : NULL, room, fmt, ap);
        va_end(ap);
        if (n < 0) {
            s->oom = 1;
            return;
        }
        if ((size_t)n < room) {
            s->len += (size_t)n;
            return;
        }
        size_t nc = s->cap ? s->cap * 2 : 256;
        while (nc - s->len <= (size_t)n)
            nc *= 2;
        char *p = realloc(s->buf, nc);
        if (!p) {
            s->oom = 1;
            return;
        }
        s->buf = p;
        s->cap = nc;
    }
}

void pdi_str_puts(pdi_str *s, const char *text) { pdi_str_printf(s, "%s", text); }
