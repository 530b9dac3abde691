#include "engines/ops/kv_quant.h"

#include <algorithm>
#include <cmath>

#include "engines/ops/cpu_dispatch.h"

#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#endif

namespace trilemma::ops {
namespace {

// Round to nearest, ties to even, for |v| < 2^22 (the default FP rounding
// mode does the work); branch-free, unlike nearbyint without SSE4.1.
inline float RoundEven(float v) {
  constexpr float kMagic = 12582912.0f;  // 1.5 · 2^23
  return (v + kMagic) - kMagic;
}

// clamp(v, -limit, limit) that sends NaN to +limit (a defined code).
inline float Clamp(float v, float limit) {
  v = v < limit ? v : limit;
  return v > -limit ? v : -limit;
}

#if defined(__x86_64__) && defined(__GNUC__)
// F16C converts 8 halves per instruction, exactly as HalfToFloat does one
// (GCC does not vectorise the bit manipulation into it).
__attribute__((target("avx2,f16c"))) void DecodeF16C(const uint16_t* in,
                                                     int64_t n, float* out) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m128i halves =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(halves));
  }
  for (; i < n; ++i) out[i] = HalfToFloat(in[i]);
}
#endif

TRILEMMA_VECTOR_KERNEL
void DecodeF16Portable(const uint16_t* in, int64_t n, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = HalfToFloat(in[i]);
}

}  // namespace

TRILEMMA_VECTOR_KERNEL
void EncodeF16(const float* x, int64_t n, uint16_t* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = FloatToHalf(x[i]);
}

void DecodeF16(const uint16_t* in, int64_t n, float* out) {
#if defined(__x86_64__) && defined(__GNUC__)
  // Every AVX2 CPU has F16C (both belong to x86-64-v3); "f16c" itself is not
  // a feature name every compiler's builtin takes.
  static const bool f16c = __builtin_cpu_supports("avx2");
  if (f16c) {
    DecodeF16C(in, n, out);
    return;
  }
#endif
  DecodeF16Portable(in, n, out);
}

float AbsMax(const float* x, int64_t n) {
  float m = 0.0f;
  for (int64_t i = 0; i < n; ++i) m = std::max(m, std::fabs(x[i]));
  return m;
}

void QuantizeInt8(const float* x, int64_t n, float scale, int8_t* q) {
  if (!(scale > 0.0f)) {
    std::fill(q, q + n, int8_t{0});
    return;
  }
  for (int64_t i = 0; i < n; ++i) {
    q[i] = static_cast<int8_t>(RoundEven(Clamp(x[i] / scale, 127.0f)));
  }
}

void RescaleInt8(int8_t* q, int64_t n, float old_scale, float new_scale) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = (static_cast<float>(q[i]) * old_scale) / new_scale;
    q[i] = static_cast<int8_t>(RoundEven(Clamp(v, 127.0f)));
  }
}

void DequantizeInt8(const int8_t* q, int64_t n, float scale, float* out) {
  for (int64_t i = 0; i < n; ++i) out[i] = scale * static_cast<float>(q[i]);
}

void QuantizeInt4Row(const float* x, int64_t n, uint16_t* scales,
                     uint8_t* nibbles) {
  constexpr float kLargestHalf = 65504.0f;
  std::fill(nibbles, nibbles + Int4RowBytes(n), uint8_t{0});
  for (int64_t g = 0; g < Int4Groups(n); ++g) {
    const int64_t begin = g * 32, end = std::min(n, begin + 32);
    scales[g] = FloatToHalf(
        std::min(AbsMax(x + begin, end - begin) / 7.0f, kLargestHalf));
    const float s = HalfToFloat(scales[g]);
    for (int64_t i = begin; i < end; ++i) {
      const float q = s > 0.0f ? RoundEven(Clamp(x[i] / s, 7.0f)) : 0.0f;
      const auto code = static_cast<uint8_t>(static_cast<int>(q) + 8);
      nibbles[i / 2] |= static_cast<uint8_t>(i % 2 == 0 ? code : code << 4);
    }
  }
}

void DequantizeInt4(const uint16_t* scales, const uint8_t* nibbles,
                    int64_t begin, int64_t width, float* out) {
  int64_t j = 0;
  while (j < width) {
    // One group (or the part of it in range) at a time, a byte per two
    // elements in the inner loop so it vectorises.
    const int64_t i0 = begin + j;
    const int64_t g = i0 / 32;
    const float s = HalfToFloat(scales[g]);
    const int64_t n = std::min(width - j, (g + 1) * 32 - i0);
    float* o = out + j;
    int64_t k = 0;
    if ((i0 & 1) != 0) {  // starts on a high nibble
      o[0] = s * static_cast<float>((nibbles[i0 / 2] >> 4) - 8);
      k = 1;
    }
    const uint8_t* bytes = nibbles + (i0 + k) / 2;
    const int64_t pairs = (n - k) / 2;
    for (int64_t p = 0; p < pairs; ++p) {
      const int byte = bytes[p];
      o[k + 2 * p] = s * static_cast<float>((byte & 15) - 8);
      o[k + 2 * p + 1] = s * static_cast<float>((byte >> 4) - 8);
    }
    if (k + 2 * pairs < n) {  // ends on a low nibble
      o[n - 1] = s * static_cast<float>((bytes[pairs] & 15) - 8);
    }
    j += n;
  }
}

}  // namespace trilemma::ops
