/* fastpickle.h - the pickles of scalars (fastpickle.c), for fastcall.c. */
#ifndef PYDRON_PY_FASTPICKLE_H
#define PYDRON_PY_FASTPICKLE_H

#include <Python.h>

#include <stdint.h>

/* Little-endian u32 at p. */
static inline void pdy_pack_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v;
    p[1] = (unsigned char)(v >> 8);
    p[2] = (unsigned char)(v >> 16);
    p[3] = (unsigned char)(v >> 24);
}

/* pickle.dumps((argt, {}), 5) for scalar arguments (see fastpickle.c): new
 * bytes, or NULL without an exception when argt is not such a case. */
PyObject *pdy_dumps_args(PyObject *argt);
/* pickle.loads(p[:len]) of a scalar's pickle: a new reference, or NULL
 * without an exception when it is not one. */
PyObject *pdy_loads_scalar(const unsigned char *p, size_t len);
/* Adds fast_dumps and fast_loads (for tests) to the module. */
int pdy_fastpickle_init(PyObject *m);

#endif
