/* seal.h - the record layer that protects every frame after the handshake
 * (wire/seal.c), and the handshake transcript. Internal to wire/.
 *
 * After pdi_auth_* succeed, each direction of a connection has its own key
 * derived from the secret, both nonces and the transcript. Bytes written
 * are cut into records
 *     [len: 4 bytes LE, 1..PDI_SEAL_REC_MAX][ciphertext: len][tag: 16]
 * sealed with ChaCha20-Poly1305 (IETF, libsodium), nonce = the record's
 * number in that direction, the 4 length bytes as associated data. A
 * record that was edited, injected, replayed, reordered or cut fails its
 * tag: the reader returns PYDRON_EPROTO and the caller drops the link. */
#ifndef PDI_WIRE_SEAL_H
#define PDI_WIRE_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define PDI_SEAL_KEY 32u
#define PDI_SEAL_TAG 16u
#define PDI_SEAL_HDR 4u
#define PDI_SEAL_REC_MAX (64u * 1024u)

/* libsodium initialised (once, any thread); 0 if it cannot be. */
int pdi_sodium_ready(void);

typedef struct pdi_seal {
    uint8_t txkey[PDI_SEAL_KEY], rxkey[PDI_SEAL_KEY];
    uint64_t txn, rxn;   /* records sealed / opened so far */
    uint8_t *tbuf;       /* one outgoing record (writers hold the write lock) */
    uint8_t *pbuf;       /* one opened record not yet consumed by the reader */
    size_t ppos, plen;
} pdi_seal;

/* Make a seal with these keys (copied); NULL when out of memory. */
pdi_seal *pdi_seal_new(const uint8_t tx[PDI_SEAL_KEY], const uint8_t rx[PDI_SEAL_KEY]);
void pdi_seal_free(pdi_seal *s);
/* Seal up to PDI_SEAL_REC_MAX bytes of src into s->tbuf; returns the record
 * length (header + ciphertext + tag). */
size_t pdi_seal_record(pdi_seal *s, const void *src, size_t n);
/* The same into dst (room for PDI_SEAL_HDR + n + PDI_SEAL_TAG bytes), so
 * that many records can be sealed back to back and written at once. */
size_t pdi_seal_record_to(pdi_seal *s, uint8_t *dst, const void *src, size_t n);
/* Open a record in place: hdr (4 bytes as received), ciphertext buf of len
 * bytes, tag. 0, or PYDRON_EPROTO when it fails authentication. */
int pdi_seal_open(pdi_seal *s, const uint8_t hdr[PDI_SEAL_HDR], uint8_t *buf, size_t len,
                  const uint8_t tag[PDI_SEAL_TAG], const char *peer);
/* Open a record from ct (len bytes, left as is) into out (len bytes, not
 * overlapping ct): the receiver's buffer straight into the destination. */
int pdi_seal_open_to(pdi_seal *s, const uint8_t hdr[PDI_SEAL_HDR], const uint8_t *ct, size_t len,
                     const uint8_t tag[PDI_SEAL_TAG], uint8_t *out, const char *peer);
/* The plaintext length a record header announces; 0 when out of range. */
size_t pdi_seal_hdr_len(const uint8_t hdr[PDI_SEAL_HDR]);

/* ---- key derivation (keyed BLAKE2b-256, libsodium crypto_generichash) ---- */
#define PDI_KDF_LEN 32u
/* k = BLAKE2b(secret): the key every proof and session key is derived from. */
void pdi_kdf_root(const void *secret, size_t len, uint8_t k[PDI_KDF_LEN]);
/* out = BLAKE2b(key = k, label | 0 | data). */
void pdi_kdf(const uint8_t k[PDI_KDF_LEN], const char *label, const void *data, size_t len,
             uint8_t out[PDI_KDF_LEN]);

#endif
