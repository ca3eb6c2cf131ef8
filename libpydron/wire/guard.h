/* guard.h - what an unauthenticated peer may cost a listener (wire/guard.c):
 * caps on handshakes in progress (in total and per IPv4 address), back-off
 * when accept fails (EMFILE: no spinning), and rate-limited refusal logs.
 * One guard per listener (the driver's, each worker's peer listener). */
#ifndef PDI_WIRE_GUARD_H
#define PDI_WIRE_GUARD_H

#include "util/util.h"
#include "wire/wire.h"

typedef struct pdi_guard pdi_guard;

/* Caps from PYDRON_MAX_HANDSHAKES (64) and PYDRON_MAX_HANDSHAKES_PER_ADDR
 * (8); who names the process in log lines. NULL when out of memory. */
pdi_guard *pdi_guard_new(const char *who);
void pdi_guard_free(pdi_guard *g);
/* Let c start its handshake: 0, or PYDRON_EBUSY when its address already
 * has its share (the caller frees c without a word: answering costs a
 * write). When the total is reached, the oldest handshake is closed to make
 * room: a real peer finishes in milliseconds, a slow one waits longest. */
int pdi_guard_enter(pdi_guard *g, pdi_conn *c);
/* c's handshake ended (before c is freed or kept). */
void pdi_guard_leave(pdi_guard *g, pdi_conn *c);
/* After a failed accept: log (rate-limited) and sleep, 10 ms doubling up to
 * 1 s while accept keeps failing, so that EMFILE does not spin a core. */
void pdi_guard_accept_failed(pdi_guard *g, const char *msg);
void pdi_guard_accept_ok(pdi_guard *g);
/* A refusal log line, at most 10 per 10 s; then one line saying how many
 * were not logged. */
void pdi_guard_log(pdi_guard *g, const char *fmt, ...) PDI_PRINTF(2, 3);
/* How long a whole handshake may take (PYDRON_HANDSHAKE_MS, default 10 s). */
int pdi_handshake_ms(void);

#endif
