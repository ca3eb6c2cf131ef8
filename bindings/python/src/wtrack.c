/* wtrack.c - write tracking of large arguments, for the driver's cache of
 * their snapshots (_backend.Session._constant).
 *
 * The same unchanged 32 MB array handed to a @schedule function call after
 * call was compared byte for byte with its snapshot each time: a read of
 * 64 MB, ~2 ms on this machine, longer than some of the tasks it feeds. The
 * kernel can say instead which pages were written since a point in time:
 * userfaultfd's asynchronous write protection (UFFD_FEATURE_WP_ASYNC, Linux
 * 6.7) lets a write to a protected page go on at once and only clears the
 * page's protection bit; the PAGEMAP_SCAN ioctl of /proc/self/pagemap
 * protects a range and reports the pages whose bit is clear (the interface
 * CRIU and Wine's GetWriteWatch emulation use). A watch protects the
 * buffer's pages once, when it starts; a check compares only the pages
 * written since. An array nobody wrote is known unchanged after a walk of
 * its page table (3 µs for 32 MB in huge pages, ~0.3 ms in 4 KiB pages).
 * A check does not protect the pages it finds written again: a write may
 * land on a page after the fault that cleared its bit (memory pinned for
 * I/O: O_DIRECT, process_vm_writev, a device), and protecting the page
 * while that write is in flight would hide it. A page once written is
 * compared at every check instead, and a change ends the watch: a watch
 * only ever goes from "unchanged" to ended, which also keeps checks on
 * several threads at once sound.
 *
 * Sound for private anonymous memory (what numpy and malloc give): every
 * write to it from this process, from user or kernel mode (read(2) into the
 * buffer), clears the bit through a page fault or a pin. Not for shared or
 * file-backed memory, which another process or the file can change under
 * the same page table entries: a buffer not wholly in private mappings of
 * no file (/proc/self/maps) is refused, and so is a page the kernel reports
 * as a file's (PAGE_IS_FILE). A watch that can no longer be trusted (its
 * memory unmapped and mapped again, which drops the registration:
 * PM_SCAN_CHECK_WPASYNC fails) ends, and the caller compares bytes.
 *
 * Not covered: a write in flight into pinned memory when the watch starts
 * (asynchronous or direct I/O into the array, a device's DMA, another
 * process's process_vm_writev, while the array is handed to a call);
 * another user of PAGEMAP_SCAN in the process protecting the same pages;
 * madvise(MADV_DONTNEED) on live pages of the array (neither numpy nor
 * malloc does that to memory in use). PYDRON_NO_WRITE_WATCH=1 turns the
 * watch off for such programs.
 *
 * Pages shared by two watches (a page at the edge of two buffers): starting
 * one protects the page again, so the other would miss a write made there
 * before. The other is marked and ends at its next check (the caller
 * compares every byte then).
 *
 * The cost is on the writer: the first write to each protected page takes
 * a minor fault (~1.4 µs per 4 KiB page here: rewriting a watched 32 MB
 * array took 14 ms instead of 2.7). So the runtime watches only an array
 * seen unchanged once already, and stops watching one found changed.
 *
 * userfaultfd(UFFD_USER_MODE_ONLY) needs no privilege (Linux 5.11); the
 * protection is resolved in the kernel (asynchronous mode), so no thread
 * reads the descriptor. A child made by fork has neither (the descriptors
 * name the parent's memory): a fork handler ends watching in the child. */
#define _GNU_SOURCE
#include "wtrack.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__linux__)
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <linux/userfaultfd.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

#if defined(__linux__) && defined(SYS_userfaultfd) && defined(UFFDIO_REGISTER_MODE_WP)
#define WT_LINUX 1
#endif

#ifdef WT_LINUX

/* The UAPI of Linux 6.7 (linux/fs.h, linux/userfaultfd.h), for headers
 * older than the kernel the program runs on. */
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#define WT_FEATURE_WP_UNPOPULATED (1u << 13)
#define WT_FEATURE_WP_ASYNC (1u << 15)

struct wt_page_region {
    uint64_t start, end, categories;
};
struct wt_pm_scan_arg {
    uint64_t size, flags, start, end, walk_end, vec, vec_len, max_pages, category_inverted,
        category_mask, category_anyof_mask, return_mask;
};
#define WT_PAGEMAP_SCAN _IOWR('f', 16, struct wt_pm_scan_arg)
#define WT_PAGE_IS_WRITTEN (1u << 1)
#define WT_PAGE_IS_FILE (1u << 2)
#define WT_PM_SCAN_WP_MATCHING (1u << 0)
#define WT_PM_SCAN_CHECK_WPASYNC (1u << 1)

typedef struct wt_entry {
    uint64_t id;
    uintptr_t s, e; /* the pages: [s, e), page aligned */
    int dirty;      /* a watch started since took a write of ours: end */
} wt_entry;

static int state;          /* 0: not tried; 1: ready; -1: unavailable */
static int uffd = -1, pmfd = -1;
static uintptr_t pgsz;
static wt_entry *ents;
static size_t nents, capents;
static uint64_t next_id = 1;
/* Guards all of the above: the extension calls in without the GIL (a
 * compare of the pages written may take a while). */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

/* A child of fork may have been made while another thread held the lock;
 * it never watches (the descriptors are the parent's: its memory). */
static void at_fork_child(void)
{
    pthread_mutex_init(&mu, NULL);
    if (state == 1)
        state = -1;
    nents = 0;
}

static void install_atfork(void) { pthread_atfork(NULL, NULL, at_fork_child); }

/* Ready to watch in this process? With mu held. */
static int ready(void)
{
    if (state)
        return state > 0;
    state = -1;
    /* before any watch can exist: a child of fork never watches */
    pthread_once(&atfork_once, install_atfork);
    if (getenv("PYDRON_NO_WRITE_WATCH"))
        return 0;
    long ps = sysconf(_SC_PAGESIZE);
    if (ps <= 0)
        return 0;
    int u = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (u < 0)
        return 0;
    struct uffdio_api api = {.api = UFFD_API,
                             .features = WT_FEATURE_WP_ASYNC | WT_FEATURE_WP_UNPOPULATED};
    if (ioctl(u, UFFDIO_API, &api) != 0 ||
        (api.features & (WT_FEATURE_WP_ASYNC | WT_FEATURE_WP_UNPOPULATED)) !=
            (WT_FEATURE_WP_ASYNC | WT_FEATURE_WP_UNPOPULATED)) {
        close(u);
        return 0;
    }
    int pm = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pm < 0) {
        close(u);
        return 0;
    }
    uffd = u;
    pmfd = pm;
    pgsz = (uintptr_t)ps;
    state = 1;
    return 1;
}

static wt_entry *find(uint64_t id)
{
    for (size_t i = 0; i < nents; i++)
        if (ents[i].id == id)
            return &ents[i];
    return NULL;
}

/* Other watches holding a page of [s, e), which a new watch just protected
 * again, lost any write made there before: they end at their next check. */
static void mark_others(uint64_t self, uintptr_t s, uintptr_t e)
{
    for (size_t i = 0; i < nents; i++)
        if (ents[i].id != self && ents[i].s < e && s < ents[i].e)
            ents[i].dirty = 1;
}

/* Unregister the pages of [s, e) that no watch other than self holds. */
static void release_pages(uint64_t self, uintptr_t s, uintptr_t e)
{
    uintptr_t a = s;
    while (a < e) {
        int held = 0;
        uintptr_t next = e;
        for (size_t i = 0; i < nents; i++) {
            const wt_entry *o = &ents[i];
            if (o->id == self || o->e <= a)
                continue;
            if (o->s <= a) {
                held = 1;
                if (o->e < next)
                    next = o->e;
            } else if (o->s < next) {
                next = o->s;
            }
        }
        if (!held) {
            struct uffdio_range r = {.start = a, .len = next - a};
            (void)ioctl(uffd, UFFDIO_UNREGISTER, &r);   /* gone already: nothing to undo */
        }
        a = next;
    }
}

/* PAGEMAP_SCAN over [s, e): the pages in any of the categories anyof (all
 * with 0), in vec; with protect, those pages are write protected in the
 * same step. Fails (EPERM) where the memory is not registered with
 * asynchronous write protection. */
static long scan(uintptr_t s, uintptr_t e, int protect, uint64_t anyof,
                 struct wt_page_region *vec, size_t n, uintptr_t *walk_end)
{
    struct wt_pm_scan_arg a;
    memset(&a, 0, sizeof a);
    a.size = sizeof a;
    a.flags = (protect ? WT_PM_SCAN_WP_MATCHING : 0) | WT_PM_SCAN_CHECK_WPASYNC;
    a.start = s;
    a.end = e;
    a.vec = (uintptr_t)vec;
    a.vec_len = n;
    a.category_anyof_mask = anyof;
    a.return_mask = WT_PAGE_IS_WRITTEN | WT_PAGE_IS_FILE;
    long r;
    do
        r = ioctl(pmfd, WT_PAGEMAP_SCAN, &a);
    while (r < 0 && errno == EINTR);
    *walk_end = (uintptr_t)a.walk_end;
    return r;
}

/* Is [s, e) all private anonymous memory (mappings with no file: inode 0,
 * private)? By /proc/self/maps: the page table cannot tell for pages not
 * yet mapped in (a fresh np.memmap), and a file's pages change with the
 * file. Read once per watch started. */
static int all_anonymous(uintptr_t s, uintptr_t e)
{
    FILE *f = fopen("/proc/self/maps", "re");
    if (!f)
        return 0;
    char line[512];
    uintptr_t at = s;
    int ok = 0;
    while (at < e && fgets(line, sizeof line, f)) {
        unsigned long lo, hi, ino;
        char perms[8];
        if (sscanf(line, "%lx-%lx %7s %*s %*s %lu", &lo, &hi, perms, &ino) != 4)
            break;
        if (!strchr(line, '\n') && !feof(f)) {
            /* a long path: skip the rest of the line */
            int c;
            while ((c = fgetc(f)) != EOF && c != '\n')
                ;
        }
        if (hi <= at)
            continue;
        if (lo > at || perms[3] != 'p' || ino != 0)
            break;   /* a hole, shared, or a file's */
        at = hi;
        if (at >= e)
            ok = 1;
    }
    fclose(f);
    return ok;
}

#define WT_VEC 32

static uint64_t wt_start_locked(const void *p, size_t len);

uint64_t pdy_wt_start(const void *p, size_t len)
{
    pthread_mutex_lock(&mu);
    uint64_t id = wt_start_locked(p, len);
    pthread_mutex_unlock(&mu);
    return id;
}

static uint64_t wt_start_locked(const void *p, size_t len)
{
    if (!len || !ready())
        return 0;
    uintptr_t s = (uintptr_t)p & ~(pgsz - 1), e = ((uintptr_t)p + len + pgsz - 1) & ~(pgsz - 1);
    if (nents == capents) {
        size_t nc = capents ? 2 * capents : 8;
        wt_entry *ne = realloc(ents, nc * sizeof *ne);
        if (!ne)
            return 0;
        ents = ne;
        capents = nc;
    }
    if (!all_anonymous(s, e))
        return 0;
    struct uffdio_register reg = {.range = {.start = s, .len = e - s},
                                  .mode = UFFDIO_REGISTER_MODE_WP};
    if (ioctl(uffd, UFFDIO_REGISTER, &reg) != 0)
        return 0;   /* not anonymous memory, another userfaultfd, ... */
    uint64_t id = next_id++;
    /* protect every page (no category asked: all match), and learn whether
     * any is not anonymous */
    struct wt_page_region vec[WT_VEC];
    int ok = 1;
    for (uintptr_t a = s; ok && a < e;) {
        uintptr_t we;
        long r = scan(a, e, 1, 0, vec, WT_VEC, &we);
        if (r < 0 || we <= a) {
            ok = 0;
            break;
        }
        for (long i = 0; i < r; i++)
            if (vec[i].categories & WT_PAGE_IS_FILE)
                ok = 0;
        a = we;
    }
    /* writes other watches had not seen yet on these pages are taken */
    mark_others(id, s, e);
    if (!ok) {
        release_pages(id, s, e);
        return 0;
    }
    ents[nents++] = (wt_entry){id, s, e, 0};
    return id;
}

static void wt_stop_locked(uint64_t id);
static int wt_same_locked(uint64_t id, const void *p, size_t len, const void *snap);

int pdy_wt_same(uint64_t id, const void *p, size_t len, const void *snap)
{
    pthread_mutex_lock(&mu);
    int r = wt_same_locked(id, p, len, snap);
    pthread_mutex_unlock(&mu);
    return r;
}

static int wt_same_locked(uint64_t id, const void *p, size_t len, const void *snap)
{
    wt_entry *w = ready() ? find(id) : NULL;
    if (!w)
        return -1;
    uintptr_t b0 = (uintptr_t)p, b1 = b0 + len;
    if (w->s != (b0 & ~(pgsz - 1)) || w->e != ((b1 + pgsz - 1) & ~(pgsz - 1))) {
        wt_stop_locked(id);   /* not the memory it watches */
        return -1;
    }
    if (w->dirty) {
        /* a watch started since took writes from a page both hold */
        wt_stop_locked(id);
        return -1;
    }
    /* The pages written since the watch started. They are not protected
     * again: a write can land on a page after its fault (memory pinned for
     * I/O: O_DIRECT, process_vm_writev, a device), so a page protected
     * again while such a write is in flight would not show it. A page
     * once written is compared at every check instead; a change ends the
     * watch. */
    int same = 1;
    struct wt_page_region vec[WT_VEC];
    for (uintptr_t a = w->s; same && a < w->e;) {
        uintptr_t we;
        long r = scan(a, w->e, 0, WT_PAGE_IS_WRITTEN | WT_PAGE_IS_FILE, vec, WT_VEC, &we);
        if (r < 0 || we <= a) {
            wt_stop_locked(id);   /* unmapped, mapped again, or not protected any more */
            return -1;
        }
        for (long i = 0; i < r && same; i++) {
            if (vec[i].categories & WT_PAGE_IS_FILE) {
                wt_stop_locked(id);
                return -1;
            }
            uintptr_t rs = (uintptr_t)vec[i].start, re = (uintptr_t)vec[i].end;
            uintptr_t x0 = rs > b0 ? rs : b0, x1 = re < b1 ? re : b1;
            if (x0 < x1 && memcmp((const void *)x0, (const char *)snap + (x0 - b0), x1 - x0) != 0)
                same = 0;
        }
        a = we;
    }
    if (!same) {
        /* it never says "unchanged" again (a check racing with this one
         * on another thread gets -1, not 1) */
        wt_stop_locked(id);
        return 0;
    }
    return 1;
}

void pdy_wt_stop(uint64_t id)
{
    pthread_mutex_lock(&mu);
    wt_stop_locked(id);
    pthread_mutex_unlock(&mu);
}

static void wt_stop_locked(uint64_t id)
{
    wt_entry *w = ready() ? find(id) : NULL;
    if (!w)
        return;
    uintptr_t s = w->s, e = w->e;
    *w = ents[--nents];
    release_pages(id, s, e);
}

int pdy_wt_live(uint64_t id)
{
    pthread_mutex_lock(&mu);
    int r = ready() && find(id) != NULL;
    pthread_mutex_unlock(&mu);
    return r;
}

size_t pdy_wt_count(void)
{
    pthread_mutex_lock(&mu);
    size_t n = state == 1 ? nents : 0;
    pthread_mutex_unlock(&mu);
    return n;
}

#else /* no userfaultfd write protection: the caller compares bytes */

uint64_t pdy_wt_start(const void *p, size_t len)
{
    (void)p;
    (void)len;
    return 0;
}
int pdy_wt_same(uint64_t id, const void *p, size_t len, const void *snap)
{
    (void)id;
    (void)p;
    (void)len;
    (void)snap;
    return -1;
}
void pdy_wt_stop(uint64_t id) { (void)id; }
int pdy_wt_live(uint64_t id)
{
    (void)id;
    return 0;
}
size_t pdy_wt_count(void) { return 0; }

#endif
