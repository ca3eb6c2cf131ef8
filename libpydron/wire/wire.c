/* wire.c - frame encoding/decoding and blocking I/O over nng streams. */
#include "wire/wire.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "util/util.h"

/* Handshake frames are tiny; a peer that has not authenticated cannot make
 * us allocate more than this. */
const pdi_wire_limits pdi_wire_limits_handshake = {64u * 1024u, 0, 0};

static pdi_wire_limits session_limits;
static pthread_once_t session_once = PTHREAD_ONCE_INIT;

static void session_init(void)
{
    /* Large values are the point: 1 TiB by default (allocation failure of an
     * absurd size is reported as an error, not a crash). Header: task
     * batches of thousands of tasks fit easily in 64 MiB. */
    session_limits.max_header = 64u * 1024u * 1024u;
    session_limits.max_payload = (uint64_t)1 << 40;
    session_limits.max_segments = 1u << 20;
    const char *e = getenv("PYDRON_MAX_PAYLOAD");
    if (e && *e) {
        char *end;
        unsigned long long v = strtoull(e, &end, 10);
        if (*end == 0)
            session_limits.max_payload = v;
    }
}

const pdi_wire_limits *pdi_wire_limits_session(void)
{
    pthread_once(&session_once, session_init);
    return &session_limits;
}

/* ------------------------------------------------------------------ log */

static void vlog(const char *who, const char *fmt, va_list ap)
{
    char line[1024];
    int n = snprintf(line, sizeof line, "pydron[%d] %s: ", (int)getpid(), who);
    if (n < 0 || (size_t)n >= sizeof line)
        n = 0;
    vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
    size_t l = strlen(line);
    line[l] = '\n';
    /* one write() so that lines of different processes do not interleave */
    ssize_t w = write(2, line, l + 1);
    (void)w;
}

void pdi_log(const char *who, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vlog(who, fmt, ap);
    va_end(ap);
}

void pdi_debug(const char *who, const char *fmt, ...)
{
    static int on = -1;
    if (on < 0) {
        const char *e = getenv("PYDRON_DEBUG");
        on = (e && *e && strcmp(e, "0") != 0) ? 1 : 0;
    }
    if (!on)
        return;
    va_list ap;
    va_start(ap, fmt);
    vlog(who, fmt, ap);
    va_end(ap);
}

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
                       "for this host name?",
                       what, nng_strerror(nrv));
    default:
        rc = PYDRON_EIO;
    }
    return pdi_err(rc, "%s: %s", what, nng_strerror(nrv));
}

/* --------------------------------------------------------------- frames */

static uint32_t rd32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
    p[2] = (uint8_t)(v >> 16);
    p[3] = (uint8_t)(v >> 24);
}
static void wr64(uint8_t *p, uint64_t v)
{
    wr32(p, (uint32_t)v);
    wr32(p + 4, (uint32_t)(v >> 32));
}

int pdi_wire_parse_prefix(const uint8_t *p, size_t len, const pdi_wire_limits *lim,
                          uint32_t *hlen, uint64_t *plen)
{
    if (len < PDI_WIRE_PREFIX)
        return pdi_err(PYDRON_EPROTO, "truncated frame: %zu of %u prefix bytes", len,
                       PDI_WIRE_PREFIX);
    if (p[0] != PDI_WIRE_MAGIC0 || p[1] != PDI_WIRE_MAGIC1 || p[2] != PDI_WIRE_MAGIC2 ||
        p[3] != PDI_WIRE_MAGIC3)
        return pdi_err(PYDRON_EPROTO, "bad magic %02x%02x%02x%02x (not a pydron peer?)", p[0],
                       p[1], p[2], p[3]);
    unsigned version = (unsigned)p[4] | (unsigned)p[5] << 8;
    if (version != PDI_WIRE_VERSION)
        return pdi_err(PYDRON_EPROTO, "protocol version %u, this build speaks %u", version,
                       PDI_WIRE_VERSION);
    unsigned flags = (unsigned)p[6] | (unsigned)p[7] << 8;
    if (flags != 0)
        return pdi_err(PYDRON_EPROTO, "unknown frame flags 0x%x", flags);
    uint32_t h = rd32(p + 8);
    uint64_t pl = rd64(p + 12);
    if (h == 0)
        return pdi_err(PYDRON_EPROTO, "empty frame header");
    if (h > lim->max_header)
        return pdi_err(PYDRON_EPROTO, "frame header of %u bytes exceeds the limit of %u", h,
                       lim->max_header);
    if (pl > lim->max_payload)
        return pdi_err(PYDRON_EPROTO,
                       "frame payload of %llu bytes exceeds the limit of %llu",
                       (unsigned long long)pl, (unsigned long long)lim->max_payload);
    *hlen = h;
    *plen = pl;
    return 0;
}

int pdi_wire_parse_header(const uint8_t *buf, size_t hlen, uint64_t plen,
                          const pdi_wire_limits *lim, Pydron__Frame **out)
{
    *out = NULL;
    Pydron__Frame *f = pydron__frame__unpack(NULL, hlen, buf);
    if (!f)
        return pdi_err(PYDRON_EPROTO, "malformed frame header (%zu bytes of protobuf)", hlen);
    if (f->body_case == PYDRON__FRAME__BODY__NOT_SET) {
        pydron__frame__free_unpacked(f, NULL);
        return pdi_err(PYDRON_EPROTO, "unknown or missing message type in frame");
    }
    if (f->n_segments > lim->max_segments) {
        size_t n = f->n_segments;
        pydron__frame__free_unpacked(f, NULL);
        return pdi_err(PYDRON_EPROTO, "frame has %zu payload segments, limit %u", n,
                       lim->max_segments);
    }
    uint64_t sum = 0;
    for (size_t i = 0; i < f->n_segments; i++) {
        if (f->segments[i] > plen || sum + f->segments[i] > plen) {
            pydron__frame__free_unpacked(f, NULL);
            return pdi_err(PYDRON_EPROTO,
                           "segment lengths exceed the frame payload of %llu bytes",
                           (unsigned long long)plen);
        }
        sum += f->segments[i];
    }
    if (sum != plen) {
        pydron__frame__free_unpacked(f, NULL);
        return pdi_err(PYDRON_EPROTO, "segments add up to %llu bytes, frame payload is %llu",
                       (unsigned long long)sum, (unsigned long long)plen);
    }
    *out = f;
    return 0;
}

void pdi_frame_free(pdi_frame *f)
{
    if (!f)
        return;
    if (f->hdr)
        pydron__frame__free_unpacked(f->hdr, NULL);
    for (size_t i = 0; i < f->nseg; i++)
        free(f->seg[i]);
    free(f->seg);
    free(f->seglen);
    memset(f, 0, sizeof *f);
}

void *pdi_frame_take(pdi_frame *f, size_t i, size_t *len)
{
    if (i >= f->nseg) {
        if (len)
            *len = 0;
        return NULL;
    }
    void *p = f->seg[i];
    if (len)
        *len = f->seglen[i];
    f->seg[i] = NULL;
    return p;
}

int pdi_frame_seg(const pdi_frame *f, int64_t idx, const void **data, size_t *len)
{
    if (idx < 0 || (uint64_t)idx >= f->nseg)
        return pdi_err(PYDRON_EPROTO, "%s frame refers to segment %lld of %zu",
                       pdi_frame_type_name(f->hdr), (long long)idx, f->nseg);
    *data = f->seg[idx];
    *len = f->seglen[idx];
    return 0;
}

const char *pdi_frame_type_name(const Pydron__Frame *hdr)
{
    if (!hdr)
        return "?";
    switch (hdr->body_case) {
    case PYDRON__FRAME__BODY_HELLO: return "hello";
    case PYDRON__FRAME__BODY_CHALLENGE: return "challenge";
    case PYDRON__FRAME__BODY_AUTH: return "auth";
    case PYDRON__FRAME__BODY_WELCOME: return "welcome";
    case PYDRON__FRAME__BODY_PEER_UPDATE: return "peer_update";
    case PYDRON__FRAME__BODY_TASKS: return "tasks";
    case PYDRON__FRAME__BODY_COMPLETIONS: return "completions";
    case PYDRON__FRAME__BODY_FETCH: return "fetch";
    case PYDRON__FRAME__BODY_FETCH_REPLY: return "fetch_reply";
    case PYDRON__FRAME__BODY_RELEASE: return "release";
    case PYDRON__FRAME__BODY_HEARTBEAT: return "heartbeat";
    case PYDRON__FRAME__BODY_SHUTDOWN: return "shutdown";
    case PYDRON__FRAME__BODY_REFUSED: return "refused";
    case PYDRON__FRAME__BODY_RECALL: return "recall";
    default: return "unknown";
    }
}

static int frame_alloc_segs(pdi_frame *f)
{
    size_t n = f->hdr->n_segments;
    f->nseg = 0;
    if (n == 0)
        return 0;
    f->seg = calloc(n, sizeof *f->seg);
    f->seglen = calloc(n, sizeof *f->seglen);
    if (!f->seg || !f->seglen)
        return pdi_err(PYDRON_ENOMEM, "out of memory for %zu frame segments", n);
    for (size_t i = 0; i < n; i++) {
        uint64_t l = f->hdr->segments[i];
        if (l > SIZE_MAX)
            return pdi_err(PYDRON_ENOMEM, "segment of %llu bytes", (unsigned long long)l);
        f->seglen[i] = (size_t)l;
        if (l) {
            f->seg[i] = malloc((size_t)l);
            if (!f->seg[i]) {
                f->nseg = i;
                return pdi_err(PYDRON_ENOMEM, "cannot allocate a %llu-byte segment",
                               (unsigned long long)l);
            }
        }
        f->nseg = i + 1;
    }
    return 0;
}

int pdi_wire_decode(const void *buf, size_t len, const pdi_wire_limits *lim, pdi_frame *out)
{
    const uint8_t *p = buf;
    uint32_t hlen = 0;
    uint64_t plen = 0;
    int rc;
    memset(out, 0, sizeof *out);
    if ((rc = pdi_wire_parse_prefix(p, len, lim, &hlen, &plen)) != 0)
        return rc;
    if (len - PDI_WIRE_PREFIX < hlen)
        return pdi_err(PYDRON_EPROTO, "truncated frame: header needs %u bytes, %zu left", hlen,
                       len - PDI_WIRE_PREFIX);
    size_t rest = len - PDI_WIRE_PREFIX - hlen;
    if (rest != plen)
        return pdi_err(PYDRON_EPROTO, "%s frame: payload is %zu bytes, prefix says %llu",
                       rest < plen ? "truncated" : "oversized", rest, (unsigned long long)plen);
    if ((rc = pdi_wire_parse_header(p + PDI_WIRE_PREFIX, hlen, plen, lim, &out->hdr)) != 0)
        return rc;
    if ((rc = frame_alloc_segs(out)) != 0) {
        pdi_frame_free(out);
        return rc;
    }
    const uint8_t *q = p + PDI_WIRE_PREFIX + hlen;
    for (size_t i = 0; i < out->nseg; i++) {
        if (out->seglen[i])
            memcpy(out->seg[i], q, out->seglen[i]);
        q += out->seglen[i];
    }
    return 0;
}

/* Fill the prefix for a header of hlen bytes and a payload of plen bytes. */
static void put_prefix(uint8_t *p, uint32_t hlen, uint64_t plen)
{
    p[0] = PDI_WIRE_MAGIC0;
    p[1] = PDI_WIRE_MAGIC1;
    p[2] = PDI_WIRE_MAGIC2;
    p[3] = PDI_WIRE_MAGIC3;
    p[4] = (uint8_t)PDI_WIRE_VERSION;
    p[5] = (uint8_t)(PDI_WIRE_VERSION >> 8);
    p[6] = p[7] = 0;
    wr32(p + 8, hlen);
    wr64(p + 12, plen);
}

int pdi_wire_encode(Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs, uint8_t **out,
                    size_t *len)
{
    uint64_t stack[16];
    uint64_t *lens = nsegs <= 16 ? stack : malloc(nsegs * sizeof *lens);
    if (!lens)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    uint64_t plen = 0;
    for (size_t i = 0; i < nsegs; i++) {
        lens[i] = segs[i].len;
        plen += segs[i].len;
    }
    size_t save_n = hdr->n_segments;
    uint64_t *save = hdr->segments;
    hdr->n_segments = nsegs;
    hdr->segments = lens;
    size_t hlen = pydron__frame__get_packed_size(hdr);
    size_t total = PDI_WIRE_PREFIX + hlen + (size_t)plen;
    uint8_t *buf = malloc(total ? total : 1);
    if (buf) {
        put_prefix(buf, (uint32_t)hlen, plen);
        pydron__frame__pack(hdr, buf + PDI_WIRE_PREFIX);
        uint8_t *q = buf + PDI_WIRE_PREFIX + hlen;
        for (size_t i = 0; i < nsegs; i++) {
            if (segs[i].len)
                memcpy(q, segs[i].data, segs[i].len);
            q += segs[i].len;
        }
    }
    hdr->n_segments = save_n;
    hdr->segments = save;
    if (lens != stack)
        free(lens);
    if (!buf)
        return pdi_err(PYDRON_ENOMEM, "out of memory for a %zu-byte frame", total);
    *out = buf;
    *len = total;
    return 0;
}

/* ---------------------------------------------------------- connections */

#define RBUF_SIZE (64u * 1024u)
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
    size_t rpos, rlen;
    atomic_int closed;
    char peer[96];
};

static int conn_wrap(nng_stream *s, pdi_conn **out)
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

static int tls_config(nng_tls_mode mode, const char *cert, const char *key, const char *ca,
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
        /* Without a CA the HMAC handshake still authenticates both sides;
         * TLS then gives confidentiality. */
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
        int rc = tls_config(NNG_TLS_MODE_CLIENT, NULL, NULL, tls_ca_file, host, &cfg);
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
    return conn_wrap(s, out);
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

static int read_exact(pdi_conn *c, void *dst, size_t n, int timeout_ms)
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
        if (n >= RBUF_SIZE) {
            /* large: straight into the destination, no staging copy */
            if ((rc = do_io(c, c->raio, 0, d, n, timeout_ms, &got)) != 0)
                return rc;
            d += got;
            n -= got;
        } else {
            if ((rc = do_io(c, c->raio, 0, c->rbuf, RBUF_SIZE, timeout_ms, &got)) != 0)
                return rc;
            c->rpos = 0;
            c->rlen = got;
        }
    }
    return 0;
}

/* Milliseconds left until deadline_ns (0: none, -1 returned = forever). */
static int ms_left(uint64_t deadline_ns)
{
    if (!deadline_ns)
        return -1;
    uint64_t now = pdi_now_ns();
    return now >= deadline_ns ? 0 : (int)((deadline_ns - now + 999999u) / 1000000u);
}

static int write_all(pdi_conn *c, const void *src, size_t n, uint64_t deadline_ns)
{
    const uint8_t *p = src;
    while (n > 0) {
        size_t put;
        int ms = ms_left(deadline_ns);
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
    if ((rc = frame_alloc_segs(out)) != 0) {
        pdi_frame_free(out);
        return rc;
    }
    for (size_t i = 0; i < out->nseg; i++) {
        if (out->seglen[i] && (rc = read_exact(c, out->seg[i], out->seglen[i], timeout_ms)) != 0) {
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
    put_prefix(buf, (uint32_t)hlen, plen);
    pydron__frame__pack(hdr, buf + PDI_WIRE_PREFIX);
    size_t blen = PDI_WIRE_PREFIX + hlen;
    if (deadline) {
        /* another sender may be stuck on a peer that does not read */
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        uint64_t ns = (uint64_t)ts.tv_nsec + (uint64_t)timeout_ms * 1000000u;
        ts.tv_sec += (time_t)(ns / 1000000000u);
        ts.tv_nsec = (long)(ns % 1000000000u);
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
    free(c);
}

/* ------------------------------------------------------------ listeners */

struct pdi_listener {
    nng_stream_listener *l;
    nng_aio *aio;
    pthread_mutex_t lock; /* accept start vs close, as for connections */
    int closed;
    char url[512];
};

int pdi_listener_open(const char *url, const char *cert_file, const char *key_file,
                      pdi_listener **out)
{
    pdi_listener *l = calloc(1, sizeof *l);
    if (!l)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    pthread_mutex_init(&l->lock, NULL);
    int nrv = nng_stream_listener_alloc(&l->l, url);
    if (nrv) {
        pthread_mutex_destroy(&l->lock);
        free(l);
        return pdi_nng_err(nrv, url);
    }
    int tls = strncmp(url, "tls+", 4) == 0;
    if (tls) {
        if (!cert_file || !key_file) {
            pdi_listener_free(l);
            return pdi_err(PYDRON_EINVAL, "%s needs a TLS certificate and key file", url);
        }
        nng_tls_config *cfg;
        int rc = tls_config(NNG_TLS_MODE_SERVER, cert_file, key_file, NULL, NULL, &cfg);
        if (rc) {
            pdi_listener_free(l);
            return rc;
        }
        nrv = nng_stream_listener_set_ptr(l->l, NNG_OPT_TLS_CONFIG, cfg);
        nng_tls_config_free(cfg);
        if (nrv) {
            pdi_listener_free(l);
            return pdi_nng_err(nrv, "TLS listener");
        }
    }
    if (strncmp(url, "ipc://", 6) == 0)
        (void)nng_stream_listener_set_int(l->l, NNG_OPT_IPC_PERMISSIONS, 0600);
    if ((nrv = nng_stream_listener_listen(l->l)) != 0) {
        pdi_listener_free(l);
        return pdi_nng_err(nrv, url);
    }
    if ((nrv = nng_aio_alloc(&l->aio, NULL, NULL)) != 0) {
        pdi_listener_free(l);
        return pdi_nng_err(nrv, "aio");
    }
    snprintf(l->url, sizeof l->url, "%s", url);
    int port;
    if (nng_stream_listener_get_int(l->l, NNG_OPT_TCP_BOUND_PORT, &port) == 0) {
        /* replace the port (":0") by the bound one */
        const char *hs = strstr(url, "://");
        const char *colon = hs ? strrchr(hs + 3, ':') : NULL;
        if (colon)
            snprintf(l->url, sizeof l->url, "%.*s:%d", (int)(colon - url), url, port);
    }
    *out = l;
    return 0;
}

const char *pdi_listener_url(pdi_listener *l) { return l->url; }

int pdi_listener_accept(pdi_listener *l, pdi_conn **out)
{
    pthread_mutex_lock(&l->lock);
    if (l->closed) {
        pthread_mutex_unlock(&l->lock);
        return pdi_err(PYDRON_ECLOSED, "accept: listener closed");
    }
    nng_stream_listener_accept(l->l, l->aio);
    pthread_mutex_unlock(&l->lock);
    nng_aio_wait(l->aio);
    int nrv = nng_aio_result(l->aio);
    if (nrv)
        return pdi_nng_err(nrv, "accept");
    return conn_wrap(nng_aio_get_output(l->aio, 0), out);
}

void pdi_listener_close(pdi_listener *l)
{
    if (!l)
        return;
    pthread_mutex_lock(&l->lock);
    l->closed = 1;
    pthread_mutex_unlock(&l->lock);
    if (l->aio)
        nng_aio_abort(l->aio, NNG_ECLOSED);
    if (l->l)
        nng_stream_listener_close(l->l);
}

void pdi_listener_free(pdi_listener *l)
{
    if (!l)
        return;
    if (l->l)
        nng_stream_listener_close(l->l);
    if (l->aio)
        nng_aio_free(l->aio);
    if (l->l)
        nng_stream_listener_free(l->l);
    pthread_mutex_destroy(&l->lock);
    free(l);
}
