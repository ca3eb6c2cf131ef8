/* batchrun.h - the plain calls of a batch task, on the worker (batchrun.c). */
#ifndef PYDRON_PY_BATCHRUN_H
#define PYDRON_PY_BATCHRUN_H

#include <Python.h>

/* Adds batch_plain to the module. */
int pdy_batchrun_init(PyObject *m);

#endif
