/* time.c - the monotonic clock (util/time.h). */
#include "util/time.h"

#include <time.h>

uint64_t pdi_now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

int pdi_ms_left(uint64_t deadline_ns)
{
    if (!deadline_ns)
        return -1;
    uint64_t now = pdi_now_ns();
    if (now >= deadline_ns)
        return 0;
    uint64_t ms = (deadline_ns - now + 999999u) / 1000000u;
    return ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

struct timespec pdi_abstime_after(clockid_t clk, uint64_t ns)
{
    struct timespec ts;
    clock_gettime(clk, &ts);
    uint64_t sum = (uint64_t)ts.tv_nsec + ns;
    ts.tv_sec += (time_t)(sum / 1000000000u);
    ts.tv_nsec = (long)(sum % 1000000000u);
    return ts;
}

int pdi_cond_init_monotonic(pthread_cond_t *cv)
{
    pthread_condattr_t ca;
    int rc = pthread_condattr_init(&ca);
    if (rc)
        return rc;
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    rc = pthread_cond_init(cv, &ca);
    pthread_condattr_destroy(&ca);
    return rc;
}
