// Kernels of the matrix-state recurrences, one token of one head at a time:
// linear attention (a feature map φ, a decayed outer-product memory and its
// read, with an optional normaliser) and the gated delta rule.
//
// Every memory S is stored [dk][dv] row-major — row i is what feature (or key
// channel) i has accumulated — so updates and reads are row-wise axpys:
//
//   linear attention   S ← γ·S + φ(k) vᵀ       z ← γ·z + φ(k)
//                      o = Sᵀφ(q)              (or Sᵀφ(q) / (φ(q)·z + ε))
//   gated delta rule   Sᵀ ← α·Sᵀ(I − β k kᵀ) + β v kᵀ
//                      o = Sᵀq
//
// Example (one head, identity features, no decay):
//   ops::DecayedOuterUpdate(1.0f, k, v, dk, dv, s, /*z=*/nullptr);
//   ops::OuterRead(s, /*z=*/nullptr, q, dk, dv, o);
//
// Thread-safe (pure functions over caller-owned state).
#ifndef TRILEMMA_ENGINES_OPS_LINEAR_RECURRENCE_H_
#define TRILEMMA_ENGINES_OPS_LINEAR_RECURRENCE_H_

#include <cstdint>
#include <string>

namespace trilemma::ops {

// Feature maps φ of linear attention.
//   kIdentity  φ(x) = x
//   kElu1      φ(x) = elu(x) + 1 (positive; Katharopoulos et al. 2020)
//   kTaylor2   φ(x) = [c, x, x_i·x_j (i < j), x_i²/√2], the second-order
//              Taylor features of exp (Based), so that
//              φ(q)·φ(k) = c² + q·k + (q·k)²/2. The constant c is 1 when
//              `constant` is set (the series' leading term, used with the
//              normaliser so every weight is ≥ 1/2) and absent otherwise.
enum class FeatureMap { kIdentity, kElu1, kTaylor2 };

// "identity" | "elu1" | "taylor2"; kIdentity for anything else.
FeatureMap FeatureMapFromName(const std::string& name);

// Width of φ(x) for x of width n. `constant` only affects kTaylor2.
int64_t FeatureDim(FeatureMap map, int64_t n, bool constant);

// phi[FeatureDim(map, n, constant)] = φ(x[n]).
void ApplyFeatureMap(FeatureMap map, const float* x, int64_t n, bool constant,
                     float* phi);

// FLOPs of ApplyFeatureMap (one per output feature for taylor2, one per
// input otherwise; exp counted as one).
int64_t FeatureMapFlops(FeatureMap map, int64_t n, bool constant);

// Epsilon added to the normaliser φ(q)·z of a normalised read.
inline constexpr float kNormaliserEps = 1e-6f;

// S[dk][dv] ← gamma·S + phi_k ⊗ v and, when z is non-null, z[dk] ← gamma·z +
// phi_k. gamma == 1 skips the scaling.
void DecayedOuterUpdate(float gamma, const float* phi_k, const float* v,
                        int64_t dk, int64_t dv, float* s, float* z);

// o[dv] = Sᵀ·phi_q; when z is non-null, divided by (phi_q·z + kNormaliserEps).
void OuterRead(const float* s, const float* z, const float* phi_q, int64_t dk,
               int64_t dv, float* o);

// The gated delta rule on S[dk][dv] (the transpose of the usual v kᵀ layout):
//   u = v − α·Sᵀk;   S ← α·S + β·k ⊗ u
// which is Sᵀ ← α·Sᵀ(I − β k kᵀ) + β v kᵀ. `u` is dv floats of scratch.
// With |k| = 1 and β = 1 the memory's answer to k becomes exactly v.
void DeltaRuleUpdate(float alpha, float beta, const float* k, const float* v,
                     int64_t dk, int64_t dv, float* s, float* u);

// x[n] ← x / max(|x|, eps).
void L2Normalize(float* x, int64_t n, float eps = 1e-6f);

// FLOPs (multiply-add = 2) of the kernels above.
inline int64_t DecayedOuterUpdateFlops(int64_t dk, int64_t dv, bool decayed,
                                       bool normalised) {
  return 2 * dk * dv + (decayed ? dk * dv : 0) +
         (normalised ? (decayed ? 2 * dk : dk) : 0);
}
inline int64_t OuterReadFlops(int64_t dk, int64_t dv, bool normalised) {
  return 2 * dk * dv + (normalised ? 2 * dk + dv : 0);
}
inline int64_t DeltaRuleUpdateFlops(int64_t dk, int64_t dv, bool decayed) {
  // Sᵀk, v − α·(Sᵀk), α·S, + β·k_i·u.
  return 2 * dk * dv + 2 * dv + (decayed ? dk * dv : 0) + 2 * dk * dv + dk;
}
inline int64_t L2NormalizeFlops(int64_t n) { return 3 * n; }

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_LINEAR_RECURRENCE_H_
