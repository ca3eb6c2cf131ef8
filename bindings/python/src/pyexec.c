/*
 * pyexec.c - an executor written in Python (pydron._dask runs the tasks on a
 * Dask cluster) behind the C executor contract of include/pydron.h.
 *
 * The ops table only queues: submit, fetch and release push events under a
 * mutex (they must not block, and release runs with the graph lock held), and
 * recall/stop hand back the jobs still queued. A Python thread of the
 * executor takes the events (ExecBridge.take, GIL released while it waits)
 * and reports back through Job methods (outputs, error, done) and
 * ExecBridge.fetched. Events posted from Python (ExecBridge.post: Dask's
 * completion callbacks) share the queue, so one thread serves both.
 *
 * Lifetime: Runtime.set_executor hands the runtime one reference to the
 * bridge; destroy() drops it. The bridge holds the Python executor object;
 * the executor's stop() drops its own reference to the bridge.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pydron.h"
#include "pyexec.h"

enum { EV_JOB = 1, EV_FETCH = 2, EV_RELEASE = 3, EV_POST = 4 };

typedef struct {
    int type;
    pydron_job *job;
    uint64_t value;
    PyObject *obj; /* EV_POST: owned reference */
} ev;

typedef struct {
    PyObject_HEAD
    pthread_mutex_t lock;
    pthread_cond_t cond;
    ev *q;
    size_t n, cap;
    pydron_exec_host *host;
    PyObject *obj; /* the Python executor: obj.stop() at stop */
    unsigned nworkers, in_flight;
    int stopping;
} BridgeObject;

typedef struct {
    PyObject_HEAD
    pydron_job *j;
} JobObject;

static PyTypeObject *BridgeType;
static PyTypeObject *JobType;

static int is_finalizing(void)
{
#if PY_VERSION_HEX >= 0x030D0000
    return Py_IsFinalizing();
#else
    return _Py_IsFinalizing();
#endif
}

/* lock held */
static int reserve(BridgeObject *b, size_t more)
{
    if (b->n + more <= b->cap)
        return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->n + more)
        cap *= 2;
    ev *q = realloc(b->q, cap * sizeof *q);
    if (!q)
        return -1;
    b->q = q;
    b->cap = cap;
    return 0;
}

static int push(BridgeObject *b, int type, pydron_job *j, uint64_t v)
{
    pthread_mutex_lock(&b->lock);
    if (reserve(b, 1) < 0) {
        pthread_mutex_unlock(&b->lock);
        return PYDRON_ENOMEM;
    }
    b->q[b->n++] = (ev){type, j, v, NULL};
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

/* -- the ops table --------------------------------------------------------- */

static int op_start(void *self, pydron_exec_host *host, unsigned *nworkers, unsigned *in_flight)
{
    BridgeObject *b = self;
    pthread_mutex_lock(&b->lock);
    b->host = host;
    pthread_mutex_unlock(&b->lock);
    *nworkers = b->nworkers;
    *in_flight = b->in_flight;
    return 0;
}

static int op_submit(void *self, pydron_job *const *jobs, size_t n, unsigned worker)
{
    BridgeObject *b = self;
    pthread_mutex_lock(&b->lock);
    if (b->stopping || reserve(b, n) < 0) {
        int rc = b->stopping ? PYDRON_ECLOSED : PYDRON_ENOMEM;
        pthread_mutex_unlock(&b->lock);
        return rc;
    }
    for (size_t i = 0; i < n; i++)
        b->q[b->n++] = (ev){EV_JOB, jobs[i], 0, NULL};
    pthread_cond_signal(&b->cond);
    pthread_mutex_unlock(&b->lock);
    return 0;
}

static int op_fetch(void *self, pydron_value v, unsigned worker)
{
    return push(self, EV_FETCH, NULL, v.id);
}

static void op_release(void *self, pydron_value v, unsigned worker)
{
    (void)push(self, EV_RELEASE, NULL, v.id); /* out of memory: the engine keeps it */
}

/* Take the queued jobs out (all, or only the canceled ones); lock held. */
static size_t take_jobs(BridgeObject *b, pydron_job **out, int canceled_only)
{
    size_t keep = 0, k = 0;
    for (size_t i = 0; i < b->n; i++) {
        ev e = b->q[i];
        if (e.type == EV_JOB && (!canceled_only || pydron_job_canceled(e.job)))
            out[k++] = e.job;
        else
            b->q[keep++] = e;
    }
    b->n = keep;
    return k;
}

static void cancel_queued(BridgeObject *b, int canceled_only)
{
    pthread_mutex_lock(&b->lock);
    pydron_job **jobs = malloc((b->n ? b->n : 1) * sizeof *jobs);
    size_t k = jobs ? take_jobs(b, jobs, canceled_only) : 0;
    pthread_mutex_unlock(&b->lock);
    for (size_t i = 0; i < k; i++)
        pydron_job_done(jobs[i], PYDRON_ECANCELED);
    free(jobs);
}

static void op_recall(void *self)
{
    cancel_queued(self, 1);
}

static void op_stop(void *self)
{
    BridgeObject *b = self;
    pthread_mutex_lock(&b->lock);
    b->stopping = 1;
    pthread_cond_broadcast(&b->cond);
    pthread_mutex_unlock(&b->lock);
    cancel_queued(b, 0);
    if (is_finalizing())
        return;
    /* the Python side cancels what it holds and reports it, joins its thread */
    PyGILState_STATE gs = PyGILState_Ensure();
    PyObject *r = b->obj ? PyObject_CallMethod(b->obj, "stop", NULL) : NULL;
    if (!r && PyErr_Occurred())
        PyErr_WriteUnraisable(b->obj);
    Py_XDECREF(r);
    PyGILState_Release(gs);
}

static void op_destroy(void *self)
{
    BridgeObject *b = self;
    if (is_finalizing())
        return; /* leak rather than touch a dying interpreter */
    PyGILState_STATE gs = PyGILState_Ensure();
    Py_DECREF(b);
    PyGILState_Release(gs);
}

static const pydron_executor_ops bridge_ops = {
    PYDRON_EXECUTOR_OPS_VERSION, "python", op_start, op_submit, NULL, op_fetch, op_release,
    op_stop, op_destroy, op_recall};

/* -- Job --------------------------------------------------------------------- */

static PyObject *job_new(pydron_job *j)
{
    JobObject *o = PyObject_New(JobObject, JobType);
    if (o)
        o->j = j;
    return (PyObject *)o;
}

static void Job_dealloc(JobObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    PyObject_Free(self);
    Py_DECREF(tp);
}

static int job_check(JobObject *self)
{
    if (!self->j) {
        PyErr_SetString(PyExc_RuntimeError, "job already reported done");
        return -1;
    }
    return 0;
}

static PyObject *Job_payload(JobObject *self, PyObject *unused)
{
    const void *d = NULL;
    size_t len = 0;
    if (job_check(self) < 0)
        return NULL;
    if (pydron_job_payload(self->j, &d, &len) < 0)
        len = 0;
    return PyBytes_FromStringAndSize(d ? d : "", (Py_ssize_t)len);
}

/* [(value id, where, bytes or None)] */
static PyObject *Job_inputs(JobObject *self, PyObject *unused)
{
    if (job_check(self) < 0)
        return NULL;
    size_t n = pydron_job_ninputs(self->j);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        pydron_value v;
        size_t size = 0, len = 0;
        int32_t where = -1;
        const void *data = NULL;
        if (pydron_job_input(self->j, i, &v, &size, &where, &data, &len) < 0) {
            Py_DECREF(l);
            PyErr_Format(PyExc_RuntimeError, "job input %zu: %s", i, pydron_error_last());
            return NULL;
        }
        PyObject *bytes;
        if (where < 0)
            bytes = PyBytes_FromStringAndSize(data ? data : "", (Py_ssize_t)len);
        else
            bytes = Py_NewRef(Py_None);
        PyObject *t = bytes ? Py_BuildValue("(KiN)", (unsigned long long)v.id, (int)where, bytes)
                            : NULL;
        if (!t) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t);
    }
    return l;
}

static PyObject *Job_outputs(JobObject *self, PyObject *unused)
{
    if (job_check(self) < 0)
        return NULL;
    size_t n = pydron_job_noutputs(self->j);
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        pydron_value v = PYDRON_VALUE_NONE;
        pydron_job_output_value(self->j, i, &v);
        PyObject *x = PyLong_FromUnsignedLongLong(v.id);
        if (!x) {
            Py_DECREF(l);
            return NULL;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, x);
    }
    return l;
}

static PyObject *Job_attempt(JobObject *self, PyObject *unused)
{
    if (job_check(self) < 0)
        return NULL;
    return PyLong_FromUnsignedLong(pydron_job_attempt(self->j));
}

static PyObject *Job_canceled(JobObject *self, PyObject *unused)
{
    if (job_check(self) < 0)
        return NULL;
    return PyBool_FromLong(pydron_job_canceled(self->j));
}

static PyObject *Job_set_output_remote(JobObject *self, PyObject *args)
{
    Py_ssize_t i;
    int where;
    unsigned long long size;
    if (job_check(self) < 0 || !PyArg_ParseTuple(args, "niK", &i, &where, &size))
        return NULL;
    if (pydron_job_set_output_remote(self->j, (size_t)i, where, (size_t)size) < 0) {
        PyErr_Format(PyExc_ValueError, "output %zd: %s", i, pydron_error_last());
        return NULL;
    }
    Py_RETURN_NONE;
}

/* set_output_note(i, data): the note that came with remote output i (copied) */
static PyObject *Job_set_output_note(JobObject *self, PyObject *args)
{
    Py_ssize_t i;
    Py_buffer data;
    if (job_check(self) < 0 || !PyArg_ParseTuple(args, "ny*", &i, &data))
        return NULL;
    int rc = pydron_job_set_output_note(self->j, (size_t)i, data.buf, (size_t)data.len);
    PyBuffer_Release(&data);
    if (rc < 0) {
        PyErr_Format(PyExc_ValueError, "output %zd: %s", i, pydron_error_last());
        return NULL;
    }
    Py_RETURN_NONE;
}

/* set_output_bytes(i, data): output i is these bytes, now the driver's (copied) */
static PyObject *Job_set_output_bytes(JobObject *self, PyObject *args)
{
    Py_ssize_t i;
    Py_buffer data;
    if (job_check(self) < 0 || !PyArg_ParseTuple(args, "ny*", &i, &data))
        return NULL;
    void *copy = malloc(data.len ? (size_t)data.len : 1);
    if (!copy) {
        PyBuffer_Release(&data);
        return PyErr_NoMemory();
    }
    memcpy(copy, data.buf, (size_t)data.len);
    size_t len = (size_t)data.len;
    PyBuffer_Release(&data);
    /* on failure the library has freed the copy already */
    if (pydron_job_set_output_bytes(self->j, (size_t)i, copy, len, free, copy) < 0) {
        PyErr_Format(PyExc_ValueError, "output %zd: %s", i, pydron_error_last());
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Job_set_error(JobObject *self, PyObject *args)
{
    const char *msg;
    Py_buffer detail = {0};
    if (job_check(self) < 0 || !PyArg_ParseTuple(args, "s|z*", &msg, &detail))
        return NULL;
    int rc = pydron_job_set_error(self->j, msg, detail.buf, detail.buf ? (size_t)detail.len : 0);
    if (detail.obj)
        PyBuffer_Release(&detail);
    if (rc < 0) {
        PyErr_SetString(PyExc_ValueError, pydron_error_last());
        return NULL;
    }
    Py_RETURN_NONE;
}

static PyObject *Job_set_times(JobObject *self, PyObject *args)
{
    unsigned long long t0, t1;
    if (job_check(self) < 0 || !PyArg_ParseTuple(args, "KK", &t0, &t1))
        return NULL;
    pydron_job_set_times(self->j, t0, t1);
    Py_RETURN_NONE;
}

static PyObject *Job_done(JobObject *self, PyObject *arg)
{
    int rc = (int)PyLong_AsLong(arg);
    if ((rc == -1 && PyErr_Occurred()) || job_check(self) < 0)
        return NULL;
    pydron_job *j = self->j;
    self->j = NULL;
    Py_BEGIN_ALLOW_THREADS
    pydron_job_done(j, rc);
    Py_END_ALLOW_THREADS
    Py_RETURN_NONE;
}

static PyMethodDef Job_methods[] = {
    {"payload", (PyCFunction)Job_payload, METH_NOARGS, "The task's payload (a copy)."},
    {"inputs", (PyCFunction)Job_inputs, METH_NOARGS,
     "[(value id, where, bytes)]: where < 0 means the bytes are the driver's (given), "
     "else the value lives with this executor (bytes None)."},
    {"outputs", (PyCFunction)Job_outputs, METH_NOARGS, "Output value ids."},
    {"attempt", (PyCFunction)Job_attempt, METH_NOARGS, "0 on the first run."},
    {"canceled", (PyCFunction)Job_canceled, METH_NOARGS, "The graph was canceled."},
    {"set_output_remote", (PyCFunction)Job_set_output_remote, METH_VARARGS,
     "set_output_remote(i, where, size): output i lives with this executor."},
    {"set_output_note", (PyCFunction)Job_set_output_note, METH_VARARGS,
     "set_output_note(i, data): the note that came with remote output i "
     "(pydron_job_set_output_note)."},
    {"set_output_bytes", (PyCFunction)Job_set_output_bytes, METH_VARARGS,
     "set_output_bytes(i, data): output i is these bytes (copied), held by the driver."},
    {"set_error", (PyCFunction)Job_set_error, METH_VARARGS,
     "set_error(message, detail=None) before done(ETASK)."},
    {"set_times", (PyCFunction)Job_set_times, METH_VARARGS,
     "set_times(start_ns, end_ns): where it ran (durations count)."},
    {"done", (PyCFunction)Job_done, METH_O,
     "done(rc): 0, or a negative PYDRON_E* code; the job is gone afterwards."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot Job_slots[] = {{Py_tp_dealloc, Job_dealloc},
                                  {Py_tp_methods, Job_methods},
                                  {Py_tp_doc, "A job handed to a Python executor."},
                                  {0, NULL}};

static PyType_Spec Job_spec = {"pydron._core.Job", sizeof(JobObject), 0, Py_TPFLAGS_DEFAULT,
                               Job_slots};

/* -- ExecBridge ------------------------------------------------------------- */

static void Bridge_dealloc(BridgeObject *self)
{
    PyTypeObject *tp = Py_TYPE(self);
    for (size_t i = 0; i < self->n; i++)
        Py_XDECREF(self->q[i].obj);
    free(self->q);
    Py_XDECREF(self->obj);
    pthread_mutex_destroy(&self->lock);
    pthread_cond_destroy(&self->cond);
    PyObject_Free(self);
    Py_DECREF(tp);
}

/* take(timeout) -> [("job", Job) | ("fetch", id) | ("release", id) | ("post", obj)];
 * [] on timeout, None once stopping with nothing left. */
static PyObject *Bridge_take(BridgeObject *self, PyObject *arg)
{
    double t = PyFloat_AsDouble(arg);
    if (t == -1.0 && PyErr_Occurred())
        return NULL;
    ev *got = NULL;
    size_t n = 0;
    int stopping;
    Py_BEGIN_ALLOW_THREADS
    pthread_mutex_lock(&self->lock);
    if (!self->n && !self->stopping && t > 0) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        long long ns = ts.tv_nsec + (long long)(t * 1e9);
        ts.tv_sec += (time_t)(ns / 1000000000LL);
        ts.tv_nsec = (long)(ns % 1000000000LL);
        while (!self->n && !self->stopping) {
            if (pthread_cond_timedwait(&self->cond, &self->lock, &ts) == ETIMEDOUT)
                break;
        }
    }
    got = self->q;
    n = self->n;
    if (n) {
        self->q = NULL;
        self->n = self->cap = 0;
    }
    stopping = self->stopping;
    pthread_mutex_unlock(&self->lock);
    Py_END_ALLOW_THREADS
    if (!n) {
        if (stopping)
            Py_RETURN_NONE;
        return PyList_New(0);
    }
    PyObject *l = PyList_New((Py_ssize_t)n);
    for (size_t i = 0; l && i < n; i++) {
        ev e = got[i];
        PyObject *t2 = NULL;
        if (e.type == EV_JOB) {
            PyObject *j = job_new(e.job);
            t2 = j ? Py_BuildValue("(sN)", "job", j) : NULL;
        } else if (e.type == EV_POST) {
            t2 = Py_BuildValue("(sN)", "post", e.obj);
            got[i].obj = NULL;
        } else {
            t2 = Py_BuildValue("(sK)", e.type == EV_FETCH ? "fetch" : "release",
                               (unsigned long long)e.value);
        }
        if (!t2) {
            Py_CLEAR(l);
            break;
        }
        PyList_SET_ITEM(l, (Py_ssize_t)i, t2);
    }
    if (!l) {
        /* out of memory: fail the jobs rather than lose them */
        for (size_t i = 0; i < n; i++) {
            if (got[i].type == EV_JOB)
                pydron_job_done(got[i].job, PYDRON_ENOMEM);
            Py_XDECREF(got[i].obj);
        }
    }
    free(got);
    return l;
}

static PyObject *Bridge_post(BridgeObject *self, PyObject *obj)
{
    pthread_mutex_lock(&self->lock);
    if (reserve(self, 1) < 0) {
        pthread_mutex_unlock(&self->lock);
        return PyErr_NoMemory();
    }
    Py_INCREF(obj);
    self->q[self->n++] = (ev){EV_POST, NULL, 0, obj};
    pthread_cond_signal(&self->cond);
    pthread_mutex_unlock(&self->lock);
    Py_RETURN_NONE;
}

/* fetched(value id, rc, data): the bytes of a value the core asked for */
static PyObject *Bridge_fetched(BridgeObject *self, PyObject *args)
{
    unsigned long long id;
    int rc;
    Py_buffer data = {0};
    if (!PyArg_ParseTuple(args, "Kiz*", &id, &rc, &data))
        return NULL;
    if (!self->host) {
        if (data.obj)
            PyBuffer_Release(&data);
        PyErr_SetString(PyExc_RuntimeError, "executor not started");
        return NULL;
    }
    void *copy = NULL;
    size_t len = data.obj ? (size_t)data.len : 0;
    if (rc == 0) {
        copy = malloc(len ? len : 1);
        if (!copy) {
            PyBuffer_Release(&data);
            return PyErr_NoMemory();
        }
    }
    pydron_exec_host *h = self->host;
    Py_BEGIN_ALLOW_THREADS
    if (copy && len)
        memcpy(copy, data.buf, len);
    pydron_exec_fetched(h, (pydron_value){id}, rc, copy, copy ? len : 0, copy ? free : NULL,
                        copy);
    Py_END_ALLOW_THREADS
    if (data.obj)
        PyBuffer_Release(&data);
    Py_RETURN_NONE;
}

static PyObject *Bridge_wake(BridgeObject *self, PyObject *unused)
{
    if (self->host)
        pydron_exec_wake(self->host);
    Py_RETURN_NONE;
}

static PyMethodDef Bridge_methods[] = {
    {"take", (PyCFunction)Bridge_take, METH_O,
     "take(timeout) -> list of events (GIL released while waiting); None once stopped."},
    {"post", (PyCFunction)Bridge_post, METH_O, "post(obj): a ('post', obj) event for take()."},
    {"fetched", (PyCFunction)Bridge_fetched, METH_VARARGS,
     "fetched(value_id, rc, data): report a fetched value's bytes (copied)."},
    {"wake", (PyCFunction)Bridge_wake, METH_NOARGS, "Wake the driver thread."},
    {NULL, NULL, 0, NULL}};

static PyType_Slot Bridge_slots[] = {{Py_tp_dealloc, Bridge_dealloc},
                                     {Py_tp_methods, Bridge_methods},
                                     {Py_tp_doc, "The queue between the core and a Python executor."},
                                     {0, NULL}};

static PyType_Spec Bridge_spec = {"pydron._core.ExecBridge", sizeof(BridgeObject), 0,
                                  Py_TPFLAGS_DEFAULT, Bridge_slots};

/* -- glue for core.c ------------------------------------------------------- */

int pdy_pyexec_init(PyObject *m)
{
    BridgeType = (PyTypeObject *)PyType_FromSpec(&Bridge_spec);
    JobType = (PyTypeObject *)PyType_FromSpec(&Job_spec);
    if (!BridgeType || !JobType)
        return -1;
    Py_INCREF(BridgeType);
    Py_INCREF(JobType);
    if (PyModule_AddObject(m, "ExecBridge", (PyObject *)BridgeType) < 0 ||
        PyModule_AddObject(m, "Job", (PyObject *)JobType) < 0)
        return -1;
    return 0;
}

PyObject *pdy_pyexec_attach(pydron_runtime *rt, PyObject *obj, unsigned nworkers,
                            unsigned in_flight)
{
    BridgeObject *b = PyObject_New(BridgeObject, BridgeType);
    if (!b)
        return NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_cond_init(&b->cond, NULL);
    b->q = NULL;
    b->n = b->cap = 0;
    b->host = NULL;
    b->obj = Py_NewRef(obj);
    b->nworkers = nworkers ? nworkers : 1;
    b->in_flight = in_flight ? in_flight : 64;
    b->stopping = 0;
    Py_INCREF(b); /* the runtime's reference, dropped by destroy() */
    int rc = pydron_runtime_set_executor(rt, &bridge_ops, b);
    if (rc < 0) {
        Py_DECREF(b);
        Py_DECREF(b);
        PyErr_Format(PyExc_RuntimeError, "cannot set the executor: %s", pydron_error_last());
        return NULL;
    }
    return (PyObject *)b; /* the caller's reference */
}
