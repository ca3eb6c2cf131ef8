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

/* Positional arguments a call's pickle may hold here. */
#define PDY_MAX_ARGS 16
/* pickle.dumps((argt, kw or {}), 5) of a call whose arguments and keyword
 * values are ints of 32 bits, floats, bools, None, or str and bytes of
 * under 256 bytes (see fastpickle.c), byte for byte as the pickle module
 * writes it; with ft (Futures) among them, each written as a persistent id,
 * pickle's persistent_id hook returning its index in futs (a list the
 * Futures are appended to once each, in the order met): the pickle
 * _backend's Session._dumps_with_futures makes. New bytes, or NULL without
 * an exception when the call is not such a case. */
PyObject *pdy_dumps_call(PyObject *argt, PyObject *kw, PyTypeObject *ft, PyObject *futs);
/* pickle.loads(p[:len]) of a scalar's pickle: a new reference, or NULL
 * without an exception when it is not one. */
PyObject *pdy_loads_scalar(const unsigned char *p, size_t len);
/* pickle.loads(p[:len]) of what pdy_dumps_call writes: the arguments'
 * count with new references in out[0..n) and *kw a new dict of the keyword
 * arguments (NULL when there are none); placeholder k (a persistent id) is
 * futv[k] (k < nfut). -1 without an exception when p is not exactly such a
 * pickle (the pickle module's then). */
Py_ssize_t pdy_loads_call(const unsigned char *p, size_t len, PyObject *out[PDY_MAX_ARGS],
                          PyObject **kw, PyObject *const *futv, size_t nfut);
/* pickle.dumps(o, 5) of an int of 32 bits, a float, a bool or None: new
 * bytes, or NULL without an exception for anything else. */
PyObject *pdy_dumps_scalar(PyObject *o);
/* Adds fast_dumps, fast_dumps_call, fast_loads, fast_loads_call and
 * fast_dumps_result (for tests) to the module. */
int pdy_fastpickle_init(PyObject *m);

#endif
