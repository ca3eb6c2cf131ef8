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
/* The same with arguments of type ft (Futures) among the scalars, written
 * as persistent ids (pickle's persistent_id hook returning the index of
 * each in futs, a list the Futures are appended to once each, in the order
 * met): the pickle _backend's Session._dumps_with_futures makes. */
PyObject *pdy_dumps_args_futs(PyObject *argt, PyTypeObject *ft, PyObject *futs);
/* pickle.loads(p[:len]) of a scalar's pickle: a new reference, or NULL
 * without an exception when it is not one. */
PyObject *pdy_loads_scalar(const unsigned char *p, size_t len);
/* pickle.loads(p[:len]) of what pdy_dumps_args writes: the arguments'
 * count with new references in out[0..n) (the kwargs are empty), or -1
 * without an exception when p is not such a pickle. */
Py_ssize_t pdy_loads_args(const unsigned char *p, size_t len, PyObject *out[3]);
/* The same for what pdy_dumps_args_futs writes: placeholder k (a
 * persistent id) is futv[k] (k < nfut; a new reference is taken). */
Py_ssize_t pdy_loads_args_futs(const unsigned char *p, size_t len, PyObject *out[3],
                               PyObject *const *futv, size_t nfut);
/* pickle.dumps(o, 5) of an int of 32 bits, a float, a bool or None: new
 * bytes, or NULL without an exception for anything else. */
PyObject *pdy_dumps_scalar(PyObject *o);
/* Adds fast_dumps, fast_loads, fast_loads_args and fast_dumps_result (for tests) to the module. */
int pdy_fastpickle_init(PyObject *m);

#endif
