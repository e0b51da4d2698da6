// tinykd firmware: runs the emitted int8 model with TensorFlow Lite Micro and speaks the tinykd
// serial protocol (docs/protocol.md). Two modes:
//   stream: microphone -> ring buffer -> sliding window -> one result line per inference
//   verify: the host uploads int16 PCM clips; each is acknowledged, run, and answered
// Everything protocol-related is in src/core/ (plain C++, unit-tested on the host); this file only
// wires it to Serial, the microphone and TFLM. It is valid C++ (PlatformIO builds it as main.cpp).
//
// Libraries: ESP32 / ESP32-S3: arduino-esp32 core 3.x, its bundled "TFLite Micro" library.
//            Nano 33 BLE: Arduino Mbed OS Nano core + the Chirale_TensorFlowLite library.
#include <Arduino.h>

#if defined(ARDUINO_ARCH_MBED)
#include <Chirale_TensorFlowLite.h>  // puts TFLM's include paths in place on Mbed boards
#include <PDM.h>
#endif
#if defined(ESP32)
#include <ESP_I2S.h>
#endif

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/schema/schema_generated.h"

#include "model_data.h"
#include "model_ops.h"
#ifdef PLATFORMIO
#include "core/tkd_board.h"
#include "core/tkd_pcm.h"
#else
#include "src/core/tkd_board.h"
#include "src/core/tkd_pcm.h"
#endif
#include "tinykd_config.h"
#include "tinykd_pins.h"

#if TINYKD_MODEL_DATA_VERSION != 1
#error "model_data.h is from another tinykd version: run tinykd flash again"
#endif

// File-local state and helpers are `static` (not an anonymous namespace): the Arduino builder's
// generated prototypes do not handle namespaces.
alignas(16) static uint8_t g_arena[TINYKD_ARENA_BYTES];
// The upload buffer doubles as the stream window buffer (tkd_board.h explains why that is safe).
alignas(4) static uint8_t g_upload[TINYKD_INPUT_SAMPLES * 2];
static int16_t g_ring[TINYKD_INPUT_SAMPLES + TINYKD_HOP_SAMPLES];
static int16_t g_mic[256];

static tflite::MicroMutableOpResolver<kTinykdNumOps> g_resolver;
static tflite::MicroInterpreter* g_interpreter = nullptr;
static tkd_board g_board;
static const char* g_setup_error = nullptr;

#if defined(ESP32)
static I2SClass g_i2s;
static int32_t g_i2s_raw[256];
#endif
#if defined(ARDUINO_ARCH_MBED)
static volatile int g_pdm_count = 0;
static int16_t g_pdm_buf[256];
static void on_pdm() {
  int bytes = PDM.available();
  if (bytes > (int)sizeof(g_pdm_buf)) bytes = sizeof(g_pdm_buf);
  PDM.read(g_pdm_buf, bytes);
  g_pdm_count = bytes / 2;
}
#endif

static void serial_write(void*, const uint8_t* data, uint32_t n) { Serial.write(data, n); }

static int run_model(void*, const int16_t* pcm, uint32_t n, float* scores, uint32_t* fe_us, uint32_t* inf_us) {
  if (g_interpreter == nullptr) return 1;
  uint32_t t0 = micros();
  TfLiteTensor* in = g_interpreter->input(0);
#if defined(TINYKD_INPUT_TYPE_FLOAT32)
  tkd_pcm_to_float(pcm, n, in->data.f);
#elif defined(TINYKD_INPUT_TYPE_INT8)
  tkd_pcm_to_int8(pcm, n, tinykd_input_scale, tinykd_input_zero_point, in->data.int8);
#elif defined(TINYKD_INPUT_TYPE_INT16)
  tkd_pcm_to_int16(pcm, n, tinykd_input_scale, tinykd_input_zero_point, in->data.i16);
#else
#error "unsupported model input type"
#endif
  uint32_t t1 = micros();
  if (g_interpreter->Invoke() != kTfLiteOk) return 1;
  uint32_t t2 = micros();
  TfLiteTensor* out = g_interpreter->output(0);
#if defined(TINYKD_OUTPUT_TYPE_FLOAT32)
  for (uint32_t i = 0; i < TINYKD_NUM_LABELS; ++i) scores[i] = out->data.f[i];
#elif defined(TINYKD_OUTPUT_TYPE_INT8)
  tkd_dequantize_int8(out->data.int8, TINYKD_NUM_LABELS, tinykd_output_scale, tinykd_output_zero_point, scores);
#else
#error "unsupported model output type"
#endif
  *fe_us = t1 - t0;
  *inf_us = t2 - t1;
  return 0;
}

static const char* setup_model() {
  const tflite::Model* model = tflite::GetModel(tinykd_model_data);
  if (model->version() != TFLITE_SCHEMA_VERSION) return "flatbuffer schema version differs from this TFLM";
  if (tinykd_register_ops(g_resolver) != kTfLiteOk) return "op registration failed";
  static tflite::MicroInterpreter interpreter(model, g_resolver, g_arena, sizeof(g_arena));
  if (interpreter.AllocateTensors() != kTfLiteOk) return "AllocateTensors failed (arena too small?)";
  g_interpreter = &interpreter;
  return nullptr;
}

static void setup_mic() {
#if defined(ESP32)
  g_i2s.setPins(TINYKD_I2S_SCK, TINYKD_I2S_WS, -1, TINYKD_I2S_SD);
  if (!g_i2s.begin(I2S_MODE_STD, TINYKD_SAMPLE_RATE, I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO, I2S_STD_SLOT_LEFT))
    tkd_board_error(&g_board, "mic", "I2S start failed: check tinykd_pins.h");
#elif defined(ARDUINO_ARCH_MBED)
  PDM.onReceive(on_pdm);
  if (!PDM.begin(1, TINYKD_SAMPLE_RATE)) tkd_board_error(&g_board, "mic", "PDM start failed");
#endif
}

static void poll_mic() {
#if defined(ESP32)
  int avail = g_i2s.available();
  if (avail < 4) return;
  size_t want = (size_t)avail < sizeof(g_i2s_raw) ? (size_t)avail & ~3u : sizeof(g_i2s_raw);
  size_t got = g_i2s.readBytes(reinterpret_cast<char*>(g_i2s_raw), want) / 4;
  for (size_t i = 0; i < got; ++i) {
    int32_t v = g_i2s_raw[i] >> TINYKD_MIC_SHIFT;
    g_mic[i] = (int16_t)(v > 32767 ? 32767 : (v < -32768 ? -32768 : v));
  }
  tkd_board_audio(&g_board, g_mic, got);
#elif defined(ARDUINO_ARCH_MBED)
  noInterrupts();
  int n = g_pdm_count;
  if (n) memcpy(g_mic, g_pdm_buf, n * 2);
  g_pdm_count = 0;
  interrupts();
  if (n) tkd_board_audio(&g_board, g_mic, n);
#endif
}

void setup() {
#if defined(ESP32)
  Serial.setRxBufferSize(4096);  // an upload arrives at ~92 KB/s at 921 600 baud
#endif
  Serial.begin(TINYKD_BAUD);
  tkd_board_config cfg = {};
  cfg.fw_version = TINYKD_FW_VERSION;
  cfg.board_name = TINYKD_BOARD_NAME;
  cfg.model_hash = tinykd_model_hash;
  cfg.labels = tinykd_labels;
  cfg.n_labels = TINYKD_NUM_LABELS;
  cfg.sample_rate = TINYKD_SAMPLE_RATE;
  cfg.input_samples = TINYKD_INPUT_SAMPLES;
  cfg.arena_bytes = TINYKD_ARENA_BYTES;
  cfg.hop_samples = TINYKD_HOP_SAMPLES;
  cfg.default_mode = TINYKD_DEFAULT_MODE;
  cfg.write = serial_write;
  cfg.infer = run_model;
  cfg.upload_buf = g_upload;
  cfg.ring_buf = g_ring;
  cfg.ring_samples = TINYKD_INPUT_SAMPLES + TINYKD_HOP_SAMPLES;
  cfg.window_buf = reinterpret_cast<int16_t*>(g_upload);
  tkd_board_init(&g_board, &cfg);
  g_setup_error = setup_model();
  tkd_board_reset(&g_board);  // hello line
  if (g_setup_error) tkd_board_error(&g_board, "setup", g_setup_error);
  setup_mic();
}

void loop() {
  uint8_t buf[256];
  int avail = Serial.available();
  if (avail > 0) {
    size_t n = Serial.readBytes(buf, avail < (int)sizeof(buf) ? avail : (int)sizeof(buf));
    tkd_board_rx(&g_board, buf, n, millis());
  } else {
    tkd_board_poll(&g_board, millis());
  }
  poll_mic();
  static uint32_t last_error_ms = 0;
  if (g_setup_error && millis() - last_error_ms > 2000) {  // keep saying why nothing works
    last_error_ms = millis();
    tkd_board_error(&g_board, "setup", g_setup_error);
  }
}
