#include "engines/state/external_kv_store.h"

#include <algorithm>
#include <cstring>
#include <mutex>
#include <new>
#include <stdexcept>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "engines/ops/kv_quant.h"
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

// Elements sharing one int8 scale within a row.
int64_t Int8ScaleWidth(const ExternalKvStoreOptions& o) {
  return o.format.scale_width > 0 ? o.format.scale_width : o.dim;
}

// One row in the store's format. int8: [dim/w float scales][dim codes];
// int4: [ceil(dim/32) f16 scales][ceil(dim/2) nibble bytes].
void EncodeRow(const ExternalKvStoreOptions& o, const float* x, uint8_t* out) {
  const int64_t dim = o.dim;
  switch (o.format.dtype) {
    case KvDtype::kF32:
      std::memcpy(out, x, dim * sizeof(float));
      return;
    case KvDtype::kF16: {
      std::vector<uint16_t> half(dim);
      ops::EncodeF16(x, dim, half.data());
      std::memcpy(out, half.data(), dim * sizeof(uint16_t));
      return;
    }
    case KvDtype::kInt8: {
      const int64_t w = Int8ScaleWidth(o);
      uint8_t* codes = out + (dim / w) * sizeof(float);
      for (int64_t g = 0; g < dim / w; ++g) {
        const float scale = ops::AbsMax(x + g * w, w) / 127.0f;
        std::memcpy(out + g * sizeof(float), &scale, sizeof(float));
        ops::QuantizeInt8(x + g * w, w, scale,
                          reinterpret_cast<int8_t*>(codes + g * w));
      }
      return;
    }
    case KvDtype::kInt4: {
      const int64_t groups = ops::Int4Groups(dim);
      std::vector<uint16_t> scales(groups);
      ops::QuantizeInt4Row(x, dim, scales.data(),
                           out + groups * sizeof(uint16_t));
      std::memcpy(out, scales.data(), groups * sizeof(uint16_t));
      return;
    }
  }
}

void DecodeRow(const ExternalKvStoreOptions& o, const uint8_t* in, float* out) {
  const int64_t dim = o.dim;
  switch (o.format.dtype) {
    case KvDtype::kF32:
      std::memcpy(out, in, dim * sizeof(float));
      return;
    case KvDtype::kF16:
      for (int64_t i = 0; i < dim; ++i) {
        uint16_t h;
        std::memcpy(&h, in + i * sizeof(uint16_t), sizeof(h));
        out[i] = ops::HalfToFloat(h);
      }
      return;
    case KvDtype::kInt8: {
      const int64_t w = Int8ScaleWidth(o);
      const uint8_t* codes = in + (dim / w) * sizeof(float);
      for (int64_t g = 0; g < dim / w; ++g) {
        float scale;
        std::memcpy(&scale, in + g * sizeof(float), sizeof(float));
        ops::DequantizeInt8(reinterpret_cast<const int8_t*>(codes + g * w), w,
                            scale, out + g * w);
      }
      return;
    }
    case KvDtype::kInt4: {
      const int64_t groups = ops::Int4Groups(dim);
      std::vector<uint16_t> scales(groups);
      std::memcpy(scales.data(), in, groups * sizeof(uint16_t));
      ops::DequantizeInt4(scales.data(), in + groups * sizeof(uint16_t), 0, dim,
                          out);
      return;
    }
  }
}

}  // namespace

struct ExternalKvStore::Rep {
  ExternalKvStoreOptions options;
  int64_t row_bytes = 0;  // RowBytes(options)
  int64_t size = 0;
  int64_t capacity = 0;
  std::vector<uint8_t> keys;     // [capacity, row_bytes]; kExact only
  std::vector<uint8_t> values;   // [capacity, row_bytes]
  std::vector<float> decoded;    // [dim]: Append's and Search's decoded row
  std::vector<uint8_t> encoded;  // [row_bytes]: kHnsw Append's encoded key
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
  rep_->row_bytes = RowBytes(options);
  rep_->decoded.resize(options.dim);
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
  const int64_t row = r.row_bytes;
  try {
    // reserve() allocates exactly what is asked, so capacity stays exact.
    r.values.reserve(capacity * row);
    if (!r.hnsw()) {
      r.keys.reserve(capacity * row);
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
  const int64_t row = r.row_bytes;
  if (r.hnsw()) {
    // The index keeps float keys: give it the key as decoded, so the graph
    // ranks what attention will read.
    r.encoded.resize(row);
    EncodeRow(r.options, key, r.encoded.data());
    DecodeRow(r.options, r.encoded.data(), r.decoded.data());
    if (absl::Status s = AddToGraph(r.decoded.data()); !s.ok()) return s;
  } else {
    r.keys.resize(r.keys.size() + row);
    EncodeRow(r.options, key, &r.keys[r.size * row]);
  }
  r.values.resize(r.values.size() + row);
  EncodeRow(r.options, value, &r.values[r.size * row]);
  ++r.size;
  return absl::OkStatus();
}

absl::Status ExternalKvStore::AddToGraph(const float* key) {
  Rep& r = *rep_;
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
  return absl::OkStatus();
}

absl::Status ExternalKvStore::CopyFrom(const ExternalKvStore& other) {
  if (absl::Status s = Reserve(other.capacity()); !s.ok()) return s;
  Rep& r = *rep_;
  const Rep& from = *other.rep_;
  // The codes are copied as stored: re-encoding decoded rows could move a
  // code that sits at a rounding edge.
  r.keys.assign(from.keys.begin(), from.keys.end());
  r.values.assign(from.values.begin(), from.values.end());
  if (r.hnsw()) {
    for (int64_t id = 0; id < from.size; ++id) {
      r.size = id;
      if (absl::Status s = AddToGraph(other.key(id, nullptr)); !s.ok()) {
        return s;
      }
    }
  }
  r.size = from.size;
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
    const float score = ops::Dot(query, key(id, r.decoded.data()), dim);
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

const float* ExternalKvStore::key(int64_t id, float* scratch) const {
  const Rep& r = *rep_;
  if (r.hnsw()) {
    return reinterpret_cast<const float*>(
        r.graph->getDataByInternalId(static_cast<hnswlib::tableint>(id)));
  }
  const uint8_t* row = &r.keys[id * r.row_bytes];
  if (r.options.format.dtype == KvDtype::kF32) {
    return reinterpret_cast<const float*>(row);
  }
  DecodeRow(r.options, row, scratch);
  return scratch;
}

const float* ExternalKvStore::value(int64_t id, float* scratch) const {
  const Rep& r = *rep_;
  const uint8_t* row = &r.values[id * r.row_bytes];
  if (r.options.format.dtype == KvDtype::kF32) {
    return reinterpret_cast<const float*>(row);
  }
  DecodeRow(r.options, row, scratch);
  return scratch;
}

int64_t ExternalKvStore::size() const { return rep_->size; }
int64_t ExternalKvStore::capacity() const { return rep_->capacity; }

int64_t ExternalKvStore::bytes() const {
  const Rep& r = *rep_;
  int64_t bytes = static_cast<int64_t>(r.values.capacity() + r.keys.capacity());
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
  const int64_t row = RowBytes(o);
  if (o.index == ExternalKvIndex::kExact) return 2 * row;
  const int64_t m = o.hnsw_m;
  const int64_t level0 = 8 * m + 4 + 4 * dim + 8;
  // pointer 8, lock 40, level 4, visited 2, label node 24, bucket 8.
  const int64_t bookkeeping = 86;
  const int64_t upper_links = (4 * m + 4 + m - 2) / (m - 1);  // rounded up
  return row + level0 + bookkeeping + upper_links;
}

int64_t ExternalKvStore::RowBytes(const ExternalKvStoreOptions& o) {
  const int64_t dim = o.dim;
  switch (o.format.dtype) {
    case KvDtype::kF32:
      return 4 * dim;
    case KvDtype::kF16:
      return 2 * dim;
    case KvDtype::kInt8:
      return dim + 4 * (dim / Int8ScaleWidth(o));
    case KvDtype::kInt4:
      return ops::Int4RowBytes(dim) + 2 * ops::Int4Groups(dim);
  }
  return 4 * dim;
}

int64_t ExternalKvStore::TakeDistanceComputations() {
  Rep& r = *rep_;
  const int64_t n =
      std::exchange(r.exact_products, 0) + (r.space ? r.space->Take() : 0);
  return n;
}

}  // namespace trilemma
