/* fastcall.h - the common path of a @functional call in C (fastcall.c), for core.c. */
#ifndef PYDRON_PY_FASTCALL_H
#define PYDRON_PY_FASTCALL_H

#include <Python.h>

/* Adds fast_setup, call, mcall and settle_ready to the module. -1 with an
 * exception set. */
int pdy_fastcall_init(PyObject *m);

#endif
