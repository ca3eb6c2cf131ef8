/*
 * header_c99.c - include/pydron.h must compile as strict C99 (built with
 * -std=c99 -pedantic -Werror by tests/CMakeLists.txt) and link: uses every
 * _INIT macro and runs one task through the public API.
 */
#include <pydron.h>
#include <stdio.h>
#include <string.h>

static int add_one(pydron_task_ctx *ctx, void *user)
{
    const void *p;
    size_t n;
    int x;
    (void)user;
    if (pydron_ctx_input(ctx, 0, &p, &n) != 0 || n != sizeof x)
        return pydron_ctx_fail(ctx, "bad input"), PYDRON_ETASK;
    memcpy(&x, p, sizeof x);
    x += 1;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

int main(void)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    pydron_worker_options wo = PYDRON_WORKER_OPTIONS_INIT;
    pydron_task none = PYDRON_TASK_NONE;
    pydron_value vnone = PYDRON_VALUE_NONE;
    pydron_runtime *rt = NULL;
    pydron_graph *g = NULL;
    pydron_value in, out;
    const void *p;
    size_t n;
    int x = 41, got = 0;
    uint32_t k;

    (void)kd;
    (void)wo;
    if (none.id != 0 || vnone.id != 0)
        return 1;
    if (pydron_version() != PYDRON_VERSION_NUMBER) {
        fprintf(stderr, "header %d, library %d\n", PYDRON_VERSION_NUMBER, pydron_version());
        return 1;
    }
    if (pydron_runtime_new(&rt, &o) || pydron_runtime_register_c(rt, "add_one", add_one, NULL, &k) ||
        pydron_graph_new(rt, &g) || pydron_value_constant(g, &x, sizeof x, &in))
        return fprintf(stderr, "setup: %s\n", pydron_error_last()), 1;
    d.kind = k;
    d.ninputs = 1;
    d.inputs = &in;
    d.noutputs = 1;
    if (pydron_task_add(g, &d, NULL, &out) || pydron_graph_wait(g, out, -1) ||
        pydron_value_bytes(g, out, &p, &n) || n != sizeof got)
        return fprintf(stderr, "run: %s\n", pydron_error_last()), 1;
    memcpy(&got, p, sizeof got);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
    printf("header_c99: %d\n", got);
    return got == 42 ? 0 : 1;
}
