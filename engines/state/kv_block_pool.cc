#include "engines/state/kv_block_pool.h"

#include <algorithm>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace trilemma {
namespace {

// Free blocks a pool keeps for reuse: at least this many, or as many as fit
// this many bytes.
constexpr int64_t kMinFreeBlocks = 16;
constexpr int64_t kFreeReserveBytes = int64_t{1} << 20;

}  // namespace

KvBlockPool::KvBlockPool(std::string engine_name, int64_t budget_bytes,
                         int64_t block_bytes, KvFormat kv_format)
    : engine_name_(std::move(engine_name)),
      budget_bytes_(budget_bytes),
      block_bytes_(block_bytes),
      kv_format_(kv_format) {}

KvBlockPool::~KvBlockPool() {
  absl::MutexLock lock(&mu_);
  for (float* block : free_list_) std::free(block);
}

absl::Status KvBlockPool::Exhausted(int64_t wanted) const {
  return absl::ResourceExhaustedError(absl::StrCat(
      "state budget of engine '", engine_name_, "' exhausted: ", used_bytes_,
      " of ", budget_bytes_, " bytes in use, ", wanted, " more needed"));
}

absl::StatusOr<float*> KvBlockPool::AllocateBlock() {
  absl::MutexLock lock(&mu_);
  if (used_bytes_ + block_bytes_ > budget_bytes_) {
    return Exhausted(block_bytes_);
  }
  float* block = nullptr;
  if (!free_list_.empty()) {
    block = free_list_.back();
    free_list_.pop_back();
  } else {
    // 64-byte alignment for vectorised kernels; block_bytes is a multiple of 4
    // but aligned_alloc wants a multiple of the alignment.
    const size_t size = (block_bytes_ + 63) / 64 * 64;
    block = static_cast<float*>(std::aligned_alloc(64, size));
    if (block == nullptr) {
      return absl::ResourceExhaustedError(
          absl::StrCat("out of host memory allocating a KV block for engine '",
                       engine_name_, "'"));
    }
  }
  used_bytes_ += block_bytes_;
  ++used_blocks_;
  return block;
}

void KvBlockPool::FreeBlock(float* block) {
  bool keep = false;
  {
    absl::MutexLock lock(&mu_);
    used_bytes_ -= block_bytes_;
    --used_blocks_;
    // Keep a bounded reserve for reuse; the rest goes back to malloc, so a
    // load peak does not pin the pool's high-water mark for the process's
    // life.
    const int64_t reserve =
        std::max<int64_t>(kMinFreeBlocks, kFreeReserveBytes / block_bytes_);
    keep = static_cast<int64_t>(free_list_.size()) < reserve;
    if (keep) free_list_.push_back(block);
  }
  if (!keep) std::free(block);
}

absl::Status KvBlockPool::ChargeFixed(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  if (used_bytes_ + bytes > budget_bytes_) return Exhausted(bytes);
  used_bytes_ += bytes;
  return absl::OkStatus();
}

void KvBlockPool::ReleaseFixed(int64_t bytes) {
  absl::MutexLock lock(&mu_);
  used_bytes_ -= bytes;
}

int64_t KvBlockPool::used_bytes() const {
  absl::MutexLock lock(&mu_);
  return used_bytes_;
}

int64_t KvBlockPool::used_blocks() const {
  absl::MutexLock lock(&mu_);
  return used_blocks_;
}

}  // namespace trilemma
