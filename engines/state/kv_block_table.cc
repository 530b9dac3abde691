#include "engines/state/kv_block_table.h"

#include <algorithm>
#include <cstring>
#include <numeric>

#include "engines/ops/kv_quant.h"

namespace trilemma {
namespace {

int64_t RoundUp(int64_t n, int64_t multiple) {
  return (n + multiple - 1) / multiple * multiple;
}

// Elements sharing one int8 scale in a row.
int ScaleWidth(const KvFormat& format, int kv_dim) {
  return format.scale_width > 0 ? format.scale_width : kv_dim;
}

}  // namespace

int64_t KvBlockTable::SegmentBytes(int kv_dim, int block_tokens,
                                   const KvFormat& format) {
  const int64_t d = kv_dim, t = block_tokens;
  int64_t raw = 0;
  switch (format.dtype) {
    case KvDtype::kF32:
      raw = 4 * t * d;
      break;
    case KvDtype::kF16:
      raw = 2 * t * d;
      break;
    case KvDtype::kInt8:
      raw = 4 * (d / ScaleWidth(format, kv_dim)) + t * d;
      break;
    case KvDtype::kInt4:
      raw = 2 * t * ops::Int4Groups(d) + t * ops::Int4RowBytes(d);
      break;
  }
  return RoundUp(raw, 4);
}

int64_t KvBlockTable::BlockBytes(int layers, int kv_dim, int block_tokens,
                                 const KvFormat& format) {
  // Whole bytes per token (EngineInfo.state_bytes_per_token) and a multiple
  // of 4 (the pool's granule).
  const int64_t granule = std::lcm(int64_t{4}, int64_t{block_tokens});
  return RoundUp(
      int64_t{2} * layers * SegmentBytes(kv_dim, block_tokens, format),
      granule);
}

KvBlockTable::KvBlockTable(KvBlockPool* pool, int layers, int kv_dim,
                           int block_tokens)
    : pool_(pool),
      format_(pool->kv_format()),
      layers_(layers),
      kv_dim_(kv_dim),
      block_tokens_(block_tokens),
      segment_bytes_(SegmentBytes(kv_dim, block_tokens, format_)) {}

KvBlockTable::~KvBlockTable() {
  for (float* block : blocks_) pool_->FreeBlock(block);
}

absl::Status KvBlockTable::EnsureSlots(int64_t slots) {
  while (capacity_slots() < slots) {
    absl::StatusOr<float*> block = pool_->AllocateBlock();
    if (!block.ok()) return block.status();
    // Compressed blocks start from zero codes and zero int8 scales.
    if (format_.dtype != KvDtype::kF32) {
      std::memset(*block, 0, pool_->block_bytes());
    }
    blocks_.push_back(*block);
  }
  return absl::OkStatus();
}

absl::Status KvBlockTable::CopyFrom(const KvBlockTable& other) {
  const int64_t floats = pool_->block_bytes() / 4;
  for (const float* source : other.blocks_) {
    absl::StatusOr<float*> block = pool_->AllocateBlock();
    if (!block.ok()) return block.status();
    std::copy(source, source + floats, *block);
    blocks_.push_back(*block);
  }
  return absl::OkStatus();
}

void KvBlockTable::WriteRow(int layer, int kind, int64_t slot,
                            const float* row) {
  const int64_t b = slot / block_tokens_;
  const int64_t r = slot % block_tokens_;
  const int64_t d = kv_dim_;
  unsigned char* seg = Segment(b, layer, kind);
  switch (format_.dtype) {
    case KvDtype::kF32:
      std::copy(row, row + d, reinterpret_cast<float*>(seg) + r * d);
      return;
    case KvDtype::kF16:
      ops::EncodeF16(row, d, reinterpret_cast<uint16_t*>(seg) + r * d);
      return;
    case KvDtype::kInt8: {
      const int width = ScaleWidth(format_, kv_dim_);
      auto* scales = reinterpret_cast<float*>(seg);
      auto* codes = reinterpret_cast<int8_t*>(seg + 4 * (d / width));  // [T][D]
      for (int64_t g = 0; g < d / width; ++g) {
        const float wanted = ops::AbsMax(row + g * width, width) / 127.0f;
        if (wanted > scales[g]) {
          // The block's scale for this head grows: re-express the rows
          // already stored (unused rows are zero and stay zero).
          if (scales[g] > 0.0f) {
            for (int64_t t = 0; t < block_tokens_; ++t) {
              ops::RescaleInt8(codes + t * d + g * width, width, scales[g],
                               wanted);
            }
          }
          scales[g] = wanted;
        }
        ops::QuantizeInt8(row + g * width, width, scales[g],
                          codes + r * d + g * width);
      }
      return;
    }
    case KvDtype::kInt4: {
      const int64_t groups = ops::Int4Groups(d);
      auto* scales = reinterpret_cast<uint16_t*>(seg);
      unsigned char* nibbles = seg + 2 * block_tokens_ * groups;
      ops::QuantizeInt4Row(row, d, scales + r * groups,
                           nibbles + r * ops::Int4RowBytes(d));
      return;
    }
  }
}

const float* KvBlockTable::ReadRows(int layer, int kind, int64_t b, int row0,
                                    int n, int col, int width, float* tile,
                                    int64_t* stride) const {
  const int64_t d = kv_dim_;
  const unsigned char* seg = Segment(b, layer, kind);
  if (format_.dtype == KvDtype::kF32) {
    *stride = d;
    return reinterpret_cast<const float*>(seg) + row0 * d + col;
  }
  *stride = width;
  switch (format_.dtype) {
    case KvDtype::kF32:
      break;
    case KvDtype::kF16: {
      const auto* halves = reinterpret_cast<const uint16_t*>(seg);
      for (int i = 0; i < n; ++i) {
        ops::DecodeF16(halves + (row0 + i) * d + col, width,
                       tile + int64_t{i} * width);
      }
      break;
    }
    case KvDtype::kInt8: {
      const int scale_width = ScaleWidth(format_, kv_dim_);
      const auto* scales = reinterpret_cast<const float*>(seg);
      const auto* codes =
          reinterpret_cast<const int8_t*>(seg + 4 * (d / scale_width));
      for (int i = 0; i < n; ++i) {
        // Columns may span several scale groups.
        for (int c = col; c < col + width;) {
          const int g = c / scale_width;
          const int end = std::min(col + width, (g + 1) * scale_width);
          ops::DequantizeInt8(codes + (row0 + i) * d + c, end - c, scales[g],
                              tile + int64_t{i} * width + (c - col));
          c = end;
        }
      }
      break;
    }
    case KvDtype::kInt4: {
      const int64_t groups = ops::Int4Groups(d);
      const auto* scales = reinterpret_cast<const uint16_t*>(seg);
      const unsigned char* nibbles = seg + 2 * block_tokens_ * groups;
      for (int i = 0; i < n; ++i) {
        ops::DequantizeInt4(scales + (row0 + i) * groups,
                            nibbles + (row0 + i) * ops::Int4RowBytes(d), col,
                            width, tile + int64_t{i} * width);
      }
      break;
    }
  }
  return tile;
}

float* KvBlockTable::Row(int layer, int kind, int64_t slot) {
  return reinterpret_cast<float*>(Segment(slot / block_tokens_, layer, kind)) +
         (slot % block_tokens_) * kv_dim_;
}

const float* KvBlockTable::BlockKeys(int layer, int64_t b) const {
  return reinterpret_cast<const float*>(Segment(b, layer, kKey));
}

const float* KvBlockTable::BlockValues(int layer, int64_t b) const {
  return reinterpret_cast<const float*>(Segment(b, layer, kValue));
}

}  // namespace trilemma
