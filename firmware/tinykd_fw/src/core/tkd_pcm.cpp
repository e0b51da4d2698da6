#include "tkd_pcm.h"

static int32_t quantize(float x, float inv_scale, int32_t zp, int32_t lo, int32_t hi) {
  float v = x * inv_scale;
  int32_t q = static_cast<int32_t>(v < 0 ? v - 0.5f : v + 0.5f) + zp;
  return q < lo ? lo : (q > hi ? hi : q);
}

void tkd_pcm_to_float(const int16_t* pcm, uint32_t n, float* out) {
  for (uint32_t i = 0; i < n; ++i) out[i] = static_cast<float>(pcm[i]) * TKD_PCM_SCALE;
}

void tkd_pcm_to_int8(const int16_t* pcm, uint32_t n, float scale, int32_t zero_point, int8_t* out) {
  float inv = 1.0f / scale;
  for (uint32_t i = 0; i < n; ++i)
    out[i] = static_cast<int8_t>(quantize(static_cast<float>(pcm[i]) * TKD_PCM_SCALE, inv, zero_point, -128, 127));
}

void tkd_pcm_to_int16(const int16_t* pcm, uint32_t n, float scale, int32_t zero_point, int16_t* out) {
  float inv = 1.0f / scale;
  for (uint32_t i = 0; i < n; ++i)
    out[i] = static_cast<int16_t>(
        quantize(static_cast<float>(pcm[i]) * TKD_PCM_SCALE, inv, zero_point, -32768, 32767));
}

void tkd_dequantize_int8(const int8_t* q, uint32_t n, float scale, int32_t zero_point, float* out) {
  for (uint32_t i = 0; i < n; ++i) out[i] = static_cast<float>(static_cast<int32_t>(q[i]) - zero_point) * scale;
}

void tkd_pcm_from_le_bytes(const uint8_t* src, uint32_t n_samples, int16_t* dst) {
  for (uint32_t i = 0; i < n_samples; ++i) {
    uint16_t u = static_cast<uint16_t>(src[2 * i] | (src[2 * i + 1] << 8));
    dst[i] = static_cast<int16_t>(u);
  }
}

uint32_t tkd_argmax(const float* v, uint32_t n) {
  uint32_t best = 0;
  for (uint32_t i = 1; i < n; ++i)
    if (v[i] > v[best]) best = i;
  return best;
}
