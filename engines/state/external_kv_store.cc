#include "engines/state/external_kv_store.h"

#include <algorithm>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/ops/vector_ops.h"
#include "engines/ops/work_counter.h"
// hnswlib defines non-inline functions in its headers: include it in this
// one translation unit only. Its SSE prefetch hints (hnswlib 0.6) load the
// neighbour id one past a full link list (searchBaseLayer reads
// *(datal + j + 1) at j = size - 1), a heap overflow ASan reports once a node
// has M links; without manual vectorisation that load is gone. Distances are
// unaffected: this store uses its own space (CountingInnerProductSpace).
#define NO_MANUAL_VECTORIZATION
#include "hnswlib/hnswlib.h"

namespace trilemma {
namespace {

using Graph = hnswlib::HierarchicalNSW<float>;

// Inner-product space (distance 1 - q·k, as hnswlib's InnerProductSpace)
// whose distance function counts its calls, so the step cost can charge the
// exact number of products the index computed.
class CountingInnerProductSpace final : public hnswlib::SpaceInterface<float> {
 public:
  explicit CountingInnerProductSpace(int dim)
      : param_{static_cast<size_t>(dim), 0} {}
  size_t get_data_size() override { return param_.dim * sizeof(float); }
  hnswlib::DISTFUNC<float> get_dist_func() override { return &Distance; }
  void* get_dist_func_param() override { return &param_; }
  int64_t Take() { return std::exchange(param_.count, 0); }

 private:
  struct Param {
    size_t dim;
    int64_t count;
  };
  static float Distance(const void* a, const void* b, const void* p) {
    // hnswlib hands the parameter back as const; the counter is ours.
    Param* param = static_cast<Param*>(const_cast<void*>(p));
    ++param->count;
    ops::CountFlops(2 * static_cast<int64_t>(param->dim));
    return 1.0f - ops::Dot(static_cast<const float*>(a),
                           static_cast<const float*>(b),
                           static_cast<int64_t>(param->dim));
  }
  Param param_;
};

}  // namespace

struct ExternalKvStore::Rep {
  ExternalKvStoreOptions options;
  int64_t size = 0;
  int64_t capacity = 0;
  std::vector<float> keys;    // [capacity, dim]; kExact only
  std::vector<float> values;  // [capacity, dim]
  int64_t exact_products = 0;
  // kHnsw: keys live in the graph; the space must outlive it.
  std::unique_ptr<CountingInnerProductSpace> space;
  std::unique_ptr<Graph> graph;
  int64_t upper_link_bytes = 0;  // Σ over entries of their upper-level links
  std::vector<std::pair<float, int64_t>> scratch;  // exact top-k

  bool hnsw() const { return options.index == ExternalKvIndex::kHnsw; }
};

ExternalKvStore::ExternalKvStore(const ExternalKvStoreOptions& options)
    : rep_(std::make_unique<Rep>()) {
  rep_->options = options;
  if (rep_->hnsw()) {
    rep_->space = std::make_unique<CountingInnerProductSpace>(options.dim);
  }
}

ExternalKvStore::~ExternalKvStore() = default;
ExternalKvStore::ExternalKvStore(ExternalKvStore&&) noexcept = default;

absl::Status ExternalKvStore::Reserve(int64_t entries) {
  Rep& r = *rep_;
  if (entries <= r.capacity) return absl::OkStatus();
  int64_t capacity = std::max(kMinCapacity, r.capacity);
  while (capacity < entries) capacity *= 2;
  const int64_t dim = r.options.dim;
  try {
    // reserve() allocates exactly what is asked, so capacity stays exact.
    r.values.reserve(capacity * dim);
    if (!r.hnsw()) {
      r.keys.reserve(capacity * dim);
    } else if (r.graph == nullptr) {
      r.graph =
          std::make_unique<Graph>(r.space.get(), capacity, r.options.hnsw_m,
                                  r.options.ef_construction, r.options.seed);
      r.graph->setEf(r.options.ef);
    } else {
      r.graph->resizeIndex(capacity);
    }
  } catch (const std::exception& e) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "external store: cannot grow to ", capacity, " entries: ", e.what()));
  }
  r.capacity = capacity;
  return absl::OkStatus();
}

absl::Status ExternalKvStore::Append(const float* key, const float* value) {
  Rep& r = *rep_;
  const int64_t dim = r.options.dim;
  if (r.hnsw()) {
    try {
      const hnswlib::tableint id =
          r.graph->addPoint(key, static_cast<hnswlib::labeltype>(r.size), -1);
      // Entries are never updated, so internal ids are the append order,
      // which key() relies on.
      if (static_cast<int64_t>(id) != r.size) {
        return absl::InternalError("external store: hnsw id out of order");
      }
      const int level = r.graph->element_levels_[id];
      if (level > 0) {
        r.upper_link_bytes +=
            static_cast<int64_t>(r.graph->size_links_per_element_) * level + 1;
      }
    } catch (const std::exception& e) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "external store: cannot index entry ", r.size, ": ", e.what()));
    }
  } else {
    r.keys.insert(r.keys.end(), key, key + dim);
  }
  r.values.insert(r.values.end(), value, value + dim);
  ++r.size;
  return absl::OkStatus();
}

absl::Status ExternalKvStore::CopyFrom(const ExternalKvStore& other) {
  if (absl::Status s = Reserve(other.capacity()); !s.ok()) return s;
  for (int64_t id = 0; id < other.size(); ++id) {
    if (absl::Status s = Append(other.key(id), other.value(id)); !s.ok()) {
      return s;
    }
  }
  // The copy's inserts are not the work of any step.
  TakeDistanceComputations();
  return absl::OkStatus();
}

int64_t ExternalKvStore::Search(const float* query, int64_t k, int64_t* ids) {
  Rep& r = *rep_;
  k = std::min(k, r.size);
  if (k <= 0) return 0;
  if (r.hnsw()) {
    // A max-heap on distance: the worst of the k found is on top.
    auto found = r.graph->searchKnn(query, static_cast<size_t>(k));
    int64_t n = static_cast<int64_t>(found.size());
    for (int64_t i = n - 1; i >= 0; --i) {
      ids[i] = static_cast<int64_t>(found.top().second);
      found.pop();
    }
    return n;
  }
  // Exact: the k best (score, id) pairs, kept sorted best first; a later
  // entry displaces only a strictly smaller score, so ties favour older ids.
  const int64_t dim = r.options.dim;
  std::vector<std::pair<float, int64_t>>& best = r.scratch;
  best.clear();
  ops::CountFlops(2 * r.size * dim);
  for (int64_t id = 0; id < r.size; ++id) {
    const float score = ops::Dot(query, &r.keys[id * dim], dim);
    if (static_cast<int64_t>(best.size()) == k &&
        !(score > best.back().first)) {
      continue;
    }
    if (static_cast<int64_t>(best.size()) == k) best.pop_back();
    auto at = std::find_if(best.begin(), best.end(),
                           [&](const auto& b) { return score > b.first; });
    best.insert(at, {score, id});
  }
  r.exact_products += r.size;
  for (int64_t i = 0; i < k; ++i) ids[i] = best[i].second;
  return k;
}

const float* ExternalKvStore::key(int64_t id) const {
  if (rep_->hnsw()) {
    return reinterpret_cast<const float*>(
        rep_->graph->getDataByInternalId(static_cast<hnswlib::tableint>(id)));
  }
  return &rep_->keys[id * rep_->options.dim];
}

const float* ExternalKvStore::value(int64_t id) const {
  return &rep_->values[id * rep_->options.dim];
}

int64_t ExternalKvStore::size() const { return rep_->size; }
int64_t ExternalKvStore::capacity() const { return rep_->capacity; }

int64_t ExternalKvStore::bytes() const {
  const Rep& r = *rep_;
  int64_t bytes = static_cast<int64_t>(
      (r.values.capacity() + r.keys.capacity()) * sizeof(float));
  if (r.graph == nullptr) return bytes;
  const Graph& g = *r.graph;
  const int64_t per_entry =
      static_cast<int64_t>(g.size_data_per_element_) +  // level-0 record
      sizeof(void*) +                                   // linkLists_ pointer
      sizeof(std::mutex) +                              // link_list_locks_
      sizeof(int) +                                     // element_levels_
      sizeof(hnswlib::vl_type);                         // visited marks
  bytes += static_cast<int64_t>(g.max_elements_) * per_entry;
  bytes += r.upper_link_bytes;
  bytes += static_cast<int64_t>(Graph::max_update_element_locks) *
           sizeof(std::mutex);
  // std::unordered_map node: next pointer + (label, id) pair.
  bytes +=
      static_cast<int64_t>(g.label_lookup_.size()) *
          (sizeof(void*) +
           sizeof(std::pair<const hnswlib::labeltype, hnswlib::tableint>)) +
      static_cast<int64_t>(g.label_lookup_.bucket_count()) * sizeof(void*);
  return bytes;
}

int64_t ExternalKvStore::BytesPerEntry(const ExternalKvStoreOptions& o) {
  const int64_t dim = o.dim;
  if (o.index == ExternalKvIndex::kExact) return 8 * dim;
  const int64_t m = o.hnsw_m;
  const int64_t level0 = 8 * m + 4 + 4 * dim + 8;
  // pointer 8, lock 40, level 4, visited 2, label node 24, bucket 8.
  const int64_t bookkeeping = 86;
  const int64_t upper_links = (4 * m + 4 + m - 2) / (m - 1);  // rounded up
  return 4 * dim + level0 + bookkeeping + upper_links;
}

int64_t ExternalKvStore::TakeDistanceComputations() {
  Rep& r = *rep_;
  const int64_t n =
      std::exchange(r.exact_products, 0) + (r.space ? r.space->Take() : 0);
  return n;
}

}  // namespace trilemma
