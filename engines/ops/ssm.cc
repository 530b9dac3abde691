#include "engines/ops/ssm.h"

#include <cmath>

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

void SelectiveScanStep(const float* u, const float* dt, const float* a,
                       const float* b, const float* c, const float* d,
                       int64_t channels, int64_t n, float* h, float* y) {
  CountFlops(SelectiveScanFlops(channels, n));
  for (int64_t ch = 0; ch < channels; ++ch) {
    const float* ac = a + ch * n;
    float* hc = h + ch * n;
    const float dtu = dt[ch] * u[ch];
    float acc = 0.0f;
    for (int64_t i = 0; i < n; ++i) {
      hc[i] = std::exp(dt[ch] * ac[i]) * hc[i] + dtu * b[i];
      acc += c[i] * hc[i];
    }
    y[ch] = acc + d[ch] * u[ch];
  }
}

}  // namespace trilemma::ops
