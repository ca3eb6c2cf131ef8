/* ffi.c - dlopen + libffi runner and pydron_ffi_payload.
 *
 * Payload: "PFFI" | u8 version (1) | library\0 | symbol\0 | signature\0
 * signature "ctx": int f(pydron_task_ctx *); otherwise "R(AB..)" with
 * letters i=int32 l=int64 u=uint32 L=uint64 f=float d=double (R may be v:
 * no result, no outputs). */
#include "runner/ffi.h"

#include <dlfcn.h>
#include <ffi.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "runner/ctx.h"
#include "util/util.h"

#define FFI_MAGIC "PFFI"
#define FFI_VERSION 1
#define FFI_MAX_ARGS 32

static int letter_size(char c, ffi_type **t)
{
    switch (c) {
    case 'i': *t = &ffi_type_sint32; return 4;
    case 'u': *t = &ffi_type_uint32; return 4;
    case 'l': *t = &ffi_type_sint64; return 8;
    case 'L': *t = &ffi_type_uint64; return 8;
    case 'f': *t = &ffi_type_float; return 4;
    case 'd': *t = &ffi_type_double; return 8;
    case 'v': *t = &ffi_type_void; return 0;
    default: return -1;
    }
}

/* Check a scalar signature; *nargs gets the argument count. */
static int check_sig(const char *sig, size_t *nargs)
{
    ffi_type *t;
    size_t n = strlen(sig);
    if (n < 3 || sig[1] != '(' || sig[n - 1] != ')' || letter_size(sig[0], &t) < 0)
        return pdi_err(PYDRON_EINVAL,
                       "bad FFI signature \"%s\": want \"ctx\" or e.g. \"d(dd)\" with "
                       "letters i l u L f d (v: no result)",
                       sig);
    for (size_t i = 2; i + 1 < n; i++)
        if (sig[i] == 'v' || letter_size(sig[i], &t) < 0)
            return pdi_err(PYDRON_EINVAL, "bad FFI signature \"%s\": unknown argument type '%c'",
                           sig, sig[i]);
    if (n - 3 > FFI_MAX_ARGS)
        return pdi_err(PYDRON_EINVAL, "FFI signature \"%s\" has more than %d arguments", sig,
                       FFI_MAX_ARGS);
    *nargs = n - 3;
    return 0;
}

int pydron_ffi_payload(const char *library, const char *symbol, const char *signature,
                       void **out, size_t *len)
{
    pdi_err_clear();
    if (!library || !*library || !symbol || !*symbol || !out || !len)
        return pdi_err(PYDRON_EINVAL, "pydron_ffi_payload: library and symbol are required");
    if (!signature)
        signature = "ctx";
    size_t nargs;
    if (strcmp(signature, "ctx") != 0 && check_sig(signature, &nargs) != 0)
        return PYDRON_EINVAL;
    size_t ll = strlen(library) + 1, sl = strlen(symbol) + 1, gl = strlen(signature) + 1;
    size_t n = 5 + ll + sl + gl;
    char *p = malloc(n);
    if (!p)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    memcpy(p, FFI_MAGIC, 4);
    p[4] = FFI_VERSION;
    memcpy(p + 5, library, ll);
    memcpy(p + 5 + ll, symbol, sl);
    memcpy(p + 5 + ll + sl, signature, gl);
    *out = p;
    *len = n;
    return 0;
}

int pdi_ffi_parse(const void *data, size_t len, const char **library, const char **symbol,
                  const char **signature)
{
    const char *p = data;
    if (!p || len < 5 || memcmp(p, FFI_MAGIC, 4) != 0)
        return pdi_err(PYDRON_EINVAL, "not a pydron.ffi payload (make it with pydron_ffi_payload)");
    if (p[4] != FFI_VERSION)
        return pdi_err(PYDRON_EINVAL, "pydron.ffi payload version %d, expected %d", p[4],
                       FFI_VERSION);
    const char *s[3];
    size_t off = 5;
    for (int i = 0; i < 3; i++) {
        const char *z = off < len ? memchr(p + off, 0, len - off) : NULL;
        if (!z)
            return pdi_err(PYDRON_EINVAL, "truncated pydron.ffi payload");
        s[i] = p + off;
        off = (size_t)(z - p) + 1;
    }
    *library = s[0];
    *symbol = s[1];
    *signature = s[2];
    return 0;
}

/* Process-wide cache of resolved symbols: dlopen handles are never closed
 * (a library may be in use by another thread; the OS reclaims at exit). */
typedef struct sym_entry {
    char *key; /* library \0 symbol */
    size_t keylen;
    void *fn;
    struct sym_entry *next;
} sym_entry;

static pthread_mutex_t sym_lock = PTHREAD_MUTEX_INITIALIZER;
static sym_entry *syms;

static int resolve(const char *lib, const char *sym, void **fn)
{
    size_t ll = strlen(lib), sl = strlen(sym), kl = ll + 1 + sl;
    pthread_mutex_lock(&sym_lock);
    for (sym_entry *e = syms; e; e = e->next) {
        if (e->keylen == kl && memcmp(e->key, lib, ll + 1) == 0 &&
            memcmp(e->key + ll + 1, sym, sl) == 0) {
            *fn = e->fn;
            pthread_mutex_unlock(&sym_lock);
            return 0;
        }
    }
    dlerror();
    void *h = dlopen(lib, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        const char *e = dlerror();
        int rc = pdi_err(PYDRON_ENOTFOUND, "cannot load library %s: %s", lib, e ? e : "?");
        pthread_mutex_unlock(&sym_lock);
        return rc;
    }
    dlerror();
    void *f = dlsym(h, sym);
    const char *e = dlerror();
    if (!f || e) {
        int rc = pdi_err(PYDRON_ENOTFOUND, "symbol %s not found in %s%s%s", sym, lib,
                         e ? ": " : "", e ? e : "");
        pthread_mutex_unlock(&sym_lock);
        return rc;
    }
    sym_entry *n = malloc(sizeof *n);
    char *key = malloc(kl + 1);
    if (n && key) {
        memcpy(key, lib, ll + 1);
        memcpy(key + ll + 1, sym, sl + 1);
        n->key = key;
        n->keylen = kl;
        n->fn = f;
        n->next = syms;
        syms = n;
    } else {
        free(n);
        free(key);
    }
    pthread_mutex_unlock(&sym_lock);
    *fn = f;
    return 0;
}

typedef int (*ctx_fn)(pydron_task_ctx *);

static int ffi_run(void *self, pydron_task_ctx *ctx)
{
    (void)self;
    const void *pl;
    size_t plen;
    const char *lib, *sym, *sig;
    pydron_ctx_payload(ctx, &pl, &plen);
    if (pdi_ffi_parse(pl, plen, &lib, &sym, &sig) != 0) {
        pydron_ctx_fail(ctx, "%s", pydron_error_last());
        return PYDRON_ETASK;
    }
    void *fn = NULL; /* set by resolve() on success; silences -Wmaybe-uninitialized at -O2 */
    if (resolve(lib, sym, &fn) != 0) {
        pydron_ctx_fail(ctx, "%s", pydron_error_last());
        return PYDRON_ETASK;
    }
    if (strcmp(sig, "ctx") == 0) {
        ctx_fn f;
        memcpy(&f, &fn, sizeof f); /* object -> function pointer, as dlsym intends */
        return f(ctx);
    }
    size_t nargs;
    if (check_sig(sig, &nargs) != 0) {
        pydron_ctx_fail(ctx, "%s", pydron_error_last());
        return PYDRON_ETASK;
    }
    size_t nin = pydron_ctx_ninputs(ctx), nout = pydron_ctx_noutputs(ctx);
    ffi_type *rtype, *atypes[FFI_MAX_ARGS];
    void *avals[FFI_MAX_ARGS];
    int rsize = letter_size(sig[0], &rtype);
    if (nin != nargs) {
        pydron_ctx_fail(ctx, "%s in %s has signature %s: %zu arguments, but the task has %zu inputs",
                        sym, lib, sig, nargs, nin);
        return PYDRON_ETASK;
    }
    if (nout != (rsize > 0 ? 1u : 0u)) {
        pydron_ctx_fail(ctx, "%s in %s has signature %s: the task must have %d output(s), has %zu",
                        sym, lib, sig, rsize > 0 ? 1 : 0, nout);
        return PYDRON_ETASK;
    }
    for (size_t i = 0; i < nargs; i++) {
        const void *d;
        size_t l;
        int sz = letter_size(sig[2 + i], &atypes[i]);
        pydron_ctx_input(ctx, i, &d, &l);
        if (l != (size_t)sz) {
            pydron_ctx_fail(ctx, "%s: input %zu is %zu bytes, '%c' in signature %s needs %d", sym,
                            i, l, sig[2 + i], sig, sz);
            return PYDRON_ETASK;
        }
        avals[i] = (void *)d; /* ffi reads arguments from here (aligned copies below) */
    }
    /* Inputs may be unaligned in received frames: copy to aligned storage. */
    uint64_t aligned[FFI_MAX_ARGS];
    for (size_t i = 0; i < nargs; i++) {
        memcpy(&aligned[i], avals[i], atypes[i]->size);
        avals[i] = &aligned[i];
    }
    ffi_cif cif;
    if (ffi_prep_cif(&cif, FFI_DEFAULT_ABI, (unsigned)nargs, rtype, atypes) != FFI_OK) {
        pydron_ctx_fail(ctx, "libffi cannot prepare a call with signature %s", sig);
        return PYDRON_ETASK;
    }
    /* libffi widens small integer results to ffi_arg */
    union {
        ffi_arg a;
        double d;
        float f;
        uint64_t u;
    } r;
    memset(&r, 0, sizeof r);
    ffi_call(&cif, FFI_FN(fn), &r, avals);
    unsigned char out[8];
    if (rsize <= 0 || (size_t)rsize > sizeof out) /* letter_size gives 0, 4 or 8 */
        return 0;
    switch (sig[0]) {
    case 'i': { int32_t v = (int32_t)r.a; memcpy(out, &v, 4); break; }
    case 'u': { uint32_t v = (uint32_t)r.a; memcpy(out, &v, 4); break; }
    case 'l': case 'L': memcpy(out, &r.u, 8); break;
    case 'f': memcpy(out, &r.f, 4); break;
    case 'd': memcpy(out, &r.d, 8); break;
    }
    return pydron_ctx_output_set(ctx, 0, out, (size_t)rsize);
}

const pydron_runner_ops pdi_ffi_runner_ops = {PYDRON_RUNNER_OPS_VERSION, ffi_run, NULL};

/* Strong definition of the core's hook (runner/runner.h): in-process
 * executors run "pydron.ffi" tasks with the same runner as workers. */
const pydron_runner_ops *pdi_runner_ffi_get(void **self);
const pydron_runner_ops *pdi_runner_ffi_get(void **self)
{
    if (self)
        *self = NULL;
    return &pdi_ffi_runner_ops;
}
