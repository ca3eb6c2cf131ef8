/*
 * pydron._core - CPython extension over include/pydron.h.
 *
 * Low level on purpose: pydron._backend is its only user. Three heap types:
 *   Runtime  - executor + policy + the "python" kind whose runner calls a
 *              Python callable (pydron._serialize.run_task);
 *   Graph    - one running graph on a runtime;
 *   Value    - one reference to a graph value (released on dealloc); exports
 *              the value's bytes through the buffer protocol.
 * Every call that can block (waits, running, freeing, the worker loop) drops
 * the GIL; runner callbacks from library threads take it with
 * PyGILState_Ensure.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "batchrun.h"
#include "fastcall.h"
#include "pydron.h"
#include "pyexec.h"
#include "wtrack.h"

/* The worker loop ships with the process executors; a build without it
 * still imports (worker_main then raises NotSupportedError). */
#if defined(__GNUC__)
#pragma weak pydron_worker_main
#pragma weak pydron_worker_options_init
#pragma weak pydron_worker_options_init_version
#pragma weak pydron_secret_check
#pragma weak pydron_secret_read_file
#pragma weak pydron_secret_generate
#endif

/* Waits are cut into slices so that Ctrl-C (a pending Python signal) is
 * noticed while the library waits with the GIL released. */
#define WAIT_SLICE_MS 50
/* Copies bigger than this run with the GIL released. */
#define BIG_COPY (1u << 20)

static PyObject *PydronError;
static PyObject *TaskError;
static PyObject *TaskFailed; /* raised by a Python runner to fail a task */
static PyObject *ErrTypes[20]; /* index: -rc */

static PyTypeObject *RuntimeType;
static PyTypeObject *GraphType;
static PyTypeObject *ValueType;
static PyTypeObject *PrivateBufferType;

static int is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* Raise the exception for a pydron error code, with the thread-local
 * detail message. Returns NULL for convenience. */
static PyObject *raise_rc(int rc)
{
    const char *msg = pydron_error_last();
    if (!msg || !*msg)
        msg = pydron_strerror(rc);
    if (rc == PYDRON_ENOMEM)
        return PyErr_NoMemory();
    PyObject *type = PydronError;
    if (rc < 0 && -rc < (int)(sizeof ErrTypes / sizeof ErrTypes[0]) && ErrTypes[-rc])
        type = ErrTypes[-rc];
    PyObject *exc = PyObject_CallFunction(type, "s", msg);
    if (!exc)
        return NULL;
    PyObject *code = PyLong_FromLong(rc);
    if (code) {
        PyObject_SetAttrString(exc, "code", code);
        Py_DECREF(code);
    }
    PyErr_SetObject(type, exc);
    Py_DECREF(exc);
    return NULL;
}

/* ------------------------------------------------------------------------
 * The Python runner: kind "python" calls run_task(payload, inputs).
 * ------------------------------------------------------------------------ */
typedef struct pyrunner {
    PyObject *fn; /* strong ref */
} pyrunner;

/* Invalidate memoryviews over borrowed task memory once the body returned,
 * so a view kept by user code raises instead of reading freed memory. A view
 * with live exports (e.g. a numpy array) cannot be released; that is the
 * documented "do not keep arguments past return" rule for pure tasks. */
static void release_view(PyObject *mv)
{
    PyObject *r = PyObject_CallMethod(mv, "release", NULL);
    if (r)
        Py_DECREF(r);
    else
        PyErr_Clear();
}

typedef struct outpart {
    Py_buffer view;
} outpart;

static int write_output(pydron_task_ctx *ctx, size_t oi, PyObject *res)
{
    int rc;
    if (PyList_Check(res) || PyTuple_Check(res)) {
        PyObject *seq = PySequence_Fast(res, "result parts");
        if (!seq)
            return -1;
        Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
        outpart *parts = PyMem_Calloc(n ? (size_t)n : 1, sizeof *parts);
        if (!parts) {
            Py_DECREF(seq);
            PyErr_NoMemory();
            return -1;
        }
        Py_ssize_t got = 0;
        size_t total = 0;
        int ok = 1;
        for (; got < n; got++) {
            if (PyObject_GetBuffer(PySequence_Fast_GET_ITEM(seq, got), &parts[got].view,
                                   PyBUF_C_CONTIGUOUS) < 0) {
                ok = 0;
                break;
            }
            total += (size_t)parts[got].view.len;
        }
        if (ok) {
            /* one pass: large results are written straight into shared memory */
            pydron_iov *iov = PyMem_Calloc(n ? (size_t)n : 1, sizeof *iov);
            if (!iov) {
                PyErr_NoMemory();
                ok = 0;
            } else {
                for (Py_ssize_t i = 0; i < n; i++) {
                    iov[i].data = parts[i].view.buf;
                    iov[i].len = (size_t)parts[i].view.len;
                }
                if (total > BIG_COPY) {
                    Py_BEGIN_ALLOW_THREADS
                    rc = pydron_ctx_output_setv(ctx, oi, iov, (size_t)n);
                    Py_END_ALLOW_THREADS
                } else {
                    rc = pydron_ctx_output_setv(ctx, oi, iov, (size_t)n);
                }
                PyMem_Free(iov);
                if (rc < 0) {
                    raise_rc(rc);
                    ok = 0;
                }
            }
        }
        for (Py_ssize_t i = 0; i < got; i++)
            PyBuffer_Release(&parts[i].view);
        PyMem_Free(parts);
        Py_DECREF(seq);
        return ok ? 0 : -1;
    }
    Py_buffer view;
    if (PyObject_GetBuffer(res, &view, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    rc = pydron_ctx_output_set(ctx, oi, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (rc < 0) {
        raise_rc(rc);
        return -1;
    }
    return 0;
}

/* A task with one output: res is its result blob (bytes-like, or a list of
 * parts written as one). A task with n > 1 outputs (a batch of small calls,
 * pydron._serialize.run_task): res is a list of n such blobs, one each. */
static int write_outputs(pydron_task_ctx *ctx, PyObject *res)
{
    size_t n = pydron_ctx_noutputs(ctx);
    if (n <= 1)
        return write_output(ctx, 0, res);
    if (!PyList_Check(res) || (size_t)PyList_GET_SIZE(res) != n) {
        PyErr_Format(PyExc_TypeError, "a task with %zu outputs must return a list of %zu results",
                     n, n);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        if (write_output(ctx, i, PyList_GET_ITEM(res, (Py_ssize_t)i)) < 0)
            return -1;
    return 0;
}

/* Turn the current Python exception into a task failure. A TaskFailed
 * carries (message, detail bytes) made by pydron._serialize; anything else
 * is a bug in the runner itself and is reported with its repr. */
static void fail_from_exception(pydron_task_ctx *ctx)
{
    PyObject *type, *val, *tb;
    PyErr_Fetch(&type, &val, &tb);
    PyErr_NormalizeException(&type, &val, &tb);
    if (val && PyErr_GivenExceptionMatches(val, TaskFailed)) {
        PyObject *args = PyObject_GetAttrString(val, "args");
        PyObject *msg = NULL, *detail = NULL;
        if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 1)
            msg = PyTuple_GET_ITEM(args, 0);
        if (args && PyTuple_Check(args) && PyTuple_GET_SIZE(args) >= 2)
            detail = PyTuple_GET_ITEM(args, 1);
        const char *m = msg && PyUnicode_Check(msg) ? PyUnicode_AsUTF8(msg) : NULL;
        if (!m) {
            PyErr_Clear();
            m = "task failed";
        }
        pydron_ctx_fail(ctx, "%s", m);
        Py_buffer view;
        if (detail && detail != Py_None && PyObject_GetBuffer(detail, &view, PyBUF_SIMPLE) == 0) {
            pydron_ctx_fail_detail(ctx, view.buf, (size_t)view.len);
            PyBuffer_Release(&view);
        }
        PyErr_Clear();
        Py_XDECREF(args);
    } else {
        PyObject *s = val ? PyObject_Repr(val) : NULL;
        const char *m = s ? PyUnicode_AsUTF8(s) : NULL;
        if (!m)
            PyErr_Clear();
        pydron_ctx_fail(ctx, "pydron runner error: %s", m ? m : "unknown");
        Py_XDECREF(s);
    }
    Py_XDECREF(type);
    Py_XDECREF(val);
    Py_XDECREF(tb);
}

/* Library threads (thread pool, worker task threads) run many tasks: give
 * each one thread state for its lifetime instead of creating and deleting
 * one per task as PyGILState_Ensure/Release would. Threads that already
 * have a thread state (the driver thread under the inline executor) use
 * PyGILState_Ensure as usual. */
static _Thread_local PyThreadState *tls_tstate;

static int gil_take(PyGILState_STATE *gs)
{
    if (tls_tstate) {
        PyEval_RestoreThread(tls_tstate);
        return 1;
    }
    if (PyGILState_GetThisThreadState() == NULL) {
        PyGILState_Ensure(); /* never released: the thread state stays */
        tls_tstate = PyThreadState_Get();
        return 1;
    }
    *gs = PyGILState_Ensure();
    return 0;
}

static void gil_drop(int persistent, PyGILState_STATE gs)
{
    if (persistent)
        PyEval_SaveThread();
    else
        PyGILState_Release(gs);
}

/* The task this thread runs (pyrunner_run), for output_note(). */
static _Thread_local pydron_task_ctx *tls_ctx;

static PyObject *mod_output_note(PyObject *mod, PyObject *args)
{
    Py_ssize_t i;
    Py_buffer view;
    if (!PyArg_ParseTuple(args, "ny*", &i, &view))
        return NULL;
    if (!tls_ctx || i < 0) {
        PyBuffer_Release(&view);
        PyErr_SetString(PyExc_RuntimeError, i < 0 ? "output_note: negative output"
                                                  : "output_note: no task runs on this thread");
        return NULL;
    }
    int rc = pydron_ctx_output_note(tls_ctx, (size_t)i, view.buf, (size_t)view.len);
    PyBuffer_Release(&view);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static int pyrunner_run(void *self, pydron_task_ctx *ctx)
{
    pyrunner *r = self;
    if (is_finalizing()) {
        pydron_ctx_fail(ctx, "python interpreter is shutting down");
        return PYDRON_ETASK;
    }
    PyGILState_STATE gs = PyGILState_UNLOCKED;
    int persistent = gil_take(&gs);
    int rc = PYDRON_ETASK;
    const void *data;
    size_t len;
    size_t n = pydron_ctx_ninputs(ctx);
    PyObject *payload = NULL, *inputs = NULL, *res = NULL;

    if (pydron_ctx_payload(ctx, &data, &len) < 0) {
        pydron_ctx_fail(ctx, "no payload: %s", pydron_error_last());
        goto out;
    }
    payload = PyMemoryView_FromMemory((char *)data, (Py_ssize_t)len, PyBUF_READ);
    inputs = PyList_New((Py_ssize_t)n);
    if (!payload || !inputs)
        goto pyfail;
    for (size_t i = 0; i < n; i++) {
        if (pydron_ctx_input(ctx, i, &data, &len) < 0) {
            pydron_ctx_fail(ctx, "input %zu unavailable: %s", i, pydron_error_last());
            goto out;
        }
        PyObject *mv = PyMemoryView_FromMemory((char *)(data ? data : ""), (Py_ssize_t)len,
                                               PyBUF_READ);
        if (!mv)
            goto pyfail;
        PyList_SET_ITEM(inputs, (Py_ssize_t)i, mv);
    }
    pydron_task_ctx *outer = tls_ctx;   /* a task run inside a task (inline) */
    tls_ctx = ctx;
    res = PyObject_CallFunctionObjArgs(r->fn, payload, inputs, NULL);
    tls_ctx = outer;
    if (!res)
        goto pyfail;
    if (write_outputs(ctx, res) < 0)
        goto pyfail;
    rc = 0;
    goto out;
pyfail:
    if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        /* Ctrl-C in a task the inline executor runs on the driver's main
         * thread: the program is interrupted. Trip the signal again so that
         * the driver's wait raises KeyboardInterrupt at its next check (and
         * tasks run meanwhile stop at their first line). */
        PyErr_Clear();
        pydron_ctx_fail(ctx, "KeyboardInterrupt: interrupted");
        PyErr_SetInterrupt();
    } else {
        fail_from_exception(ctx);
    }
out:
    Py_XDECREF(res);
    if (payload) {
        release_view(payload);
        Py_DECREF(payload);
    }
    if (inputs) {
        for (Py_ssize_t i = 0; i < PyList_GET_SIZE(inputs); i++) {
            PyObject *mv = PyList_GET_ITEM(inputs, i);
            if (mv)
                release_view(mv);
        }
        Py_DECREF(inputs);
    }
    gil_drop(persistent, gs);
    return rc;
}

static void pyrunner_destroy(void *self)
{
    pyrunner *r = self;
    if (!r)
        return;
    if (!is_finalizing()) {
        PyGILState_STATE gs = PyGILState_Ensure();
        Py_CLEAR(r->fn);
        PyGILState_Release(gs);
    } /* else: leak one reference rather than touch a dying interpreter */
    free(r);
}

static const pydron_runner_ops pyrunner_ops = {PYDRON_RUNNER_OPS_VERSION, pyrunner_run,
                                               pyrunner_destroy};

static pyrunner *pyrunner_new(PyObject *fn)
{
    pyrunner *r = calloc(1, sizeof *r);
    if (!r) {
        PyErr_NoMemory();
        return NULL;
    }
    Py_INCREF(fn);
    r->fn = fn;
    return r;
}

/* ------------------------------------------------------------------------
 * Runtime
 * ------------------------------------------------------------------------ */
typedef struct {
    PyObject_HEAD
    pydron_runtime *rt;
    uint32_t python_kind;
    int has_python_kind;
    int executor;
} RuntimeObject;

static int parse_executor(PyObject *o, int *out)
{
    if (PyLong_Check(o)) {
        *out = (int)PyLong_AsLong(o);
        return PyErr_Occurred() ? -1 : 0;
    }
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s) {
        PyErr_SetString(PyExc_TypeError, "executor must be a name or an int");
        return -1;
    }
    static const char *names[] = {"inline", "threads", "local", "remote"};
    for (int i = 0; i < 4; i++)
        if (strcmp(s, names[i]) == 0) {
            *out = i;
            return 0;
        }
    PyErr_Format(PyExc_ValueError, "unknown executor %R (inline, threads, local, remote)", o);
    return -1;
}

static int parse_policy(PyObject *o, int *out)
{
    if (PyLong_Check(o)) {
        *out = (int)PyLong_AsLong(o);
        return PyErr_Occurred() ? -1 : 0;
    }
    const char *s = PyUnicode_Check(o) ? PyUnicode_AsUTF8(o) : NULL;
    if (!s) {
        PyErr_SetString(PyExc_TypeError, "policy must be a name or an int");
        return -1;
    }
    pydron_policy_kind k;
    if (pydron_policy_from_name(s, &k) == 0) {
        *out = (int)k;
        return 0;
    }
    PyErr_Format(PyExc_ValueError, "unknown policy %R (fifo, critical-path, locality, heft, "
                                   "work-stealing, random)", o);
    return -1;
}

/* NULL-terminated C array of UTF-8 strings borrowed from a list of str that
 * the caller keeps alive. */
static const char **str_array(PyObject *seq, PyObject **keep)
{
    *keep = NULL;
    if (!seq || seq == Py_None)
        return NULL;
    PyObject *fast = PySequence_Fast(seq, "expected a sequence of str");
    if (!fast)
        return NULL;
    Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
    const char **arr = PyMem_Calloc((size_t)n + 1, sizeof *arr);
    if (!arr) {
        Py_DECREF(fast);
        PyErr_NoMemory();
        return NULL;
    }
    for (Py_ssize_t i = 0; i < n; i++) {
        PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
        arr[i] = PyUnicode_Check(it) ? PyUnicode_AsUTF8(it) : NULL;
        if (!arr[i]) {
            if (!PyErr_Occurred())
                PyErr_SetString(PyExc_TypeError, "expected a sequence of str");
            PyMem_Free(arr);
            Py_DECREF(fast);
            return NULL;
        }
    }
    *keep = fast;
    return arr;
}

static int Runtime_init(RuntimeObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"executor", "policy", "workers", "runner", "worker_command",
                             "worker_args", "listen_url", "secret", "tls_cert_file",
                             "tls_key_file", "launch_command", "launch_hosts", "max_retries",
                             "heartbeat_ms", "in_flight", "worker_wait_ms", "cluster",
                             "launch_args", "join_timeout_ms", "required_kinds",
                             "worker_restarts", NULL};
    PyObject *executor = NULL, *policy = NULL, *runner = Py_None, *wargs = Py_None,
             *hosts = Py_None, *largs = Py_None, *rkinds = Py_None;
    unsigned workers = 0, max_retries = 0, heartbeat = 0, in_flight = 0, worker_wait = 0,
             join_ms = 0;
    int restarts = -1;
    const char *wcmd = NULL, *listen = NULL, *secret = NULL, *cert = NULL, *key = NULL,
               *launch = NULL, *cluster = NULL;
    if (self->rt) {
        PyErr_SetString(PyExc_RuntimeError, "Runtime already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOIOzOzzzzzOIIIIzOIOi", kwlist, &executor,
                                     &policy, &workers, &runner, &wcmd, &wargs, &listen, &secret,
                                     &cert, &key, &launch, &hosts, &max_retries, &heartbeat,
                                     &in_flight, &worker_wait, &cluster, &largs, &join_ms,
                                     &rkinds, &restarts))
        return -1;
    pydron_runtime_options o;
    pydron_runtime_options_init(&o);
    int ex = 0, pol = 0;
    if (executor && parse_executor(executor, &ex) < 0)
        return -1;
    if (policy && policy != Py_None && parse_policy(policy, &pol) < 0)
        return -1;
    o.executor = (pydron_executor_kind)ex;
    o.policy = (pydron_policy_kind)pol;
    o.workers = workers;
    o.max_retries = max_retries;
    o.worker_command = wcmd;
    o.listen_url = listen;
    o.secret = secret;
    o.tls_cert_file = cert;
    o.tls_key_file = key;
    o.launch_command = launch;
    o.heartbeat_ms = heartbeat;
    o.in_flight = in_flight;
    PyObject *keep_args = NULL, *keep_hosts = NULL, *keep_largs = NULL, *keep_kinds = NULL;
    const char **a = str_array(wargs, &keep_args);
    if (!a && PyErr_Occurred())
        return -1;
    const char **h = str_array(hosts, &keep_hosts);
    const char **la = h || !PyErr_Occurred() ? str_array(largs, &keep_largs) : NULL;
    const char **rk = !PyErr_Occurred() ? str_array(rkinds, &keep_kinds) : NULL;
    if (PyErr_Occurred()) {
        PyMem_Free(a);
        PyMem_Free(h);
        PyMem_Free(la);
        PyMem_Free(rk);
        Py_XDECREF(keep_args);
        Py_XDECREF(keep_hosts);
        Py_XDECREF(keep_largs);
        Py_XDECREF(keep_kinds);
        return -1;
    }
    o.worker_args = a;
    o.launch_hosts = h;
    pydron_runtime *rt = NULL;
    int rc;
    int later = cluster && o.executor == PYDRON_EXECUTOR_REMOTE;
    if (later)
        o.executor = PYDRON_EXECUTOR_INLINE; /* a launcher's remote executor: made below */
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_runtime_new(&rt, &o);
    if (later)
        o.executor = PYDRON_EXECUTOR_REMOTE;
    if (rc == 0 && (worker_wait || cluster || la || join_ms || rk || restarts >= 0) &&
        (o.executor == PYDRON_EXECUTOR_LOCAL || o.executor == PYDRON_EXECUTOR_REMOTE)) {
        /* options only the process executors have: the same settings as a
         * pydron_process_options, plus these */
        pydron_process_options po = PYDRON_PROCESS_OPTIONS_INIT;
        po.worker_command = o.worker_command;
        po.worker_args = o.worker_args;
        po.listen_url = o.listen_url;
        po.secret = o.secret;
        po.tls_cert_file = o.tls_cert_file;
        po.tls_key_file = o.tls_key_file;
        po.launch_command = o.launch_command;
        po.launch_hosts = o.launch_hosts;
        po.heartbeat_ms = o.heartbeat_ms;
        po.worker_wait_ms = worker_wait;
        po.cluster = cluster;
        po.launch_args = la;
        po.join_timeout_ms = join_ms;
        po.required_kinds = rk;
        po.worker_restarts = restarts < 0 ? -1 : restarts;
        rc = pydron_runtime_use_executor(
            rt, o.executor == PYDRON_EXECUTOR_LOCAL ? "local" : "remote", &po);
    }
    Py_END_ALLOW_THREADS
    PyMem_Free(a);
    PyMem_Free(h);
    PyMem_Free(la);
    PyMem_Free(rk);
    Py_XDECREF(keep_args);
    Py_XDECREF(keep_hosts);
    Py_XDECREF(keep_largs);
    Py_XDECREF(keep_kinds);
    if (rc < 0) {
        raise_rc(rc);
        if (rt)
            pydron_runtime_free(rt); /* made, but its process options were refused */
        return -1;
    }
    self->rt = rt;
    self->executor = ex;
    if (runner != Py_None) {
        if (!PyCallable_Check(runner)) {
            PyErr_SetString(PyExc_TypeError, "runner must be callable");
            return -1;
        }
        pyrunner *r = pyrunner_new(runner);
        if (!r)
            return -1;
        pydron_kind_desc d = PYDRON_KIND_DESC_INIT;
        d.name = "python";
        d.runner = &pyrunner_ops;
        d.runner_self = r;
        rc = pydron_runtime_register_kind(rt, &d, &self->python_kind);
        if (rc < 0) {
            Py_DECREF(r->fn);
            free(r);
            raise_rc(rc);
            return -1;
        }
        self->has_python_kind = 1;
    }
    return 0;
}

static int runtime_free_now(RuntimeObject *self)
{
    int rc = 0;
    if (self->rt) {
        pydron_runtime *rt = self->rt;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_runtime_free(rt);
        Py_END_ALLOW_THREADS
        if (rc == 0)
            self->rt = NULL;
    }
    return rc;
}

static void Runtime_dealloc(RuntimeObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->rt && !is_finalizing())
        runtime_free_now(self);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int Runtime_traverse(RuntimeObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    return 0;
}

static int rt_check(RuntimeObject *self)
{
    if (!self->rt) {
        PyErr_SetString(ErrTypes[-PYDRON_ECLOSED], "runtime is closed");
        return -1;
    }
    return 0;
}

static PyObject *Runtime_close(RuntimeObject *self, PyObject *unused)
{
    int rc = runtime_free_now(self);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Runtime_kind(RuntimeObject *self, PyObject *arg)
{
    if (rt_check(self) < 0)
        return NULL;
    const char *name = PyUnicode_AsUTF8(arg);
    if (!name)
        return NULL;
    uint32_t k;
    int rc = pydron_runtime_kind(self->rt, name, &k);
    if (rc < 0)
        return raise_rc(rc);
    return PyLong_FromUnsignedLong(k);
}

static PyObject *Runtime_nworkers(RuntimeObject *self, PyObject *unused)
{
    if (rt_check(self) < 0)
        return NULL;
    unsigned n = 0;
    int rc = pydron_runtime_nworkers(self->rt, &n);
    if (rc < 0)
        return raise_rc(rc);
    return PyLong_FromUnsignedLong(n);
}

static PyObject *Runtime_window(RuntimeObject *self, PyObject *arg)
{
    if (rt_check(self) < 0)
        return NULL;
    unsigned long w = PyLong_AsUnsignedLong(arg);
    if (w == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    unsigned n = 0;
    int down = 0;
    int rc = pydron_runtime_worker_window(self->rt, (unsigned)w, &n, &down);
    if (rc < 0)
        return raise_rc(rc);
    return Py_BuildValue("(kO)", (unsigned long)n, down ? Py_True : Py_False);
}

/* set_executor(obj, nworkers, in_flight): an executor written in Python
 * (pyexec.c); before the first graph starts. Returns its ExecBridge. */
static PyObject *Runtime_set_executor(RuntimeObject *self, PyObject *args)
{
    PyObject *obj;
    unsigned nworkers = 1, in_flight = 64;
    if (rt_check(self) < 0 || !PyArg_ParseTuple(args, "O|II", &obj, &nworkers, &in_flight))
        return NULL;
    PyObject *b = pdy_pyexec_attach(self->rt, obj, nworkers, in_flight);
    if (b)
        self->executor = PYDRON_EXECUTOR_CUSTOM;
    return b;
}

static PyObject *Runtime_get_python_kind(RuntimeObject *self, void *c)
{
    if (!self->has_python_kind)
        Py_RETURN_NONE;
    return PyLong_FromUnsignedLong(self->python_kind);
}

static PyObject *Runtime_get_closed(RuntimeObject *self, void *c)
{
    return PyBool_FromLong(self->rt == NULL);
}

static PyObject *Runtime_get_executor(RuntimeObject *self, void *c)
{
    static const char *names[] = {"inline", "threads", "local", "remote", "custom"};
    if (self->executor >= 0 && self->executor <= 4)
        return PyUnicode_FromString(names[self->executor]);
    return PyLong_FromLong(self->executor);
}

static PyMethodDef Runtime_methods[] = {
    {"close", (PyCFunction)Runtime_close, METH_NOARGS,
     "Stop the executor (workers exit) and free the runtime."},
    {"kind", (PyCFunction)Runtime_kind, METH_O, "Id of a registered kind by name."},
    {"set_executor", (PyCFunction)Runtime_set_executor, METH_VARARGS,
     "set_executor(obj, nworkers=1, in_flight=64) -> ExecBridge: tasks go to a Python "
     "executor (pydron._dask)."},
    {"nworkers", (PyCFunction)Runtime_nworkers, METH_NOARGS,
     "Number of places tasks run (valid once a graph started)."},
    {"window", (PyCFunction)Runtime_window, METH_O,
     "window(worker) -> (jobs kept in flight there, down): the worker's in-flight window "
     "(measured by the process executors) and whether it is lost."},
    {NULL}};

static PyGetSetDef Runtime_getset[] = {
    {"python_kind", (getter)Runtime_get_python_kind, NULL, "kind id of 'python' or None", NULL},
    {"closed", (getter)Runtime_get_closed, NULL, "True after close()", NULL},
    {"executor", (getter)Runtime_get_executor, NULL, "executor name", NULL},
    {NULL}};

static PyType_Slot Runtime_slots[] = {
    {Py_tp_doc, "Runtime(executor='inline', policy='fifo', workers=0, runner=None, ...)\n"
                "A libpydron runtime. runner: callable run_task(payload, inputs) registered "
                "as kind 'python'."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Runtime_init},
    {Py_tp_dealloc, Runtime_dealloc},
    {Py_tp_traverse, Runtime_traverse},
    {Py_tp_methods, Runtime_methods},
    {Py_tp_getset, Runtime_getset},
    {0, NULL}};

static PyType_Spec Runtime_spec = {"pydron._core.Runtime", sizeof(RuntimeObject), 0,
                                   Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Runtime_slots};

/* ------------------------------------------------------------------------
 * Graph
 * ------------------------------------------------------------------------ */
typedef struct {
    PyObject_HEAD
    RuntimeObject *runtime; /* strong ref: the runtime outlives its graphs */
    pydron_graph *g;
} GraphObject;

typedef struct {
    PyObject_HEAD
    GraphObject *graph; /* strong ref */
    uint64_t id;
    int owned; /* holds one reference on the C value */
} ValueObject;

static int graph_check(GraphObject *self)
{
    if (!self->g) {
        PyErr_SetString(ErrTypes[-PYDRON_ECLOSED], "graph is closed");
        return -1;
    }
    return 0;
}

static int Graph_init(GraphObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"runtime", NULL};
    PyObject *rto;
    if (self->g) {
        PyErr_SetString(PyExc_RuntimeError, "Graph already initialised");
        return -1;
    }
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O!", kwlist, RuntimeType, &rto))
        return -1;
    RuntimeObject *rt = (RuntimeObject *)rto;
    if (rt_check(rt) < 0)
        return -1;
    pydron_graph *g = NULL;
    int rc = pydron_graph_new(rt->rt, &g);
    if (rc < 0) {
        raise_rc(rc);
        return -1;
    }
    Py_INCREF(rt);
    Py_XSETREF(self->runtime, rt);
    self->g = g;
    return 0;
}

static int graph_free_now(GraphObject *self)
{
    int rc = 0;
    if (self->g) {
        pydron_graph *g = self->g;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_graph_free(g);
        Py_END_ALLOW_THREADS
        if (rc == 0)
            self->g = NULL;
    }
    return rc;
}

static void Graph_dealloc(GraphObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_GC_UnTrack(self);
    if (self->g && !is_finalizing())
        graph_free_now(self);
    Py_CLEAR(self->runtime);
    tp->tp_free(self);
    Py_DECREF(tp);
}

static int Graph_traverse(GraphObject *self, visitproc visit, void *arg)
{
    Py_VISIT(Py_TYPE(self));
    Py_VISIT(self->runtime);
    return 0;
}

static PyObject *value_new(GraphObject *g, uint64_t id)
{
    ValueObject *v = PyObject_New(ValueObject, ValueType);
    if (!v) {
        pydron_value_release(g->g, (pydron_value){id});
        return NULL;
    }
    Py_INCREF(g);
    v->graph = g;
    v->id = id;
    v->owned = 1;
    return (PyObject *)v;
}

static PyObject *Graph_close(GraphObject *self, PyObject *unused)
{
    int rc = graph_free_now(self);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Graph_start(GraphObject *self, PyObject *unused)
{
    if (graph_check(self) < 0)
        return NULL;
    int rc;
    pydron_graph *g = self->g;
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_graph_start(g);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Graph_cancel(GraphObject *self, PyObject *unused)
{
    if (graph_check(self) < 0)
        return NULL;
    int rc;
    pydron_graph *g = self->g;
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_graph_cancel(g);
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Graph_interrupt(GraphObject *self, PyObject *unused)
{
    if (graph_check(self) < 0)
        return NULL;
    int rc = pydron_graph_interrupt(self->g);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Deadline-sliced wait loop shared by Value.wait and Graph.run. which: a
 * value to wait for, or 0 for the whole graph. timeout < 0: forever. */
static int wait_loop(GraphObject *self, uint64_t which, double timeout)
{
    int64_t deadline = 0;
    if (timeout >= 0)
        deadline = mono_ns() + (int64_t)(timeout * 1e9);
    for (;;) {
        int slice = WAIT_SLICE_MS;
        if (timeout >= 0) {
            int64_t left = deadline - mono_ns();
            if (left <= 0)
                left = 0;
            if (left < (int64_t)slice * 1000000)
                slice = (int)(left / 1000000);
        }
        int rc;
        pydron_graph *g = self->g;
        Py_BEGIN_ALLOW_THREADS
        if (which)
            rc = pydron_graph_wait(g, (pydron_value){which}, slice);
        else
            rc = pydron_graph_run(g, slice);
        Py_END_ALLOW_THREADS
        if (rc == PYDRON_EINTR && PyErr_CheckSignals() < 0)
            return 1; /* interrupted for a signal (Ctrl-C in an inline task) */
        if (rc != PYDRON_ETIMEDOUT)
            return rc;
        if (PyErr_CheckSignals() < 0)
            return 1; /* Python exception set (KeyboardInterrupt) */
        if (timeout >= 0 && mono_ns() >= deadline)
            return PYDRON_ETIMEDOUT;
        if (!self->g) {
            PyErr_SetString(ErrTypes[-PYDRON_ECLOSED], "graph closed while waiting");
            return 1;
        }
    }
}

static double parse_timeout(PyObject *o, int *err)
{
    *err = 0;
    if (!o || o == Py_None)
        return -1.0;
    double t = PyFloat_AsDouble(o);
    if (t == -1.0 && PyErr_Occurred()) {
        *err = 1;
        return 0;
    }
    return t < 0 ? 0 : t;
}

static PyObject *Graph_run(GraphObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &to))
        return NULL;
    if (graph_check(self) < 0)
        return NULL;
    int err;
    double t = parse_timeout(to, &err);
    if (err)
        return NULL;
    int rc = wait_loop(self, 0, t);
    if (rc == 1)
        return NULL;
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

/* Graph.task(kind, payload, inputs=(), noutputs=1, flags=PURE, label=None,
 *            duration=0.0) -> Value (noutputs == 1), tuple of Values, or None */
static PyObject *Graph_task(GraphObject *self, PyObject *const *args, Py_ssize_t nargs,
                            PyObject *kwnames)
{
    if (graph_check(self) < 0)
        return NULL;
    if (nargs < 2 || nargs > 3 || (kwnames && PyTuple_GET_SIZE(kwnames))) {
        /* Slow path with keywords. */
        static char *kwlist[] = {"kind", "payload", "inputs", "noutputs", "flags", "label",
                                 "duration", "nogil", NULL};
        PyObject *targs = PyTuple_New(nargs);
        if (!targs)
            return NULL;
        for (Py_ssize_t i = 0; i < nargs; i++) {
            Py_INCREF(args[i]);
            PyTuple_SET_ITEM(targs, i, args[i]);
        }
        PyObject *kwd = NULL;
        if (kwnames && PyTuple_GET_SIZE(kwnames)) {
            kwd = PyDict_New();
            for (Py_ssize_t i = 0; kwd && i < PyTuple_GET_SIZE(kwnames); i++)
                PyDict_SetItem(kwd, PyTuple_GET_ITEM(kwnames, i), args[nargs + i]);
        }
        unsigned kind = 0, flags = PYDRON_TASK_PURE;
        Py_ssize_t nout = 1;
        PyObject *payload = NULL, *inputs = NULL;
        const char *label = NULL;
        double dur = 0;
        int nogil = 0;
        int ok = PyArg_ParseTupleAndKeywords(targs, kwd, "IO|OnIzdp", kwlist, &kind, &payload,
                                             &inputs, &nout, &flags, &label, &dur, &nogil);
        Py_DECREF(targs);
        Py_XDECREF(kwd);
        if (!ok)
            return NULL;
        Py_buffer pb;
        if (PyObject_GetBuffer(payload, &pb, PyBUF_SIMPLE) < 0)
            return NULL;
        PyObject *res = NULL;
        PyObject *fast = inputs && inputs != Py_None
                             ? PySequence_Fast(inputs, "inputs must be a sequence of Value")
                             : PyTuple_New(0);
        if (!fast) {
            PyBuffer_Release(&pb);
            return NULL;
        }
        Py_ssize_t ni = PySequence_Fast_GET_SIZE(fast);
        pydron_value stackin[16], stackout[4];
        pydron_value *in = ni <= 16 ? stackin : PyMem_Malloc(sizeof *in * (size_t)ni);
        pydron_value *out = nout <= 4 ? stackout : PyMem_Malloc(sizeof *out * (size_t)nout);
        if (nout < 0 || !in || !out) {
            PyErr_SetString(PyExc_ValueError, "bad noutputs or out of memory");
            goto slowdone;
        }
        for (Py_ssize_t i = 0; i < ni; i++) {
            PyObject *it = PySequence_Fast_GET_ITEM(fast, i);
            if (!PyObject_TypeCheck(it, ValueType)) {
                PyErr_Format(PyExc_TypeError, "inputs[%zd] is not a Value", i);
                goto slowdone;
            }
            in[i].id = ((ValueObject *)it)->id;
        }
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = kind;
        d.flags = flags;
        d.ninputs = (size_t)ni;
        d.inputs = in;
        d.noutputs = (size_t)nout;
        d.payload = pb.buf;
        d.payload_len = (size_t)pb.len;
        d.label = label;
        d.duration_hint = dur;
        int rc;
        if (nogil) {
            /* adding may dispatch at once, and sending large inputs to a
             * worker takes a while: let other Python threads run */
            pydron_graph *g = self->g;
            Py_BEGIN_ALLOW_THREADS
            rc = pydron_task_add(g, &d, NULL, out);
            Py_END_ALLOW_THREADS
        } else {
            rc = pydron_task_add(self->g, &d, NULL, out);
        }
        if (rc < 0) {
            raise_rc(rc);
            goto slowdone;
        }
        if (nout == 1) {
            res = value_new(self, out[0].id);
        } else if (nout == 0) {
            res = Py_None;
            Py_INCREF(res);
        } else {
            res = PyTuple_New(nout);
            for (Py_ssize_t i = 0; i < nout; i++) {
                PyObject *v = res ? value_new(self, out[i].id) : NULL;
                if (!v) {
                    for (Py_ssize_t j = i + (res ? 1 : 0); j < nout; j++)
                        pydron_value_release(self->g, out[j]);
                    Py_CLEAR(res);
                    break;
                }
                PyTuple_SET_ITEM(res, i, v);
            }
        }
    slowdone:
        if (in && in != stackin)
            PyMem_Free(in);
        if (out && out != stackout)
            PyMem_Free(out);
        Py_DECREF(fast);
        PyBuffer_Release(&pb);
        return res;
    }

    /* Fast path: task(kind, payload[, inputs]) positional, the
     * per-task hot call of pydron._backend. */
    unsigned long kind = PyLong_AsUnsignedLong(args[0]);
    if (kind == (unsigned long)-1 && PyErr_Occurred())
        return NULL;
    Py_buffer pb;
    if (PyObject_GetBuffer(args[1], &pb, PyBUF_SIMPLE) < 0)
        return NULL;
    pydron_value stackin[16];
    pydron_value *in = stackin;
    Py_ssize_t ni = 0;
    PyObject *inputs = nargs >= 3 ? args[2] : NULL;
    if (inputs && inputs != Py_None) {
        if (!PyTuple_Check(inputs) && !PyList_Check(inputs)) {
            PyBuffer_Release(&pb);
            PyErr_SetString(PyExc_TypeError, "inputs must be a tuple or list of Value");
            return NULL;
        }
        ni = PySequence_Fast_GET_SIZE(inputs);
        if (ni > 16) {
            in = PyMem_Malloc(sizeof *in * (size_t)ni);
            if (!in) {
                PyBuffer_Release(&pb);
                return PyErr_NoMemory();
            }
        }
        PyObject **items = PySequence_Fast_ITEMS(inputs);
        for (Py_ssize_t i = 0; i < ni; i++) {
            if (Py_TYPE(items[i]) != ValueType && !PyObject_TypeCheck(items[i], ValueType)) {
                PyErr_Format(PyExc_TypeError, "inputs[%zd] is not a Value", i);
                if (in != stackin)
                    PyMem_Free(in);
                PyBuffer_Release(&pb);
                return NULL;
            }
            in[i].id = ((ValueObject *)items[i])->id;
        }
    }
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = (uint32_t)kind;
    d.flags = PYDRON_TASK_PURE;
    d.ninputs = (size_t)ni;
    d.inputs = in;
    d.noutputs = 1;
    d.payload = pb.buf;
    d.payload_len = (size_t)pb.len;
    pydron_value out;
    int rc = pydron_task_add(self->g, &d, NULL, &out);
    if (in != stackin)
        PyMem_Free(in);
    PyBuffer_Release(&pb);
    if (rc < 0)
        return raise_rc(rc);
    return value_new(self, out.id);
}

/* Graph.constant(data) -> Value. The bytes are copied now (a snapshot):
 * large copies run with the GIL released; the library copies large values
 * into shared memory, so that copy is also the transfer to local workers. */
static PyObject *Graph_constant(GraphObject *self, PyObject *arg)
{
    if (graph_check(self) < 0)
        return NULL;
    Py_buffer pb;
    if (PyObject_GetBuffer(arg, &pb, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    int rc;
    pydron_value v;
    if ((size_t)pb.len <= BIG_COPY) {
        rc = pydron_value_constant(self->g, pb.buf, (size_t)pb.len, &v);
    } else {
        pydron_graph *g = self->g;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_value_constant(g, pb.buf, (size_t)pb.len, &v);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&pb);
    if (rc < 0)
        return raise_rc(rc);
    return value_new(self, v.id);
}

static PyObject *Graph_input(GraphObject *self, PyObject *unused)
{
    if (graph_check(self) < 0)
        return NULL;
    pydron_value v;
    int rc = pydron_value_input(self->g, &v);
    if (rc < 0)
        return raise_rc(rc);
    return value_new(self, v.id);
}

/* DOT text from pydron_graph_dot or pydron_graph_dot_run */
static PyObject *graph_dot_text(GraphObject *self,
                                int (*dot)(pydron_graph *, char **, size_t *))
{
    if (graph_check(self) < 0)
        return NULL;
    char *s = NULL;
    size_t len = 0;
    int rc = dot(self->g, &s, &len);
    if (rc < 0)
        return raise_rc(rc);
    PyObject *r = PyUnicode_DecodeUTF8(s, (Py_ssize_t)len, "replace");
    pydron_free(s);
    return r;
}

static PyObject *Graph_dot(GraphObject *self, PyObject *unused)
{
    return graph_dot_text(self, pydron_graph_dot);
}

static PyObject *Graph_dot_run(GraphObject *self, PyObject *unused)
{
    return graph_dot_text(self, pydron_graph_dot_run);
}

static PyObject *Graph_record(GraphObject *self, PyObject *arg)
{
    if (graph_check(self) < 0)
        return NULL;
    Py_ssize_t n = PyNumber_AsSsize_t(arg, PyExc_OverflowError);
    if (n == -1 && PyErr_Occurred())
        return NULL;
    if (n < 0) {
        PyErr_SetString(PyExc_ValueError, "max_tasks must be >= 0");
        return NULL;
    }
    int rc = pydron_graph_record(self->g, (size_t)n);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Graph_stats(GraphObject *self, PyObject *unused)
{
    if (graph_check(self) < 0)
        return NULL;
    pydron_graph_stats st;
    memset(&st, 0, sizeof st);
    int rc = pydron_graph_stats_get(self->g, &st);
    if (rc < 0)
        return raise_rc(rc);
    return Py_BuildValue("{sKsKsKsKsKsKsKsKsKsKsKsK}", "tasks_added", st.tasks_added,
                         "tasks_done", st.tasks_done, "tasks_failed", st.tasks_failed,
                         "tasks_refined", st.tasks_refined, "tasks_retried", st.tasks_retried,
                         "values_live", st.values_live, "bytes_live", st.bytes_live,
                         "bytes_peak", st.bytes_peak, "bytes_to_workers", st.bytes_to_workers,
                         "bytes_between_workers", st.bytes_between_workers, "bytes_to_driver",
                         st.bytes_to_driver, "wait_ns", st.wait_ns);
}

static PyObject *Graph_get_closed(GraphObject *self, void *c)
{
    return PyBool_FromLong(self->g == NULL);
}

static PyObject *Graph_get_runtime(GraphObject *self, void *c)
{
    PyObject *r = self->runtime ? (PyObject *)self->runtime : Py_None;
    Py_INCREF(r);
    return r;
}

static PyMethodDef Graph_methods[] = {
    {"task", (PyCFunction)(void (*)(void))Graph_task, METH_FASTCALL | METH_KEYWORDS,
     "task(kind, payload, inputs=(), noutputs=1, flags=PURE, label=None, duration=0.0)\n"
     "Add a task; returns its output Value (a tuple if noutputs > 1)."},
    {"constant", (PyCFunction)Graph_constant, METH_O,
     "constant(data) -> Value holding a copy of the bytes."},
    {"input", (PyCFunction)Graph_input, METH_NOARGS, "input() -> Value set later."},
    {"start", (PyCFunction)Graph_start, METH_NOARGS, "Start scheduling."},
    {"run", (PyCFunction)(void (*)(void))Graph_run, METH_VARARGS | METH_KEYWORDS,
     "run(timeout=None): wait for every task added so far (GIL released)."},
    {"cancel", (PyCFunction)Graph_cancel, METH_NOARGS, "Cancel pending tasks."},
    {"interrupt", (PyCFunction)Graph_interrupt, METH_NOARGS,
     "Make a wait on another thread raise Interrupted."},
    {"close", (PyCFunction)Graph_close, METH_NOARGS,
     "Cancel what is pending, wait for running tasks, free the graph."},
    {"dot", (PyCFunction)Graph_dot, METH_NOARGS, "Graphviz DOT text."},
    {"record", (PyCFunction)Graph_record, METH_O,
     "record(max_tasks): keep the graph of the whole run from now on (0: 100,000 tasks)."},
    {"dot_run", (PyCFunction)Graph_dot_run, METH_NOARGS,
     "Graphviz DOT text of the recorded run (finished tasks included)."},
    {"stats", (PyCFunction)Graph_stats, METH_NOARGS, "Counters as a dict."},
    {NULL}};

static PyGetSetDef Graph_getset[] = {
    {"closed", (getter)Graph_get_closed, NULL, "True after close()", NULL},
    {"runtime", (getter)Graph_get_runtime, NULL, "the Runtime", NULL},
    {NULL}};

static PyType_Slot Graph_slots[] = {
    {Py_tp_doc, "Graph(runtime): a data-flow graph run on a Runtime."},
    {Py_tp_new, PyType_GenericNew},
    {Py_tp_init, Graph_init},
    {Py_tp_dealloc, Graph_dealloc},
    {Py_tp_traverse, Graph_traverse},
    {Py_tp_methods, Graph_methods},
    {Py_tp_getset, Graph_getset},
    {0, NULL}};

static PyType_Spec Graph_spec = {"pydron._core.Graph", sizeof(GraphObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC, Graph_slots};

/* ------------------------------------------------------------------------
 * Value
 * ------------------------------------------------------------------------ */
/* Values dropped while the fast path settles results (pdy_release_defer)
 * give their references back in groups of up to 256 under one graph lock
 * (pydron_value_release_many), not a lock each: a loop of tiny calls drops
 * one Value per call. */
static struct {
    int depth;
    GraphObject *graph; /* of the ids held (a strong reference) */
    size_t n;
    pydron_value ids[256];
} RD;

static void rd_flush(void)
{
    GraphObject *gr = RD.graph;
    size_t n = RD.n;
    RD.graph = NULL;
    RD.n = 0;
    if (gr && gr->g && n)
        (void)pydron_value_release_many(gr->g, RD.ids, n); /* as Value_dealloc: no error out */
    Py_XDECREF(gr);
}

void pdy_release_defer(int on)
{
    if (on) {
        RD.depth++;
    } else if (RD.depth > 0) {
        RD.depth--;
        rd_flush();
    }
}

static void Value_dealloc(ValueObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->owned && self->graph && self->graph->g) {
        if (RD.depth > 0) {
            if (RD.graph != self->graph || RD.n == sizeof RD.ids / sizeof RD.ids[0])
                rd_flush();
            if (!RD.graph)
                RD.graph = (GraphObject *)Py_NewRef(self->graph);
            RD.ids[RD.n++] = (pydron_value){self->id};
        } else {
            pydron_value_release(self->graph->g, (pydron_value){self->id});
        }
    }
    Py_CLEAR(self->graph);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static int value_check(ValueObject *self)
{
    return graph_check(self->graph);
}

/* fastcall.h: a Value's bytes when they are on the driver now, with the
 * GIL held throughout (pydron_value_peek: one graph lock). The getbuffer
 * path drops and takes the GIL twice (fetch, bytes), which for a result of
 * a few bytes cost more than decoding it. */
int pdy_value_peek(PyObject *o, const void **data, size_t *len)
{
    if (!ValueType || !Py_IS_TYPE(o, ValueType))
        return 0;
    ValueObject *self = (ValueObject *)o;
    if (!self->graph || !self->graph->g)
        return 0; /* closed: the general path says so */
    return pydron_value_peek(self->graph->g, (pydron_value){self->id}, data, len) == 0;
}

/* fastcall.h: 1 when a Value is no longer pending (ready or failed), 0
 * otherwise (pending, not a Value, closed, an error: not known to be done).
 * No exception is set. */
int pdy_value_done(PyObject *o)
{
    if (!ValueType || !Py_IS_TYPE(o, ValueType))
        return 0;
    ValueObject *self = (ValueObject *)o;
    if (!self->graph || !self->graph->g)
        return 0;
    pydron_value_state st;
    return pydron_value_state_get(self->graph->g, (pydron_value){self->id}, &st) == 0 &&
           st != PYDRON_VALUE_PENDING;
}

static PyObject *task_error(ValueObject *self)
{
    pydron_task t = {0};
    char *msg = NULL;
    void *detail = NULL;
    size_t dlen = 0;
    int rc = pydron_value_error(self->graph->g, (pydron_value){self->id}, &t, &msg, &detail,
                                &dlen);
    if (rc < 0)
        return raise_rc(rc);
    PyObject *m = PyUnicode_DecodeUTF8(msg ? msg : "", msg ? (Py_ssize_t)strlen(msg) : 0,
                                       "replace");
    PyObject *d = detail ? PyBytes_FromStringAndSize(detail, (Py_ssize_t)dlen) : Py_None;
    if (!detail)
        Py_INCREF(Py_None);
    pydron_free(msg);
    pydron_free(detail);
    if (!m || !d) {
        Py_XDECREF(m);
        Py_XDECREF(d);
        return NULL;
    }
    PyObject *exc = PyObject_CallFunction(TaskError, "OOK", m, d, (unsigned long long)t.id);
    Py_DECREF(m);
    Py_DECREF(d);
    if (!exc)
        return NULL;
    PyErr_SetObject(TaskError, exc);
    Py_DECREF(exc);
    return NULL;
}

static PyObject *Value_wait(ValueObject *self, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"timeout", NULL};
    PyObject *to = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "|O", kwlist, &to))
        return NULL;
    if (value_check(self) < 0)
        return NULL;
    int err;
    double t = parse_timeout(to, &err);
    if (err)
        return NULL;
    /* Already produced: no need to drop the GIL (and maybe wait to get it
     * back from another Python thread). */
    pydron_value_state st0;
    if (pydron_value_state_get(self->graph->g, (pydron_value){self->id}, &st0) == 0 &&
        st0 == PYDRON_VALUE_READY)
        Py_RETURN_NONE;
    int rc = wait_loop(self->graph, self->id, t);
    if (rc == 1)
        return NULL;
    if (rc == PYDRON_ETASK || rc == PYDRON_ECANCELED) {
        pydron_value_state st;
        if (pydron_value_state_get(self->graph->g, (pydron_value){self->id}, &st) == 0 &&
            st == PYDRON_VALUE_FAILED && rc == PYDRON_ETASK)
            return task_error(self);
    }
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *Value_state(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    pydron_value_state st;
    int rc = pydron_value_state_get(self->graph->g, (pydron_value){self->id}, &st);
    if (rc < 0)
        return raise_rc(rc);
    return PyLong_FromLong((long)st);
}

/* done(): ready or failed, without waiting. */
static PyObject *Value_done(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    pydron_value_state st;
    int rc = pydron_value_state_get(self->graph->g, (pydron_value){self->id}, &st);
    if (rc < 0)
        return raise_rc(rc);
    return PyBool_FromLong(st != PYDRON_VALUE_PENDING);
}

static PyObject *Value_error(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    pydron_task t = {0};
    char *msg = NULL;
    void *detail = NULL;
    size_t dlen = 0;
    int rc = pydron_value_error(self->graph->g, (pydron_value){self->id}, &t, &msg, &detail,
                                &dlen);
    if (rc < 0)
        return raise_rc(rc);
    PyObject *r = Py_BuildValue("(sy#K)", msg ? msg : "", detail ? (const char *)detail : "",
                                (Py_ssize_t)(detail ? dlen : 0), (unsigned long long)t.id);
    pydron_free(msg);
    pydron_free(detail);
    return r;
}

/* seconds(): how long the value's producer ran (worker clock), or None when
 * it has not finished or its timing is gone. The runtime learns each
 * function's task duration from it (adaptive granularity). */
static PyObject *Value_seconds(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    pydron_task t;
    pydron_task_timing tt;
    if (pydron_value_producer(self->graph->g, (pydron_value){self->id}, &t) < 0 ||
        pydron_task_timing_get(self->graph->g, t, &tt) < 0 || !tt.finished_ns ||
        tt.finished_ns < tt.started_ns || !tt.started_ns)
        Py_RETURN_NONE;
    return PyFloat_FromDouble((double)(tt.finished_ns - tt.started_ns) * 1e-9);
}

static PyObject *Value_size(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    size_t n = 0;
    int rc = pydron_value_size(self->graph->g, (pydron_value){self->id}, &n);
    if (rc < 0)
        return raise_rc(rc);
    return PyLong_FromSize_t(n);
}

/* head(n): the first n bytes when the value's bytes are on the driver now
 * (no fetch, no wait), else None */
static PyObject *Value_head(ValueObject *self, PyObject *arg)
{
    if (value_check(self) < 0)
        return NULL;
    Py_ssize_t n = PyLong_AsSsize_t(arg);
    if (n < 0) {
        if (!PyErr_Occurred())
            PyErr_SetString(PyExc_ValueError, "head: negative length");
        return NULL;
    }
    const void *data;
    size_t len;
    if (pydron_value_peek(self->graph->g, (pydron_value){self->id}, &data, &len) != 0) {
        PyErr_Clear();
        Py_RETURN_NONE;
    }
    return PyBytes_FromStringAndSize(data, (Py_ssize_t)(len < (size_t)n ? len : (size_t)n));
}

static PyObject *Value_note(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    const void *data = NULL;
    size_t n = 0;
    int rc = pydron_value_note(self->graph->g, (pydron_value){self->id}, &data, &n);
    if (rc < 0)
        return raise_rc(rc);
    if (!data)
        Py_RETURN_NONE;
    return PyBytes_FromStringAndSize(data, (Py_ssize_t)n);
}

/* Bring a value's bytes to the driver in slices of WAIT_SLICE_MS, the GIL
 * released, checking for signals between slices (Ctrl-C works while a value
 * crosses; a fetch that never completes no longer hangs the program beyond
 * reach). Returns 0 when the bytes are here, 1 with a Python exception set,
 * or a negative PYDRON_E... code for the caller to map. */
static int fetch_loop(ValueObject *self)
{
    int waited = 0;
    for (;;) {
        pydron_graph *g = self->graph->g;
        if (!g) {
            PyErr_SetString(ErrTypes[-PYDRON_ECLOSED], "graph closed while fetching a value");
            return 1;
        }
        int rc;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_value_fetch(g, (pydron_value){self->id}, WAIT_SLICE_MS);
        Py_END_ALLOW_THREADS
        if (rc == PYDRON_ESTATE && waited) {
            /* lost with its worker while we fetched it and being made
             * again: wait for it (sliced too), then fetch anew */
            rc = wait_loop(self->graph, self->id, -1.0);
            if (rc == 1)
                return 1;
            if (rc == 0)
                continue;
        }
        if (rc != PYDRON_ETIMEDOUT)
            return rc;
        waited = 1;
        if (PyErr_CheckSignals() < 0)
            return 1;
    }
}

/* bytes(): a copy of the value's bytes (fetches them if remote). */
static PyObject *Value_bytes(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    const void *data = NULL;
    size_t len = 0;
    int rc = fetch_loop(self);
    if (rc == 1)
        return NULL;
    if (rc == 0) {
        pydron_graph *g = self->graph->g;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_value_bytes(g, (pydron_value){self->id}, &data, &len);
        Py_END_ALLOW_THREADS
    }
    if (rc == PYDRON_ETASK)
        return task_error(self);
    if (rc < 0)
        return raise_rc(rc);
    return PyBytes_FromStringAndSize(data, (Py_ssize_t)len);
}

static int Value_getbuffer(ValueObject *self, Py_buffer *view, int flags)
{
    if (value_check(self) < 0)
        return -1;
    if (flags & PyBUF_WRITABLE) {
        PyErr_SetString(PyExc_BufferError, "pydron values are read-only");
        return -1;
    }
    const void *data = NULL;
    size_t len = 0;
    int rc = fetch_loop(self);
    if (rc == 1)
        return -1;
    if (rc == 0) {
        pydron_graph *g = self->graph->g;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_value_bytes(g, (pydron_value){self->id}, &data, &len);
        Py_END_ALLOW_THREADS
    }
    if (rc < 0) {
        if (rc == PYDRON_ETASK)
            task_error(self);
        else
            raise_rc(rc);
        return -1;
    }
    /* The view stays valid while we hold our reference; the exporter (self)
     * is kept alive by the view. */
    return PyBuffer_FillInfo(view, (PyObject *)self, (void *)(data ? data : ""),
                             (Py_ssize_t)len, 1, flags);
}

/* ---- PrivateBuffer: a writable copy-on-write mapping of a value
 * (pydron_value_map_private), unmapped when the object goes; a memoryview
 * or numpy array over it keeps it alive. */
typedef struct {
    PyObject_HEAD
    void *addr;
    size_t len;
} PrivateBufferObject;

static int PrivateBuffer_getbuffer(PrivateBufferObject *self, Py_buffer *view, int flags)
{
    return PyBuffer_FillInfo(view, (PyObject *)self, self->addr, (Py_ssize_t)self->len, 0, flags);
}

static void PrivateBuffer_dealloc(PrivateBufferObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->addr)
        pydron_value_unmap(self->addr, self->len);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static Py_ssize_t PrivateBuffer_len(PrivateBufferObject *self) { return (Py_ssize_t)self->len; }

static PyType_Slot PrivateBuffer_slots[] = {
    {Py_tp_doc, "A private writable (copy-on-write) mapping of a value's bytes."},
    {Py_tp_dealloc, PrivateBuffer_dealloc},
    {Py_sq_length, PrivateBuffer_len},
#if PY_VERSION_HEX >= 0x03090000
    {Py_bf_getbuffer, PrivateBuffer_getbuffer},
#endif
    {0, NULL}};

static PyType_Spec PrivateBuffer_spec = {"pydron._core.PrivateBuffer",
                                         sizeof(PrivateBufferObject), 0, Py_TPFLAGS_DEFAULT,
                                         PrivateBuffer_slots};

/* private_buffer() -> PrivateBuffer or None: the value's bytes, writable,
 * without a copy (pages are copied as they are written); None when the
 * value is not in shared memory (copy bytes() instead). */
static PyObject *Value_private_buffer(ValueObject *self, PyObject *unused)
{
    if (value_check(self) < 0)
        return NULL;
    void *addr = NULL;
    size_t len = 0;
    int rc = fetch_loop(self);
    if (rc == 1)
        return NULL;
    if (rc == 0) {
        pydron_graph *g = self->graph->g;
        Py_BEGIN_ALLOW_THREADS
        rc = pydron_value_map_private(g, (pydron_value){self->id}, &addr, &len);
        Py_END_ALLOW_THREADS
    }
    if (rc == PYDRON_ENOTSUP)
        Py_RETURN_NONE;
    if (rc == PYDRON_ETASK)
        return task_error(self);
    if (rc < 0)
        return raise_rc(rc);
    PrivateBufferObject *b = PyObject_New(PrivateBufferObject, PrivateBufferType);
    if (!b) {
        pydron_value_unmap(addr, len);
        return NULL;
    }
    b->addr = addr;
    b->len = len;
    return (PyObject *)b;
}

static PyObject *Value_get_id(ValueObject *self, void *c)
{
    return PyLong_FromUnsignedLongLong(self->id);
}

static PyObject *Value_get_graph(ValueObject *self, void *c)
{
    Py_INCREF(self->graph);
    return (PyObject *)self->graph;
}

static PyObject *Value_repr(ValueObject *self)
{
    return PyUnicode_FromFormat("<pydron._core.Value %llu>", (unsigned long long)self->id);
}

static PyMethodDef Value_methods[] = {
    {"wait", (PyCFunction)(void (*)(void))Value_wait, METH_VARARGS | METH_KEYWORDS,
     "wait(timeout=None): block (GIL released) until ready; raises TaskError if the "
     "producer failed, WaitTimeout on timeout."},
    {"state", (PyCFunction)Value_state, METH_NOARGS,
     "0 pending, 1 ready, 2 failed, 3 released"},
    {"done", (PyCFunction)Value_done, METH_NOARGS, "True once ready or failed."},
    {"error", (PyCFunction)Value_error, METH_NOARGS,
     "(message, detail bytes, task id) of a failed value."},
    {"size", (PyCFunction)Value_size, METH_NOARGS, "Size in bytes of a ready value."},
    {"head", (PyCFunction)Value_head, METH_O,
     "head(n): the first n bytes if the value's bytes are on the driver now, else None."},
    {"note", (PyCFunction)Value_note, METH_NOARGS,
     "The note that came with the value from the worker holding its bytes "
     "(pydron_value_note), or None."},
    {"seconds", (PyCFunction)Value_seconds, METH_NOARGS,
     "How long the value's producer task ran (seconds), or None if unknown."},
    {"bytes", (PyCFunction)Value_bytes, METH_NOARGS, "A copy of the ready value's bytes."},
    {"private_buffer", (PyCFunction)Value_private_buffer, METH_NOARGS,
     "A writable copy-on-write mapping of the ready value's bytes (no copy), or None "
     "if the value is not in shared memory."},
    {NULL}};

static PyGetSetDef Value_getset[] = {{"id", (getter)Value_get_id, NULL, "value id", NULL},
                                     {"graph", (getter)Value_get_graph, NULL, "the Graph", NULL},
                                     {NULL}};

static PyType_Slot Value_slots[] = {
    {Py_tp_doc, "One reference to a graph value; exports its bytes (buffer protocol)."},
    {Py_tp_dealloc, Value_dealloc},
    {Py_tp_methods, Value_methods},
    {Py_tp_getset, Value_getset},
    {Py_tp_repr, Value_repr},
#if PY_VERSION_HEX >= 0x03090000
    {Py_bf_getbuffer, Value_getbuffer},
#endif
    {0, NULL}};

static PyType_Spec Value_spec = {"pydron._core.Value", sizeof(ValueObject), 0,
                                 Py_TPFLAGS_DEFAULT, Value_slots};

/* ------------------------------------------------------------------------
 * Module functions
 * ------------------------------------------------------------------------ */
static PyObject *mod_version(PyObject *m, PyObject *unused)
{
    return PyLong_FromLong(pydron_version());
}

static PyObject *mod_version_string(PyObject *m, PyObject *unused)
{
    return PyUnicode_FromString(pydron_version_string());
}

static PyObject *mod_strerror(PyObject *m, PyObject *arg)
{
    long rc = PyLong_AsLong(arg);
    if (rc == -1 && PyErr_Occurred())
        return NULL;
    return PyUnicode_FromString(pydron_strerror((int)rc));
}

/* worker_main(url, secret=None, worker_id=-1, threads=0, runner=None,
 *             tls_ca_file=None, exit_with_parent=True, listen_peer_url=None) */
static PyObject *mod_worker_main(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"url", "secret", "worker_id", "threads", "runner", "tls_ca_file",
                             "exit_with_parent", "listen_peer_url", "connect_timeout_ms",
                             NULL};
    const char *url, *secret = NULL, *ca = NULL, *peer = NULL;
    int wid = -1, ewp = 1;
    unsigned threads = 0, connect_ms = 0;
    PyObject *runner = Py_None;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "s|ziIOzpzI", kwlist, &url, &secret, &wid,
                                     &threads, &runner, &ca, &ewp, &peer, &connect_ms))
        return NULL;
    if (!pydron_worker_main || !pydron_worker_options_init_version) {
        PyErr_SetString(ErrTypes[-PYDRON_ENOTSUP], "this libpydron has no worker loop");
        return NULL;
    }
    pydron_worker_options o;
    pydron_worker_options_init(&o);
    o.url = url;
    o.secret = secret;
    o.tls_ca_file = ca;
    o.worker_id = wid;
    o.threads = threads;
    o.exit_with_parent = ewp;
    o.listen_peer_url = peer;
    o.connect_timeout_ms = connect_ms;
    pyrunner *r = NULL;
    pydron_worker_runner wr;
    if (runner != Py_None) {
        if (!PyCallable_Check(runner)) {
            PyErr_SetString(PyExc_TypeError, "runner must be callable");
            return NULL;
        }
        r = pyrunner_new(runner);
        if (!r)
            return NULL;
        wr.kind_name = "python";
        wr.ops = &pyrunner_ops;
        wr.self = r;
        o.runners = &wr;
        o.nrunners = 1;
    }
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_worker_main(&o);
    Py_END_ALLOW_THREADS
    if (r) {
        Py_CLEAR(r->fn);
        free(r);
    }
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

/* trace_start(path, buffer_bytes=0) */
static PyObject *mod_trace_start(PyObject *m, PyObject *args, PyObject *kw)
{
    static char *kwlist[] = {"path", "buffer_bytes", NULL};
    PyObject *path;
    Py_ssize_t buf = 0;
    if (!PyArg_ParseTupleAndKeywords(args, kw, "O&|n", kwlist, PyUnicode_FSConverter, &path, &buf))
        return NULL;
    if (buf < 0) {
        Py_DECREF(path);
        PyErr_SetString(PyExc_ValueError, "buffer_bytes must be >= 0");
        return NULL;
    }
    pydron_trace_options o = PYDRON_TRACE_OPTIONS_INIT;
    o.path = PyBytes_AS_STRING(path);
    o.buffer_bytes = (size_t)buf;
    int rc = pydron_trace_start(&o);
    Py_DECREF(path);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_trace_stop(PyObject *m, PyObject *unused)
{
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_trace_stop();
    Py_END_ALLOW_THREADS
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_trace_active(PyObject *m, PyObject *unused)
{
    return PyBool_FromLong(pydron_trace_active());
}

/* trace_span(category, name, start_ns, end_ns): time.monotonic_ns() values */
static PyObject *mod_trace_span(PyObject *m, PyObject *args)
{
    const char *cat, *name;
    unsigned long long t0, t1;
    if (!PyArg_ParseTuple(args, "zsKK", &cat, &name, &t0, &t1))
        return NULL;
    int rc = pydron_trace_span(cat, name, (uint64_t)t0, (uint64_t)t1);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

/* buffer_key(obj) -> (address, length) of a C-contiguous buffer: which memory
 * an argument is (the runtime's cache of large constants is keyed by it). */
static PyObject *mod_buffer_key(PyObject *m, PyObject *arg)
{
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    PyObject *r = Py_BuildValue("(Kn)", (unsigned long long)(uintptr_t)v.buf, v.len);
    PyBuffer_Release(&v);
    return r;
}

/* type_tag(cls) -> CPython's version tag of the class (its method cache's
 * key), assigned now if it has none: the same nonzero tag read again means
 * no attribute of cls or of a class in its MRO was set or deleted between
 * the reads (type_setattro calls PyType_Modified, which clears it on the
 * class and its subclasses). 0: no tag could be assigned (tags ran out);
 * the caller compares the class's dict instead. A class version's check
 * (_state.ClassState.changed) compared every entry of the dict per call. */
static PyObject *mod_type_tag(PyObject *m, PyObject *arg)
{
    (void)m;
    if (!PyType_Check(arg)) {
        PyErr_SetString(PyExc_TypeError, "type_tag(cls): cls must be a class");
        return NULL;
    }
    PyTypeObject *t = (PyTypeObject *)arg;
#if PY_VERSION_HEX >= 0x030C0000
    if (!PyUnstable_Type_AssignVersionTag(t))
        return PyLong_FromLong(0);
#else
    if (!PyType_HasFeature(t, Py_TPFLAGS_VALID_VERSION_TAG)) {
        /* a lookup assigns one (3.11 has no call that only does that) */
        static PyObject *probe;
        if (!probe && !(probe = PyUnicode_InternFromString("__pydron_type_tag__")))
            return NULL;
        (void)_PyType_Lookup(t, probe); /* borrowed; never raises */
    }
    if (!PyType_HasFeature(t, Py_TPFLAGS_VALID_VERSION_TAG))
        return PyLong_FromLong(0);
#endif
    return PyLong_FromUnsignedLong(t->tp_version_tag);
}

/* call_site(prefix) -> (id of the frame, code, lasti, lineno) of the nearest
 * Python frame whose code's file name does not start with prefix (pydron's
 * own package), or None. Every @functional call records where the program
 * made it (a failure's traceback points there); the frame walk in Python
 * cost ~3 k instructions per task. */
static PyObject *mod_call_site(PyObject *m, PyObject *prefix)
{
    (void)m;
    if (!PyUnicode_Check(prefix)) {
        PyErr_SetString(PyExc_TypeError, "call_site(prefix): prefix must be a str");
        return NULL;
    }
    PyFrameObject *f = PyEval_GetFrame(); /* borrowed */
    Py_XINCREF(f);
    while (f) {
        PyCodeObject *co = PyFrame_GetCode(f);
        Py_ssize_t own = PyUnicode_Tailmatch(co->co_filename, prefix, 0, PY_SSIZE_T_MAX, -1);
        if (own < 0) {
            Py_DECREF(co);
            Py_DECREF(f);
            return NULL;
        }
        if (!own) {
            /* (per task: a tuple built directly, Py_BuildValue parses its format) */
            PyObject *r = PyTuple_New(4), *id = PyLong_FromVoidPtr(f),
                     *lasti = PyLong_FromLong(PyFrame_GetLasti(f)),
                     *line = PyLong_FromLong(PyFrame_GetLineNumber(f));
            Py_DECREF(f);
            if (!r || !id || !lasti || !line) {
                Py_XDECREF(r);
                Py_XDECREF(id);
                Py_XDECREF(lasti);
                Py_XDECREF(line);
                Py_DECREF(co);
                return NULL;
            }
            PyTuple_SET_ITEM(r, 0, id);
            PyTuple_SET_ITEM(r, 1, (PyObject *)co); /* the reference PyFrame_GetCode gave */
            PyTuple_SET_ITEM(r, 2, lasti);
            PyTuple_SET_ITEM(r, 3, line);
            return r;
        }
        Py_DECREF(co);
        PyFrameObject *back = PyFrame_GetBack(f);
        Py_DECREF(f);
        f = back;
    }
    Py_RETURN_NONE;
}

/* The C-contiguous buffers of a and b (from args "OO"): 0, or -1 with an
 * exception and nothing held. */
static int two_buffers(PyObject *args, Py_buffer *x, Py_buffer *y)
{
    PyObject *a, *b;
    if (!PyArg_ParseTuple(args, "OO", &a, &b))
        return -1;
    if (PyObject_GetBuffer(a, x, PyBUF_C_CONTIGUOUS) < 0)
        return -1;
    if (PyObject_GetBuffer(b, y, PyBUF_C_CONTIGUOUS) < 0) {
        PyBuffer_Release(x);
        return -1;
    }
    return 0;
}

/* same_bytes(a, b) -> bool: equal length and content (memcmp with the GIL
 * released). Sound change detection for a large argument handed again: the
 * constant made from it last time is reused only when every byte matches. */
static PyObject *mod_same_bytes(PyObject *m, PyObject *args)
{
    Py_buffer x, y;
    if (two_buffers(args, &x, &y) < 0)
        return NULL;
    int same = x.len == y.len;
    if (same && x.buf != y.buf && x.len) {
        Py_BEGIN_ALLOW_THREADS
        same = memcmp(x.buf, y.buf, (size_t)x.len) == 0;
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    return PyBool_FromLong(same);
}

/* WriteWatch: the pages of a large argument written since it was last
 * checked (wtrack.c). watch(buffer) -> WriteWatch, or None when this memory
 * cannot be watched; ending the object ends the watch. */
typedef struct {
    PyObject_HEAD
    uint64_t id;
} WatchObject;

static PyTypeObject *WatchType;

static void Watch_dealloc(WatchObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    if (self->id)
        pdy_wt_stop(self->id);
    tp->tp_free((PyObject *)self);
    Py_DECREF(tp);
}

/* same(snapshot, buffer) -> True (unchanged since the watch started), False
 * (changed), or None (cannot tell: compare the bytes). Anything but True
 * ends the watch. */
static PyObject *Watch_same(WatchObject *self, PyObject *args)
{
    Py_buffer x, y;
    if (two_buffers(args, &x, &y) < 0)
        return NULL;
    if (!self->id) {
        PyBuffer_Release(&x);
        PyBuffer_Release(&y);
        Py_RETURN_NONE;
    }
    int r = 0;
    uint64_t id = self->id;
    if (x.len == y.len) {
        /* the pages written are compared without the GIL, as same_bytes does */
        Py_BEGIN_ALLOW_THREADS
        r = pdy_wt_same(id, y.buf, (size_t)y.len, x.buf);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&x);
    PyBuffer_Release(&y);
    if (r != 1) {
        /* a change or a doubt ends the watch (pdy_wt_same ended it already,
         * but for buffers of different lengths) */
        pdy_wt_stop(id);
        self->id = 0;
    }
    if (r < 0)
        Py_RETURN_NONE;
    return PyBool_FromLong(r);
}

static PyObject *Watch_stop(WatchObject *self, PyObject *unused)
{
    (void)unused;
    if (self->id)
        pdy_wt_stop(self->id);
    self->id = 0;
    Py_RETURN_NONE;
}

static PyObject *Watch_live(WatchObject *self, void *closure)
{
    (void)closure;
    return PyBool_FromLong(self->id && pdy_wt_live(self->id));
}

static PyMethodDef Watch_methods[] = {
    {"same", (PyCFunction)Watch_same, METH_VARARGS,
     "same(snapshot, buffer) -> True/False/None: unchanged since the last check?"},
    {"stop", (PyCFunction)Watch_stop, METH_NOARGS, "End the watch."},
    {NULL}};

static PyGetSetDef Watch_getset[] = {
    {"live", (getter)Watch_live, NULL, "Whether the watch is on.", NULL}, {NULL}};

static PyType_Slot Watch_slots[] = {{Py_tp_dealloc, Watch_dealloc},
                                    {Py_tp_methods, Watch_methods},
                                    {Py_tp_getset, Watch_getset},
                                    {Py_tp_doc, "The pages of a buffer written since a check."},
                                    {0, NULL}};

static PyType_Spec Watch_spec = {"pydron._core.WriteWatch", sizeof(WatchObject), 0,
                                 Py_TPFLAGS_DEFAULT | Py_TPFLAGS_DISALLOW_INSTANTIATION,
                                 Watch_slots};

static PyObject *mod_watch(PyObject *m, PyObject *arg)
{
    (void)m;
    Py_buffer v;
    if (PyObject_GetBuffer(arg, &v, PyBUF_C_CONTIGUOUS) < 0)
        return NULL;
    uint64_t id = 0;
    if (v.len) {
        Py_BEGIN_ALLOW_THREADS   /* reads /proc/self/maps, protects every page */
        id = pdy_wt_start(v.buf, (size_t)v.len);
        Py_END_ALLOW_THREADS
    }
    PyBuffer_Release(&v);
    if (!id)
        Py_RETURN_NONE;
    WatchObject *w = PyObject_New(WatchObject, WatchType);
    if (!w) {
        pdy_wt_stop(id);
        return NULL;
    }
    w->id = id;
    return (PyObject *)w;
}

static PyObject *mod_watch_count(PyObject *m, PyObject *unused)
{
    (void)m;
    (void)unused;
    return PyLong_FromSize_t(pdy_wt_count());
}

/* The shared secret: the Python worker and configure() use the library's
 * own parser and checks, so C and Python accept exactly the same secrets. */
static int have_secret_api(void)
{
    if (pydron_secret_check && pydron_secret_read_file && pydron_secret_generate)
        return 1;
    PyErr_SetString(ErrTypes[-PYDRON_ENOTSUP], "this libpydron has no secret functions");
    return 0;
}

static PyObject *mod_secret_read_file(PyObject *m, PyObject *arg)
{
    PyObject *b;
    if (!have_secret_api() || !PyUnicode_FSConverter(arg, &b))
        return NULL;
    char buf[PYDRON_SECRET_MAX + 1];
    size_t n = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = pydron_secret_read_file(PyBytes_AS_STRING(b), buf, sizeof buf, &n);
    Py_END_ALLOW_THREADS
    Py_DECREF(b);
    if (rc < 0)
        return raise_rc(rc);
    PyObject *r = PyUnicode_DecodeUTF8(buf, (Py_ssize_t)n, "surrogateescape");
    memset(buf, 0, sizeof buf);
    return r;
}

static PyObject *mod_secret_check(PyObject *m, PyObject *arg)
{
    Py_ssize_t n;
    const char *s = PyUnicode_AsUTF8AndSize(arg, &n);
    if (!s || !have_secret_api())
        return NULL;
    int rc = pydron_secret_check(s, (size_t)n);
    if (rc < 0)
        return raise_rc(rc);
    Py_RETURN_NONE;
}

static PyObject *mod_secret_generate(PyObject *m, PyObject *unused)
{
    char buf[PYDRON_SECRET_MAX + 1];
    if (!have_secret_api())
        return NULL;
    int rc = pydron_secret_generate(buf, sizeof buf);
    if (rc < 0)
        return raise_rc(rc);
    return PyUnicode_FromString(buf);
}

static PyMethodDef module_methods[] = {
    {"buffer_key", mod_buffer_key, METH_O, "(address, length) of a contiguous buffer."},
    {"type_tag", mod_type_tag, METH_O,
     "CPython's version tag of a class (the same nonzero tag: not changed since), or 0."},
    {"call_site", mod_call_site, METH_O,
     "call_site(prefix) -> (frame id, code, lasti, lineno) of the nearest frame not from "
     "files under prefix, or None."},
    {"same_bytes", mod_same_bytes, METH_VARARGS,
     "Whether two contiguous buffers hold the same bytes (memcmp, GIL released)."},
    {"watch", mod_watch, METH_O,
     "watch(buffer) -> WriteWatch of the pages holding it, or None when this process cannot "
     "watch that memory."},
    {"watch_count", mod_watch_count, METH_NOARGS, "How many WriteWatch are on (tests)."},
    {"secret_read_file", mod_secret_read_file, METH_O,
     "Read a shared secret file (pydron_secret_read_file): refuses files others can read "
     "and weak secrets."},
    {"secret_check", mod_secret_check, METH_O,
     "Raise InvalidArgumentError if a secret is too weak (pydron_secret_check)."},
    {"secret_generate", mod_secret_generate, METH_NOARGS,
     "A new random shared secret (64 hex characters)."},
    {"version", mod_version, METH_NOARGS, "Version number of the linked libpydron."},
    {"version_string", mod_version_string, METH_NOARGS,
     "Version of the linked libpydron, as pydron_version_string() gives it."},
    {"trace_start", (PyCFunction)(void (*)(void))mod_trace_start, METH_VARARGS | METH_KEYWORDS,
     "trace_start(path, buffer_bytes=0): write the process's trace (pydron_trace_start)."},
    {"trace_stop", mod_trace_stop, METH_NOARGS, "Finish and close the trace file, if any."},
    {"trace_active", mod_trace_active, METH_NOARGS, "True while a trace is being written."},
    {"trace_span", mod_trace_span, METH_VARARGS,
     "trace_span(category, name, start_ns, end_ns): a span on the driver's track "
     "(times from time.monotonic_ns())."},
    {"strerror", mod_strerror, METH_O, "Description of a pydron error code."},
    {"output_note", mod_output_note, METH_VARARGS,
     "output_note(i, data): in a task body, a note for output i that reaches the driver "
     "with the completion when the output stays on its worker (pydron_ctx_output_note)."},
    {"worker_main", (PyCFunction)(void (*)(void))mod_worker_main, METH_VARARGS | METH_KEYWORDS,
     "Run the worker loop (pydron_worker_main) with runner registered as kind 'python'."},
    {NULL}};

static struct PyModuleDef coremodule = {PyModuleDef_HEAD_INIT, "pydron._core",
                                        "CPython binding of libpydron (include/pydron.h).", -1,
                                        module_methods};

static PyObject *new_exc(PyObject *m, const char *name, PyObject *bases, const char *doc)
{
    char full[128];
    snprintf(full, sizeof full, "pydron._core.%s", name);
    PyObject *e = PyErr_NewExceptionWithDoc(full, doc, bases, NULL);
    if (!e)
        return NULL;
    Py_INCREF(e);
    if (PyModule_AddObject(m, name, e) < 0) {
        Py_DECREF(e);
        Py_DECREF(e);
        return NULL;
    }
    return e;
}

static PyObject *bases2(PyObject *a, PyObject *b)
{
    return PyTuple_Pack(2, a, b);
}

PyMODINIT_FUNC PyInit__core(void)
{
    /* Version gate: the compiled-against header must match the library. */
    int lib = pydron_version();
    if (lib / 100 != PYDRON_VERSION_NUMBER / 100) {
        PyErr_Format(PyExc_ImportError,
                     "pydron._core was built for libpydron %s (%d) but libpydron %s (%d) is "
                     "loaded",
                     PYDRON_VERSION_STRING, PYDRON_VERSION_NUMBER, pydron_version_string(), lib);
        return NULL;
    }
    PyObject *m = PyModule_Create(&coremodule);
    if (!m)
        return NULL;
    PydronError = new_exc(m, "PydronError", NULL, "Base class of pydron errors.");
    if (!PydronError)
        goto fail;
    struct {
        int rc;
        const char *name;
        PyObject *builtin;
    } map[] = {
        {PYDRON_EINVAL, "InvalidArgumentError", PyExc_ValueError},
        {PYDRON_ESTALE, "StaleIdError", PyExc_LookupError},
        {PYDRON_ESTATE, "StateError", NULL},
        {PYDRON_ECYCLE, "CycleError", NULL},
        {PYDRON_ETIMEDOUT, "WaitTimeout", PyExc_TimeoutError},
        {PYDRON_ECANCELED, "CanceledError", NULL},
        {PYDRON_ENOTFOUND, "NotFoundError", PyExc_LookupError},
        {PYDRON_EIO, "TransportError", PyExc_OSError},
        {PYDRON_EPROTO, "ProtocolError", NULL},
        {PYDRON_EAUTH, "AuthError", NULL},
        {PYDRON_ECLOSED, "ClosedError", NULL},
        {PYDRON_ENOTSUP, "NotSupportedError", NULL},
        {PYDRON_ERANGE, "RangeError", PyExc_ValueError},
        {PYDRON_EEXIST, "ExistsError", NULL},
        {PYDRON_EBUSY, "BusyError", NULL},
        {PYDRON_EINTR, "Interrupted", NULL},
    };
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++) {
        PyObject *bases = map[i].builtin ? bases2(PydronError, map[i].builtin)
                                         : PyTuple_Pack(1, PydronError);
        if (!bases)
            goto fail;
        PyObject *e = new_exc(m, map[i].name, bases, NULL);
        Py_DECREF(bases);
        if (!e)
            goto fail;
        ErrTypes[-map[i].rc] = e;
    }
    /* TaskError(message, detail, task): a task failed; detail is the opaque
     * bytes the runner attached (pickled exception + traceback). */
    TaskError = new_exc(m, "TaskError", PydronError,
                        "A task failed: args are (message, detail bytes or None, task id).");
    if (!TaskError)
        goto fail;
    ErrTypes[-PYDRON_ETASK] = TaskError;
    TaskFailed = new_exc(m, "TaskFailed", NULL,
                         "Raised by a runner callable: TaskFailed(message, detail bytes).");
    if (!TaskFailed)
        goto fail;

    RuntimeType = (PyTypeObject *)PyType_FromSpec(&Runtime_spec);
    GraphType = (PyTypeObject *)PyType_FromSpec(&Graph_spec);
    ValueType = (PyTypeObject *)PyType_FromSpec(&Value_spec);
    PrivateBufferType = (PyTypeObject *)PyType_FromSpec(&PrivateBuffer_spec);
    WatchType = (PyTypeObject *)PyType_FromSpec(&Watch_spec);
    if (!RuntimeType || !GraphType || !ValueType || !PrivateBufferType || !WatchType)
        goto fail;
    Py_INCREF(RuntimeType);
    Py_INCREF(GraphType);
    Py_INCREF(ValueType);
    if (PyModule_AddObject(m, "Runtime", (PyObject *)RuntimeType) < 0 ||
        PyModule_AddObject(m, "Graph", (PyObject *)GraphType) < 0 ||
        PyModule_AddObject(m, "Value", (PyObject *)ValueType) < 0)
        goto fail;
    Py_INCREF(WatchType);
    if (PyModule_AddObject(m, "WriteWatch", (PyObject *)WatchType) < 0)
        goto fail;
    Py_INCREF(PrivateBufferType);
    if (PyModule_AddObject(m, "PrivateBuffer", (PyObject *)PrivateBufferType) < 0)
        goto fail;
    if (pdy_pyexec_init(m) < 0)
        goto fail;
    if (pdy_fastcall_init(m) < 0)
        goto fail;
    if (pdy_batchrun_init(m) < 0)
        goto fail;
    PyModule_AddIntConstant(m, "VERSION_NUMBER", PYDRON_VERSION_NUMBER);
    PyModule_AddStringConstant(m, "VERSION_STRING", PYDRON_VERSION_STRING);
    PyModule_AddIntConstant(m, "PURE", PYDRON_TASK_PURE);
    PyModule_AddIntConstant(m, "SYNC", PYDRON_TASK_SYNC);
    PyModule_AddIntConstant(m, "REFINABLE", PYDRON_TASK_REFINABLE);
    PyModule_AddIntConstant(m, "PENDING", PYDRON_VALUE_PENDING);
    PyModule_AddIntConstant(m, "READY", PYDRON_VALUE_READY);
    PyModule_AddIntConstant(m, "FAILED", PYDRON_VALUE_FAILED);
    PyModule_AddIntConstant(m, "RELEASED", PYDRON_VALUE_RELEASED);
    return m;
fail:
    Py_DECREF(m);
    return NULL;
}
