/* shm.h - large value buffers in memfd shared memory, so that processes on
 * one host hand values over by reference instead of copying bytes through
 * a socket (docs/wire.md, "Shared memory").
 *
 * A buffer of at least pdi_shm_min() bytes is a memfd_create() file mapped
 * MAP_SHARED. A registry (address -> fd, inode, length; thread-safe) lets
 * any layer ask whether a buffer is memfd-backed and offer it to another
 * process as a pdi_shm_ref {pid, ino, len, one-use ticket}. The receiver
 * gets the descriptor passed by SCM_RIGHTS from that process (shm_pass.c;
 * it never opens a name), checks that it is a sealed memfd of that inode
 * and size, and maps it; it keeps its own fd, so the memory outlives the
 * sender. memfds vanish with their last fd and mapping: a killed process
 * leaks nothing. Any failure falls back to malloc (allocation) or to byte
 * transfer (the caller's job). PYDRON_SHM=0 disables all of it;
 * PYDRON_SHM_MIN sets the threshold in bytes (default 1 MiB). Tests set
 * PYDRON_SHM_TEST_UNMAPPABLE=1 to make every pdi_shm_map fail (EIO), which
 * exercises the fallbacks to byte transfer. */
#ifndef PDI_SHM_H
#define PDI_SHM_H

#include <stddef.h>
#include <stdint.h>

#include "pydron.h"

typedef struct pdi_shm_ref {
    uint32_t pid;     /* the process that holds the buffer */
    int32_t fd;       /* its descriptor there (informative: never sent) */
    uint64_t ino;
    uint64_t len;
    uint64_t sock;    /* with pid: names that process's passing socket */
    uint64_t offer_a; /* one-use ticket for this buffer (shm_pass.c) */
    uint64_t offer_b;
} pdi_shm_ref;

/* Smallest buffer worth a memfd; SIZE_MAX when shared memory is disabled. */
size_t pdi_shm_min(void);
/* "boot id:pid namespace:uid" of this process, "" when disabled. Two
 * processes with equal non-empty ids may exchange pdi_shm_refs. */
const char *pdi_shm_host_id(void);
/* Equal and non-empty. */
int pdi_shm_same_host(const char *peer_host_id);

/* len bytes: in a memfd when len >= pdi_shm_min() and possible, else
 * malloc. NULL only when out of memory. Free with pdi_shm_free. */
void *pdi_shm_alloc(size_t len);
/* pdi_shm_alloc + copy of src, faster for a memfd (written, not faulted in). */
void *pdi_shm_copy(const void *src, size_t len);
/* The same for the concatenation of n parts. */
void *pdi_shm_copyv(const pydron_iov *parts, size_t n);
/* Always a memfd (no threshold, no fallback): NULL on failure (tests). */
void *pdi_shm_alloc_memfd(size_t len);
/* Free a buffer of pdi_shm_alloc or pdi_shm_map, or any malloc'd one. */
void pdi_shm_free(void *p);

/* 1 and *out filled if p is the start of a memfd-backed buffer of at least
 * len bytes that other processes can map, else 0. Each call makes a new
 * one-use offer: one ref per frame that carries it. */
int pdi_shm_ref_of(const void *p, size_t len, pdi_shm_ref *out);
/* 1 if r is well formed (a process, a ticket, an inode, a length that
 * fits): what pdi_shm_map checks before it makes any system call. */
int pdi_shm_ref_valid(const pdi_shm_ref *r);
/* Map another process's buffer read-only (registered: free with
 * pdi_shm_free): its descriptor is claimed from that process with the ref's
 * ticket. PYDRON_EPROTO for a malformed ref, PYDRON_EIO when the offer is
 * gone or what was passed is not a sealed memfd of that inode and size
 * (message in pydron_error_last). */
int pdi_shm_map(const pdi_shm_ref *r, void **out);
/* A fresh copy-on-write, writable mapping of the memfd-backed buffer p
 * (len bytes). PYDRON_ENOTSUP if p is not memfd-backed. */
int pdi_shm_map_private(const void *p, size_t len, void **out);
/* Undo pdi_shm_map_private; PYDRON_EINVAL if (p, len) is not one. */
int pdi_shm_unmap_private(void *p, size_t len);

/* Debug counters (process-wide, monotonic) so tests can check that values
 * really went by shared memory. */
typedef struct pdi_shm_counters {
    uint64_t allocs;      /* memfd buffers made */
    uint64_t fallbacks;   /* wanted a memfd, got malloc */
    uint64_t refs_sent;   /* refs put in frames instead of bytes */
    uint64_t maps;        /* refs mapped */
    uint64_t map_failures;
    uint64_t live;        /* registered buffers now */
    uint64_t cache_hits;  /* maps served by a released mapping of the same file */
    uint64_t cached;      /* released mappings held now */
    uint64_t huge;        /* mappings of values made or filled asking for huge pages */
} pdi_shm_counters;
void pdi_shm_get_counters(pdi_shm_counters *out);
void pdi_shm_note_sent(void);

#endif
