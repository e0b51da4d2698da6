// tkd::ModelDesc from the emitted C API (model_data.h macros). Include after model_data.h: it is not
// included here because its folder differs between the sketch, PlatformIO and the emulated board.
#ifndef TKD_MODEL_DESC_H
#define TKD_MODEL_DESC_H
#include "tkd_tflm.h"

#if !defined(TINYKD_MODEL_DATA_VERSION)
#error "include model_data.h before tkd_model_desc.h"
#endif
#if TINYKD_MODEL_DATA_VERSION != 1
#error "model_data.h is from another tinykd version: run tinykd flash again"
#endif

#if defined(TINYKD_INPUT_TYPE_FLOAT32)
#define TKD_DESC_INPUT_TYPE kTfLiteFloat32
#elif defined(TINYKD_INPUT_TYPE_INT8)
#define TKD_DESC_INPUT_TYPE kTfLiteInt8
#elif defined(TINYKD_INPUT_TYPE_INT16)
#define TKD_DESC_INPUT_TYPE kTfLiteInt16
#else
#error "unsupported model input type"
#endif
#if defined(TINYKD_OUTPUT_TYPE_FLOAT32)
#define TKD_DESC_OUTPUT_TYPE kTfLiteFloat32
#elif defined(TINYKD_OUTPUT_TYPE_INT8)
#define TKD_DESC_OUTPUT_TYPE kTfLiteInt8
#else
#error "unsupported model output type"
#endif

static inline tkd::ModelDesc tkd_emitted_model() {
  tkd::ModelDesc d = {};
  d.model = tinykd_model_data;
  d.n_labels = TINYKD_NUM_LABELS;
  d.input_samples = TINYKD_INPUT_SAMPLES;
  d.input_type = TKD_DESC_INPUT_TYPE;
  d.output_type = TKD_DESC_OUTPUT_TYPE;
  d.input_scale = tinykd_input_scale;
  d.input_zero_point = tinykd_input_zero_point;
  d.output_scale = tinykd_output_scale;
  d.output_zero_point = tinykd_output_zero_point;
#if defined(TINYKD_MODEL_KIND_SIGNAL)
  d.kind = TKD_KIND_SIGNAL;
  d.frontend = tinykd_frontend_model_data;
  d.frontend_window = TINYKD_FRONTEND_WINDOW_SAMPLES;
  d.hop_samples = TINYKD_FRONTEND_HOP_SAMPLES;
  d.feature_frames = TINYKD_FEATURE_FRAMES;
  d.feature_bins = TINYKD_FEATURE_BINS;
#if defined(TINYKD_FRONTEND_INPUT_TYPE_INT16)
  d.frontend_input_type = kTfLiteInt16;
#endif
#if defined(TINYKD_FRONTEND_OUTPUT_TYPE_INT8)
  d.frontend_output_type = kTfLiteInt8;
#endif
#else
  d.kind = TKD_KIND_WAVEFORM;
#endif
  return d;
}

#endif
