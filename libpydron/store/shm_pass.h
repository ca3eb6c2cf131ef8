/* shm_pass.h - passing memfds between processes by SCM_RIGHTS (shm_pass.c);
 * internal to store/. */
#ifndef PDI_SHM_PASS_H
#define PDI_SHM_PASS_H

#include <stdint.h>

#include "store/shm.h"

/* Make a one-use offer of the registered buffer at addr (inode ino): fills
 * r's pid, sock and offer fields. 0 when this process cannot serve
 * descriptors (the caller sends bytes). */
int pdi_shm_offer(uintptr_t addr, uint64_t ino, pdi_shm_ref *r);
/* Claim r's offer from its process: *out is the passed descriptor (not yet
 * checked: the caller fstats it). PYDRON_EIO with a message otherwise. */
int pdi_shm_receive(const pdi_shm_ref *r, int *out);
/* shm.c: a dup of the fd of the registered buffer at addr if its inode is
 * ino, else -1 (freed, or the address reused). */
int pdi_shm_dup_registered(uintptr_t addr, uint64_t ino);
/* Tests: offer an arbitrary descriptor of ours (kept open by the caller) as
 * if it were a value buffer, to check what receivers refuse. */
int pdi_shm_offer_fd_for_test(int fd, uint64_t len, pdi_shm_ref *r);

#endif
