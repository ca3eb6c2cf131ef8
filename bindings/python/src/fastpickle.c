/*
 * fastpickle.c - the pickles of calls and of scalars, for the fast path
 * (fastcall.c) and the workers' batch loop (batchrun.c).
 *
 * pickle.dumps((args, kwargs), 5) of a call whose arguments and keyword
 * values are ints of 32 bits, floats, bools, None, short str or bytes, or
 * placeholders (persistent ids), byte for byte as the C pickler writes it
 * (PROTO 5, FRAME, the arguments, TUPLEn MEMOIZE or MARK ... TUPLE MEMOIZE,
 * EMPTY_DICT MEMOIZE, its items, TUPLE2 MEMOIZE, STOP; a str or bytes met
 * again by identity as BINGET, as the pickler's memo does), and
 * pickle.loads of exactly such a pickle and of a scalar result. Anything
 * else is the pickle module's (test_fastcall compares both on many values,
 * and feeds the reader damaged pickles). A Pickler made per call was a
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

/* A call's pickle being written: a fixed buffer (a call too large for it
 * is the pickle module's), and the memo of the str and bytes objects
 * written so far (pickle writes an object met again as BINGET of its memo
 * index: by identity, as the pickle module's memo). */
#define PW_CAP 2048
#define PW_MEMO 40
typedef struct pw {
    unsigned char b[PW_CAP];
    size_t n;
    unsigned nmemo; /* MEMOIZE opcodes written */
    unsigned nobj;
    PyObject *obj[PW_MEMO];
    unsigned idx[PW_MEMO];
} pw;

static int pw_room(pw *w, size_t k) { return w->n + k <= PW_CAP; }

/* Future f as pickle's persistent_id hook writes it (_backend's pid): its
 * index among the Futures of the call (futs, each once, in the order met),
 * BININT1, then BINPERSID. 0 when futs cannot grow. */
static int put_future(pw *w, PyObject *f, PyObject *futs)
{
    Py_ssize_t k = 0, nf = PyList_GET_SIZE(futs);
    while (k < nf && PyList_GET_ITEM(futs, k) != f)
        k++;
    if (k > 255 || !pw_room(w, 3) || (k == nf && PyList_Append(futs, f) < 0)) {
        PyErr_Clear();
        return 0;
    }
    w->b[w->n++] = 'K';
    w->b[w->n++] = (unsigned char)k;
    w->b[w->n++] = 'Q';
    return 1;
}

/* A str (SHORT_BINUNICODE) or bytes (SHORT_BINBYTES) of under 256 bytes,
 * MEMOIZE; BINGET when written before. 0 for anything else. */
static int put_text(pw *w, PyObject *o)
{
    for (unsigned k = 0; k < w->nobj; k++) {
        if (w->obj[k] == o) {
            if (w->idx[k] > 255 || !pw_room(w, 2))
                return 0;
            w->b[w->n++] = 'h';
            w->b[w->n++] = (unsigned char)w->idx[k];
            return 1;
        }
    }
    const char *s;
    Py_ssize_t len;
    unsigned char op;
    if (PyUnicode_CheckExact(o)) {
        /* pickle writes UTF-8 with surrogatepass: a lone surrogate is the
         * pickle module's */
        if (!(s = PyUnicode_AsUTF8AndSize(o, &len))) {
            PyErr_Clear();
            return 0;
        }
        op = 0x8c;
    } else if (PyBytes_CheckExact(o)) {
        s = PyBytes_AS_STRING(o);
        len = PyBytes_GET_SIZE(o);
        op = 'C';
    } else {
        return 0;
    }
    if (len > 255 || w->nobj == PW_MEMO || !pw_room(w, (size_t)len + 3))
        return 0;
    w->b[w->n++] = op;
    w->b[w->n++] = (unsigned char)len;
    memcpy(w->b + w->n, s, (size_t)len);
    w->n += (size_t)len;
    w->b[w->n++] = 0x94; /* MEMOIZE */
    w->obj[w->nobj] = o;
    w->idx[w->nobj++] = w->nmemo++;
    return 1;
}

static int put_item(pw *w, PyObject *o, PyTypeObject *ft, PyObject *futs)
{
    if (ft && Py_IS_TYPE(o, ft))
        return put_future(w, o, futs);
    if (!pw_room(w, 9))
        return 0;
    return put_scalar(w->b, &w->n, o) || put_text(w, o);
}

PyObject *pdy_dumps_call(PyObject *argt, PyObject *kw, PyTypeObject *ft, PyObject *futs)
{
    Py_ssize_t na = PyTuple_GET_SIZE(argt), nkw = kw ? PyDict_GET_SIZE(kw) : 0;
    if (na > PDY_MAX_ARGS)
        return NULL;
    pw wb, *w = &wb; /* ~2.5 KiB on the stack: no allocation per call */
    w->n = 11;       /* PROTO 5, FRAME + length: written last */
    w->nmemo = w->nobj = 0;
    /* the arguments: TUPLE1..3 after them, or MARK ... TUPLE */
    if (na > 3)
        w->b[w->n++] = '(';
    for (Py_ssize_t i = 0; i < na; i++)
        if (!put_item(w, PyTuple_GET_ITEM(argt, i), ft, futs))
            return NULL;
    if (!pw_room(w, 16))
        return NULL;
    if (na == 0) {
        w->b[w->n++] = ')'; /* EMPTY_TUPLE: not memoized */
    } else {
        w->b[w->n++] = na > 3 ? 't' : (unsigned char)(0x84 + na);
        w->b[w->n++] = 0x94;
        w->nmemo++;
    }
    /* the keyword arguments: EMPTY_DICT MEMOIZE, then one SETITEM or MARK
     * ... SETITEMS */
    w->b[w->n++] = '}';
    w->b[w->n++] = 0x94;
    w->nmemo++;
    if (nkw > 1)
        w->b[w->n++] = '(';
    Py_ssize_t pos = 0;
    PyObject *k, *v;
    while (kw && PyDict_Next(kw, &pos, &k, &v))
        if (!PyUnicode_CheckExact(k) || !put_text(w, k) || !put_item(w, v, ft, futs))
            return NULL;
    if (!pw_room(w, 4))
        return NULL;
    if (nkw)
        w->b[w->n++] = nkw > 1 ? 'u' : 's';
    w->b[w->n++] = 0x86; /* TUPLE2 MEMOIZE STOP */
    w->b[w->n++] = 0x94;
    w->b[w->n++] = '.';
    uint64_t body = w->n - 11; /* >= 4: the frame is kept */
    w->b[0] = 0x80;
    w->b[1] = 5;
    w->b[2] = 0x95;
    pdy_pack_u32(w->b + 3, (uint32_t)body);
    pdy_pack_u32(w->b + 7, (uint32_t)(body >> 32));
    return PyBytes_FromStringAndSize((const char *)w->b, (Py_ssize_t)w->n);
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

/* A call's pickle being read: the memo (new references; NULL for the
 * tuple and dict, which a pickle of ours never reads back). */
#define PR_MEMO 48
typedef struct pr {
    const unsigned char *p;
    size_t i, end;
    unsigned nmemo;
    PyObject *memo[PR_MEMO];
    PyObject *const *futv;
    size_t nfut;
} pr;

static int pr_memoize(pr *r, PyObject *o)
{
    if (r->nmemo == PR_MEMO || r->i >= r->end || r->p[r->i] != 0x94)
        return 0;
    r->i++;
    r->memo[r->nmemo++] = Py_XNewRef(o);
    return 1;
}

/* One item as put_item writes it: a new reference, or NULL (without an
 * exception) when it is not one. */
static PyObject *get_item(pr *r)
{
    const unsigned char *q = r->p + r->i;
    size_t left = r->end - r->i;
    if (left >= 3 && q[0] == 'K' && q[2] == 'Q') {
        /* BININT1 k, BINPERSID: the call's placeholder k (put_future) */
        if (q[1] >= r->nfut)
            return NULL;
        r->i += 3;
        return Py_NewRef(r->futv[q[1]]);
    }
    if (left >= 2 && q[0] == 'h') {
        if (q[1] >= r->nmemo || !r->memo[q[1]])
            return NULL;
        r->i += 2;
        return Py_NewRef(r->memo[q[1]]);
    }
    if (left >= 2 && (q[0] == 0x8c || q[0] == 'C')) {
        size_t len = q[1];
        if (len + 2 > left)
            return NULL;
        PyObject *o = q[0] == 'C'
                          ? PyBytes_FromStringAndSize((const char *)q + 2, (Py_ssize_t)len)
                          : PyUnicode_DecodeUTF8((const char *)q + 2, (Py_ssize_t)len,
                                                 "surrogatepass");
        if (!o)
            return NULL;
        r->i += len + 2;
        if (!pr_memoize(r, o))
            Py_CLEAR(o);
        return o;
    }
    size_t used = 0;
    PyObject *o = get_scalar(q, left, &used);
    if (o)
        r->i += used;
    return o;
}

Py_ssize_t pdy_loads_call(const unsigned char *p, size_t len, PyObject *out[PDY_MAX_ARGS],
                          PyObject **kwp, PyObject *const *futv, size_t nfut)
{
    /* PROTO 5, FRAME (length len - 11), the arguments (TUPLEn MEMOIZE after
     * up to 3, MARK ... TUPLE MEMOIZE, or EMPTY_TUPLE), EMPTY_DICT MEMOIZE
     * and its items (key value SETITEM, or MARK ... SETITEMS), TUPLE2
     * MEMOIZE STOP: exactly, else -1 (the pickle module's) */
    static const unsigned char tail[] = {0x86, 0x94, '.'};
    if (len < 11 + 3 + sizeof tail || p[0] != 0x80 || p[1] != 5 || p[2] != 0x95)
        return -1;
    if (frame_len(p) != len - 11 || memcmp(p + len - sizeof tail, tail, sizeof tail) != 0)
        return -1;
    pr rb, *r = &rb;
    r->p = p;
    r->i = 11;
    r->end = len - sizeof tail;
    r->nmemo = 0;
    r->futv = futv;
    r->nfut = nfut;
    Py_ssize_t na = 0;
    PyObject *kw = NULL;
    int ok = 0;
    if (p[r->i] == ')') {
        r->i++;
    } else {
        int mark = p[r->i] == '(';
        r->i += (size_t)mark;
        while (r->i < r->end) {
            unsigned char c = p[r->i];
            if (mark ? c == 't' : c >= 0x85 && c <= 0x87)
                break;
            if (na == (mark ? PDY_MAX_ARGS : 3) || !(out[na] = get_item(r)))
                goto done;
            na++;
        }
        if (r->i >= r->end || (mark ? na < 4 : p[r->i] != 0x84 + na))
            goto done; /* (MARK for up to 3 means the same, but is not ours) */
        r->i++;
        if (!pr_memoize(r, NULL))
            goto done;
    }
    if (r->end - r->i < 2 || p[r->i] != '}')
        goto done;
    r->i++;
    if (!pr_memoize(r, NULL))
        goto done;
    if (r->i < r->end) {
        int mark = p[r->i] == '(';
        r->i += (size_t)mark;
        if (!(kw = PyDict_New()))
            goto done;
        for (;;) {
            if (r->i >= r->end)
                goto done;
            if (mark && p[r->i] == 'u')
                break;
            PyObject *k = get_item(r), *v = k ? get_item(r) : NULL;
            int set = v && PyUnicode_CheckExact(k) && PyDict_SetItem(kw, k, v) == 0;
            Py_XDECREF(k);
            Py_XDECREF(v);
            if (!set)
                goto done;
            if (!mark)
                break;
        }
        if (r->i >= r->end || p[r->i] != (mark ? 'u' : 's') || PyDict_GET_SIZE(kw) < 1)
            goto done;
        r->i++;
    }
    ok = r->i == r->end;
done:
    for (unsigned k = 0; k < r->nmemo; k++)
        Py_XDECREF(r->memo[k]);
    if (!ok) {
        for (Py_ssize_t k = 0; k < na; k++)
            Py_DECREF(out[k]);
        Py_XDECREF(kw);
        PyErr_Clear(); /* (an allocation that failed: the pickle module's path says it) */
        return -1;
    }
    *kwp = kw;
    return na;
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
    PyObject *r = pdy_dumps_call(argt, NULL, NULL, NULL);
    if (r || PyErr_Occurred())
        return r;
    Py_RETURN_NONE;
}

/* _core.fast_dumps_call(args, kwargs, ftype): pdy_dumps_call, for tests:
 * (pickle, [the arguments of type ftype, each once]) or None. */
static PyObject *fc_dumps_call(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3 || !PyTuple_CheckExact(args[0]) ||
        (args[1] != Py_None && !PyDict_CheckExact(args[1])) ||
        (args[2] != Py_None && !PyType_Check(args[2]))) {
        PyErr_SetString(PyExc_TypeError,
                        "fast_dumps_call(args, kwargs, ftype): a tuple, a dict or None, a type "
                        "or None");
        return NULL;
    }
    PyObject *futs = PyList_New(0);
    if (!futs)
        return NULL;
    PyObject *r = pdy_dumps_call(args[0], args[1] == Py_None ? NULL : args[1],
                                 args[2] == Py_None ? NULL : (PyTypeObject *)args[2], futs);
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

/* _core.fast_loads_call(data, futs=()): pdy_loads_call, for tests: (args,
 * kwargs) or None. */
static PyObject *fc_loads_call(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs < 1 || nargs > 2 || !PyBytes_Check(args[0]) ||
        (nargs == 2 && !PyTuple_CheckExact(args[1]))) {
        PyErr_SetString(PyExc_TypeError, "fast_loads_call(data, futs=()): bytes, a tuple");
        return NULL;
    }
    PyObject *items[PDY_MAX_ARGS], *kw = NULL;
    PyObject *const *futv = nargs == 2 ? &PyTuple_GET_ITEM(args[1], 0) : NULL;
    size_t nfut = nargs == 2 ? (size_t)PyTuple_GET_SIZE(args[1]) : 0;
    Py_ssize_t n = pdy_loads_call((const unsigned char *)PyBytes_AS_STRING(args[0]),
                                  (size_t)PyBytes_GET_SIZE(args[0]), items, &kw, futv, nfut);
    if (n < 0)
        Py_RETURN_NONE;
    PyObject *t = PyTuple_New(n);
    for (Py_ssize_t i = 0; i < n; i++) {
        if (t)
            PyTuple_SET_ITEM(t, i, items[i]);
        else
            Py_DECREF(items[i]);
    }
    if (!kw && t)
        kw = PyDict_New();
    PyObject *r = t && kw ? PyTuple_Pack(2, t, kw) : NULL;
    Py_XDECREF(t);
    Py_XDECREF(kw);
    return r;
}

static PyObject *fc_dumps_result(PyObject *m, PyObject *v)
{
    PyObject *r = pdy_dumps_scalar(v);
    if (r || PyErr_Occurred())
        return r;
    Py_RETURN_NONE;
}

/* A pickler's persistent_id that asks fn only about the objects that may
 * have one (_backend's pid: placeholders of type ftype, and classes): the
 * pickler asks about every object it writes, ~15 for a dataclass argument,
 * and a Python function said None to most of them (a third of the pickle's
 * time). self: (fn, ftype). */
static PyObject *pid_filter_call(PyObject *self, PyObject *obj)
{
    if (Py_TYPE(obj) == (PyTypeObject *)PyTuple_GET_ITEM(self, 1) || PyType_Check(obj))
        return PyObject_CallOneArg(PyTuple_GET_ITEM(self, 0), obj);
    Py_RETURN_NONE;
}

static PyMethodDef pid_filter_def = {"persistent_id", pid_filter_call, METH_O,
                                     "fn(obj) for placeholders and classes, else None."};

static PyObject *fc_pid_filter(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2 || !PyCallable_Check(args[0]) || !PyType_Check(args[1])) {
        PyErr_SetString(PyExc_TypeError, "pid_filter(fn, ftype): a callable and a type");
        return NULL;
    }
    PyObject *st = PyTuple_Pack(2, args[0], args[1]);
    if (!st)
        return NULL;
    PyObject *f = PyCFunction_NewEx(&pid_filter_def, st, NULL);
    Py_DECREF(st);
    return f;
}

static PyMethodDef fastpickle_methods[] = {
    {"pid_filter", (PyCFunction)(void (*)(void))fc_pid_filter, METH_FASTCALL,
     "pid_filter(fn, ftype) -> a persistent_id for a Pickler that calls fn(obj) only when obj "
     "is of type ftype or a class, and is None for any other object."},
    {"fast_loads_call", (PyCFunction)(void (*)(void))fc_loads_call, METH_FASTCALL,
     "fast_loads_call(data, futs=()) -> (args, kwargs) of pickle.loads(data) as a worker's "
     "batch reads a call (persistent id k: futs[k]), or None."},
    {"fast_dumps_result", fc_dumps_result, METH_O,
     "fast_dumps_result(v) -> pickle.dumps(v, 5) as a worker's batch writes it, or None."},
    {"fast_dumps_call", (PyCFunction)(void (*)(void))fc_dumps_call, METH_FASTCALL,
     "fast_dumps_call(args, kwargs, ftype) -> (pickle, futures): the fast path's pickle of a "
     "call (arguments of type ftype as persistent ids), or None."},
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
