#include "engines/stack/kv_policy.h"

#include "engines/state/paged_kv_cache.h"
#include "engines/state/ring_window_kv.h"

namespace trilemma {

KvPolicySpec PagedKvPolicy(KvFormat format) {
  return {
      .make = [](KvBlockPool* pool, int layers, int kv_dim, int block_tokens)
          -> absl::StatusOr<std::unique_ptr<KvPolicy>> {
        return std::make_unique<KvPolicyOf<PagedKvCache>>(
            PagedKvCache(pool, layers, kv_dim, block_tokens));
      },
      .kept_tokens = 0,
      .fixed_bytes = 0,
      .format = format,
      .external_bytes_per_token = 0};
}

KvPolicySpec RingWindowKvPolicy(int64_t window, KvFormat format) {
  return {.make = [window](KvBlockPool* pool, int layers, int kv_dim,
                           int block_tokens)
              -> absl::StatusOr<std::unique_ptr<KvPolicy>> {
            return std::make_unique<KvPolicyOf<RingWindowKv>>(
                RingWindowKv(pool, layers, kv_dim, block_tokens, window));
          },
          .kept_tokens = window,
          .fixed_bytes = 0,
          .format = format,
          .external_bytes_per_token = 0};
}

}  // namespace trilemma
