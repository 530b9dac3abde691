#include "client/load/arrivals.h"

#include <cmath>

#include "client/load/workload.h"

namespace trilemma::client {
ArrivalProcess::ArrivalProcess(double rate, double burstiness, uint64_t seed)
    : rng_(seed), rate_(rate), shape_(burstiness) {}

double ArrivalProcess::Gamma(double shape) {
  if (shape < 1) {
    // Gamma(k) = Gamma(k + 1) * U^(1/k) for k < 1.
    const double u = 1.0 - Uniform01(rng_);
    return Gamma(shape + 1) * std::pow(u, 1.0 / shape);
  }
  const double d = shape - 1.0 / 3.0;
  const double c = 1.0 / std::sqrt(9.0 * d);
  while (true) {
    double x, v;
    do {
      x = StandardNormal(rng_);
      v = 1.0 + c * x;
    } while (v <= 0);
    v = v * v * v;
    const double u = 1.0 - Uniform01(rng_);
    if (u < 1.0 - 0.0331 * x * x * x * x) return d * v;
    if (std::log(u) < 0.5 * x * x + d * (1.0 - v + std::log(v))) return d * v;
  }
}

double ArrivalProcess::NextGapSeconds() {
  double gap;
  if (shape_ == 1.0) {
    // Exponential by inversion: exact and cheaper than the gamma sampler.
    gap = -std::log(1.0 - Uniform01(rng_)) / rate_;
  } else {
    gap = Gamma(shape_) / (shape_ * rate_);
  }
  return gap > 0 ? gap : 1e-12;
}

}  // namespace trilemma::client
