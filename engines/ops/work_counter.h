// A per-thread tally of the floating-point work the ops/ kernels execute, so
// tests can measure what an engine step really did instead of trusting the
// engine's own NextStepCost estimate.
//
// Example:
//   const int64_t before = ops::CountedFlops();
//   ABSL_CHECK_OK(engine.Step(batch, tokens, logits));
//   const int64_t step_flops = ops::CountedFlops() - before;
//
// Contract: every kernel in ops/ (Linear, MatMul, AttendSlots,
// AttendSlotsAndRows, the linear-recurrence and SSM kernels, RmsNorm,
// TokenShift, L2Normalize) and the external store's query·key products
// (state/external_kv_store.cc) add their FLOPs (multiply-add = 2, exp = 1,
// as in the *Flops() estimates) once per call, computed from the call's
// sizes. The inline helpers Dot, Axpy, Add and Copy count nothing: they are
// the inner loops of those kernels. Work is charged to the calling thread
// (a matmul counts on the thread that called it whatever threads oneDNN
// uses). The cost is one thread_local add per kernel call.
//
// Thread-safety: each thread has its own counter; read it on the thread that
// ran the work.
#ifndef TRILEMMA_ENGINES_OPS_WORK_COUNTER_H_
#define TRILEMMA_ENGINES_OPS_WORK_COUNTER_H_

#include <cstdint>

namespace trilemma::ops {
namespace internal {
// Constant-initialised, so access needs no TLS init guard.
constinit inline thread_local int64_t counted_flops = 0;
}  // namespace internal

// Adds `flops` to this thread's tally (called by the kernels).
inline void CountFlops(int64_t flops) { internal::counted_flops += flops; }

// This thread's tally since it started; callers take differences.
inline int64_t CountedFlops() { return internal::counted_flops; }

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_WORK_COUNTER_H_
