/* conn.c - connections: blocking frame I/O over nng byte streams (dial,
 * receive, send, close), TLS configuration and the nng error mapping. */
#include "wire/wire.h"

#include <errno.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/util.h"
#include "wire/conn_internal.h"
#include "wire/seal.h"

int pdi_nng_err(int nrv, const char *what)
{
    int rc;
    switch (nrv) {
    case 0:
        return 0;
    case NNG_ENOMEM:
        rc = PYDRON_ENOMEM;
        break;
    case NNG_ETIMEDOUT:
        rc = PYDRON_ETIMEDOUT;
        break;
    case NNG_ECLOSED:
    case NNG_ECONNRESET:
    case NNG_ECONNSHUT:
    case NNG_ECANCELED:
        rc = PYDRON_ECLOSED;
        break;
    case NNG_ENOTSUP:
        rc = PYDRON_ENOTSUP;
        break;
    case NNG_EINVAL:
    case NNG_EADDRINVAL:
        rc = PYDRON_EINVAL;
        break;
    case NNG_EPEERAUTH:
    case NNG_ECRYPTO:
        return pdi_err(PYDRON_EAUTH,
                       "%s: TLS failed (%s): is the certificate trusted (--tls-ca) and made "
                       "for this host name, and did the other side dial tcp:// instead of "
                       "tls+tcp://?",
                       what, nng_strerror(nrv));
    default:
        rc = PYDRON_EIO;
    }
    return pdi_err(rc, "%s: %s", what, nng_strerror(nrv));
}

/* ---------------------------------------------------------- connections */

/* The receive buffer holds at least one whole record (sealed_read opens
 * records from it straight into the destination); a connection that
 * receives a large segment grows it once to RBUF_BIG, so that a value
 * arrives in few large stream reads instead of two or three per record. */
#define RBUF_SIZE (PDI_SEAL_HDR + PDI_SEAL_REC_MAX + PDI_SEAL_TAG + 44u)
#define RBUF_BIG (1u << 20)
#define BIG_READ (256u * 1024u)
/* A large write seals up to this many records into one buffer and writes
 * them with one stream operation. */
#define WBATCH 16u
/* Segments below this are copied into the frame's send buffer; larger ones
 * are written from the caller's memory. */
#define COPY_MAX (32u * 1024u)

/* Test hook (tests/c/test_wire.c): microseconds to sleep between the
 * closed check and the start of a stream operation, i.e. exactly where a
 * concurrent pdi_conn_close used to slip in. 0 in production. */
atomic_uint pdi_wire_test_io_delay_us;

struct pdi_conn {
    nng_stream *s;
    nng_aio *raio, *waio;
    pthread_mutex_t wlock;
    /* Orders "start an operation" against pdi_conn_close: nng 1.5's tcp and
     * ipc streams never complete a recv/send started after
     * nng_stream_close (tcp_doread returns early on a closed conn and the
     * aio waits forever), and nng_aio_abort only cancels an operation that
     * has already started. Under this lock either the operation is queued
     * in the stream before close (and close fails it) or the check below
     * sees closed. */
    pthread_mutex_t iolock;
    int have_locks;
    uint8_t *rbuf;
    size_t rpos, rlen, rcap;
    atomic_int closed;
    /* after the handshake: every byte goes through the record layer */
    pdi_seal *seal;
    /* during the handshake: every byte sent and received, in order */
    crypto_generichash_state *ts;
    /* during the handshake: no operation waits past this (0: none) */
    uint64_t deadline_ns;
    nng_aio *wd;   /* while deadline_ns is set: the watchdog (wd_fire) */
    uint64_t addr_key;
    char peer[96];
};

int pdi_conn_wrap(nng_stream *s, pdi_conn **out)
{
    pdi_conn *c = calloc(1, sizeof *c);
    if (!c) {
        nng_stream_free(s);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    c->s = s;
    pthread_mutex_init(&c->wlock, NULL);
    pthread_mutex_init(&c->iolock, NULL);
    c->have_locks = 1;
    c->rbuf = malloc(RBUF_SIZE);
    c->rcap = RBUF_SIZE;
    int nrv;
    if (!c->rbuf || (nrv = nng_aio_alloc(&c->raio, NULL, NULL)) != 0 ||
        (nrv = nng_aio_alloc(&c->waio, NULL, NULL)) != 0) {
        pdi_conn_free(c);
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    }
    nng_sockaddr sa;
    snprintf(c->peer, sizeof c->peer, "peer");
    if (nng_stream_get_addr(s, NNG_OPT_REMADDR, &sa) == 0) {
        if (sa.s_family == NNG_AF_INET) {
            const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
            unsigned port = ((sa.s_in.sa_port & 0xff) << 8) | (sa.s_in.sa_port >> 8);
            snprintf(c->peer, sizeof c->peer, "tcp %u.%u.%u.%u:%u", a[0], a[1], a[2], a[3],
                     port);
            c->addr_key = (uint64_t)1 << 32 | (uint64_t)a[0] << 24 | (uint64_t)a[1] << 16 |
                          (uint64_t)a[2] << 8 | a[3];
        } else if (sa.s_family == NNG_AF_IPC) {
            snprintf(c->peer, sizeof c->peer, "ipc");
        }
    }
    int pid;
    if (nng_stream_get_int(s, NNG_OPT_IPC_PEER_PID, &pid) == 0)
        snprintf(c->peer, sizeof c->peer, "ipc pid %d", pid);
    (void)nng_stream_set_bool(s, NNG_OPT_TCP_NODELAY, true);
    *out = c;
    return 0;
}

const char *pdi_conn_peer(pdi_conn *c) { return c ? c->peer : "?"; }

uint64_t pdi_conn_addr_key(pdi_conn *c) { return c->addr_key; }

int pdi_conn_local_ip(pdi_conn *c, char *buf, size_t n)
{
    nng_sockaddr sa;
    if (nng_stream_get_addr(c->s, NNG_OPT_LOCADDR, &sa) != 0 || sa.s_family != NNG_AF_INET)
        return PYDRON_ENOTSUP;
    const uint8_t *a = (const uint8_t *)&sa.s_in.sa_addr;
    snprintf(buf, n, "%u.%u.%u.%u", a[0], a[1], a[2], a[3]);
    return 0;
}

static char *read_text(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 4096, n = 0;
    char *b = malloc(cap);
    while (b) {
        n += fread(b + n, 1, cap - n - 1, f);
        if (n < cap - 1)
            break;
        char *nb = realloc(b, cap *= 2);
        if (!nb) {
            free(b);
            b = NULL;
        } else {
            b = nb;
        }
    }
    fclose(f);
    if (b)
        b[n] = 0;
    return b;
}

int pdi_tls_config(nng_tls_mode mode, const char *cert, const char *key, const char *ca,
                   const char *server_name, nng_tls_config **out)
{
    nng_tls_config *cfg;
    int nrv = nng_tls_config_alloc(&cfg, mode);
    if (nrv)
        return pdi_nng_err(nrv, "TLS configuration");
    if (cert && key) {
        /* nng wants certificate and key as PEM strings (or both in one file) */
        char *c = read_text(cert), *k = read_text(key);
        nrv = (c && k) ? nng_tls_config_own_cert(cfg, c, k, NULL) : NNG_ENOENT;
        free(c);
        free(k);
        if (nrv) {
            nng_tls_config_free(cfg);
            return pdi_nng_err(nrv, "loading TLS certificate/key");
        }
    }
    if (ca) {
        if ((nrv = nng_tls_config_ca_file(cfg, ca)) != 0) {
            nng_tls_config_free(cfg);
            return pdi_nng_err(nrv, "loading TLS CA file");
        }
        nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_REQUIRED);
    } else {
        /* a server: clients are authenticated by the shared secret */
        nng_tls_config_auth_mode(cfg, NNG_TLS_AUTH_MODE_NONE);
    }
    if (server_name)
        nng_tls_config_server_name(cfg, server_name);
    *out = cfg;
    return 0;
}

int pdi_conn_dial(const char *url, const char *tls_ca_file, int timeout_ms, pdi_conn **out)
{
    nng_stream_dialer *d;
    nng_aio *aio;
    int nrv = nng_stream_dialer_alloc(&d, url);
    if (nrv)
        return pdi_nng_err(nrv, url);
    if (strncmp(url, "tls+", 4) == 0) {
        if (!tls_ca_file || !*tls_ca_file)
            tls_ca_file = getenv("PYDRON_TLS_CA");
        if (!tls_ca_file || !*tls_ca_file) {
            /* TLS that verifies nothing would only hide a relay: refuse */
            nng_stream_dialer_free(d);
            return pdi_err(PYDRON_EINVAL,
                           "%s: TLS needs the CA certificate that signed the driver's "
                           "certificate to verify it (--tls-ca FILE or PYDRON_TLS_CA); "
                           "plain tcp:// links are encrypted and authenticated with the "
                           "shared secret as well",
                           url);
        }
        nng_tls_config *cfg;
        char host[256] = "";
        const char *h = strstr(url, "://");
        if (h) {
            h += 3;
            size_t n = strcspn(h, ":/");
            if (n < sizeof host) {
                memcpy(host, h, n);
                host[n] = 0;
            }
        }
        int rc = pdi_tls_config(NNG_TLS_MODE_CLIENT, NULL, NULL, tls_ca_file, host, &cfg);
        if (rc) {
            nng_stream_dialer_free(d);
            return rc;
        }
        nrv = nng_stream_dialer_set_ptr(d, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg); /* the dialer holds its own reference */
        if (nrv) {
            nng_stream_dialer_free(d);
            return pdi_nng_err(nrv, "TLS dialer");
        }
    }
    if ((nrv = nng_aio_alloc(&aio, NULL, NULL)) != 0) {
        nng_stream_dialer_free(d);
        return pdi_nng_err(nrv, "aio");
    }
    nng_aio_set_timeout(aio, timeout_ms < 0 ? NNG_DURATION_INFINITE : timeout_ms);
    nng_stream_dialer_dial(d, aio);
    nng_aio_wait(aio);
    nrv = nng_aio_result(aio);
    nng_stream *s = nrv == 0 ? nng_aio_get_output(aio, 0) : NULL;
    nng_aio_free(aio);
    nng_stream_dialer_free(d);
    if (nrv)
        return pdi_nng_err(nrv, url);
    return pdi_conn_wrap(s, out);
}

/* One blocking stream operation on aio with iov; returns bytes moved. */
static int do_io(pdi_conn *c, nng_aio *aio, int send, void *buf, size_t len, int timeout_ms,
                 size_t *moved)
{
    nng_iov iov = {buf, len};
    pthread_mutex_lock(&c->iolock);
    if (atomic_load(&c->closed)) {
        pthread_mutex_unlock(&c->iolock);
        return pdi_err(PYDRON_ECLOSED, "connection closed");
    }
    if (c->deadline_ns) {
        int left = pdi_ms_left(c->deadline_ns);
        if (left == 0) {
            pthread_mutex_unlock(&c->iolock);
            return pdi_err(PYDRON_ETIMEDOUT, "%s: handshake not finished in time",
                           send ? "send" : "receive");
        }
        if (timeout_ms < 0 || left < timeout_ms)
            timeout_ms = left;
    }
    unsigned delay = atomic_load_explicit(&pdi_wire_test_io_delay_us, memory_order_relaxed);
    if (delay)
        usleep(delay);
    nng_aio_set_iov(aio, 1, &iov);
    nng_aio_set_timeout(aio, timeout_ms < 0 ? NNG_DURATION_INFINITE : timeout_ms);
    if (send)
        nng_stream_send(c->s, aio);
    else
        nng_stream_recv(c->s, aio);
    pthread_mutex_unlock(&c->iolock);
    nng_aio_wait(aio);
    int nrv = nng_aio_result(aio);
    if (nrv)
        return pdi_nng_err(nrv, send ? "send" : "receive");
    *moved = nng_aio_count(aio);
    if (*moved == 0)
        return pdi_err(PYDRON_ECLOSED, "connection closed by peer");
    return 0;
}

static int raw_read_exact(pdi_conn *c, void *dst, size_t n, int timeout_ms)
{
    uint8_t *d = dst;
    while (n > 0) {
        if (c->rpos < c->rlen) {
            size_t k = c->rlen - c->rpos;
            if (k > n)
                k = n;
            memcpy(d, c->rbuf + c->rpos, k);
            c->rpos += k;
            d += k;
            n -= k;
            continue;
        }
        size_t got;
        int rc;
        if (n >= c->rcap) {
            /* large: straight into the destination, no staging copy */
            if ((rc = do_io(c, c->raio, 0, d, n, timeout_ms, &got)) != 0)
                return rc;
            d += got;
            n -= got;
        } else {
            if ((rc = do_io(c, c->raio, 0, c->rbuf, c->rcap, timeout_ms, &got)) != 0)
                return rc;
            c->rpos = 0;
            c->rlen = got;
        }
    }
    return 0;
}

static int raw_write_all(pdi_conn *c, const void *src, size_t n, uint64_t deadline_ns)
{
    const uint8_t *p = src;
    while (n > 0) {
        size_t put;
        int ms = pdi_ms_left(deadline_ns);
        if (ms == 0)
            return pdi_err(PYDRON_ETIMEDOUT, "send: timed out");
        int rc = do_io(c, c->waio, 1, (void *)p, n, ms, &put);
        if (rc)
            return rc;
        p += put;
        n -= put;
    }
    return 0;
}

/* Make the receive buffer hold at least need (<= rcap) unread bytes:
 * the unread rest moves to the front when the room after it is short,
 * then one stream read takes whatever has arrived, up to the buffer's end. */
static int raw_fill(pdi_conn *c, size_t need, int timeout_ms)
{
    while (c->rlen - c->rpos < need) {
        if (c->rpos == c->rlen) {
            c->rpos = c->rlen = 0;
        } else if (c->rcap - c->rpos < need) {
            memmove(c->rbuf, c->rbuf + c->rpos, c->rlen - c->rpos);
            c->rlen -= c->rpos;
            c->rpos = 0;
        }
        size_t got;
        int rc = do_io(c, c->raio, 0, c->rbuf + c->rlen, c->rcap - c->rlen, timeout_ms, &got);
        if (rc)
            return rc;
        c->rlen += got;
    }
    return 0;
}

/* Sealed: read records into the receive buffer, open each from there
 * straight into the destination when it takes the whole record (no copy of
 * the ciphertext), else into the seal's buffer; hand out plaintext. */
static int sealed_read(pdi_conn *c, uint8_t *d, size_t n, int timeout_ms)
{
    pdi_seal *s = c->seal;
    if (n >= BIG_READ && c->rcap < RBUF_BIG) {
        uint8_t *nb = realloc(c->rbuf, RBUF_BIG); /* keeps the unread bytes */
        if (nb) {
            c->rbuf = nb;
            c->rcap = RBUF_BIG;
        } /* else: the small buffer works too, only slower */
    }
    while (n > 0) {
        if (s->ppos < s->plen) {
            size_t k = s->plen - s->ppos;
            if (k > n)
                k = n;
            memcpy(d, s->pbuf + s->ppos, k);
            s->ppos += k;
            d += k;
            n -= k;
            continue;
        }
        uint8_t hdr[PDI_SEAL_HDR];
        int rc = raw_fill(c, sizeof hdr, timeout_ms);
        if (rc)
            return rc;
        memcpy(hdr, c->rbuf + c->rpos, sizeof hdr);
        size_t len = pdi_seal_hdr_len(hdr);
        if (len == 0)
            return pdi_err(PYDRON_EPROTO, "bad record length from %s: link dropped", c->peer);
        c->rpos += sizeof hdr;
        if ((rc = raw_fill(c, len + PDI_SEAL_TAG, timeout_ms)) != 0)
            return rc;
        const uint8_t *ct = c->rbuf + c->rpos;
        uint8_t *into = len <= n ? d : s->pbuf;
        rc = pdi_seal_open_to(s, hdr, ct, len, ct + len, into, c->peer);
        c->rpos += len + PDI_SEAL_TAG;
        if (rc)
            return rc;
        if (into == d) {
            d += len;
            n -= len;
        } else {
            s->ppos = 0;
            s->plen = len;
        }
    }
    return 0;
}

static int read_exact(pdi_conn *c, void *dst, size_t n, int timeout_ms)
{
    if (c->seal)
        return sealed_read(c, dst, n, timeout_ms);
    int rc = raw_read_exact(c, dst, n, timeout_ms);
    if (rc == 0 && c->ts)
        crypto_generichash_update(c->ts, dst, n);
    return rc;
}

/* Caller holds wlock (the seal's record buffer is the writers'). */
static int write_all(pdi_conn *c, const void *src, size_t n, uint64_t deadline_ns)
{
    if (!c->seal) {
        if (c->ts)
            crypto_generichash_update(c->ts, src, n);
        return raw_write_all(c, src, n, deadline_ns);
    }
    const uint8_t *p = src;
    uint8_t *batch = NULL;
    size_t bcap = 0;
    if (n > PDI_SEAL_REC_MAX) {
        /* many records: seal a run of them into one buffer, one write each */
        size_t nrec = (n + PDI_SEAL_REC_MAX - 1) / PDI_SEAL_REC_MAX;
        if (nrec > WBATCH)
            nrec = WBATCH;
        bcap = nrec * (PDI_SEAL_HDR + PDI_SEAL_REC_MAX + PDI_SEAL_TAG);
        batch = malloc(bcap); /* NULL: one record at a time below */
    }
    int rc = 0;
    while (n > 0 && rc == 0) {
        const uint8_t *out = c->seal->tbuf;
        size_t used = 0;
        if (batch) {
            while (n > 0 && bcap - used >= PDI_SEAL_HDR + PDI_SEAL_REC_MAX + PDI_SEAL_TAG) {
                size_t k = n < PDI_SEAL_REC_MAX ? n : PDI_SEAL_REC_MAX;
                used += pdi_seal_record_to(c->seal, batch + used, p, k);
                p += k;
                n -= k;
            }
            out = batch;
        } else {
            size_t k = n < PDI_SEAL_REC_MAX ? n : PDI_SEAL_REC_MAX;
            used = pdi_seal_record(c->seal, p, k);
            p += k;
            n -= k;
        }
        rc = raw_write_all(c, out, used, deadline_ns);
    }
    free(batch);
    return rc;
}

int pdi_conn_transcript_start(pdi_conn *c)
{
    if (!pdi_sodium_ready())
        return pdi_err(PYDRON_EIO, "libsodium cannot start (no entropy?)");
    if (!c->ts && !(c->ts = aligned_alloc(64, (sizeof *c->ts + 63) / 64 * 64)))
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    crypto_generichash_init(c->ts, NULL, 0, PDI_KDF_LEN);
    return 0;
}

void pdi_conn_transcript(pdi_conn *c, uint8_t out[32])
{
    crypto_generichash_state st = *c->ts;
    crypto_generichash_final(&st, out, PDI_KDF_LEN);
}

int pdi_conn_seal(pdi_conn *c, const uint8_t tx[32], const uint8_t rx[32])
{
    pdi_seal *s = pdi_seal_new(tx, rx);
    if (!s)
        return pdi_err(PYDRON_ENOMEM, "out of memory for the record layer");
    pthread_mutex_lock(&c->wlock);
    c->seal = s;
    pthread_mutex_unlock(&c->wlock);
    free(c->ts);
    c->ts = NULL;
    return 0;
}

int pdi_conn_sealed(pdi_conn *c) { return c->seal != NULL; }

/* The handshake's watchdog. nng 1.5's TLS stream cancels a receive at the
 * head of its queue (its timeout, nng_aio_abort) by aborting the TCP
 * receive under it; with none in flight, the receive never completes and
 * nng_aio_wait never returns. Seen: a listener lingering after it refused
 * a wrong secret, waiting for the dialer's close (test_wire, about 1 run in
 * 10-300 of 40 refusals each). So while a deadline is set, a timer closes
 * the stream WD_GRACE_MS after it, which fails every operation: a
 * handshake never waits much past its deadline, whatever the stream does.
 * (A handshake that ends after its deadline has failed anyway: do_io lets
 * no operation start past it.) */
#define WD_GRACE_MS 2000

static void wd_fire(void *arg)
{
    pdi_conn *c = arg;
    if (nng_aio_result(c->wd) == 0)   /* slept to the end, not stopped */
        pdi_conn_close(c);
}

static void wd_disarm(pdi_conn *c)
{
    if (c->wd) {
        nng_aio_stop(c->wd);   /* waits for wd_fire if it runs */
        nng_aio_free(c->wd);
        c->wd = NULL;
    }
}

void pdi_conn_set_deadline(pdi_conn *c, uint64_t deadline_ns)
{
    wd_disarm(c);
    c->deadline_ns = deadline_ns;
    /* no memory for the timer: the stream's own timeouts, as before */
    if (deadline_ns && nng_aio_alloc(&c->wd, wd_fire, c) == 0)
        nng_sleep_aio(pdi_ms_left(deadline_ns) + WD_GRACE_MS, c->wd);
}

int pdi_conn_recv(pdi_conn *c, const pdi_wire_limits *lim, int timeout_ms, pdi_frame *out)
{
    uint8_t pre[PDI_WIRE_PREFIX];
    uint32_t hlen = 0;
    uint64_t plen = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = read_exact(c, pre, sizeof pre, timeout_ms)) != 0)
        return rc;
    if ((rc = pdi_wire_parse_prefix(pre, sizeof pre, lim, &hlen, &plen)) != 0)
        return rc;
    uint8_t *h = malloc(hlen);
    if (!h)
        return pdi_err(PYDRON_ENOMEM, "out of memory for a %u-byte header", hlen);
    if ((rc = read_exact(c, h, hlen, timeout_ms)) != 0) {
        free(h);
        return rc;
    }
    rc = pdi_wire_parse_header(h, hlen, plen, lim, &out->hdr);
    free(h);
    if (rc)
        return rc;
    /* each segment's buffer is made when its bytes are due, not all up
     * front from what the header announces */
    if ((rc = pdi_frame_alloc_seg_table(out)) != 0) {
        pdi_frame_free(out);
        return rc;
    }
    for (size_t i = 0; i < out->nseg; i++) {
        if (out->seglen[i] && ((rc = pdi_frame_alloc_seg(out, i)) != 0 ||
                               (rc = read_exact(c, out->seg[i], out->seglen[i], timeout_ms)) != 0)) {
            pdi_frame_free(out);
            return rc;
        }
    }
    return 0;
}

int pdi_conn_send(pdi_conn *c, Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs)
{
    return pdi_conn_send_timeout(c, hdr, segs, nsegs, -1);
}

int pdi_conn_send_timeout(pdi_conn *c, Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs,
                          int timeout_ms)
{
    uint64_t deadline = timeout_ms < 0 ? 0 : pdi_now_ns() + (uint64_t)timeout_ms * 1000000u + 1;
    uint64_t stack[16];
    uint64_t *lens = nsegs <= 16 ? stack : malloc(nsegs * sizeof *lens);
    if (!lens)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    uint64_t plen = 0;
    size_t small = 0;
    for (size_t i = 0; i < nsegs; i++) {
        lens[i] = segs[i].len;
        plen += segs[i].len;
        if (segs[i].len < COPY_MAX)
            small += segs[i].len;
    }
    size_t save_n = hdr->n_segments;
    uint64_t *save = hdr->segments;
    hdr->n_segments = nsegs;
    hdr->segments = lens;
    size_t hlen = pydron__frame__get_packed_size(hdr);
    size_t cap = PDI_WIRE_PREFIX + hlen + small;
    uint8_t *buf = malloc(cap);
    int rc = 0;
    if (!buf) {
        rc = pdi_err(PYDRON_ENOMEM, "out of memory for a frame");
        goto out;
    }
    pdi_wire_put_prefix(buf, (uint32_t)hlen, plen);
    pydron__frame__pack(hdr, buf + PDI_WIRE_PREFIX);
    size_t blen = PDI_WIRE_PREFIX + hlen;
    if (deadline) {
        /* another sender may be stuck on a peer that does not read */
        struct timespec ts = pdi_abstime_after(CLOCK_REALTIME, (uint64_t)timeout_ms * 1000000u);
        if (pthread_mutex_timedlock(&c->wlock, &ts) != 0) {
            rc = pdi_err(PYDRON_ETIMEDOUT, "send: connection busy");
            free(buf);
            goto out;
        }
    } else {
        pthread_mutex_lock(&c->wlock);
    }
    for (size_t i = 0; i < nsegs && rc == 0; i++) {
        if (segs[i].len < COPY_MAX) {
            if (segs[i].len)
                memcpy(buf + blen, segs[i].data, segs[i].len);
            blen += segs[i].len;
        } else {
            rc = write_all(c, buf, blen, deadline);
            blen = 0;
            if (rc == 0)
                rc = write_all(c, segs[i].data, segs[i].len, deadline);
        }
    }
    if (rc == 0 && blen)
        rc = write_all(c, buf, blen, deadline);
    pthread_mutex_unlock(&c->wlock);
    free(buf);
out:
    hdr->n_segments = save_n;
    hdr->segments = save;
    if (lens != stack)
        free(lens);
    return rc;
}

int pdi_conn_send_raw(pdi_conn *c, const void *data, size_t len)
{
    pthread_mutex_lock(&c->wlock);
    int rc = write_all(c, data, len, 0);
    pthread_mutex_unlock(&c->wlock);
    return rc;
}

void pdi_conn_linger(pdi_conn *c, int timeout_ms)
{
    if (!c || !c->s || !c->raio || timeout_ms <= 0)
        return;
    char msg[1024];
    unsigned char was_set = pdi_err_set;
    snprintf(msg, sizeof msg, "%s", pydron_error_last());
    uint64_t deadline = pdi_now_ns() + (uint64_t)timeout_ms * 1000000u;
    uint8_t junk[512];
    size_t got;
    int ms;
    /* the handshake's deadline bounds this too (do_io) */
    while ((ms = pdi_ms_left(deadline)) > 0 &&
           do_io(c, c->raio, 0, junk, sizeof junk, ms, &got) == 0)
        ;
    if (was_set)
        pdi_err(0, "%s", msg);
    else
        pdi_err_clear();
}

void pdi_conn_close(pdi_conn *c)
{
    if (!c)
        return;
    /* after this no operation starts; the ones already started are queued
     * in the stream, which fails them as it closes */
    pthread_mutex_lock(&c->iolock);
    atomic_store(&c->closed, 1);
    pthread_mutex_unlock(&c->iolock);
    if (c->s)
        nng_stream_close(c->s);
    if (c->raio)
        nng_aio_abort(c->raio, NNG_ECLOSED);
    if (c->waio)
        nng_aio_abort(c->waio, NNG_ECLOSED);
}

void pdi_conn_free(pdi_conn *c)
{
    if (!c)
        return;
    wd_disarm(c);
    if (c->s) {
        nng_stream_close(c->s);
    }
    if (c->raio)
        nng_aio_free(c->raio);
    if (c->waio)
        nng_aio_free(c->waio);
    if (c->s)
        nng_stream_free(c->s);
    if (c->have_locks) {
        pthread_mutex_destroy(&c->wlock);
        pthread_mutex_destroy(&c->iolock);
    }
    free(c->rbuf);
    pdi_seal_free(c->seal);
    free(c->ts);
    free(c);
}
