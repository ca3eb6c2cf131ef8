/* store.c - chained hash map of values with pin counts. */
#include "store/store.h"

#include <pthread.h>
#include <stdlib.h>

#include "util/util.h"

struct pdi_stored {
    uint64_t id;
    const void *data;
    size_t len;
    void (*free_fn)(void *);
    void *free_arg;
    unsigned pins;
    int released;
    pdi_stored *next;
};

struct pdi_store {
    pthread_mutex_t lock;
    pdi_stored **b;
    size_t nb, count;
    uint64_t bytes;
};

static size_t slot(const pdi_store *s, uint64_t id)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)(id & (s->nb - 1));
}

pdi_store *pdi_store_new(void)
{
    pdi_store *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->nb = 1024;
    s->b = calloc(s->nb, sizeof *s->b);
    if (!s->b) {
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->lock, NULL);
    return s;
}

static void drop(pdi_stored *v)
{
    if (v->free_fn)
        v->free_fn(v->free_arg);
    free(v);
}

void pdi_store_free(pdi_store *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nb; i++) {
        pdi_stored *v = s->b[i];
        while (v) {
            pdi_stored *n = v->next;
            drop(v);
            v = n;
        }
    }
    free(s->b);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void grow(pdi_store *s)
{
    size_t nb = s->nb * 2;
    pdi_stored **b = calloc(nb, sizeof *b);
    if (!b)
        return; /* keep the longer chains */
    pdi_stored **old = s->b;
    size_t onb = s->nb;
    s->b = b;
    s->nb = nb;
    for (size_t i = 0; i < onb; i++) {
        pdi_stored *v = old[i];
        while (v) {
            pdi_stored *n = v->next;
            size_t k = slot(s, v->id);
            v->next = b[k];
            b[k] = v;
            v = n;
        }
    }
    free(old);
}

int pdi_store_put(pdi_store *s, uint64_t id, const void *data, size_t len,
                  void (*free_fn)(void *), void *free_arg)
{
    pthread_mutex_lock(&s->lock);
    for (pdi_stored *v = s->b[slot(s, id)]; v; v = v->next) {
        if (v->id == id && !v->released) {
            pthread_mutex_unlock(&s->lock);
            if (free_fn)
                free_fn(free_arg);
            return PYDRON_EEXIST;
        }
    }
    pdi_stored *v = calloc(1, sizeof *v);
    if (!v) {
        pthread_mutex_unlock(&s->lock);
        if (free_fn)
            free_fn(free_arg);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    v->id = id;
    v->data = data;
    v->len = len;
    v->free_fn = free_fn;
    v->free_arg = free_arg;
    if (s->count + 1 > s->nb * 2)
        grow(s);
    size_t k = slot(s, id);
    v->next = s->b[k];
    s->b[k] = v;
    s->count++;
    s->bytes += len;
    pthread_mutex_unlock(&s->lock);
    return 0;
}

int pdi_store_get(pdi_store *s, uint64_t id, pdi_stored **out, const void **data, size_t *len)
{
    pthread_mutex_lock(&s->lock);
    for (pdi_stored *v = s->b[slot(s, id)]; v; v = v->next) {
        if (v->id == id && !v->released) {
            v->pins++;
            *out = v;
            *data = v->data;
            *len = v->len;
            pthread_mutex_unlock(&s->lock);
            return 0;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return pdi_err(PYDRON_ENOTFOUND, "value %llu is not stored here", (unsigned long long)id);
}

/* unlink v from its chain (lock held) */
static void unlink_v(pdi_store *s, pdi_stored *v)
{
    pdi_stored **p = &s->b[slot(s, v->id)];
    while (*p && *p != v)
        p = &(*p)->next;
    if (*p)
        *p = v->next;
}

void pdi_store_unpin(pdi_store *s, pdi_stored *v)
{
    if (!v)
        return;
    pthread_mutex_lock(&s->lock);
    int gone = --v->pins == 0 && v->released;
    if (gone)
        unlink_v(s, v);
    pthread_mutex_unlock(&s->lock);
    if (gone)
        drop(v);
}

int pdi_store_release(pdi_store *s, uint64_t id)
{
    pthread_mutex_lock(&s->lock);
    for (pdi_stored *v = s->b[slot(s, id)]; v; v = v->next) {
        if (v->id == id && !v->released) {
            v->released = 1;
            s->count--;
            s->bytes -= v->len;
            int gone = v->pins == 0;
            if (gone)
                unlink_v(s, v);
            pthread_mutex_unlock(&s->lock);
            if (gone)
                drop(v);
            return 0;
        }
    }
    pthread_mutex_unlock(&s->lock);
    return PYDRON_ENOTFOUND;
}

void pdi_store_stats(pdi_store *s, size_t *count, uint64_t *bytes)
{
    pthread_mutex_lock(&s->lock);
    if (count)
        *count = s->count;
    if (bytes)
        *bytes = s->bytes;
    pthread_mutex_unlock(&s->lock);
}
