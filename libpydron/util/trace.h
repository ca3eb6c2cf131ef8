/* trace.h - the run trace: events in the Chrome/Perfetto Trace Event
 * Format streamed to a JSON file (util/trace.c), behind pydron_trace_start
 * and PYDRON_TRACE. Nothing here is exported.
 *
 * One trace per process. Any layer may record; the recording functions are
 * called with the caller's locks held (the graph lock for tasks), so they
 * only format into a bounded memory buffer under the trace's own mutex (a
 * leaf lock) and never do I/O: a writer thread of the trace writes the full
 * buffers. When the writer falls behind by more than the buffer limit, new
 * events are dropped and counted (the file says how many), so memory stays
 * bounded however long the run.
 *
 * Tracks: process "driver" (pid 1) with the thread "driver" (waits,
 * barriers and spans the frontend records), lanes "driver tasks" (tasks run
 * on the driver thread) and "transfers" (values fetched to the driver);
 * one process "worker N" (pid N + 2) per worker, whose lanes "tasks",
 * "tasks 2", ... hold its task spans (a second lane only when spans
 * overlap, e.g. a worker with several task threads). */
#ifndef PDI_TRACE_H
#define PDI_TRACE_H

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

extern atomic_int pdi_trace_on;

/* 1 while a trace is being written (one relaxed load: the cost of tracing
 * when it is off). */
static inline int pdi_tracing(void)
{
    return atomic_load_explicit(&pdi_trace_on, memory_order_relaxed);
}

/* Start writing the trace to path (created or truncated; mode 0644 minus
 * umask). buf_bytes bounds the memory of events not yet written (0: 8 MiB).
 * PYDRON_EBUSY if a trace is on, PYDRON_EIO if the file cannot be opened. */
int pdi_trace_start(const char *path, size_t buf_bytes);
/* Write what is buffered, close the JSON document and the file; 0, or
 * PYDRON_EIO if a write failed. 0 if no trace is on. */
int pdi_trace_stop(void);
/* Events recorded and dropped so far (this trace or the last one). */
void pdi_trace_counts(uint64_t *events, uint64_t *dropped);

/* Where a lane group's spans go (worker >= 0: that worker's process). */
enum { PDI_TRACK_DRIVER_TASKS = -1, PDI_TRACK_TRANSFERS = -2 };

/* A task that ran: on worker `worker` (-1: the driver thread), from
 * start_ns to end_ns (CLOCK_MONOTONIC of where it ran; a span that cannot
 * be on the driver's clock is placed to end at now), queued at queued_ns.
 * name: its label or kind name. */
void pdi_trace_task(const char *name, uint64_t task, int32_t worker, int state, unsigned attempt,
                    uint64_t queued_ns, uint64_t start_ns, uint64_t end_ns);
/* A span on the driver thread's track (waits, barriers, frontend spans).
 * args_json: the members of the "args" object ("\"bytes\":12"), or NULL. */
void pdi_trace_driver_span(const char *cat, const char *name, uint64_t start_ns, uint64_t end_ns,
                           const char *args_json);
/* A transfer that took from start_ns to end_ns (a fetch to the driver). */
void pdi_trace_transfer(const char *name, uint64_t start_ns, uint64_t end_ns, uint64_t bytes,
                        int32_t from, int32_t to);
/* An input that must travel to `to` (from a worker, -1 the driver) for a
 * task sent there now: an instant event on the receiving worker. */
void pdi_trace_input_moved(uint64_t value, uint64_t bytes, int32_t from, int32_t to);
/* Worker `worker` took `ninputs` inputs (`bytes` in all) of a task from
 * other workers (`from`; -2: several) between start_ns and end_ns of its
 * clock, before it ran the task from task_start_ns to task_end_ns: a span
 * on that worker's track, placed like the task's span (when the worker's
 * clock is not the driver's, both are moved by the same amount). */
void pdi_trace_worker_fetch(int32_t worker, int32_t from, unsigned ninputs, uint64_t bytes,
                            uint64_t start_ns, uint64_t end_ns, uint64_t task_start_ns,
                            uint64_t task_end_ns);

#endif
