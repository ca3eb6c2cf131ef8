/* auth.c - the handshake: shared-secret mutual authentication that ends in
 * per-direction session keys (docs/wire.md, "Handshake").
 *
 *   dialer   -> Hello{nonce_d, ...}
 *   listener -> Challenge{nonce_l}                    (no proof yet)
 *   dialer   -> Auth{P_d = KDF(k, "dialer proof", T1)}  the dialer proves first
 *   listener -> Auth{P_l = KDF(k, "listener proof", T2)}
 *   both     :  tx/rx = KDF(k, "dialer to listener" / "listener to dialer", T3)
 *
 * k = BLAKE2b(secret); T1, T2, T3 = BLAKE2b of every handshake byte sent and
 * received so far (T1 after Challenge, T2 after the dialer's Auth, T3 after
 * the listener's), so a relay that edits any handshake frame breaks the
 * proofs, and the keys belong to this connection only (both nonces are in
 * the transcript). The listener shows nothing derived from the secret
 * before the dialer has proved it knows it: one unauthenticated connection
 * yields nothing to test guesses against. Everything after the handshake is
 * sealed (wire/seal.c). The whole handshake has one deadline, and before
 * the proof only small frames without payload are read. */
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/sha256.h"
#include "util/util.h"
#include "wire/conn_internal.h"
#include "wire/seal.h"
#include "wire/wire.h"

/* The handshake's own version (Hello/Challenge.protocol_version); 1 was the
 * HMAC exchange without session keys. */
#define AUTH_VERSION 2u

static void refuse(pdi_conn *c, int code, const char *msg)
{
    Pydron__Frame f = PYDRON__FRAME__INIT;
    Pydron__Refused r = PYDRON__REFUSED__INIT;
    r.code = code;
    r.message = (char *)msg;
    f.body_case = PYDRON__FRAME__BODY_REFUSED;
    f.refused = &r;
    if (pdi_conn_send_timeout(c, &f, NULL, 0, 1000) == 0)
        pdi_conn_linger(c, 1000); /* so the peer reads why */
}

static int send_auth(pdi_conn *c, const uint8_t proof[PDI_KDF_LEN])
{
    Pydron__Auth a = PYDRON__AUTH__INIT;
    a.proof.data = (uint8_t *)proof;
    a.proof.len = PDI_KDF_LEN;
    Pydron__Frame g = PYDRON__FRAME__INIT;
    g.body_case = PYDRON__FRAME__BODY_AUTH;
    g.auth = &a;
    return pdi_conn_send(c, &g, NULL, 0);
}

/* proof = KDF(k, label, transcript so far) */
static void proof_now(pdi_conn *c, const uint8_t k[PDI_KDF_LEN], const char *label,
                      uint8_t out[PDI_KDF_LEN])
{
    uint8_t t[PDI_KDF_LEN];
    pdi_conn_transcript(c, t);
    pdi_kdf(k, label, t, sizeof t, out);
}

/* Receive an Auth frame; a Refused one becomes an error with its reason. */
static int recv_auth(pdi_conn *c, const char *who, pdi_frame *in)
{
    int rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, -1, in);
    if (rc) {
        if (rc == PYDRON_ECLOSED)
            return pdi_err(PYDRON_EAUTH, "%s closed the connection during the handshake",
                           who);
        return rc;
    }
    if (in->hdr->body_case == PYDRON__FRAME__BODY_REFUSED) {
        rc = pdi_err(in->hdr->refused->code < 0 ? in->hdr->refused->code : PYDRON_EAUTH,
                     "refused by %s: %s", pdi_conn_peer(c), in->hdr->refused->message);
        pdi_frame_free(in);
        return rc;
    }
    if (in->hdr->body_case != PYDRON__FRAME__BODY_AUTH ||
        in->hdr->auth->proof.len != PDI_KDF_LEN) {
        rc = pdi_err(PYDRON_EPROTO, "expected a proof from %s, got a %s frame", who,
                     pdi_frame_type_name(in->hdr));
        pdi_frame_free(in);
        return rc;
    }
    return 0;
}

/* Both sides: derive the session keys from the whole transcript. */
static int start_sealing(pdi_conn *c, const uint8_t k[PDI_KDF_LEN], int dialer)
{
    uint8_t d2l[PDI_KDF_LEN], l2d[PDI_KDF_LEN];
    proof_now(c, k, "pydron dialer to listener", d2l);
    proof_now(c, k, "pydron listener to dialer", l2d);
    int rc = dialer ? pdi_conn_seal(c, d2l, l2d) : pdi_conn_seal(c, l2d, d2l);
    sodium_memzero(d2l, sizeof d2l);
    sodium_memzero(l2d, sizeof l2d);
    return rc;
}

int pdi_auth_dial(pdi_conn *c, Pydron__Hello *hello, const void *secret, size_t slen,
                  int timeout_ms)
{
    uint8_t nd[PDI_NONCE_LEN], k[PDI_KDF_LEN], pr[PDI_KDF_LEN];
    int rc;
    if ((rc = pdi_random_bytes(nd, sizeof nd)) != 0)
        return pdi_err(rc, "no random bytes for the handshake");
    if ((rc = pdi_conn_transcript_start(c)) != 0)
        return rc;
    pdi_conn_set_deadline(c, timeout_ms < 0 ? 0
                                            : pdi_now_ns() + (uint64_t)timeout_ms * 1000000u);
    pdi_kdf_root(secret, slen, k);
    hello->protocol_version = AUTH_VERSION;
    hello->nonce.data = nd;
    hello->nonce.len = sizeof nd;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_HELLO;
    f.hello = hello;
    rc = pdi_conn_send(c, &f, NULL, 0);
    hello->nonce.data = NULL;
    hello->nonce.len = 0;
    if (rc)
        goto out;
    pdi_frame in;
    if ((rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, -1, &in)) != 0) {
        if (rc == PYDRON_ECLOSED || rc == PYDRON_EPROTO)
            rc = pdi_err(PYDRON_EPROTO,
                         "%s did not answer the handshake (%s): is it a pydron driver or "
                         "worker of this version, and does the scheme match (a tls+tcp:// "
                         "listener must be dialled with tls+tcp://)?",
                         pdi_conn_peer(c), pydron_error_last());
        goto out;
    }
    if (in.hdr->body_case == PYDRON__FRAME__BODY_REFUSED) {
        rc = pdi_err(in.hdr->refused->code < 0 ? in.hdr->refused->code : PYDRON_EAUTH,
                     "refused by %s: %s", pdi_conn_peer(c), in.hdr->refused->message);
        pdi_frame_free(&in);
        goto out;
    }
    if (in.hdr->body_case != PYDRON__FRAME__BODY_CHALLENGE ||
        in.hdr->challenge->nonce.len != PDI_NONCE_LEN) {
        rc = pdi_err(PYDRON_EPROTO, "expected a challenge from %s, got a %s frame",
                     pdi_conn_peer(c), pdi_frame_type_name(in.hdr));
        pdi_frame_free(&in);
        goto out;
    }
    pdi_frame_free(&in);
    proof_now(c, k, "pydron dialer proof", pr);
    if ((rc = send_auth(c, pr)) != 0)
        goto out;
    uint8_t expect[PDI_KDF_LEN];
    proof_now(c, k, "pydron listener proof", expect);
    if ((rc = recv_auth(c, pdi_conn_peer(c), &in)) != 0)
        goto out;
    int bad = sodium_memcmp(expect, in.hdr->auth->proof.data, PDI_KDF_LEN) != 0;
    pdi_frame_free(&in);
    if (bad) {
        refuse(c, PYDRON_EAUTH, "wrong shared secret (the listener's proof did not match)");
        rc = pdi_err(PYDRON_EAUTH,
                     "%s does not know the shared secret (wrong secret on one side?)",
                     pdi_conn_peer(c));
        goto out;
    }
    rc = start_sealing(c, k, 1);
out:
    if (rc == PYDRON_ETIMEDOUT)
        rc = pdi_err(rc, "handshake with %s not finished in time (%d ms for all of it)",
                     pdi_conn_peer(c), timeout_ms);
    pdi_conn_set_deadline(c, 0);
    sodium_memzero(k, sizeof k);
    return rc;
}

/* The Hello's repeated and string fields stay small before anyone is
 * authenticated (the header limit bounds them too; these say why). */
static int check_hello(const Pydron__Hello *h)
{
    if (h->n_kinds > PDI_HELLO_MAX_KINDS)
        return pdi_err(PYDRON_EPROTO, "hello names %zu runner kinds (at most %u)", h->n_kinds,
                       PDI_HELLO_MAX_KINDS);
    for (size_t i = 0; i < h->n_kinds; i++)
        if (strlen(h->kinds[i]) > PDI_HELLO_MAX_NAME)
            return pdi_err(PYDRON_EPROTO, "hello: a runner kind name is longer than %u bytes",
                           PDI_HELLO_MAX_NAME);
    if (strlen(h->peer_url) > PDI_HELLO_MAX_URL || strlen(h->hostname) > PDI_HELLO_MAX_NAME ||
        strlen(h->host_id) > PDI_HELLO_MAX_NAME)
        return pdi_err(PYDRON_EPROTO, "hello: peer URL, host name or host id too long");
    size_t ne = strlen(h->previous_end);
    if (ne > PDI_HELLO_MAX_END)
        return pdi_err(PYDRON_EPROTO, "hello: previous worker's end is longer than %u bytes",
                       PDI_HELLO_MAX_END);
    for (size_t i = 0; i < ne; i++)
        if (h->previous_end[i] < 0x20 || h->previous_end[i] > 0x7e)
            return pdi_err(PYDRON_EPROTO, "hello: previous worker's end is not printable text");
    if (h->previous_pid < 0 || (h->previous_pid == 0 && ne))
        return pdi_err(PYDRON_EPROTO, "hello: previous worker's pid %d is not a pid",
                       (int)h->previous_pid);
    return 0;
}

int pdi_auth_check_hello(const Pydron__Frame *hdr)
{
    if (hdr->body_case != PYDRON__FRAME__BODY_HELLO)
        return pdi_err(PYDRON_EPROTO, "expected hello, got a %s frame", pdi_frame_type_name(hdr));
    const Pydron__Hello *h = hdr->hello;
    if (h->protocol_version != AUTH_VERSION)
        return pdi_err(PYDRON_EPROTO, "peer speaks protocol version %u, this build speaks %u",
                       h->protocol_version, AUTH_VERSION);
    if (h->nonce.len != PDI_NONCE_LEN)
        return pdi_err(PYDRON_EPROTO, "hello carries a %zu-byte nonce, expected %u",
                       h->nonce.len, PDI_NONCE_LEN);
    return check_hello(h);
}

int pdi_auth_accept(pdi_conn *c, const void *secret, size_t slen, int timeout_ms,
                    pdi_frame *hello)
{
    uint8_t nl[PDI_NONCE_LEN], k[PDI_KDF_LEN], pr[PDI_KDF_LEN];
    int rc;
    memset(hello, 0, sizeof *hello);
    if ((rc = pdi_conn_transcript_start(c)) != 0)
        return rc;
    pdi_conn_set_deadline(c, timeout_ms < 0 ? 0
                                            : pdi_now_ns() + (uint64_t)timeout_ms * 1000000u);
    pdi_kdf_root(secret, slen, k);
    if ((rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, -1, hello)) != 0) {
        if (rc == PYDRON_EPROTO)
            refuse(c, rc, pydron_error_last());
        goto fail_quiet;
    }
    if ((rc = pdi_auth_check_hello(hello->hdr)) != 0)
        goto fail;
    if ((rc = pdi_random_bytes(nl, sizeof nl)) != 0) {
        rc = pdi_err(rc, "no random bytes for the handshake");
        goto fail;
    }
    Pydron__Challenge ch = PYDRON__CHALLENGE__INIT;
    ch.protocol_version = AUTH_VERSION;
    ch.nonce.data = nl;
    ch.nonce.len = sizeof nl;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_CHALLENGE;
    f.challenge = &ch;
    if ((rc = pdi_conn_send(c, &f, NULL, 0)) != 0)
        goto fail_quiet;
    uint8_t expect[PDI_KDF_LEN];
    proof_now(c, k, "pydron dialer proof", expect);
    pdi_frame a;
    if ((rc = recv_auth(c, "the dialer", &a)) != 0) {
        if (rc == PYDRON_EPROTO)
            refuse(c, rc, pydron_error_last());
        goto fail_quiet;
    }
    int bad = sodium_memcmp(expect, a.hdr->auth->proof.data, PDI_KDF_LEN) != 0;
    pdi_frame_free(&a);
    if (bad) {
        rc = pdi_err(PYDRON_EAUTH, "wrong shared secret");
        goto fail;
    }
    proof_now(c, k, "pydron listener proof", pr);
    if ((rc = send_auth(c, pr)) != 0 || (rc = start_sealing(c, k, 0)) != 0)
        goto fail_quiet;
    pdi_conn_set_deadline(c, 0);
    sodium_memzero(k, sizeof k);
    return 0;
fail:
    refuse(c, rc, pydron_error_last());
fail_quiet:
    if (rc == PYDRON_ETIMEDOUT)
        rc = pdi_err(rc, "handshake not finished in time (%d ms for all of it)", timeout_ms);
    pdi_conn_set_deadline(c, 0);
    sodium_memzero(k, sizeof k);
    pdi_frame_free(hello);
    return rc;
}
