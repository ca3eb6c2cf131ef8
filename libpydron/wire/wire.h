/* wire.h - frames of proto/pydron.proto over nng byte streams.
 *
 * A frame is [20-byte prefix][protobuf Frame header][raw payload segments]
 * (docs/wire.md). Connections are nng streams (ipc://, tcp://, tls+tcp://)
 * rather than SP sockets: each worker connection is its own object whose
 * loss is seen at once, sends to one worker never get dropped (pair1's
 * polyamorous mode drops when a peer is slow), and large payloads are read
 * straight into the buffer that becomes the value (no copy into an nng_msg).
 * Limits on header and payload sizes are set on purpose per connection
 * state (tiny before authentication).
 */
#ifndef PDI_WIRE_H
#define PDI_WIRE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

#include "pydron.h"
#include "pydron.pb-c.h"
#include "wire/frame.h"
#include "util/log.h" /* wire's users log; kept for them */

/* ---- connections ---- */
typedef struct pdi_conn pdi_conn;
typedef struct pdi_listener pdi_listener;

/* Dial url; tls_ca_file (may be NULL) verifies a tls+tcp:// server. */
int pdi_conn_dial(const char *url, const char *tls_ca_file, int timeout_ms, pdi_conn **out);
/* Receive one frame. timeout_ms < 0: forever. On EPROTO the stream is out of
 * sync: the caller must drop the connection. */
int pdi_conn_recv(pdi_conn *c, const pdi_wire_limits *lim, int timeout_ms, pdi_frame *out);
/* Send one frame (thread-safe; frames never interleave). Segments are written
 * from the caller's buffers (no copy for large ones). */
int pdi_conn_send(pdi_conn *c, Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs);
/* The same, giving up after timeout_ms (ETIMEDOUT; waiting for another
 * sender counts). After a timeout the peer may have part of a frame: the
 * caller must close the connection. */
int pdi_conn_send_timeout(pdi_conn *c, Pydron__Frame *hdr, const pdi_seg *segs, size_t nsegs,
                          int timeout_ms);
/* Send raw bytes (tests of malformed input). */
int pdi_conn_send_raw(pdi_conn *c, const void *data, size_t len);
/* Abort pending I/O (any thread, never blocks); an operation that races
 * with it fails too, and later calls fail with ECLOSED. */
void pdi_conn_close(pdi_conn *c);
/* Before closing a connection we refused: read and drop what the peer
 * still sends until it closes, at most timeout_ms. A close right after the
 * last send loses that send on tls+tcp:// (nng's TLS layer writes the
 * record to the socket after the send returns), and on tcp:// unread input
 * makes the kernel reset the connection, which can drop the peer's copy of
 * it. Keeps the thread's error message. */
void pdi_conn_linger(pdi_conn *c, int timeout_ms);
/* Tests only: sleep this many microseconds right before each stream
 * operation starts (widens the window a concurrent close must handle). */
extern atomic_uint pdi_wire_test_io_delay_us;
void pdi_conn_free(pdi_conn *c);
/* Our IPv4 address on this (tcp) connection, as text. */
int pdi_conn_local_ip(pdi_conn *c, char *buf, size_t n);
/* Peer description for log lines ("ipc", "tcp 10.0.0.2:41234"). */
const char *pdi_conn_peer(pdi_conn *c);

/* Listen on url (tcp port 0 picks one). cert/key: PEM files for tls+tcp://. */
int pdi_listener_open(const char *url, const char *cert_file, const char *key_file,
                      pdi_listener **out);
/* The address peers dial (port resolved). Borrowed. */
const char *pdi_listener_url(pdi_listener *l);
/* Block until a connection arrives; ECLOSED after pdi_listener_close. */
int pdi_listener_accept(pdi_listener *l, pdi_conn **out);
void pdi_listener_close(pdi_listener *l);
void pdi_listener_free(pdi_listener *l);

/* ---- handshake (wire/auth.c) ---- */
/* Dialer: sends hello (version and nonce filled in), checks the listener's
 * proof, answers its challenge. Returns 0, EAUTH, EPROTO, EIO, ECLOSED. */
int pdi_auth_dial(pdi_conn *c, Pydron__Hello *hello, const void *secret, size_t secret_len,
                  int timeout_ms);
/* Listener: reads Hello (tiny limits, timeout), challenges, verifies. On
 * success *hello owns the Hello frame. On failure a Refused frame is sent
 * (best effort) and the caller must drop the connection. */
int pdi_auth_accept(pdi_conn *c, const void *secret, size_t secret_len, int timeout_ms,
                    pdi_frame *hello);
/* Listener: is this the Hello of a dialer of this version, within bounds?
 * 0 or EPROTO (pure: the fuzzer drives it). */
int pdi_auth_check_hello(const Pydron__Frame *hdr);
/* Bounds on a Hello's fields, checked before the dialer has proved anything
 * (the handshake header limit bounds the whole frame). */
#define PDI_HELLO_MAX_KINDS 256u
#define PDI_HELLO_MAX_NAME 256u
#define PDI_HELLO_MAX_URL 512u
/* Hello.previous_end: printable ASCII, it goes into logs and task errors */
#define PDI_HELLO_MAX_END 128u
/* The secret a process was given: options, else $PYDRON_SECRET, else the
 * file named by $PYDRON_SECRET_FILE; checked for strength. Caller frees
 * (pdi_secret_free wipes it). */
int pdi_secret_resolve(const char *given, char **out, size_t *len);
void pdi_secret_free(char *s, size_t len);

/* map an nng error code to PYDRON_E* (and record a message) */
int pdi_nng_err(int nrv, const char *what);

#endif
