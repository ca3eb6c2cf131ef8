/* store.h - a worker's values, by value id. Values stay on the worker that
 * produced them until the driver releases them; task threads and peer
 * servers read them concurrently (pinned while read, so a release that
 * arrives meanwhile frees them only after the last reader is done). */
#ifndef PDI_STORE_H
#define PDI_STORE_H

#include <stddef.h>
#include <stdint.h>

typedef struct pdi_store pdi_store;
typedef struct pdi_stored pdi_stored; /* a pinned value */

pdi_store *pdi_store_new(void);
/* Frees every value (pins must be gone). */
void pdi_store_free(pdi_store *s);

/* Take ownership of data (free_fn(free_arg) once, may be NULL). EEXIST if the
 * id is present (then the bytes are freed: retries produce equal values). */
int pdi_store_put(pdi_store *s, uint64_t id, const void *data, size_t len,
                  void (*free_fn)(void *), void *free_arg);
/* Pin a value; ENOTFOUND if absent. */
int pdi_store_get(pdi_store *s, uint64_t id, pdi_stored **out, const void **data, size_t *len);
void pdi_store_unpin(pdi_store *s, pdi_stored *v);
/* Forget a value (0, or ENOTFOUND). */
int pdi_store_release(pdi_store *s, uint64_t id);

void pdi_store_stats(pdi_store *s, size_t *count, uint64_t *bytes);

#endif
