/* ring.h - the one FIFO ring queue of libpydron: a growable circular
 * buffer of fixed-size elements (task ids, task indexes, job pointers).
 * Not thread-safe: the owner's lock protects it. Nothing here is exported.
 *
 *   pdi_ring q = PDI_RING_INIT;
 *   if (pdi_ring_push(&q, &id, sizeof id)) -> PYDRON_ENOMEM, q unchanged
 *   while (pdi_ring_pop(&q, &id, sizeof id)) ...
 *   pdi_ring_free(&q);
 *
 * esz must be the same in every call on one ring; the inline functions let
 * the compiler turn the copies into plain loads and stores. */
#ifndef PDI_RING_H
#define PDI_RING_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

typedef struct pdi_ring {
    unsigned char *buf;
    size_t head, len, cap; /* cap: elements, 0 or a power of two */
} pdi_ring;

#define PDI_RING_INIT {NULL, 0, 0, 0}

/* Double the capacity (16 elements at first), keeping the order; 0 or
 * PYDRON_ENOMEM (the ring is unchanged then). */
int pdi_ring_grow(pdi_ring *r, size_t esz);

static inline size_t pdi_ring_len(const pdi_ring *r) { return r->len; }

/* Room for n elements in all, so that pushes up to n never allocate; 0 or
 * PYDRON_ENOMEM (the ring is unchanged then). */
static inline int pdi_ring_reserve(pdi_ring *r, size_t n, size_t esz)
{
    while (r->cap < n) {
        int rc = pdi_ring_grow(r, esz);
        if (rc)
            return rc;
    }
    return 0;
}

/* Element i from the front (i < len), in place. */
static inline void *pdi_ring_at(const pdi_ring *r, size_t i, size_t esz)
{
    return r->buf + ((r->head + i) & (r->cap - 1)) * esz;
}

/* Append a copy of *v; 0 or PYDRON_ENOMEM. */
static inline int pdi_ring_push(pdi_ring *r, const void *v, size_t esz)
{
    if (r->len == r->cap) {
        int rc = pdi_ring_grow(r, esz);
        if (rc)
            return rc;
    }
    memcpy(pdi_ring_at(r, r->len, esz), v, esz);
    r->len++;
    return 0;
}

/* Take the front element into *v: 1, or 0 if the ring is empty. */
static inline int pdi_ring_pop(pdi_ring *r, void *v, size_t esz)
{
    if (!r->len)
        return 0;
    memcpy(v, r->buf + r->head * esz, esz);
    r->head = (r->head + 1) & (r->cap - 1);
    r->len--;
    return 1;
}

/* Put *v back at the front (undo a pop); 0 or PYDRON_ENOMEM. */
static inline int pdi_ring_unpop(pdi_ring *r, const void *v, size_t esz)
{
    if (r->len == r->cap) {
        int rc = pdi_ring_grow(r, esz);
        if (rc)
            return rc;
    }
    r->head = (r->head - 1) & (r->cap - 1);
    memcpy(r->buf + r->head * esz, v, esz);
    r->len++;
    return 0;
}

static inline void pdi_ring_clear(pdi_ring *r) { r->head = r->len = 0; }

static inline void pdi_ring_free(pdi_ring *r)
{
    free(r->buf);
    r->buf = NULL;
    r->head = r->len = r->cap = 0;
}

#endif
