/* auth.c - shared-secret challenge-response between dialer and listener.
 *
 * Both sides prove they know the secret without sending it:
 *   dialer   -> Hello{nonce_d}
 *   listener -> Challenge{nonce_l, HMAC(secret, "pydron-listener"|nonce_d|nonce_l)}
 *   dialer   -> Auth{HMAC(secret, "pydron-dialer"|nonce_l|nonce_d)}
 * Nothing but these frames (with tiny size limits) is accepted before the
 * proof checks out, so no task or value reaches an unauthenticated peer. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/sha256.h"
#include "util/util.h"
#include "wire/wire.h"

static void proof(const void *secret, size_t slen, const char *label, const uint8_t *a,
                  const uint8_t *b, uint8_t out[PDI_SHA256_LEN])
{
    const void *parts[3] = {label, a, b};
    size_t lens[3] = {strlen(label), PDI_NONCE_LEN, PDI_NONCE_LEN};
    pdi_hmac_sha256(secret, slen, parts, lens, 3, out);
}

static void refuse(pdi_conn *c, int code, const char *msg)
{
    Pydron__Frame f = PYDRON__FRAME__INIT;
    Pydron__Refused r = PYDRON__REFUSED__INIT;
    r.code = code;
    r.message = (char *)msg;
    f.body_case = PYDRON__FRAME__BODY_REFUSED;
    f.refused = &r;
    (void)pdi_conn_send(c, &f, NULL, 0);
}

int pdi_auth_dial(pdi_conn *c, Pydron__Hello *hello, const void *secret, size_t slen,
                  int timeout_ms)
{
    uint8_t nd[PDI_NONCE_LEN], expect[PDI_SHA256_LEN], mine[PDI_SHA256_LEN];
    int rc;
    if ((rc = pdi_random_bytes(nd, sizeof nd)) != 0)
        return pdi_err(rc, "no random bytes for the handshake");
    hello->protocol_version = PDI_WIRE_VERSION;
    hello->nonce.data = nd;
    hello->nonce.len = sizeof nd;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_HELLO;
    f.hello = hello;
    rc = pdi_conn_send(c, &f, NULL, 0);
    hello->nonce.data = NULL;
    hello->nonce.len = 0;
    if (rc)
        return rc;
    pdi_frame in;
    if ((rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, timeout_ms, &in)) != 0)
        return rc;
    if (in.hdr->body_case == PYDRON__FRAME__BODY_REFUSED) {
        rc = pdi_err(in.hdr->refused->code < 0 ? in.hdr->refused->code : PYDRON_EAUTH,
                     "refused by %s: %s", pdi_conn_peer(c), in.hdr->refused->message);
        pdi_frame_free(&in);
        return rc;
    }
    if (in.hdr->body_case != PYDRON__FRAME__BODY_CHALLENGE) {
        rc = pdi_err(PYDRON_EPROTO, "expected a challenge, got a %s frame",
                     pdi_frame_type_name(in.hdr));
        pdi_frame_free(&in);
        return rc;
    }
    Pydron__Challenge *ch = in.hdr->challenge;
    if (ch->nonce.len != PDI_NONCE_LEN || ch->proof.len != PDI_SHA256_LEN) {
        pdi_frame_free(&in);
        return pdi_err(PYDRON_EPROTO, "malformed challenge");
    }
    proof(secret, slen, "pydron-listener", nd, ch->nonce.data, expect);
    if (pdi_ct_memcmp(expect, ch->proof.data, PDI_SHA256_LEN) != 0) {
        pdi_frame_free(&in);
        /* tell the listener why, so that its log line says so */
        refuse(c, PYDRON_EAUTH, "wrong shared secret (the listener's proof did not match)");
        return pdi_err(PYDRON_EAUTH,
                       "%s does not know the shared secret (wrong secret on one side?)",
                       pdi_conn_peer(c));
    }
    proof(secret, slen, "pydron-dialer", ch->nonce.data, nd, mine);
    pdi_frame_free(&in);
    Pydron__Auth a = PYDRON__AUTH__INIT;
    a.proof.data = mine;
    a.proof.len = sizeof mine;
    Pydron__Frame g = PYDRON__FRAME__INIT;
    g.body_case = PYDRON__FRAME__BODY_AUTH;
    g.auth = &a;
    return pdi_conn_send(c, &g, NULL, 0);
}

int pdi_auth_accept(pdi_conn *c, const void *secret, size_t slen, int timeout_ms,
                    pdi_frame *hello)
{
    uint8_t nl[PDI_NONCE_LEN], pr[PDI_SHA256_LEN];
    int rc;
    memset(hello, 0, sizeof *hello);
    if ((rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, timeout_ms, hello)) != 0) {
        if (rc == PYDRON_EPROTO)
            refuse(c, rc, pydron_error_last());
        return rc;
    }
    Pydron__Hello *h = hello->hdr->hello;
    if (hello->hdr->body_case != PYDRON__FRAME__BODY_HELLO) {
        rc = pdi_err(PYDRON_EPROTO, "expected hello, got a %s frame",
                     pdi_frame_type_name(hello->hdr));
        goto fail;
    }
    if (h->protocol_version != PDI_WIRE_VERSION) {
        rc = pdi_err(PYDRON_EPROTO, "peer speaks protocol version %u, this build speaks %u",
                     h->protocol_version, PDI_WIRE_VERSION);
        goto fail;
    }
    if (h->nonce.len != PDI_NONCE_LEN) {
        rc = pdi_err(PYDRON_EPROTO, "hello carries a %zu-byte nonce, expected %u", h->nonce.len,
                     PDI_NONCE_LEN);
        goto fail;
    }
    if ((rc = pdi_random_bytes(nl, sizeof nl)) != 0) {
        rc = pdi_err(rc, "no random bytes for the handshake");
        goto fail;
    }
    proof(secret, slen, "pydron-listener", h->nonce.data, nl, pr);
    Pydron__Challenge ch = PYDRON__CHALLENGE__INIT;
    ch.protocol_version = PDI_WIRE_VERSION;
    ch.nonce.data = nl;
    ch.nonce.len = sizeof nl;
    ch.proof.data = pr;
    ch.proof.len = sizeof pr;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_CHALLENGE;
    f.challenge = &ch;
    if ((rc = pdi_conn_send(c, &f, NULL, 0)) != 0)
        goto fail_quiet;
    pdi_frame a;
    if ((rc = pdi_conn_recv(c, &pdi_wire_limits_handshake, timeout_ms, &a)) != 0) {
        if (rc == PYDRON_EPROTO)
            refuse(c, rc, pydron_error_last());
        goto fail_quiet;
    }
    if (a.hdr->body_case != PYDRON__FRAME__BODY_AUTH) {
        const char *what = a.hdr->body_case == PYDRON__FRAME__BODY_REFUSED
                               ? "the peer refused our proof (wrong secret?)"
                               : "expected auth";
        rc = pdi_err(a.hdr->body_case == PYDRON__FRAME__BODY_REFUSED ? PYDRON_EAUTH
                                                                       : PYDRON_EPROTO,
                     "%s, got a %s frame", what, pdi_frame_type_name(a.hdr));
        pdi_frame_free(&a);
        goto fail;
    }
    proof(secret, slen, "pydron-dialer", nl, h->nonce.data, pr);
    int bad = a.hdr->auth->proof.len != PDI_SHA256_LEN ||
              pdi_ct_memcmp(pr, a.hdr->auth->proof.data, PDI_SHA256_LEN) != 0;
    pdi_frame_free(&a);
    if (bad) {
        rc = pdi_err(PYDRON_EAUTH, "wrong shared secret");
        goto fail;
    }
    return 0;
fail:
    refuse(c, rc, pydron_error_last());
fail_quiet:
    pdi_frame_free(hello);
    return rc;
}

int pdi_secret_read_file(const char *path, char **out, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return pdi_err(PYDRON_EIO, "cannot open secret file %s", path);
    char buf[4096];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
        n--;
    if (n == 0)
        return pdi_err(PYDRON_EINVAL, "secret file %s is empty", path);
    char *s = malloc(n + 1);
    if (!s)
        return pdi_err(PYDRON_ENOMEM, "out of memory");
    memcpy(s, buf, n);
    s[n] = 0;
    *out = s;
    *len = n;
    return 0;
}
