/* ring.c - growing the ring queue (util/ring.h). */
#include "util/ring.h"

#include <stdint.h>
#include <stdlib.h>

#include "util/util.h"

int pdi_ring_grow(pdi_ring *r, size_t esz)
{
    size_t nc = r->cap ? r->cap * 2 : 16;
    if (nc < r->cap || nc > SIZE_MAX / esz || pdi_test_grow_fails())
        return PYDRON_ENOMEM;
    unsigned char *b = malloc(nc * esz);
    if (!b)
        return PYDRON_ENOMEM;
    /* unroll the wrapped part so that the elements start at 0 */
    size_t first = r->len < r->cap - r->head ? r->len : r->cap - r->head;
    if (r->len) {
        memcpy(b, r->buf + r->head * esz, first * esz);
        memcpy(b + first * esz, r->buf, (r->len - first) * esz);
    }
    free(r->buf);
    r->buf = b;
    r->cap = nc;
    r->head = 0;
    return 0;
}
