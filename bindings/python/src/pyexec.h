/* pyexec.h - an executor written in Python (pyexec.c), for core.c. */
#ifndef PYDRON_PY_PYEXEC_H
#define PYDRON_PY_PYEXEC_H

#include <Python.h>

#include "pydron.h"

/* Adds the ExecBridge and Job types to the module. -1 with an exception set. */
int pdy_pyexec_init(PyObject *m);
/* Make obj (a Python executor: obj.stop() is called when the runtime stops)
 * rt's executor, with nworkers locations of in_flight jobs each. Returns the
 * new ExecBridge (a new reference), NULL with an exception set. */
PyObject *pdy_pyexec_attach(pydron_runtime *rt, PyObject *obj, unsigned nworkers,
                            unsigned in_flight);

#endif
