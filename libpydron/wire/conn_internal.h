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

#endif
