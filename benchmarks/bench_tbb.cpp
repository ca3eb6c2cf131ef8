// bench_tbb.cpp - the peer for bench_core: the same two shapes (independent
// tasks, chains) on oneTBB's task_group, in the same process and run.
// Built only when CMake finds TBB (Debian: libtbb-dev; scripts/deps.sh bench).
//
// Independent: the main thread runs `ntasks` tasks in one task_group, each
// calls the work function on a shared constant. Chains: the first task of
// each chain is run from the main thread; each task runs its successor in
// the same group when it is done (what a dependency does), and the last one
// stores the chain's result.
#include <tbb/global_control.h>
#include <tbb/task_arena.h>
#include <tbb/task_group.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <vector>

#include "bench_peers.h"

namespace {

uint64_t now_ns()
{
    return (uint64_t)std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

struct chain_ctx {
    tbb::task_group *tg;
    uint64_t (*work)(uint64_t);
    uint64_t len;
    uint64_t *results;
};

void chain_step(const chain_ctx *c, uint64_t chain, uint64_t step, uint64_t x)
{
    x = c->work(x);
    if (step + 1 < c->len)
        c->tg->run([c, chain, step, x] { chain_step(c, chain, step + 1, x); });
    else
        c->results[chain] = x;
}

}  // namespace

extern "C" int bench_tbb_run(unsigned workers, uint64_t ntasks, uint64_t chain,
                             uint64_t (*work)(uint64_t), double *ns_per_task, uint64_t *check)
{
    int n = workers ? (int)workers : tbb::this_task_arena::max_concurrency();
    tbb::task_arena arena(n);
    double ns = 0;
    uint64_t result = 0;
    arena.execute([&] {
        tbb::task_group tg;
        if (!chain) {
            std::atomic<uint64_t> last{0};
            uint64_t t0 = now_ns();
            for (uint64_t i = 0; i < ntasks; i++) {
                if (i + 1 < ntasks)
                    tg.run([work] { (void)work(0); });
                else
                    tg.run([work, &last] { last.store(work(0), std::memory_order_relaxed); });
            }
            tg.wait();
            ns = (double)(now_ns() - t0) / (double)ntasks;
            result = last.load();
            return;
        }
        uint64_t nchains = (ntasks + chain - 1) / chain;
        std::vector<uint64_t> results(nchains, 0);
        std::vector<chain_ctx> ctxs;
        ctxs.reserve(2);
        // the last chain may be shorter (ntasks % chain), as in bench_core
        uint64_t tail = ntasks % chain ? ntasks % chain : chain;
        ctxs.push_back(chain_ctx{&tg, work, chain, results.data()});
        ctxs.push_back(chain_ctx{&tg, work, tail, results.data()});
        uint64_t t0 = now_ns();
        for (uint64_t c = 0; c < nchains; c++) {
            const chain_ctx *cx = c + 1 < nchains ? &ctxs[0] : &ctxs[1];
            tg.run([cx, c] { chain_step(cx, c, 0, 0); });
        }
        tg.wait();
        ns = (double)(now_ns() - t0) / (double)ntasks;
        result = results[nchains - 1];
    });
    *ns_per_task = ns;
    *check = result;
    return n;
}
