// ThreadScratch<Buffers>: a forward pass's per-thread buffers, which
// ReleaseThreadScratch frees.
//
// A forward pass keeps its buffers between calls so that a step allocates
// nothing; each stays at the largest batch or prefill chunk met. An idle
// server does not need them: Engine::ReleaseScratch (called by the scheduler
// when it goes idle, docs/overload.md "Memory given back") frees every
// ThreadScratch of the calling thread, and the next call grows them again.
//
// Example:
//   struct QkScratch {
//     std::vector<float> q, k;
//   };
//   QkScratch& s = ops::ThreadScratch<QkScratch>();
//   s.q.resize(rows * d);
//
// Thread-safety: everything here is per thread. REQUIRES: a reference from
// ThreadScratch is not used across a ReleaseThreadScratch on its thread.
#ifndef TRILEMMA_ENGINES_OPS_THREAD_SCRATCH_H_
#define TRILEMMA_ENGINES_OPS_THREAD_SCRATCH_H_

#include <utility>
#include <vector>

namespace trilemma::ops {
namespace internal {

// One resetter per Buffers type this thread has used.
inline thread_local std::vector<void (*)()> thread_scratch_resetters;

template <typename Buffers>
Buffers& ThreadScratchSlot() {
  thread_local Buffers buffers;
  return buffers;
}

}  // namespace internal

// This thread's Buffers (default-constructed on first use).
template <typename Buffers>
Buffers& ThreadScratch() {
  thread_local bool registered = false;
  if (!registered) {
    registered = true;
    internal::thread_scratch_resetters.push_back(+[] {
      // Swapped with empty buffers, so their heap goes back to malloc.
      Buffers empty;
      std::swap(internal::ThreadScratchSlot<Buffers>(), empty);
    });
  }
  return internal::ThreadScratchSlot<Buffers>();
}

// Frees every ThreadScratch buffer of the calling thread.
inline void ReleaseThreadScratch() {
  for (void (*reset)() : internal::thread_scratch_resetters) reset();
}

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_THREAD_SCRATCH_H_
