/*
 * fastcall.c - the common path of a @functional call in a @schedule body,
 * in C: pydron._core.call, .mcall and .settle_ready.
 *
 * A tiny task cost the driver about a dozen Python functions per call
 * (pydron._runtime.calls.call -> _submit -> Session.submit -> _Batch.add,
 * the Future, the pending queue; mcall -> _list_append; _poll ->
 * Future.exception -> _wait -> decode_result -> _settle_place). This file
 * does the same steps for the plain case only:
 *
 *   call(f, *args)    f a plain function marked @functional, no keyword
 *                     arguments, on the driver thread, not inside the
 *                     backend, every argument a scalar (int, float, bool,
 *                     None, str, bytes, complex) or a small tuple, list or
 *                     dict of them (so: no Future, no __main__ class, no
 *                     random generator, no large buffer, and pickling runs
 *                     no code of the program), a session open and not in
 *                     check mode, a batch of several calls;
 *   mcall(lst, "append", v)   v a Future or a scalar;
 *   settle_ready(place)       finished results at the front of the pending
 *                     queue whose bytes are a plain pickle.
 *
 * Everything else goes to the Python functions handed to fast_setup
 * (calls.call, calls.mcall, calls._submit_rest, ...), which stay the
 * reference: each step here mirrors one line there, in the same order, and
 * the Python objects (Session, _Batch, Future, the deque of pending calls)
 * are the same ones, so both paths can take turns in one program. The
 * Python helpers are asked for what is rare or long (a new function version,
 * the batch size, sending a batch, waiting when the window is full).
 *
 * Threads: every function here runs with the GIL held, on the caller's
 * thread; the driver check is the first thing call and mcall do.
 */
#define _GNU_SOURCE /* memmem */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <structmember.h> /* T_OBJECT_EX */

#include <string.h>

#include "fastcall.h"
#include "fastpickle.h"
#include "pydron.h"

#define SLOT(o, off) (*(PyObject **)((char *)(o) + (off)))
/* How many scalars the arguments of a call on the fast path may hold in all
 * (a larger argument takes the Python path: no gain to have here). */
#define PLAIN_BUDGET 64
#define PLAIN_DEPTH 4

static struct {
    int ready;
    /* handed to fast_setup (pydron._runtime) */
    PyObject *S; /* state.S: a Driver (__slots__) */
    PyObject *pending, *pending_append, *pending_popleft, *undo, *undo_append, *undo_popleft,
        *tainted, *seq;
    PyObject *py_call, *py_mcall, *submit_rest, *shrink, *front_poll, *prefix, *call_site;
    PyObject *dumps, *loads;
    /* Driver slot offsets */
    Py_ssize_t s_driver, s_in_backend, s_last_seq, s_last_lazy, s_window, s_window_bytes,
        s_pbytes, s_batching, s_backend, s_horizon;
    /* taken from S.backend when it is first seen (pydron._backend) */
    PyObject *backend, *bdict, *sdict, *setdict; /* the module, its dict, _serialize's, _settings' */
    PyTypeObject *Future, *Batch, *Logged, *MemberFailed;
    PyObject *member, *immutable, *category, *unwrap;
    Py_ssize_t f_v, f_fn, f_r, f_x, f_q, f_a, f_b, f_l, f_n, f_site, f_o;
    Py_ssize_t b_s, b_ent, b_heads, b_datas, b_futs, b_inputs, b_waits;
} F;

/* What the fast path took and handed back (fast_counts(): tests check
 * that a program took the path they mean to test). */
static struct {
    unsigned long long calls, handed, rest, appends, settled;
} N;

static PyObject *str_kind, *str_functional_attr, *str_functional, *str_append, *str_session,
    *str_closed, *str_check, *str_v, *str_b, *str_fn_entry, *str_batch_size, *str_opens, *str_flush, *str_pop,
    *str_state, *str_size, *str_decoded, *str_num, *str_str, *str_none, *str_dur,
    *str_in_process, *str_fcache, *str_done, *str_graph, *str_graph_attr, *str_out,
    *str_dtype, *str_hasobject, *str_nbytes;
static PyObject *int_five;
/* keys of the backend's and _settings' module dicts */
static PyObject *k_batch_max, *k_batch_seconds, *k_cache, *k_decimal, *k_filters, *k_gen,
    *k_inline_max, *k_last_dec, *k_last_log, *k_last_np, *k_last_warn, *k_log_probe,
    *k_log_state, *k_modules, *k_np_var, *k_numpy, *k_probe_key, *k_result_bytes,
    *k_result_cats, *k_warnings, *k_seconds, *k_dec_key, *k_dec_state, *k_getcontext,
    *k_reduce;

/* ---- slots of __slots__ classes, by offset ---------------------------- */

static int slot_offset(PyObject *tp, const char *name, Py_ssize_t *off)
{
    PyObject *d = PyObject_GetAttrString(tp, name);
    if (!d)
        return -1;
    if (!Py_IS_TYPE(d, &PyMemberDescr_Type) ||
        ((PyMemberDescrObject *)d)->d_member->type != T_OBJECT_EX) {
        PyErr_Format(PyExc_TypeError, "fast_setup: %R.%s is not a __slots__ member", tp, name);
        Py_DECREF(d);
        return -1;
    }
    *off = ((PyMemberDescrObject *)d)->d_member->offset;
    Py_DECREF(d);
    return 0;
}

/* Store v (a new reference is taken) in a slot. */
static void sset(PyObject *o, Py_ssize_t off, PyObject *v)
{
    Py_XINCREF(v);
    Py_XSETREF(SLOT(o, off), v);
}

/* ---- pending entries ------------------------------------------------------ */

/* An entry of the pending queue made here: the (seq, fut) pair that
 * calls._track appends as a tuple, and read the same way (e[0], e[1],
 * `seq, fut = e`). While it is queued, its Future is not tracked by the
 * garbage collector: a loop of calls keeps thousands of them alive at once,
 * and every collection walked them all, full collections included, for
 * nothing (the queue holds them: they are reachable, whatever points at
 * them). The entry's going (popleft, clear, a filtered copy dropped) tracks
 * the Future again if anything else still holds it, so a cycle through it
 * later is found as before. Nothing here points back at the entry: it is
 * not tracked either. */
typedef struct {
    PyObject_HEAD PyObject *seq, *fut;
} Entry;

static void entry_dealloc(Entry *e)
{
    PyObject *f = e->fut;
    if (f && Py_REFCNT(f) > 1 && PyType_IS_GC(Py_TYPE(f)) && !PyObject_GC_IsTracked(f))
        PyObject_GC_Track(f);
    Py_XDECREF(e->seq);
    Py_XDECREF(f);
    Py_TYPE(e)->tp_free((PyObject *)e);
}

static Py_ssize_t entry_len(PyObject *e) { return 2; }

static PyObject *entry_item(PyObject *o, Py_ssize_t i)
{
    Entry *e = (Entry *)o;
    if (i == 0 || i == 1)
        return Py_NewRef(i ? e->fut : e->seq);
    PyErr_SetString(PyExc_IndexError, "pending entry index out of range");
    return NULL;
}

static PyObject *entry_repr(PyObject *o)
{
    Entry *e = (Entry *)o;
    return PyUnicode_FromFormat("(%R, %R)", e->seq, e->fut);
}

static PySequenceMethods entry_seq = {
    .sq_length = entry_len,
    .sq_item = entry_item,
};

static PyTypeObject EntryType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "pydron._core.PendingEntry",
    .tp_basicsize = sizeof(Entry),
    .tp_dealloc = (destructor)entry_dealloc,
    .tp_repr = entry_repr,
    .tp_as_sequence = &entry_seq,
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "(seq, future) in the driver's pending queue, made by the fast path.",
};

/* A new Entry (seq, fut), fut untracked while it lives (see Entry). */
static PyObject *entry_new(PyObject *seq, PyObject *fut)
{
    Entry *e = PyObject_New(Entry, &EntryType);
    if (!e)
        return NULL;
    e->seq = Py_NewRef(seq);
    e->fut = Py_NewRef(fut);
    if (PyObject_IS_GC(fut) && PyObject_GC_IsTracked(fut))
        PyObject_GC_UnTrack(fut);
    return (PyObject *)e;
}

/* seq and fut of a pending entry (a 2-tuple or an Entry), borrowed; 0 when
 * it is neither */
static int entry_parts(PyObject *item, PyObject **seq, PyObject **fut)
{
    if (Py_IS_TYPE(item, &EntryType)) {
        *seq = ((Entry *)item)->seq;
        *fut = ((Entry *)item)->fut;
        return 1;
    }
    if (PyTuple_CheckExact(item) && PyTuple_GET_SIZE(item) == 2) {
        *seq = PyTuple_GET_ITEM(item, 0);
        *fut = PyTuple_GET_ITEM(item, 1);
        return 1;
    }
    return 0;
}

/* ---- state --------------------------------------------------------------- */

/* S.driver == threading.get_ident() and not S.in_backend */
static int on_driver(void)
{
    PyObject *d = SLOT(F.S, F.s_driver);
    if (!d || !PyLong_CheckExact(d))
        return 0;
    unsigned long id = PyLong_AsUnsignedLong(d);
    if (id == (unsigned long)-1 && PyErr_Occurred()) {
        PyErr_Clear();
        return 0;
    }
    return id == PyThread_get_thread_ident() && SLOT(F.S, F.s_in_backend) == Py_False;
}

static PyObject *mod_get(PyObject *dict, const char *name)
{
    PyObject *v = PyDict_GetItemString(dict, name); /* borrowed */
    if (!v)
        PyErr_Format(PyExc_RuntimeError, "pydron fast path: %s is missing", name);
    return v;
}

/* What the fast path needs of pydron._backend, once S.backend is set
 * (session() sets it): 1 ready, 0 no backend yet, -1 error. */
static int backend_sync(void)
{
    PyObject *be = SLOT(F.S, F.s_backend);
    if (!be || be == Py_None)
        return 0;
    if (be == F.backend)
        return 1;
    PyObject *bd = PyModule_GetDict(be);
    if (!bd)
        return -1;
    PyObject *fut = mod_get(bd, "Future"), *batch = mod_get(bd, "_Batch"),
             *member = mod_get(bd, "_MEMBER"), *imm = mod_get(bd, "_immutable"),
             *cat = mod_get(bd, "category"), *ser = mod_get(bd, "_serialize");
    if (!fut || !batch || !member || !imm || !cat || !ser)
        return -1;
    PyObject *sd = PyModule_GetDict(ser);
    if (!sd)
        return -1;
    PyObject *setm = mod_get(bd, "_settings");
    PyObject *setd = setm ? PyModule_GetDict(setm) : NULL;
    if (!setd)
        return -1;
    PyObject *logged = mod_get(sd, "_Logged"), *mf = mod_get(sd, "_MemberFailed"),
             *unwrap = mod_get(sd, "_unwrap");
    if (!logged || !mf || !unwrap)
        return -1;
    if (!PyType_Check(fut) || !PyType_Check(batch) || !PyType_Check(logged) ||
        !PyType_Check(mf)) {
        PyErr_SetString(PyExc_TypeError, "pydron fast path: unexpected backend classes");
        return -1;
    }
    if (slot_offset(fut, "_v", &F.f_v) < 0 || slot_offset(fut, "_fn", &F.f_fn) < 0 ||
        slot_offset(fut, "_r", &F.f_r) < 0 || slot_offset(fut, "_x", &F.f_x) < 0 ||
        slot_offset(fut, "_q", &F.f_q) < 0 || slot_offset(fut, "_a", &F.f_a) < 0 ||
        slot_offset(fut, "_b", &F.f_b) < 0 || slot_offset(fut, "_l", &F.f_l) < 0 ||
        slot_offset(fut, "_n", &F.f_n) < 0 || slot_offset(fut, "_site", &F.f_site) < 0 ||
        slot_offset(fut, "_o", &F.f_o) < 0 ||
        slot_offset(batch, "s", &F.b_s) < 0 || slot_offset(batch, "ent", &F.b_ent) < 0 ||
        slot_offset(batch, "heads", &F.b_heads) < 0 ||
        slot_offset(batch, "datas", &F.b_datas) < 0 ||
        slot_offset(batch, "futs", &F.b_futs) < 0 ||
        slot_offset(batch, "inputs", &F.b_inputs) < 0 ||
        slot_offset(batch, "waits", &F.b_waits) < 0)
        return -1;
    Py_INCREF(be);
    Py_XSETREF(F.backend, be);
    Py_INCREF(bd);
    Py_XSETREF(F.bdict, bd);
    Py_INCREF(sd);
    Py_XSETREF(F.sdict, sd);
    Py_INCREF(setd);
    Py_XSETREF(F.setdict, setd);
    Py_INCREF(fut);
    Py_XSETREF(F.Future, (PyTypeObject *)fut);
    Py_INCREF(batch);
    Py_XSETREF(F.Batch, (PyTypeObject *)batch);
    Py_INCREF(logged);
    Py_XSETREF(F.Logged, (PyTypeObject *)logged);
    Py_INCREF(mf);
    Py_XSETREF(F.MemberFailed, (PyTypeObject *)mf);
    Py_INCREF(member);
    Py_XSETREF(F.member, member);
    Py_INCREF(imm);
    Py_XSETREF(F.immutable, imm);
    Py_INCREF(cat);
    Py_XSETREF(F.category, cat);
    Py_INCREF(unwrap);
    Py_XSETREF(F.unwrap, unwrap);
    return 1;
}

static int is_scalar(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    return t == &PyLong_Type || t == &PyFloat_Type || t == &PyUnicode_Type || o == Py_None ||
           t == &PyBool_Type || t == &PyBytes_Type || t == &PyComplex_Type;
}

/* numpy's ndarray and generic (its scalars' base), once the program has
 * imported numpy (never imported here) */
static PyTypeObject *np_ndarray, *np_generic;

static int numpy_types(void)
{
    if (np_ndarray)
        return 1;
    PyObject *np = PyImport_GetModule(k_numpy);
    if (!np) {
        PyErr_Clear();
        return 0;
    }
    PyObject *nd = PyObject_GetAttrString(np, "ndarray"),
             *gen = nd ? PyObject_GetAttrString(np, "generic") : NULL;
    Py_DECREF(np);
    if (!gen || !PyType_Check(nd) || !PyType_Check(gen)) {
        PyErr_Clear();
        Py_XDECREF(nd);
        Py_XDECREF(gen);
        return 0;
    }
    np_ndarray = (PyTypeObject *)nd; /* kept for the process */
    np_generic = (PyTypeObject *)gen;
    return 1;
}

/* Bytes of an array the Python path pickles inside the call's pickle
 * (_serialize.OOB_MIN: larger ones become graph constants). */
#define NP_INBAND_MAX (64 * 1024)

/* A numpy array (exactly ndarray) of under NP_INBAND_MAX bytes, or a numpy
 * scalar (numpy's own types), without Python objects inside: its pickle
 * runs no code of the program and stays in band, as the Python path
 * writes it. */
static int plain_numpy(PyObject *o)
{
    PyTypeObject *t = Py_TYPE(o);
    if (!numpy_types())
        return 0;
    int arr = t == np_ndarray;
    if (!arr && !(strncmp(t->tp_name, "numpy.", 6) == 0 && PyType_IsSubtype(t, np_generic)))
        return 0;
    PyObject *dt = PyObject_GetAttr(o, str_dtype);
    PyObject *ho = dt ? PyObject_GetAttr(dt, str_hasobject) : NULL;
    PyObject *nb = ho == Py_False && arr ? PyObject_GetAttr(o, str_nbytes) : NULL;
    int ok = ho == Py_False && (!arr || (nb && PyLong_CheckExact(nb) &&
                                         PyLong_AsSsize_t(nb) < NP_INBAND_MAX));
    Py_XDECREF(dt);
    Py_XDECREF(ho);
    Py_XDECREF(nb);
    PyErr_Clear();
    return ok;
}

/* Pickling o runs no code of the program and yields a plain pickle without
 * out-of-band buffers, Futures or generators. */
static int plain(PyObject *o, int depth, int *budget)
{
    if (--*budget < 0)
        return 0;
    if (is_scalar(o))
        return 1;
    /* numpy's types are named "numpy.<name>" (a subclass of the program's
     * is not) */
    if (strncmp(Py_TYPE(o)->tp_name, "numpy.", 6) == 0 && plain_numpy(o))
        return 1;
    if (depth >= PLAIN_DEPTH)
        return 0;
    PyTypeObject *t = Py_TYPE(o);
    if (t == &PyTuple_Type) {
        for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(o); i++)
            if (!plain(PyTuple_GET_ITEM(o, i), depth + 1, budget))
                return 0;
        return 1;
    }
    if (t == &PyList_Type) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(o); i++)
            if (!plain(PyList_GET_ITEM(o, i), depth + 1, budget))
                return 0;
        return 1;
    }
    if (t == &PyDict_Type) {
        Py_ssize_t pos = 0;
        PyObject *k, *v;
        while (PyDict_Next(o, &pos, &k, &v))
            if (!plain(k, depth + 1, budget) || !plain(v, depth + 1, budget))
                return 0;
        return 1;
    }
    return 0;
}

/* ---- submit --------------------------------------------------------------- */

/* PyDict_GetItem without its cost: in 3.11 it saves and restores the
 * exception state around every lookup (about 100 instructions), and the
 * submit path does some twenty lookups a call. The keys here are interned
 * str (or the dicts' own keys), whose lookup raises nothing; an error that
 * does come is dropped, as PyDict_GetItem drops it. */
static inline PyObject *dget(PyObject *d, PyObject *k)
{
    PyObject *v = PyDict_GetItemWithError(d, k);
    if (!v && PyErr_Occurred())
        PyErr_Clear();
    return v;
}

/* d[key] = val unless d[key] is val already (the calls of a loop mostly
 * store the same object again: a lookup, no write). A dict past `bound`
 * entries (when not 0) is cleared first: functions made on the fly keep
 * the tables bounded. 0 or -1 with an exception. */
static int put_if_changed(PyObject *d, PyObject *key, PyObject *val, Py_ssize_t bound)
{
    PyObject *had = PyDict_GetItemWithError(d, key);
    if (had == val)
        return 0;
    if (!had && PyErr_Occurred())
        return -1;
    if (bound && PyDict_GET_SIZE(d) > bound)
        PyDict_Clear(d);
    return PyDict_SetItem(d, key, val);
}

/* id(fn) (the key of Session._fcache and _dur): the calls of a loop are of
 * one function, so the last one's int is handed out again. The function is
 * held, so its address cannot be another object's meanwhile. */
static PyObject *fn_id(PyObject *fn)
{
    static PyObject *last_fn, *last_id;
    if (fn == last_fn)
        return Py_NewRef(last_id);
    PyObject *id = PyLong_FromVoidPtr(fn);
    if (id) {
        Py_XSETREF(last_fn, Py_NewRef(fn));
        Py_XSETREF(last_id, Py_NewRef(id));
    }
    return id;
}

/* RESULT_BYTES.get(fn, 0) (_backend._result_bytes) */
static Py_ssize_t result_bytes(PyObject *fn)
{
    PyObject *rb = dget(F.bdict, k_result_bytes);
    if (!rb || !PyDict_Check(rb))
        return -1;
    PyObject *n = PyDict_GetItemWithError(rb, fn);
    if (!n) {
        if (PyErr_Occurred()) {
            if (!PyErr_ExceptionMatches(PyExc_TypeError))
                return -1;
            PyErr_Clear(); /* unhashable callable */
        }
        return 0;
    }
    Py_ssize_t v = PyLong_AsSsize_t(n);
    return v == -1 && PyErr_Occurred() ? -1 : v;
}

/* _settings._decimal_state() == _last_dec, for a program that imported
 * decimal (also through fractions, statistics, pandas): 1 the same, 0 not
 * known here (Python's path decides), -1 error. The context's settings are
 * read as _decimal_state reads them, through its __reduce__ (one C call:
 * prec, rounding, Emin, Emax, capitals, clamp, flags, traps), and compared
 * with the key _decimal_state kept for the state it last computed. Without
 * this every call of such a program took the Python path (~1 us a call). */
static int decimal_same(PyObject *dec, PyObject *ldec, PyObject *key, PyObject *st)
{
    /* decimal.getcontext while decimal is this module; the type's
     * __reduce__ while contexts are of this type (no method lookup a call) */
    static PyObject *mod, *getctx, *ctype, *reduce;
    if (!key || !st || !PyTuple_CheckExact(key) || PyTuple_GET_SIZE(key) < 6 || st != ldec)
        return 0;
    if (dec != mod) {
        PyObject *g = PyObject_GetAttr(dec, k_getcontext);
        if (!g) {
            PyErr_Clear();
            return 0;
        }
        Py_XSETREF(getctx, g);
        Py_XSETREF(mod, Py_NewRef(dec));
    }
    PyObject *ctx = PyObject_CallNoArgs(getctx);
    if (ctx && (PyObject *)Py_TYPE(ctx) != ctype) {
        PyObject *r = PyObject_GetAttr((PyObject *)Py_TYPE(ctx), k_reduce);
        if (r) {
            Py_XSETREF(reduce, r);
            Py_XSETREF(ctype, Py_NewRef(Py_TYPE(ctx)));
        }
    }
    PyObject *red = ctx && (PyObject *)Py_TYPE(ctx) == ctype ? PyObject_CallOneArg(reduce, ctx)
                                                              : NULL;
    Py_XDECREF(ctx);
    if (!red) {
        PyErr_Clear();
        return 0;
    }
    PyObject *a = PyTuple_CheckExact(red) && PyTuple_GET_SIZE(red) == 2
                      ? PyTuple_GET_ITEM(red, 1)
                      : NULL;
    PyObject *traps = a && PyTuple_CheckExact(a) && PyTuple_GET_SIZE(a) == 8
                          ? PyTuple_GET_ITEM(a, 7)
                          : NULL;
    /* key = a[:6] + tuple(a[7]) */
    int same = traps && PyList_CheckExact(traps) &&
               PyTuple_GET_SIZE(key) == 6 + PyList_GET_SIZE(traps);
    for (Py_ssize_t i = 0; same && i < 6; i++) {
        PyObject *x = PyTuple_GET_ITEM(a, i), *y = PyTuple_GET_ITEM(key, i);
        same = x == y || PyObject_RichCompareBool(x, y, Py_EQ) > 0;
    }
    for (Py_ssize_t i = 0; same && i < PyTuple_GET_SIZE(key) - 6; i++)
        same = PyList_GET_ITEM(traps, i) == PyTuple_GET_ITEM(key, 6 + i);
    Py_DECREF(red);
    PyErr_Clear(); /* (a comparison that raised: not the same) */
    return same;
}

/* settings_gen's lookups in three dicts (the _settings module's, the
 * warnings module's and sys.modules), kept while none of them changed: a
 * dozen dict lookups a call were a tenth of a tiny call's time on the
 * driver. A change is seen through the dicts' version tags (3.11) or a dict
 * watcher (3.12 and later). The values kept are borrowed: a dict that did
 * not change still holds them. What can change without touching a dict
 * (the filters list in place, the logging probe's cache, numpy's context
 * variable, decimal's context) is checked at every call, as before. */
static struct {
    int kept;   /* 1: the fields below are what the dicts hold */
    int static_ok; /* the checks on them alone passed */
    PyObject *sd, *mods, *wdict; /* the dicts they came from (compared) */
#if PY_VERSION_HEX >= 0x030C0000
    uint64_t seen; /* sg_changes when kept */
#else
    uint64_t v_sd, v_mods, v_wdict;
#endif
    PyObject *wt, *wf, *probe, *pkey, *nv, *lnp, *ldec, *gen, *dec, *dkey, *dstate;
} SG;

#if PY_VERSION_HEX >= 0x030C0000
static int sg_watcher = -1;
static uint64_t sg_changes; /* the watched dicts' changes so far */

static int sg_watch(PyDict_WatchEvent ev, PyObject *d, PyObject *key, PyObject *val)
{
    sg_changes++;
    return 0;
}
#endif

static int sg_current(PyObject *sd)
{
    if (!SG.kept || SG.sd != sd)
        return 0;
#if PY_VERSION_HEX >= 0x030C0000
    return SG.seen == sg_changes;
#else
    return SG.v_sd == ((PyDictObject *)sd)->ma_version_tag &&
           SG.v_mods == ((PyDictObject *)SG.mods)->ma_version_tag &&
           SG.v_wdict == ((PyDictObject *)SG.wdict)->ma_version_tag;
#endif
}

/* Looks the values up again: 1 kept, 0 not a shape kept here (Python's path
 * decides at each call then), -1 error. */
static int sg_refresh(PyObject *sd)
{
    SG.kept = 0;
    PyObject *wmod = dget(sd, k_warnings), *mods = dget(sd, k_modules);
    if (!wmod || !PyModule_CheckExact(wmod) || !mods || !PyDict_CheckExact(mods))
        return 0;
    PyObject *wdict = PyModule_GetDict(wmod); /* borrowed */
    if (!wdict || !PyDict_CheckExact(wdict))
        return 0;
#if PY_VERSION_HEX >= 0x030C0000
    if (sg_watcher < 0 && (sg_watcher = PyDict_AddWatcher(sg_watch)) < 0)
        return -1;
    if (PyDict_Watch(sg_watcher, sd) < 0 || PyDict_Watch(sg_watcher, mods) < 0 ||
        PyDict_Watch(sg_watcher, wdict) < 0)
        return -1;
    SG.seen = sg_changes;
#else
    SG.v_sd = ((PyDictObject *)sd)->ma_version_tag;
    SG.v_mods = ((PyDictObject *)mods)->ma_version_tag;
    SG.v_wdict = ((PyDictObject *)wdict)->ma_version_tag;
#endif
    SG.sd = sd;
    SG.mods = mods;
    SG.wdict = wdict;
    SG.wt = dget(sd, k_last_warn);
    SG.wf = dget(wdict, k_filters);
    PyObject *ls = dget(sd, k_log_state), *ll = dget(sd, k_last_log);
    SG.probe = dget(sd, k_log_probe);
    SG.pkey = dget(sd, k_probe_key);
    SG.nv = dget(sd, k_np_var);
    SG.lnp = dget(sd, k_last_np);
    SG.ldec = dget(sd, k_last_dec);
    SG.gen = dget(sd, k_gen);
    SG.dec = dget(mods, k_decimal);
    SG.dkey = dget(sd, k_dec_key);
    SG.dstate = dget(sd, k_dec_state);
    PyObject *wt = SG.wt;
    SG.static_ok = wt && SG.wf && PyTuple_CheckExact(wt) && PyTuple_GET_SIZE(wt) == 3 &&
                   PyTuple_GET_ITEM(wt, 0) == SG.wf && PyList_CheckExact(SG.wf) &&
                   PyLong_CheckExact(PyTuple_GET_ITEM(wt, 1)) && ls && ls == ll && SG.probe &&
                   SG.probe != Py_None && SG.pkey && SG.nv && SG.lnp && SG.ldec && SG.gen &&
                   (SG.nv != Py_None ? PyContextVar_CheckExact(SG.nv)
                                     : SG.lnp == Py_None && !dget(mods, k_numpy)) &&
                   (SG.dec || SG.ldec == Py_None);
    SG.kept = 1;
    return 1;
}

/* _settings.settings()[0] while nothing changed (its first branch): a new
 * reference to the generation, or NULL (an exception set, or not known
 * here: ask Python). */
static PyObject *settings_gen(void)
{
    PyObject *sd = F.setdict;
    if (!sg_current(sd)) {
        int rc = sg_refresh(sd);
        if (rc <= 0)
            return NULL;
    }
    if (!SG.static_ok)
        return NULL;
    PyObject *wt = SG.wt, *wf = SG.wf;
    Py_ssize_t wn = PyLong_AsSsize_t(PyTuple_GET_ITEM(wt, 1));
    if (wn != PyList_GET_SIZE(wf) || (wn != 0 && PyTuple_GET_ITEM(wt, 2) != PyList_GET_ITEM(wf, 0))) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *cache = PyObject_GetAttr(SG.probe, k_cache);
    if (!cache) {
        PyErr_Clear();
        return NULL;
    }
    int has = PyDict_CheckExact(cache) ? PyDict_Contains(cache, SG.pkey) : 0;
    Py_DECREF(cache);
    if (has <= 0 || !sg_current(sd)) { /* (or the getattr ran code that changed them) */
        PyErr_Clear();
        return NULL;
    }
    if (SG.nv != Py_None) {
        PyObject *cur = NULL;
        if (PyContextVar_Get(SG.nv, NULL, &cur) < 0 || !cur) {
            PyErr_Clear();
            return NULL;
        }
        int same = cur == SG.lnp;
        Py_DECREF(cur);
        if (!same)
            return NULL;
    }
    if (SG.dec) {
        /* held across decimal_same: a decimal module in Python runs code */
        PyObject *held[] = {SG.dec, SG.ldec, SG.dkey, SG.dstate};
        for (size_t i = 0; i < 4; i++)
            Py_XINCREF(held[i]);
        int same = decimal_same(held[0], held[1], held[2], held[3]);
        for (size_t i = 0; i < 4; i++)
            Py_XDECREF(held[i]);
        if (same <= 0 || !sg_current(sd))
            return NULL;
    }
    return Py_NewRef(SG.gen);
}

/* 1 when the weak reference ref points at o */
static int ref_is(PyObject *ref, PyObject *o)
{
#if PY_VERSION_HEX >= 0x030D0000
    PyObject *x = NULL;
    if (PyWeakref_GetRef(ref, &x) < 0) {
        PyErr_Clear();
        return 0;
    }
    int same = x == o;
    Py_XDECREF(x);
    return same;
#else
    return PyWeakref_GET_OBJECT(ref) == o;
#endif
}

/* not FnState.changed() (_state.py), decided here when every global,
 * closure cell and module attribute the function reads (deps) is still the
 * very object of its last version (tokens): a module, a function, a class,
 * a constant not rebound. 1 unchanged; 0 ask Python, which also compares
 * snapshots of mutable values, attributes of classes, and draws from the
 * random generators (rngs). */
static int fst_same(PyObject *fst)
{
    static PyObject *tp;
    static Py_ssize_t o_deps, o_tokens, o_rngs;
    if ((PyObject *)Py_TYPE(fst) != tp) {
        PyObject *t = (PyObject *)Py_TYPE(fst);
        if (slot_offset(t, "deps", &o_deps) < 0 || slot_offset(t, "tokens", &o_tokens) < 0 ||
            slot_offset(t, "rngs", &o_rngs) < 0) {
            PyErr_Clear();
            return 0;
        }
        Py_XSETREF(tp, Py_NewRef(t));
    }
    PyObject *deps = SLOT(fst, o_deps), *toks = SLOT(fst, o_tokens), *rngs = SLOT(fst, o_rngs);
    if (!deps || !toks || !rngs || !PyList_CheckExact(deps) || !PyList_CheckExact(toks) ||
        !PyList_CheckExact(rngs) || PyList_GET_SIZE(rngs) != 0 ||
        PyList_GET_SIZE(deps) != PyList_GET_SIZE(toks))
        return 0;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(deps); i++) {
        PyObject *d = PyList_GET_ITEM(deps, i), *v;
        if (!PyTuple_CheckExact(d) || PyTuple_GET_SIZE(d) != 2)
            return 0;
        PyObject *holder = PyTuple_GET_ITEM(d, 0), *key = PyTuple_GET_ITEM(d, 1);
        if (key == Py_None) /* a closure cell */
            v = PyCell_Check(holder) ? PyCell_GET(holder) : NULL;
        else if (PyDict_CheckExact(holder) && PyUnicode_CheckExact(key)) /* globals */
            v = dget(holder, key);
        else
            return 0; /* a class attribute, __defaults__: Python's getattr */
        if (!v || v != PyList_GET_ITEM(toks, i))
            return 0;
    }
    return 1;
}

/* Session._fn_entry(fn) while fn's current version stands (its first
 * branch); otherwise the Python method. */
static PyObject *fn_entry(PyObject *sess, PyObject *fn)
{
    PyObject *gen = settings_gen();
    if (PyErr_Occurred())
        return NULL;
    PyObject *ent = NULL;
    if (gen) {
        PyObject *fc = PyObject_GetAttr(sess, str_fcache);
        PyObject *idfn = fc ? fn_id(fn) : NULL;
        ent = idfn && PyDict_Check(fc) ? PyDict_GetItemWithError(fc, idfn) : NULL;
        Py_XINCREF(ent);
        Py_XDECREF(idfn);
        Py_XDECREF(fc);
        if (PyErr_Occurred()) {
            Py_DECREF(gen);
            Py_XDECREF(ent);
            return NULL;
        }
        int ok = ent && PyTuple_CheckExact(ent) && PyTuple_GET_SIZE(ent) == 7 &&
                 (PyTuple_GET_ITEM(ent, 5) == Py_None || fst_same(PyTuple_GET_ITEM(ent, 5)));
        if (ok) {
            PyObject *ref = PyTuple_GET_ITEM(ent, 3), *obj = ref;
            if (PyTuple_GET_ITEM(ent, 4) == Py_True)
                obj = PyWeakref_CheckRefExact(ref) && ref_is(ref, fn) ? fn : NULL;
            else if (PyTuple_GET_ITEM(ent, 4) != Py_False)
                obj = NULL;
            ok = obj == fn;
        }
        if (ok) {
            ok = PyObject_RichCompareBool(PyTuple_GET_ITEM(ent, 6), gen, Py_EQ);
            if (ok < 0) {
                Py_DECREF(gen);
                Py_DECREF(ent);
                return NULL;
            }
        }
        Py_DECREF(gen);
        if (ok)
            return ent;
        Py_CLEAR(ent);
    }
    return PyObject_CallMethodOneArg(sess, str_fn_entry, fn);
}

/* Future(None, fn) with _b = batch and _n = n, as Future.__init__ sets it. */
static PyObject *new_future(PyObject *fn, PyObject *batch, Py_ssize_t n)
{
    PyTypeObject *tp = F.Future;
    PyObject *nobj = PyLong_FromSsize_t(n);
    if (!nobj)
        return NULL;
    PyObject *f = tp->tp_alloc(tp, 0);
    if (!f) {
        Py_DECREF(nobj);
        return NULL;
    }
    PyObject *zero = PyLong_FromLong(0);
    sset(f, F.f_v, Py_None);
    sset(f, F.f_b, batch);
    sset(f, F.f_l, Py_None);
    SLOT(f, F.f_n) = nobj;
    sset(f, F.f_fn, fn);
    sset(f, F.f_r, Py_None);
    sset(f, F.f_x, Py_False);
    SLOT(f, F.f_q) = zero;
    sset(f, F.f_a, Py_None);
    sset(f, F.f_o, Py_None);
    return f;
}

/* Session._batch_size(fn, key) while nothing new is known: the same
 * duration as last time (st[3]); otherwise the Python method answers. */
static Py_ssize_t batch_size(PyObject *sess, PyObject *fn, PyObject *key)
{
    PyObject *dur = PyObject_GetAttr(sess, str_dur);
    PyObject *inproc = dur ? PyObject_GetAttr(sess, str_in_process) : NULL;
    if (!inproc) {
        Py_XDECREF(dur);
        return -1;
    }
    Py_ssize_t k = 0; /* 0: ask Python */
    PyObject *idfn = fn_id(fn);
    PyObject *st = idfn && PyDict_Check(dur) ? PyDict_GetItemWithError(dur, idfn) : NULL;
    if (!idfn || PyErr_Occurred()) {
        k = -1;
    } else if ((inproc == Py_False || inproc == Py_True) && st && PyList_CheckExact(st) &&
               PyList_GET_SIZE(st) == 4) {
        if (inproc == Py_True) {
            /* in process: the runner timed the call (_serialize.SECONDS) */
            PyObject *secs = dget(F.sdict, k_seconds);
            PyObject *d = secs && PyDict_Check(secs) ? dget(secs, key) : NULL;
            if (d)
                PyList_SetItem(st, 0, Py_NewRef(d));
        }
        PyObject *probes = PyList_GET_ITEM(st, 1), *c = PyList_GET_ITEM(st, 3),
                 *d = PyList_GET_ITEM(st, 0);
        PyObject *bmax = dget(F.bdict, k_batch_max),
                 *bsec = dget(F.bdict, k_batch_seconds);
        /* probes whose task has not finished tell nothing yet */
        int fresh = inproc == Py_True ||
                    (PyList_CheckExact(probes) && PyList_GET_SIZE(probes) == 0);
        if (!fresh && PyList_CheckExact(probes)) {
            PyObject *p0 = PyList_GET_ITEM(probes, 0);
            if (PyTuple_CheckExact(p0) && PyTuple_GET_SIZE(p0) == 2) {
                PyObject *dn = PyObject_CallMethodNoArgs(PyTuple_GET_ITEM(p0, 0), str_done);
                fresh = dn == Py_False;
                Py_XDECREF(dn);
                PyErr_Clear(); /* the Python method says what is wrong */
            }
        }
        if (fresh && d != Py_None &&
            PyTuple_CheckExact(c) && PyTuple_GET_SIZE(c) == 4 && PyTuple_GET_ITEM(c, 0) == d &&
            PyTuple_GET_ITEM(c, 1) == bmax && PyTuple_GET_ITEM(c, 2) == bsec &&
            PyLong_CheckExact(PyTuple_GET_ITEM(c, 3))) {
            k = PyLong_AsSsize_t(PyTuple_GET_ITEM(c, 3));
            if (k == -1 && PyErr_Occurred())
                PyErr_Clear(), k = 0;
        }
    }
    Py_XDECREF(idfn);
    Py_DECREF(dur);
    Py_DECREF(inproc);
    if (k != 0)
        return k;
    PyObject *r = PyObject_CallMethodObjArgs(sess, str_batch_size, fn, key, NULL);
    if (!r)
        return -1;
    k = PyLong_AsSsize_t(r);
    Py_DECREF(r);
    if (k == -1 && PyErr_Occurred())
        return -1;
    return k < 1 ? 1 : k;
}

/* call_site(_PKG) (calls._track): calls in a loop come from one frame at
 * one instruction, and the tuple is the same: the last one is kept and
 * handed out again (one object less per task for the garbage collector to
 * scan, and no line number to compute). It holds its code object, so the
 * pointer compared cannot be another code's; a frame at a reused address
 * with the same code and instruction makes an equal tuple. */
static struct {
    PyObject *site;
    void *frame, *code;
    int lasti;
    unsigned tick; /* calls queued (track): the front is looked at every 64th */
} C;

static PyObject *site_now(void)
{
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    PyCodeObject *co = f ? PyFrame_GetCode(f) : NULL;
    int lasti = f ? PyFrame_GetLasti(f) : -1;
    Py_XDECREF(co); /* only compared */
    if (C.site && f && (void *)f == C.frame && (void *)co == C.code && lasti == C.lasti)
        return Py_NewRef(C.site);
    PyObject *site = PyObject_CallOneArg(F.call_site, F.prefix);
    if (site && f && PyTuple_CheckExact(site) && PyTuple_GET_SIZE(site) == 4 &&
        PyLong_CheckExact(PyTuple_GET_ITEM(site, 0)) &&
        PyLong_AsVoidPtr(PyTuple_GET_ITEM(site, 0)) == (void *)f &&
        PyTuple_GET_ITEM(site, 1) == (PyObject *)co) {
        Py_XSETREF(C.site, Py_NewRef(site));
        C.frame = f;
        C.code = co;
        C.lasti = lasti;
    }
    if (site)
        PyErr_Clear(); /* (PyLong_AsVoidPtr of a foreign value) */
    return site;
}

/* calls._track: the call joins the pending queue. Steals fut. */
static PyObject *track(PyObject *fut)
{
    PyObject *site = site_now();
    if (!site)
        goto fail;
    sset(fut, F.f_site, site);
    Py_DECREF(site);
    PyObject *seqn = PyIter_Next(F.seq);
    if (!seqn) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_RuntimeError, "pydron: the call counter ended");
        goto fail;
    }
    sset(F.S, F.s_last_seq, seqn);
    PyObject *item = entry_new(seqn, fut);
    Py_DECREF(seqn);
    if (!item)
        goto fail;
    PyObject *r = PyObject_CallOneArg(F.pending_append, item);
    Py_DECREF(item);
    if (!r)
        goto fail;
    Py_DECREF(r);
    PyObject *pb = PyNumber_Add(SLOT(F.S, F.s_pbytes), SLOT(fut, F.f_n));
    if (!pb)
        goto fail;
    sset(F.S, F.s_pbytes, pb);
    Py_DECREF(pb);
    Py_ssize_t n = PyObject_Size(F.pending);
    if (n < 0)
        goto fail;
    PyObject *wmax = SLOT(F.S, F.s_window);
    Py_ssize_t wm = PyLong_CheckExact(wmax) ? PyLong_AsSsize_t(wmax) : -1;
    int over;
    if (wm >= 0) { /* len(pending) > S.window without an int object */
        over = n > wm;
    } else {
        PyErr_Clear(); /* (not a C size: compared as Python does) */
        PyObject *win = PyLong_FromSsize_t(n);
        if (!win)
            goto fail;
        over = PyObject_RichCompareBool(win, wmax, Py_GT);
        Py_DECREF(win);
    }
    if (over == 0)
        over = PyObject_RichCompareBool(SLOT(F.S, F.s_pbytes), SLOT(F.S, F.s_window_bytes), Py_GT);
    if (over < 0)
        goto fail;
    if (over) {
        r = PyObject_CallNoArgs(F.shrink);
    } else {
        PyObject *front = PySequence_GetItem(F.pending, 0);
        if (!front)
            goto fail;
        PyObject *fseq, *ffut = NULL;
        int due = entry_parts(front, &fseq, &ffut)
                      ? PyObject_RichCompareBool(fseq, SLOT(F.S, F.s_last_lazy), Py_LE)
                      : 1;
        /* Every 64th call, a front that has finished is settled now, while
         * its objects are still in the cache, not when the window is full
         * (thousands of calls later: the queue's oldest objects are cold,
         * and settling them cost a tiny call a fifth more). The one step
         * calls._track does not have: it settles what the window would
         * settle later, the same results either way. */
        if (due == 0 && (++C.tick & 63) == 0 && ffut && Py_IS_TYPE(ffut, F.Future)) {
            PyObject *fr = SLOT(ffut, F.f_r), *fv = SLOT(ffut, F.f_v);
            due = (fr && fr != Py_None) || (fv && pdy_value_done(fv));
        }
        Py_DECREF(front);
        if (due > 0) {
            int batching = PyObject_IsTrue(SLOT(F.S, F.s_batching));
            due = batching < 0 ? -1 : !batching;
        }
        if (due < 0)
            goto fail;
        r = due ? PyObject_CallNoArgs(F.front_poll) : (Py_INCREF(Py_None), Py_None);
    }
    if (!r)
        goto fail;
    Py_DECREF(r);
    return fut;
fail:
    Py_DECREF(fut);
    return NULL;
}

/* _Batch.add's BATCH_M.pack(0, nfut, nd) ("<III"): the calls of a loop
 * mostly pickle to the same length, so the last head is handed out again
 * (bytes do not change) instead of a new object per call. */
static PyObject *batch_head(uint32_t nfut, uint32_t nd)
{
    static PyObject *last;
    static uint32_t last_nd, last_nfut;
    if (last && last_nd == nd && last_nfut == nfut)
        return Py_NewRef(last);
    unsigned char head[12];
    pdy_pack_u32(head, 0);
    pdy_pack_u32(head + 4, nfut);
    pdy_pack_u32(head + 8, nd);
    PyObject *hb = PyBytes_FromStringAndSize((const char *)head, sizeof head);
    if (hb) {
        Py_XSETREF(last, Py_NewRef(hb));
        last_nd = nd;
        last_nfut = nfut;
    }
    return hb;
}

/* A Future argument the fast path passes as a task input, as
 * Session._submit_ent would: its graph value stands for it (its
 * _driver_value() is _NOVALUE without running anything: no deferred
 * operation may hand out part of it, and driver code was never handed it),
 * and it has one, or it is a call still in a batch being filled (its value
 * is taken when the batch this call joins is sent: future_values). Not a
 * placeholder already replaced by its value. */
static int future_arg(PyObject *f)
{
    PyObject *v = SLOT(f, F.f_v);
    if (!v || SLOT(f, F.f_a) != Py_None || SLOT(f, F.f_x) != Py_False)
        return 0;
    if (SLOT(f, F.f_b) == Py_None) {
        /* a task of its own that has not succeeded: Session._submit_ent
         * keeps a call given it out of batches (its failure would fail
         * every call of the batch) */
        PyObject *r = SLOT(f, F.f_r);
        if (!r || !PyTuple_CheckExact(r) || PyTuple_GET_SIZE(r) != 2 ||
            PyTuple_GET_ITEM(r, 0) != Py_True)
            return 0;
    }
    return v != Py_None || Py_IS_TYPE(SLOT(f, F.f_b), F.Batch);
}

/* The inputs of the Futures in futs for the batch b this call joins (as
 * _Batch.add's inputs), in a new list: the graph value of each, or the
 * Future itself when it is a call in another batch of this session being
 * filled that waits for no batch (it cannot wait for b: no cycle), as Session._submit_ent
 * decides. Py_None (a new reference) for anything else (a value of another
 * graph, a call in b, a batch that waits: the Python path decides); NULL
 * on error. */
static PyObject *future_values(PyObject *sess, PyObject *futs, PyObject *b)
{
    PyObject *g = PyObject_GetAttr(sess, str_graph);
    if (!g)
        return NULL;
    Py_ssize_t n = PyList_GET_SIZE(futs);
    PyObject *vals = PyList_New(n);
    for (Py_ssize_t i = 0; vals && i < n; i++) {
        PyObject *f = PyList_GET_ITEM(futs, i), *v = SLOT(f, F.f_v);
        if (v == Py_None) {
            PyObject *fb = SLOT(f, F.f_b), *w = SLOT(fb, F.b_waits);
            if (fb == b || SLOT(fb, F.b_s) != sess || !w || !PyTuple_CheckExact(w) ||
                PyTuple_GET_SIZE(w) != 0) {
                Py_SETREF(vals, Py_NewRef(Py_None));
                break;
            }
            PyList_SET_ITEM(vals, i, Py_NewRef(f));
            continue;
        }
        PyObject *vg = PyObject_GetAttr(v, str_graph_attr);
        if (!vg) {
            Py_CLEAR(vals);
            break;
        }
        Py_DECREF(vg);
        if (vg != g) {
            Py_SETREF(vals, Py_NewRef(Py_None));
            break;
        }
        PyList_SET_ITEM(vals, i, Py_NewRef(v));
    }
    Py_DECREF(g);
    return vals;
}

/* b.waits gains the batches of the Futures among inputs (_Batch.add). */
static int batch_waits_add(PyObject *b, PyObject *inputs)
{
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inputs); i++) {
        PyObject *x = PyList_GET_ITEM(inputs, i);
        if (!Py_IS_TYPE(x, F.Future))
            continue;
        PyObject *fb = SLOT(x, F.f_b), *w = SLOT(b, F.b_waits);
        if (!w || !PyTuple_CheckExact(w))
            return -1;
        int in = 0;
        for (Py_ssize_t k = 0; k < PyTuple_GET_SIZE(w) && !in; k++)
            in = PyTuple_GET_ITEM(w, k) == fb;
        if (in)
            continue;
        PyObject *one = PyTuple_Pack(1, fb), *nw = one ? PySequence_Concat(w, one) : NULL;
        Py_XDECREF(one);
        if (!nw)
            return -1;
        sset(b, F.b_waits, nw);
        Py_DECREF(nw);
    }
    return 0;
}

/* Session.submit and calls._submit for a plain call (see the top); nfut:
 * how many of the arguments are Futures (future_arg); kwargs NULL or a dict
 * of plain keyword arguments. */
static PyObject *submit(PyObject *sess, PyObject *fn, PyObject *const *args, Py_ssize_t nargs,
                        Py_ssize_t nfut, PyObject *kwargs)
{
    /* kw: the keyword arguments (a dict of plain values), else the empty
     * kwargs, made only for the Python pickler or path */
    PyObject *argt = PyTuple_New(nargs), *kw = Py_XNewRef(kwargs);
    PyObject *ent = NULL, *data = NULL, *b = NULL, *fut = NULL, *kobj = NULL, *res = NULL;
    PyObject *futs = NULL, *fvals = NULL;
    PyObject *prev = SLOT(F.S, F.s_in_backend); /* Py_False: checked by on_driver */
    Py_ssize_t k, nd;
    if (!argt)
        goto out;
    for (Py_ssize_t i = 0; i < nargs; i++) {
        Py_INCREF(args[i]);
        PyTuple_SET_ITEM(argt, i, args[i]);
    }
    sset(F.S, F.s_in_backend, Py_True);
    ent = fn_entry(sess, fn);
    if (!ent)
        goto restore;
    if (!PyTuple_CheckExact(ent) || PyTuple_GET_SIZE(ent) < 3)
        goto rest; /* the Python path says what is wrong */
    k = batch_size(sess, fn, PyTuple_GET_ITEM(ent, 0));
    if (k < 0)
        goto restore;
    kobj = PyLong_FromSsize_t(k);
    if (!kobj)
        goto restore;
    /* one call per task: the Python path */
    if (k <= 1)
        goto rest;
    /* the batch of this function being filled (Session._opens); none, or
     * one of an older version of it: the Python path sends and opens */
    PyObject *opens = PyObject_GetAttr(sess, str_opens);
    if (!opens)
        goto restore;
    b = PyDict_CheckExact(opens) ? PyDict_GetItemWithError(opens, PyTuple_GET_ITEM(ent, 0))
                                 : NULL;
    Py_XINCREF(b);
    Py_DECREF(opens);
    if (!b) {
        if (PyErr_Occurred())
            goto restore;
        goto rest;
    }
    if (!Py_IS_TYPE(b, F.Batch) || SLOT(b, F.b_ent) != ent)
        goto rest;
    if (nfut) {
        /* Futures: the pickle with their persistent ids, their values as
         * the call's inputs (anything else: the Python path) */
        if (!(futs = PyList_New(0)))
            goto restore;
        data = pdy_dumps_call(argt, kw, F.Future, futs);
        if (!data)
            goto rest_or_error;
        fvals = future_values(sess, futs, b);
        if (!fvals)
            goto restore;
        if (fvals == Py_None)
            goto rest;
    } else {
        data = pdy_dumps_call(argt, kw, NULL, NULL);
    }
    if (!data) {
        if (PyErr_Occurred() || (!kw && !(kw = PyDict_New())))
            goto restore;
        PyObject *pair = PyTuple_Pack(2, argt, kw);
        if (!pair)
            goto restore;
        PyObject *dargs[] = {pair, int_five};
        data = PyObject_Vectorcall(F.dumps, dargs, 2, NULL);
        Py_DECREF(pair);
        if (!data)
            goto restore;
    }
    if (!PyBytes_CheckExact(data))
        goto rest;
    nd = PyBytes_GET_SIZE(data);
    /* "__main__" in the pickle (a str argument holding it): the Python path
     * decides */
    if (nd > (Py_ssize_t)UINT32_MAX ||
        memmem(PyBytes_AS_STRING(data), (size_t)nd, "__main__", 8))
        goto rest;
    PyObject *bfuts = SLOT(b, F.b_futs), *heads = SLOT(b, F.b_heads),
             *datas = SLOT(b, F.b_datas), *binputs = SLOT(b, F.b_inputs);
    if (!bfuts || !heads || !datas || !PyList_CheckExact(bfuts) || !PyList_CheckExact(heads) ||
        !PyList_CheckExact(datas) || (fvals && (!binputs || !PyList_CheckExact(binputs))))
        goto rest;
    Py_ssize_t rb = result_bytes(fn);
    if (rb < 0)
        goto restore;
    fut = new_future(fn, b, nd + rb);
    if (!fut)
        goto restore;
    if (fvals && batch_waits_add(b, fvals) < 0)
        goto restore;
    PyObject *hb = batch_head(fvals ? (uint32_t)PyList_GET_SIZE(fvals) : 0, (uint32_t)nd);
    if (!hb)
        goto restore;
    int err = PyList_Append(bfuts, fut) < 0 || PyList_Append(heads, hb) < 0 ||
              PyList_Append(datas, data) < 0 ||
              (fvals && PyList_SetSlice(binputs, PY_SSIZE_T_MAX, PY_SSIZE_T_MAX, fvals) < 0);
    Py_DECREF(hb);
    if (err)
        goto restore;
    if (PyList_GET_SIZE(bfuts) >= k) {
        PyObject *r = PyObject_CallMethodNoArgs(b, str_flush);
        if (!r)
            goto restore;
        Py_DECREF(r);
    }
    sset(F.S, F.s_in_backend, prev);
    N.calls++;
    res = track(fut);
    fut = NULL;
    goto out;
rest_or_error:
    if (PyErr_Occurred())
        goto restore;
rest:
    sset(F.S, F.s_in_backend, prev);
    N.rest++;
    if (!kw && !(kw = PyDict_New()))
        goto out;
    {
        PyObject *rargs[] = {fn, ent, kobj ? kobj : Py_None, argt, kw};
        res = PyObject_Vectorcall(F.submit_rest, rargs, 5, NULL);
    }
    goto out;
restore:
    sset(F.S, F.s_in_backend, prev);
out:
    Py_XDECREF(futs);
    Py_XDECREF(fvals);
    Py_XDECREF(argt);
    Py_XDECREF(kw);
    Py_XDECREF(ent);
    Py_XDECREF(kobj);
    Py_XDECREF(data);
    Py_XDECREF(b);
    Py_XDECREF(fut);
    return res;
}

/* bind_batch(futs, vals, member): _Batch.flush's loop over the calls it
 * sent (for f, v in zip(futs, vals): f._v = v; f._b = member), once per
 * call of a batch of hundreds. Futures of the type fast_setup saw take the
 * slots directly; anything else goes through setattr, as in Python. */
static PyObject *fc_bind_batch(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "bind_batch(futs, vals, member)");
        return NULL;
    }
    PyObject *futs = PySequence_Fast(args[0], "bind_batch: futs must be a sequence");
    PyObject *vals = futs ? PySequence_Fast(args[1], "bind_batch: vals must be a sequence")
                          : NULL;
    if (!vals) {
        Py_XDECREF(futs);
        return NULL;
    }
    PyObject *member = args[2];
    Py_ssize_t n = PySequence_Fast_GET_SIZE(futs);
    if (PySequence_Fast_GET_SIZE(vals) < n)
        n = PySequence_Fast_GET_SIZE(vals); /* as zip */
    int err = 0;
    for (Py_ssize_t i = 0; i < n && !err; i++) {
        PyObject *f = PySequence_Fast_GET_ITEM(futs, i), *v = PySequence_Fast_GET_ITEM(vals, i);
        if (F.Future && Py_IS_TYPE(f, F.Future)) {
            sset(f, F.f_v, v);
            sset(f, F.f_b, member);
        } else {
            err = PyObject_SetAttr(f, str_v, v) < 0 || PyObject_SetAttr(f, str_b, member) < 0;
        }
    }
    Py_DECREF(futs);
    Py_DECREF(vals);
    if (err)
        return NULL;
    Py_RETURN_NONE;
}

/* 1 if fast_setup ran, else 0 with RuntimeError naming the entry point */
static int is_ready(const char *entry)
{
    if (!F.ready)
        PyErr_Format(PyExc_RuntimeError, "pydron._core.%s before fast_setup", entry);
    return F.ready;
}

/* call(f, *args, **kwargs): calls.call, the plain @functional case in C. */
static PyObject *fc_call(PyObject *m, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!is_ready("call"))
        return NULL;
    if (nargs < 1 || !on_driver())
        goto slow;
    PyObject *f = args[0];
    if (!Py_IS_TYPE(f, &PyFunction_Type))
        goto slow;
    PyObject *fd = ((PyFunctionObject *)f)->func_dict;
    if (!fd)
        goto slow;
    PyObject *kind = PyDict_GetItemWithError(fd, str_kind);
    if (!kind) {
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    if (!PyUnicode_CheckExact(kind) || PyUnicode_Compare(kind, str_functional) != 0)
        goto slow;
    int budget = PLAIN_BUDGET;
    Py_ssize_t other = 0; /* arguments that are not plain: Futures? */
    for (Py_ssize_t i = 1; i < nargs; i++)
        if (!plain(args[i], 0, &budget)) {
            if (nargs > PDY_MAX_ARGS + 1)
                goto slow; /* pdy_dumps_call's limit */
            other++;
        }
    int rc = backend_sync();
    if (rc < 0)
        return NULL;
    if (rc == 0)
        goto slow;
    /* the arguments that are not plain must all be Futures it can pass */
    Py_ssize_t nfut = 0;
    for (Py_ssize_t i = 1; nfut < other && i < nargs; i++) {
        if (!Py_IS_TYPE(args[i], F.Future))
            continue;
        if (!future_arg(args[i]))
            goto slow;
        nfut++;
    }
    if (nfut != other)
        goto slow;
    /* keyword arguments: plain values, and not out= (calls.call tells the
     * state tracker first: np.add(a, b, out=c)) */
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0;
    for (Py_ssize_t i = 0; i < nkw; i++) {
        PyObject *name = PyTuple_GET_ITEM(kwnames, i);
        if (PyUnicode_Compare(name, str_out) == 0 || !plain(args[nargs + i], 0, &budget))
            goto slow;
    }
    PyObject *fn = PyDict_GetItemWithError(fd, str_functional_attr);
    if (!fn) {
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    PyObject *sess = PyDict_GetItemWithError(F.bdict, str_session);
    if (!sess || sess == Py_None) { /* not started: session() starts it */
        if (PyErr_Occurred())
            return NULL;
        goto slow;
    }
    Py_INCREF(sess);
    Py_INCREF(fn);
    PyObject *closed = PyObject_GetAttr(sess, str_closed);
    PyObject *check = closed ? PyObject_GetAttr(sess, str_check) : NULL;
    PyObject *res = NULL;
    int go = check && closed == Py_False && PyLong_CheckExact(check) && PyLong_AsLong(check) == 0;
    PyObject *kw = NULL;
    if (check && go && nkw) {
        kw = PyDict_New();
        for (Py_ssize_t i = 0; kw && i < nkw; i++)
            if (PyDict_SetItem(kw, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]) < 0)
                Py_CLEAR(kw);
        go = kw != NULL;
    }
    if (check && go)
        res = submit(sess, fn, args + 1, nargs - 1, nfut, kw);
    Py_XDECREF(kw);
    Py_XDECREF(closed);
    Py_XDECREF(check);
    Py_DECREF(sess);
    Py_DECREF(fn);
    if (res || PyErr_Occurred() || !check)
        return res;
slow:
    N.handed++;
    return PyObject_Vectorcall(F.py_call, args, nargsf, kwnames);
}

/* The lst.pop of the newest undo entry when it is this list's (appends in
 * a loop: one bound method for all their entries instead of one each; the
 * entries hold it, nothing else does). New reference or NULL. */
static PyObject *last_pop(PyObject *lst)
{
    Py_ssize_t n = PyObject_Size(F.undo);
    if (n <= 0) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *e = PySequence_GetItem(F.undo, n - 1);
    if (!e) {
        PyErr_Clear();
        return NULL;
    }
    PyObject *m = PyTuple_CheckExact(e) && PyTuple_GET_SIZE(e) == 2 ? PyTuple_GET_ITEM(e, 1) : NULL;
    PyObject *r = NULL;
    if (m && PyCFunction_CheckExact(m) && PyCFunction_GET_SELF(m) == lst &&
        strcmp(((PyCFunctionObject *)m)->m_ml->ml_name, "pop") == 0)
        r = Py_NewRef(m);
    Py_DECREF(e);
    return r;
}

/* mcall(obj, name, *args, **kwargs): calls.mcall; lst.append(v) of a Future
 * or a scalar in C (stores._list_append). */
/* mod.name(*args, **kw) for a module mod: calls.mcall's last line,
 * call(_getattr(mod, name), ...), with fc_call (a module's attribute runs
 * no barrier there): a @functional reached through its module (import
 * mylib; mylib.calibrate(img)) takes the fast path as calibrate(img) does. */
static PyObject *module_call(PyObject *m, PyObject *const *args, Py_ssize_t nargs,
                             PyObject *kwnames)
{
    PyObject *f = PyObject_GetAttr(args[0], args[1]);
    if (!f)
        return NULL;
    Py_ssize_t nkw = kwnames ? PyTuple_GET_SIZE(kwnames) : 0, total = nargs - 1 + nkw;
    PyObject *stack[8], **a = total <= 8 ? stack : PyMem_Malloc((size_t)total * sizeof *a);
    PyObject *r = NULL;
    if (a) {
        a[0] = f;
        memcpy(a + 1, args + 2, (size_t)(total - 1) * sizeof *a);
        r = fc_call(m, a, (size_t)(nargs - 1), kwnames);
        if (a != stack)
            PyMem_Free(a);
    } else {
        PyErr_NoMemory();
    }
    Py_DECREF(f);
    return r;
}

static PyObject *fc_mcall(PyObject *m, PyObject *const *args, size_t nargsf, PyObject *kwnames)
{
    Py_ssize_t nargs = PyVectorcall_NARGS(nargsf);
    if (!is_ready("mcall"))
        return NULL;
    if (nargs >= 2 && PyModule_CheckExact(args[0]) && PyUnicode_CheckExact(args[1]))
        return module_call(m, args, nargs, kwnames);
    if (kwnames || nargs != 3 || !PyList_CheckExact(args[0]) || !PyUnicode_CheckExact(args[1]))
        goto slow;
    if (args[1] != str_append && PyUnicode_Compare(args[1], str_append) != 0)
        goto slow;
    if (!on_driver())
        goto slow;
    PyObject *lst = args[0], *v = args[2];
    int isfut = F.Future && Py_IS_TYPE(v, F.Future) && SLOT(F.S, F.s_backend) == F.backend;
    if (!isfut && !is_scalar(v))
        goto slow;
    Py_ssize_t np = PyObject_Size(F.pending);
    if (np < 0)
        return NULL;
    if (np) { /* barriers._log(lst.pop) */
        PyObject *pop = last_pop(lst);
        if (!pop && !PyErr_Occurred())
            pop = PyObject_GetAttr(lst, str_pop);
        PyObject *item = pop ? PyTuple_Pack(2, SLOT(F.S, F.s_last_seq), pop) : NULL;
        Py_XDECREF(pop);
        if (item) /* only the undo log holds it: no cycle (as in track) */
            PyObject_GC_UnTrack(item);
        PyObject *r = item ? PyObject_CallOneArg(F.undo_append, item) : NULL;
        Py_XDECREF(item);
        if (!r)
            return NULL;
        Py_DECREF(r);
    }
    N.appends++;
    if (!isfut) {
        if (PyList_Append(lst, v) < 0)
            return NULL;
        Py_RETURN_NONE;
    }
    /* the value replaces it there once it has finished (settle_ready) */
    /* id(lst): appends in a loop are to one list, so the int made for the
     * last one is handed out again (its value is the address either way) */
    static PyObject *last_lid;
    static void *last_lst;
    PyObject *lid;
    if (last_lid && last_lst == (void *)lst) {
        lid = Py_NewRef(last_lid);
    } else if ((lid = PyLong_FromVoidPtr(lst))) {
        Py_XSETREF(last_lid, Py_NewRef(lid));
        last_lst = lst;
    }
    PyObject *idx = lid ? PyLong_FromSsize_t(PyList_GET_SIZE(lst)) : NULL;
    PyObject *at = idx ? PyTuple_Pack(2, lid, idx) : NULL;
    Py_XDECREF(idx);
    if (!at) {
        Py_XDECREF(lid);
        return NULL;
    }
    PyObject_GC_UnTrack(at); /* two ints: no cycle; the collector need not scan it */
    sset(v, F.f_l, at);
    Py_DECREF(at);
    int err = PyList_Append(lst, v) < 0 || put_if_changed(F.tainted, lid, lst, 0) < 0;
    Py_DECREF(lid);
    if (err)
        return NULL;
    Py_RETURN_NONE;
slow:
    return PyObject_Vectorcall(F.py_mcall, args, nargsf, kwnames);
}

/* ---- results ------------------------------------------------------------ */

/* _backend._immutable(v): 1, 0, or -1 with an exception. */
static int immutable(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    if (is_scalar(v) || t == &PyRange_Type || v == Py_Ellipsis)
        return 1;
    if (t != &PyTuple_Type && t != &PyFrozenSet_Type)
        return 0;
    PyObject *r = PyObject_CallOneArg(F.immutable, v);
    if (!r)
        return -1;
    int ok = PyObject_IsTrue(r);
    Py_DECREF(r);
    return ok;
}

/* _backend.category(v) */
static PyObject *category(PyObject *v)
{
    PyTypeObject *t = Py_TYPE(v);
    if (t == &PyLong_Type || t == &PyFloat_Type || t == &PyBool_Type || t == &PyComplex_Type)
        return Py_NewRef(str_num);
    if (t == &PyUnicode_Type || t == &PyBytes_Type)
        return Py_NewRef(str_str);
    if (v == Py_None)
        return Py_NewRef(str_none);
    return PyObject_CallOneArg(F.category, v);
}

/* Future._decoded(val, v) for a plain value: returns 1 recorded, 0 not
 * taken here, -1 error. */
static int record(PyObject *fut, PyObject *val, PyObject *v, PyObject *size)
{
    PyObject *r = PyTuple_Pack(2, Py_True, v);
    if (!r)
        return -1;
    if (is_scalar(v))
        PyObject_GC_UnTrack(r); /* no cycle through it: as the collector would */
    sset(fut, F.f_r, r);
    Py_DECREF(r);
    PyObject *fn = SLOT(fut, F.f_fn);
    PyObject *rb = dget(F.bdict, k_result_bytes);
    PyObject *rc = dget(F.bdict, k_result_cats);
    if (!fn || !rb || !rc || !PyDict_Check(rb) || !PyDict_Check(rc)) {
        PyErr_SetString(PyExc_RuntimeError, "pydron fast path: RESULT_BYTES/CATS missing");
        return -1;
    }
    if (put_if_changed(rb, fn, size, 4096) < 0) {
        if (!PyErr_ExceptionMatches(PyExc_TypeError))
            return -1;
        PyErr_Clear();
    }
    PyObject *c = category(v);
    if (!c)
        return -1;
    int err = put_if_changed(rc, fn, c, 4096);
    Py_DECREF(c);
    return err < 0 ? -1 : 1;
}

/* _poll's last step: undo entries older than the oldest pending call can
 * no longer be needed (a failure rolls back only what came after the
 * failed call), so they go; all of them when nothing is pending. One entry
 * per append in a loop of calls: this loop ran in Python before. */
static int trim_undo(void)
{
    Py_ssize_t np = PyObject_Size(F.pending);
    if (np < 0)
        return -1;
    PyObject *oldest = NULL;
    if (np) {
        PyObject *front = PySequence_GetItem(F.pending, 0);
        if (!front)
            return -1;
        PyObject *fseq, *ffut;
        if (entry_parts(front, &fseq, &ffut))
            oldest = Py_NewRef(fseq);
        Py_DECREF(front);
        if (!oldest)
            return 0; /* not ours to judge: _poll's loop does it */
    }
    int rc = 0;
    for (;;) {
        Py_ssize_t nu = PyObject_Size(F.undo);
        if (nu <= 0) {
            rc = nu < 0 ? -1 : 0;
            break;
        }
        PyObject *e = PySequence_GetItem(F.undo, 0);
        if (!e) {
            rc = -1;
            break;
        }
        int older = 1;
        if (oldest)
            older = PyTuple_CheckExact(e) && PyTuple_GET_SIZE(e) == 2
                        ? PyObject_RichCompareBool(PyTuple_GET_ITEM(e, 0), oldest, Py_LT)
                        : 0;
        Py_DECREF(e);
        if (older <= 0) {
            rc = older;
            break;
        }
        PyObject *x = PyObject_CallNoArgs(F.undo_popleft);
        if (!x) {
            rc = -1;
            break;
        }
        Py_DECREF(x);
    }
    Py_XDECREF(oldest);
    return rc;
}

/* fut._r is None: decode its finished value as Future.exception() ->
 * _wait() would. 1 ok (fut._r set, a success), 0 leave it to Python, -1
 * error. */
static int decode(PyObject *fut)
{
    PyObject *b = SLOT(fut, F.f_b), *val = SLOT(fut, F.f_v);
    if (!b || !val || val == Py_None || (b != F.member && b != Py_None))
        return 0;
    PyObject *mv = NULL, *size;
    const void *here = NULL; /* the bytes, when on the driver already */
    size_t len = 0;
    if (pdy_value_peek(val, &here, &len)) {
        /* ready, bytes here: what state(), size() and the buffer say, in
         * one graph lock and without dropping the GIL */
        size = PyLong_FromSize_t(len);
        if (!size)
            return -1;
    } else {
        PyObject *st = PyObject_CallMethodNoArgs(val, str_state);
        if (!st)
            return -1;
        long s = PyLong_AsLong(st);
        Py_DECREF(st);
        if (s == -1 && PyErr_Occurred())
            return -1;
        if (s != PYDRON_VALUE_READY)
            return 0;
        size = PyObject_CallMethodNoArgs(val, str_size);
        if (!size) {
            PyErr_Clear(); /* Python's path handles it (and says why) */
            return 0;
        }
    }
    Py_ssize_t n = PyLong_AsSsize_t(size);
    PyObject *inl = dget(F.bdict, k_inline_max);
    Py_ssize_t inline_max = inl ? PyLong_AsSsize_t(inl) : -1;
    if (n <= 0 || inline_max < 0 || (b == Py_None && n > inline_max)) {
        PyErr_Clear();
        Py_DECREF(size);
        return 0; /* stays on its worker: _ok_in_place */
    }
    if (!here) {
        mv = PyMemoryView_FromObject(val);
        if (!mv) {
            Py_DECREF(size);
            return -1;
        }
        here = PyMemoryView_GET_BUFFER(mv)->buf;
        len = (size_t)PyMemoryView_GET_BUFFER(mv)->len;
    }
    const char *p = here;
    if (!len || p[len - 1] != '.' ||
        (len > 32 && (memmem(p, len, "cloudpickle", 11) || memmem(p, len, "_frombuffer", 11)))) {
        Py_XDECREF(mv);
        Py_DECREF(size);
        return 0; /* out-of-band buffers or the driver's unpickler */
    }
    PyObject *prev = SLOT(F.S, F.s_in_backend);
    Py_INCREF(prev);
    sset(F.S, F.s_in_backend, Py_True);
    PyObject *v = pdy_loads_scalar((const unsigned char *)p, len);
    if (!v && !PyErr_Occurred()) {
        if (!mv) /* pickle.loads takes an object: the Value's own buffer */
            mv = PyMemoryView_FromObject(val);
        v = mv ? PyObject_CallOneArg(F.loads, mv) : NULL;
    }
    Py_XDECREF(mv);
    int ok = v ? 1 : -1;
    if (v && Py_IS_TYPE(v, F.Logged)) {
        PyObject *uargs[] = {v, Py_True, fut};
        Py_SETREF(v, PyObject_Vectorcall(F.unwrap, uargs, 3, NULL));
        ok = v ? 1 : -1;
    }
    if (v && Py_IS_TYPE(v, F.MemberFailed)) {
        /* this call of the batch raised: Future._decoded records it */
        PyObject *r = PyObject_CallMethodObjArgs(fut, str_decoded, val, v, NULL);
        Py_XDECREF(r);
        ok = r ? 0 : -1;
    } else if (v) {
        ok = record(fut, val, v, size);
    }
    sset(F.S, F.s_in_backend, prev);
    Py_DECREF(prev);
    Py_XDECREF(v);
    Py_DECREF(size);
    return ok;
}

/* barriers._settle_place */
static int settle_place(PyObject *fut)
{
    PyObject *l = SLOT(fut, F.f_l);
    if (!l || l == Py_None)
        return 0;
    Py_INCREF(l);
    sset(fut, F.f_l, Py_None);
    int rc = 0;
    PyObject *r = SLOT(fut, F.f_r);
    if (PyTuple_CheckExact(l) && PyTuple_GET_SIZE(l) == 2 && r && PyTuple_CheckExact(r) &&
        PyTuple_GET_SIZE(r) == 2 && PyTuple_GET_ITEM(r, 0) == Py_True) {
        PyObject *lst = PyDict_GetItemWithError(F.tainted, PyTuple_GET_ITEM(l, 0));
        Py_ssize_t i = PyLong_AsSsize_t(PyTuple_GET_ITEM(l, 1));
        if (PyErr_Occurred()) {
            rc = -1;
        } else if (lst && PyList_CheckExact(lst) && i >= 0 && i < PyList_GET_SIZE(lst) &&
                   PyList_GET_ITEM(lst, i) == fut) {
            PyObject *v = PyTuple_GET_ITEM(r, 1);
            int imm = immutable(v);
            if (imm < 0)
                rc = -1;
            else if (imm && PyList_SetItem(lst, i, Py_NewRef(v)) < 0)
                rc = -1;
        }
    }
    Py_DECREF(l);
    return rc;
}

/* settle_ready's loop: 0, or -1 with an exception set */
static int settle_front(int pl)
{
    for (;;) {
        Py_ssize_t n = PyObject_Size(F.pending);
        if (n <= 0)
            break;
        PyObject *item = PySequence_GetItem(F.pending, 0);
        if (!item)
            return -1;
        PyObject *iseq = NULL, *fut = NULL;
        (void)entry_parts(item, &iseq, &fut); /* (fut stays NULL if neither) */
        if (!fut || !Py_IS_TYPE(fut, F.Future)) {
            Py_DECREF(item);
            break;
        }
        PyObject *h = SLOT(F.S, F.s_horizon);
        if (h && h != Py_None) {
            /* beyond the step any/all reads (S.horizon): not yet */
            int beyond = PyObject_RichCompareBool(iseq, h, Py_GT);
            if (beyond != 0) {
                Py_DECREF(item);
                if (beyond < 0)
                    return -1;
                break;
            }
        }
        PyObject *o = SLOT(fut, F.f_o);
        if (o && o != Py_None) {
            /* output held until its turn (_serialize._hand_on): _poll hands it on */
            Py_DECREF(item);
            break;
        }
        PyObject *r = SLOT(fut, F.f_r);
        int ok;
        if (r && r != Py_None)
            ok = PyTuple_CheckExact(r) && PyTuple_GET_SIZE(r) == 2 &&
                 PyTuple_GET_ITEM(r, 0) == Py_True;
        else
            ok = decode(fut);
        if (ok > 0 && pl)
            ok = settle_place(fut) < 0 ? -1 : 1;
        if (ok > 0) {
            PyObject *pb = PyNumber_Subtract(SLOT(F.S, F.s_pbytes), SLOT(fut, F.f_n));
            if (pb) {
                sset(F.S, F.s_pbytes, pb);
                Py_DECREF(pb);
                PyObject *x = PyObject_CallNoArgs(F.pending_popleft);
                Py_XDECREF(x);
                ok = x ? 1 : -1;
                N.settled++;
            } else {
                ok = -1;
            }
        }
        Py_DECREF(item);
        if (ok < 0)
            return -1;
        if (ok == 0)
            break;
    }
    return 0;
}

/* settle_ready(place): the front of the pending queue while it holds
 * Futures that finished well, as barriers._poll (place=True: with
 * _settle_place) and barriers._barrier (False) take them, without waiting.
 * Stops at the first one it does not take (a deferred operation, one not
 * finished, a failure, a value that needs the Python decoder). */
static PyObject *fc_settle_ready(PyObject *m, PyObject *place)
{
    if (!F.ready || backend_sync() <= 0) {
        if (PyErr_Occurred())
            return NULL;
        Py_RETURN_NONE;
    }
    int pl = PyObject_IsTrue(place);
    if (pl < 0)
        return NULL;
    PyObject *d = SLOT(F.S, F.s_driver);
    unsigned long id = d && PyLong_CheckExact(d) ? PyLong_AsUnsignedLong(d) : 0;
    if (PyErr_Occurred())
        return NULL;
    if (id != PyThread_get_thread_ident())
        Py_RETURN_NONE; /* not the driver's queue to take: Python's loop does */
    /* the Values of the results settled here give their graph references
     * back in groups, not one graph lock each */
    pdy_release_defer(1);
    int rc = settle_front(pl);
    if (rc == 0)
        rc = trim_undo();
    pdy_release_defer(0);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

/* ---- setup ---------------------------------------------------------------- */

static PyObject *fc_setup(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"S", "pending", "undo", "tainted", "seq", "call", "mcall",
                             "submit_rest", "shrink", "front_poll", "prefix", NULL};
    PyObject *S, *pending, *undo, *tainted, *seq, *call, *mcall, *rest, *shrink, *fpoll, *prefix;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "OOOO!OOOOOOU", kwlist, &S, &pending, &undo,
                                     &PyDict_Type, &tainted, &seq, &call, &mcall, &rest, &shrink,
                                     &fpoll, &prefix))
        return NULL;
    PyObject *tp = (PyObject *)Py_TYPE(S);
    if (slot_offset(tp, "driver", &F.s_driver) < 0 ||
        slot_offset(tp, "in_backend", &F.s_in_backend) < 0 ||
        slot_offset(tp, "last_seq", &F.s_last_seq) < 0 ||
        slot_offset(tp, "last_lazy", &F.s_last_lazy) < 0 ||
        slot_offset(tp, "window", &F.s_window) < 0 ||
        slot_offset(tp, "window_bytes", &F.s_window_bytes) < 0 ||
        slot_offset(tp, "pbytes", &F.s_pbytes) < 0 ||
        slot_offset(tp, "batching", &F.s_batching) < 0 ||
        slot_offset(tp, "backend", &F.s_backend) < 0 ||
        slot_offset(tp, "horizon", &F.s_horizon) < 0)
        return NULL;
    PyObject *pa = PyObject_GetAttrString(pending, "append");
    PyObject *pp = pa ? PyObject_GetAttrString(pending, "popleft") : NULL;
    PyObject *ua = pp ? PyObject_GetAttrString(undo, "append") : NULL;
    PyObject *up = ua ? PyObject_GetAttrString(undo, "popleft") : NULL;
    PyObject *pickle = up ? PyImport_ImportModule("pickle") : NULL;
    PyObject *dumps = pickle ? PyObject_GetAttrString(pickle, "dumps") : NULL;
    PyObject *loads = dumps ? PyObject_GetAttrString(pickle, "loads") : NULL;
    PyObject *site = loads ? PyObject_GetAttrString(m, "call_site") : NULL;
    Py_XDECREF(pickle);
    if (!site) {
        Py_XDECREF(pa);
        Py_XDECREF(pp);
        Py_XDECREF(ua);
        Py_XDECREF(up);
        Py_XDECREF(dumps);
        Py_XDECREF(loads);
        return NULL;
    }
    Py_XSETREF(F.S, Py_NewRef(S));
    Py_XSETREF(F.pending, Py_NewRef(pending));
    Py_XSETREF(F.pending_append, pa);
    Py_XSETREF(F.pending_popleft, pp);
    Py_XSETREF(F.undo, Py_NewRef(undo));
    Py_XSETREF(F.undo_append, ua);
    Py_XSETREF(F.undo_popleft, up);
    Py_XSETREF(F.tainted, Py_NewRef(tainted));
    Py_XSETREF(F.seq, Py_NewRef(seq));
    Py_XSETREF(F.py_call, Py_NewRef(call));
    Py_XSETREF(F.py_mcall, Py_NewRef(mcall));
    Py_XSETREF(F.submit_rest, Py_NewRef(rest));
    Py_XSETREF(F.shrink, Py_NewRef(shrink));
    Py_XSETREF(F.front_poll, Py_NewRef(fpoll));
    Py_XSETREF(F.prefix, Py_NewRef(prefix));
    Py_XSETREF(F.call_site, site);
    Py_XSETREF(F.dumps, dumps);
    Py_XSETREF(F.loads, loads);
    Py_CLEAR(F.backend); /* taken again from S.backend */
    F.ready = 1;
    Py_RETURN_NONE;
}

/* _pending_entry(seq, obj): an Entry as track() makes one (for tests of
 * the entry itself). */
static PyObject *fc_pending_entry(PyObject *m, PyObject *const *args, Py_ssize_t nargs)
{
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "_pending_entry(seq, obj)");
        return NULL;
    }
    return entry_new(args[0], args[1]);
}

static PyObject *fc_counts(PyObject *m, PyObject *unused)
{
    return Py_BuildValue("{sKsKsKsKsK}", "calls", N.calls, "handed_back", N.handed, "rest",
                         N.rest, "appends", N.appends, "settled", N.settled);
}

static PyMethodDef fastcall_methods[] = {
    {"fast_counts", fc_counts, METH_NOARGS,
     "fast_counts() -> {calls, handed_back, rest, appends, settled}: what the fast path "
     "took in this process (calls: submitted in C; handed_back: to calls.call at once; "
     "rest: to calls._submit_rest after the function's version was known)."},
    {"fast_setup", (PyCFunction)(void (*)(void))fc_setup, METH_VARARGS | METH_KEYWORDS,
     "fast_setup(S, pending, undo, tainted, seq, call, mcall, submit_rest, shrink, front_poll, "
     "prefix): the driver state and the Python functions the fast path falls back to."},
    {"call", (PyCFunction)(void (*)(void))fc_call, METH_FASTCALL | METH_KEYWORDS,
     "call(f, *args, **kwargs): pydron._runtime.calls.call, a plain @functional call in C."},
    {"mcall", (PyCFunction)(void (*)(void))fc_mcall, METH_FASTCALL | METH_KEYWORDS,
     "mcall(obj, name, *args, **kwargs): pydron._runtime.calls.mcall, list.append in C."},
    {"bind_batch", (PyCFunction)(void (*)(void))fc_bind_batch, METH_FASTCALL,
     "bind_batch(futs, vals, member): f._v = v and f._b = member for each pair (_Batch.flush)."},
    {"_pending_entry", (PyCFunction)(void (*)(void))fc_pending_entry, METH_FASTCALL,
     "_pending_entry(seq, obj): a pending-queue entry as the fast path makes one (obj not "
     "tracked by the garbage collector while the entry lives; for tests)."},
    {"settle_ready", fc_settle_ready, METH_O,
     "settle_ready(place): take the finished front of the pending queue (barriers._poll)."},
    {NULL}};

int pdy_fastcall_init(PyObject *m)
{
    struct {
        PyObject **s;
        const char *text;
    } strs[] = {
        {&str_kind, "__pydron_kind__"},
        {&str_functional_attr, "__pydron_functional__"},
        {&str_functional, "functional"},
        {&str_append, "append"},
        {&str_session, "_session"},
        {&str_closed, "_closed"},
        {&str_check, "_check"},
        {&str_fn_entry, "_fn_entry"},
        {&str_batch_size, "_batch_size"},
        {&str_v, "_v"},
        {&str_b, "_b"},
        {&str_opens, "_opens"},
        {&str_flush, "flush"},
        {&str_pop, "pop"},
        {&str_state, "state"},
        {&str_size, "size"},
        {&str_decoded, "_decoded"},
        {&str_num, "num"},
        {&str_str, "str"},
        {&str_none, "none"},
        {&str_dur, "_dur"},
        {&str_in_process, "_in_process"},
        {&str_fcache, "_fcache"},
        {&str_done, "done"},
        {&str_graph, "_graph"},
        {&str_out, "out"},
        {&str_dtype, "dtype"},
        {&str_hasobject, "hasobject"},
        {&str_nbytes, "nbytes"},
        {&str_graph_attr, "graph"},
        {&k_seconds, "SECONDS"},
        {&k_batch_max, "BATCH_MAX"},
        {&k_batch_seconds, "BATCH_SECONDS"},
        {&k_inline_max, "INLINE_MAX"},
        {&k_result_bytes, "RESULT_BYTES"},
        {&k_result_cats, "RESULT_CATS"},
        {&k_probe_key, "_PROBE_KEY"},
        {&k_cache, "_cache"},
        {&k_gen, "_gen"},
        {&k_last_dec, "_last_dec"},
        {&k_last_log, "_last_log"},
        {&k_last_np, "_last_np"},
        {&k_last_warn, "_last_warn"},
        {&k_log_probe, "_log_probe"},
        {&k_log_state, "_log_state"},
        {&k_modules, "_modules"},
        {&k_np_var, "_np_var"},
        {&k_warnings, "_warnings"},
        {&k_decimal, "decimal"},
        {&k_dec_key, "_dec_key"},
        {&k_dec_state, "_dec_state"},
        {&k_getcontext, "getcontext"},
        {&k_reduce, "__reduce__"},
        {&k_filters, "filters"},
        {&k_numpy, "numpy"},
    };
    for (size_t i = 0; i < sizeof strs / sizeof strs[0]; i++) {
        *strs[i].s = PyUnicode_InternFromString(strs[i].text);
        if (!*strs[i].s)
            return -1;
    }
    int_five = PyLong_FromLong(5);
    if (!int_five)
        return -1;
    if (PyType_Ready(&EntryType) < 0)
        return -1;
    if (pdy_fastpickle_init(m) < 0)
        return -1;
    return PyModule_AddFunctions(m, fastcall_methods);
}
