// TFLM glue: runs the emitted model(s) for the board core's callbacks. Portable C++ that includes
// TensorFlow Lite Micro but not Arduino, so the sketch, the emulated board and the host build all run
// this same code.
//
// Two kinds (tkd_kind, chosen by model_data.h):
//   waveform: one interpreter; infer() scales int16 PCM into its input tensor and invokes it.
//   signal:   a front end (int16 [1, W] -> int8 [B], once per hop) and a body (int8 F*B features ->
//             scores), two interpreters sharing ONE arena through one tflite::MicroAllocator
//             (TFLM's multi-tenant allocation: persistent data of both in the tail, one head reused by
//             whichever runs). Both live for the whole run; the front end's output is copied out right
//             after each invoke, because the body's invoke overwrites the shared head.
// The features are copied into the body's input bit for bit (as micro_speech does): the body's declared
// input quantization is not applied.
#ifndef TKD_TFLM_H
#define TKD_TFLM_H
#include <stddef.h>
#include <stdint.h>

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_op_resolver.h"

#include "../core/tkd_board.h"  // relative to this file: the same in the sketch and PlatformIO layouts

namespace tkd {

// What model_data.h says about the model(s); tkd_model_desc.h fills it from the emitted macros.
struct ModelDesc {
  uint8_t kind;                   // TKD_KIND_WAVEFORM or TKD_KIND_SIGNAL
  const unsigned char* model;     // waveform: the model; signal: the body (classifier)
  const unsigned char* frontend;  // signal: the front end; null for waveform
  uint32_t n_labels;
  uint32_t input_samples;         // waveform: the window; signal: samples of a verify clip
  uint32_t frontend_window;       // signal: W
  uint32_t hop_samples;           // signal: H
  uint32_t feature_frames;        // signal: F
  uint32_t feature_bins;          // signal: B
  TfLiteType input_type;          // waveform: model input; signal: body input (int8)
  TfLiteType output_type;         // model / body output (float32 or int8)
  TfLiteType frontend_input_type;   // signal: int16
  TfLiteType frontend_output_type;  // signal: int8
  // Quantization model_data.h states (checked against the flatbuffer at Setup for quantized tensors).
  float input_scale;
  int32_t input_zero_point;
  float output_scale;
  int32_t output_zero_point;
};

// Microseconds from a free-running clock (wraps are fine).
typedef uint32_t (*MicrosFn)(void);
// Optional observer of every invoke's output (host tests compare bytes): tag 'W' waveform output,
// 'F' front-end features, 'B' body output; data is the raw output tensor.
typedef void (*OutputHook)(void* user, char tag, const void* data, size_t n);

class Runner {
 public:
  // Builds the interpreter(s) in `arena` (16-byte aligned) with `resolver` (registering every op of
  // both graphs). Returns nullptr, or one line saying what is wrong.
  const char* Setup(const ModelDesc& desc, const tflite::MicroOpResolver& resolver, uint8_t* arena,
                    size_t arena_bytes, MicrosFn micros);
  // Records the model description without building anything (a set-up that failed before Setup): the
  // board still gets the right kind and sizes, and every callback fails cleanly.
  void Describe(const ModelDesc& desc) { desc_ = desc; }
  // Sets kind, callbacks, ctx (this Runner: the write callback gets it too) and the signal sizes.
  void FillConfig(tkd_board_config* cfg);
  void SetOutputHook(OutputHook hook, void* user) {
    hook_ = hook;
    hook_user_ = user;
  }

  // Bytes of the arena in use (interpreter arena_used_bytes()): the model, or for the signal kind both
  // models sharing the arena, plus each of them allocated alone (measured at Setup; 0 for waveform).
  uint32_t arena_used() const { return arena_used_; }
  uint32_t arena_frontend_alone() const { return arena_frontend_; }
  uint32_t arena_body_alone() const { return arena_body_; }

  // The board core's callbacks (ctx = the Runner).
  static int Infer(void* ctx, const int16_t* pcm, uint32_t n, float* scores, uint32_t* fe_us, uint32_t* inf_us);
  static int Frontend(void* ctx, const int16_t* pcm, uint32_t n, int8_t* features, uint32_t n_bins, uint32_t* us);
  static int FrontendReset(void* ctx);
  static int Body(void* ctx, const int8_t* features, uint32_t n_frames, uint32_t n_bins, float* scores,
                  uint32_t* us);

 private:
  const char* SetupWaveform(const tflite::MicroOpResolver& resolver, uint8_t* arena, size_t arena_bytes);
  const char* SetupSignal(const tflite::MicroOpResolver& resolver, uint8_t* arena, size_t arena_bytes);
  const char* CheckQuantization() const;
  int Scores(TfLiteTensor* out, float* scores);

  // Interpreters are placement-constructed here and live as long as the Runner.
  alignas(tflite::MicroInterpreter) uint8_t main_storage_[sizeof(tflite::MicroInterpreter)];
  alignas(tflite::MicroInterpreter) uint8_t frontend_storage_[sizeof(tflite::MicroInterpreter)];
  tflite::MicroInterpreter* main_ = nullptr;      // waveform model, or the body
  tflite::MicroInterpreter* frontend_ = nullptr;  // signal only
  TfLiteTensor* main_in_ = nullptr;
  TfLiteTensor* main_out_ = nullptr;
  TfLiteTensor* fe_in_ = nullptr;
  TfLiteTensor* fe_out_ = nullptr;
  ModelDesc desc_ = {};
  MicrosFn micros_ = nullptr;
  OutputHook hook_ = nullptr;
  void* hook_user_ = nullptr;
  uint32_t arena_used_ = 0, arena_frontend_ = 0, arena_body_ = 0;
};

}  // namespace tkd
#endif
