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

/* Future f as pickle's persistent_id hook writes it (_backend's pid): its
 * index among the Futures of the call (futs, each once, in the order met),
 * BININT1, then BINPERSID. 0 when futs cannot grow. */
static int put_future(unsigned char *p, size_t *n, PyObject *f, PyObject *futs)
{
    Py_ssize_t k = 0, nf = PyList_GET_SIZE(futs);
    while (k < nf && PyList_GET_ITEM(futs, k) != f)
        k++;
    if (k == nf && PyList_Append(futs, f) < 0) {
        PyErr_Clear();
        return 0;
    }
    p[(*n)++] = 'K';
    p[(*n)++] = (unsigned char)k; /* at most 3 arguments */
    p[(*n)++] = 'Q';
    return 1;
}

static PyObject *dumps_args(PyObject *argt, PyTypeObject *ft, PyObject *futs)
{
    Py_ssize_t na = PyTuple_GET_SIZE(argt);
    if (na > 3)
        return NULL;
    unsigned char buf[2 + 9 + 3 * 9 + 8];
    size_t n = 11; /* PROTO 5, FRAME + length: written last */
    for (Py_ssize_t i = 0; i < na; i++) {
        PyObject *a = PyTuple_GET_ITEM(argt, i);
        if (ft && Py_IS_TYPE(a, ft) ? !put_future(buf, &n, a, futs) : !put_scalar(buf, &n, a))
            return NULL;
    }
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

/* New bytes, or NULL without an exception when not a case for it. */
PyObject *pdy_dumps_args(PyObject *argt) { return dumps_args(argt, NULL, NULL); }

PyObject *pdy_dumps_args_futs(PyObject *argt, PyTypeObject *ft, PyObject *futs)
{
    return dumps_args(argt, ft, futs);
}

/* The length of the FRAME at p[2] (u64, little-endian, at p[3..11)). */
static uint64_t frame_len(const unsigned char *p)
{
    uint64_t fl = 0;
    for (int k = 7; k >= 0; k--)
        fl = (fl << 8) | p[3 + k];
    return fl;
}

/* One scalar's opcode at q[0 .. end): a new reference and *used, or NULL
 * without an exception when it is not one of put_scalar's. */
static PyObject *get_scalar(const unsigned char *q, size_t end, size_t *used)
{
    size_t w;
    switch (q[0]) {
    case 'N':
    case 0x88:
    case 0x89:
        w = 1;
        break;
    case 'K':
        w = 2;
        break;
    case 'M':
        w = 3;
        break;
    case 'J':
        w = 5;
        break;
    case 'G':
        w = 9;
        break;
    default:
        return NULL;
    }
    if (w > end)
        return NULL;
    *used = w;
    switch (q[0]) {
    case 'N':
        return Py_NewRef(Py_None);
    case 0x88:
        return Py_NewRef(Py_True);
    case 0x89:
        return Py_NewRef(Py_False);
    case 'K':
        return PyLong_FromLong(q[1]);
    case 'M':
        return PyLong_FromLong(q[1] | (long)q[2] << 8);
    case 'J':
        return PyLong_FromLong((long)(int32_t)((uint32_t)q[1] | (uint32_t)q[2] << 8 |
                                               (uint32_t)q[3] << 16 | (uint32_t)q[4] << 24));
    default: { /* 'G' */
        double d = PyFloat_Unpack8((const char *)q + 1, 0);
        if (d == -1.0 && PyErr_Occurred()) {
            PyErr_Clear();
            return NULL;
        }
        return PyFloat_FromDouble(d);
    }
    }
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
        if (frame_len(p) != len - 11)
            return NULL;
        i = 11;
    }
    size_t body = len - 1 - i, used = 0; /* without STOP */
    PyObject *v = get_scalar(p + i, body, &used);
    if (v && used != body) /* more after the scalar: not one */
        Py_CLEAR(v);
    return v;
}

static Py_ssize_t loads_args(const unsigned char *p, size_t len, PyObject *out[3],
                             PyObject *const *futv, size_t nfut)
{
    /* PROTO 5, FRAME (length len - 11), the items, TUPLEn MEMOIZE or
     * EMPTY_TUPLE, then EMPTY_DICT MEMOIZE TUPLE2 MEMOIZE STOP */
    static const unsigned char tail[] = {'}', 0x94, 0x86, 0x94, '.'};
    if (len < 11 + 1 + sizeof tail || p[0] != 0x80 || p[1] != 5 || p[2] != 0x95)
        return -1;
    if (frame_len(p) != len - 11 || memcmp(p + len - sizeof tail, tail, sizeof tail) != 0)
        return -1;
    size_t i = 11, end = len - sizeof tail; /* the items and the tuple's opcode(s) */
    Py_ssize_t na = 0;
    while (na < 3 && i < end && p[i] != ')' && p[i] != 0x94 && !(p[i] >= 0x85 && p[i] <= 0x87)) {
        size_t used = 0;
        PyObject *o;
        if (p[i] == 'K' && end - i >= 3 && p[i + 2] == 'Q') {
            /* BININT1 k, BINPERSID: the call's placeholder k (put_future) */
            if (p[i + 1] >= nfut)
                goto no;
            o = Py_NewRef(futv[p[i + 1]]);
            used = 3;
        } else if (!(o = get_scalar(p + i, end - i, &used))) {
            goto no;
        }
        out[na++] = o;
        i += used;
    }
    if (na == 0 ? end - i == 1 && p[i] == ')'
                : end - i == 2 && p[i] == 0x84 + na && p[i + 1] == 0x94)
        return na;
no:
    for (Py_ssize_t k = 0; k < na; k++)
        Py_DECREF(out[k]);
    PyErr_Clear(); /* (an allocation that failed: the pickle module's path says it) */
    return -1;
}

Py_ssize_t pdy_loads_args(const unsigned char *p, size_t len, PyObject *out[3])
{
    return loads_args(p, len, out, NULL, 0);
}

Py_ssize_t pdy_loads_args_futs(const unsigned char *p, size_t len, PyObject *out[3],
                               PyObject *const *futv, size_t nfut)
{
    return loads_args(p, len, out, futv, nfut);
}

PyObject *pdy_dumps_scalar(PyObject *o)
{
    unsigned char buf[11 + 9 + 1];
    size_t n = 11;
    if (!put_scalar(buf, &n, o))
        return NULL;
    buf[n++] = '.';
    size_t body = n - 11;
    buf[9] = 0x80;
    buf[10] = 5;
    if (body < 4) /* the C pickler keeps no frame under 4 bytes */
        return PyBytes_FromStringAndSize((const char *)buf + 9, (Py_ssize_t)(body + 2));
    buf[0] = 0x80;
    buf[1] = 5;
    buf[2] = 0x95;
    pdy_pack_u32(buf + 3, (uint32_t)body);
    pdy_pack_u32(buf + 7, 0);
    return PyBytes_FromStringAndSize((const char *)buf, (Py_ssize_t)n);
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

/* _core.fast_dumps_futs(args, ftype): pdy_dumps_args_futs, for tests:
 * (pickle, [the arguments of type ftype, each once]) or None. */
static PyObject *fc_dumps_futs(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyTuple_CheckExact(args[0]) || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "fast_dumps_futs(args, ftype): a tuple and a type");
        return NULL;
    }
    PyObject *futs = PyList_New(0);
    if (!futs)
        return NULL;
    PyObject *r = pdy_dumps_args_futs(args[0], (PyTypeObject *)args[1], futs);
    if (!r) {
        Py_DECREF(futs);
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    PyObject *t = PyTuple_Pack(2, r, futs);
    Py_DECREF(r);
    Py_DECREF(futs);
    return t;
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

static PyObject *fc_loads_args(PyObject *m, PyObject *data)
{
    if (!PyBytes_Check(data)) {
        PyErr_SetString(PyExc_TypeError, "fast_loads_args(data): bytes");
        return NULL;
    }
    PyObject *items[3];
    Py_ssize_t n = pdy_loads_args((const unsigned char *)PyBytes_AS_STRING(data),
                                  (size_t)PyBytes_GET_SIZE(data), items);
    if (n < 0)
        Py_RETURN_NONE;
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t)
            PyTuple_SET_ITEM(t, i, items[i]);
        else
            Py_DECREF(items[i]);
    }
    return t;
}

static PyObject *fc_dumps_result(PyObject *m, PyObject *v)
{
    PyObject *r = pdy_dumps_scalar(v);
    if (r || PyErr_Occurred())
        return r;
    Py_RETURN_NONE;
}

static PyMethodDef fastpickle_methods[] = {
    {"fast_loads_args", fc_loads_args, METH_O,
     "fast_loads_args(data) -> args of pickle.loads(data) == (args, {}) as a worker's batch "
     "reads it, or None."},
    {"fast_dumps_result", fc_dumps_result, METH_O,
     "fast_dumps_result(v) -> pickle.dumps(v, 5) as a worker's batch writes it, or None."},
    {"fast_dumps_futs", (PyCFunction)(void (*)(void))fc_dumps_futs, METH_FASTCALL,
     "fast_dumps_futs(args, ftype) -> (pickle, futures): the fast path's pickle of a call "
     "with arguments of type ftype as persistent ids, or None."},
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
