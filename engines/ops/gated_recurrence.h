// Kernels of today's gated recurrent mixers, one token of one session at a
// time: the gated delta rule of Gated DeltaNet (fla's recurrent form, state
// stored value-major), the scalar-decay SSM step of Mamba-2 (SSD), the
// epsilon-inside L2 normalisation both projects' kernels use, and the gated
// RMSNorm that closes both mixers (docs/engines.md, "Families and their
// folders").
//
// Example (one Gated DeltaNet head, dk = dv = 128):
//   ops::L2NormalizeInside(q, 128, 1e-6f);   // q / sqrt(|q|² + eps)
//   ops::L2NormalizeInside(k, 128, 1e-6f);
//   ops::GatedDeltaRuleStep(std::exp(g), beta, k, v, q, scale, 128, 128, s, o);
//
// Thread-safe (pure functions over caller-owned state).
#ifndef TRILEMMA_ENGINES_OPS_GATED_RECURRENCE_H_
#define TRILEMMA_ENGINES_OPS_GATED_RECURRENCE_H_

#include <cstdint>

namespace trilemma::ops {

// x[n] ← x / sqrt(Σ x² + eps) (fla's l2norm; eps inside the root).
void L2NormalizeInside(float* x, int64_t n, float eps);

// The gated delta rule on S [dv][dk] (row j: what value channel j reads off
// each key channel), with a scalar decay a = exp(g) and write strength β:
//   S ← a·S;  u = β·(v − S k);  S ← S + u kᵀ;  o = scale · S q
// computed in one pass over S, row by row. With |k| = 1, β = 1 and a = 1 the
// memory's answer to k becomes exactly v.
void GatedDeltaRuleStep(float decay, float beta, const float* k, const float* v,
                        const float* q, float scale, int64_t dk, int64_t dv,
                        float* s, float* o);

// One Mamba-2 step of one head: head_dim channels sharing the scalar step dt
// and decay exp(dt·A), state size n, state h [head_dim][n]:
//   h[p] ← exp(dt·A)·h[p] + dt·x[p]·B;   y[p] = C·h[p] + D·x[p]
void ScalarDecaySsmStep(const float* x, float dt, float a, const float* b,
                        const float* c, float d, int64_t head_dim, int64_t n,
                        float* h, float* y);

// Gated RMSNorm over `groups` equal groups of x [n] with gain w [n] and gate
// z [n] (SiLU gate):
//   norm_before_gate:  y = x / rms(x) ⊙ w ⊙ SiLU(z)      (Gated DeltaNet)
//   otherwise:         y = (x ⊙ SiLU(z)) / rms(x ⊙ SiLU(z)) ⊙ w   (Mamba-2)
// rms over each group: sqrt(mean(·²) + eps). z may be null (no gate: plain
// RMSNorm). y may alias x.
void GatedRmsNorm(const float* x, const float* z, const float* w, float eps,
                  int64_t n, int64_t groups, bool norm_before_gate, float* y);

// FLOPs (multiply-add = 2, exp counted as 1) of the kernels above.
inline int64_t L2NormalizeInsideFlops(int64_t n) { return 2 * n + 2; }
inline int64_t GatedDeltaRuleStepFlops(int64_t dk, int64_t dv) {
  // Per row: decay (dk), S k (2dk), u (3), u kᵀ (2dk), S q (2dk), scale (1).
  return dv * (7 * dk + 4);
}
inline int64_t ScalarDecaySsmStepFlops(int64_t head_dim, int64_t n) {
  // exp(dt·A) once; per channel dt·x, per state the update (3) and read (2),
  // plus D·x.
  return 2 + head_dim * (5 * n + 3);
}
inline int64_t GatedRmsNormFlops(int64_t n) { return 8 * n; }

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_GATED_RECURRENCE_H_
