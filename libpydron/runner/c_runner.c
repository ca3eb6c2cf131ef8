#include "runner/runner.h"
#include "util/util.h"

static int c_run(void *self, pydron_task_ctx *ctx)
{
    pdi_c_runner *r = self;
    return r->fn(ctx, r->user);
}

static void c_destroy(void *self) { free(self); }

const pydron_runner_ops pdi_c_runner_ops = {PYDRON_RUNNER_OPS_VERSION, c_run, c_destroy};
