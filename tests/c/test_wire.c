/* test_wire.c - the wire protocol: frame round trips, every malformed case,
 * the handshake, and a real pydron-worker process driven frame by frame
 * over a real ipc:// socket (tasks, fetch, release, bad peers, shutdown).
 * Links the static library: it tests internal modules (wire/, store/). */
#include <criterion/criterion.h>

#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"
#include "store/store.h"
#include "util/sha256.h"
#include "wire/wire.h"

extern char **environ;

static const pdi_wire_limits big = {1u << 20, 1u << 30, 1024};

/* A task batch frame with two tasks and three segments. */
static uint8_t *make_task_frame(size_t *len)
{
    Pydron__Input in = PYDRON__INPUT__INIT;
    Pydron__Input *ins[1] = {&in};
    in.value_id = 7;
    in.size = 5;
    in.where = -1;
    in.segment = 1;
    uint64_t outs[2] = {100, 101};
    Pydron__Task t1 = PYDRON__TASK__INIT, t2 = PYDRON__TASK__INIT;
    t1.task_id = 1;
    t1.seq = 11;
    t1.kind = "pydron.ffi";
    t1.payload_segment = 0;
    t1.inputs = ins;
    t1.n_inputs = 1;
    t1.outputs = outs;
    t1.n_outputs = 2;
    t2.task_id = 2;
    t2.seq = 12;
    t2.kind = "python";
    t2.payload_segment = 2;
    Pydron__Task *ts[2] = {&t1, &t2};
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = ts;
    b.n_tasks = 2;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;
    pdi_seg segs[3] = {{"payload", 7}, {"hello", 5}, {"", 0}};
    uint8_t *buf;
    cr_assert_eq(pdi_wire_encode(&f, segs, 3, &buf, len), 0);
    return buf;
}

Test(wire, roundtrip_task_batch)
{
    size_t len;
    uint8_t *buf = make_task_frame(&len);
    pdi_frame f;
    cr_assert_eq(pdi_wire_decode(buf, len, &big, &f), 0, "%s", pydron_error_last());
    cr_assert_eq(f.hdr->body_case, PYDRON__FRAME__BODY_TASKS);
    cr_assert_eq(f.hdr->tasks->n_tasks, 2);
    Pydron__Task *t = f.hdr->tasks->tasks[0];
    cr_assert_str_eq(t->kind, "pydron.ffi");
    cr_assert_eq(t->seq, 11);
    cr_assert_eq(t->n_outputs, 2);
    cr_assert_eq(t->outputs[1], 101);
    cr_assert_eq(t->inputs[0]->where, -1);
    cr_assert_eq(f.nseg, 3);
    const void *d;
    size_t l;
    cr_assert_eq(pdi_frame_seg(&f, t->inputs[0]->segment, &d, &l), 0);
    cr_assert_eq(l, 5);
    cr_assert_eq(memcmp(d, "hello", 5), 0);
    cr_assert_eq(f.seglen[2], 0);
    cr_assert_str_eq(f.hdr->tasks->tasks[1]->kind, "python");
    /* out-of-range segment references are errors, not reads */
    cr_assert_eq(pdi_frame_seg(&f, 3, &d, &l), PYDRON_EPROTO);
    cr_assert_eq(pdi_frame_seg(&f, -1, &d, &l), PYDRON_EPROTO);
    size_t tl;
    void *taken = pdi_frame_take(&f, 0, &tl);
    cr_assert_eq(tl, 7);
    cr_assert_eq(memcmp(taken, "payload", 7), 0);
    free(taken);
    pdi_frame_free(&f);
    free(buf);
}

Test(wire, roundtrip_every_type)
{
    /* each body type survives encode/decode and is named */
    Pydron__Hello h = PYDRON__HELLO__INIT;
    Pydron__Challenge c = PYDRON__CHALLENGE__INIT;
    Pydron__Auth a = PYDRON__AUTH__INIT;
    Pydron__Welcome w = PYDRON__WELCOME__INIT;
    Pydron__PeerUpdate pu = PYDRON__PEER_UPDATE__INIT;
    Pydron__CompletionBatch cb = PYDRON__COMPLETION_BATCH__INIT;
    Pydron__Fetch fe = PYDRON__FETCH__INIT;
    Pydron__FetchReply fr = PYDRON__FETCH_REPLY__INIT;
    Pydron__Release r = PYDRON__RELEASE__INIT;
    Pydron__Heartbeat hb = PYDRON__HEARTBEAT__INIT;
    Pydron__Shutdown sd = PYDRON__SHUTDOWN__INIT;
    Pydron__Refused rf = PYDRON__REFUSED__INIT;
    h.kinds = (char *[]){"pydron.ffi", "python"};
    h.n_kinds = 2;
    h.peer_url = "ipc:///tmp/x";
    fe.value_id = 42;
    uint64_t ids[3] = {1, 2, 3};
    r.value_ids = ids;
    r.n_value_ids = 3;
    rf.message = "nope";
    struct {
        Pydron__Frame__BodyCase c;
        void *m;
        const char *name;
    } cases[] = {
        {PYDRON__FRAME__BODY_HELLO, &h, "hello"},
        {PYDRON__FRAME__BODY_CHALLENGE, &c, "challenge"},
        {PYDRON__FRAME__BODY_AUTH, &a, "auth"},
        {PYDRON__FRAME__BODY_WELCOME, &w, "welcome"},
        {PYDRON__FRAME__BODY_PEER_UPDATE, &pu, "peer_update"},
        {PYDRON__FRAME__BODY_COMPLETIONS, &cb, "completions"},
        {PYDRON__FRAME__BODY_FETCH, &fe, "fetch"},
        {PYDRON__FRAME__BODY_FETCH_REPLY, &fr, "fetch_reply"},
        {PYDRON__FRAME__BODY_RELEASE, &r, "release"},
        {PYDRON__FRAME__BODY_HEARTBEAT, &hb, "heartbeat"},
        {PYDRON__FRAME__BODY_SHUTDOWN, &sd, "shutdown"},
        {PYDRON__FRAME__BODY_REFUSED, &rf, "refused"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = cases[i].c;
        f.hello = cases[i].m; /* oneof members share storage */
        f.releases = ids;
        f.n_releases = 2;
        uint8_t *buf;
        size_t len;
        cr_assert_eq(pdi_wire_encode(&f, NULL, 0, &buf, &len), 0);
        pdi_frame d;
        cr_assert_eq(pdi_wire_decode(buf, len, &big, &d), 0, "%s: %s", cases[i].name,
                     pydron_error_last());
        cr_assert_eq(d.hdr->body_case, cases[i].c);
        cr_assert_str_eq(pdi_frame_type_name(d.hdr), cases[i].name);
        cr_assert_eq(d.hdr->n_releases, 2);
        if (cases[i].c == PYDRON__FRAME__BODY_HELLO) {
            cr_assert_eq(d.hdr->hello->n_kinds, 2);
            cr_assert_str_eq(d.hdr->hello->kinds[1], "python");
        }
        if (cases[i].c == PYDRON__FRAME__BODY_RELEASE)
            cr_assert_eq(d.hdr->release->value_ids[2], 3);
        pdi_frame_free(&d);
        free(buf);
    }
}

static void expect_eproto(const void *buf, size_t len, const pdi_wire_limits *lim,
                          const char *needle)
{
    pdi_frame f;
    int rc = pdi_wire_decode(buf, len, lim, &f);
    cr_assert_eq(rc, PYDRON_EPROTO, "expected EPROTO (%s), got %d", needle, rc);
    cr_assert(strstr(pydron_error_last(), needle) != NULL, "message \"%s\" lacks \"%s\"",
              pydron_error_last(), needle);
}

Test(wire, truncated_at_every_length)
{
    size_t len;
    uint8_t *buf = make_task_frame(&len);
    for (size_t n = 0; n < len; n++) {
        pdi_frame f;
        uint8_t *copy = malloc(n ? n : 1); /* exact size: ASan sees overreads */
        memcpy(copy, buf, n);
        int rc = pdi_wire_decode(copy, n, &big, &f);
        cr_assert_eq(rc, PYDRON_EPROTO, "truncated to %zu of %zu: rc %d", n, len, rc);
        cr_assert(pydron_error_last()[0] != 0);
        free(copy);
    }
    expect_eproto(buf, 3, &big, "truncated");
    expect_eproto(buf, len - 1, &big, "truncated");
    free(buf);
}

Test(wire, bad_magic_version_flags)
{
    size_t len;
    uint8_t *buf = make_task_frame(&len);
    buf[0] = 'G';
    expect_eproto(buf, len, &big, "bad magic");
    buf[0] = 'P';
    buf[4] = 2;
    expect_eproto(buf, len, &big, "protocol version 2");
    buf[4] = 1;
    buf[6] = 1;
    expect_eproto(buf, len, &big, "flags");
    buf[6] = 0;
    pdi_frame f;
    cr_assert_eq(pdi_wire_decode(buf, len, &big, &f), 0);
    pdi_frame_free(&f);
    free(buf);
}

Test(wire, oversized_lengths)
{
    size_t len;
    uint8_t *buf = make_task_frame(&len);
    pdi_wire_limits tiny = {16, 1u << 20, 8};
    expect_eproto(buf, len, &tiny, "exceeds the limit");
    pdi_wire_limits nopay = {1u << 20, 4, 8};
    expect_eproto(buf, len, &nopay, "exceeds the limit");
    pdi_wire_limits fewsegs = {1u << 20, 1u << 20, 2};
    expect_eproto(buf, len, &fewsegs, "segments");
    /* a prefix claiming 2^63 payload bytes: refused before any allocation */
    uint8_t huge[PDI_WIRE_PREFIX];
    memcpy(huge, buf, PDI_WIRE_PREFIX);
    memset(huge + 12, 0xff, 7);
    huge[19] = 0x7f;
    uint32_t hl;
    uint64_t pl;
    cr_assert_eq(pdi_wire_parse_prefix(huge, sizeof huge, pdi_wire_limits_session(), &hl, &pl),
                 PYDRON_EPROTO);
    /* header length 0xffffffff */
    memcpy(huge, buf, PDI_WIRE_PREFIX);
    memset(huge + 8, 0xff, 4);
    cr_assert_eq(pdi_wire_parse_prefix(huge, sizeof huge, pdi_wire_limits_session(), &hl, &pl),
                 PYDRON_EPROTO);
    /* extra bytes after the frame */
    uint8_t *more = malloc(len + 3);
    memcpy(more, buf, len);
    expect_eproto(more, len + 3, &big, "oversized");
    free(more);
    free(buf);
}

/* Build prefix + given header bytes + payload of plen zero bytes. */
static uint8_t *raw_frame(const uint8_t *hdr, uint32_t hlen, uint64_t plen, size_t *len)
{
    *len = PDI_WIRE_PREFIX + hlen + plen;
    uint8_t *b = calloc(1, *len);
    memcpy(b, "PDRN", 4);
    b[4] = 1;
    for (int i = 0; i < 4; i++)
        b[8 + i] = (uint8_t)(hlen >> (8 * i));
    for (int i = 0; i < 8; i++)
        b[12 + i] = (uint8_t)(plen >> (8 * i));
    memcpy(b + PDI_WIRE_PREFIX, hdr, hlen);
    return b;
}

Test(wire, unknown_type_and_bad_header)
{
    size_t len;
    /* field 99 (varint 1): a message type from the future */
    const uint8_t future[] = {0x98, 0x06, 0x01};
    uint8_t *b = raw_frame(future, sizeof future, 0, &len);
    expect_eproto(b, len, &big, "unknown or missing message type");
    free(b);
    /* empty Frame: no body at all */
    const uint8_t none[] = {0xf0, 0x01, 0x00}; /* field 30 = 0: a zero-length segment */
    b = raw_frame(none, sizeof none, 0, &len);
    expect_eproto(b, len, &big, "unknown or missing message type");
    free(b);
    /* not protobuf: a length-delimited field running past the end */
    const uint8_t junk[] = {0x0a, 0x7f, 0x01};
    b = raw_frame(junk, sizeof junk, 0, &len);
    expect_eproto(b, len, &big, "malformed frame header");
    free(b);
    /* segments that do not add up to the payload */
    Pydron__Heartbeat hb = PYDRON__HEARTBEAT__INIT;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
    f.heartbeat = &hb;
    uint64_t segs[2] = {10, 20};
    f.segments = segs;
    f.n_segments = 2;
    uint8_t h[64];
    size_t hl = pydron__frame__pack(&f, h);
    b = raw_frame(h, (uint32_t)hl, 31, &len);
    expect_eproto(b, len, &big, "add up");
    free(b);
    b = raw_frame(h, (uint32_t)hl, 29, &len);
    expect_eproto(b, len, &big, "exceed");
    free(b);
    b = raw_frame(h, (uint32_t)hl, 30, &len);
    pdi_frame ok;
    cr_assert_eq(pdi_wire_decode(b, len, &big, &ok), 0, "%s", pydron_error_last());
    cr_assert_eq(ok.nseg, 2);
    pdi_frame_free(&ok);
    free(b);
}

Test(wire, random_garbage_never_crashes)
{
    size_t len;
    uint8_t *buf = make_task_frame(&len);
    uint64_t x = 12345;
    int accepted = 0;
    for (int it = 0; it < 20000; it++) {
        uint8_t *m = malloc(len);
        memcpy(m, buf, len);
        int flips = 1 + (int)(x % 4);
        for (int k = 0; k < flips; k++) {
            x = x * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t pos = (size_t)(x >> 33) % len;
            m[pos] ^= (uint8_t)(1u << ((x >> 20) % 8));
        }
        pdi_frame f;
        int rc = pdi_wire_decode(m, len, &big, &f);
        cr_assert(rc == 0 || rc == PYDRON_EPROTO || rc == PYDRON_ENOMEM, "rc %d", rc);
        if (rc == 0) {
            accepted++;
            pdi_frame_free(&f);
        }
        free(m);
    }
    /* flips inside payload bytes are not errors: some must be accepted */
    cr_assert_gt(accepted, 0);
    free(buf);
}

Test(wire, sha256_and_hmac_vectors)
{
    uint8_t out[32];
    pdi_sha256("abc", 3, out);
    const uint8_t abc[32] = {0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea, 0x41, 0x41, 0x40,
                             0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96, 0x17,
                             0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad};
    cr_assert_eq(memcmp(out, abc, 32), 0);
    /* RFC 4231 test case 2 */
    const void *parts[1] = {"what do ya want for nothing?"};
    size_t lens[1] = {28};
    pdi_hmac_sha256("Jefe", 4, parts, lens, 1, out);
    const uint8_t tc2[32] = {0x5b, 0xdc, 0xc1, 0x46, 0xbf, 0x60, 0x75, 0x4e, 0x6a, 0x04, 0x24,
                             0x26, 0x08, 0x95, 0x75, 0xc7, 0x5a, 0x00, 0x3f, 0x08, 0x9d, 0x27,
                             0x39, 0x83, 0x9d, 0xec, 0x58, 0xb9, 0x64, 0xec, 0x38, 0x43};
    cr_assert_eq(memcmp(out, tc2, 32), 0);
}

Test(wire, store_pins_and_release)
{
    pdi_store *s = pdi_store_new();
    char *v = strdup("value");
    cr_assert_eq(pdi_store_put(s, 5, v, 5, free, v), 0);
    char *dup = strdup("other");
    cr_assert_eq(pdi_store_put(s, 5, dup, 5, free, dup), PYDRON_EEXIST);
    pdi_stored *pin;
    const void *d;
    size_t l;
    cr_assert_eq(pdi_store_get(s, 5, &pin, &d, &l), 0);
    cr_assert_eq(pdi_store_release(s, 5), 0);
    /* still readable while pinned, gone for new readers */
    cr_assert_eq(memcmp(d, "value", 5), 0);
    pdi_stored *p2;
    cr_assert_eq(pdi_store_get(s, 5, &p2, &d, &l), PYDRON_ENOTFOUND);
    pdi_store_unpin(s, pin);
    cr_assert_eq(pdi_store_release(s, 5), PYDRON_ENOTFOUND);
    for (uint64_t i = 1; i <= 10000; i++) {
        uint64_t *x = malloc(sizeof *x);
        *x = i;
        cr_assert_eq(pdi_store_put(s, i, x, sizeof *x, free, x), 0);
    }
    size_t n;
    pdi_store_stats(s, &n, NULL);
    cr_assert_eq(n, 10000);
    cr_assert_eq(pdi_store_get(s, 7777, &pin, &d, &l), 0);
    cr_assert_eq(*(const uint64_t *)d, 7777);
    pdi_store_unpin(s, pin);
    pdi_store_free(s);
}

/* ------------------------------------------------- handshake over sockets */

typedef struct acc_arg {
    pdi_listener *l;
    const char *secret;
    int rc;
    char msg[256];
} acc_arg;

static void *accept_one(void *arg)
{
    acc_arg *a = arg;
    pdi_conn *c;
    a->rc = pdi_listener_accept(a->l, &c);
    if (a->rc == 0) {
        pdi_frame h;
        a->rc = pdi_auth_accept(c, a->secret, strlen(a->secret), 5000, &h);
        snprintf(a->msg, sizeof a->msg, "%s", pydron_error_last());
        if (a->rc == 0)
            pdi_frame_free(&h);
        pdi_conn_free(c);
    }
    return NULL;
}

/* Dial url (ca: the CA file for tls+tcp://, else NULL) and authenticate. */
static int dial_auth_ca(const char *url, const char *ca, const char *secret, char *msg,
                        size_t n)
{
    pdi_conn *c;
    int rc = pdi_conn_dial(url, ca, 5000, &c);
    if (rc == 0) {
        Pydron__Hello h = PYDRON__HELLO__INIT;
        h.worker_id = -1;
        rc = pdi_auth_dial(c, &h, secret, strlen(secret), 5000);
        pdi_conn_free(c);
    }
    snprintf(msg, n, "%s", pydron_error_last());
    return rc;
}

static int dial_auth(const char *url, const char *secret, char *msg, size_t n)
{
    return dial_auth_ca(url, NULL, secret, msg, n);
}

Test(wire, handshake_right_and_wrong_secret)
{
    pdi_listener *l;
    cr_assert_eq(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &l), 0, "%s",
                 pydron_error_last());
    const char *url = pdi_listener_url(l);
    cr_assert(strstr(url, ":0") == NULL || strstr(url, ":0") != url + strlen(url) - 2, "%s",
              url);
    char msg[256];
    acc_arg a = {l, "s3cret", 0, ""};
    pthread_t th;
    pthread_create(&th, NULL, accept_one, &a);
    cr_assert_eq(dial_auth(url, "s3cret", msg, sizeof msg), 0, "%s", msg);
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, 0, "%s", a.msg);

    /* wrong secret: the dialer sees that the listener cannot prove the
     * secret; the listener never gets an Auth it accepts */
    acc_arg b = {l, "s3cret", 0, ""};
    pthread_create(&th, NULL, accept_one, &b);
    int rc = dial_auth(url, "wrong", msg, sizeof msg);
    cr_assert_eq(rc, PYDRON_EAUTH, "%d %s", rc, msg);
    cr_assert(strstr(msg, "secret") != NULL, "%s", msg);
    pthread_join(th, NULL);
    cr_assert_neq(b.rc, 0);
    pdi_listener_free(l);
}

/* The listener's reason reaches a dialer with the wrong secret every time,
 * over TLS too: nng's TLS layer writes a record to the socket after the
 * send returns, so a listener closing right after its Refused frame lost
 * it now and then ("closed the connection during the handshake"). */
Test(wire, wrong_secret_refusal_arrives_over_tls_and_tcp, .timeout = 120)
{
    char dir[] = "/tmp/pydron-tls-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    char cmd[512], cert[128], key[128];
    snprintf(cert, sizeof cert, "%s/cert.pem", dir);
    snprintf(key, sizeof key, "%s/key.pem", dir);
    snprintf(cmd, sizeof cmd,
             "openssl req -x509 -newkey rsa:2048 -nodes -keyout %s -out %s -days 1 "
             "-subj /CN=127.0.0.1 >/dev/null 2>&1",
             key, cert);
    cr_assert_eq(system(cmd), 0, "openssl could not make a certificate");
    const char *urls[2] = {"tls+tcp://127.0.0.1:0", "tcp://127.0.0.1:0"};
    for (int u = 0; u < 2; u++) {
        pdi_listener *l;
        cr_assert_eq(pdi_listener_open(urls[u], u == 0 ? cert : NULL, u == 0 ? key : NULL, &l),
                     0, "%s", pydron_error_last());
        for (int i = 0; i < 40; i++) {
            char msg[256];
            acc_arg b = {l, "s3cret", 0, ""};
            pthread_t th;
            pthread_create(&th, NULL, accept_one, &b);
            int rc = dial_auth_ca(pdi_listener_url(l), u == 0 ? cert : NULL, "wrong", msg,
                                  sizeof msg);
            pthread_join(th, NULL);
            cr_assert_eq(rc, PYDRON_EAUTH, "%s round %d: %d %s", urls[u], i, rc, msg);
            cr_assert(strstr(msg, "wrong shared secret") != NULL, "%s round %d: %s", urls[u], i,
                      msg);
            cr_assert_neq(b.rc, 0);
        }
        pdi_listener_free(l);
    }
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    cr_assert_eq(system(cmd), 0);
}

/* Large values over a sealed link: segments of every size around the
 * boundaries of the record layer (64 KiB records), of the sender's batches
 * (16 records), of the receiver's large-read threshold (256 KiB) and its
 * 1 MiB buffer arrive whole and in order, with small frames between them
 * (bytes read ahead into the receive buffer belong to the next frame). */
#define REC (64u << 10)
static const size_t sealed_sizes[] = {1, REC - 1, REC, REC + 1, 2 * REC + 7, (256u << 10) - 1,
                                      256u << 10, (256u << 10) + 1, 16 * REC - 1, 16 * REC,
                                      16 * REC + 1, (1u << 20) + 20, 3 * 16 * REC + 17,
                                      (5u << 20) + 3};
#define NSEALED (sizeof sealed_sizes / sizeof sealed_sizes[0])

static uint8_t pattern(size_t i, size_t k) { return (uint8_t)(i * 131 + k * 7 + (i >> 16)); }

typedef struct sealed_rx {
    pdi_listener *l;
    int rc;
    char msg[256];
} sealed_rx;

static void *sealed_receiver(void *arg)
{
    sealed_rx *a = arg;
    pdi_conn *c;
    pdi_frame h;
    if ((a->rc = pdi_listener_accept(a->l, &c)) != 0)
        goto out;
    if ((a->rc = pdi_auth_accept(c, "s3cret", 6, 5000, &h)) != 0) {
        pdi_conn_free(c);
        goto out;
    }
    pdi_frame_free(&h);
    for (size_t k = 0; k < NSEALED && a->rc == 0; k++) {
        for (int small = 0; small < 2 && a->rc == 0; small++) {
            pdi_frame f;
            if ((a->rc = pdi_conn_recv(c, &big, 10000, &f)) != 0)
                break;
            size_t want = small ? 3 : sealed_sizes[k];
            if (f.hdr->body_case != PYDRON__FRAME__BODY_FETCH_REPLY ||
                f.hdr->fetch_reply->value_id != k || f.nseg != 1 || f.seglen[0] != want) {
                a->rc = -1;
                snprintf(a->msg, sizeof a->msg, "frame %zu/%d: wrong header or length %zu", k,
                         small, f.nseg ? f.seglen[0] : 0);
            }
            for (size_t i = 0; a->rc == 0 && i < want; i++) {
                if (f.seg[0][i] != (small ? (uint8_t)(0xa0 + i) : pattern(i, k))) {
                    a->rc = -1;
                    snprintf(a->msg, sizeof a->msg, "frame %zu (%zu bytes): byte %zu differs", k,
                             want, i);
                }
            }
            pdi_frame_free(&f);
        }
    }
    if (a->rc > 0 || (a->rc < 0 && !a->msg[0]))
        snprintf(a->msg, sizeof a->msg, "%s", pydron_error_last());
    pdi_conn_free(c);
out:
    if (a->rc && !a->msg[0])
        snprintf(a->msg, sizeof a->msg, "%s", pydron_error_last());
    return NULL;
}

Test(wire, sealed_large_segments_at_record_and_batch_boundaries, .timeout = 60)
{
    sealed_rx a = {0};
    cr_assert_eq(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &a.l), 0, "%s",
                 pydron_error_last());
    pthread_t th;
    pthread_create(&th, NULL, sealed_receiver, &a);
    pdi_conn *c;
    cr_assert_eq(pdi_conn_dial(pdi_listener_url(a.l), NULL, 5000, &c), 0, "%s",
                 pydron_error_last());
    Pydron__Hello h = PYDRON__HELLO__INIT;
    h.worker_id = -1;
    cr_assert_eq(pdi_auth_dial(c, &h, "s3cret", 6, 5000), 0, "%s", pydron_error_last());
    uint8_t *buf = malloc((5u << 20) + 3);
    cr_assert(buf);
    uint8_t tiny[3] = {0xa0, 0xa1, 0xa2};
    for (size_t k = 0; k < NSEALED; k++) {
        for (size_t i = 0; i < sealed_sizes[k]; i++)
            buf[i] = pattern(i, k);
        Pydron__FetchReply r = PYDRON__FETCH_REPLY__INIT;
        r.value_id = k;
        Pydron__Frame fr = PYDRON__FRAME__INIT;
        fr.body_case = PYDRON__FRAME__BODY_FETCH_REPLY;
        fr.fetch_reply = &r;
        pdi_seg seg = {buf, sealed_sizes[k]};
        cr_assert_eq(pdi_conn_send(c, &fr, &seg, 1), 0, "%s", pydron_error_last());
        pdi_seg one = {tiny, sizeof tiny};
        cr_assert_eq(pdi_conn_send(c, &fr, &one, 1), 0, "%s", pydron_error_last());
    }
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, 0, "%s", a.msg);
    free(buf);
    pdi_conn_free(c);
    pdi_listener_free(a.l);
}

/* The listener shows nothing derived from the secret before the dialer has
 * proved it knows it: a Challenge carries no proof, a wrong Auth gets a
 * Refused and nothing else (before: the Challenge held the listener's HMAC,
 * enough to test guesses offline). */
Test(wire, listener_proves_nothing_before_the_dialer)
{
    pdi_listener *l;
    cr_assert_eq(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &l), 0, "%s",
                 pydron_error_last());
    acc_arg a = {l, "test-secret-0123456789abcdefghijk", 0, ""};
    pthread_t th;
    pthread_create(&th, NULL, accept_one, &a);
    pdi_conn *c;
    cr_assert_eq(pdi_conn_dial(pdi_listener_url(l), NULL, 5000, &c), 0);
    uint8_t nonce[PDI_NONCE_LEN] = {7};
    Pydron__Hello h = PYDRON__HELLO__INIT;
    h.protocol_version = 2;
    h.nonce.data = nonce;
    h.nonce.len = sizeof nonce;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_HELLO;
    f.hello = &h;
    cr_assert_eq(pdi_conn_send(c, &f, NULL, 0), 0);
    pdi_frame in;
    cr_assert_eq(pdi_conn_recv(c, &pdi_wire_limits_handshake, 5000, &in), 0);
    cr_assert_eq(in.hdr->body_case, PYDRON__FRAME__BODY_CHALLENGE);
    cr_assert_eq(in.hdr->challenge->nonce.len, PDI_NONCE_LEN);
    cr_assert_eq(in.hdr->challenge->proof.len, 0, "the listener proved first");
    pdi_frame_free(&in);
    uint8_t guess[32] = {0};
    Pydron__Auth au = PYDRON__AUTH__INIT;
    au.proof.data = guess;
    au.proof.len = sizeof guess;
    Pydron__Frame g = PYDRON__FRAME__INIT;
    g.body_case = PYDRON__FRAME__BODY_AUTH;
    g.auth = &au;
    cr_assert_eq(pdi_conn_send(c, &g, NULL, 0), 0);
    cr_assert_eq(pdi_conn_recv(c, &pdi_wire_limits_handshake, 5000, &in), 0);
    cr_assert_eq(in.hdr->body_case, PYDRON__FRAME__BODY_REFUSED, "got %s",
                 pdi_frame_type_name(in.hdr));
    pdi_frame_free(&in);
    /* and then the connection ends: no listener proof follows */
    cr_assert_neq(pdi_conn_recv(c, &pdi_wire_limits_handshake, 5000, &in), 0);
    pthread_join(th, NULL);
    cr_assert_eq(a.rc, PYDRON_EAUTH, "%s", a.msg);
    pdi_conn_free(c);
    pdi_listener_free(l);
}

Test(wire, secret_file_rules)
{
    char dir[] = "/tmp/pydron-sec-XXXXXX", path[64], buf[PYDRON_SECRET_MAX + 1];
    cr_assert(mkdtemp(dir));
    snprintf(path, sizeof path, "%s/s", dir);
    size_t n = 0;
    FILE *f = fopen(path, "w");
    fputs("0123456789abcdef0123456789abcdef \r\n\n", f);
    fclose(f);
    chmod(path, 0600);
    cr_assert_eq(pydron_secret_read_file(path, buf, sizeof buf, &n), 0, "%s", pydron_error_last());
    cr_assert_str_eq(buf, "0123456789abcdef0123456789abcdef");
    cr_assert_eq(n, 32);
    chmod(path, 0644);
    cr_assert_eq(pydron_secret_read_file(path, buf, sizeof buf, &n), PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "chmod 600"), "%s", pydron_error_last());
    f = fopen(path, "w");
    fputs("hunter2\n", f);
    fclose(f);
    chmod(path, 0600);
    cr_assert_eq(pydron_secret_read_file(path, buf, sizeof buf, &n), PYDRON_EINVAL);
    cr_assert(strstr(pydron_error_last(), "too weak"), "%s", pydron_error_last());
    cr_assert_eq(pydron_secret_check("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", 40), PYDRON_EINVAL);
    char g1[65], g2[65];
    cr_assert_eq(pydron_secret_generate(g1, sizeof g1), 0);
    cr_assert_eq(pydron_secret_generate(g2, sizeof g2), 0);
    cr_assert_eq(strlen(g1), 64);
    cr_assert_str_neq(g1, g2);
    cr_assert_eq(pydron_secret_check(g1, 64), 0);
    cr_assert_eq(pydron_secret_generate(g1, 64), PYDRON_EINVAL);
    unlink(path);
    rmdir(dir);
}

/* ------------------------------------------------ a real worker process */

typedef struct tdrv {
    char dir[64];
    pdi_listener *l;
    pdi_conn *c;
    pid_t pid;
    char peer_url[512];
    int32_t id;
} tdrv;

static void tdrv_start_id(tdrv *d, uint64_t inline_max, int id, pdi_listener *shared);
static unsigned tdrv_hb_ms = 0;

static void tdrv_start(tdrv *d, uint64_t inline_max) { tdrv_start_id(d, inline_max, 3, NULL); }

static void tdrv_start_id(tdrv *d, uint64_t inline_max, int id, pdi_listener *shared)
{
    char url[128];
    if (shared) {
        d->dir[0] = 0;
        d->l = shared;
        snprintf(url, sizeof url, "%s", pdi_listener_url(shared));
    } else {
        snprintf(d->dir, sizeof d->dir, "/tmp/pydron-wt-XXXXXX");
        cr_assert(mkdtemp(d->dir));
        snprintf(url, sizeof url, "ipc://%s/d.sock", d->dir);
        cr_assert_eq(pdi_listener_open(url, NULL, NULL, &d->l), 0, "%s", pydron_error_last());
    }
    setenv("PYDRON_SECRET", "test-secret-0123456789abcdefghijk", 1);
    char ids[16];
    snprintf(ids, sizeof ids, "%d", id);
    const char *argv[] = {PYDRON_WORKER_PATH, "--connect", url, "--id", ids, "--threads", "2",
                          NULL};
    cr_assert_eq(posix_spawn(&d->pid, PYDRON_WORKER_PATH, NULL, NULL, (char *const *)argv,
                             environ),
                 0);
    cr_assert_eq(pdi_listener_accept(d->l, &d->c), 0, "%s", pydron_error_last());
    pdi_frame h;
    cr_assert_eq(pdi_auth_accept(d->c, "test-secret-0123456789abcdefghijk", 33, 5000, &h), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(h.hdr->hello->worker_id, id);
    int has_ffi = 0;
    for (size_t i = 0; i < h.hdr->hello->n_kinds; i++)
        has_ffi |= strcmp(h.hdr->hello->kinds[i], "pydron.ffi") == 0;
    cr_assert(has_ffi, "worker must announce the built-in runner");
    cr_assert_eq(h.hdr->hello->threads, 2);
    snprintf(d->peer_url, sizeof d->peer_url, "%s", h.hdr->hello->peer_url);
    cr_assert(strncmp(d->peer_url, "ipc://", 6) == 0, "%s", d->peer_url);
    pdi_frame_free(&h);
    Pydron__Welcome w = PYDRON__WELCOME__INIT;
    w.worker_id = d->id = id;
    w.heartbeat_ms = tdrv_hb_ms; /* 0: this test driver sends no heartbeats, no timeout */
    w.inline_max = inline_max;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_WELCOME;
    f.welcome = &w;
    cr_assert_eq(pdi_conn_send(d->c, &f, NULL, 0), 0);
}

static int tdrv_stop(tdrv *d, int say_shutdown)
{
    if (say_shutdown) {
        Pydron__Shutdown s = PYDRON__SHUTDOWN__INIT;
        s.reason = "test done";
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = PYDRON__FRAME__BODY_SHUTDOWN;
        f.shutdown = &s;
        pdi_conn_send(d->c, &f, NULL, 0);
    }
    int st = -1;
    for (int i = 0; i < 500; i++) {
        if (waitpid(d->pid, &st, WNOHANG) == d->pid)
            break;
        usleep(10000);
        if (i == 499) {
            kill(d->pid, SIGKILL);
            waitpid(d->pid, &st, 0);
            st = -1;
        }
    }
    pdi_conn_free(d->c);
    pdi_listener_free(d->l);
    if (d->dir[0]) {
        char p[128];
        snprintf(p, sizeof p, "%s/d.sock", d->dir);
        unlink(p);
        rmdir(d->dir);
    }
    return st;
}

/* Send n cos(x) tasks through the FFI runner (libm). */
static void send_cos_tasks(tdrv *d, uint64_t first_seq, int n)
{
    void *pl;
    size_t pll;
    cr_assert_eq(pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &pll), 0);
    Pydron__Task *ts = calloc((size_t)n, sizeof *ts);
    Pydron__Task **tps = calloc((size_t)n, sizeof *tps);
    Pydron__Input *is = calloc((size_t)n, sizeof *is);
    Pydron__Input **ips = calloc((size_t)n, sizeof *ips);
    uint64_t *outs = calloc((size_t)n, sizeof *outs);
    double *xs = calloc((size_t)n, sizeof *xs);
    pdi_seg *segs = calloc((size_t)n + 1, sizeof *segs);
    segs[0].data = pl;
    segs[0].len = pll;
    for (int i = 0; i < n; i++) {
        pydron__task__init(&ts[i]);
        pydron__input__init(&is[i]);
        xs[i] = (double)(first_seq + (uint64_t)i) / 100.0;
        segs[1 + i].data = &xs[i];
        segs[1 + i].len = sizeof(double);
        is[i].value_id = 1000000 + first_seq + (uint64_t)i;
        is[i].size = 8;
        is[i].where = -1;
        is[i].segment = 1 + i;
        ips[i] = &is[i];
        outs[i] = 2000000 + first_seq + (uint64_t)i;
        ts[i].task_id = first_seq + (uint64_t)i;
        ts[i].seq = first_seq + (uint64_t)i;
        ts[i].kind = "pydron.ffi";
        ts[i].payload_segment = 0; /* all tasks share one payload segment */
        ts[i].inputs = &ips[i];
        ts[i].n_inputs = 1;
        ts[i].outputs = &outs[i];
        ts[i].n_outputs = 1;
        tps[i] = &ts[i];
    }
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = tps;
    b.n_tasks = (size_t)n;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;
    cr_assert_eq(pdi_conn_send(d->c, &f, segs, (size_t)n + 1), 0);
    free(ts);
    free(tps);
    free(is);
    free(ips);
    free(outs);
    free(xs);
    free(segs);
    pydron_free(pl);
}

/* Read frames until n completions arrived; check cos values. Returns how
 * many outputs were stored on the worker (where >= 0). */
static int recv_cos_completions(tdrv *d, uint64_t first_seq, int n)
{
    int got = 0, remote = 0;
    while (got < n) {
        pdi_frame in;
        cr_assert_eq(pdi_conn_recv(d->c, pdi_wire_limits_session(), 10000, &in), 0, "%s",
                     pydron_error_last());
        if (in.hdr->body_case == PYDRON__FRAME__BODY_HEARTBEAT) {
            pdi_frame_free(&in);
            continue;
        }
        cr_assert_eq(in.hdr->body_case, PYDRON__FRAME__BODY_COMPLETIONS, "%s",
                     pdi_frame_type_name(in.hdr));
        for (size_t k = 0; k < in.hdr->completions->n_done; k++) {
            Pydron__Completion *c = in.hdr->completions->done[k];
            cr_assert_eq(c->status, 0, "task %llu: %s", (unsigned long long)c->task_id,
                         c->error);
            cr_assert(c->seq >= first_seq && c->seq < first_seq + (uint64_t)n);
            cr_assert_eq(c->n_outputs, 1);
            cr_assert_eq(c->outputs[0]->size, 8);
            cr_assert_eq(c->outputs[0]->value_id, 2000000 + c->seq);
            cr_assert_leq(c->start_ns, c->end_ns);
            if (c->outputs[0]->where < 0) {
                const void *p;
                size_t l;
                cr_assert_eq(pdi_frame_seg(&in, c->outputs[0]->segment, &p, &l), 0);
                double r;
                memcpy(&r, p, 8);
                cr_assert_float_eq(r, cos((double)c->seq / 100.0), 1e-12);
            } else {
                cr_assert_eq(c->outputs[0]->where, d->id);
                remote++;
            }
            got++;
        }
        pdi_frame_free(&in);
    }
    return remote;
}

Test(wire, worker_runs_batches_and_shuts_down, .timeout = 60)
{
    tdrv d;
    tdrv_start(&d, 4096);
    send_cos_tasks(&d, 1, 500);
    send_cos_tasks(&d, 501, 1);
    cr_assert_eq(recv_cos_completions(&d, 1, 501), 0);
    int st = tdrv_stop(&d, 1);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
}

/* A worker-side error: unknown kind, missing library, bad arity. */
Test(wire, worker_reports_task_errors, .timeout = 60)
{
    tdrv d;
    tdrv_start(&d, 4096);
    void *pl;
    size_t pll;
    cr_assert_eq(pydron_ffi_payload("/nonexistent/libnope.so", "f", "d(d)", &pl, &pll), 0);
    Pydron__Task t1 = PYDRON__TASK__INIT, t2 = PYDRON__TASK__INIT;
    uint64_t out = 9;
    t1.seq = 1;
    t1.kind = "no.such.kind";
    t1.payload_segment = -1;
    t1.outputs = &out;
    t1.n_outputs = 1;
    t2.seq = 2;
    t2.kind = "pydron.ffi";
    t2.payload_segment = 0;
    t2.outputs = &out;
    t2.n_outputs = 1;
    Pydron__Task *ts[2] = {&t1, &t2};
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = ts;
    b.n_tasks = 2;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;
    pdi_seg seg = {pl, pll};
    cr_assert_eq(pdi_conn_send(d.c, &f, &seg, 1), 0);
    int seen = 0;
    while (seen < 2) {
        pdi_frame in;
        cr_assert_eq(pdi_conn_recv(d.c, pdi_wire_limits_session(), 10000, &in), 0);
        if (in.hdr->body_case == PYDRON__FRAME__BODY_COMPLETIONS) {
            for (size_t k = 0; k < in.hdr->completions->n_done; k++) {
                Pydron__Completion *c = in.hdr->completions->done[k];
                cr_assert_eq(c->status, PYDRON_ETASK);
                if (c->seq == 1)
                    cr_assert(strstr(c->error, "no runner for kind \"no.such.kind\""), "%s",
                              c->error);
                else
                    cr_assert(strstr(c->error, "cannot load library /nonexistent/libnope.so"),
                              "%s", c->error);
                seen++;
            }
        }
        pdi_frame_free(&in);
    }
    pydron_free(pl);
    tdrv_stop(&d, 1);
}

static int peer_send_raw_expect_drop(const char *url, const void *bytes, size_t n,
                                     char *refusal, size_t rn)
{
    pdi_conn *c;
    int rc = pdi_conn_dial(url, NULL, 5000, &c);
    cr_assert_eq(rc, 0, "%s", pydron_error_last());
    if (n)
        cr_assert_eq(pdi_conn_send_raw(c, bytes, n), 0);
    refusal[0] = 0;
    pdi_frame in;
    rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, 15000, &in);
    if (rc == 0) {
        if (in.hdr->body_case == PYDRON__FRAME__BODY_REFUSED)
            snprintf(refusal, rn, "%s", in.hdr->refused->message);
        pdi_frame_free(&in);
        rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, 15000, &in);
        if (rc == 0)
            pdi_frame_free(&in);
    }
    pdi_conn_free(c);
    return rc; /* the worker must have closed: ECLOSED */
}

Test(wire, worker_drops_malformed_peers_and_keeps_serving, .timeout = 120)
{
    tdrv d;
    tdrv_start(&d, 0); /* inline_max 0: every output stays on the worker */
    send_cos_tasks(&d, 1, 20);
    cr_assert_eq(recv_cos_completions(&d, 1, 20), 20);

    size_t len;
    uint8_t *good = make_task_frame(&len);
    char why[512];
    /* bad magic */
    uint8_t *m = malloc(len);
    memcpy(m, good, len);
    m[1] = 'X';
    cr_assert_eq(peer_send_raw_expect_drop(d.peer_url, m, len, why, sizeof why), PYDRON_ECLOSED);
    cr_assert(strstr(why, "bad magic"), "refusal: %s", why);
    /* wrong version */
    memcpy(m, good, len);
    m[4] = 9;
    cr_assert_eq(peer_send_raw_expect_drop(d.peer_url, m, len, why, sizeof why), PYDRON_ECLOSED);
    cr_assert(strstr(why, "version 9"), "refusal: %s", why);
    /* oversized: a payload before authentication */
    cr_assert_eq(peer_send_raw_expect_drop(d.peer_url, good, len, why, sizeof why),
                 PYDRON_ECLOSED);
    cr_assert(strstr(why, "exceeds the limit"), "refusal: %s", why);
    /* unknown message type */
    const uint8_t future[] = {0x98, 0x06, 0x01};
    size_t fl;
    uint8_t *fb = raw_frame(future, sizeof future, 0, &fl);
    cr_assert_eq(peer_send_raw_expect_drop(d.peer_url, fb, fl, why, sizeof why), PYDRON_ECLOSED);
    cr_assert(strstr(why, "unknown or missing message type"), "refusal: %s", why);
    free(fb);
    /* right type, wrong moment: a task batch instead of hello */
    Pydron__Heartbeat hb = PYDRON__HEARTBEAT__INIT;
    Pydron__Frame hf = PYDRON__FRAME__INIT;
    hf.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
    hf.heartbeat = &hb;
    uint8_t *hbuf;
    size_t hlen;
    cr_assert_eq(pdi_wire_encode(&hf, NULL, 0, &hbuf, &hlen), 0);
    cr_assert_eq(peer_send_raw_expect_drop(d.peer_url, hbuf, hlen, why, sizeof why),
                 PYDRON_ECLOSED);
    cr_assert(strstr(why, "expected hello"), "refusal: %s", why);
    free(hbuf);
    /* truncated, then the peer hangs up */
    {
        pdi_conn *c;
        cr_assert_eq(pdi_conn_dial(d.peer_url, NULL, 5000, &c), 0);
        cr_assert_eq(pdi_conn_send_raw(c, good, 10), 0);
        pdi_conn_free(c);
    }
    /* wrong secret */
    char msg[256];
    cr_assert_eq(dial_auth(d.peer_url, "not-the-secret", msg, sizeof msg), PYDRON_EAUTH, "%s",
                 msg);
    free(m);
    free(good);

    /* still serving: the driver connection works, and a proper peer can
     * fetch a stored value */
    send_cos_tasks(&d, 100, 5);
    cr_assert_eq(recv_cos_completions(&d, 100, 5), 5);
    {
        pdi_conn *c;
        cr_assert_eq(pdi_conn_dial(d.peer_url, NULL, 5000, &c), 0);
        Pydron__Hello h = PYDRON__HELLO__INIT;
        h.role = 1;
        cr_assert_eq(pdi_auth_dial(c, &h, "test-secret-0123456789abcdefghijk", 33, 5000), 0, "%s",
                     pydron_error_last());
        Pydron__Fetch fe = PYDRON__FETCH__INIT;
        fe.request_id = 77;
        fe.value_id = 2000000 + 102;
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = PYDRON__FRAME__BODY_FETCH;
        f.fetch = &fe;
        cr_assert_eq(pdi_conn_send(c, &f, NULL, 0), 0);
        pdi_frame in;
        cr_assert_eq(pdi_conn_recv(c, pdi_wire_limits_session(), 5000, &in), 0);
        cr_assert_eq(in.hdr->body_case, PYDRON__FRAME__BODY_FETCH_REPLY);
        cr_assert_eq(in.hdr->fetch_reply->status, 0, "%s", in.hdr->fetch_reply->error);
        cr_assert_eq(in.hdr->fetch_reply->request_id, 77);
        const void *p;
        size_t l;
        cr_assert_eq(pdi_frame_seg(&in, in.hdr->fetch_reply->segment, &p, &l), 0);
        double r;
        cr_assert_eq(l, 8);
        memcpy(&r, p, 8);
        cr_assert_float_eq(r, cos(1.02), 1e-12);
        pdi_frame_free(&in);
        pdi_conn_free(c);
    }
    /* the driver releases it; then it is gone */
    {
        uint64_t id = 2000000 + 102;
        Pydron__Release r = PYDRON__RELEASE__INIT;
        r.value_ids = &id;
        r.n_value_ids = 1;
        Pydron__Frame f = PYDRON__FRAME__INIT;
        f.body_case = PYDRON__FRAME__BODY_RELEASE;
        f.release = &r;
        cr_assert_eq(pdi_conn_send(d.c, &f, NULL, 0), 0);
        Pydron__Fetch fe = PYDRON__FETCH__INIT;
        fe.request_id = 5;
        fe.value_id = id;
        Pydron__Frame g = PYDRON__FRAME__INIT;
        g.body_case = PYDRON__FRAME__BODY_FETCH;
        g.fetch = &fe;
        cr_assert_eq(pdi_conn_send(d.c, &g, NULL, 0), 0);
        for (;;) {
            pdi_frame in;
            cr_assert_eq(pdi_conn_recv(d.c, pdi_wire_limits_session(), 5000, &in), 0);
            if (in.hdr->body_case == PYDRON__FRAME__BODY_FETCH_REPLY) {
                cr_assert_eq(in.hdr->fetch_reply->status, PYDRON_ENOTFOUND);
                cr_assert(strstr(in.hdr->fetch_reply->error, "not on worker 3"), "%s",
                          in.hdr->fetch_reply->error);
                pdi_frame_free(&in);
                break;
            }
            pdi_frame_free(&in);
        }
    }
    int st = tdrv_stop(&d, 1);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "worker status %d", st);
}

Test(wire, worker_drops_a_driver_that_sends_garbage, .timeout = 60)
{
    tdrv d;
    tdrv_start(&d, 4096);
    const char junk[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    cr_assert_eq(pdi_conn_send_raw(d.c, junk, sizeof junk - 1), 0);
    /* the worker logs, disconnects and exits (non-zero: not an orderly stop) */
    int st = tdrv_stop(&d, 0);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) != 0, "worker status %d", st);
}

Test(wire, worker_exits_when_driver_goes_away, .timeout = 60)
{
    tdrv d;
    tdrv_start(&d, 4096);
    pdi_conn_close(d.c);
    int st = tdrv_stop(&d, 0);
    cr_assert(st != -1, "worker did not exit after the driver connection closed");
}

Test(wire, peer_to_peer_fetch_between_two_workers, .timeout = 60)
{
    /* worker 5 makes a value that stays in its store; worker 6 gets a task
     * that reads it with where = 5: it must fetch it from worker 5 itself */
    char dir[] = "/tmp/pydron-p2p-XXXXXX";
    cr_assert(mkdtemp(dir));
    char url[128];
    snprintf(url, sizeof url, "ipc://%s/d.sock", dir);
    pdi_listener *l;
    cr_assert_eq(pdi_listener_open(url, NULL, NULL, &l), 0);
    tdrv a, b;
    tdrv_start_id(&a, 0, 5, l);
    tdrv_start_id(&b, 0, 6, l);
    /* tell worker 6 where worker 5 serves its values */
    Pydron__Peer pe = PYDRON__PEER__INIT;
    Pydron__Peer *pp = &pe;
    pe.worker_id = 5;
    pe.url = a.peer_url;
    Pydron__PeerUpdate pu = PYDRON__PEER_UPDATE__INIT;
    pu.peers = &pp;
    pu.n_peers = 1;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_PEER_UPDATE;
    f.peer_update = &pu;
    cr_assert_eq(pdi_conn_send(b.c, &f, NULL, 0), 0);
    /* value 2000001 = cos(0.01) on worker 5 */
    send_cos_tasks(&a, 1, 1);
    cr_assert_eq(recv_cos_completions(&a, 1, 1), 1);
    /* worker 6: cos(input) where input lives on worker 5 */
    void *pl;
    size_t pll;
    cr_assert_eq(pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &pll), 0);
    Pydron__Input in = PYDRON__INPUT__INIT;
    Pydron__Input *ins = &in;
    in.value_id = 2000001;
    in.size = 8;
    in.where = 5;
    in.segment = -1;
    uint64_t out = 7777;
    Pydron__Task t = PYDRON__TASK__INIT;
    Pydron__Task *ts = &t;
    t.seq = 1;
    t.kind = PYDRON_KIND_FFI;
    t.payload_segment = 0;
    t.inputs = &ins;
    t.n_inputs = 1;
    t.outputs = &out;
    t.n_outputs = 1;
    Pydron__TaskBatch tb = PYDRON__TASK_BATCH__INIT;
    tb.tasks = &ts;
    tb.n_tasks = 1;
    Pydron__Frame tf = PYDRON__FRAME__INIT;
    tf.body_case = PYDRON__FRAME__BODY_TASKS;
    tf.tasks = &tb;
    pdi_seg seg = {pl, pll};
    cr_assert_eq(pdi_conn_send(b.c, &tf, &seg, 1), 0);
    pydron_free(pl);
    for (;;) {
        pdi_frame r;
        cr_assert_eq(pdi_conn_recv(b.c, pdi_wire_limits_session(), 10000, &r), 0, "%s",
                     pydron_error_last());
        if (r.hdr->body_case != PYDRON__FRAME__BODY_COMPLETIONS) {
            pdi_frame_free(&r);
            continue;
        }
        Pydron__Completion *c = r.hdr->completions->done[0];
        cr_assert_eq(c->status, 0, "%s", c->error);
        cr_assert_eq(c->outputs[0]->where, 6); /* stays on worker 6 (inline_max 0) */
        pdi_frame_free(&r);
        break;
    }
    /* fetch the result from worker 6 and check cos(cos(0.01)) */
    Pydron__Fetch fe = PYDRON__FETCH__INIT;
    fe.value_id = 7777;
    Pydron__Frame ff = PYDRON__FRAME__INIT;
    ff.body_case = PYDRON__FRAME__BODY_FETCH;
    ff.fetch = &fe;
    cr_assert_eq(pdi_conn_send(b.c, &ff, NULL, 0), 0);
    for (;;) {
        pdi_frame r;
        cr_assert_eq(pdi_conn_recv(b.c, pdi_wire_limits_session(), 10000, &r), 0);
        if (r.hdr->body_case != PYDRON__FRAME__BODY_FETCH_REPLY) {
            pdi_frame_free(&r);
            continue;
        }
        cr_assert_eq(r.hdr->fetch_reply->status, 0, "%s", r.hdr->fetch_reply->error);
        double v;
        cr_assert_eq(r.seglen[0], 8);
        memcpy(&v, r.seg[0], 8);
        cr_assert_float_eq(v, cos(cos(0.01)), 1e-12);
        pdi_frame_free(&r);
        break;
    }
    /* an input on a worker nobody announced: EIO (the driver retries) */
    in.where = 9;
    t.seq = 2;
    cr_assert_eq(pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &pll), 0);
    seg.data = pl;
    seg.len = pll;
    cr_assert_eq(pdi_conn_send(b.c, &tf, &seg, 1), 0);
    pydron_free(pl);
    for (;;) {
        pdi_frame r;
        cr_assert_eq(pdi_conn_recv(b.c, pdi_wire_limits_session(), 10000, &r), 0);
        if (r.hdr->body_case != PYDRON__FRAME__BODY_COMPLETIONS) {
            pdi_frame_free(&r);
            continue;
        }
        Pydron__Completion *c = r.hdr->completions->done[0];
        cr_assert_eq(c->status, PYDRON_EIO);
        cr_assert(strstr(c->error, "worker 9"), "%s", c->error);
        pdi_frame_free(&r);
        break;
    }
    a.l = b.l = NULL;
    int sa = tdrv_stop(&a, 1), sb = tdrv_stop(&b, 1);
    cr_assert(WIFEXITED(sa) && WEXITSTATUS(sa) == 0);
    cr_assert(WIFEXITED(sb) && WEXITSTATUS(sb) == 0);
    pdi_listener_free(l);
    char p[160];
    snprintf(p, sizeof p, "%s/d.sock", dir);
    unlink(p);
    rmdir(dir);
}

Test(wire, worker_leaves_a_silent_driver, .timeout = 60)
{
    /* heartbeats every 100 ms announced, none sent: after 3 s of silence
     * the worker gives up on its own (a hung or stopped driver) */
    tdrv d;
    tdrv_hb_ms = 100;
    tdrv_start(&d, 4096);
    uint64_t t0 = (uint64_t)time(NULL);
    int st = -1;
    /* bounded by time, not by iterations: once the worker has closed the
     * connection, recv fails at once, and its exit may still take a while
     * (under ASan the leak check runs at exit) */
    while ((uint64_t)time(NULL) - t0 < 15) {
        if (waitpid(d.pid, &st, WNOHANG) == d.pid)
            break;
        /* read (and drop) its heartbeats so that only our silence counts */
        pdi_frame in;
        int rrc = pdi_conn_recv(d.c, pdi_wire_limits_session(), 10, &in);
        if (rrc == 0) {
            cr_assert_eq(in.hdr->body_case, PYDRON__FRAME__BODY_HEARTBEAT);
            pdi_frame_free(&in);
        } else if (rrc != PYDRON_ETIMEDOUT) {
            struct timespec ts = {0, 10 * 1000 * 1000};
            nanosleep(&ts, NULL);
        }
        st = -1;
    }
    cr_assert_neq(st, -1, "the worker did not leave a silent driver");
    cr_assert_geq((uint64_t)time(NULL) - t0, 2, "left too early");
    d.pid = 0;
    pdi_conn_free(d.c);
    pdi_listener_free(d.l);
    char p[128];
    snprintf(p, sizeof p, "%s/d.sock", d.dir);
    unlink(p);
    rmdir(d.dir);
}

/* ------------------------------------- shared memory that was not asked for */

/* A peer that answers every Fetch with a shared memory reference (a worker
 * on another host, or one that lies): it counts the fetches it got. */
typedef struct rogue {
    pdi_listener *l;
    pthread_t th;
    int fetches;
    int conns;
} rogue;

static void *rogue_thread(void *arg)
{
    rogue *r = arg;
    pdi_conn *c;
    while (pdi_listener_accept(r->l, &c) == 0) {
        pdi_frame h;
        if (pdi_auth_accept(c, "test-secret-0123456789abcdefghijk", 33, 5000, &h) != 0) {
            pdi_conn_free(c);
            continue;
        }
        pdi_frame_free(&h);
        r->conns++;
        pdi_frame in;
        while (pdi_conn_recv(c, pdi_wire_limits_session(), 10000, &in) == 0) {
            if (in.hdr->body_case == PYDRON__FRAME__BODY_FETCH) {
                r->fetches++;
                Pydron__ShmRef m = PYDRON__SHM_REF__INIT;
                m.pid = (uint32_t)getpid();
                m.ino = 1;
                m.len = 8;
                m.sock = m.offer_a = m.offer_b = 1;
                Pydron__FetchReply rep = PYDRON__FETCH_REPLY__INIT;
                rep.value_id = in.hdr->fetch->value_id;
                rep.segment = -1;
                rep.shm = &m;
                Pydron__Frame f = PYDRON__FRAME__INIT;
                f.body_case = PYDRON__FRAME__BODY_FETCH_REPLY;
                f.fetch_reply = &rep;
                pdi_conn_send(c, &f, NULL, 0);
            }
            pdi_frame_free(&in);
        }
        pdi_conn_free(c);
    }
    return NULL;
}

/* Send one cos task to d reading value 4242 held by worker `where`; return
 * its completion's status and error text. */
static int one_task_status(tdrv *d, int32_t where, Pydron__ShmRef *shm, uint64_t seq,
                           char *err, size_t n, int *shm_failed)
{
    void *pl;
    size_t pll;
    cr_assert_eq(pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &pll), 0);
    Pydron__Input in = PYDRON__INPUT__INIT;
    Pydron__Input *ins = &in;
    in.value_id = 4242;
    in.size = 8;
    in.where = where;
    in.segment = -1;
    in.shm = shm;
    uint64_t out = 9000 + seq;
    Pydron__Task t = PYDRON__TASK__INIT;
    Pydron__Task *ts = &t;
    t.seq = seq;
    t.kind = PYDRON_KIND_FFI;
    t.payload_segment = 0;
    t.inputs = &ins;
    t.n_inputs = 1;
    t.outputs = &out;
    t.n_outputs = 1;
    Pydron__TaskBatch tb = PYDRON__TASK_BATCH__INIT;
    tb.tasks = &ts;
    tb.n_tasks = 1;
    Pydron__Frame tf = PYDRON__FRAME__INIT;
    tf.body_case = PYDRON__FRAME__BODY_TASKS;
    tf.tasks = &tb;
    pdi_seg seg = {pl, pll};
    cr_assert_eq(pdi_conn_send(d->c, &tf, &seg, 1), 0);
    pydron_free(pl);
    for (;;) {
        pdi_frame r;
        cr_assert_eq(pdi_conn_recv(d->c, pdi_wire_limits_session(), 20000, &r), 0, "%s",
                     pydron_error_last());
        if (r.hdr->body_case != PYDRON__FRAME__BODY_COMPLETIONS) {
            pdi_frame_free(&r);
            continue;
        }
        Pydron__Completion *c = r.hdr->completions->done[0];
        int st = c->status;
        snprintf(err, n, "%s", c->error);
        if (shm_failed)
            *shm_failed = c->shm_failed;
        pdi_frame_free(&r);
        return st;
    }
}

/* Before: a reference was opened whoever sent it (a FIFO named by a peer
 * was refused and fetched again without limit, 74,527 round trips in 4 s).
 * Now a worker asks a tcp peer for bytes only; a reference in the reply is
 * never claimed, the link is dropped and the task's input is reported
 * unreachable (PYDRON_EIO: the driver requeues it, bounded, uncharged;
 * a peer's bad reply is not the task's fault) after one fetch. */
Test(wire, worker_refuses_shared_memory_it_did_not_ask_for, .timeout = 60)
{
    rogue r = {0};
    cr_assert_eq(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &r.l), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(pthread_create(&r.th, NULL, rogue_thread, &r), 0);
    tdrv d;
    tdrv_start(&d, 0);
    Pydron__Peer pe = PYDRON__PEER__INIT;
    Pydron__Peer *pp = &pe;
    pe.worker_id = 8;
    pe.url = (char *)pdi_listener_url(r.l);
    Pydron__PeerUpdate pu = PYDRON__PEER_UPDATE__INIT;
    pu.peers = &pp;
    pu.n_peers = 1;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_PEER_UPDATE;
    f.peer_update = &pu;
    cr_assert_eq(pdi_conn_send(d.c, &f, NULL, 0), 0);
    char err[512];
    int st = one_task_status(&d, 8, NULL, 1, err, sizeof err, NULL);
    cr_assert_eq(st, PYDRON_EIO, "status %d: %s", st, err);
    cr_assert(strstr(err, "not asked for"), "%s", err);
    cr_assert_eq(r.fetches, 1, "one fetch, not a loop: %d", r.fetches);
    /* and again: one more fetch per task, never more */
    st = one_task_status(&d, 8, NULL, 2, err, sizeof err, NULL);
    cr_assert_eq(st, PYDRON_EIO, "%s", err);
    cr_assert_eq(r.fetches, 2, "%d", r.fetches);
    int sd = tdrv_stop(&d, 1);
    cr_assert(WIFEXITED(sd) && WEXITSTATUS(sd) == 0);
    pdi_listener_close(r.l);
    pthread_join(r.th, NULL);
    pdi_listener_free(r.l);
}

/* A driver whose Welcome named no host (another host, or shared memory off)
 * cannot pass descriptors: a reference in its task is not claimed; the
 * task reports shm_failed so that the driver sends bytes from then on. */
Test(wire, worker_refuses_driver_shared_memory_from_another_host, .timeout = 60)
{
    tdrv d;
    tdrv_start(&d, 0); /* Welcome without host_id */
    Pydron__ShmRef m = PYDRON__SHM_REF__INIT;
    m.pid = (uint32_t)getpid();
    m.ino = 1;
    m.len = 8;
    m.sock = m.offer_a = m.offer_b = 1;
    char err[512];
    int failed = 0;
    int st = one_task_status(&d, -1, &m, 1, err, sizeof err, &failed);
    cr_assert_eq(st, PYDRON_EIO, "status %d: %s", st, err);
    cr_assert(failed, "shm_failed set");
    cr_assert(strstr(err, "another host"), "%s", err);
    int sd = tdrv_stop(&d, 1);
    cr_assert(WIFEXITED(sd) && WEXITSTATUS(sd) == 0);
}

/* A worker that answers the driver's request for bytes with a shared
 * memory reference (it announced no host, so the driver can only ask for
 * bytes): the driver never maps it, drops that worker with a protocol
 * error, asks once (no fetch loop), and the value fails cleanly instead of
 * the process dying. Real driver (remote executor), real socket; the
 * worker is this test's thread speaking the wire protocol. */
typedef struct rogue_worker {
    char url[96];
    int fetches, tasks, shm_asked;
    int dropped; /* the driver closed the link after the reference */
} rogue_worker;

static void *rogue_worker_thread(void *arg)
{
    rogue_worker *r = arg;
    pdi_conn *c = NULL;
    for (int i = 0; i < 100 && pdi_conn_dial(r->url, NULL, 2000, &c) != 0; i++)
        usleep(50000);
    if (!c)
        return NULL;
    char *kinds[] = {PYDRON_KIND_FFI};
    Pydron__Hello h = PYDRON__HELLO__INIT;
    h.worker_id = -1;
    h.kinds = kinds;
    h.n_kinds = 1;
    h.threads = 1;
    h.pid = (int32_t)getpid();
    h.hostname = "rogue";
    if (pdi_auth_dial(c, &h, "test-secret-0123456789abcdefghijk", 33, 5000) != 0) {
        pdi_conn_free(c);
        return NULL;
    }
    int32_t me = -1;
    pdi_frame in;
    int rc;
    while ((rc = pdi_conn_recv(c, pdi_wire_limits_session(), 20000, &in)) == 0) {
        Pydron__Frame *f = in.hdr;
        Pydron__Frame out = PYDRON__FRAME__INIT;
        if (f->body_case == PYDRON__FRAME__BODY_WELCOME) {
            me = f->welcome->worker_id;
        } else if (f->body_case == PYDRON__FRAME__BODY_TASKS) {
            /* every task "done", its outputs kept here */
            for (size_t i = 0; i < f->tasks->n_tasks; i++) {
                Pydron__Task *t = f->tasks->tasks[i];
                r->tasks++;
                Pydron__Output o[4], *op[4];
                size_t no = t->n_outputs < 4 ? t->n_outputs : 4;
                for (size_t k = 0; k < no; k++) {
                    Pydron__Output x = PYDRON__OUTPUT__INIT;
                    o[k] = x;
                    o[k].value_id = t->outputs[k];
                    o[k].size = 8;
                    o[k].where = me;
                    o[k].segment = -1;
                    op[k] = &o[k];
                }
                Pydron__Completion d = PYDRON__COMPLETION__INIT, *dp = &d;
                d.task_id = t->task_id;
                d.seq = t->seq;
                d.outputs = op;
                d.n_outputs = no;
                d.detail_segment = -1;
                Pydron__CompletionBatch cb = PYDRON__COMPLETION_BATCH__INIT;
                cb.done = &dp;
                cb.n_done = 1;
                out.body_case = PYDRON__FRAME__BODY_COMPLETIONS;
                out.completions = &cb;
                pdi_conn_send(c, &out, NULL, 0);
            }
        } else if (f->body_case == PYDRON__FRAME__BODY_FETCH) {
            r->fetches++;
            r->shm_asked += !f->fetch->no_shm;
            Pydron__ShmRef m = PYDRON__SHM_REF__INIT;
            m.pid = (uint32_t)getpid();
            m.ino = 1;
            m.len = 8;
            m.sock = m.offer_a = m.offer_b = 1;
            Pydron__FetchReply rep = PYDRON__FETCH_REPLY__INIT;
            rep.request_id = f->fetch->request_id;
            rep.value_id = f->fetch->value_id;
            rep.segment = -1;
            rep.shm = &m;
            out.body_case = PYDRON__FRAME__BODY_FETCH_REPLY;
            out.fetch_reply = &rep;
            pdi_conn_send(c, &out, NULL, 0);
        } else if (f->body_case == PYDRON__FRAME__BODY_HEARTBEAT) {
            out.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
            out.heartbeat = f->heartbeat;
            pdi_conn_send(c, &out, NULL, 0);
        }
        pdi_frame_free(&in);
    }
    r->dropped = rc == PYDRON_ECLOSED || rc == PYDRON_EIO || rc == PYDRON_EPROTO;
    pdi_conn_free(c);
    return NULL;
}

Test(wire, driver_refuses_shared_memory_it_did_not_ask_for, .timeout = 120)
{
    rogue_worker r = {0};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    cr_assert(fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof a) == 0 &&
              getsockname(fd, (struct sockaddr *)&a, &al) == 0);
    close(fd); /* a free port, given to the driver */
    snprintf(r.url, sizeof r.url, "tcp://127.0.0.1:%d", ntohs(a.sin_port));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, rogue_worker_thread, &r), 0);
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_INLINE;
    o.workers = 1;
    pydron_runtime *rt;
    cr_assert_eq(pydron_runtime_new(&rt, &o), 0, "%s", pydron_error_last());
    pydron_process_options po;
    cr_assert_eq(pydron_process_options_init(&po, PYDRON_PROCESS_OPTIONS_VERSION), 0);
    po.listen_url = r.url;
    po.secret = "test-secret-0123456789abcdefghijk";
    po.worker_wait_ms = 1000;
    po.join_timeout_ms = 30000;
    cr_assert_eq(pydron_runtime_use_executor(rt, "remote", &po), 0, "%s", pydron_error_last());
    pydron_graph *g;
    cr_assert_eq(pydron_graph_new(rt, &g), 0, "%s", pydron_error_last());
    cr_assert_eq(pydron_graph_start(g), 0, "%s", pydron_error_last());
    void *pl;
    size_t pll;
    cr_assert_eq(pydron_ffi_payload("libm.so.6", "cos", "d(d)", &pl, &pll), 0);
    double x = 0.5;
    pydron_value in, out = PYDRON_VALUE_NONE;
    cr_assert_eq(pydron_value_constant(g, &x, sizeof x, &in), 0, "%s", pydron_error_last());
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = 0;
    cr_assert_eq(pydron_runtime_kind(rt, PYDRON_KIND_FFI, &d.kind), 0, "%s", pydron_error_last());
    d.inputs = &in;
    d.ninputs = 1;
    d.noutputs = 1;
    d.payload = pl;
    d.payload_len = pll;
    cr_assert_eq(pydron_task_add(g, &d, NULL, &out), 0, "%s", pydron_error_last());
    pydron_free(pl);
    int rc = pydron_graph_wait(g, out, 60000);
    const void *p = NULL;
    size_t n = 0;
    if (rc == 0)
        rc = pydron_value_bytes(g, out, &p, &n);
    cr_assert_neq(rc, 0, "the driver took the value from an unasked shared memory reference");
    pthread_join(th, NULL);
    cr_assert_geq(r.tasks, 1);
    cr_assert_eq(r.shm_asked, 0, "the driver asked a host-less worker for shared memory");
    cr_assert_eq(r.fetches, 1, "one fetch, not a loop: %d", r.fetches);
    cr_assert(r.dropped, "the driver kept the worker that sent the reference");
    cr_assert_eq(pydron_graph_free(g), 0);
    cr_assert_eq(pydron_runtime_free(rt), 0);
}
