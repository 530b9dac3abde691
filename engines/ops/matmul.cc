#include "engines/ops/matmul.h"

#include <omp.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <optional>
#include <tuple>
#include <unordered_map>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "engines/engine.h"
#include "engines/ops/parallel.h"
#include "engines/ops/thread_scratch.h"
#include "engines/ops/work_counter.h"
#include "oneapi/dnnl/dnnl.hpp"

namespace trilemma::ops {
namespace {

// Shape key: inner, cols, whether b is stored transposed ([n][k]), the
// team size the primitive was created for (oneDNN picks its blocking for the
// threads it may use), whether it adds a bias, and its activation. The row
// count is a runtime dimension, so one primitive per weight matrix serves
// every batch and chunk size: a primitive per row count (60-110 KB of kernels
// and descriptors each) grew without bound with the batch and prefill-chunk
// sizes a server meets, about 100 MB over a soak (docs/overload.md), and
// stayed.
using Shape = std::tuple<int64_t, int64_t, bool, int, bool, int>;

// Packed-weight primitives are built for a fixed row count (oneDNN's
// blocked-weight kernels take no runtime dimensions), so rows are rounded up
// to a bucket and a call runs in chunks of at most kMaxPackedRows: at most
// 8 + 7 + 6 = 21 primitives per weight shape, however many batch and chunk
// sizes the server meets. Padding wastes at most 7 rows of 64 or 31 of 256.
constexpr int64_t kMaxPackedRows = 256;

// Below this many rows the plain layout is faster: oneDNN's gemv streams W as
// stored, while its blocked kernels at one or two rows ran Pythia-160M decode
// 20-30% slower (and from four rows up 25-50% faster).
constexpr int64_t kMinPackedRows = 4;

// Matrices narrower or smaller than this stay plain (the circuits' d = 128
// projections and readouts, the trained MQAR models' d = 64): repacking them
// per call is cheap, while each packed shape may build up to 21 primitives
// of 50-110 KB per scheduler thread.
constexpr int64_t kMinPackedInputs = 256;
constexpr int64_t kMinPackedElements = 1 << 16;

int64_t BucketRows(int64_t rows) {
  if (rows <= 8) return rows;
  if (rows <= 64) return (rows + 7) / 8 * 8;
  return (rows + 31) / 32 * 32;
}

// inner, cols, team size, bias, activation, bucket rows.
using PackedShape = std::tuple<int64_t, int64_t, int, bool, int, int64_t>;

bool PackingEnabled() {
  static const bool enabled = [] {
    const char* env = std::getenv("TRILEMMA_PACK_WEIGHTS");
    return env == nullptr || std::strcmp(env, "0") != 0;
  }();
  return enabled;
}

// oneDNN parallelises each matmul with OpenMP. Our matmuls are small (a
// batch of rows against d×d or V×d weights) and every engine's scheduler runs
// on its own thread, so a team per call mostly spins at barriers — badly so
// when cores are shared. Calls therefore run on the calling thread alone
// unless TRILEMMA_MATMUL_THREADS asks for more.
int MatmulThreads() {
  static const int threads = [] {
    const char* env = std::getenv("TRILEMMA_MATMUL_THREADS");
    int n = env != nullptr ? std::atoi(env) : 1;
    return n > 0 ? n : 1;
  }();
  return threads;
}

struct ThreadContext {
  ThreadContext() : threads(MatmulThreads()) { omp_set_num_threads(threads); }
  int threads;
  dnnl::engine engine{dnnl::engine::kind::cpu, 0};
  dnnl::stream stream{engine};
  absl::flat_hash_map<Shape, dnnl::matmul> primitives;
  // nullopt: oneDNN wanted another weight layout for this bucket, so those
  // rows run on the plain weights.
  absl::flat_hash_map<PackedShape, std::optional<dnnl::matmul>> packed;
};

ThreadContext& Context() {
  thread_local ThreadContext context;
  return context;
}

using dt = dnnl::memory::data_type;
using tag = dnnl::memory::format_tag;

dnnl::primitive_attr ActivationAttr(Activation act) {
  dnnl::primitive_attr attr;
  if (act == Activation::kGeluErf) {
    dnnl::post_ops post;
    post.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
    attr.set_post_ops(post);
  }
  return attr;
}

// Runs one primitive on caller-owned buffers and waits for it.
void Execute(ThreadContext& ctx, const dnnl::matmul& matmul,
             const dnnl::memory::desc& a_md, const float* a,
             const dnnl::memory::desc& b_md, const float* b,
             const dnnl::memory::desc& c_md, float* c, const float* bias,
             int64_t n) {
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, dnnl::memory(a_md, ctx.engine, const_cast<float*>(a))},
      {DNNL_ARG_WEIGHTS, dnnl::memory(b_md, ctx.engine, const_cast<float*>(b))},
      {DNNL_ARG_DST, dnnl::memory(c_md, ctx.engine, c)}};
  if (bias != nullptr) {
    const dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
    args.emplace(DNNL_ARG_BIAS,
                 dnnl::memory(bias_md, ctx.engine, const_cast<float*>(bias)));
  }
  matmul.execute(ctx.stream, args);
  ctx.stream.wait();
}

void Run(const float* a, const float* b, float* c, int64_t m, int64_t k,
         int64_t n, bool b_transposed, const float* bias = nullptr,
         Activation act = Activation::kNone, bool any_shape = false) {
  ThreadContext& ctx = Context();
  // b_transposed: physical [n][k] (PyTorch weights), logical [k][n].
  const tag b_tag = b_transposed ? tag::ba : tag::ab;
  // any_shape: inner and cols vary call to call too (attention over a
  // growing context), so they are runtime dimensions as well: one primitive
  // for every such product instead of one per context length.
  constexpr int64_t kAny = DNNL_RUNTIME_DIM_VAL;
  const Shape shape{any_shape ? -1 : k, any_shape ? -1 : n,
                    b_transposed,       ctx.threads,
                    bias != nullptr,    static_cast<int>(act)};
  auto it = ctx.primitives.find(shape);
  if (it == ctx.primitives.end()) {
    const int64_t k_dim = any_shape ? kAny : k, n_dim = any_shape ? kAny : n;
    const dnnl::memory::desc any_rows_a({kAny, k_dim}, dt::f32, tag::ab);
    const dnnl::memory::desc any_rows_c({kAny, n_dim}, dt::f32, tag::ab);
    const dnnl::memory::desc weights_md({k_dim, n_dim}, dt::f32, b_tag);
    const dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
    const dnnl::matmul::desc desc =
        bias != nullptr
            ? dnnl::matmul::desc(any_rows_a, weights_md, bias_md, any_rows_c)
            : dnnl::matmul::desc(any_rows_a, weights_md, any_rows_c);
    const dnnl::matmul::primitive_desc pd(desc, ActivationAttr(act),
                                          ctx.engine);
    it = ctx.primitives.emplace(shape, dnnl::matmul(pd)).first;
  }
  Execute(ctx, it->second, dnnl::memory::desc({m, k}, dt::f32, tag::ab), a,
          dnnl::memory::desc({k, n}, dt::f32, b_tag), b,
          dnnl::memory::desc({m, n}, dt::f32, tag::ab), c, bias, n);
}

// A primitive for `m` rows (fixed) whose weights are in the layout oneDNN
// chooses itself.
dnnl::matmul::primitive_desc FixedRowsDesc(const dnnl::engine& engine,
                                           int64_t m, int64_t k, int64_t n,
                                           bool bias, Activation act) {
  const dnnl::memory::desc a_md({m, k}, dt::f32, tag::ab);
  const dnnl::memory::desc any_md({k, n}, dt::f32, tag::any);
  const dnnl::memory::desc c_md({m, n}, dt::f32, tag::ab);
  const dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
  const dnnl::matmul::desc desc =
      bias ? dnnl::matmul::desc(a_md, any_md, bias_md, c_md)
           : dnnl::matmul::desc(a_md, any_md, c_md);
  return dnnl::matmul::primitive_desc(desc, ActivationAttr(act), engine);
}

// The primitive for `rows` (a bucket) on weights packed as `packed`, or null
// when oneDNN wants another layout for that many rows.
const dnnl::matmul* PackedPrimitive(ThreadContext& ctx, int64_t rows, int64_t k,
                                    int64_t n, bool bias, Activation act,
                                    const dnnl::memory::desc& packed) {
  const PackedShape shape{k, n, ctx.threads, bias, static_cast<int>(act), rows};
  auto it = ctx.packed.find(shape);
  if (it == ctx.packed.end()) {
    std::optional<dnnl::matmul> matmul;
    try {
      const auto pd = FixedRowsDesc(ctx.engine, rows, k, n, bias, act);
      if (pd.weights_desc() == packed) matmul.emplace(pd);
    } catch (const dnnl::error&) {
      // No fixed-rows kernel for this shape here: the plain path serves it.
    }
    it = ctx.packed.emplace(shape, std::move(matmul)).first;
  }
  return it->second.has_value() ? &*it->second : nullptr;
}

// Rows padded up to their bucket (the primitive reads and writes that many).
struct PaddedRows {
  std::vector<float> x, y;
};

}  // namespace

struct LinearWeight::Packed {
  struct Free {
    void operator()(float* p) const { std::free(p); }
  };
  dnnl::memory::desc desc;
  std::unique_ptr<float, Free> buffer;
};

LinearWeight::LinearWeight(const float* w, int64_t out, int64_t in)
    : data_(w), out_(out), in_(in) {
  if (w == nullptr || !PackingEnabled() || in < kMinPackedInputs ||
      in * out < kMinPackedElements) {
    return;
  }
  ThreadContext& ctx = Context();
  // Any failure leaves the weight unpacked: the plain path still works.
  try {
    // The layout oneDNN picks for a decode-sized batch; each bucket's
    // primitive is checked against it before it reads this copy.
    const dnnl::memory::desc want =
        FixedRowsDesc(ctx.engine, 32, in, out, false, Activation::kNone)
            .weights_desc();
    const dnnl::memory::desc plain({in, out}, dt::f32, tag::ba);
    if (want == plain) return;  // nothing to gain: the kernel reads W as is
    constexpr size_t kAlign = 64;
    const size_t bytes = (want.get_size() + kAlign - 1) / kAlign * kAlign;
    auto packed = std::make_shared<Packed>();
    packed->desc = want;
    packed->buffer.reset(
        static_cast<float*>(std::aligned_alloc(kAlign, bytes)));
    if (packed->buffer == nullptr) return;
    dnnl::memory src(plain, ctx.engine, const_cast<float*>(w));
    dnnl::memory dst(want, ctx.engine, packed->buffer.get());
    dnnl::reorder(src, dst).execute(ctx.stream, src, dst);
    ctx.stream.wait();
    packed_ = std::move(packed);
  } catch (const dnnl::error&) {
    packed_.reset();
  }
}

void Linear(const float* x, int64_t rows, const LinearWeight& w, float* y,
            const float* bias, Activation act) {
  const int64_t k = w.in(), n = w.out();
  CountFlops(LinearFlops(rows, k, n) + (bias != nullptr ? rows * n : 0) +
             (act == Activation::kGeluErf ? 5 * rows * n : 0));
  if (!w.packed() || rows < kMinPackedRows) {
    Run(x, w.data(), y, rows, k, n, /*b_transposed=*/true, bias, act);
    return;
  }
  ThreadContext& ctx = Context();
  const dnnl::memory::desc& packed = w.packed_copy()->desc;
  const float* packed_data = w.packed_copy()->buffer.get();
  for (int64_t r0 = 0; r0 < rows; r0 += kMaxPackedRows) {
    const int64_t m = std::min(kMaxPackedRows, rows - r0);
    const int64_t bucket = BucketRows(m);
    const float* x_rows = x + r0 * k;
    float* y_rows = y + r0 * n;
    const dnnl::matmul* matmul =
        PackedPrimitive(ctx, bucket, k, n, bias != nullptr, act, packed);
    if (matmul == nullptr) {
      Run(x_rows, w.data(), y_rows, m, k, n, /*b_transposed=*/true, bias, act);
      continue;
    }
    const float* src = x_rows;
    float* dst = y_rows;
    PaddedRows& pad = ThreadScratch<PaddedRows>();
    if (bucket != m) {
      pad.x.resize(bucket * k);
      std::copy(x_rows, x_rows + m * k, pad.x.begin());
      std::fill(pad.x.begin() + m * k, pad.x.end(), 0.0f);
      pad.y.resize(bucket * n);
      src = pad.x.data();
      dst = pad.y.data();
    }
    Execute(ctx, *matmul, dnnl::memory::desc({bucket, k}, dt::f32, tag::ab),
            src, packed, packed_data,
            dnnl::memory::desc({bucket, n}, dt::f32, tag::ab), dst, bias, n);
    if (bucket != m) std::copy(dst, dst + m * n, y_rows);
  }
}

int StepThreads() { return Context().threads; }

void SetThreads(int threads) {
  ThreadContext& ctx = Context();
  ctx.threads = threads;
  omp_set_num_threads(threads);
}

void Linear(const float* x, int64_t rows, int64_t in, const float* w,
            int64_t out, float* y) {
  CountFlops(LinearFlops(rows, in, out));
  Run(x, w, y, rows, in, out, /*b_transposed=*/true);
}

void Linear(const float* x, int64_t rows, int64_t in, const float* w,
            int64_t out, float* y, const float* bias, Activation act) {
  CountFlops(LinearFlops(rows, in, out) + (bias != nullptr ? rows * out : 0) +
             (act == Activation::kGeluErf ? 5 * rows * out : 0));
  Run(x, w, y, rows, in, out, /*b_transposed=*/true, bias, act);
}

void LinearUncounted(const float* x, int64_t rows, int64_t in, const float* w,
                     int64_t out, float* y) {
  Run(x, w, y, rows, in, out, /*b_transposed=*/true, nullptr, Activation::kNone,
      /*any_shape=*/true);
}

void MatMulUncounted(const float* a, const float* b, float* c, int64_t m,
                     int64_t k, int64_t n) {
  Run(a, b, c, m, k, n, /*b_transposed=*/false, nullptr, Activation::kNone,
      /*any_shape=*/true);
}

void MatMul(const float* a, const float* b, float* c, int64_t m, int64_t k,
            int64_t n) {
  CountFlops(2 * m * k * n);
  Run(a, b, c, m, k, n, /*b_transposed=*/false);
}

}  // namespace trilemma::ops

namespace trilemma {

void SetStepThreads(int threads) { ops::SetThreads(threads); }

}  // namespace trilemma
