/*
 * fastpickle.c - the pickles of scalars, for the fast path (fastcall.c).
 *
 * pickle.dumps((args, {}), 5) for up to three arguments that are ints of 32
 * bits, floats, bools or None, byte for byte as the C pickler writes it
 * (PROTO 5, FRAME, the items, TUPLEn MEMOIZE, EMPTY_DICT MEMOIZE, TUPLE2
 * MEMOIZE, STOP); and pickle.loads of such a scalar result. Anything else is
 * the pickle module's (test_fastcall compares both on many values, through
 * _core.fast_dumps and _core.fast_loads). A Pickler made per call was a
 * tenth of the driver's time for a tiny task.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <string.h>

#include "fastpickle.h"


/* Appends the opcode(s) of scalar o; 0 when o is not one of those. */
static int put_scalar(unsigned char *p, size_t *n, PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (o == Py_None) {
        p[(*n)++] = 'N';
    } else if (o == Py_True || o == Py_False) {
        p[(*n)++] = o == Py_True ? 0x88 : 0x89;
    } else if (t == &PyLong_Type) {
        int overflow = 0;
        long v = PyLong_AsLongAndOverflow(o, &overflow);
        if (overflow || (v == -1 && PyErr_Occurred()) || v < -0x80000000L || v > 0x7fffffffL) {
            PyErr_Clear();
            return 0;
        }
        if (v >= 0 && v <= 0xff) {
            p[(*n)++] = 'K';
            p[(*n)++] = (unsigned char)v;
        } else if (v >= 0 && v <= 0xffff) {
            p[(*n)++] = 'M';
            p[(*n)++] = (unsigned char)v;
            p[(*n)++] = (unsigned char)(v >> 8);
        } else {
            p[(*n)++] = 'J';
            pdy_pack_u32(p + *n, (uint32_t)v);
            *n += 4;
        }
    } else if (t == &PyFloat_Type) {
        p[(*n)++] = 'G';
        if (PyFloat_Pack8(PyFloat_AS_DOUBLE(o), (char *)p + *n, 0) < 0) {
            PyErr_Clear();
            return 0;
        }
        *n += 8;
    } else {
        return 0;
    }
    return 1;
}

/* New bytes, or NULL without an exception when not a case for it. */
PyObject *pdy_dumps_args(PyObject *argt)
{
    Py_ssize_t na = PyTuple_GET_SIZE(argt);
    if (na > 3)
        return NULL;
    unsigned char buf[2 + 9 + 3 * 9 + 8];
    size_t n = 11; /* PROTO 5, FRAME + length: written last */
    for (Py_ssize_t i = 0; i < na; i++)
        if (!put_scalar(buf, &n, PyTuple_GET_ITEM(argt, i)))
            return NULL;
    if (na == 0) {
        buf[n++] = ')'; /* EMPTY_TUPLE: not memoized */
    } else {
        buf[n++] = (unsigned char)(0x84 + na); /* TUPLE1..3 */
        buf[n++] = 0x94;                       /* MEMOIZE */
    }
    static const unsigned char tail[] = {'}', 0x94, 0x86, 0x94, '.'};
    memcpy(buf + n, tail, sizeof tail);
    n += sizeof tail;
    uint64_t body = n - 11; /* >= 4: the frame is kept */
    buf[0] = 0x80;
    buf[1] = 5;
    buf[2] = 0x95;
    pdy_pack_u32(buf + 3, (uint32_t)body);
    pdy_pack_u32(buf + 7, (uint32_t)(body >> 32));
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
}

/* pickle.loads of a scalar's pickle (protocol 2+): a new reference, or
 * NULL without an exception when it is not one. */
PyObject *pdy_loads_scalar(const unsigned char *p, size_t len)
{
    if (len < 4 || p[0] != 0x80 || p[1] < 2 || p[1] > 5 || p[len - 1] != '.')
        return NULL;
    size_t i = 2;
    if (p[2] == 0x95) {
        if (len < 11 + 2)
            return NULL;
        uint64_t fl = 0;
        for (int k = 7; k >= 0; k--)
            fl = (fl << 8) | p[3 + k];
        if (fl != len - 11)
            return NULL;
        i = 11;
    }
    size_t body = len - 1 - i; /* without STOP */
    const unsigned char *q = p + i;
    switch (q[0]) {
    case 'N':
        return body == 1 ? Py_NewRef(Py_None) : NULL;
    case 0x88:
        return body == 1 ? Py_NewRef(Py_True) : NULL;
    case 0x89:
        return body == 1 ? Py_NewRef(Py_False) : NULL;
    case 'K':
        return body == 2 ? PyLong_FromLong(q[1]) : NULL;
    case 'M':
        return body == 3 ? PyLong_FromLong(q[1] | (long)q[2] << 8) : NULL;
    case 'J':
        if (body != 5)
            return NULL;
        return PyLong_FromLong((long)(int32_t)((uint32_t)q[1] | (uint32_t)q[2] << 8 |
                                               (uint32_t)q[3] << 16 | (uint32_t)q[4] << 24));
    case 'G': {
        if (body != 9)
            return NULL;
        double d = PyFloat_Unpack8((const char *)q + 1, 0);
        if (d == -1.0 && PyErr_Occurred())
            return NULL;
        return PyFloat_FromDouble(d);
    }
    default:
        return NULL;
    }
}

/* _core.fast_dumps(args) / fast_loads(data): the two above, for tests
 * (None when they do not take it). */
static PyObject *fc_dumps(PyObject *m, PyObject *argt)
{
    if (!PyTuple_CheckExact(argt)) {
        PyErr_SetString(PyExc_TypeError, "fast_dumps(args): a tuple");
        return NULL;
    }
    PyObject *r = pdy_dumps_args(argt);
    if (r || PyErr_Occurred())
        return r;
    Py_RETURN_NONE;
}

static PyObject *fc_loads(PyObject *m, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "fast_loads(data): bytes");
        return NULL;
    }
    PyObject *r = pdy_loads_scalar((const unsigned char *)PyBytes_AS_STRING(data),
                               (size_t)PyBytes_GET_SIZE(data));
    if (r) {
        PyObject *t = PyTuple_Pack(1, r);
        Py_DECREF(r);
        return t;
    }
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef fastpickle_methods[] = {
    {"fast_dumps", fc_dumps, METH_O,
     "fast_dumps(args) -> pickle.dumps((args, {}), 5) as the fast path writes it, or None."},
    {"fast_loads", fc_loads, METH_O,
     "fast_loads(data) -> (pickle.loads(data),) for a scalar as the fast path reads it, or "
     "None."},
    {NULL}};

int pdy_fastpickle_init(PyObject *m)
{
    return PyModule_AddFunctions(m, fastpickle_methods);
}
