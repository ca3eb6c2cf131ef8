/* bench_wire.c - throughput of the local executor and of value transfer,
 * each next to its baseline measured in the same run:
 *   BENCH nng_roundtrip <us> us             raw nng req/rep round trip (ipc)
 *   BENCH local_noop_tasks_per_s <n> tasks/s  no-op C tasks, 2 worker processes
 *   BENCH local_noop_task_us <us> us        the same, per task
 *   BENCH memcpy_64mb <MB/s> MB/s
 *   BENCH transfer_64mb <MB/s> MB/s         64 MB value, worker -> peer (fetch)
 *   BENCH fetch_64mb_driver <MB/s> MB/s     64 MB value, worker -> driver
 * Usage: bench_wire [--tasks N] [--rounds N] */
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>
#include <nng/protocol/reqrep0/req.h>

#include "pydron.h"
#include "wire/shmref.h"
#include "wire/wire.h"

extern char **environ;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void die(const char *what, int rc)
{
    fprintf(stderr, "bench_wire: %s: %s: %s\n", what, pydron_strerror(rc), pydron_error_last());
    exit(1);
}

/* ---------------------------------------------------- raw nng round trip */

static void *echo(void *arg)
{
    nng_socket *s = arg;
    for (;;) {
        nng_msg *m;
        if (nng_recvmsg(*s, &m, 0) != 0)
            return NULL;
        if (nng_sendmsg(*s, m, 0) != 0) {
            nng_msg_free(m);
            return NULL;
        }
    }
}

static double nng_roundtrip_us(int rounds)
{
    nng_socket rep, req;
    char url[128];
    snprintf(url, sizeof url, "ipc:///tmp/pydron-bench-%d.sock", (int)getpid());
    if (nng_rep0_open(&rep) || nng_listen(rep, url, NULL, 0) || nng_req0_open(&req) ||
        nng_dial(req, url, NULL, 0)) {
        fprintf(stderr, "bench_wire: nng setup failed\n");
        exit(1);
    }
    pthread_t th;
    pthread_create(&th, NULL, echo, &rep);
    char buf[16] = "ping";
    double best = 1e9;
    for (int rep_i = 0; rep_i < 3; rep_i++) {
        double t0 = now_s();
        for (int i = 0; i < rounds; i++) {
            nng_msg *m;
            nng_msg_alloc(&m, 0);
            nng_msg_append(m, buf, 8);
            nng_sendmsg(req, m, 0);
            nng_recvmsg(req, &m, 0);
            nng_msg_free(m);
        }
        double us = (now_s() - t0) / rounds * 1e6;
        if (us < best)
            best = us;
    }
    nng_close(req);
    nng_close(rep);
    pthread_join(th, NULL);
    unlink(url + 6);
    return best;
}

/* ------------------------------------------------ local executor, no-ops */

static pydron_runtime *local_rt(void)
{
    pydron_runtime_options o = PYDRON_RUNTIME_OPTIONS_INIT;
    o.executor = PYDRON_EXECUTOR_LOCAL;
    o.workers = 2;
    o.worker_command = PYDRON_WORKER_PATH;
    pydron_runtime *rt;
    int rc = pydron_runtime_new(&rt, &o);
    if (rc)
        die("runtime", rc);
    return rt;
}

static double noop_tasks_per_s(size_t ntasks)
{
    pydron_runtime *rt = local_rt();
    uint32_t k;
    pydron_runtime_kind(rt, PYDRON_KIND_FFI, &k);
    void *pl;
    size_t pll;
    pydron_ffi_payload(PYDRON_BENCH_FFI_LIB, "bw_noop", NULL, &pl, &pll);
    pydron_task_desc d = PYDRON_TASK_DESC_INIT;
    d.kind = k;
    d.payload = pl;
    d.payload_len = pll;
    /* warm up: workers started, library loaded */
    pydron_graph *g;
    int rc;
    if ((rc = pydron_graph_new(rt, &g)) != 0)
        die("graph", rc);
    for (int i = 0; i < 100; i++)
        pydron_task_add(g, &d, NULL, NULL);
    if ((rc = pydron_graph_run(g, -1)) != 0)
        die("run", rc);
    pydron_graph_free(g);

    double best = 0;
    for (int r = 0; r < 3; r++) {
        if ((rc = pydron_graph_new(rt, &g)) != 0)
            die("graph", rc);
        double t0 = now_s();
        for (size_t i = 0; i < ntasks; i++)
            if ((rc = pydron_task_add(g, &d, NULL, NULL)) != 0)
                die("add", rc);
        if ((rc = pydron_graph_run(g, -1)) != 0)
            die("run", rc);
        double rate = (double)ntasks / (now_s() - t0);
        pydron_graph_stats st;
        pydron_graph_stats_get(g, &st);
        if (st.tasks_done != ntasks) {
            fprintf(stderr, "bench_wire: %llu of %zu tasks done\n",
                    (unsigned long long)st.tasks_done, ntasks);
            exit(1);
        }
        pydron_graph_free(g);
        if (rate > best)
            best = rate;
    }
    pydron_free(pl);
    pydron_runtime_free(rt);
    return best;
}

/* ------------------------------------------------------- 64 MB transfers */

#define BIG (64u << 20)

static double memcpy_mb_s(void)
{
    char *a = malloc(BIG), *b = malloc(BIG);
    memset(a, 1, BIG);
    memset(b, 2, BIG);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        double t0 = now_s();
        memcpy(b, a, BIG);
        double mbs = BIG / 1048576.0 / (now_s() - t0);
        if (mbs > best)
            best = mbs;
    }
    if (b[BIG - 1] != 1)
        exit(1);
    free(a);
    free(b);
    return best;
}

/* One pydron-worker driven over the wire by this process: it makes a 64 MB
 * value that stays in its store; then we fetch it as a peer would: as bytes
 * (a peer on another host), or (shm) as a peer on this host, which maps the
 * worker's memfd; the time then includes reading one byte of every page,
 * so that the mapping is really populated. */
static double transfer_mb_s(int shm)
{
    char dir[] = "/tmp/pydron-bw-XXXXXX";
    if (!mkdtemp(dir))
        exit(1);
    char url[128];
    snprintf(url, sizeof url, "ipc://%s/d.sock", dir);
    pdi_listener *l;
    int rc;
    if ((rc = pdi_listener_open(url, NULL, NULL, &l)) != 0)
        die("listen", rc);
    setenv("PYDRON_SECRET", "bench-secret-0123456789abcdefghij", 1);
    const char *argv[] = {PYDRON_WORKER_PATH, "--connect", url, "--id", "0", NULL};
    pid_t pid;
    if (posix_spawn(&pid, PYDRON_WORKER_PATH, NULL, NULL, (char *const *)argv, environ))
        exit(1);
    pdi_conn *c;
    pdi_frame h;
    if ((rc = pdi_listener_accept(l, &c)) || (rc = pdi_auth_accept(c, "bench-secret-0123456789abcdefghij", 33, 5000, &h)))
        die("accept", rc);
    char peer[512];
    snprintf(peer, sizeof peer, "%s", h.hdr->hello->peer_url);
    pdi_frame_free(&h);
    Pydron__Welcome w = PYDRON__WELCOME__INIT;
    w.worker_id = 0;
    w.heartbeat_ms = 1000;
    w.inline_max = 0;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_WELCOME;
    f.welcome = &w;
    pdi_conn_send(c, &f, NULL, 0);
    /* task: bw_make(64 MB) -> value 1 */
    void *pl;
    size_t pll;
    pydron_ffi_payload(PYDRON_BENCH_FFI_LIB, "bw_make", NULL, &pl, &pll);
    uint64_t n = BIG, out = 1;
    Pydron__Input in = PYDRON__INPUT__INIT;
    Pydron__Input *ins = &in;
    in.where = -1;
    in.segment = 1;
    in.size = 8;
    Pydron__Task t = PYDRON__TASK__INIT;
    Pydron__Task *ts = &t;
    t.seq = 1;
    t.kind = PYDRON_KIND_FFI;
    t.payload_segment = 0;
    t.inputs = &ins;
    t.n_inputs = 1;
    t.outputs = &out;
    t.n_outputs = 1;
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = &ts;
    b.n_tasks = 1;
    Pydron__Frame tf = PYDRON__FRAME__INIT;
    tf.body_case = PYDRON__FRAME__BODY_TASKS;
    tf.tasks = &b;
    pdi_seg segs[2] = {{pl, pll}, {&n, 8}};
    pdi_conn_send(c, &tf, segs, 2);
    for (;;) {
        pdi_frame in2;
        if ((rc = pdi_conn_recv(c, pdi_wire_limits_session(), 30000, &in2)) != 0)
            die("completion", rc);
        int done = in2.hdr->body_case == PYDRON__FRAME__BODY_COMPLETIONS;
        if (done && in2.hdr->completions->done[0]->status != 0) {
            fprintf(stderr, "bench_wire: %s\n", in2.hdr->completions->done[0]->error);
            exit(1);
        }
        pdi_frame_free(&in2);
        if (done)
            break;
    }
    /* fetch it as a peer, several times */
    pdi_conn *pc;
    Pydron__Hello hp = PYDRON__HELLO__INIT;
    hp.role = 1;
    if (shm)
        hp.host_id = (char *)pdi_shm_host_id();
    if ((rc = pdi_conn_dial(peer, NULL, 5000, &pc)) || (rc = pdi_auth_dial(pc, &hp, "bench-secret-0123456789abcdefghij", 33, 5000)))
        die("peer", rc);
    double best = 0;
    for (int r = 0; r < 5; r++) {
        Pydron__Fetch fe = PYDRON__FETCH__INIT;
        fe.value_id = 1;
        Pydron__Frame ff = PYDRON__FRAME__INIT;
        ff.body_case = PYDRON__FRAME__BODY_FETCH;
        ff.fetch = &fe;
        double t0 = now_s();
        pdi_conn_send(pc, &ff, NULL, 0);
        pdi_frame rep;
        if ((rc = pdi_conn_recv(pc, pdi_wire_limits_session(), 30000, &rep)) != 0)
            die("fetch", rc);
        double mbs = BIG / 1048576.0 / (now_s() - t0);
        if (shm) {
            void *m;
            pdi_shm_ref ref;
            if (!rep.hdr->fetch_reply->shm) {
                fprintf(stderr, "bench_wire: no shared memory reference\n");
                exit(1);
            }
            pdi_shm_ref_from_pb(rep.hdr->fetch_reply->shm, &ref);
            if ((rc = pdi_shm_map(&ref, &m)) != 0)
                die("map", rc);
            volatile const uint8_t *mb = m;
            unsigned sum = 0;
            for (size_t i = 0; i < ref.len; i += 4096)
                sum += mb[i];
            if (ref.len != BIG || sum != 0x5a * (BIG / 4096)) {
                fprintf(stderr, "bench_wire: bad shared value\n");
                exit(1);
            }
            pdi_shm_free(m);
            mbs = BIG / 1048576.0 / (now_s() - t0);
        } else if (rep.nseg != 1 || rep.seglen[0] != BIG || rep.seg[0][BIG - 1] != 0x5a) {
            fprintf(stderr, "bench_wire: bad fetch reply\n");
            exit(1);
        }
        pdi_frame_free(&rep);
        if (mbs > best)
            best = mbs;
    }
    pdi_conn_free(pc);
    Pydron__Shutdown sd = PYDRON__SHUTDOWN__INIT;
    sd.reason = "bench done";
    Pydron__Frame sf = PYDRON__FRAME__INIT;
    sf.body_case = PYDRON__FRAME__BODY_SHUTDOWN;
    sf.shutdown = &sd;
    pdi_conn_send(c, &sf, NULL, 0);
    waitpid(pid, NULL, 0);
    pdi_conn_free(c);
    pdi_listener_free(l);
    pydron_free(pl);
    char p[160];
    snprintf(p, sizeof p, "%s/d.sock", dir);
    unlink(p);
    rmdir(dir);
    return best;
}

static double driver_fetch_mb_s(void)
{
    pydron_runtime *rt = local_rt();
    uint32_t k;
    pydron_runtime_kind(rt, PYDRON_KIND_FFI, &k);
    void *pl;
    size_t pll;
    pydron_ffi_payload(PYDRON_BENCH_FFI_LIB, "bw_make", NULL, &pl, &pll);
    double best = 0;
    for (int r = 0; r < 3; r++) {
        pydron_graph *g;
        pydron_graph_new(rt, &g);
        uint64_t n = BIG;
        pydron_value nv, big;
        pydron_value_constant(g, &n, 8, &nv);
        pydron_task_desc d = PYDRON_TASK_DESC_INIT;
        d.kind = k;
        d.payload = pl;
        d.payload_len = pll;
        d.inputs = &nv;
        d.ninputs = 1;
        d.noutputs = 1;
        pydron_task_add(g, &d, NULL, &big);
        int rc = pydron_graph_wait(g, big, -1);
        if (rc)
            die("wait", rc);
        const void *p;
        size_t len;
        double t0 = now_s();
        if ((rc = pydron_value_bytes(g, big, &p, &len)) != 0 || len != BIG)
            die("bytes", rc);
        double mbs = BIG / 1048576.0 / (now_s() - t0);
        if (mbs > best)
            best = mbs;
        pydron_graph_free(g);
    }
    pydron_free(pl);
    pydron_runtime_free(rt);
    return best;
}

int main(int argc, char **argv)
{
    size_t ntasks = 100000;
    int rounds = 2000;
    for (int i = 1; i + 1 < argc; i += 2) {
        if (!strcmp(argv[i], "--tasks"))
            ntasks = (size_t)atol(argv[i + 1]);
        else if (!strcmp(argv[i], "--rounds"))
            rounds = atoi(argv[i + 1]);
    }
    signal(SIGPIPE, SIG_IGN);
    double rt_us = nng_roundtrip_us(rounds);
    printf("BENCH nng_roundtrip %.1f us\n", rt_us);
    fflush(stdout);
    double tps = noop_tasks_per_s(ntasks);
    printf("BENCH local_noop_tasks_per_s %.0f tasks/s\n", tps);
    printf("BENCH local_noop_task_us %.2f us\n", 1e6 / tps);
    printf("BENCH local_noop_vs_roundtrip %.1f x\n", rt_us / (1e6 / tps));
    fflush(stdout);
    double mc = memcpy_mb_s();
    printf("BENCH memcpy_64mb %.0f MB/s\n", mc);
    fflush(stdout);
    double tr = transfer_mb_s(0);
    printf("BENCH transfer_64mb %.0f MB/s\n", tr);
    fflush(stdout);
    if (*pdi_shm_host_id()) {
        tr = transfer_mb_s(1);
        printf("BENCH transfer_64mb_shm %.0f MB/s\n", tr);
        fflush(stdout);
    }
    double df = driver_fetch_mb_s();
    printf("BENCH fetch_64mb_driver %.0f MB/s\n", df);
    return 0;
}
