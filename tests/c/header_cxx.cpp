// header_cxx.cpp - include/pydron.h must compile as C++ (built with
// -std=c++11 -pedantic -Werror by tests/CMakeLists.txt) and link: extern "C"
// linkage, the _INIT macros as aggregate initialisers, one task run.
#include <pydron.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace {

extern "C" int add_one(pydron_task_ctx *ctx, void *)
{
    const void *p;
    size_t n;
    int x;
    if (pydron_ctx_input(ctx, 0, &p, &n) != 0 || n != sizeof x) {
        pydron_ctx_fail(ctx, "bad input %d", 1);
        return PYDRON_ETASK;
    }
    std::memcpy(&x, p, sizeof x);
    x += 1;
    return pydron_ctx_output_set(ctx, 0, &x, sizeof x);
}

}  // namespace

int main()
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    pydron_kind_desc kd = PYDRON_KIND_DESC_INIT;
    pydron_worker_options wo = PYDRON_WORKER_OPTIONS_INIT;
    (void)kd;
    (void)wo;
    if (pydron_version() != PYDRON_VERSION_NUMBER)
        return 1;
    pydron_runtime *rt = nullptr;
    pydron_graph *g = nullptr;
    uint32_t k = 0;
    int x = 41;
    pydron_value in{}, out{};
    if (pydron_runtime_new(&rt, &o) != PYDRON_OK ||
        pydron_runtime_register_c(rt, "add_one", add_one, nullptr, &k) != PYDRON_OK ||
        pydron_graph_new(rt, &g) != PYDRON_OK ||
        pydron_value_constant(g, &x, sizeof x, &in) != PYDRON_OK) {
        std::fprintf(stderr, "setup: %s\n", pydron_error_last());
        return 1;
    }
    std::vector<pydron_value> inputs{in};
    d.kind = k;
    d.ninputs = inputs.size();
    d.inputs = inputs.data();
    d.noutputs = 1;
    const void *p = nullptr;
    size_t n = 0;
    if (pydron_task_add(g, &d, nullptr, &out) != PYDRON_OK ||
        pydron_graph_wait(g, out, -1) != PYDRON_OK ||
        pydron_value_bytes(g, out, &p, &n) != PYDRON_OK || n != sizeof x) {
        std::fprintf(stderr, "run: %s\n", pydron_error_last());
        return 1;
    }
    int got = 0;
    std::memcpy(&got, p, sizeof got);
    pydron_graph_free(g);
    pydron_runtime_free(rt);
    std::printf("header_cxx: %d\n", got);
    return got == 42 ? 0 : 1;
}
