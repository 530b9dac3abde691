// The KV quantizers behind the `kv_dtype` knob (engines/state/kv_format.h,
// docs/kv_compression.md): IEEE half conversion, symmetric int8 against a
// given scale, and int4 rows in groups of kKvInt4Group with an f16 scale per
// group. Rounding is to nearest, ties to even, everywhere (as numpy's rint and
// float16 casts), so tests/reference/ can reproduce every code bit for bit.
//
// Example (one int4 row of n floats):
//   std::vector<uint16_t> scales(Int4Groups(n));
//   std::vector<uint8_t> nibbles(Int4RowBytes(n));
//   ops::QuantizeInt4Row(x, n, scales.data(), nibbles.data());
//   ops::DequantizeInt4(scales.data(), nibbles.data(), 0, n, y);  // y ≈ x
//
// Thread-safe (pure functions over caller-owned memory).
#ifndef TRILEMMA_ENGINES_OPS_KV_QUANT_H_
#define TRILEMMA_ENGINES_OPS_KV_QUANT_H_

#include <bit>
#include <cstdint>

namespace trilemma::ops {

// float -> IEEE binary16, round to nearest even; overflow gives ±inf.
inline uint16_t FloatToHalf(float value) {
  uint32_t f = std::bit_cast<uint32_t>(value);
  const uint32_t sign = f & 0x80000000u;
  f ^= sign;
  const uint32_t f32_inf = 255u << 23;
  const uint32_t f16_max = (127u + 16u) << 23;  // 2^16: rounds to inf
  const uint32_t denorm_magic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t o;
  if (f >= f16_max) {
    o = f > f32_inf ? 0x7e00u : 0x7c00u;  // NaN stays NaN
  } else if (f < (113u << 23)) {
    // Subnormal half: the float add aligns the mantissa and rounds it.
    const float shifted =
        std::bit_cast<float>(f) + std::bit_cast<float>(denorm_magic);
    o = std::bit_cast<uint32_t>(shifted) - denorm_magic;
  } else {
    const uint32_t mant_odd = (f >> 13) & 1u;
    f += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu;
    f += mant_odd;
    o = f >> 13;
  }
  return static_cast<uint16_t>(o | (sign >> 16));
}

// IEEE binary16 -> float, exact. Masks instead of branches so decoding
// loops vectorise: the exponent/mantissa bits placed in a float and scaled by
// 2^112 give every finite half (subnormals included); inf and NaN are patched.
inline float HalfToFloat(uint16_t h) {
  const uint32_t em = static_cast<uint32_t>(h) & 0x7fffu;
  const uint32_t finite =
      std::bit_cast<uint32_t>(std::bit_cast<float>(em << 13) * 0x1p112f);
  const uint32_t special = 0u - static_cast<uint32_t>(em >= 0x7c00u);
  const uint32_t inf_nan = 0x7f800000u | ((em & 0x3ffu) << 13);
  const uint32_t bits = (finite & ~special) | (inf_nan & special);
  return std::bit_cast<float>(bits |
                              ((static_cast<uint32_t>(h) & 0x8000u) << 16));
}

void EncodeF16(const float* x, int64_t n, uint16_t* out);
void DecodeF16(const uint16_t* in, int64_t n, float* out);

// max |x_i| (0 for n = 0; NaNs are skipped).
float AbsMax(const float* x, int64_t n);

// q_i = clamp(rint(x_i / scale), -127, 127); all zero when scale == 0.
void QuantizeInt8(const float* x, int64_t n, float scale, int8_t* q);
// Re-expresses codes quantized against old_scale against new_scale:
// q_i = clamp(rint((q_i · old_scale) / new_scale), -127, 127).
// REQUIRES: new_scale > 0.
void RescaleInt8(int8_t* q, int64_t n, float old_scale, float new_scale);
// out_i = scale · q_i.
void DequantizeInt8(const int8_t* q, int64_t n, float scale, float* out);

// Groups and packed bytes of one int4 row of n elements.
inline int64_t Int4Groups(int64_t n) { return (n + 31) / 32; }
inline int64_t Int4RowBytes(int64_t n) { return (n + 1) / 2; }
// Per group g (elements [32g, min(32g + 32, n))): scale_g =
// f16(max|x| / 7) (capped at the largest half), s = float(scale_g),
// q_i = clamp(rint(x_i / s), -7, 7) (0 when s == 0), stored as the nibble
// q_i + 8: element i in byte i/2, low nibble for even i.
void QuantizeInt4Row(const float* x, int64_t n, uint16_t* scales,
                     uint8_t* nibbles);
// out[j] = s_g · q_i for elements i = begin + j, j in [0, width).
void DequantizeInt4(const uint16_t* scales, const uint8_t* nibbles,
                    int64_t begin, int64_t width, float* out);

}  // namespace trilemma::ops

#endif  // TRILEMMA_ENGINES_OPS_KV_QUANT_H_
