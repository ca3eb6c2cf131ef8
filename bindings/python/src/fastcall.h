/* fastcall.h - the common path of a @functional call in C (fastcall.c), for core.c. */
#ifndef PYDRON_PY_FASTCALL_H
#define PYDRON_PY_FASTCALL_H

#include <Python.h>

/* Adds fast_setup, call, mcall and settle_ready to the module. -1 with an
 * exception set. */
int pdy_fastcall_init(PyObject *m);

/* In core.c: 1 with a borrowed view of a pydron._core.Value's bytes when
 * the value is ready and its bytes are on the driver (valid while the
 * Value lives), else 0 (anything else, errors included, goes the general
 * way: Value methods and its buffer). No exception is set. */
int pdy_value_peek(PyObject *o, const void **data, size_t *len);
/* In core.c: 1 when a pydron._core.Value is ready or failed, else 0
 * (pending, or anything not known to be done). No exception is set. */
int pdy_value_done(PyObject *o);
/* In core.c: pdy_release_defer(1) ... (0): Values dropped in between give
 * their graph references back in groups (one lock each), at the latest
 * when the outermost pair ends. */
void pdy_release_defer(int on);

#endif
