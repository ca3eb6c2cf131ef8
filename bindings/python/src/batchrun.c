/*
 * batchrun.c - the common step of a batch task on the worker, in C:
 * pydron._core.batch_plain, called by pydron._serialize._run_batch.
 *
 * A batch holds hundreds of calls of one function, each a few microseconds.
 * _run_batch's Python loop spent more per call than many of the calls
 * themselves (about 60 bytecodes a call: the member's head, a slice, the
 * checks for buffers, placeholders, log records and plain results). This
 * runs the calls that need none of those, one after the other:
 *
 *   head (nbuf, nfut, len) with nbuf = 0, placeholders (if any) whose
 *   inputs are scalar pickles, a call's pickle as the driver's fast path
 *   writes it or any other (args, kwargs) (fastpickle.c), the logging levels and
 *   warnings filters the calls want already applied (_settings._applied_log
 *   is `applied`), args/kwargs from pickle.loads of the member's bytes, a call that
 *   returns, no log record captured during it, a result of a plain type:
 *   out.append(pickle.dumps(result, 5)).
 *
 * Scalar arguments and results (fastpickle.c) are read and written here
 * byte for byte as the pickle module does, without a Pickler per call.
 *
 * Anything else stops the loop and goes back to _run_batch, which stays the
 * reference and does what it always did: before a member it did not start
 * (kind 0), or after its call, with the result (1) or the exception (2) the
 * call gave; nothing runs twice. Same calls, same order, same bytes out.
 *
 * GIL held throughout, on the thread that runs the batch.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdint.h>

#include "batchrun.h"
#include "fastpickle.h"

static PyObject *loads_fn, *dumps_fn, *int_five, *k_applied_log, *k_records;

/* calls run here and encoded, calls handed back after running (kind 1, 2),
 * in this process (batch_counts(): tests check the loop was taken) */
static unsigned long long ran_here, handed_back;

static uint32_t u32_at(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* (hp, body, ran, kind, value, ii), counted */
static PyObject *result(Py_ssize_t hp, Py_ssize_t body, Py_ssize_t ran, int kind, PyObject *v,
                        Py_ssize_t ii)
{
    int back = kind == 1 || kind == 2; /* the last call ran here, Python finishes it */
    handed_back += (unsigned long long)back;
    ran_here += (unsigned long long)(ran - back);
    return Py_BuildValue("nnniOn", hp, body, ran, kind, v ? v : Py_None, ii);
}

/* The values of a member's placeholders: inputs[ii .. ii + nfut), each a
 * scalar's pickle (a result the worker's batch loop wrote), read as
 * _ArgUnpickler.persistent_load would (decode_result: a plain pickle). 0
 * with new references in fv, or -1 without an exception when one is not
 * such a pickle (a failed call, a log record, a larger value): Python's. */
static int placeholder_values(PyObject *inputs, Py_ssize_t ii, uint32_t nfut,
                              PyObject *fv[PDY_MAX_ARGS])
{
    if (nfut > PDY_MAX_ARGS || !(PyList_CheckExact(inputs) || PyTuple_CheckExact(inputs)) ||
        ii < 0 || ii > PySequence_Fast_GET_SIZE(inputs) - (Py_ssize_t)nfut)
        return -1;
    for (uint32_t k = 0; k < nfut; k++) {
        Py_buffer v;
        fv[k] = NULL;
        if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(inputs, ii + (Py_ssize_t)k), &v,
                               PyBUF_SIMPLE) == 0) {
            fv[k] = pdy_loads_scalar(v.buf, (size_t)v.len);
            PyBuffer_Release(&v);
        }
        if (!fv[k]) {
            PyErr_Clear();
            for (uint32_t j = 0; j < k; j++)
                Py_DECREF(fv[j]);
            return -1;
        }
    }
    return 0;
}

/* The raised exception as an object with its traceback (3.11: fetched). */
static PyObject *take_exception(void)
{
#if PY_VERSION_HEX >= 0x030C0000
    return PyErr_GetRaisedException();
#else
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    PyErr_NormalizeException(&t, &v, &tb);
    if (v && tb)
        PyException_SetTraceback(v, tb);
    Py_XDECREF(t);
    Py_XDECREF(tb);
    return v;
#endif
}

static PyObject *batch_plain(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 13) {
        PyErr_SetString(PyExc_TypeError, "batch_plain(fn, payload, hp, body, left, out, plain, "
                                         "settings, tl, buf, applied, inputs, ii)");
        return NULL;
    }
    PyObject *fn = args[0], *payload = args[1], *out = args[5], *plain = args[6],
             *setd = args[7], *tl = args[8], *buf = args[9], *want = args[10],
             *inputs = args[11];
    Py_ssize_t hp = PyLong_AsSsize_t(args[2]), body = PyLong_AsSsize_t(args[3]),
               left = PyLong_AsSsize_t(args[4]), ii = PyLong_AsSsize_t(args[12]);
    if (PyErr_Occurred())
        return NULL;
    if (!PyList_CheckExact(out) || !PyAnySet_Check(plain) || !PyDict_Check(setd) ||
        (buf != Py_None && !PyList_CheckExact(buf))) {
        PyErr_SetString(PyExc_TypeError, "batch_plain: out a list, plain a set, settings a "
                                         "dict, buf a list or None");
        return NULL;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(payload, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    const unsigned char *p = view.buf;
    Py_ssize_t n = view.len, ran = 0;
    PyObject *ret = NULL;
    while (ran < left) {
        /* before the member: what _run_batch would do differently */
        if (hp < 0 || body < 0 || hp > n - 12 || body > n) {
            ret = result(hp, body, ran, 0, NULL, ii);
            goto done;
        }
        uint32_t nbuf = u32_at(p + hp), nfut = u32_at(p + hp + 4), ln = u32_at(p + hp + 8);
        PyObject *applied = PyDict_GetItemWithError(setd, k_applied_log);
        if (nbuf || (Py_ssize_t)ln > n - body || !applied || applied != want) {
            if (PyErr_Occurred())
                goto done;
            ret = result(hp, body, ran, 0, NULL, ii);
            goto done;
        }
        /* scalar arguments as the driver's fast path writes them: read
         * here (a Pickler's Unpickler per call was a fifth of a tiny call's
         * time on the worker); anything else: the pickle module. Placeholders
         * among them: only as the fast path writes them (else Python's
         * _ArgUnpickler). */
        PyObject *items[PDY_MAX_ARGS], *kw = NULL, *ak = NULL, *res;
        Py_ssize_t na;
        if (nfut) {
            PyObject *fv[PDY_MAX_ARGS];
            na = -1;
            if (placeholder_values(inputs, ii, nfut, fv) == 0) {
                na = pdy_loads_call(p + body, ln, items, &kw, fv, nfut);
                for (uint32_t k = 0; k < nfut; k++)
                    Py_DECREF(fv[k]);
            }
            if (na < 0) {
                ret = result(hp, body, ran, 0, NULL, ii);
                goto done;
            }
            ii += (Py_ssize_t)nfut;
        } else {
            na = pdy_loads_call(p + body, ln, items, &kw, NULL, 0);
        }
        if (na < 0) {
            PyObject *mv = PyMemoryView_FromMemory((char *)p + body, (Py_ssize_t)ln, PyBUF_READ);
            ak = mv ? PyObject_CallOneArg(loads_fn, mv) : NULL;
            Py_XDECREF(mv);
            if (!ak || !PyTuple_CheckExact(ak) || PyTuple_GET_SIZE(ak) != 2 ||
                !PyTuple_CheckExact(PyTuple_GET_ITEM(ak, 0)) ||
                !PyDict_CheckExact(PyTuple_GET_ITEM(ak, 1))) {
                /* Python unpickles it again and says what is wrong */
                PyErr_Clear();
                Py_XDECREF(ak);
                ret = result(hp, body, ran, 0, NULL, ii);
                goto done;
            }
        }
        hp += 12;
        body += (Py_ssize_t)ln;
        ran++;
        if (ak) {
            PyObject *akw = PyTuple_GET_ITEM(ak, 1);
            res = PyObject_Call(fn, PyTuple_GET_ITEM(ak, 0), PyDict_GET_SIZE(akw) ? akw : NULL);
            Py_DECREF(ak);
        } else {
            res = PyObject_VectorcallDict(fn, items, (size_t)na, kw);
            for (Py_ssize_t i = 0; i < na; i++)
                Py_DECREF(items[i]);
            Py_XDECREF(kw);
        }
        if (!res) {
            PyObject *e = take_exception();
            ret = result(hp, body, ran, 2, e, ii);
            Py_XDECREF(e);
            goto done;
        }
        /* a log record or warning captured during the call, or the call ran
         * a task of its own here (tl.records is another list): Python's */
        int logged = 0;
        if (buf != Py_None) {
            PyObject *cur = PyObject_GetAttr(tl, k_records);
            logged = !cur || cur != buf || PyList_GET_SIZE(buf) != 0;
            Py_XDECREF(cur);
            PyErr_Clear();
        }
        int pl = !logged ? PySet_Contains(plain, (PyObject *)Py_TYPE(res)) : 0;
        PyObject *data = NULL;
        if (pl > 0 && !(data = pdy_dumps_scalar(res)) && !PyErr_Occurred()) {
            PyObject *dargs[] = {res, int_five};
            data = PyObject_Vectorcall(dumps_fn, dargs, 2, NULL);
        }
        if (!data || PyList_Append(out, data) < 0) {
            /* Python encodes it (and says why it cannot) */
            PyErr_Clear();
            Py_XDECREF(data);
            ret = result(hp, body, ran, 1, res, ii);
            Py_DECREF(res);
            goto done;
        }
        Py_DECREF(data);
        Py_DECREF(res);
    }
    ret = result(hp, body, ran, 3, NULL, ii);
done:
    PyBuffer_Release(&view);
    return ret;
}

static PyObject *batch_counts(PyObject *m, PyObject *unused)
{
    return Py_BuildValue("{sKsK}", "ran", ran_here, "handed_back", handed_back);
}

static PyMethodDef batchrun_methods[] = {
    {"batch_counts", batch_counts, METH_NOARGS,
     "batch_counts() -> {ran, handed_back}: calls of batches this process ran and encoded in "
     "C, and ran in C but handed back to Python (a result or exception to finish)."},
    {"batch_plain", (PyCFunction)(void (*)(void))batch_plain, METH_FASTCALL,
     "batch_plain(fn, payload, hp, body, left, out, plain, settings, tl, buf, applied, inputs, "
     "ii) -> (hp, body, ran, kind, value, ii): run the plain calls of a batch from the member whose head is at hp "
     "and bytes at body (pydron._serialize._run_batch). kind 0: stopped before a member; 1: "
     "the last call returned value; 2: it raised value; 3: all `left` members ran. ii: the "
     "index in inputs of the next member's first input."},
    {NULL}};

int pdy_batchrun_init(PyObject *m)
{
    PyObject *pickle = PyImport_ImportModule("pickle");
    if (!pickle)
        return -1;
    loads_fn = PyObject_GetAttrString(pickle, "loads");
    dumps_fn = loads_fn ? PyObject_GetAttrString(pickle, "dumps") : NULL;
    Py_DECREF(pickle);
    int_five = PyLong_FromLong(5);
    k_applied_log = PyUnicode_InternFromString("_applied_log");
    k_records = PyUnicode_InternFromString("records");
    if (!dumps_fn || !int_five || !k_applied_log || !k_records)
        return -1;
    return PyModule_AddFunctions(m, batchrun_methods);
}
