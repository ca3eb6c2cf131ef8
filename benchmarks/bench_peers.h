/* bench_peers.h - the baselines bench_core runs in the same process: a plain
 * mutex/condvar thread pool (bench_pool.c, always) and oneTBB's task_group
 * (bench_tbb.cpp, when CMake found TBB: PYDRON_BENCH_TBB).
 *
 * Each runs `ntasks` calls of `work`: independent ones (chain == 0) reading
 * the constant 0, or chains of `chain` calls each reading its predecessor's
 * result (the last chain may be shorter, as in bench_core). It returns the
 * number of threads used, the time per task and, in *check, the result of
 * the last task (independent: 1; chains: the last chain's length). */
#ifndef BENCH_PEERS_H
#define BENCH_PEERS_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

int bench_pool_run(unsigned workers, uint64_t ntasks, uint64_t chain, uint64_t (*work)(uint64_t),
                   double *ns_per_task, uint64_t *check);
int bench_tbb_run(unsigned workers, uint64_t ntasks, uint64_t chain, uint64_t (*work)(uint64_t),
                  double *ns_per_task, uint64_t *check);

#ifdef __cplusplus
}
#endif

#endif
