#include "engines/ops/ssm.h"

#include <cmath>

#include "engines/ops/fast_math.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"

namespace trilemma::ops {

void CausalConvStep(const float* x, const float* w, const float* b,
                    int64_t channels, int kernel, float* window, float* out) {
  CountFlops(CausalConvFlops(channels, kernel));
  const int history = kernel - 1;
  for (int64_t c = 0; c < channels; ++c) {
    const float* wc = w + c * kernel;
    float* hist = window + c * history;
    float acc = b[c] + wc[history] * x[c];
    for (int j = 0; j < history; ++j) acc += wc[j] * hist[j];
    out[c] = acc;
    for (int j = 0; j + 1 < history; ++j) hist[j] = hist[j + 1];
    if (history > 0) hist[history - 1] = x[c];
  }
}

TRILEMMA_VECTOR_KERNEL
void SelectiveScanStep(const float* u, const float* dt, const float* a,
                       const float* b, const float* c, const float* d,
                       int64_t channels, int64_t n, float* h, float* y) {
  CountFlops(SelectiveScanFlops(channels, n));
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float* ac = a + ch * n;
    float* hc = h + ch * n;
    const float dtc = dt[ch];
    const float dtu = dtc * u[ch];
    // The update and the read are separate loops: a float sum in the same
    // loop would keep GCC from vectorising the exps.
    for (int64_t i = 0; i < n; ++i) {
      hc[i] = FastExp(dtc * ac[i]) * hc[i] + dtu * b[i];
    }
    y[ch] = Dot(c, hc, n) + d[ch] * u[ch];
  }
}

}  // namespace trilemma::ops
