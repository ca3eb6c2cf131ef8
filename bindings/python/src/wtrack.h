/* wtrack.h - which pages of a buffer were written since a point in time
 * (wtrack.c), for the driver's cache of large arguments: the same unchanged
 * array handed again is known unchanged without reading it. */
#ifndef PYDRON_PY_WTRACK_H
#define PYDRON_PY_WTRACK_H

#include <stddef.h>
#include <stdint.h>

/* Start watching [p, p + len): every page holding a byte of it is write
 * protected from now on, and a later write to any of them is recorded by
 * the kernel. Returns a watch id (> 0), or 0 when this process cannot
 * watch that memory (no support in the kernel, memory that is not private
 * and anonymous, a child process after fork, another watcher): the caller
 * then compares bytes as before. */
uint64_t pdy_wt_start(const void *p, size_t len);

/* Was [p, p + len) of watch id written since it started? The bytes of the
 * buffer on each page written since are compared with snap (the copy made
 * when the watch started, at the same offsets). 1: unchanged; 0: changed
 * (the watch ends); -1: cannot tell (the caller compares every byte; the
 * watch has ended). */
int pdy_wt_same(uint64_t id, const void *p, size_t len, const void *snap);

/* End watch id (unknown ids are ignored). Pages no other watch holds are no
 * longer protected. */
void pdy_wt_stop(uint64_t id);

/* Whether watch id is still on. */
int pdy_wt_live(uint64_t id);

/* How many watches are live (tests). */
size_t pdy_wt_count(void);

#endif
