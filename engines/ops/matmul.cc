#include "engines/ops/matmul.h"

#include <omp.h>

#include <cstdlib>
#include <tuple>
#include <unordered_map>

#include "absl/container/flat_hash_map.h"
#include "engines/engine.h"
#include "engines/ops/parallel.h"
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
};

ThreadContext& Context() {
  thread_local ThreadContext context;
  return context;
}

void Run(const float* a, const float* b, float* c, int64_t m, int64_t k,
         int64_t n, bool b_transposed, const float* bias = nullptr,
         Activation act = Activation::kNone, bool any_shape = false) {
  using dt = dnnl::memory::data_type;
  using tag = dnnl::memory::format_tag;
  ThreadContext& ctx = Context();
  dnnl::memory::desc a_md({m, k}, dt::f32, tag::ab);
  // b_transposed: physical [n][k] (PyTorch weights), logical [k][n].
  dnnl::memory::desc b_md({k, n}, dt::f32, b_transposed ? tag::ba : tag::ab);
  dnnl::memory::desc c_md({m, n}, dt::f32, tag::ab);
  dnnl::memory::desc bias_md({1, n}, dt::f32, tag::ab);
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
    const dnnl::memory::desc weights_md({k_dim, n_dim}, dt::f32,
                                        b_transposed ? tag::ba : tag::ab);
    dnnl::primitive_attr attr;
    if (act == Activation::kGeluErf) {
      dnnl::post_ops post;
      post.append_eltwise(1.0f, dnnl::algorithm::eltwise_gelu_erf, 0.0f, 0.0f);
      attr.set_post_ops(post);
    }
    dnnl::matmul::desc desc =
        bias != nullptr
            ? dnnl::matmul::desc(any_rows_a, weights_md, bias_md, any_rows_c)
            : dnnl::matmul::desc(any_rows_a, weights_md, any_rows_c);
    dnnl::matmul::primitive_desc pd(desc, attr, ctx.engine);
    it = ctx.primitives.emplace(shape, dnnl::matmul(pd)).first;
  }
  dnnl::memory a_mem(a_md, ctx.engine, const_cast<float*>(a));
  dnnl::memory b_mem(b_md, ctx.engine, const_cast<float*>(b));
  dnnl::memory c_mem(c_md, ctx.engine, c);
  std::unordered_map<int, dnnl::memory> args = {
      {DNNL_ARG_SRC, a_mem}, {DNNL_ARG_WEIGHTS, b_mem}, {DNNL_ARG_DST, c_mem}};
  if (bias != nullptr) {
    args.emplace(DNNL_ARG_BIAS,
                 dnnl::memory(bias_md, ctx.engine, const_cast<float*>(bias)));
  }
  it->second.execute(ctx.stream, args);
  ctx.stream.wait();
}

}  // namespace

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
