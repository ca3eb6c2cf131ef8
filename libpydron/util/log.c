/* log.c - diagnostic lines on stderr, shared by the driver, the workers and
 * the store. */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void vlog(const char *who, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "pydron[%d] %s: ", (int)getpid(), who);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t l = strlen(line);
    line[l] = '\n';
    /* one write() so that lines of different processes do not interleave */
    ssize_t w = write(2, line, l + 1);
    (void)w;
}

void pdi_log(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(who, fmt, ap);
    va_end(ap);
}

void pdi_debug(const char *who, const char *fmt, ...)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("PYDRON_DEBUG");
        on = (e && *e && strcmp(e, "0") != 0) ? 1 : 0;
    }
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(who, fmt, ap);
    va_end(ap);
}
