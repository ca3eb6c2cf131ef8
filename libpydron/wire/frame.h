/* frame.h - the frame codec (wire/frame.c): a frame is [20-byte
 * prefix][protobuf Frame header][raw payload segments] (docs/wire.md).
 * Pure: no I/O. Nothing here is exported. */
#ifndef PDI_WIRE_FRAME_H
#define PDI_WIRE_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "pydron.h"
#include "pydron.pb-c.h"

#define PDI_WIRE_MAGIC0 'P'
#define PDI_WIRE_MAGIC1 'D'
#define PDI_WIRE_MAGIC2 'R'
#define PDI_WIRE_MAGIC3 'N'
#define PDI_WIRE_VERSION 1u
#define PDI_WIRE_PREFIX 20u
#define PDI_NONCE_LEN 32u

typedef struct pdi_wire_limits {
    uint32_t max_header;    /* protobuf header bytes */
    uint64_t max_payload;   /* sum of raw segments */
    uint32_t max_segments;
} pdi_wire_limits;

/* Before authentication: handshake frames only, no payload. */
extern const pdi_wire_limits pdi_wire_limits_handshake;
/* After authentication: large values allowed (PYDRON_MAX_PAYLOAD env, bytes). */
const pdi_wire_limits *pdi_wire_limits_session(void);

/* A received frame. Segments are separate malloc'd buffers so that each can be
 * handed over (pdi_frame_take) to become a value without copying. */
typedef struct pdi_frame {
    Pydron__Frame *hdr;
    size_t nseg;
    uint8_t **seg;
    size_t *seglen;
} pdi_frame;

void pdi_frame_free(pdi_frame *f);
/* Take ownership of segment i (NULL for an empty one); free it with free(). */
void *pdi_frame_take(pdi_frame *f, size_t i, size_t *len);
/* Borrowed view of segment idx, checked: PYDRON_EPROTO if out of range. */
int pdi_frame_seg(const pdi_frame *f, int64_t idx, const void **data, size_t *len);
/* Name of the frame's body type ("hello", "tasks", ...). */
const char *pdi_frame_type_name(const Pydron__Frame *hdr);

/* Parsing, shared by the stream reader, the tests and the fuzzer. Each
 * returns 0 or PYDRON_EPROTO with a pydron_error_last() message. */
int pdi_wire_parse_prefix(const uint8_t *p, size_t len, const pdi_wire_limits *lim,
                          uint32_t *hlen, uint64_t *plen);
int pdi_wire_parse_header(const uint8_t *buf, size_t hlen, uint64_t plen,
                          const pdi_wire_limits *lim, Pydron__Frame **out);
/* Decode a whole frame held in memory (segments are copied). */
int pdi_wire_decode(const void *buf, size_t len, const pdi_wire_limits *lim, pdi_frame *out);

typedef struct pdi_seg {
    const void *data;
    size_t len;
} pdi_seg;

/* Encode a frame into one malloc'd buffer (tests, small frames). hdr's
 * segments field is filled from segs. */
int pdi_wire_encode(Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs, uint8_t **out,
                    size_t *len);

/* Inside wire/: allocate the segment buffers the header announces; fill the
 * prefix for a header of hlen bytes and a payload of plen bytes. */
int pdi_frame_alloc_segs(pdi_frame *f);
/* For streams, where the payload has not arrived yet: the segment table
 * only (lengths set, buffers NULL), then each buffer just before its bytes
 * are read, so that a header announcing many large segments costs memory
 * only as their bytes come in. */
int pdi_frame_alloc_seg_table(pdi_frame *f);
int pdi_frame_alloc_seg(pdi_frame *f, size_t i);
void pdi_wire_put_prefix(uint8_t *p, uint32_t hlen, uint64_t plen);

#endif
