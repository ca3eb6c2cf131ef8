/* frame.c - the frame codec: prefix and header parsing with limits,
 * decoding a frame held in memory, encoding. Pure (no I/O, no nng): the
 * fuzzer (tests/fuzz/fuzz_wire.c) drives it, connections (wire/conn.c) use
 * it on streams. */
#include "wire/frame.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

/* Handshake frames are tiny; a peer that has not authenticated cannot make
 * us allocate more than this. */
/* 16 KiB: a Hello with 256 runner kind names fits; no payload before the
 * proof. */
const pdi_wire_limits pdi_wire_limits_handshake = {16u * 1024u, 0, 0};

static pdi_wire_limits session_limits;
static pthread_once_t session_once = PTHREAD_ONCE_INIT;

static void session_init(void)
{
    /* Large values are the point: 1 TiB by default (allocation failure of an
     * absurd size is reported as an error, not a crash). Header: a batch
     * of 10,000 tasks takes about 1 MiB; 16 MiB unpack into at most
     * 16 x 16 MiB (see PDI_UNPACK_RATIO). */
    session_limits.max_header = 16u * 1024u * 1024u;
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

/* ------------------------------------------------- header memory bound
 *
 * protobuf-c turns every entry of a repeated message field into a struct
 * of its own: an empty entry is 2 bytes on the wire and 80-160 bytes
 * unpacked (an 8 MiB header of empty tasks cost 460 MB). So before
 * unpacking, the header's bytes are walked with the message descriptors
 * and what protobuf-c would allocate is added up (structs, pointer
 * arrays, strings, repeated scalars, unknown fields); a header that would
 * take more than PDI_UNPACK_RATIO times its size (legitimate frames take
 * 1-8 times) is refused before anything is allocated. The allocator given
 * to protobuf-c enforces the same budget, in case the walk underestimates. */
#define PDI_UNPACK_RATIO 16u
#define PDI_UNPACK_SLACK (64u * 1024u)
#define PDI_UNPACK_DEPTH 16

static int rd_varint(const uint8_t **p, const uint8_t *end, uint64_t *v)
{
    uint64_t x = 0;
    for (unsigned sh = 0; sh < 64 && *p < end; sh += 7) {
        uint8_t b = *(*p)++;
        x |= (uint64_t)(b & 0x7f) << sh;
        if (!(b & 0x80)) {
            *v = x;
            return 0;
        }
    }
    return -1;
}

static size_t scalar_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT32: case PROTOBUF_C_TYPE_SINT32: case PROTOBUF_C_TYPE_SFIXED32:
    case PROTOBUF_C_TYPE_UINT32: case PROTOBUF_C_TYPE_FIXED32: case PROTOBUF_C_TYPE_FLOAT:
    case PROTOBUF_C_TYPE_ENUM:
        return 4;
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    default:
        return 8;
    }
}

/* Upper estimate of what unpacking message `d` from [p, end) allocates,
 * added to *total; -1 if the bytes are not a valid encoding. */
static int predict(const ProtobufCMessageDescriptor *d, const uint8_t *p, const uint8_t *end,
                   int depth, uint64_t *total)
{
    if (depth > PDI_UNPACK_DEPTH)
        return -1;
    *total += d->sizeof_message;
    while (p < end) {
        uint64_t key, v;
        if (rd_varint(&p, end, &key) != 0 || (key >> 3) == 0 || (key >> 3) > 0x1fffffff)
            return -1;
        unsigned wt = (unsigned)(key & 7);
        const uint8_t *data = p;
        uint64_t len = 0;
        switch (wt) {
        case 0: if (rd_varint(&p, end, &v) != 0) return -1; break;
        case 1: if (end - p < 8) return -1; p += 8; break;
        case 5: if (end - p < 4) return -1; p += 4; break;
        case 2:
            if (rd_varint(&p, end, &len) != 0 || len > (uint64_t)(end - p))
                return -1;
            data = p;
            p += len;
            break;
        default: return -1; /* groups: not in our protocol */
        }
        const ProtobufCFieldDescriptor *fd =
            protobuf_c_message_descriptor_get_field(d, (unsigned)(key >> 3));
        if (!fd) {
            /* kept by protobuf-c as an unknown field, bytes copied */
            *total += sizeof(ProtobufCMessageUnknownField) + (uint64_t)(p - data) + 16;
            continue;
        }
        int rep = fd->label == PROTOBUF_C_LABEL_REPEATED;
        if (fd->type == PROTOBUF_C_TYPE_MESSAGE) {
            if (wt != 2)
                return -1;
            *total += rep ? sizeof(void *) : 0;
            if (predict(fd->descriptor, data, data + len, depth + 1, total) != 0)
                return -1;
        } else if (fd->type == PROTOBUF_C_TYPE_STRING || fd->type == PROTOBUF_C_TYPE_BYTES) {
            if (wt != 2)
                return -1;
            *total += len + 1 + (rep ? sizeof(ProtobufCBinaryData) : 0);
        } else if (rep && wt == 2) {
            /* packed: a varint element takes at least one byte on the wire */
            ProtobufCType t = fd->type;
            uint64_t n = t == PROTOBUF_C_TYPE_FIXED64 || t == PROTOBUF_C_TYPE_SFIXED64 ||
                                 t == PROTOBUF_C_TYPE_DOUBLE
                             ? len / 8
                         : t == PROTOBUF_C_TYPE_FIXED32 || t == PROTOBUF_C_TYPE_SFIXED32 ||
                                 t == PROTOBUF_C_TYPE_FLOAT
                             ? len / 4
                             : len;
            *total += n * scalar_size(t);
        } else {
            *total += rep ? scalar_size(fd->type) : 0;
        }
    }
    return 0;
}

typedef struct unpack_budget {
    uint64_t left;
} unpack_budget;

static void *budget_alloc(void *data, size_t n)
{
    unpack_budget *b = data;
    if (n > b->left)
        return NULL;
    b->left -= n;
    return malloc(n);
}

static void budget_free(void *data, void *ptr)
{
    (void)data;
    free(ptr); /* freed later with the default allocator too: plain malloc */
}

int pdi_wire_parse_header(const uint8_t *buf, size_t hlen, uint64_t plen,
                          const pdi_wire_limits *lim, Pydron__Frame **out)
{
    *out = NULL;
    uint64_t budget = (uint64_t)hlen * PDI_UNPACK_RATIO + PDI_UNPACK_SLACK, need = 0;
    if (predict(&pydron__frame__descriptor, buf, buf + hlen, 0, &need) != 0)
        return pdi_err(PYDRON_EPROTO, "malformed frame header (%zu bytes of protobuf)", hlen);
    if (need > budget)
        return pdi_err(PYDRON_EPROTO,
                       "frame header of %zu bytes would unpack into %llu bytes (limit %llu): "
                       "too many (empty?) entries",
                       hlen, (unsigned long long)need, (unsigned long long)budget);
    unpack_budget ub = {budget};
    ProtobufCAllocator al = {budget_alloc, budget_free, &ub};
    Pydron__Frame *f = pydron__frame__unpack(&al, hlen, buf);
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

int pdi_frame_alloc_seg_table(pdi_frame *f)
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
        if (f->hdr->segments[i] > SIZE_MAX)
            return pdi_err(PYDRON_ENOMEM, "segment of %llu bytes",
                           (unsigned long long)f->hdr->segments[i]);
        f->seglen[i] = (size_t)f->hdr->segments[i];
    }
    f->nseg = n; /* buffers NULL until pdi_frame_alloc_seg */
    return 0;
}

int pdi_frame_alloc_seg(pdi_frame *f, size_t i)
{
    if (i >= f->nseg)
        return pdi_err(PYDRON_EINVAL, "no segment %zu", i);
    if (f->seg[i] || !f->seglen[i])
        return 0;
    if (!(f->seg[i] = pdi_malloc_large(f->seglen[i])))
        return pdi_err(PYDRON_ENOMEM, "cannot allocate a %zu-byte segment", f->seglen[i]);
    return 0;
}

int pdi_frame_alloc_segs(pdi_frame *f)
{
    int rc = pdi_frame_alloc_seg_table(f);
    for (size_t i = 0; rc == 0 && i < f->nseg; i++)
        rc = pdi_frame_alloc_seg(f, i);
    return rc;
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
    if ((rc = pdi_frame_alloc_segs(out)) != 0) {
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
void pdi_wire_put_prefix(uint8_t *p, uint32_t hlen, uint64_t plen)
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
        pdi_wire_put_prefix(buf, (uint32_t)hlen, plen);
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
