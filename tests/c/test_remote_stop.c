/* test_remote_stop.c - stopping never hangs.
 *
 * Regression for a CI hang (pytest stuck in Session.close): a connection
 * closed by one thread while another was just starting a receive or a send
 * on it. nng 1.5's tcp/ipc streams never complete an operation started
 * after nng_stream_close, so the thread waited forever and the executor's
 * stop waited for it. The wire layer has a test hook that sleeps right
 * before an operation starts, which turns that narrow window into a wide
 * one: the first tests hit it every time, the last one runs the remote
 * executor (workers dialing in, one with a wrong secret) through many
 * stops while connections are busy. Links the static library for the hook. */
#include <criterion/criterion.h>

#include <errno.h>
#include <pthread.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "pydron.h"
#include "wire/wire.h"

extern char **environ;

#define OK(expr)                                                                          \
    do {                                                                                  \
        int rc_ = (expr);                                                                 \
        cr_assert_eq(rc_, 0, "%s -> %d: %s", #expr, rc_, pydron_error_last());            \
    } while (0)

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

/* Join th within ms; 0 if it ended. */
static int join_within(pthread_t th, unsigned ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    ts.tv_sec += ms / 1000;
    ts.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (ts.tv_nsec >= 1000000000L) {
        ts.tv_sec++;
        ts.tv_nsec -= 1000000000L;
    }
    return pthread_timedjoin_np(th, NULL, &ts);
}

/* ------------------------------------------- one connection, two threads */

typedef struct pair {
    pdi_listener *l;
    pdi_conn *a, *b; /* a: dialed, b: accepted */
} pair;

static void *accept_b(void *arg)
{
    pair *p = arg;
    if (pdi_listener_accept(p->l, &p->b) != 0)
        p->b = NULL;
    return NULL;
}

static void pair_open(pair *p)
{
    memset(p, 0, sizeof *p);
    OK(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &p->l));
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, accept_b, p), 0);
    OK(pdi_conn_dial(pdi_listener_url(p->l), NULL, 5000, &p->a));
    pthread_join(th, NULL);
    cr_assert(p->b, "accept failed: %s", pydron_error_last());
}

typedef struct io_arg {
    pdi_conn *c;
    int send;
    int rc;
} io_arg;

static void *do_one_io(void *arg)
{
    io_arg *a = arg;
    if (a->send) {
        static const char bytes[64] = "x";
        a->rc = pdi_conn_send_raw(a->c, bytes, sizeof bytes);
    } else {
        pdi_frame f;
        a->rc = pdi_conn_recv(a->c, pdi_wire_limits_session(), -1, &f);
        if (a->rc == 0)
            pdi_frame_free(&f);
    }
    return NULL;
}

/* Close while the other thread is between its closed check and the start
 * of its operation: the operation must fail at once, not wait forever. */
static void close_during_start(int send)
{
    pair p;
    pair_open(&p);
    io_arg a = {p.a, send, 1};
    atomic_store(&pdi_wire_test_io_delay_us, 300000);
    pthread_t th;
    cr_assert_eq(pthread_create(&th, NULL, do_one_io, &a), 0);
    usleep(100000); /* the thread is now inside the 300 ms delay */
    pdi_conn_close(p.a);
    atomic_store(&pdi_wire_test_io_delay_us, 0);
    int jr = join_within(th, 5000);
    cr_assert_eq(jr, 0, "a %s started while the connection was being closed never returned",
                 send ? "send" : "receive");
    /* a send may have gone out before the close took effect; a receive
     * (nothing comes) can only fail */
    if (send)
        cr_assert(a.rc == 0 || a.rc == PYDRON_ECLOSED, "%d %s", a.rc, pydron_error_last());
    else
        cr_assert_eq(a.rc, PYDRON_ECLOSED, "%d %s", a.rc, pydron_error_last());
    /* closed stays closed */
    do_one_io(&a);
    cr_assert_eq(a.rc, PYDRON_ECLOSED);
    pdi_conn_free(p.a);
    pdi_conn_free(p.b);
    pdi_listener_free(p.l);
}

Test(remote_stop, close_races_a_starting_receive, .timeout = 30)
{
    close_during_start(0);
}

Test(remote_stop, close_races_a_starting_send, .timeout = 30)
{
    close_during_start(1);
}

Test(remote_stop, close_aborts_a_pending_receive_and_accept, .timeout = 30)
{
    pair p;
    pair_open(&p);
    io_arg a = {p.a, 0, 1};
    pthread_t th, ta;
    cr_assert_eq(pthread_create(&th, NULL, do_one_io, &a), 0);
    pdi_conn *extra = NULL;
    pair q = {p.l, NULL, NULL};
    cr_assert_eq(pthread_create(&ta, NULL, accept_b, &q), 0);
    usleep(100000); /* both are blocked in nng now */
    pdi_conn_close(p.a);
    pdi_listener_close(p.l);
    cr_assert_eq(join_within(th, 5000), 0, "pending receive not aborted by close");
    cr_assert_eq(join_within(ta, 5000), 0, "pending accept not aborted by close");
    cr_assert_eq(a.rc, PYDRON_ECLOSED);
    cr_assert_null(q.b);
    /* and an accept after close fails at once */
    cr_assert_eq(pdi_listener_accept(p.l, &extra), PYDRON_ECLOSED);
    pdi_conn_free(p.a);
    pdi_conn_free(p.b);
    pdi_listener_free(p.l);
}

/* ------------------------------------------------ the remote executor */

static pydron_value ffi_sum(pydron_graph *g, pydron_runtime *rt, const pydron_value *in,
                            size_t nin)
{
    uint32_t k;
    OK(pydron_runtime_kind(rt, PYDRON_KIND_FFI, &k));
    void *pl;
    size_t pll;
    OK(pydron_ffi_payload(PYDRON_TEST_FFI_LIB, "tl_sum_ctx", NULL, &pl, &pll));
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.flags = PYDRON_TASK_PURE;
    d.inputs = in;
    d.ninputs = nin;
    d.noutputs = 1;
    d.payload = pl;
    d.payload_len = pll;
    pydron_value out = PYDRON_VALUE_NONE;
    OK(pydron_task_add(g, &d, NULL, &out));
    pydron_free(pl);
    return out;
}

typedef struct stopper {
    pydron_graph *g;
    pydron_runtime *rt;
} stopper;

static void *stop_all(void *arg)
{
    stopper *s = arg;
    pydron_graph_free(s->g);
    pydron_runtime_free(s->rt);
    return NULL;
}

static int free_port(void)
{
    pdi_listener *l;
    OK(pdi_listener_open("tcp://127.0.0.1:0", NULL, NULL, &l));
    const char *u = strrchr(pdi_listener_url(l), ':');
    int port = u ? atoi(u + 1) : 0;
    pdi_listener_free(l);
    cr_assert_gt(port, 0);
    return port;
}

/* A worker started like an operator would (the driver does not know its
 * process): after a short delay, so that the driver listens first. */
static pid_t start_worker(const char *url, const char *secret)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "sleep 0.2; PYDRON_SECRET='%s' exec %s --connect %s 2>/dev/null",
             secret, PYDRON_WORKER_PATH, url);
    const char *argv[] = {"/bin/sh", "-c", cmd, NULL};
    pid_t pid;
    cr_assert_eq(posix_spawn(&pid, "/bin/sh", NULL, NULL, (char *const *)argv, environ), 0);
    return pid;
}

Test(remote_stop, stop_with_workers_dialing_in_never_hangs, .timeout = 280)
{
    /* As in tests/python/test_worker_cli.py, where the hang was seen: two
     * workers dial in, and a third one with the wrong secret. The driver
     * did not start them, so its stop does not wait for them to exit: it
     * sends Shutdown and closes the connections while the readers may be
     * between two receives. Heartbeats every 5 ms keep the readers and the
     * service thread starting operations all the time, and the hook makes
     * each start take 1 ms. States at stop: just joined (the wrong
     * secret's handshake may still run), idle after results, tasks in
     * flight. */
    const int iters = 30;
    uint64_t worst = 0;
    for (int it = 0; it < iters; it++) {
        char url[64];
        snprintf(url, sizeof url, "tcp://127.0.0.1:%d", free_port());
        pid_t w[3] = {start_worker(url, "wrong-secret-0123456789abcdefghijk"),
                      start_worker(url, "stop-test-secret-0123456789abcdef"),
                      start_worker(url, "stop-test-secret-0123456789abcdef")};
        pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
        o.executor = PYDRON_EXECUTOR_REMOTE;
        o.workers = 2;
        o.secret = "stop-test-secret-0123456789abcdef";
        o.listen_url = url;
        o.heartbeat_ms = 5;
        pydron_runtime *rt;
        OK(pydron_runtime_new(&rt, &o));
        pydron_graph *g;
        OK(pydron_graph_new(rt, &g));
        uint64_t one = 1;
        pydron_value c;
        OK(pydron_value_constant(g, &one, 8, &c));
        pydron_value first = ffi_sum(g, rt, &c, 1);
        OK(pydron_graph_wait(g, first, 60000)); /* the executor has started */
        atomic_store(&pdi_wire_test_io_delay_us, 1000);
        int state = it % 3;
        if (state >= 1) {
            pydron_value v = first;
            for (int k = 0; k < 40; k++) {
                pydron_value in[2] = {v, c};
                v = ffi_sum(g, rt, in, 2);
            }
            if (state == 1) {
                OK(pydron_graph_wait(g, v, 60000));
                const void *b;
                size_t l;
                OK(pydron_value_bytes(g, v, &b, &l));
                uint64_t x;
                memcpy(&x, b, 8);
                cr_assert_eq(x, 41, "iteration %d: %llu", it, (unsigned long long)x);
            }
        }
        stopper s = {g, rt};
        pthread_t th;
        uint64_t t0 = now_ms();
        cr_assert_eq(pthread_create(&th, NULL, stop_all, &s), 0);
        int jr = join_within(th, 30000);
        cr_assert_eq(jr, 0, "iteration %d (state %d): stopping the remote executor hung", it,
                     state);
        uint64_t took = now_ms() - t0;
        if (took > worst)
            worst = took;
        atomic_store(&pdi_wire_test_io_delay_us, 0);
        /* the good workers exit 0 on Shutdown; the refused one exits too
         * (its status depends on whether stop cut its handshake short) */
        for (int k = 0; k < 3; k++) {
            int st = -1;
            cr_assert_eq(waitpid(w[k], &st, 0), w[k]);
            cr_assert(WIFEXITED(st), "worker %d of iteration %d: status %d", k, it, st);
            if (k > 0)
                cr_assert_eq(WEXITSTATUS(st), 0, "worker %d of iteration %d", k, it);
        }
    }
    printf("remote stop: %d iterations, slowest stop %llu ms\n", iters,
           (unsigned long long)worst);
}
