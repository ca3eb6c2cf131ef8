/* test_ffi.c - the "pydron.ffi" runner: payloads, every scalar signature,
 * ctx functions, and clear errors for missing libraries, symbols and bad
 * signatures; in-process (inline) and in worker processes (local). */
#include "testutil.h"
#include <criterion/criterion.h>

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"

#define OK(expr)                                                                          \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        cr_assert_eq(rc_, 0, "%s -> %d: %s", #expr, rc_, pydron_error_last());            \
    } while (0)

static pydron_runtime *runtime(pydron_executor_kind ex)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = ex;
    o.workers = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    OK(pydron_runtime_new(&rt, &o));
    return rt;
}

static pydron_value konst(pydron_graph *g, const void *p, size_t n)
{
    pydron_value v;
    OK(pydron_value_constant(g, p, n, &v));
    return v;
}

static pydron_value ffi(pydron_graph *g, pydron_runtime *rt, const char *lib, const char *sym,
                        const char *sig, const pydron_value *in, size_t nin, size_t nout)
{
    pydron_value out[1] = {PYDRON_VALUE_NONE};
    tu_ffi_task(g, rt, lib, sym, sig, in, nin, nout, nout ? out : NULL);
    return out[0];
}

static void get(pydron_graph *g, pydron_value v, void *dst, size_t n)
{
    OK(pydron_graph_wait(g, v, 60000));
    const void *p;
    size_t l;
    OK(pydron_value_bytes(g, v, &p, &l));
    cr_assert_eq(l, n);
    memcpy(dst, p, n);
}

Test(ffi, payload_validation)
{
    void *p;
    size_t n;
    cr_assert_eq(pydron_ffi_payload(NULL, "f", NULL, &p, &n), PYDRON_EINVAL);
    cr_assert_eq(pydron_ffi_payload("lib.so", "", NULL, &p, &n), PYDRON_EINVAL);
    cr_assert_eq(pydron_ffi_payload("lib.so", "f", "x(d)", &p, &n), PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "bad FFI signature \"x(d)\""), "%s",
              pydron_error_last());
    cr_assert_eq(pydron_ffi_payload("lib.so", "f", "d(dq)", &p, &n), PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "'q'"), "%s", pydron_error_last());
    cr_assert_eq(pydron_ffi_payload("lib.so", "f", "d(v)", &p, &n), PYDRON_EINVAL);
    cr_assert_eq(pydron_ffi_payload("lib.so", "f", "dd", &p, &n), PYDRON_EINVAL);
    OK(pydron_ffi_payload("lib.so", "f", NULL, &p, &n));
    cr_assert_gt(n, 5);
    pydron_free(p);
    OK(pydron_ffi_payload("lib.so", "f", "v()", &p, &n));
    pydron_free(p);
}

static void scalars(pydron_executor_kind ex)
{
    pydron_runtime *rt = runtime(ex);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    const char *L = PYDRON_TEST_FFI_LIB;
    double a = 3, b = 4;
    pydron_value ab[2] = {konst(g, &a, 8), konst(g, &b, 8)};
    pydron_value h = ffi(g, rt, L, "tl_hypot2", "d(dd)", ab, 2, 1);
    int32_t x = 42;
    pydron_value xi = konst(g, &x, 4);
    pydron_value neg = ffi(g, rt, L, "tl_neg", "i(i)", &xi, 1, 1);
    uint32_t u = 0xfffffffe;
    pydron_value uv = konst(g, &u, 4);
    pydron_value inc = ffi(g, rt, L, "tl_inc_u32", "u(u)", &uv, 1, 1);
    int64_t m1 = -3000000000LL, m2 = 3;
    pydron_value mm[2] = {konst(g, &m1, 8), konst(g, &m2, 8)};
    pydron_value mul = ffi(g, rt, L, "tl_mul64", "l(ll)", mm, 2, 1);
    uint64_t q1 = 1ULL << 63, q2 = 5;
    pydron_value qq[2] = {konst(g, &q1, 8), konst(g, &q2, 8)};
    pydron_value add = ffi(g, rt, L, "tl_add_u64", "L(LL)", qq, 2, 1);
    float f = 5.0f;
    pydron_value fv = konst(g, &f, 4);
    pydron_value half = ffi(g, rt, L, "tl_half", "f(f)", &fv, 1, 1);
    pydron_value pi = ffi(g, rt, L, "tl_pi", "d()", NULL, 0, 1);
    pydron_value eight[8];
    for (int32_t i = 0; i < 8; i++)
        eight[i] = konst(g, &(int32_t){i + 1}, 4);
    pydron_value s8 = ffi(g, rt, L, "tl_sum8", "i(iiiiiiii)", eight, 8, 1);
    /* libm, a system library, by soname */
    pydron_value c = ffi(g, rt, "libm.so.6", "cos", "d(d)", &ab[0], 1, 1);
    /* ctx signature (NULL = "ctx") chained on results of other tasks */
    uint64_t k1 = 10, k2 = 32;
    pydron_value kk[2] = {konst(g, &k1, 8), konst(g, &k2, 8)};
    pydron_value sum = ffi(g, rt, L, "tl_sum_ctx", NULL, kk, 2, 1);
    pydron_value sum2in[2] = {sum, add};
    pydron_value sum2 = ffi(g, rt, L, "tl_sum_ctx", "ctx", sum2in, 2, 1);

    double dr;
    get(g, h, &dr, 8);
    cr_assert_float_eq(dr, 25.0, 1e-12);
    int32_t ir;
    get(g, neg, &ir, 4);
    cr_assert_eq(ir, -42);
    uint32_t ur;
    get(g, inc, &ur, 4);
    cr_assert_eq(ur, 0xffffffffu);
    int64_t lr;
    get(g, mul, &lr, 8);
    cr_assert_eq(lr, -9000000000LL);
    uint64_t Lr;
    get(g, add, &Lr, 8);
    cr_assert_eq(Lr, (1ULL << 63) + 5);
    float fr;
    get(g, half, &fr, 4);
    cr_assert_float_eq(fr, 2.5f, 1e-6);
    get(g, pi, &dr, 8);
    cr_assert_float_eq(dr, 3.14159265358979, 1e-12);
    get(g, s8, &ir, 4);
    cr_assert_eq(ir, 36);
    get(g, c, &dr, 8);
    cr_assert_float_eq(dr, cos(3.0), 1e-12);
    get(g, sum, &Lr, 8);
    cr_assert_eq(Lr, 42);
    get(g, sum2, &Lr, 8);
    cr_assert_eq(Lr, 42 + (1ULL << 63) + 5);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

Test(ffi, scalar_signatures_inline) { scalars(PYDRON_EXECUTOR_INLINE); }
Test(ffi, scalar_signatures_in_workers, .timeout = 60) { scalars(PYDRON_EXECUTOR_LOCAL); }

static void expect_fail(pydron_graph *g, pydron_value v, const char *needle)
{
    int rc = pydron_graph_wait(g, v, 60000);
    cr_assert_eq(rc, PYDRON_ETASK, "wait -> %d (%s)", rc, pydron_error_last());
    char *msg = NULL;
    OK(pydron_value_error(g, v, NULL, &msg, NULL, NULL));
    cr_assert(msg && strstr(msg, needle), "error \"%s\" lacks \"%s\"", msg ? msg : "(null)",
              needle);
    pydron_free(msg);
}

static void errors(pydron_executor_kind ex)
{
    pydron_runtime *rt = runtime(ex);
    pydron_graph *g;
    OK(pydron_graph_new(rt, &g));
    const char *L = PYDRON_TEST_FFI_LIB;
    double a = 1;
    pydron_value av = konst(g, &a, 8);
    int32_t small = 1;
    pydron_value sv = konst(g, &small, 4);
    pydron_value nolib = ffi(g, rt, "/nonexistent/libnope.so", "f", "d(d)", &av, 1, 1);
    pydron_value nosym = ffi(g, rt, L, "tl_no_such_function", "d(d)", &av, 1, 1);
    pydron_value arity = ffi(g, rt, L, "tl_hypot2", "d(dd)", &av, 1, 1);
    pydron_value size = ffi(g, rt, L, "tl_neg", "i(i)", &av, 1, 1); /* 8 bytes for an int32 */
    pydron_value fine = ffi(g, rt, L, "tl_neg", "i(i)", &sv, 1, 1);
    pydron_value fails = ffi(g, rt, L, "tl_fail_ctx", NULL, &av, 1, 1);
    expect_fail(g, nolib, "cannot load library /nonexistent/libnope.so");
    expect_fail(g, nosym, "symbol tl_no_such_function not found");
    expect_fail(g, arity, "has signature d(dd): 2 arguments, but the task has 1 inputs");
    expect_fail(g, size, "input 0 is 8 bytes, 'i' in signature i(i) needs 4");
    expect_fail(g, fails, "tl_fail_ctx says no (1 inputs)");
    void *detail = NULL;
    size_t dlen = 0;
    OK(pydron_value_error(g, fails, NULL, NULL, &detail, &dlen));
    cr_assert_eq(dlen, 6);
    cr_assert_eq(memcmp(detail, "DETAIL", 6), 0);
    pydron_free(detail);
    int32_t r;
    get(g, fine, &r, 4);
    cr_assert_eq(r, -1);
    OK(pydron_graph_free(g));
    OK(pydron_runtime_free(rt));
}

Test(ffi, clear_errors_inline) { errors(PYDRON_EXECUTOR_INLINE); }
Test(ffi, clear_errors_in_workers, .timeout = 60) { errors(PYDRON_EXECUTOR_LOCAL); }
