// When the requests of an open-loop load arrive: gaps between arrivals drawn
// from a gamma distribution with mean 1/rate. Shape 1 is a Poisson process
// (exponential gaps); a smaller shape gives burstier arrivals (coefficient
// of variation 1/sqrt(shape)), a larger one more regular arrivals.
//
// Example:
//   ArrivalProcess arrivals(/*rate=*/50, /*burstiness=*/1, /*seed=*/7);
//   double t = 0;
//   for (...) { t += arrivals.NextGapSeconds(); SendAt(t); }
//
// The same (rate, burstiness, seed) give the same gaps on every platform.
// Not thread-safe.
#ifndef TRILEMMA_CLIENT_LOAD_ARRIVALS_H_
#define TRILEMMA_CLIENT_LOAD_ARRIVALS_H_

#include <cstdint>
#include <random>

namespace trilemma::client {

class ArrivalProcess {
 public:
  // REQUIRES: rate > 0, burstiness > 0 (both finite).
  ArrivalProcess(double rate, double burstiness, uint64_t seed);

  // Seconds from the previous arrival to the next; > 0.
  double NextGapSeconds();

 private:
  // Gamma(shape, 1) by Marsaglia and Tsang.
  double Gamma(double shape);

  std::mt19937_64 rng_;
  double rate_;
  double shape_;
};

}  // namespace trilemma::client

#endif  // TRILEMMA_CLIENT_LOAD_ARRIVALS_H_
