/* sha256.h - SHA-256 and HMAC-SHA256 for the worker handshake (small and
 * self-contained so that auth does not depend on which TLS library nng was
 * built with). */
#ifndef PDI_SHA256_H
#define PDI_SHA256_H

#include <stddef.h>
#include <stdint.h>

#define PDI_SHA256_LEN 32

typedef struct pdi_sha256 {
    uint32_t h[8];
    uint64_t total;
    uint8_t buf[64];
    size_t nbuf;
} pdi_sha256_ctx;

void pdi_sha256_init(pdi_sha256_ctx *s);
void pdi_sha256_update(pdi_sha256_ctx *s, const void *data, size_t len);
void pdi_sha256_final(pdi_sha256_ctx *s, uint8_t out[PDI_SHA256_LEN]);
void pdi_sha256(const void *data, size_t len, uint8_t out[PDI_SHA256_LEN]);

/* HMAC-SHA256 over the concatenation of n parts. */
void pdi_hmac_sha256(const void *key, size_t keylen, const void *const *parts,
                     const size_t *lens, size_t n, uint8_t out[PDI_SHA256_LEN]);

/* Constant-time comparison (0 if equal). */
int pdi_ct_memcmp(const void *a, const void *b, size_t n);

/* n bytes from the system's CSPRNG (getrandom). 0 or PYDRON_EIO. */
int pdi_random_bytes(void *buf, size_t n);

#endif
