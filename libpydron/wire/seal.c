/* seal.c - the record layer after the handshake and the key derivation
 * (seal.h). Crypto is libsodium's; nothing here is home-made but the
 * record framing. */
#include "wire/seal.h"

#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "util/util.h"

static pthread_once_t sodium_once = PTHREAD_ONCE_INIT;
static int sodium_ok;
static void sodium_start(void) { sodium_ok = sodium_init() >= 0; }

int pdi_sodium_ready(void)
{
    pthread_once(&sodium_once, sodium_start);
    return sodium_ok;
}

pdi_seal *pdi_seal_new(const uint8_t tx[PDI_SEAL_KEY], const uint8_t rx[PDI_SEAL_KEY])
{
    if (!pdi_sodium_ready())
        return NULL;
    pdi_seal *s = calloc(1, sizeof *s);
    if (!s)
        return NULL;
    s->tbuf = malloc(PDI_SEAL_HDR + PDI_SEAL_REC_MAX + PDI_SEAL_TAG);
    s->pbuf = malloc(PDI_SEAL_REC_MAX + PDI_SEAL_TAG);
    if (!s->tbuf || !s->pbuf) {
        pdi_seal_free(s);
        return NULL;
    }
    memcpy(s->txkey, tx, PDI_SEAL_KEY);
    memcpy(s->rxkey, rx, PDI_SEAL_KEY);
    return s;
}

void pdi_seal_free(pdi_seal *s)
{
    if (!s)
        return;
    sodium_memzero(s->txkey, sizeof s->txkey);
    sodium_memzero(s->rxkey, sizeof s->rxkey);
    if (s->pbuf)
        sodium_memzero(s->pbuf, PDI_SEAL_REC_MAX + PDI_SEAL_TAG);
    free(s->tbuf);
    free(s->pbuf);
    free(s);
}

static void nonce_of(uint64_t n, uint8_t out[crypto_aead_chacha20poly1305_IETF_NPUBBYTES])
{
    memset(out, 0, crypto_aead_chacha20poly1305_IETF_NPUBBYTES);
    for (int i = 0; i < 8; i++)
        out[4 + i] = (uint8_t)(n >> (8 * i));
}

size_t pdi_seal_hdr_len(const uint8_t hdr[PDI_SEAL_HDR])
{
    uint32_t n = (uint32_t)hdr[0] | (uint32_t)hdr[1] << 8 | (uint32_t)hdr[2] << 16 |
                 (uint32_t)hdr[3] << 24;
    return n == 0 || n > PDI_SEAL_REC_MAX ? 0 : n;
}

size_t pdi_seal_record_to(pdi_seal *s, uint8_t *dst, const void *src, size_t n)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    if (n > PDI_SEAL_REC_MAX)
        n = PDI_SEAL_REC_MAX;
    uint8_t *h = dst;
    h[0] = (uint8_t)n;
    h[1] = (uint8_t)(n >> 8);
    h[2] = (uint8_t)(n >> 16);
    h[3] = (uint8_t)(n >> 24);
    nonce_of(s->txn++, nonce);
    crypto_aead_chacha20poly1305_ietf_encrypt_detached(h + PDI_SEAL_HDR, h + PDI_SEAL_HDR + n,
                                                       NULL, src, n, h, PDI_SEAL_HDR, NULL,
                                                       nonce, s->txkey);
    return PDI_SEAL_HDR + n + PDI_SEAL_TAG;
}

size_t pdi_seal_record(pdi_seal *s, const void *src, size_t n)
{
    return pdi_seal_record_to(s, s->tbuf, src, n);
}

int pdi_seal_open_to(pdi_seal *s, const uint8_t hdr[PDI_SEAL_HDR], const uint8_t *ct, size_t len,
                     const uint8_t tag[PDI_SEAL_TAG], uint8_t *out, const char *peer)
{
    uint8_t nonce[crypto_aead_chacha20poly1305_IETF_NPUBBYTES];
    nonce_of(s->rxn, nonce);
    if (crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, ct, len, tag, hdr,
                                                           PDI_SEAL_HDR, nonce, s->rxkey) != 0)
        return pdi_err(PYDRON_EPROTO,
                       "record %llu from %s failed authentication (edited, injected, replayed "
                       "or reordered on the way): link dropped",
                       (unsigned long long)s->rxn, peer);
    s->rxn++;
    return 0;
}

int pdi_seal_open(pdi_seal *s, const uint8_t hdr[PDI_SEAL_HDR], uint8_t *buf, size_t len,
                  const uint8_t tag[PDI_SEAL_TAG], const char *peer)
{
    return pdi_seal_open_to(s, hdr, buf, len, tag, buf, peer);
}

void pdi_kdf_root(const void *secret, size_t len, uint8_t k[PDI_KDF_LEN])
{
    (void)pdi_sodium_ready();
    static const char label[] = "pydron v2 shared secret";
    crypto_generichash_state st;
    crypto_generichash_init(&st, NULL, 0, PDI_KDF_LEN);
    crypto_generichash_update(&st, (const unsigned char *)label, sizeof label);
    crypto_generichash_update(&st, secret, len);
    crypto_generichash_final(&st, k, PDI_KDF_LEN);
    sodium_memzero(&st, sizeof st);
}

void pdi_kdf(const uint8_t k[PDI_KDF_LEN], const char *label, const void *data, size_t len,
             uint8_t out[PDI_KDF_LEN])
{
    crypto_generichash_state st;
    crypto_generichash_init(&st, k, PDI_KDF_LEN, PDI_KDF_LEN);
    crypto_generichash_update(&st, (const unsigned char *)label, strlen(label) + 1);
    crypto_generichash_update(&st, data, len);
    crypto_generichash_final(&st, out, PDI_KDF_LEN);
    sodium_memzero(&st, sizeof st);
}
