// PCM scaling: int16 samples -> the model's input tensor, and output tensor -> float scores.
// float input: x / 32768 (exact in float32; the host does the same before its TFLM reference run).
// int8/int16 input: q = round_half_away(x / 32768 / scale) + zero_point, saturated.
#ifndef TKD_PCM_H
#define TKD_PCM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

#define TKD_PCM_SCALE (1.0f / 32768.0f)

void tkd_pcm_to_float(const int16_t* pcm, uint32_t n, float* out);
void tkd_pcm_to_int8(const int16_t* pcm, uint32_t n, float scale, int32_t zero_point, int8_t* out);
void tkd_pcm_to_int16(const int16_t* pcm, uint32_t n, float scale, int32_t zero_point, int16_t* out);
void tkd_dequantize_int8(const int8_t* q, uint32_t n, float scale, int32_t zero_point, float* out);
// Little-endian bytes (as received in a frame) -> int16 samples; in place is allowed (dst == src).
void tkd_pcm_from_le_bytes(const uint8_t* src, uint32_t n_samples, int16_t* dst);
uint32_t tkd_argmax(const float* v, uint32_t n);

#ifdef __cplusplus
}
#endif
#endif
