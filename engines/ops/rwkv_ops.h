// Kernels of the RWKV-7 ("Goose") layer, one token at a time: the generalised
// delta rule with vector-valued decay, the per-head GroupNorm of its output,
// the token-shift mix and the squared ReLU of its channel mix
// (engines/rwkv7/rwkv7_mixers.h has the layer's equations).
//
// The state of one head is stored S[dk][dv] row-major (the transpose of the
// usual v kᵀ layout, as linear_recurrence.h does), so with kk the unit
// "removal" key, a the in-context learning rate and decay = exp(w):
//   Sᵀ ← Sᵀ·(diag(decay) − kk (a⊙kk)ᵀ) + v kᵀ
//   o  = Sᵀ r
// Example (one head):
//   ops::GeneralizedDeltaStep(r, decay, k, v, kk, a, dk, dv, s, o, scratch);
//
// Thread-safe (pure functions over caller-owned memory).
#ifndef TRILEMMA_ENGINES_OPS_RWKV_OPS_H_
#define TRILEMMA_ENGINES_OPS_RWKV_OPS_H_

#include <cstdint>

namespace trilemma::ops {

// One token of one head of the generalised delta rule (RWKV-7):
//   u[j]    = Σ_i kk_i S[i][j]                                   (dv)
//   S[i][j] = decay_i S[i][j] − (kk_i a_i) u[j] + k_i v_j        (dk × dv)
//   o[j]    = Σ_i r_i S[i][j]                                    (dv)
// r, decay, k, kk, a: [dk]; v, o: [dv]; s: [dk][dv]; `scratch` holds dv
// floats. o must not alias the inputs.
void GeneralizedDeltaStep(const float* r, const float* decay, const float* k,
                          const float* v, const float* kk, const float* a,
                          int64_t dk, int64_t dv, float* s, float* o,
                          float* scratch);
// Its FLOPs: the removal read (2·dk·dv), the update (5·dk·dv: decay, the
// rank-one removal and the write), the read-out (2·dk·dv) and kk⊙a (dk).
inline int64_t GeneralizedDeltaStepFlops(int64_t dk, int64_t dv) {
  return 9 * dk * dv + dk;
}

// GroupNorm of each of `rows` rows of width `groups`·n, every group of n
// channels normalised on its own:
//   y = (x − mean_g) / sqrt(var_g + eps) ⊙ weight + bias   (bias may be null)
// y may alias x.
void GroupNorm(const float* x, const float* weight, const float* bias,
               int64_t groups, int64_t n, float eps, int64_t rows, float* y);

// Token-shift mix (fla's addcmul): y = x + (prev − x) ⊙ mu, width n.
void ShiftMix(const float* x, const float* prev, const float* mu, int64_t n,
              float* y);

// x = max(x, 0)² in place over n floats (RWKV's channel-mix activation).
void SquaredRelu(float* x, int64_t n);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_RWKV_OPS_H_
