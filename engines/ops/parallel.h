// Runs the independent per-row (or per-channel) parts of a forward pass on
// the calling thread's step team (SetStepThreads in engines/engine.h), so an
// engine hosted alone uses every core it was given, not only for matmuls.
//
// Example:
//   // rows of distinct sessions attend independently
//   ops::ParallelFor(r_count, [&](int64_t r) { AttendRow(r); });
//
// Work done on the team's other threads is charged to the calling thread's
// work counter (work_counter.h), so counted FLOPs do not depend on the team
// size. REQUIRES: fn(i) for different i touch disjoint outputs; fn must not
// throw. With a team of one it is a plain loop.
#ifndef TRILEMMA_ENGINES_OPS_PARALLEL_H_
#define TRILEMMA_ENGINES_OPS_PARALLEL_H_

#include <omp.h>

#include <cstdint>

#include "engines/ops/work_counter.h"

namespace trilemma::ops {

// The team size of this thread's parallel kernels and matmuls (matmul.cc).
int StepThreads();

template <typename Fn>
void ParallelFor(int64_t n, const Fn& fn) {
  const int threads = StepThreads();
  if (threads <= 1 || n <= 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  int64_t moved = 0;
#pragma omp parallel num_threads(threads) reduction(+ : moved)
  {
    const int64_t start = CountedFlops();
#pragma omp for schedule(static)
    for (int64_t i = 0; i < n; ++i) fn(i);
    if (omp_get_thread_num() != 0) moved += CountedFlops() - start;
  }
  CountFlops(moved);
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_PARALLEL_H_
