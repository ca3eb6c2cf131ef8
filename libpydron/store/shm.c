/* shm.c - memfd-backed value buffers and their registry (see shm.h). */
#define POPULATE_MIN (1u << 20)
#include "store/shm.h"
#include "store/shm_pass.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "util/log.h"

#define WHO "shm"
#define DEFAULT_MIN (1u << 20)
#define NBUCKETS 1024

enum { K_OWN = 1, K_MAPPED = 2, K_PRIVATE = 3 };

typedef struct ent {
    uintptr_t addr;
    size_t len;
    int fd;          /* -1: not shareable (mapped without keeping an fd) */
    uint64_t ino;
    int kind;
    uint64_t dev;    /* K_MAPPED: st_dev of the file (with ino: its identity) */
    uint64_t since;  /* in the cache of released mappings: since when */
    uint32_t opid;   /* K_MAPPED: the process that offered it, and its */
    uint64_t osock;  /* passing socket's nonce (names it across pid reuse) */
    struct ent *next;
} ent;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static ent *buckets[NBUCKETS];
static atomic_size_t nlive;   /* entries: lets pdi_shm_free skip the lock */
static size_t nfds;           /* fds we hold (lock) */

static atomic_uint_fast64_t c_allocs, c_fallbacks, c_sent, c_maps, c_mapfail, c_cache_hits, c_huge;

/* Released mappings of large values received from other processes, kept for
 * a while (lock): the same unchanged array handed to task after task comes
 * back as a new reference each time, and mapping 32 MiB with its page tables
 * populated costs 4-8 ms here, more than reading it. A reference to a file
 * still in the cache (same device and inode: the cache holds the file open,
 * so its inode cannot be reused) gets the cached mapping back. What the
 * cache holds keeps memory the value's owner may have freed: at most
 * CACHE_MAX mappings, CACHE_BYTES in all, each for cache_ns after its
 * release (PYDRON_SHM_CACHE_MS, 0 turns the cache off); the reaper thread
 * drops expired ones. */
#define CACHE_MAX 8
#define CACHE_BYTES ((size_t)1 << 30)
static ent *cache; /* most recently released first */
static atomic_size_t ncache; /* read without the lock by pdi_shm_map */
static size_t cache_bytes;
static uint64_t cache_ns = 2000000000ull;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static size_t min_bytes = SIZE_MAX;
static size_t max_fds;
static char host_id[128];
static int test_unmappable; /* PYDRON_SHM_TEST_UNMAPPABLE=1: refuse every ref */

/* Transparent huge pages for shared values, where the kernel allows them
 * for shared memory (/sys/kernel/mm/transparent_hugepage/shmem_enabled
 * other than never/deny; Debian's default is never). A 32 MiB value then
 * takes 16 page-table entries instead of 8192: mapping it in a task costs
 * ~20 us instead of ~0.8 ms, and filling it about half the time. Mappings
 * of at least HUGE_MIN ask for them (MADV_HUGEPAGE: what "advise" waits
 * for); PYDRON_SHM_HUGE=0 turns this off. */
#define HUGE_MIN ((size_t)2 << 20)
static int huge_ok;

static int kernel_allows_shmem_thp(void)
{
    char buf[128] = "";
    FILE *f = fopen("/sys/kernel/mm/transparent_hugepage/shmem_enabled", "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof buf, f))
        buf[0] = 0;
    fclose(f);
    /* the setting in force is the one in brackets */
    const char *on[] = {"[always]", "[within_size]", "[advise]", "[force]"};
    for (size_t i = 0; i < sizeof on / sizeof *on; i++)
        if (strstr(buf, on[i]))
            return 1;
    return 0;
}

/* Ask for huge pages on a new mapping of a shared value (best effort). */
static int want_huge(void *p, size_t len)
{
#ifdef MADV_HUGEPAGE
    if (huge_ok && len >= HUGE_MIN && madvise(p, len, MADV_HUGEPAGE) == 0)
        return 1;
#else
    (void)p;
    (void)len;
#endif
    return 0;
}

static void init(void)
{
    const char *e = getenv("PYDRON_SHM");
    if (e && strcmp(e, "0") == 0)
        return;
    e = getenv("PYDRON_SHM_TEST_UNMAPPABLE");
    test_unmappable = e && strcmp(e, "1") == 0;
    e = getenv("PYDRON_SHM_CACHE_MS");
    if (e && *e) {
        char *end;
        unsigned long long ms = strtoull(e, &end, 10);
        if (*end == 0)
            cache_ns = ms > 3600000ull ? 3600000000000ull : ms * 1000000ull;
    }
    e = getenv("PYDRON_SHM_HUGE");
    huge_ok = !(e && strcmp(e, "0") == 0) && kernel_allows_shmem_thp();
    size_t m = DEFAULT_MIN;
    const char *s = getenv("PYDRON_SHM_MIN");
    if (s && *s) {
        char *end;
        unsigned long long v = strtoull(s, &end, 10);
        if (*end == 0)
            m = v ? (size_t)v : 1;
    }
    /* never take more than about half the fd table: sockets need the rest */
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0) {
        rlim_t cur = rl.rlim_cur == RLIM_INFINITY ? (rlim_t)1 << 20 : rl.rlim_cur;
        max_fds = cur > 256 ? (size_t)(cur / 2 - 64) : 0;
    }
    char boot[64] = "";
    FILE *f = fopen("/proc/sys/kernel/random/boot_id", "r");
    if (f) {
        if (!fgets(boot, sizeof boot, f))
            boot[0] = 0;
        fclose(f);
        boot[strcspn(boot, "\n")] = 0;
    }
    /* descriptors are passed over abstract unix sockets, which live in a
     * network namespace: a namespace is a host of its own */
    struct stat ns, net;
    if (!boot[0] || stat("/proc/self/ns/pid", &ns) != 0 || stat("/proc/self/ns/net", &net) != 0 ||
        max_fds == 0) {
        pdi_debug(WHO, "shared memory off (no boot id, pid namespace or fds)");
        return;
    }
    snprintf(host_id, sizeof host_id, "%s:%llu:%llu:%u", boot, (unsigned long long)ns.st_ino,
             (unsigned long long)net.st_ino, (unsigned)getuid());
    min_bytes = m;
}

size_t pdi_shm_min(void)
{
    pthread_once(&once, init);
    return min_bytes;
}

const char *pdi_shm_host_id(void)
{
    pthread_once(&once, init);
    return host_id;
}

int pdi_shm_same_host(const char *peer)
{
    const char *me = pdi_shm_host_id();
    return peer && *peer && *me && strcmp(peer, me) == 0;
}

static size_t bucket(uintptr_t a) { return (size_t)((a >> 12) * 0x9E3779B97F4A7C15ULL >> 54) % NBUCKETS; }

static void link_locked(ent *e)
{
    size_t b = bucket(e->addr);
    e->next = buckets[b];
    buckets[b] = e;
    atomic_fetch_add(&nlive, 1);
}

/* Register; on failure (ENOMEM) the caller undoes the mapping. */
/* opid, osock: for a mapping received from another process, which one
 * (its pid and passing socket's nonce), else 0. */
static int reg_dev(void *addr, size_t len, int fd, uint64_t ino, uint64_t dev, int kind,
                   uint32_t opid, uint64_t osock)
{
    ent *e = malloc(sizeof *e);
    if (!e)
        return -1;
    e->addr = (uintptr_t)addr;
    e->len = len;
    e->fd = fd;
    e->ino = ino;
    e->kind = kind;
    e->dev = dev;
    e->since = 0;
    e->opid = opid;
    e->osock = osock;
    pthread_mutex_lock(&lock);
    link_locked(e);
    pthread_mutex_unlock(&lock);
    return 0;
}

static int reg(void *addr, size_t len, int fd, uint64_t ino, int kind)
{
    return reg_dev(addr, len, fd, ino, 0, kind, 0, 0);
}

/* Unlink the entry at addr (of the given kind, 0 = any non-private). Lock held. */
static ent *unreg_locked(uintptr_t addr, int kind)
{
    for (ent **pp = &buckets[bucket(addr)]; *pp; pp = &(*pp)->next) {
        ent *e = *pp;
        if (e->addr == addr && (kind ? e->kind == kind : e->kind != K_PRIVATE)) {
            *pp = e->next;
            atomic_fetch_sub(&nlive, 1);
            return e;
        }
    }
    return NULL;
}

static ent *find_locked(uintptr_t addr)
{
    for (ent *e = buckets[bucket(addr)]; e; e = e->next)
        if (e->addr == addr && e->kind != K_PRIVATE)
            return e;
    return NULL;
}

/* Reserve one fd slot of our budget. */
static int take_fd_slot(void)
{
    pthread_mutex_lock(&lock);
    int ok = nfds < max_fds;
    if (ok)
        nfds++;
    pthread_mutex_unlock(&lock);
    return ok;
}

static void put_fd_slot(void)
{
    pthread_mutex_lock(&lock);
    nfds--;
    pthread_mutex_unlock(&lock);
}

/* Its size is final: a reader's mapping cannot be cut short (SIGBUS), and
 * readers refuse a memfd without these seals (pdi_shm_map). */
static int seal(int fd)
{
    return fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);
}

void *pdi_shm_alloc_memfd(size_t len)
{
    pthread_once(&once, init);
    if (!len || !host_id[0] || !take_fd_slot())
        return NULL;
    int fd = memfd_create("pydron", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat st;
    void *p = MAP_FAILED;
    if (fd < 0 || ftruncate(fd, (off_t)len) != 0 || seal(fd) != 0 || fstat(fd, &st) != 0 ||
        (p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) == MAP_FAILED) {
        pdi_debug(WHO, "memfd of %zu bytes failed (%s): using malloc", len, strerror(errno));
        goto fail;
    }
    if (reg(p, len, fd, (uint64_t)st.st_ino, K_OWN) != 0)
        goto fail;
    if (want_huge(p, len))
        atomic_fetch_add(&c_huge, 1);
    atomic_fetch_add(&c_allocs, 1);
    return p;
fail:
    if (p != MAP_FAILED)
        munmap(p, len);
    if (fd >= 0)
        close(fd);
    put_fd_slot();
    return NULL;
}

/* Fill fd (total bytes, sized and sealed) with parts through a mapping
 * that asks for huge pages: with them a fault per 2 MiB, not per 4 KiB,
 * and the copy takes about half the time of write(). The mapping, or
 * MAP_FAILED (errno set) when huge pages were not granted. */
static void *fill_huge(int fd, const pydron_iov *parts, size_t n, size_t total)
{
    void *p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED)
        return p;
    if (!want_huge(p, total)) {
        munmap(p, total);
        errno = ENOTSUP;
        return MAP_FAILED;
    }
    for (size_t k = 0, off = 0; k < n; off += parts[k].len, k++)
        if (parts[k].len)
            memcpy((char *)p + off, parts[k].data, parts[k].len);
    atomic_fetch_add(&c_huge, 1);
    return p;
}

/* Fill fd with parts by write(): without huge pages it skips the page
 * fault per 4 KiB page that is most of the cost of a memcpy into a fresh
 * mapping. 0, or -1 (errno set). */
static int fill_write(int fd, const pydron_iov *parts, size_t n)
{
    size_t off = 0;
    for (size_t k = 0; k < n; k++) {
        size_t done = 0;
        while (done < parts[k].len) {
            ssize_t w = pwrite(fd, (const char *)parts[k].data + done, parts[k].len - done,
                               (off_t)(off + done));
            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            done += (size_t)w;
        }
        off += done;
    }
    return 0;
}

/* A memfd holding the concatenation of parts (total bytes), or NULL. */
static void *memfd_copyv(const pydron_iov *parts, size_t n, size_t total)
{
    if (!take_fd_slot())
        return NULL;
    int fd = memfd_create("pydron", MFD_CLOEXEC | MFD_ALLOW_SEALING);
    struct stat st;
    void *p = MAP_FAILED;
    int ok = fd >= 0 && ftruncate(fd, (off_t)total) == 0 && seal(fd) == 0 && fstat(fd, &st) == 0;
    if (ok && huge_ok && total >= HUGE_MIN)
        p = fill_huge(fd, parts, n, total);
    if (ok && p == MAP_FAILED)
        ok = fill_write(fd, parts, n) == 0 &&
             (p = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0)) != MAP_FAILED;
    if (ok && reg(p, total, fd, (uint64_t)st.st_ino, K_OWN) == 0) {
        atomic_fetch_add(&c_allocs, 1);
        return p;
    }
    pdi_debug(WHO, "memfd copy of %zu bytes failed (%s): using malloc", total, strerror(errno));
    if (p != MAP_FAILED)
        munmap(p, total);
    if (fd >= 0)
        close(fd);
    put_fd_slot();
    atomic_fetch_add(&c_fallbacks, 1);
    return NULL;
}

void *pdi_shm_copyv(const pydron_iov *parts, size_t n)
{
    pthread_once(&once, init);
    size_t total = 0;
    for (size_t k = 0; k < n; k++)
        total += parts[k].len;
    if (total && total >= min_bytes) {
        void *p = memfd_copyv(parts, n, total);
        if (p)
            return p;
    }
    char *m = malloc(total ? total : 1);
    for (size_t k = 0, off = 0; m && k < n; off += parts[k].len, k++)
        if (parts[k].len)
            memcpy(m + off, parts[k].data, parts[k].len);
    return m;
}

void *pdi_shm_copy(const void *src, size_t len)
{
    pydron_iov one = {src, len};
    return pdi_shm_copyv(&one, 1);
}

void *pdi_shm_alloc(size_t len)
{
    if (len >= pdi_shm_min() && len > 0) {
        void *p = pdi_shm_alloc_memfd(len);
        if (p)
            return p;
        atomic_fetch_add(&c_fallbacks, 1);
    }
    return malloc(len ? len : 1);
}

/* Unmapping a large buffer frees its pages, which takes milliseconds (5 ms
 * for 32 MB here): a reaper thread does it, off the path of the task or
 * driver call that released the value. The fd is closed at once. */
#define REAP_MIN (4u << 20)
static pthread_mutex_t rlock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t rcond = PTHREAD_COND_INITIALIZER;
static ent *rhead;      /* mappings waiting for the reaper */
static int reaper;      /* 1: running in this process, -1: could not start */
static pid_t reaper_pid;

static int cache_waiting; /* rlock: the cache holds mappings that will expire */

static void drop_all(ent *e)
{
    while (e) {
        ent *n = e->next;
        munmap((void *)e->addr, e->len);
        free(e);
        e = n;
    }
}

/* lock held: unlink cached mappings released before `cutoff` (0: none for
 * their age) or beyond the caps, closing their fds; the caller unmaps what
 * it gets */
static ent *cache_expire_locked(uint64_t cutoff)
{
    ent *gone = NULL, **pp = &cache;
    size_t n = 0, bytes = 0;
    while (*pp) {
        ent *e = *pp;
        if (e->since >= cutoff && n < CACHE_MAX && bytes + e->len <= CACHE_BYTES) {
            n++;
            bytes += e->len;
            pp = &e->next;
            continue;
        }
        *pp = e->next;
        ncache--;
        cache_bytes -= e->len;
        close(e->fd);
        nfds--;
        e->next = gone;
        gone = e;
    }
    return gone;
}

static void *reap_thread(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&rlock);
    for (;;) {
        while (!rhead && !cache_waiting)
            pthread_cond_wait(&rcond, &rlock);
        if (!rhead) {
            /* wake when the oldest cached mapping may have expired */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            uint64_t step = cache_ns / 4 + 1000000;
            ts.tv_sec += (time_t)(step / 1000000000ull);
            ts.tv_nsec += (long)(step % 1000000000ull);
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            (void)pthread_cond_timedwait(&rcond, &rlock, &ts);
        }
        ent *e = rhead;
        rhead = NULL;
        pthread_mutex_unlock(&rlock);
        drop_all(e);
        pthread_mutex_lock(&lock);
        uint64_t now = pdi_now_ns();
        ent *old = cache_expire_locked(now > cache_ns ? now - cache_ns : 0);
        int left = ncache > 0;
        pthread_mutex_unlock(&lock);
        drop_all(old);
        pthread_mutex_lock(&rlock);
        cache_waiting = left;
    }
    return NULL;
}

/* rlock held: 1 if the reaper runs in this process */
static int reaper_running_locked(void)
{
    if (reaper_pid != getpid()) {
        /* first use, or a forked child (threads do not survive fork) */
        reaper_pid = getpid();
        pthread_t th;
        pthread_attr_t at;
        sigset_t all, old;
        sigfillset(&all);
        /* the reaper takes no signals: they belong to the program's threads */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        pthread_attr_init(&at);
        pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
        reaper = pthread_create(&th, &at, reap_thread, NULL) == 0 ? 1 : -1;
        pthread_attr_destroy(&at);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
    }
    return reaper == 1;
}

/* 1 if e's mapping was handed to the reaper (which frees e too). */
static int reap_later(ent *e)
{
    if (e->len < REAP_MIN)
        return 0;
    pthread_mutex_lock(&rlock);
    int ok = reaper_running_locked();
    if (ok) {
        e->next = rhead;
        rhead = e;
        pthread_cond_signal(&rcond);
    }
    pthread_mutex_unlock(&rlock);
    return ok;
}

void pdi_shm_free(void *p)
{
    if (!p)
        return;
    ent *e = NULL;
    if (atomic_load(&nlive)) {
        pthread_mutex_lock(&lock);
        e = unreg_locked((uintptr_t)p, 0);
        if (e && e->fd >= 0)
            nfds--;
        pthread_mutex_unlock(&lock);
    }
    if (!e) {
        free(p);
        return;
    }
    if (e->kind == K_MAPPED && e->fd >= 0 && e->len >= POPULATE_MIN && cache_ns) {
        /* kept for the next reference to the same file (see `cache`) */
        pthread_mutex_lock(&rlock);
        int ok = reaper_running_locked();
        if (ok)
            cache_waiting = 1;
        pthread_mutex_unlock(&rlock);
        if (ok) {
            pthread_mutex_lock(&lock);
            nfds++; /* the cache holds the fd */
            e->since = pdi_now_ns();
            e->next = cache;
            cache = e;
            ncache++;
            cache_bytes += e->len;
            ent *over = cache_expire_locked(0);
            pthread_mutex_unlock(&lock);
            pthread_cond_signal(&rcond);
            drop_all(over);
            return;
        }
    }
    if (e->fd >= 0)
        close(e->fd);
    if (!reap_later(e)) {
        munmap(p, e->len);
        free(e);
    }
}

int pdi_shm_ref_of(const void *p, size_t len, pdi_shm_ref *out)
{
    if (!p || !atomic_load(&nlive))
        return 0;
    int found = 0;
    uint64_t ino = 0;
    pthread_mutex_lock(&lock);
    ent *e = find_locked((uintptr_t)p);
    if (e && e->fd >= 0 && e->len >= len && len > 0) {
        memset(out, 0, sizeof *out);
        out->fd = e->fd;
        out->ino = ino = e->ino;
        out->len = len;
        found = 1;
    }
    pthread_mutex_unlock(&lock);
    /* the offer names the buffer by address and inode: if it is freed (and
     * the address reused) before the claim, the claim finds nothing */
    return found && pdi_shm_offer((uintptr_t)p, ino, out);
}

int pdi_shm_dup_registered(uintptr_t addr, uint64_t ino)
{
    int fd = -1;
    pthread_mutex_lock(&lock);
    ent *e = find_locked(addr);
    if (e && e->fd >= 0 && e->ino == ino)
        fd = fcntl(e->fd, F_DUPFD_CLOEXEC, 0);
    pthread_mutex_unlock(&lock);
    return fd;
}

int pdi_shm_ref_valid(const pdi_shm_ref *r)
{
    return r && r->pid != 0 && r->pid <= INT32_MAX && r->sock != 0 && r->offer_a != 0 &&
           r->ino != 0 && r->len != 0 && r->len <= (uint64_t)PTRDIFF_MAX;
}

/* Map a received value read-only with its page tables populated in one
 * call (a fraction of one fault per 4 KiB page on first touch: 32 MiB is
 * 8192 faults for a task that reads it all). Huge pages, where its maker
 * got them, are mapped as such only by a mapping that asks for them too,
 * so ask before populating. */
static void *map_shared_ro(int fd, size_t len)
{
#ifdef MADV_POPULATE_READ
    if (huge_ok && len >= HUGE_MIN) {
        void *p = mmap(NULL, len, PROT_READ, MAP_SHARED, fd, 0);
        if (p == MAP_FAILED)
            return p;
        if (want_huge(p, len) && madvise(p, len, MADV_POPULATE_READ) == 0)
            return p;
        munmap(p, len); /* a kernel without MADV_POPULATE_READ (before 5.14) */
    }
#endif
    return mmap(NULL, len, PROT_READ, MAP_SHARED | (len >= POPULATE_MIN ? MAP_POPULATE : 0), fd, 0);
}

/* A released mapping in the cache of the file with inode ino and that
 * length, and either device dev (dev != 0) or offered by process opid with
 * passing socket osock (opid != 0): taken out of the cache, live again with
 * the fd (and slot) it had, and counted as a map; NULL if none. */
static ent *cache_take(uint64_t ino, size_t len, uint64_t dev, uint32_t opid, uint64_t osock)
{
    if (!atomic_load(&ncache)) /* unlocked peek: a miss only costs a new mapping */
        return NULL;
    pthread_mutex_lock(&lock);
    ent *c = NULL;
    for (ent **pp = &cache; *pp; pp = &(*pp)->next) {
        ent *x = *pp;
        if (x->ino == ino && x->len == len &&
            (dev ? x->dev == dev : opid && x->opid == opid && x->osock == osock)) {
            *pp = x->next;
            ncache--;
            cache_bytes -= x->len;
            c = x;
            break;
        }
    }
    if (c)
        link_locked(c);
    pthread_mutex_unlock(&lock);
    if (c) {
        atomic_fetch_add(&c_maps, 1);
        atomic_fetch_add(&c_cache_hits, 1);
    }
    return c;
}

int pdi_shm_map(const pdi_shm_ref *r, void **out)
{
    pthread_once(&once, init);
    *out = NULL;
    if (!pdi_shm_ref_valid(r))
        return pdi_err(PYDRON_EPROTO, "malformed shared memory reference (pid %u, len %llu)",
                       r ? r->pid : 0, r ? (unsigned long long)r->len : 0ull);
    if (!host_id[0] || test_unmappable) {
        atomic_fetch_add(&c_mapfail, 1);
        return pdi_err(PYDRON_EIO, "shared memory is disabled in this process%s",
                       test_unmappable ? " (PYDRON_SHM_TEST_UNMAPPABLE)" : "");
    }
    /* The same value offered again by the same process (a large argument
     * handed to task after task): a released mapping of it still in the
     * cache is taken back without asking for the descriptor. That round trip
     * waits for the offering process to be scheduled, which on a machine
     * whose cores run tasks took 0.2-1.5 ms between tasks reading one
     * 32 MiB array. Sound: the cache holds the memfd open, so its inode
     * number names no other file meanwhile, and it was checked (sealed,
     * ours, that size) when first received from that process. */
    ent *c = cache_take(r->ino, (size_t)r->len, 0, r->pid, r->sock);
    if (c) {
        *out = (void *)c->addr;
        return 0;
    }
    int keep = take_fd_slot();
    int fd = -1;
    void *p = MAP_FAILED;
    /* the descriptor is passed by its holder (SCM_RIGHTS): no name is
     * opened, so a FIFO, a device or another user's file cannot be slipped
     * in by naming it; what arrives is checked on the descriptor itself */
    int rc = pdi_shm_receive(r, &fd);
    if (rc)
        goto fail;
    /* a memfd sealed against shrinking (its maker seals it): the mapping
     * cannot lose its pages under us (SIGBUS); a plain file has no seals */
    struct stat st;
    int seals = fcntl(fd, F_GET_SEALS);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_uid != geteuid() ||
        (uint64_t)st.st_ino != r->ino || (uint64_t)st.st_size < r->len || seals < 0 ||
        !(seals & F_SEAL_SHRINK)) {
        const char *why = !S_ISREG(st.st_mode)               ? "type"
                          : seals < 0 || !(seals & F_SEAL_SHRINK) ? "not a sealed memfd"
                                                                  : "inode, owner or size differ";
        rc = pdi_err(PYDRON_EIO, "pid %u passed a descriptor that is not the shared value it "
                     "should be (%s)", r->pid, why);
        goto fail;
    }
    c = cache_take((uint64_t)st.st_ino, (size_t)r->len, (uint64_t)st.st_dev, 0, 0);
    if (c) {
        close(fd);
        if (keep)
            put_fd_slot();
        *out = (void *)c->addr;
        return 0;
    }
    p = map_shared_ro(fd, (size_t)r->len);
    if (p == MAP_FAILED) {
        rc = pdi_err(PYDRON_EIO, "cannot map shared memory of pid %u: %s", r->pid,
                     strerror(errno));
        goto fail;
    }
    if (!keep) {
        /* out of fd budget: the mapping alone keeps the memory */
        close(fd);
        fd = -1;
    }
    if (reg_dev(p, (size_t)r->len, fd, r->ino, (uint64_t)st.st_dev, K_MAPPED, r->pid, r->sock) !=
        0) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory");
        goto fail;
    }
    atomic_fetch_add(&c_maps, 1);
    *out = p;
    return 0;
fail:
    if (p != MAP_FAILED)
        munmap(p, (size_t)r->len);
    if (fd >= 0)
        close(fd);
    if (keep)
        put_fd_slot();
    atomic_fetch_add(&c_mapfail, 1);
    return rc;
}

int pdi_shm_map_private(const void *p, size_t len, void **out)
{
    *out = NULL;
    if (!p || !len || !atomic_load(&nlive))
        return pdi_err(PYDRON_ENOTSUP, "not a shared-memory value");
    pthread_mutex_lock(&lock);
    ent *e = find_locked((uintptr_t)p);
    int fd = e && e->fd >= 0 && e->len >= len ? dup(e->fd) : -1;
    pthread_mutex_unlock(&lock);
    if (fd < 0)
        return pdi_err(PYDRON_ENOTSUP, "not a shared-memory value");
    /* MAP_PRIVATE: writes go to private copies of the touched pages */
    void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE, fd, 0);
    close(fd);
    if (m == MAP_FAILED)
        return pdi_err(PYDRON_ENOMEM, "cannot map %zu bytes privately: %s", len, strerror(errno));
    if (reg(m, len, -1, 0, K_PRIVATE) != 0) {
        munmap(m, len);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    *out = m;
    return 0;
}

int pdi_shm_unmap_private(void *p, size_t len)
{
    pthread_mutex_lock(&lock);
    ent *e = NULL;
    for (ent **pp = &buckets[bucket((uintptr_t)p)]; *pp; pp = &(*pp)->next) {
        if ((*pp)->addr == (uintptr_t)p && (*pp)->kind == K_PRIVATE && (*pp)->len == len) {
            e = *pp;
            *pp = e->next;
            atomic_fetch_sub(&nlive, 1);
            break;
        }
    }
    pthread_mutex_unlock(&lock);
    if (!e)
        return pdi_err(PYDRON_EINVAL, "%p (%zu bytes) is not a private value mapping", p, len);
    munmap(p, len);
    free(e);
    return 0;
}

void pdi_shm_note_sent(void) { atomic_fetch_add(&c_sent, 1); }

void pdi_shm_get_counters(pdi_shm_counters *out)
{
    out->allocs = atomic_load(&c_allocs);
    out->fallbacks = atomic_load(&c_fallbacks);
    out->refs_sent = atomic_load(&c_sent);
    out->maps = atomic_load(&c_maps);
    out->map_failures = atomic_load(&c_mapfail);
    out->cache_hits = atomic_load(&c_cache_hits);
    out->huge = atomic_load(&c_huge);
    pthread_mutex_lock(&lock);
    out->cached = ncache;
    pthread_mutex_unlock(&lock);
    out->live = atomic_load(&nlive);
}
