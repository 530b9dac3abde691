// The KV formats of the `kv_dtype` knob (engines/state/kv_format.h): the
// quantizers against their equations (half conversion against an exhaustive
// nearest-half search, int8/int4 error bounds and packing), KvBlockTable in
// every format (layout bytes, int8 scale growth, copies), attention over a
// compressed table against the same kernel over its decoded rows, and the
// engines' EngineInfo bytes for each dtype.
#include "engines/ops/kv_quant.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

#include "engines/ops/attention.h"
#include "engines/registry.h"
#include "engines/state/kv_block_pool.h"
#include "engines/state/kv_block_table.h"
#include "gtest/gtest.h"

namespace trilemma {
namespace {

using ops::FloatToHalf;
using ops::HalfToFloat;

// Every finite non-negative half, as (value, bits), in increasing order.
std::vector<std::pair<float, uint16_t>> PositiveHalves() {
  std::vector<std::pair<float, uint16_t>> halves;
  for (uint32_t bits = 0; bits < 0x7c00u; ++bits) {
    halves.emplace_back(HalfToFloat(static_cast<uint16_t>(bits)),
                        static_cast<uint16_t>(bits));
  }
  return halves;
}

TEST(HalfTest, EveryHalfDecodesToItsValueAndEncodesBack) {
  for (uint32_t bits = 0; bits < 0x10000u; ++bits) {
    const auto h = static_cast<uint16_t>(bits);
    const float f = HalfToFloat(h);
    const int exponent = (bits >> 10) & 31;
    const int mantissa = bits & 1023;
    if (exponent == 31) {
      EXPECT_TRUE(mantissa == 0 ? std::isinf(f) : std::isnan(f)) << bits;
      continue;
    }
    const double magnitude = exponent == 0
                                 ? std::ldexp(mantissa, -24)
                                 : std::ldexp(1024 + mantissa, exponent - 25);
    ASSERT_EQ(f, (bits & 0x8000u) ? -magnitude : magnitude) << bits;
    ASSERT_EQ(FloatToHalf(f), h) << bits;
  }
}

TEST(HalfTest, EncodeRoundsToNearestEven) {
  const auto halves = PositiveHalves();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> log_mag(-27.0f, 16.5f);
  for (int i = 0; i < 200000; ++i) {
    const float x = std::exp2(log_mag(rng));
    const uint16_t got = FloatToHalf(x);
    // The nearest half by search; ties to the even mantissa; inf past the
    // largest half's rounding boundary (65520).
    uint16_t want;
    if (x >= 65520.0f) {
      want = 0x7c00u;
    } else {
      auto hi =
          std::lower_bound(halves.begin(), halves.end(), x,
                           [](const auto& h, float v) { return h.first < v; });
      auto lo = hi == halves.begin() ? hi : hi - 1;
      const double dlo = std::fabs(double{x} - lo->first);
      const double dhi = std::fabs(double{hi->first} - x);
      want = dlo < dhi   ? lo->second
             : dhi < dlo ? hi->second
                         : ((lo->second & 1) == 0 ? lo->second : hi->second);
    }
    ASSERT_EQ(got, want) << "x=" << x;
    ASSERT_EQ(FloatToHalf(-x), want | 0x8000u) << "x=" << -x;
  }
  EXPECT_TRUE(std::isnan(
      HalfToFloat(FloatToHalf(std::numeric_limits<float>::quiet_NaN()))));
}

TEST(Int8Test, QuantizeWithinHalfAStepAndClamps) {
  const std::vector<float> x = {0.0f, 1.0f, -1.27f, 0.004f, 2.0f, -5.0f};
  const float scale = 0.01f;
  std::vector<int8_t> q(x.size());
  ops::QuantizeInt8(x.data(), static_cast<int64_t>(x.size()), scale, q.data());
  EXPECT_EQ(q[0], 0);
  EXPECT_EQ(q[1], 100);
  EXPECT_EQ(q[2], -127);
  EXPECT_EQ(q[3], 0);     // 0.4 rounds to 0
  EXPECT_EQ(q[4], 127);   // clamped
  EXPECT_EQ(q[5], -127);  // clamped
  std::vector<float> back(x.size());
  ops::DequantizeInt8(q.data(), static_cast<int64_t>(q.size()), scale,
                      back.data());
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(back[i], x[i], scale / 2 + 1e-7);
  ops::QuantizeInt8(x.data(), static_cast<int64_t>(x.size()), 0.0f, q.data());
  for (int8_t c : q) EXPECT_EQ(c, 0);
}

TEST(Int8Test, RoundsHalfToEven) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -2.5f};
  std::vector<int8_t> q(x.size());
  ops::QuantizeInt8(x.data(), 5, 1.0f, q.data());
  EXPECT_EQ(q, (std::vector<int8_t>{0, 2, 2, 0, -2}));
}

TEST(Int4Test, RowWithinHalfAStepPerGroupIncludingAPartialGroup) {
  constexpr int kN = 72;  // groups of 32, 32, 8
  std::mt19937 rng(5);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<float> x(kN);
  for (int i = 0; i < kN; ++i) x[i] = normal(rng) * (i < 32 ? 0.1f : 3.0f);
  x[70] = 0.0f;
  std::vector<uint16_t> scales(ops::Int4Groups(kN));
  std::vector<uint8_t> nibbles(ops::Int4RowBytes(kN));
  ASSERT_EQ(scales.size(), 3u);
  ASSERT_EQ(nibbles.size(), 36u);
  ops::QuantizeInt4Row(x.data(), kN, scales.data(), nibbles.data());
  std::vector<float> y(kN);
  ops::DequantizeInt4(scales.data(), nibbles.data(), 0, kN, y.data());
  for (int i = 0; i < kN; ++i) {
    const int g = i / 32;
    const float s = HalfToFloat(scales[g]);
    const float m = ops::AbsMax(&x[g * 32], std::min(32, kN - g * 32));
    EXPECT_NEAR(s, m / 7.0f, m / 7.0f * 1e-3f) << "group " << g;
    EXPECT_NEAR(y[i], x[i], s / 2 * 1.0001f) << i;
    const int code = (i % 2 == 0 ? nibbles[i / 2] & 15 : nibbles[i / 2] >> 4);
    EXPECT_GE(code, 1);
    EXPECT_LE(code, 15);
    EXPECT_EQ(y[i], s * static_cast<float>(code - 8)) << i;
  }
  // The largest |x| of each group is represented exactly up to the scale's
  // rounding: code ±7.
  // A slice across a group boundary decodes the same elements.
  std::vector<float> slice(20);
  ops::DequantizeInt4(scales.data(), nibbles.data(), 25, 20, slice.data());
  for (int j = 0; j < 20; ++j) EXPECT_EQ(slice[j], y[25 + j]) << j;
}

constexpr KvFormat kFormats[] = {{.dtype = KvDtype::kF32},
                                 {.dtype = KvDtype::kF16},
                                 {.dtype = KvDtype::kInt8, .scale_width = 16},
                                 {.dtype = KvDtype::kInt4}};

TEST(KvBlockTableFormatTest, BlockBytesCountTheCompressedRows) {
  // 2 layers, kv_dim 128, 16 tokens per block.
  EXPECT_EQ(KvBlockTable::BlockBytes(2, 128, 16), 4 * 2 * 2 * 128 * 16);
  EXPECT_EQ(KvBlockTable::BlockBytes(2, 128, 16, kFormats[1]),
            2 * 2 * 2 * 128 * 16);
  // int8: 16·128 codes + 8 float scales per (layer, K|V).
  EXPECT_EQ(KvBlockTable::BlockBytes(2, 128, 16, kFormats[2]),
            4 * (16 * 128 + 8 * 4));
  // int4: per row 64 bytes of nibbles + 4 f16 scales.
  EXPECT_EQ(KvBlockTable::BlockBytes(2, 128, 16, kFormats[3]),
            4 * 16 * (64 + 8));
  for (const KvFormat& f : kFormats) {
    for (int tokens : {1, 3, 5, 16}) {
      for (int kv_dim : {2, 24, 33, 128}) {
        if (f.scale_width > 0 && kv_dim % f.scale_width != 0) continue;
        const int64_t bytes = KvBlockTable::BlockBytes(1, kv_dim, tokens, f);
        EXPECT_EQ(bytes % 4, 0);
        EXPECT_EQ(bytes % tokens, 0) << "whole bytes per token";
      }
    }
  }
}

// Writes `slots` random rows into a table of `format` and returns them.
std::vector<std::vector<float>> FillTable(KvBlockTable& table, int slots,
                                          uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, 1.0f);
  std::vector<std::vector<float>> rows;
  EXPECT_TRUE(table.EnsureSlots(slots).ok());
  for (int l = 0; l < table.layers(); ++l) {
    for (int kind = 0; kind < 2; ++kind) {
      for (int s = 0; s < slots; ++s) {
        std::vector<float> row(table.kv_dim());
        // Growing magnitudes make int8 blocks raise their scales.
        for (float& v : row) v = normal(rng) * (1.0f + static_cast<float>(s));
        table.WriteRow(l, kind, s, row.data());
        rows.push_back(std::move(row));
      }
    }
  }
  return rows;
}

TEST(KvBlockTableFormatTest, RowsComeBackWithinTheFormatsError) {
  constexpr int kLayers = 2, kKvDim = 32, kTokens = 4, kSlots = 10;
  for (const KvFormat& f : kFormats) {
    KvBlockPool pool("t", 1 << 20,
                     KvBlockTable::BlockBytes(kLayers, kKvDim, kTokens, f), f);
    KvBlockTable table(&pool, kLayers, kKvDim, kTokens);
    const auto rows = FillTable(table, kSlots, 9);
    std::vector<float> scratch(kKvDim);
    int i = 0;
    for (int l = 0; l < kLayers; ++l) {
      for (int kind = 0; kind < 2; ++kind) {
        for (int s = 0; s < kSlots; ++s, ++i) {
          const float* got = table.ReadRow(l, kind, s, scratch.data());
          // Bound per element: half a step of the row's group (int4) or, for
          // int8, half a step of every scale its head's block had from this
          // row's write on (each growth requantizes the row once more).
          const float row_max = ops::AbsMax(rows[i].data(), kKvDim);
          const int first = s / kTokens * kTokens;
          const int width = f.scale_width > 0 ? f.scale_width : kKvDim;
          for (int e = 0; e < kKvDim; ++e) {
            float int8_bound = 0, scale = 0;
            for (int o = first; o < std::min(kSlots, first + kTokens); ++o) {
              const float m =
                  ops::AbsMax(rows[i - s + o].data() + e / width * width,
                              width) /
                  127;
              if (m > scale) {
                scale = m;
                if (o >= s) int8_bound += scale / 2;
              } else if (o == s) {
                int8_bound += scale / 2;
              }
            }
            const float bound = f.dtype == KvDtype::kF32   ? 0.0f
                                : f.dtype == KvDtype::kF16 ? row_max / 1024
                                : f.dtype == KvDtype::kInt8
                                    ? int8_bound * 1.001f
                                    : row_max / 7 / 2 * 1.001f;
            ASSERT_LE(std::fabs(got[e] - rows[i][e]), bound)
                << KvDtypeName(f.dtype) << " layer " << l << " kind " << kind
                << " slot " << s << " element " << e;
          }
        }
      }
    }
    // A copy decodes to the same rows.
    KvBlockTable copy(&pool, kLayers, kKvDim, kTokens);
    ASSERT_TRUE(copy.CopyFrom(table).ok());
    std::vector<float> scratch2(kKvDim);
    for (int s = 0; s < kSlots; ++s) {
      const float* a =
          table.ReadRow(1, KvBlockTable::kValue, s, scratch.data());
      const float* b =
          copy.ReadRow(1, KvBlockTable::kValue, s, scratch2.data());
      ASSERT_TRUE(std::equal(a, a + kKvDim, b)) << KvDtypeName(f.dtype);
    }
  }
}

TEST(KvBlockTableFormatTest, Int8ScaleGrowsAndRequantizesTheBlock) {
  const KvFormat f{.dtype = KvDtype::kInt8, .scale_width = 4};
  KvBlockPool pool("t", 1 << 16, KvBlockTable::BlockBytes(1, 8, 4, f), f);
  KvBlockTable table(&pool, 1, 8, 4);
  ASSERT_TRUE(table.EnsureSlots(4).ok());
  const std::vector<float> small = {0.5f, -0.25f, 0.1f, 0.0f, 1, 2, 3, 4};
  const std::vector<float> big = {10.0f, 0.0f, 0.0f, 0.0f, 1, 2, 3, 4};
  table.WriteKey(0, 0, small.data());
  std::vector<float> scratch(8);
  const float* row = table.ReadRow(0, KvBlockTable::kKey, 0, scratch.data());
  EXPECT_NEAR(row[0], 0.5f, 0.5f / 127 / 2);  // scale 0.5/127: exact max
  EXPECT_EQ(row[0], 0.5f);
  table.WriteKey(0, 1, big.data());  // head 0's scale grows 20x
  row = table.ReadRow(0, KvBlockTable::kKey, 0, scratch.data());
  const float step = 10.0f / 127;
  EXPECT_NEAR(row[0], 0.5f, step / 2 + 1e-6f);
  EXPECT_NEAR(row[1], -0.25f, step / 2 + 1e-6f);
  EXPECT_EQ(row[4], (4.0f / 127.0f) * 32.0f);  // head 1's scale unchanged
  row = table.ReadRow(0, KvBlockTable::kKey, 1, scratch.data());
  EXPECT_EQ(row[0], 10.0f);
}

TEST(AttendKvTest, CompressedTableMatchesTheKernelOnItsDecodedRows) {
  constexpr int kHeads = 4, kHeadDim = 16, kKvDim = kHeads * kHeadDim;
  constexpr int kTokens = 5, kSlots = 23;
  for (const KvFormat& f : kFormats) {
    KvBlockPool pool("t", 1 << 20,
                     KvBlockTable::BlockBytes(1, kKvDim, kTokens, f), f);
    KvBlockTable table(&pool, 1, kKvDim, kTokens);
    FillTable(table, kSlots, 21);
    KvBlockPool f32_pool("f", 1 << 20,
                         KvBlockTable::BlockBytes(1, kKvDim, kTokens));
    KvBlockTable decoded(&f32_pool, 1, kKvDim, kTokens);
    ASSERT_TRUE(decoded.EnsureSlots(kSlots).ok());
    std::vector<float> scratch(kKvDim);
    for (int s = 0; s < kSlots; ++s) {
      decoded.WriteKey(0, s, table.ReadRow(0, 0, s, scratch.data()));
      decoded.WriteValue(0, s, table.ReadRow(0, 1, s, scratch.data()));
    }
    std::mt19937 rng(4);
    std::normal_distribution<float> normal(0.0f, 1.0f);
    std::vector<float> q(kKvDim);
    for (float& v : q) v = normal(rng);
    for (int kv_heads : {kHeads, 2}) {
      const int head_dim = kKvDim / kv_heads;
      const int q_heads = kHeads;
      std::vector<float> qq(q_heads * head_dim);
      for (size_t i = 0; i < qq.size(); ++i) qq[i] = q[i % q.size()];
      std::vector<float> a(qq.size()), b(qq.size());
      std::vector<float> pa(kSlots), pb(kSlots);
      ops::AttendKv(qq.data(), q_heads, kv_heads, head_dim, 0.3f, table, 0,
                    kSlots, a.data(), pa.data());
      ops::AttendKv(qq.data(), q_heads, kv_heads, head_dim, 0.3f, decoded, 0,
                    kSlots, b.data(), pb.data());
      EXPECT_EQ(a, b) << KvDtypeName(f.dtype) << " kv_heads " << kv_heads;
      EXPECT_EQ(pa, pb) << KvDtypeName(f.dtype);
    }
  }
}

TEST(KvDtypeEngineTest,
     EngineInfoCountsCompressedBytesAndRejectsUnknownDtypes) {
  std::vector<int64_t> per_token;
  for (const char* dtype : {"f32", "f16", "int8", "int4"}) {
    absl::StatusOr<std::unique_ptr<Engine>> engine = CreateEngine(
        {.name = dtype, .family = "attention", .knobs = {{"kv_dtype", dtype}}});
    ASSERT_TRUE(engine.ok()) << engine.status();
    const v1::EngineInfo& info = (*engine)->info();
    EXPECT_EQ(info.knobs().at("kv_dtype"), dtype);
    EXPECT_EQ(info.block_bytes(),
              info.block_tokens() * info.state_bytes_per_token());
    EXPECT_EQ((*engine)->pool().block_bytes(), info.block_bytes());
    per_token.push_back(info.state_bytes_per_token());
  }
  // d_model 128, one layer: 1024 f32 bytes per token; f16 half; int8 a
  // quarter plus its per-block scales; int4 4.5 bits per element.
  EXPECT_EQ(per_token[0], 1024);
  EXPECT_EQ(per_token[1], 512);
  EXPECT_EQ(per_token[2], 256 + 1);
  EXPECT_EQ(per_token[3], 144);
  absl::StatusOr<std::unique_ptr<Engine>> bad = CreateEngine(
      {.name = "x", .family = "attention", .knobs = {{"kv_dtype", "int2"}}});
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("kv_dtype"), std::string::npos);
}

}  // namespace
}  // namespace trilemma
