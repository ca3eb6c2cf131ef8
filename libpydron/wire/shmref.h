/* shmref.h - shared memory references (store/shm.h) in wire frames: the
 * conversion between pdi_shm_ref and its protobuf message. Kept out of
 * wire.h so that the frame codec does not depend on the store. */
#ifndef PDI_WIRE_SHMREF_H
#define PDI_WIRE_SHMREF_H

#include "pydron.pb-c.h"
#include "store/shm.h"

static inline void pdi_shm_ref_to_pb(const pdi_shm_ref *r, Pydron__ShmRef *m)
{
    pydron__shm_ref__init(m);
    m->pid = r->pid;
    m->ino = r->ino;
    m->len = r->len;
    m->sock = r->sock;
    m->offer_a = r->offer_a;
    m->offer_b = r->offer_b;
}
static inline void pdi_shm_ref_from_pb(const Pydron__ShmRef *m, pdi_shm_ref *r)
{
    r->pid = m->pid;
    r->fd = -1;
    r->ino = m->ino;
    r->len = m->len;
    r->sock = m->sock;
    r->offer_a = m->offer_a;
    r->offer_b = m->offer_b;
}

#endif
