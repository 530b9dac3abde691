// Unit tests of engines/ops: the oneDNN matmuls and the per-row kernels
// against naive double-precision loops, and AttendSlots against a naive
// multi-head softmax attention over the same KV rows.
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <random>
#include <thread>
#include <vector>

#include "engines/ops/attention.h"
#include "engines/ops/fast_math.h"
#include "engines/ops/linear_recurrence.h"
#include "engines/ops/matmul.h"
#include "engines/ops/rwkv_ops.h"
#include "engines/ops/ssm.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace trilemma::ops {
namespace {

std::vector<float> RandomVector(int64_t n, std::mt19937_64& rng,
                                float stddev = 1.0f) {
  std::normal_distribution<float> normal(0.0f, stddev);
  std::vector<float> v(n);
  for (float& x : v) x = normal(rng);
  return v;
}

// Expects |got - want| <= 1e-5 * scale[i] + 1e-6 element-wise, where scale
// bounds the magnitude of the terms summed into element i (so the bound is
// independent of cancellation).
void ExpectClose(const std::vector<float>& got, const std::vector<double>& want,
                 const std::vector<double>& scale, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], 1e-5 * scale[i] + 1e-6)
        << what << " element " << i;
  }
}

struct MatShape {
  int64_t m, k, n;
};

class MatMulShapes : public ::testing::TestWithParam<MatShape> {};

TEST_P(MatMulShapes, LinearMatchesNaive) {
  const auto [rows, in, out] = GetParam();
  std::mt19937_64 rng(rows * 1000003 + in * 101 + out);
  const std::vector<float> x = RandomVector(rows * in, rng);
  const std::vector<float> w = RandomVector(out * in, rng);  // W[out][in]
  std::vector<double> want(rows * out), scale(rows * out);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t o = 0; o < out; ++o) {
      double sum = 0, mag = 0;
      for (int64_t i = 0; i < in; ++i) {
        sum += double{x[r * in + i]} * w[o * in + i];
        mag += std::fabs(double{x[r * in + i]} * w[o * in + i]);
      }
      want[r * out + o] = sum;
      scale[r * out + o] = mag;
    }
  }
  std::vector<float> y(rows * out, NAN);
  Linear(x.data(), rows, in, w.data(), out, y.data());
  ExpectClose(y, want, scale, "Linear");
  // The cached primitive must not remember the previous buffers.
  std::vector<float> x2 = x;
  for (float& v : x2) v = -v;
  std::vector<float> y2(rows * out, NAN);
  Linear(x2.data(), rows, in, w.data(), out, y2.data());
  for (double& v : want) v = -v;
  ExpectClose(y2, want, scale, "Linear (second call, negated input)");
  EXPECT_EQ(LinearFlops(rows, in, out), 2 * rows * in * out);
}

TEST_P(MatMulShapes, MatMulMatchesNaive) {
  const auto [m, k, n] = GetParam();
  std::mt19937_64 rng(m * 7 + k * 13 + n * 17);
  const std::vector<float> a = RandomVector(m * k, rng);
  const std::vector<float> b = RandomVector(k * n, rng);  // b[k][n]
  std::vector<double> want(m * n), scale(m * n);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double sum = 0, mag = 0;
      for (int64_t p = 0; p < k; ++p) {
        sum += double{a[i * k + p]} * b[p * n + j];
        mag += std::fabs(double{a[i * k + p]} * b[p * n + j]);
      }
      want[i * n + j] = sum;
      scale[i * n + j] = mag;
    }
  }
  std::vector<float> c(m * n, NAN);
  MatMul(a.data(), b.data(), c.data(), m, k, n);
  ExpectClose(c, want, scale, "MatMul");
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, MatMulShapes,
    ::testing::Values(MatShape{1, 1, 1}, MatShape{1, 32, 96},
                      MatShape{1, 128, 8192}, MatShape{3, 17, 5},
                      MatShape{7, 128, 33}, MatShape{32, 64, 129},
                      MatShape{5, 1, 9}, MatShape{2, 333, 1}),
    [](const ::testing::TestParamInfo<MatShape>& info) {
      return "m" + std::to_string(info.param.m) + "_k" +
             std::to_string(info.param.k) + "_n" + std::to_string(info.param.n);
    });

// A packed LinearWeight runs each row count through its own bucket (exact,
// padded to 8 or 32, chunks of 256) or, below 4 rows, the plain weights:
// every path must give the naive product with bias and GELU, and write no
// row past `rows`.
class PackedLinearRows : public ::testing::TestWithParam<int64_t> {};

TEST_P(PackedLinearRows, MatchesNaiveWithBiasAndGelu) {
  const int64_t rows = GetParam(), in = 300, out = 230;  // big enough to pack
  std::mt19937_64 rng(rows);
  const std::vector<float> x = RandomVector(rows * in, rng);
  const std::vector<float> w = RandomVector(out * in, rng);  // W[out][in]
  const std::vector<float> bias = RandomVector(out, rng);
  const LinearWeight packed(w.data(), out, in);
  EXPECT_EQ(packed.data(), w.data());
  EXPECT_EQ(packed.out(), out);
  EXPECT_EQ(packed.in(), in);
  // oneDNN 2.6 packs f32 weights for its AVX-512 kernels; elsewhere this
  // test covers the plain fallback.
#if defined(__x86_64__)
  if (__builtin_cpu_supports("avx512f")) {
    EXPECT_TRUE(packed.packed());
  }
#endif
  for (const Activation act : {Activation::kNone, Activation::kGeluErf}) {
    for (const bool with_bias : {false, true}) {
      std::vector<double> want(rows * out), scale(rows * out);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          double sum = with_bias ? bias[o] : 0.0, mag = std::fabs(sum);
          for (int64_t i = 0; i < in; ++i) {
            sum += double{x[r * in + i]} * w[o * in + i];
            mag += std::fabs(double{x[r * in + i]} * w[o * in + i]);
          }
          if (act == Activation::kGeluErf) {
            sum = 0.5 * sum * (1.0 + std::erf(sum / std::sqrt(2.0)));
          }
          want[r * out + o] = sum;
          scale[r * out + o] = mag;
        }
      }
      // One guard row past the end must keep its NaNs.
      std::vector<float> y((rows + 1) * out, NAN);
      const int64_t before = CountedFlops();
      Linear(x.data(), rows, packed, y.data(),
             with_bias ? bias.data() : nullptr, act);
      const int64_t flops = CountedFlops() - before;
      std::vector<float> head(y.begin(), y.begin() + rows * out);
      ExpectClose(head, want, scale,
                  "packed Linear, rows " + std::to_string(rows) +
                      (with_bias ? " +bias" : "") +
                      (act == Activation::kGeluErf ? " gelu" : ""));
      for (int64_t o = 0; o < out; ++o) {
        ASSERT_TRUE(std::isnan(y[rows * out + o])) << "wrote past row " << rows;
      }
      EXPECT_EQ(flops, LinearFlops(rows, in, out) +
                           (with_bias ? rows * out : 0) +
                           (act == Activation::kGeluErf ? 5 * rows * out : 0));
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Rows, PackedLinearRows,
                         ::testing::Values(1, 3, 4, 5, 8, 9, 17, 64, 65, 100,
                                           256, 257, 600));

TEST(MatMulTest, AbsentAndSmallLinearWeightsAreNotPacked) {
  const LinearWeight none(nullptr, 4, 4);
  EXPECT_FALSE(none.packed());
  EXPECT_EQ(none.data(), nullptr);
  const std::vector<float> w(128 * 8192, 0.5f);  // a circuit's readout
  EXPECT_FALSE(LinearWeight(w.data(), 8192, 128).packed());
}

// Primitives are cached per thread: concurrent callers with the same and
// different shapes must each get their own correct results.
TEST(MatMulTest, LinearFromSeveralThreads) {
  constexpr int kThreads = 3;
  std::vector<std::vector<float>> results(kThreads), expected(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([t, &results, &expected] {
      std::mt19937_64 rng(t);
      const int64_t rows = 1 + t % 2, in = 24, out = 40 + t % 2;
      const std::vector<float> x = RandomVector(rows * in, rng);
      const std::vector<float> w = RandomVector(out * in, rng);
      for (int rep = 0; rep < 50; ++rep) {
        results[t].assign(rows * out, NAN);
        Linear(x.data(), rows, in, w.data(), out, results[t].data());
      }
      expected[t].assign(rows * out, 0.0f);
      for (int64_t r = 0; r < rows; ++r) {
        for (int64_t o = 0; o < out; ++o) {
          double sum = 0;
          for (int64_t i = 0; i < in; ++i) {
            sum += double{x[r * in + i]} * w[o * in + i];
          }
          expected[t][r * out + o] = static_cast<float>(sum);
        }
      }
    });
  }
  for (std::thread& th : threads) th.join();
  for (int t = 0; t < kThreads; ++t) {
    ASSERT_EQ(results[t].size(), expected[t].size());
    for (size_t i = 0; i < results[t].size(); ++i) {
      EXPECT_NEAR(results[t][i], expected[t][i], 1e-4) << "thread " << t;
    }
  }
}

TEST(VectorOpsTest, RmsNormMatchesNaivePerRow) {
  std::mt19937_64 rng(3);
  const int64_t rows = 3, n = 37;
  std::vector<float> x = RandomVector(rows * n, rng, 2.0f);
  x[n] = 0.0f;  // a row with one zero element must not disturb the others
  const std::vector<float> g = RandomVector(n, rng);
  const float eps = 1e-6f;
  std::vector<float> y(rows * n, NAN);
  RmsNorm(x.data(), g.data(), eps, rows, n, y.data());
  for (int64_t r = 0; r < rows; ++r) {
    double sum_sq = 0;
    for (int64_t i = 0; i < n; ++i) {
      sum_sq += double{x[r * n + i]} * x[r * n + i];
    }
    const double inv = 1.0 / std::sqrt(sum_sq / n + eps);
    for (int64_t i = 0; i < n; ++i) {
      const double want = x[r * n + i] * inv * g[i];
      EXPECT_NEAR(y[r * n + i], want, 1e-5 * (std::fabs(want) + 1e-3))
          << "row " << r << " col " << i;
    }
  }
  // In place gives the same as out of place.
  std::vector<float> in_place = x;
  RmsNorm(in_place.data(), g.data(), eps, rows, n, in_place.data());
  EXPECT_EQ(in_place, y);
}

TEST(VectorOpsTest, RmsNormOfZeroRowIsZeroNotNan) {
  const std::vector<float> x(8, 0.0f), g(8, 1.0f);
  std::vector<float> y(8, NAN);
  RmsNorm(x.data(), g.data(), 1e-6f, 1, 8, y.data());
  for (float v : y) EXPECT_EQ(v, 0.0f);
}

TEST(VectorOpsTest, TokenShiftMixesCurrentAndPrevious) {
  std::mt19937_64 rng(4);
  const int64_t n = 19;
  const std::vector<float> cur = RandomVector(n, rng),
                           prev = RandomVector(n, rng);
  const std::vector<float> wc = RandomVector(n, rng), wp = RandomVector(n, rng);
  std::vector<float> y(n, NAN);
  TokenShift(cur.data(), prev.data(), wc.data(), wp.data(), n, y.data());
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_FLOAT_EQ(y[i], wc[i] * cur[i] + wp[i] * prev[i]) << i;
  }
  // Pure taps select one input: (1, 0) is the current token, (0, 1) the
  // previous one.
  const std::vector<float> ones(n, 1.0f), zeros(n, 0.0f);
  TokenShift(cur.data(), prev.data(), ones.data(), zeros.data(), n, y.data());
  EXPECT_EQ(y, cur);
  TokenShift(cur.data(), prev.data(), zeros.data(), ones.data(), n, y.data());
  EXPECT_EQ(y, prev);
}

TEST(VectorOpsTest, ArgmaxFindsFirstLargest) {
  const std::vector<float> single = {-3.0f};
  EXPECT_EQ(Argmax(single.data(), 1), 0);
  const std::vector<float> last = {-5.0f, -4.0f, -1.0f};
  EXPECT_EQ(Argmax(last.data(), 3), 2);
  const std::vector<float> first = {9.0f, 1.0f, 2.0f};
  EXPECT_EQ(Argmax(first.data(), 3), 0);
  const std::vector<float> ties = {1.0f, 7.0f, 3.0f, 7.0f};
  EXPECT_EQ(Argmax(ties.data(), 4), 1);
  std::mt19937_64 rng(5);
  std::vector<float> big = RandomVector(8191, rng);
  big[4321] = 100.0f;
  EXPECT_EQ(Argmax(big.data(), 8191), 4321);
}

TEST(VectorOpsTest, ScalarHelpers) {
  const std::vector<float> a = {1, 2, 3}, b = {4, -5, 6};
  EXPECT_FLOAT_EQ(Dot(a.data(), b.data(), 3), 4 - 10 + 18);
  std::vector<float> y = b;
  Axpy(2.0f, a.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{6, -1, 12}));
  Add(a.data(), y.data(), 3);
  EXPECT_EQ(y, (std::vector<float>{7, 1, 15}));
  Copy(a.data(), y.data(), 3);
  EXPECT_EQ(y, a);
  EXPECT_NEAR(Silu(1.0f), 1.0 / (1.0 + std::exp(-1.0)), 1e-6);
  EXPECT_NEAR(Sigmoid(0.0f), 0.5f, 1e-7);
  EXPECT_NEAR(Softplus(0.0f), std::log(2.0), 1e-6);
  EXPECT_FLOAT_EQ(Softplus(100.0f), 100.0f);
  EXPECT_GE(Softplus(-100.0f), 0.0f);
  EXPECT_LT(Softplus(-100.0f), 1e-30f);
  EXPECT_FALSE(std::isnan(Softplus(1e30f)));
}

// FastExp over its whole range (every 1/64 and the edges) against double
// exp: within 3 ulp where e^x is a normal float, 0 below, inf above, NaN
// kept; FastSilu and FastSigmoid follow.
TEST(FastMathTest, FastExpIsWithinThreeUlpOfExp) {
  std::vector<float> xs;
  for (int i = -100 * 64; i <= 100 * 64; ++i) xs.push_back(i / 64.0f);
  for (float x : {-86.6f, -86.59f, 88.71f, 0.0f, -0.0f, 1e-30f, -1e-30f}) {
    xs.push_back(x);
  }
  std::vector<float> got(xs.size());
  for (size_t i = 0; i < xs.size(); ++i) got[i] = FastExp(xs[i]);
  for (size_t i = 0; i < xs.size(); ++i) {
    const float x = xs[i];
    if (x <= -86.6f) {
      EXPECT_EQ(got[i], 0.0f) << x;
    } else if (x >= 88.72f) {
      EXPECT_EQ(got[i], std::numeric_limits<float>::infinity()) << x;
    } else {
      const double want = std::exp(static_cast<double>(x));
      EXPECT_LE(std::fabs(got[i] - want), 3 * 0x1p-23 * want) << x;
    }
  }
  EXPECT_TRUE(std::isnan(FastExp(NAN)));
  EXPECT_EQ(FastExp(-INFINITY), 0.0f);
  EXPECT_EQ(FastExp(INFINITY), INFINITY);
  for (float x : {-30.0f, -2.5f, 0.0f, 0.75f, 12.0f}) {
    EXPECT_NEAR(FastSilu(x), x / (1.0 + std::exp(-double{x})),
                1e-6 * (1 + std::fabs(x)))
        << x;
    EXPECT_NEAR(FastSigmoid(x), 1.0 / (1.0 + std::exp(-double{x})), 1e-7) << x;
  }
}

// AttendSlots over a KvBlockTable, against naive per-head softmax attention.
struct AttendCase {
  int heads, head_dim, block_tokens;
  int64_t slots;
  float scale;
};

class AttendSlotsTest : public ::testing::TestWithParam<AttendCase> {};

TEST_P(AttendSlotsTest, MatchesNaiveSoftmaxAttention) {
  const AttendCase c = GetParam();
  const int layers = 2, kv_dim = c.heads * c.head_dim;
  KvBlockPool pool("attend_test", int64_t{1} << 24,
                   KvBlockTable::BlockBytes(layers, kv_dim, c.block_tokens));
  KvBlockTable kv(&pool, layers, kv_dim, c.block_tokens);
  ASSERT_TRUE(kv.EnsureSlots(c.slots).ok());
  std::mt19937_64 rng(c.slots * 31 + c.heads);
  // Distinct content per layer, so reading the wrong layer shows.
  std::vector<std::vector<float>> keys(layers), values(layers);
  for (int l = 0; l < layers; ++l) {
    keys[l] = RandomVector(c.slots * kv_dim, rng);
    values[l] = RandomVector(c.slots * kv_dim, rng);
    for (int64_t s = 0; s < c.slots; ++s) {
      Copy(&keys[l][s * kv_dim], kv.Key(l, s), kv_dim);
      Copy(&values[l][s * kv_dim], kv.Value(l, s), kv_dim);
    }
  }
  const std::vector<float> q = RandomVector(kv_dim, rng);
  for (int layer = 0; layer < layers; ++layer) {
    std::vector<double> want(kv_dim, 0.0), want_probs(c.slots, 0.0);
    for (int h = 0; h < c.heads; ++h) {
      std::vector<double> score(c.slots);
      double max_score = -INFINITY;
      for (int64_t s = 0; s < c.slots; ++s) {
        double dot = 0;
        for (int i = 0; i < c.head_dim; ++i) {
          dot += double{q[h * c.head_dim + i]} *
                 keys[layer][s * kv_dim + h * c.head_dim + i];
        }
        score[s] = c.scale * dot;
        max_score = std::max(max_score, score[s]);
      }
      double sum = 0;
      for (double& v : score) sum += (v = std::exp(v - max_score));
      for (int64_t s = 0; s < c.slots; ++s) {
        const double p = score[s] / sum;
        want_probs[s] += p;
        for (int i = 0; i < c.head_dim; ++i) {
          want[h * c.head_dim + i] +=
              p * values[layer][s * kv_dim + h * c.head_dim + i];
        }
      }
    }
    std::vector<float> out(kv_dim, NAN), probs(c.slots, NAN);
    AttendSlots(q.data(), c.heads, c.head_dim, c.scale, kv, layer, c.slots,
                out.data(), probs.data());
    for (int i = 0; i < kv_dim; ++i) {
      ASSERT_NEAR(out[i], want[i], 1e-4) << "layer " << layer << " out " << i;
    }
    double probs_sum = 0;
    for (int64_t s = 0; s < c.slots; ++s) {
      ASSERT_NEAR(probs[s], want_probs[s], 1e-5)
          << "layer " << layer << " slot " << s;
      probs_sum += probs[s];
    }
    EXPECT_NEAR(probs_sum, c.heads, 1e-4);
    // Without probs_out the output is the same.
    std::vector<float> out2(kv_dim, NAN);
    AttendSlots(q.data(), c.heads, c.head_dim, c.scale, kv, layer, c.slots,
                out2.data());
    EXPECT_EQ(out2, out);
  }
  EXPECT_EQ(AttendFlops(c.slots, kv_dim), 4 * c.slots * kv_dim);
}

INSTANTIATE_TEST_SUITE_P(
    Shapes, AttendSlotsTest,
    ::testing::Values(AttendCase{1, 8, 4, 1, 0.35f},  // a single slot
                      AttendCase{1, 8, 4, 4, 0.35f},  // exactly one block
                      AttendCase{2, 8, 4, 5, 0.35f},  // one past a block
                      AttendCase{4, 4, 3, 10, 0.5f},  // several partial
                      AttendCase{3, 5, 1, 7, 0.45f},  // one slot per block
                      AttendCase{2, 16, 16, 40, 0.25f},
                      AttendCase{2, 8, 4, 9, 60.0f}),  // near-hard max
    [](const ::testing::TestParamInfo<AttendCase>& info) {
      return "h" + std::to_string(info.param.heads) + "_hd" +
             std::to_string(info.param.head_dim) + "_T" +
             std::to_string(info.param.block_tokens) + "_slots" +
             std::to_string(info.param.slots) + "_i" +
             std::to_string(info.index);
    });

// A large scale must not overflow exp(): the matching slot takes all weight.
TEST(AttendSlotsEdgeTest, HugeScoresStayFinite) {
  const int kv_dim = 4;
  KvBlockPool pool("attend_test", 1 << 20,
                   KvBlockTable::BlockBytes(1, kv_dim, 2));
  KvBlockTable kv(&pool, 1, kv_dim, 2);
  ASSERT_TRUE(kv.EnsureSlots(3).ok());
  const float keys[3][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}};
  for (int s = 0; s < 3; ++s) {
    Copy(keys[s], kv.Key(0, s), kv_dim);
    for (int i = 0; i < kv_dim; ++i) {
      kv.Value(0, s)[i] = static_cast<float>(s * 10 + i);
    }
  }
  const float q[4] = {0, 0, 1, 0};
  float out[4], probs[3];
  AttendSlots(q, 1, kv_dim, 1e4f, kv, 0, 3, out, probs);
  for (int i = 0; i < kv_dim; ++i) EXPECT_FLOAT_EQ(out[i], 20.0f + i);
  EXPECT_FLOAT_EQ(probs[2], 1.0f);
  EXPECT_FLOAT_EQ(probs[0], 0.0f);
}

// The work counter: each kernel adds exactly its analytic FLOPs per call,
// computed from that call's sizes, on the calling thread only.
// The RWKV-7 step against the matrix form Sᵀ ← Sᵀ(diag(decay) − kk (a⊙kk)ᵀ)
// + v kᵀ, o = Sᵀ r, written out over M = Sᵀ [dv][dk].
TEST(RwkvOpsTest, GeneralizedDeltaStepMatchesTheMatrixForm) {
  constexpr int dk = 5, dv = 3;
  std::mt19937 rng(3);
  std::normal_distribution<float> n(0.0f, 1.0f);
  std::vector<float> s(dk * dv), m(dv * dk);
  for (int i = 0; i < dk; ++i) {
    for (int j = 0; j < dv; ++j) m[j * dk + i] = s[i * dv + j] = n(rng);
  }
  for (int step = 0; step < 3; ++step) {
    std::vector<float> r(dk), decay(dk), k(dk), kk(dk), a(dk), v(dv);
    for (int i = 0; i < dk; ++i) {
      r[i] = n(rng), decay[i] = 0.5f + 0.1f * i, k[i] = n(rng);
      kk[i] = n(rng), a[i] = 0.2f * i;
    }
    for (float& x : v) x = n(rng);
    std::vector<float> o(dv), scratch(dv);
    const int64_t before = CountedFlops();
    GeneralizedDeltaStep(r.data(), decay.data(), k.data(), v.data(), kk.data(),
                         a.data(), dk, dv, s.data(), o.data(), scratch.data());
    EXPECT_EQ(CountedFlops() - before, GeneralizedDeltaStepFlops(dk, dv));
    std::vector<float> next(dv * dk);
    for (int j = 0; j < dv; ++j) {
      for (int c = 0; c < dk; ++c) {
        float sum = 0;  // (M · T)[j][c], T = diag(decay) − kk (a⊙kk)ᵀ
        for (int i = 0; i < dk; ++i) {
          const float t = (i == c ? decay[i] : 0.0f) - kk[i] * a[c] * kk[c];
          sum += m[j * dk + i] * t;
        }
        next[j * dk + c] = sum + v[j] * k[c];
      }
    }
    m = next;
    for (int j = 0; j < dv; ++j) {
      float want = 0;
      for (int i = 0; i < dk; ++i) want += m[j * dk + i] * r[i];
      EXPECT_NEAR(o[j], want, 1e-4f) << "step " << step << ", j " << j;
      for (int i = 0; i < dk; ++i) {
        EXPECT_NEAR(s[i * dv + j], m[j * dk + i], 1e-4f);
      }
    }
  }
}

TEST(RwkvOpsTest, GroupNormShiftMixAndSquaredRelu) {
  // Two rows of two groups of 3: each group normalised on its own.
  const float x[12] = {1, 2, 3, 10, 10, 16, -1, 0, 1, 4, 4, 4};
  const float w[6] = {1, 1, 1, 2, 2, 2}, b[6] = {0, 0, 0, 1, 1, 1};
  float y[12];
  GroupNorm(x, w, b, 2, 3, 0.0f, 2, y);
  const float s = std::sqrt(1.5f);  // 1 / std of {1, 2, 3}
  EXPECT_NEAR(y[0], -s, 1e-5f);
  EXPECT_NEAR(y[2], s, 1e-5f);
  EXPECT_NEAR(y[3], 2 * (-1 / std::sqrt(2.0f)) + 1, 1e-5f);  // {10,10,16}
  EXPECT_NEAR(y[5], 2 * std::sqrt(2.0f) + 1, 1e-5f);
  EXPECT_NEAR(y[6], -s, 1e-5f);
  float z[3];
  GroupNorm(x + 9, w, nullptr, 1, 3, 1e-5f, 1, z);  // a constant group
  EXPECT_EQ(z[0], 0.0f);
  const float cur[3] = {1, 2, 3}, prev[3] = {5, 2, -1}, mu[3] = {0, 0.5f, 1};
  float mixed[3];
  ShiftMix(cur, prev, mu, 3, mixed);
  EXPECT_THAT(mixed, ::testing::ElementsAre(1.0f, 2.0f, -1.0f));
  float act[3] = {-2, 0.5f, 3};
  SquaredRelu(act, 3);
  EXPECT_THAT(act, ::testing::ElementsAre(0.0f, 0.25f, 9.0f));
}

TEST(ThreadScratchTest, ReleaseFreesTheCallingThreadsBuffersOnly) {
  struct Buffers {
    std::vector<float> a, b;
  };
  Buffers& mine = ThreadScratch<Buffers>();
  mine.a.resize(1 << 16);
  mine.b.resize(1 << 12);
  EXPECT_EQ(&ThreadScratch<Buffers>(), &mine);  // one per thread and type
  size_t other_capacity = 0;
  std::thread other([&] {
    Buffers& theirs = ThreadScratch<Buffers>();
    EXPECT_NE(&theirs, &mine);
    theirs.a.resize(100);
    ReleaseThreadScratch();
    other_capacity = theirs.a.capacity();
  });
  other.join();
  EXPECT_EQ(other_capacity, 0u);
  EXPECT_GE(mine.a.capacity(),
            size_t{1} << 16);  // untouched by the other release

  ReleaseThreadScratch();
  EXPECT_EQ(mine.a.capacity(), 0u);
  EXPECT_EQ(mine.b.capacity(), 0u);
  mine.a.resize(8);  // usable again after a release
  EXPECT_EQ(ThreadScratch<Buffers>().a.size(), 8u);
}

TEST(WorkCounterTest, EachKernelAddsItsFlopsOnItsThread) {
  std::mt19937_64 rng(17);
  auto counted = [](const std::function<void()>& kernel) {
    const int64_t before = CountedFlops();
    kernel();
    return CountedFlops() - before;
  };
  const std::vector<float> x = RandomVector(3 * 8, rng);
  const std::vector<float> w = RandomVector(5 * 8, rng);
  std::vector<float> y(3 * 8);
  EXPECT_EQ(counted([&] { Linear(x.data(), 3, 8, w.data(), 5, y.data()); }),
            LinearFlops(3, 8, 5));
  EXPECT_EQ(counted([&] { MatMul(x.data(), w.data(), y.data(), 3, 8, 5); }),
            2 * 3 * 8 * 5);

  const int kv_dim = 8;
  KvBlockPool pool("counter_test", 1 << 20,
                   KvBlockTable::BlockBytes(1, kv_dim, 4));
  KvBlockTable kv(&pool, 1, kv_dim, 4);
  ASSERT_TRUE(kv.EnsureSlots(10).ok());
  std::vector<float> out(kv_dim);
  for (const int64_t slots : {1, 10}) {
    EXPECT_EQ(counted([&] {
                AttendSlots(x.data(), 2, 4, 0.5f, kv, 0, slots, out.data());
              }),
              AttendFlops(slots, kv_dim))
        << slots << " slots";
  }

  std::vector<float> s(4 * 6, 0.0f), z(4, 0.0f), u(6), o(6);
  EXPECT_EQ(counted([&] {
              DecayedOuterUpdate(0.9f, x.data(), w.data(), 4, 6, s.data(),
                                 z.data());
            }),
            DecayedOuterUpdateFlops(4, 6, true, true));
  EXPECT_EQ(
      counted([&] { OuterRead(s.data(), nullptr, x.data(), 4, 6, o.data()); }),
      OuterReadFlops(4, 6, false));
  EXPECT_EQ(counted([&] {
              DeltaRuleUpdate(1.0f, 0.5f, x.data(), w.data(), 4, 6, s.data(),
                              u.data());
            }),
            DeltaRuleUpdateFlops(4, 6, false));
  std::vector<float> phi(FeatureDim(FeatureMap::kTaylor2, 4, true));
  EXPECT_EQ(counted([&] {
              ApplyFeatureMap(FeatureMap::kTaylor2, x.data(), 4, true,
                              phi.data());
            }),
            FeatureMapFlops(FeatureMap::kTaylor2, 4, true));
  std::vector<float> window(6 * 3, 0.0f), conv(6), h(6 * 2, 0.0f), ys(6);
  EXPECT_EQ(counted([&] {
              CausalConvStep(x.data(), w.data(), x.data(), 6, 4, window.data(),
                             conv.data());
            }),
            CausalConvFlops(6, 4));
  EXPECT_EQ(counted([&] {
              SelectiveScanStep(x.data(), w.data(), x.data(), w.data(),
                                x.data(), w.data(), 6, 2, h.data(), ys.data());
            }),
            SelectiveScanFlops(6, 2));

  // Another thread's work is its own.
  const int64_t here = CountedFlops();
  int64_t there = 0;
  std::thread other([&] {
    std::vector<float> yy(3 * 5);
    Linear(x.data(), 3, 8, w.data(), 5, yy.data());
    there = CountedFlops();
  });
  other.join();
  EXPECT_EQ(there, LinearFlops(3, 8, 5));
  EXPECT_EQ(CountedFlops(), here);
}

}  // namespace
}  // namespace trilemma::ops
