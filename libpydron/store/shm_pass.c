/* shm_pass.c - shared memory passed, not named: a memfd goes from the process
 * that holds it to the one that maps it by SCM_RIGHTS, never by a name the
 * receiver opens (/proc/<pid>/fd/<n> let a peer name any file of ours).
 *
 * nng's ipc transport reads with readv() and writes with sendmsg() without
 * control data (src/platform/posix/posix_ipcconn.c) and does not expose its
 * descriptor, so the descriptors travel on a side channel: each process that
 * offers shared memory listens on an abstract unix socket
 * "pydron-shm-<pid>-<64 random bits>" (SOCK_SEQPACKET). Naming a buffer in a
 * frame makes a one-use offer: the ticket {socket nonce, slot | random,
 * random} rides in the sealed frame, so only the peer the frame was sealed
 * for learns it. The receiver connects, checks with SO_PEERCRED that the
 * socket belongs to the process the reference names and to its own uid,
 * sends the ticket, and receives the descriptor; the server checks the
 * client's uid the same way, claims the offer (once) and passes a dup of the
 * registered memfd. The receiver then checks what it got with fstat and
 * F_GET_SEALS (store/shm.c). Abstract sockets live in a network namespace:
 * hosts' ids include it (pdi_shm_host_id), so refs only flow where the
 * socket is reachable. */
#include "store/shm_pass.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "util/log.h"
#include "util/sha256.h"
#include "util/util.h"

#define WHO "shm"
#define NOFFERS 8192u
#define IO_TIMEOUT_MS 2000

typedef struct offer {
    uint64_t a, b; /* the ticket; a == 0: free */
    uintptr_t addr;
    uint64_t ino;
    int raw_fd; /* >= 0: a test's descriptor, passed as it is */
} offer;

static pthread_mutex_t olock = PTHREAD_MUTEX_INITIALIZER;
static offer offers[NOFFERS];
static uint32_t next_slot;
static pid_t server_pid;   /* the process the server below belongs to */
static int server_fd = -1; /* -1: none (or could not start: no offers) */
static uint64_t server_nonce;

static void sock_name(struct sockaddr_un *sa, socklen_t *len, uint32_t pid, uint64_t nonce)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    /* abstract: sun_path[0] = 0, the name follows, no file to clean up */
    int n = snprintf(sa->sun_path + 1, sizeof sa->sun_path - 1, "pydron-shm-%u-%016llx", pid,
                     (unsigned long long)nonce);
    *len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
}

static void set_timeouts(int fd, int ms)
{
    struct timeval tv = {ms / 1000, (ms % 1000) * 1000};
    (void)setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    (void)setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
}

/* The offer for ticket (a, b), cleared: one use. Returns its buffer's
 * address and inode, or 0. */
static int claim(uint64_t a, uint64_t b, uintptr_t *addr, uint64_t *ino, int *raw_fd)
{
    uint32_t slot = (uint32_t)(a >> 32) % NOFFERS;
    int ok = 0;
    pthread_mutex_lock(&olock);
    offer *o = &offers[slot];
    if (a && o->a == a && o->b == b) {
        *addr = o->addr;
        *ino = o->ino;
        *raw_fd = o->raw_fd;
        o->a = o->b = 0;
        ok = 1;
    }
    pthread_mutex_unlock(&olock);
    return ok;
}

static void serve_one(int c)
{
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (getsockopt(c, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != geteuid())
        return; /* another user: not even an answer */
    set_timeouts(c, 500);
    uint64_t req[3];
    ssize_t n = recv(c, req, sizeof req, 0);
    uintptr_t addr = 0;
    uint64_t ino = 0;
    int fd = -1, raw = -1;
    if (n == (ssize_t)sizeof req && req[0] == server_nonce &&
        claim(req[1], req[2], &addr, &ino, &raw))
        fd = raw >= 0 ? dup(raw) : pdi_shm_dup_registered(addr, ino);
    uint8_t status = fd >= 0 ? 0 : 1;
    struct iovec iov = {&status, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    if (fd >= 0) {
        memset(&u, 0, sizeof u);
        m.msg_control = u.buf;
        m.msg_controllen = sizeof u.buf;
        struct cmsghdr *h = CMSG_FIRSTHDR(&m);
        h->cmsg_level = SOL_SOCKET;
        h->cmsg_type = SCM_RIGHTS;
        h->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(h), &fd, sizeof fd);
    }
    (void)sendmsg(c, &m, MSG_NOSIGNAL);
    if (fd >= 0)
        close(fd);
}

static void *serve_thread(void *arg)
{
    int lfd = (int)(intptr_t)arg;
    unsigned backoff_ms = 0;
    for (;;) {
        int c = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
        if (c < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                /* out of descriptors: wait instead of spinning on accept */
                backoff_ms = backoff_ms ? (backoff_ms * 2 > 1000 ? 1000 : backoff_ms * 2) : 10;
                usleep(backoff_ms * 1000u);
            }
            continue;
        }
        backoff_ms = 0;
        serve_one(c);
        close(c);
    }
    return NULL;
}

/* Start this process's server (again after a fork: threads do not survive
 * it, and the name holds the pid). Lock held. */
static int server_ready_locked(void)
{
    pid_t me = getpid();
    if (server_pid == me)
        return server_fd >= 0;
    if (server_fd >= 0)
        close(server_fd); /* the parent's, inherited by fork */
    server_pid = me;
    server_fd = -1;
    memset(offers, 0, sizeof offers);
    uint64_t nonce = 0;
    while (nonce == 0)
        if (pdi_random_bytes(&nonce, sizeof nonce) != 0)
            return 0;
    int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    struct sockaddr_un sa;
    socklen_t sl;
    sock_name(&sa, &sl, (uint32_t)me, nonce);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sl) != 0 || listen(fd, 128) != 0) {
        pdi_debug(WHO, "cannot serve shared memory (%s): values go as bytes", strerror(errno));
        if (fd >= 0)
            close(fd);
        return 0;
    }
    pthread_t th;
    pthread_attr_t at;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old); /* signals belong to the program */
    pthread_attr_init(&at);
    pthread_attr_setdetachstate(&at, PTHREAD_CREATE_DETACHED);
    int ok = pthread_create(&th, &at, serve_thread, (void *)(intptr_t)fd) == 0;
    pthread_attr_destroy(&at);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (!ok) {
        close(fd);
        return 0;
    }
    server_fd = fd;
    server_nonce = nonce;
    return 1;
}

static int offer_make(uintptr_t addr, uint64_t ino, int raw_fd, pdi_shm_ref *r)
{
    uint64_t rnd[2];
    if (pdi_random_bytes(rnd, sizeof rnd) != 0)
        return 0;
    pthread_mutex_lock(&olock);
    int ok = server_ready_locked();
    if (ok) {
        /* a ring: an offer nobody claimed is overwritten 8192 offers later
         * (its claim then fails and the value goes as bytes) */
        uint32_t slot = next_slot++ % NOFFERS;
        offer *o = &offers[slot];
        o->a = (uint64_t)slot << 32 | (rnd[0] & 0xffffffffu) | 1u;
        o->b = rnd[1];
        o->addr = addr;
        o->ino = ino;
        o->raw_fd = raw_fd;
        r->pid = (uint32_t)server_pid;
        r->sock = server_nonce;
        r->offer_a = o->a;
        r->offer_b = o->b;
    }
    pthread_mutex_unlock(&olock);
    return ok;
}

int pdi_shm_offer(uintptr_t addr, uint64_t ino, pdi_shm_ref *r)
{
    return offer_make(addr, ino, -1, r);
}

int pdi_shm_offer_fd_for_test(int fd, uint64_t len, pdi_shm_ref *r)
{
    struct stat st;
    if (fstat(fd, &st) != 0 || !offer_make(0, (uint64_t)st.st_ino, fd, r))
        return 0;
    r->fd = fd;
    r->ino = (uint64_t)st.st_ino;
    r->len = len;
    return 1;
}

int pdi_shm_receive(const pdi_shm_ref *r, int *out)
{
    *out = -1;
    int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
    if (s < 0)
        return pdi_err(PYDRON_EIO, "shared memory from pid %u: socket: %s", r->pid,
                       strerror(errno));
    set_timeouts(s, IO_TIMEOUT_MS);
    struct sockaddr_un sa;
    socklen_t sl;
    sock_name(&sa, &sl, r->pid, r->sock);
    int rc = 0;
    struct ucred cr;
    socklen_t cl = sizeof cr;
    if (connect(s, (struct sockaddr *)&sa, sl) != 0) {
        rc = pdi_err(PYDRON_EIO, "shared memory from pid %u: no such offer (%s)", r->pid,
                     strerror(errno));
        goto out;
    }
    /* the socket is the named process's and ours: not a squatter's */
    if (getsockopt(s, SOL_SOCKET, SO_PEERCRED, &cr, &cl) != 0 || cr.uid != geteuid() ||
        (uint32_t)cr.pid != r->pid) {
        rc = pdi_err(PYDRON_EIO, "shared memory from pid %u: its socket belongs to pid %d uid %u",
                     r->pid, (int)cr.pid, (unsigned)cr.uid);
        goto out;
    }
    uint64_t req[3] = {r->sock, r->offer_a, r->offer_b};
    if (send(s, req, sizeof req, MSG_NOSIGNAL) != (ssize_t)sizeof req) {
        rc = pdi_err(PYDRON_EIO, "shared memory from pid %u: %s", r->pid, strerror(errno));
        goto out;
    }
    uint8_t status = 1;
    struct iovec iov = {&status, 1};
    union {
        char buf[CMSG_SPACE(4 * sizeof(int))];
        struct cmsghdr align;
    } u;
    struct msghdr m = {0};
    m.msg_iov = &iov;
    m.msg_iovlen = 1;
    m.msg_control = u.buf;
    m.msg_controllen = sizeof u.buf;
    ssize_t n = recvmsg(s, &m, MSG_CMSG_CLOEXEC);
    int fd = -1;
    for (struct cmsghdr *h = n > 0 ? CMSG_FIRSTHDR(&m) : NULL; h; h = CMSG_NXTHDR(&m, h)) {
        if (h->cmsg_level != SOL_SOCKET || h->cmsg_type != SCM_RIGHTS)
            continue;
        size_t k = (h->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < k; i++) {
            int x;
            memcpy(&x, CMSG_DATA(h) + i * sizeof(int), sizeof x);
            if (fd < 0)
                fd = x;
            else
                close(x); /* one descriptor was asked for */
        }
    }
    if (n != 1 || status != 0 || fd < 0 || (m.msg_flags & MSG_CTRUNC)) {
        if (fd >= 0)
            close(fd);
        rc = pdi_err(PYDRON_EIO, "shared memory from pid %u: %s", r->pid,
                     n < 0 ? strerror(errno) : "offer unknown, used or expired");
        goto out;
    }
    *out = fd;
out:
    close(s);
    return rc;
}
