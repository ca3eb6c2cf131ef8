/* time.h - the one monotonic clock of libpydron (util/time.c). Nothing
 * here is exported. */
#ifndef PDI_TIME_H
#define PDI_TIME_H

#include <stdint.h>

/* Monotonic clock in nanoseconds. */
uint64_t pdi_now_ns(void);

#endif
