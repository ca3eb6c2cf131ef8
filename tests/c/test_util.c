/* test_util.c - util/: the ring queue and the clock helpers (internal). */
#include "testutil.h"

#include <errno.h>

#include "util/ring.h"
#include "util/time.h"

Test(ring, keeps_fifo_order_across_wraps_and_growth)
{
    pdi_ring r = PDI_RING_INIT;
    uint32_t next_in = 0, next_out = 0, v;
    /* push 3, pop 2, repeatedly: the head walks around while the ring grows */
    for (int round = 0; round < 2000; round++) {
        for (int k = 0; k < 3; k++, next_in++)
            cr_assert_eq(pdi_ring_push(&r, &next_in, sizeof next_in), 0);
        for (int k = 0; k < 2; k++, next_out++) {
            cr_assert_eq(pdi_ring_pop(&r, &v, sizeof v), 1);
            cr_assert_eq(v, next_out);
        }
        cr_assert_eq(pdi_ring_len(&r), next_in - next_out);
        cr_assert_eq(r.cap & (r.cap - 1), 0, "capacity %zu is a power of two", r.cap);
    }
    cr_assert_eq(*(uint32_t *)pdi_ring_at(&r, 0, sizeof v), next_out);
    while (pdi_ring_pop(&r, &v, sizeof v))
        cr_assert_eq(v, next_out++);
    cr_assert_eq(next_out, next_in);
    cr_assert_eq(pdi_ring_pop(&r, &v, sizeof v), 0, "empty ring pops nothing");
    pdi_ring_free(&r);
    cr_assert_null(r.buf);
}

Test(ring, wide_elements_and_clear)
{
    typedef struct { uint64_t a, b; void *p; } wide;
    pdi_ring r = PDI_RING_INIT;
    for (uint64_t i = 0; i < 100; i++) {
        wide w = {i, ~i, &r};
        cr_assert_eq(pdi_ring_push(&r, &w, sizeof w), 0);
    }
    wide w;
    cr_assert_eq(pdi_ring_pop(&r, &w, sizeof w), 1);
    cr_assert(w.a == 0 && w.b == ~(uint64_t)0 && w.p == &r);
    pdi_ring_clear(&r);
    cr_assert_eq(pdi_ring_len(&r), 0);
    cr_assert_eq(pdi_ring_pop(&r, &w, sizeof w), 0);
    pdi_ring_free(&r);
}

Test(time, ms_left)
{
    cr_assert_eq(pdi_ms_left(0), -1, "no deadline waits forever");
    uint64_t now = pdi_now_ns();
    cr_assert_eq(pdi_ms_left(now - 1), 0, "a passed deadline leaves nothing");
    int ms = pdi_ms_left(now + 1500000000ull);
    cr_assert(ms > 1000 && ms <= 1500, "1.5 s ahead: %d ms", ms);
    /* a part of a millisecond rounds up (checked only if the deadline had
     * not passed by the time the call returned: slow runs, valgrind) */
    uint64_t d = pdi_now_ns() + 900000u;
    int part = pdi_ms_left(d);
    if (pdi_now_ns() < d)
        cr_assert_eq(part, 1, "0.9 ms ahead: %d ms", part);
    else
        cr_assert(part == 0 || part == 1);
}

Test(time, abstime_and_monotonic_cond)
{
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_cond_t cv;
    cr_assert_eq(pdi_cond_init_monotonic(&cv), 0);
    uint64_t t0 = pdi_now_ns();
    struct timespec ts = pdi_abstime_after(CLOCK_MONOTONIC, 30 * 1000000u);
    cr_assert(ts.tv_nsec >= 0 && ts.tv_nsec < 1000000000L);
    pthread_mutex_lock(&mu);
    int rc;
    do
        rc = pthread_cond_timedwait(&cv, &mu, &ts);
    while (rc == 0);
    pthread_mutex_unlock(&mu);
    cr_assert_eq(rc, ETIMEDOUT);
    cr_assert(pdi_now_ns() - t0 >= 30 * 1000000u, "waited until the deadline");
    struct timespec m = pdi_timespec_mono(3 * 1000000000ull + 5);
    cr_assert(m.tv_sec == 3 && m.tv_nsec == 5);
    pthread_cond_destroy(&cv);
}
