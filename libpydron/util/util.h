/* util.h - internal helpers shared by all of libpydron: error reporting,
 * allocation; the monotonic clock comes with util/time.h. Nothing here is
 * exported. */
#ifndef PDI_UTIL_H
#define PDI_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"
#include "util/time.h" /* pdi_now_ns, used everywhere */

#if defined(__GNUC__)
#define PDI_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define PDI_LIKELY(x) __builtin_expect(!!(x), 1)
#define PDI_UNLIKELY(x) __builtin_expect(!!(x), 0)
#define PDI_WEAK __attribute__((weak))
#define PDI_NOINLINE __attribute__((noinline))
/* For helpers whose whole effect is __builtin_prefetch: GCC's IPA pure-const
 * pass counts such a function as const and drops its calls (checked with
 * GCC 12: no prefetch left in the library), unless it is inlined first. */
#define PDI_ALWAYS_INLINE inline __attribute__((always_inline))
#else
#define PDI_PRINTF(a, b)
#define PDI_LIKELY(x) (x)
#define PDI_UNLIKELY(x) (x)
#define PDI_WEAK
#define PDI_NOINLINE
#define PDI_ALWAYS_INLINE inline
#endif

/* Record a detailed message for pydron_error_last() and return rc, so that
 * error paths read `return pdi_err(PYDRON_EINVAL, "...")`. */
int pdi_err(int rc, const char *fmt, ...) PDI_PRINTF(2, 3);
int pdi_verr(int rc, const char *fmt, va_list ap);
/* Clear the thread's last error. Every public function that returns an
 * error code calls it first (pydron.h, pydron_error_last). Inline: task
 * bodies call several such functions per task (util/error.c). */
extern _Thread_local unsigned char pdi_err_set;
static inline void pdi_err_clear(void) { pdi_err_set = 0; }

/* The in-flight window PYDRON_WINDOW fixes for every executor that keeps
 * one (threads, process, simulated), 0 if it is unset or not a positive
 * number. */
static inline unsigned pdi_env_window(void)
{
    const char *w = getenv("PYDRON_WINDOW");
    return w && atoi(w) > 0 ? (unsigned)atoi(w) : 0;
}

/* printf into a fresh malloc'd string (NULL on ENOMEM). */
char *pdi_vasprintf(const char *fmt, va_list ap);
char *pdi_asprintf(const char *fmt, ...) PDI_PRINTF(1, 2);
char *pdi_strdup(const char *s);
void *pdi_memdup(const void *p, size_t n);
/* malloc for a buffer about to be written whole (a received value): from
 * PDI_MALLOC_LARGE bytes on, its 2 MB-aligned interior is advised as
 * transparent huge pages, so that the first write takes ~1/512 of the page
 * faults (a fresh 50 MB buffer: 45 ms of faults otherwise). Free with free(). */
#define PDI_MALLOC_LARGE (4u << 20)
void *pdi_malloc_large(size_t n);

/* Grow *buf (element size esz, capacity *cap) to hold at least n elements. */
int pdi_grow(void **buf, size_t *cap, size_t n, size_t esz);
/* Tests only: when > 0, the pdi_test_fail_grow-th growth from now on (of
 * pdi_grow or pdi_ring_grow, on any thread) fails with ENOMEM, as if the
 * allocator had. 0 in production. */
extern int pdi_test_fail_grow;
/* 1 if this growth is to fail (the test hook above). */
static inline int pdi_test_grow_fails(void)
{
    return PDI_UNLIKELY(__atomic_load_n(&pdi_test_fail_grow, __ATOMIC_RELAXED) > 0) &&
           __atomic_sub_fetch(&pdi_test_fail_grow, 1, __ATOMIC_RELAXED) == 0;
}

/* Growable byte string for text output (DOT). */
typedef struct pdi_str {
    char *buf;
    size_t len, cap;
    int oom;
} pdi_str;
void pdi_str_printf(pdi_str *s, const char *fmt, ...) PDI_PRINTF(2, 3);
void pdi_str_puts(pdi_str *s, const char *text);

#endif
