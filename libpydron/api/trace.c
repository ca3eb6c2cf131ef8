/* trace.c - the public face of the run trace (util/trace.c): options,
 * start/stop, frontend spans, and PYDRON_TRACE. */
#include <stdlib.h>

#include "api/api.h"
#include "util/abi.h"
#include "util/log.h"
#include "util/trace.h"

PYDRON_API int pydron_trace_options_init(pydron_trace_options *o, unsigned version)
{
    pdi_err_clear();
    size_t size = pdi_trace_options_size(version);
    if (!o || !size)
        return pdi_err(PYDRON_EINVAL, "pydron_trace_options_init: %s",
                       o ? "unknown struct version" : "NULL options");
    pydron_trace_options d = PYDRON_TRACE_OPTIONS_INIT;
    d.version = version;
    memcpy(o, &d, size);
    return 0;
}

PYDRON_API int pydron_trace_start(const pydron_trace_options *o)
{
    pdi_err_clear();
    if (!o)
        return pdi_err(PYDRON_EINVAL, "pydron_trace_start: NULL options");
    size_t size = pdi_trace_options_size(o->version);
    if (!size)
        return pdi_err(PYDRON_EINVAL, "pydron_trace_options.version is %u, this library knows 1 to %u",
                       o->version, PYDRON_TRACE_OPTIONS_VERSION);
    pydron_trace_options t = PYDRON_TRACE_OPTIONS_INIT;
    memcpy(&t, o, size);
    if (!t.path || !*t.path)
        return pdi_err(PYDRON_EINVAL, "pydron_trace_start: no path");
    return pdi_trace_start(t.path, t.buffer_bytes);
}

PYDRON_API int pydron_trace_stop(void)
{
    pdi_err_clear();
    return pdi_trace_stop();
}

PYDRON_API int pydron_trace_span(const char *category, const char *name, uint64_t start_ns,
                                 uint64_t end_ns)
{
    pdi_err_clear();
    if (!name)
        return pdi_err(PYDRON_EINVAL, "pydron_trace_span: NULL name");
    if (end_ns < start_ns)
        return pdi_err(PYDRON_ERANGE, "pydron_trace_span: the span ends before it starts");
    if (pdi_tracing())
        pdi_trace_driver_span(category, name, start_ns, end_ns, NULL);
    return 0;
}

PYDRON_API int pydron_trace_active(void)
{
    pdi_err_clear();
    return pdi_tracing();
}

static void stop_at_exit(void) { (void)pdi_trace_stop(); }

static void env_start(void)
{
    const char *path = getenv("PYDRON_TRACE");
    if (!path || !*path)
        return;
    if (pdi_trace_start(path, 0) != 0) {
        pdi_log("trace", "PYDRON_TRACE: %s", pydron_error_last());
        pdi_err_clear();
        return;
    }
    atexit(stop_at_exit);
}

void pdi_trace_env_once(void)
{
    /* once per process: a trace stopped by the program is not started
     * again (that would overwrite its file) */
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    pthread_once(&once, env_start);
}
