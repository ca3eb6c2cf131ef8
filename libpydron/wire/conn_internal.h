/* conn_internal.h - what connections (conn.c) share with the listener
 * (listener.c) inside wire/. */
#ifndef PDI_WIRE_CONN_INTERNAL_H
#define PDI_WIRE_CONN_INTERNAL_H

#include <nng/nng.h>
#include <nng/supplemental/tls/tls.h>

#include "wire/wire.h"

/* Wrap an accepted or dialed stream (taken over, freed on failure). */
int pdi_conn_wrap(nng_stream *s, pdi_conn **out);
/* A TLS configuration: cert/key PEM files (server), ca file (verify the
 * peer), server_name (client). */
int pdi_tls_config(nng_tls_mode mode, const char *cert, const char *key, const char *ca,
                   const char *server_name, nng_tls_config **out);

/* The peer's IPv4 address as a key (1 << 32 | addr); 0 for other peers. */
uint64_t pdi_conn_addr_key(pdi_conn *c);
/* Handshake (wire/auth.c): hash every byte sent and received from now on. */
int pdi_conn_transcript_start(pdi_conn *c);
/* The hash of the bytes so far (the transcript goes on). */
void pdi_conn_transcript(pdi_conn *c, uint8_t out[32]);
/* From now on every byte goes through the record layer (wire/seal.h) with
 * these per-direction keys; the transcript ends. */
int pdi_conn_seal(pdi_conn *c, const uint8_t tx[32], const uint8_t rx[32]);
int pdi_conn_sealed(pdi_conn *c);
/* No stream operation waits past deadline_ns (pdi_now_ns clock); 0: none. */
void pdi_conn_set_deadline(pdi_conn *c, uint64_t deadline_ns);

#endif
