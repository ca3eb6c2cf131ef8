/* test_frame.c - the frame codec checks counts and sizes before it
 * allocates (issue 11): a header of many empty entries is refused before
 * protobuf-c unpacks it (an 8 MiB one used to cost 460 MB), and a header
 * announcing many large segments costs memory only as their bytes arrive
 * (60,000 x 1 MiB used to reserve 62 GB of address space at once). Real
 * connections over a real ipc:// socket; frames crafted by hand. */
#define _GNU_SOURCE
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pydron.h"
#include "wire/wire.h"

static uint8_t *empty_tasks_frame(size_t ntasks, size_t *len)
{
    Pydron__Task *ts = calloc(ntasks, sizeof *ts);
    Pydron__Task **tp = calloc(ntasks, sizeof *tp);
    cr_assert(ts && tp);
    for (size_t i = 0; i < ntasks; i++) {
        pydron__task__init(&ts[i]);
        tp[i] = &ts[i];
    }
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = tp;
    b.n_tasks = ntasks;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;
    uint8_t *buf;
    cr_assert_eq(pdi_wire_encode(&f, NULL, 0, &buf, len), 0);
    free(ts);
    free(tp);
    return buf;
}

/* A realistic batch: tasks with a kind, two inputs, one output each. */
static uint8_t *real_tasks_frame(size_t ntasks, size_t *len)
{
    Pydron__Task *ts = calloc(ntasks, sizeof *ts);
    Pydron__Task **tp = calloc(ntasks, sizeof *tp);
    Pydron__Input *in = calloc(2 * ntasks, sizeof *in);
    Pydron__Input **ip = calloc(2 * ntasks, sizeof *ip);
    uint64_t *outs = calloc(ntasks, sizeof *outs);
    cr_assert(ts && tp && in && ip && outs);
    for (size_t i = 0; i < ntasks; i++) {
        pydron__task__init(&ts[i]);
        tp[i] = &ts[i];
        ts[i].task_id = 0x10000004000001ull + i;
        ts[i].seq = i + 1;
        ts[i].kind = "python";
        ts[i].payload_segment = -1;
        for (size_t k = 0; k < 2; k++) {
            pydron__input__init(&in[2 * i + k]);
            ip[2 * i + k] = &in[2 * i + k];
            in[2 * i + k].value_id = 0x10000004000001ull + i;
            in[2 * i + k].size = 30;
            in[2 * i + k].where = (int32_t)k;
        }
        ts[i].inputs = &ip[2 * i];
        ts[i].n_inputs = 2;
        outs[i] = 0x20000004000001ull + i;
        ts[i].outputs = &outs[i];
        ts[i].n_outputs = 1;
    }
    Pydron__TaskBatch b = PYDRON__TASK_BATCH__INIT;
    b.tasks = tp;
    b.n_tasks = ntasks;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_TASKS;
    f.tasks = &b;
    uint8_t *buf;
    cr_assert_eq(pdi_wire_encode(&f, NULL, 0, &buf, len), 0);
    free(ts);
    free(tp);
    free(in);
    free(ip);
    free(outs);
    return buf;
}

Test(frame, header_of_empty_entries_is_refused_before_unpacking)
{
    size_t len;
    uint8_t *buf = empty_tasks_frame(4u << 20, &len); /* 4M empty tasks, ~8 MiB */
    cr_assert_gt(len, 8u << 20);
    pdi_frame f;
    int rc = pdi_wire_decode(buf, len, pdi_wire_limits_session(), &f);
    cr_assert_eq(rc, PYDRON_EPROTO, "rc %d", rc);
    cr_assert(strstr(pydron_error_last(), "would unpack into"), "%s", pydron_error_last());
    free(buf);
    /* a few empty entries are still only malformed at a higher level, not here */
    buf = empty_tasks_frame(3, &len);
    cr_assert_eq(pdi_wire_decode(buf, len, pdi_wire_limits_session(), &f), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(f.hdr->tasks->n_tasks, 3);
    pdi_frame_free(&f);
    free(buf);
}

Test(frame, realistic_large_batches_still_decode)
{
    size_t len;
    uint8_t *buf = real_tasks_frame(50000, &len);
    pdi_frame f;
    cr_assert_eq(pdi_wire_decode(buf, len, pdi_wire_limits_session(), &f), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(f.hdr->tasks->n_tasks, 50000);
    cr_assert_eq(f.hdr->tasks->tasks[49999]->inputs[1]->where, 1);
    pdi_frame_free(&f);
    free(buf);
    /* a release of many ids (packed varints) */
    enum { N = 200000 };
    uint64_t *ids = malloc(N * sizeof *ids);
    for (size_t i = 0; i < N; i++)
        ids[i] = 0x20000004000001ull + i;
    Pydron__Release r = PYDRON__RELEASE__INIT;
    r.value_ids = ids;
    r.n_value_ids = N;
    Pydron__Frame fr = PYDRON__FRAME__INIT;
    fr.body_case = PYDRON__FRAME__BODY_RELEASE;
    fr.release = &r;
    cr_assert_eq(pdi_wire_encode(&fr, NULL, 0, &buf, &len), 0);
    cr_assert_eq(pdi_wire_decode(buf, len, pdi_wire_limits_session(), &f), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(f.hdr->release->n_value_ids, N);
    cr_assert_eq(f.hdr->release->value_ids[N - 1], ids[N - 1]);
    pdi_frame_free(&f);
    free(buf);
    free(ids);
}

Test(frame, packed_zero_ids_and_unknown_fields_are_bounded)
{
    /* header: Frame.release (field number of the release body) holding a
     * packed run of 1-byte varints expands 8x; an unknown field is copied.
     * Both stay within the budget for honest sizes and are refused when a
     * header is made only of them at a larger ratio. */
    enum { N = 1u << 20 };
    uint64_t *ids = calloc(N, sizeof *ids); /* all zero: one byte each */
    Pydron__Release r = PYDRON__RELEASE__INIT;
    r.value_ids = ids;
    r.n_value_ids = N;
    Pydron__Frame fr = PYDRON__FRAME__INIT;
    fr.body_case = PYDRON__FRAME__BODY_RELEASE;
    fr.release = &r;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(pdi_wire_encode(&fr, NULL, 0, &buf, &len), 0);
    pdi_frame f;
    cr_assert_eq(pdi_wire_decode(buf, len, pdi_wire_limits_session(), &f), 0, "%s",
                 pydron_error_last());
    cr_assert_eq(f.hdr->release->n_value_ids, N);
    pdi_frame_free(&f);
    free(buf);
    free(ids);
}

/* ------------------------------------------- segments over a real socket */

static long vm_kib(const char *what)
{
    FILE *fp = fopen("/proc/self/status", "r");
    char line[256];
    long kib = -1;
    size_t n = strlen(what);
    while (fp && fgets(line, sizeof line, fp))
        if (strncmp(line, what, n) == 0)
            kib = atol(line + n);
    if (fp)
        fclose(fp);
    return kib;
}

typedef struct rx_arg {
    pdi_listener *l;
    int rc;
    char msg[256];
} rx_arg;

static void *receive_one(void *arg)
{
    rx_arg *a = arg;
    pdi_conn *c;
    a->rc = pdi_listener_accept(a->l, &c);
    if (a->rc == 0) {
        pdi_frame f;
        a->rc = pdi_conn_recv(c, pdi_wire_limits_session(), 20000, &f);
        snprintf(a->msg, sizeof a->msg, "%s", pydron_error_last());
        if (a->rc == 0)
            pdi_frame_free(&f);
        pdi_conn_free(c);
    }
    return NULL;
}

Test(frame, announced_segments_cost_memory_only_as_bytes_arrive, .timeout = 60)
{
    char dir[] = "/tmp/pydron-frame-XXXXXX", url[128];
    cr_assert(mkdtemp(dir));
    snprintf(url, sizeof url, "ipc://%s/s", dir);
    pdi_listener *l;
    cr_assert_eq(pdi_listener_open(url, NULL, NULL, &l), 0, "%s", pydron_error_last());
    rx_arg a = {l, 0, ""};
    pthread_t th;
    pthread_create(&th, NULL, receive_one, &a);
    pdi_conn *c;
    cr_assert_eq(pdi_conn_dial(url, NULL, 5000, &c), 0, "%s", pydron_error_last());

    /* a heartbeat announcing 60,000 segments of 1 MiB (58.6 GiB of payload,
     * within the 1 TiB session limit) followed by 4 KiB and a hang-up */
    enum { NSEG = 60000 };
    uint64_t *lens = malloc(NSEG * sizeof *lens);
    for (size_t i = 0; i < NSEG; i++)
        lens[i] = 1u << 20;
    Pydron__Heartbeat hb = PYDRON__HEARTBEAT__INIT;
    Pydron__Frame f = PYDRON__FRAME__INIT;
    f.body_case = PYDRON__FRAME__BODY_HEARTBEAT;
    f.heartbeat = &hb;
    f.segments = lens;
    f.n_segments = NSEG;
    size_t hlen = pydron__frame__get_packed_size(&f);
    uint8_t *buf = malloc(PDI_WIRE_PREFIX + hlen + 4096);
    pdi_wire_put_prefix(buf, (uint32_t)hlen, (uint64_t)NSEG << 20);
    pydron__frame__pack(&f, buf + PDI_WIRE_PREFIX);
    memset(buf + PDI_WIRE_PREFIX + hlen, 0xab, 4096);
    long before = vm_kib("VmPeak:");
    cr_assert_eq(pdi_conn_send_raw(c, buf, PDI_WIRE_PREFIX + hlen + 4096), 0, "%s",
                 pydron_error_last());
    usleep(300000); /* the receiver has parsed the header and waits for bytes */
    pdi_conn_close(c);
    pthread_join(th, NULL);
    long after = vm_kib("VmPeak:");
    cr_assert_neq(a.rc, 0, "a frame missing 58 GiB of its payload was accepted");
    /* before: every announced segment was allocated before its bytes came
     * (VmPeak + 58 GiB); now at most the one being read */
    cr_assert_lt(after - before, 1L << 20, "VmPeak grew by %ld KiB (%ld -> %ld)",
                 after - before, before, after);
    pdi_conn_free(c);
    pdi_listener_free(l);
    free(buf);
    free(lens);
    rmdir(dir);
}
