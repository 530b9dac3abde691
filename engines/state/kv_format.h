// KvFormat: how KV rows are stored in a KvBlockTable's blocks — the `kv_dtype`
// knob of every engine that keeps KV (docs/kv_compression.md).
//
//   f32   4 bytes per element, as computed.
//   f16   IEEE half (round to nearest even), 2 bytes per element.
//   int8  symmetric, one float scale per block, per layer, per K/V and per
//         head (`scale_width` elements of a row): scale = max|x| / 127 over
//         every row written to that part of the block so far; a row that
//         raises the max requantizes the rows already there.
//   int4  symmetric, per row in groups of 32 elements, each with an f16
//         scale = max|x| / 7 over the group (q4_0-style, 4.5 bits).
//
// Example:
//   KvFormat f{.dtype = KvDtype::kInt8, .scale_width = head_dim};
//   KvBlockPool pool("attention", budget,
//                    KvBlockTable::BlockBytes(layers, kv_dim, 16, f), f);
//
// Thread-safe: plain values.
#ifndef TRILEMMA_ENGINES_STATE_KV_FORMAT_H_
#define TRILEMMA_ENGINES_STATE_KV_FORMAT_H_

#include <string>
#include <string_view>
#include <vector>

namespace trilemma {

enum class KvDtype { kF32, kF16, kInt8, kInt4 };

// Elements of a row that share one int4 scale.
inline constexpr int kKvInt4Group = 32;

struct KvFormat {
  KvDtype dtype = KvDtype::kF32;
  // int8: elements of a row sharing one per-block scale (a head's width);
  // 0 means the whole row. REQUIRES: divides kv_dim when > 0.
  int scale_width = 0;
};

// "f32", "f16", "int8", "int4".
std::string_view KvDtypeName(KvDtype dtype);
// The knob's allowed values, in the order above.
std::vector<std::string> KvDtypeNames();
// REQUIRES: `name` is one of KvDtypeNames() (knob parsing checks it).
KvDtype KvDtypeFromName(std::string_view name);

}  // namespace trilemma

#endif  // TRILEMMA_ENGINES_STATE_KV_FORMAT_H_
