/* fuzz_wire.c - libFuzzer target for the frame decoder (and the FFI payload
 * parser). Build with -DPYDRON_FUZZ=ON -DCMAKE_C_COMPILER=clang; run e.g.
 *   build-fuzz/tests/fuzz/fuzz_wire -max_total_time=60 tests/fuzz/corpus
 * Every input must decode to a frame or fail with PYDRON_EPROTO/ENOMEM;
 * a decoded frame is walked completely (segment references checked). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pydron.h"
#include "runner/ffi.h"
#include "wire/frame.h"

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
                    sink += t->inputs[k]->shm->len + (size_t)t->inputs[k]->shm->fd;
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
            sink += h->fetch_reply->shm->len + h->fetch_reply->shm->ino;
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
    const char *a, *b, *c;
    (void)pdi_ffi_parse(data, size, &a, &b, &c);
    return 0;
}
