/* time.h - the one clock helper of libpydron (util/time.c): a monotonic
 * clock, deadlines in its nanoseconds and the absolute times that the
 * pthread timed waits want. Nothing here is exported. */
#ifndef PDI_TIME_H
#define PDI_TIME_H

#include <pthread.h>
#include <stdint.h>
#include <time.h>

/* Monotonic clock in nanoseconds. */
uint64_t pdi_now_ns(void);

/* Milliseconds left until deadline_ns (a pdi_now_ns() value), rounded up:
 * 0 once it has passed, -1 for no deadline (deadline_ns == 0). */
int pdi_ms_left(uint64_t deadline_ns);

/* The absolute time ns nanoseconds from now on clock clk, for
 * pthread_cond_timedwait (CLOCK_REALTIME for a default condition variable,
 * CLOCK_MONOTONIC for one made by pdi_cond_init_monotonic) and
 * pthread_mutex_timedlock (always CLOCK_REALTIME). */
struct timespec pdi_abstime_after(clockid_t clk, uint64_t ns);

/* A pdi_now_ns() value as a CLOCK_MONOTONIC timespec. */
static inline struct timespec pdi_timespec_mono(uint64_t mono_ns)
{
    struct timespec ts = {(time_t)(mono_ns / 1000000000u), (long)(mono_ns % 1000000000u)};
    return ts;
}

/* A condition variable whose timed waits use CLOCK_MONOTONIC (immune to
 * wall-clock jumps). */
int pdi_cond_init_monotonic(pthread_cond_t *cv);

#endif
