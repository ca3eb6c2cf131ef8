/* fuzz_wire.c - libFuzzer target for the frame decoder, the handshake's
 * checks (frames under the pre-authentication limits, Hello bounds,
 * Challenge and Auth shapes), the sealed-record reader, shared memory
 * references (tickets) and the FFI payload parser; every message type is
 * walked. Seeds: tests/fuzz/corpus (tests/fuzz/make_corpus.py writes the
 * handshake, Welcome, Recall, Refused and shared memory ones). Build with -DPYDRON_FUZZ=ON -DCMAKE_C_COMPILER=clang; run e.g.
 *   build-fuzz/tests/fuzz/fuzz_wire -max_total_time=60 tests/fuzz/corpus
 * Every input must decode to a frame or fail with PYDRON_EPROTO/ENOMEM;
 * a decoded frame is walked completely (segment references checked). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"
#include "runner/ffi.h"
#include "store/shm.h"
#include "wire/frame.h"
#include "wire/seal.h"
#include "wire/shmref.h"
#include "wire/wire.h"

/* The handshake as a listener or dialer sees it before anyone is
 * authenticated: tiny limits, then the checks pdi_auth_* make. */
static void handshake(const uint8_t *data, size_t size)
{
    pdi_frame f;
    int rc = pdi_wire_decode(data, size, &pdi_wire_limits_handshake, &f);
    if (rc != 0) {
        if (rc != PYDRON_EPROTO && rc != PYDRON_ENOMEM)
            abort();
        return;
    }
    if (f.nseg != 0)
        abort(); /* no payload may pass before the proof */
    volatile size_t sink = 0;
    rc = pdi_auth_check_hello(f.hdr);
    if (rc == 0) {
        const Pydron__Hello *h = f.hdr->hello;
        if (h->n_kinds > PDI_HELLO_MAX_KINDS || h->nonce.len != PDI_NONCE_LEN)
            abort();
        for (size_t i = 0; i < h->n_kinds; i++)
            sink += strlen(h->kinds[i]);
        /* the previous worker's end goes into logs and errors: bounded text */
        size_t ne = strlen(h->previous_end);
        if (ne > PDI_HELLO_MAX_END || h->previous_pid < 0)
            abort();
        for (size_t i = 0; i < ne; i++)
            if ((unsigned char)h->previous_end[i] < 0x20 || (unsigned char)h->previous_end[i] > 0x7e)
                abort();
    } else if (rc != PYDRON_EPROTO) {
        abort();
    }
    if (f.hdr->body_case == PYDRON__FRAME__BODY_CHALLENGE)
        sink += f.hdr->challenge->nonce.len;
    if (f.hdr->body_case == PYDRON__FRAME__BODY_AUTH)
        sink += f.hdr->auth->proof.len;
    (void)sink;
    pdi_frame_free(&f);
}

/* Sealed records after the handshake: every record an attacker makes must
 * fail to open (they have no key), and reading never goes out of bounds. */
static void records(const uint8_t *data, size_t size)
{
    static const uint8_t key[PDI_SEAL_KEY] = {1, 2, 3};
    pdi_seal *s = pdi_seal_new(key, key);
    if (!s)
        return;
    uint8_t buf[PDI_SEAL_REC_MAX];
    while (size >= PDI_SEAL_HDR) {
        size_t n = pdi_seal_hdr_len(data);
        if (n == 0 || size < PDI_SEAL_HDR + n + PDI_SEAL_TAG)
            break;
        memcpy(buf, data + PDI_SEAL_HDR, n);
        if (pdi_seal_open(s, data, buf, n, data + PDI_SEAL_HDR + n, "fuzz") == 0)
            abort(); /* a forged record opened */
        data += PDI_SEAL_HDR + n + PDI_SEAL_TAG;
        size -= PDI_SEAL_HDR + n + PDI_SEAL_TAG;
    }
    pdi_seal_free(s);
}

/* A shared memory reference as a receiver sees it: converted and checked
 * (pdi_shm_ref_valid is all pdi_shm_map does before any system call). */
static size_t shm(const Pydron__ShmRef *m)
{
    pdi_shm_ref r;
    pdi_shm_ref_from_pb(m, &r);
    if (pdi_shm_ref_valid(&r) && (r.pid == 0 || r.offer_a == 0 || r.sock == 0 || r.len == 0))
        abort();
    return (size_t)(r.len + r.ino + r.sock + r.offer_a + r.offer_b);
}

static void walk(pdi_frame *f)
{
    const void *d;
    size_t l;
    volatile size_t sink = 0;
    Pydron__Frame *h = f->hdr;
    for (size_t i = 0; i < f->nseg; i++)
        if (f->seglen[i])
            sink += f->seg[i][0] + f->seg[i][f->seglen[i] - 1];
    switch (h->body_case) {
    case PYDRON__FRAME__BODY_TASKS:
        for (size_t i = 0; i < h->tasks->n_tasks; i++) {
            Pydron__Task *t = h->tasks->tasks[i];
            sink += strlen(t->kind);
            if (t->payload_segment >= 0 && pdi_frame_seg(f, t->payload_segment, &d, &l) == 0) {
                const char *a, *b, *c;
                if (pdi_ffi_parse(d, l, &a, &b, &c) == 0)
                    sink += strlen(a) + strlen(b) + strlen(c);
            }
            for (size_t k = 0; k < t->n_inputs; k++) {
                if (t->inputs[k]->where < 0 && pdi_frame_seg(f, t->inputs[k]->segment, &d, &l) == 0)
                    sink += l;
                if (t->inputs[k]->shm)
                    sink += shm(t->inputs[k]->shm);
            }
        }
        break;
    case PYDRON__FRAME__BODY_COMPLETIONS:
        for (size_t i = 0; i < h->completions->n_done; i++) {
            Pydron__Completion *c = h->completions->done[i];
            sink += strlen(c->error);
            for (size_t k = 0; k < c->n_outputs; k++)
                if (pdi_frame_seg(f, c->outputs[k]->segment, &d, &l) == 0)
                    sink += l;
        }
        break;
    case PYDRON__FRAME__BODY_HELLO:
        for (size_t i = 0; i < h->hello->n_kinds; i++)
            sink += strlen(h->hello->kinds[i]);
        sink += strlen(h->hello->peer_url) + h->hello->nonce.len;
        break;
    case PYDRON__FRAME__BODY_FETCH_REPLY:
        if (pdi_frame_seg(f, h->fetch_reply->segment, &d, &l) == 0)
            sink += l;
        if (h->fetch_reply->shm)
            sink += shm(h->fetch_reply->shm);
        sink += strlen(h->fetch_reply->error);
        break;
    case PYDRON__FRAME__BODY_WELCOME:
        for (size_t i = 0; i < h->welcome->n_peers; i++)
            sink += strlen(h->welcome->peers[i]->url);
        sink += strlen(h->welcome->host_id);
        break;
    case PYDRON__FRAME__BODY_PEER_UPDATE:
        for (size_t i = 0; i < h->peer_update->n_peers; i++)
            sink += strlen(h->peer_update->peers[i]->url);
        break;
    case PYDRON__FRAME__BODY_RECALL:
        for (size_t i = 0; i < h->recall->n_seqs; i++)
            sink += h->recall->seqs[i];
        break;
    case PYDRON__FRAME__BODY_REFUSED:
        sink += strlen(h->refused->message);
        break;
    case PYDRON__FRAME__BODY_SHUTDOWN:
        sink += strlen(h->shutdown->reason);
        break;
    default:
        break;
    }
    (void)sink;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const pdi_wire_limits lim = {1u << 20, 1u << 24, 4096};
    pdi_frame f;
    int rc = pdi_wire_decode(data, size, &lim, &f);
    if (rc == 0) {
        walk(&f);
        pdi_frame_free(&f);
    } else if (rc != PYDRON_EPROTO && rc != PYDRON_ENOMEM) {
        abort();
    }
    handshake(data, size);
    records(data, size);
    const char *a, *b, *c;
    (void)pdi_ffi_parse(data, size, &a, &b, &c);
    return 0;
}
