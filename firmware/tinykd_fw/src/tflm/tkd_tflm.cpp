#include "tkd_tflm.h"

#include <new>
#include <string.h>

#include "tensorflow/lite/micro/micro_allocator.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "../core/tkd_pcm.h"

namespace tkd {

static uint32_t elements(const TfLiteTensor* t) {
  uint32_t n = 1;
  for (int i = 0; i < t->dims->size; ++i) n *= static_cast<uint32_t>(t->dims->data[i]);
  return n;
}

static const char* check_schema(const unsigned char* data) {
  if (data == nullptr) return "model data missing";
  if (tflite::GetModel(data)->version() != TFLITE_SCHEMA_VERSION)
    return "flatbuffer schema version differs from this TFLM";
  return nullptr;
}

// One interpreter alone in the arena: how many bytes it needs. The interpreter is destroyed again
// (its storage is reused for the real one).
static const char* measure_alone(const unsigned char* data, const tflite::MicroOpResolver& resolver, uint8_t* arena,
                                 size_t arena_bytes, uint8_t* storage, uint32_t* used, const char* too_small) {
  tflite::MicroInterpreter* i = new (storage) tflite::MicroInterpreter(tflite::GetModel(data), resolver, arena,
                                                                       arena_bytes);
  TfLiteStatus st = i->AllocateTensors();
  *used = static_cast<uint32_t>(i->arena_used_bytes());
  i->~MicroInterpreter();
  return st == kTfLiteOk ? nullptr : too_small;
}

const char* Runner::Setup(const ModelDesc& desc, const tflite::MicroOpResolver& resolver, uint8_t* arena,
                          size_t arena_bytes, MicrosFn micros) {
  desc_ = desc;
  micros_ = micros;
  main_ = frontend_ = nullptr;
  if (arena == nullptr) return "no memory for the tensor arena (TINYKD_ARENA_PLACEMENT?)";
  if (micros == nullptr) return "no clock given to the TFLM glue";
  if (desc.n_labels == 0) return "model has no labels";
  if (desc.kind == TKD_KIND_SIGNAL) return SetupSignal(resolver, arena, arena_bytes);
  if (desc.kind == TKD_KIND_WAVEFORM) return SetupWaveform(resolver, arena, arena_bytes);
  return "model_data.h names an unknown model kind";
}

const char* Runner::SetupWaveform(const tflite::MicroOpResolver& resolver, uint8_t* arena, size_t arena_bytes) {
  if (const char* e = check_schema(desc_.model)) return e;
  main_ = new (main_storage_) tflite::MicroInterpreter(tflite::GetModel(desc_.model), resolver, arena, arena_bytes);
  if (main_->AllocateTensors() != kTfLiteOk) {
    main_ = nullptr;
    return "AllocateTensors failed (arena too small?)";
  }
  arena_used_ = static_cast<uint32_t>(main_->arena_used_bytes());
  arena_frontend_ = arena_body_ = 0;
  main_in_ = main_->input(0);
  main_out_ = main_->output(0);
  const char* why = nullptr;
  if (main_in_->type != desc_.input_type) {
    why = "model_data.h input type differs from the flatbuffer";
  } else if (main_in_->type != kTfLiteFloat32 && main_in_->type != kTfLiteInt8 && main_in_->type != kTfLiteInt16) {
    why = "model input must be float32, int8 or int16 PCM";
  } else if (elements(main_in_) != desc_.input_samples) {
    why = "model input length differs from TINYKD_INPUT_SAMPLES";
  }
  if (why == nullptr) {
    if (main_out_->type != desc_.output_type) {
      why = "model_data.h output type differs from the flatbuffer";
    } else if (main_out_->type != kTfLiteFloat32 && main_out_->type != kTfLiteInt8) {
      why = "model output must be float32 or int8";
    } else if (elements(main_out_) != desc_.n_labels) {
      why = "model output size differs from TINYKD_NUM_LABELS";
    }
  }
  if (why == nullptr) why = CheckQuantization();
  if (why) main_ = nullptr;
  return why;
}

// The scales and zero points model_data.h states must be the flatbuffer's (a stale model_data.h would
// otherwise scale the input wrongly without any error).
static bool same_quant(const TfLiteTensor* t, float scale, int32_t zero_point) {
  if (t->type == kTfLiteFloat32) return true;
  return t->params.scale == scale && t->params.zero_point == zero_point;
}

const char* Runner::CheckQuantization() const {
  if (!same_quant(main_in_, desc_.input_scale, desc_.input_zero_point))
    return "model_data.h input scale/zero point differ from the flatbuffer";
  if (!same_quant(main_out_, desc_.output_scale, desc_.output_zero_point))
    return "model_data.h output scale/zero point differ from the flatbuffer";
  return nullptr;
}

const char* Runner::SetupSignal(const tflite::MicroOpResolver& resolver, uint8_t* arena, size_t arena_bytes) {
  if (const char* e = check_schema(desc_.frontend)) return e;
  if (const char* e = check_schema(desc_.model)) return e;
  // Each model alone first (the figures the hello reports), then both in one allocator.
  if (const char* e = measure_alone(desc_.frontend, resolver, arena, arena_bytes, frontend_storage_, &arena_frontend_,
                                    "front end: AllocateTensors failed (arena too small?)"))
    return e;
  if (const char* e = measure_alone(desc_.model, resolver, arena, arena_bytes, main_storage_, &arena_body_,
                                    "body: AllocateTensors failed (arena too small?)"))
    return e;
  tflite::MicroAllocator* allocator = tflite::MicroAllocator::Create(arena, arena_bytes);
  if (allocator == nullptr) return "arena too small for the TFLM allocator";
  frontend_ = new (frontend_storage_) tflite::MicroInterpreter(tflite::GetModel(desc_.frontend), resolver, allocator);
  main_ = new (main_storage_) tflite::MicroInterpreter(tflite::GetModel(desc_.model), resolver, allocator);
  if (frontend_->AllocateTensors() != kTfLiteOk || main_->AllocateTensors() != kTfLiteOk) {
    frontend_ = main_ = nullptr;
    return "front end + body: AllocateTensors failed in the shared arena (arena too small?)";
  }
  arena_used_ = static_cast<uint32_t>(main_->arena_used_bytes());  // the shared allocator's total
  fe_in_ = frontend_->input(0);
  fe_out_ = frontend_->output(0);
  main_in_ = main_->input(0);
  main_out_ = main_->output(0);
  const char* why = nullptr;
  if (fe_in_->type != kTfLiteInt16 || fe_in_->type != desc_.frontend_input_type) {
    why = "front end input must be int16 PCM (as model_data.h says)";
  } else if (elements(fe_in_) != desc_.frontend_window) {
    why = "front end input length differs from TINYKD_FRONTEND_WINDOW_SAMPLES";
  } else if (fe_out_->type != kTfLiteInt8 || fe_out_->type != desc_.frontend_output_type) {
    why = "front end output must be int8 features (as model_data.h says)";
  } else if (elements(fe_out_) != desc_.feature_bins) {
    why = "front end output size differs from TINYKD_FEATURE_BINS";
  } else if (main_in_->type != kTfLiteInt8 || main_in_->type != desc_.input_type) {
    why = "body input must be int8 features (as model_data.h says)";
  } else if (elements(main_in_) != desc_.feature_frames * desc_.feature_bins) {
    why = "body input size differs from TINYKD_FEATURE_FRAMES * TINYKD_FEATURE_BINS";
  } else if (main_out_->type != desc_.output_type ||
             (main_out_->type != kTfLiteFloat32 && main_out_->type != kTfLiteInt8)) {
    why = "body output must be float32 or int8 (as model_data.h says)";
  } else if (elements(main_out_) != desc_.n_labels) {
    why = "body output size differs from TINYKD_NUM_LABELS";
  }
  if (why == nullptr) why = CheckQuantization();
  if (why) frontend_ = main_ = nullptr;
  return why;
}

void Runner::FillConfig(tkd_board_config* cfg) {
  cfg->kind = desc_.kind;
  cfg->ctx = this;
  if (desc_.kind == TKD_KIND_SIGNAL) {
    cfg->frontend = &Runner::Frontend;
    cfg->frontend_reset = &Runner::FrontendReset;
    cfg->body = &Runner::Body;
    cfg->frontend_window = desc_.frontend_window;
    cfg->feature_bins = desc_.feature_bins;
    cfg->feature_frames = desc_.feature_frames;
    cfg->hop_samples = desc_.hop_samples;  // the stream's hop is the model's
  } else {
    cfg->infer = &Runner::Infer;
  }
}

int Runner::Scores(TfLiteTensor* out, float* scores) {
  if (out->type == kTfLiteFloat32) {
    for (uint32_t i = 0; i < desc_.n_labels; ++i) scores[i] = out->data.f[i];
  } else {
    tkd_dequantize_int8(out->data.int8, desc_.n_labels, out->params.scale, out->params.zero_point, scores);
  }
  return 0;
}

int Runner::Infer(void* ctx, const int16_t* pcm, uint32_t n, float* scores, uint32_t* fe_us, uint32_t* inf_us) {
  Runner* r = static_cast<Runner*>(ctx);
  if (r->main_ == nullptr || r->desc_.kind != TKD_KIND_WAVEFORM || n != r->desc_.input_samples) return 1;
  uint32_t t0 = r->micros_();
  TfLiteTensor* in = r->main_in_;
  if (in->type == kTfLiteFloat32) {
    tkd_pcm_to_float(pcm, n, in->data.f);
  } else if (in->type == kTfLiteInt8) {
    tkd_pcm_to_int8(pcm, n, in->params.scale, in->params.zero_point, in->data.int8);
  } else {
    tkd_pcm_to_int16(pcm, n, in->params.scale, in->params.zero_point, in->data.i16);
  }
  uint32_t t1 = r->micros_();
  if (r->main_->Invoke() != kTfLiteOk) return 1;
  uint32_t t2 = r->micros_();
  if (r->hook_) r->hook_(r->hook_user_, 'W', r->main_out_->data.data, r->main_out_->bytes);
  r->Scores(r->main_out_, scores);
  *fe_us = t1 - t0;
  *inf_us = t2 - t1;
  return 0;
}

int Runner::Frontend(void* ctx, const int16_t* pcm, uint32_t n, int8_t* features, uint32_t n_bins, uint32_t* us) {
  Runner* r = static_cast<Runner*>(ctx);
  if (r->frontend_ == nullptr || n != r->desc_.frontend_window || n_bins != r->desc_.feature_bins) return 1;
  uint32_t t0 = r->micros_();
  memcpy(r->fe_in_->data.i16, pcm, static_cast<size_t>(n) * sizeof(int16_t));
  if (r->frontend_->Invoke() != kTfLiteOk) return 1;
  // Copied out at once: the body's invoke reuses this part of the shared arena.
  memcpy(features, r->fe_out_->data.int8, n_bins);
  *us = r->micros_() - t0;
  if (r->hook_) r->hook_(r->hook_user_, 'F', features, n_bins);
  return 0;
}

int Runner::FrontendReset(void* ctx) {
  Runner* r = static_cast<Runner*>(ctx);
  if (r->frontend_ == nullptr) return 1;
  return r->frontend_->Reset() == kTfLiteOk ? 0 : 1;
}

int Runner::Body(void* ctx, const int8_t* features, uint32_t n_frames, uint32_t n_bins, float* scores, uint32_t* us) {
  Runner* r = static_cast<Runner*>(ctx);
  if (r->main_ == nullptr || n_frames != r->desc_.feature_frames || n_bins != r->desc_.feature_bins) return 1;
  uint32_t t0 = r->micros_();
  memcpy(r->main_in_->data.int8, features, static_cast<size_t>(n_frames) * n_bins);
  if (r->main_->Invoke() != kTfLiteOk) return 1;
  *us = r->micros_() - t0;
  if (r->hook_) r->hook_(r->hook_user_, 'B', r->main_out_->data.data, r->main_out_->bytes);
  r->Scores(r->main_out_, scores);
  return 0;
}

}  // namespace tkd
