// tinykd firmware: runs the emitted int8 model(s) with TensorFlow Lite Micro and speaks the tinykd
// serial protocol (docs/protocol.md). Two modes:
//   stream: microphone -> ring buffer -> sliding window -> one result line per inference
//           (or AUDIO frames from the host in place of the microphone)
//   verify: the host uploads int16 PCM clips; each is acknowledged, run, and answered
// Two model kinds (model_data.h says which): one waveform model on raw PCM, or a per-hop front end
// (TFLM Signal ops) feeding a feature ring and a classifier body.
// Everything protocol-related is in src/core/ (plain C++, unit-tested on the host) and the TFLM glue in
// src/tflm/ (shared with the emulated board and the host build); this file only wires them to Serial,
// the microphone and the arena. It is valid C++ (PlatformIO builds it as main.cpp).
//
// Libraries: ESP32 / ESP32-S3: arduino-esp32 core 3.x, its bundled "TFLite Micro" library.
//            Nano 33 BLE: Arduino Mbed OS Nano core + the Chirale_TensorFlowLite library (which has no
//            Signal ops: a signal-kind model needs a TFLM tree that has them).
#include <Arduino.h>

#if defined(ARDUINO_ARCH_MBED)
#include <Chirale_TensorFlowLite.h>  // puts TFLM's include paths in place on Mbed boards
#include <PDM.h>
#endif
#if defined(ESP32)
#include <ESP_I2S.h>
#include <esp_heap_caps.h>
#endif

#include "tensorflow/lite/micro/micro_interpreter.h"
#include "tensorflow/lite/micro/micro_mutable_op_resolver.h"

#include "model_data.h"
#include "model_ops.h"
#include "tinykd_config.h"
#include "tinykd_pins.h"
#ifdef PLATFORMIO
#include "core/tkd_board.h"
#include "tflm/tkd_app.h"
#else
#include "src/core/tkd_board.h"
#include "src/tflm/tkd_app.h"
#endif

// Where the tensor arena lives. STATIC: a static array (.bss; on the classic ESP32 statically allocated
// DRAM is capped near 160 KB). PSRAM: heap_caps_malloc(MALLOC_CAP_SPIRAM) at boot (ESP32 boards with
// PSRAM: large arenas, slower). INTERNAL: heap_caps_malloc of internal 8-bit RAM (the largest internal
// block, past the static cap). Set it with -DTINYKD_ARENA_PLACEMENT=... or in tinykd_config.h.
#define TINYKD_ARENA_STATIC 0
#define TINYKD_ARENA_PSRAM 1
#define TINYKD_ARENA_INTERNAL 2
#ifndef TINYKD_ARENA_PLACEMENT
#define TINYKD_ARENA_PLACEMENT TINYKD_ARENA_STATIC
#endif
#if TINYKD_ARENA_PLACEMENT != TINYKD_ARENA_STATIC && !defined(ESP32)
#error "TINYKD_ARENA_PLACEMENT PSRAM/INTERNAL is for ESP32 boards (heap_caps_malloc)"
#endif

// File-local state and helpers are `static` (not an anonymous namespace): the Arduino builder's
// generated prototypes do not handle namespaces.
#if TINYKD_ARENA_PLACEMENT == TINYKD_ARENA_STATIC
alignas(16) static uint8_t g_arena_static[TINYKD_ARENA_BYTES];
#endif
static tkd_app g_app;
static int16_t g_mic[256];

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
static uint32_t clock_us() { return micros(); }

static uint8_t* arena() {
#if TINYKD_ARENA_PLACEMENT == TINYKD_ARENA_STATIC
  return g_arena_static;
#elif TINYKD_ARENA_PLACEMENT == TINYKD_ARENA_PSRAM
  return static_cast<uint8_t*>(heap_caps_aligned_alloc(16, TINYKD_ARENA_BYTES, MALLOC_CAP_SPIRAM));
#else
  return static_cast<uint8_t*>(heap_caps_aligned_alloc(16, TINYKD_ARENA_BYTES, MALLOC_CAP_INTERNAL | MALLOC_CAP_8BIT));
#endif
}

static void setup_mic() {
#if defined(ESP32)
  g_i2s.setPins(TINYKD_I2S_SCK, TINYKD_I2S_WS, -1, TINYKD_I2S_SD);
  if (!g_i2s.begin(I2S_MODE_STD, TINYKD_SAMPLE_RATE, I2S_DATA_BIT_WIDTH_32BIT, I2S_SLOT_MODE_MONO, I2S_STD_SLOT_LEFT))
    tkd_board_error(&g_app.board, "mic", "I2S start failed: check tinykd_pins.h");
#elif defined(ARDUINO_ARCH_MBED)
  PDM.onReceive(on_pdm);
  if (!PDM.begin(1, TINYKD_SAMPLE_RATE)) tkd_board_error(&g_app.board, "mic", "PDM start failed");
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
  tkd_board_audio(&g_app.board, g_mic, got);
#elif defined(ARDUINO_ARCH_MBED)
  noInterrupts();
  int n = g_pdm_count;
  if (n) memcpy(g_mic, g_pdm_buf, n * 2);
  g_pdm_count = 0;
  interrupts();
  if (n) tkd_board_audio(&g_app.board, g_mic, n);
#endif
}

void setup() {
#if defined(ESP32)
  Serial.setRxBufferSize(4096);  // an upload arrives at ~92 KB/s at 921 600 baud
#endif
  Serial.begin(TINYKD_BAUD);
  tkd_app_begin(&g_app, arena(), TINYKD_ARENA_BYTES, serial_write, clock_us, nullptr, nullptr);
  setup_mic();
}

void loop() {
  uint8_t buf[256];
  int avail = Serial.available();
  if (avail > 0) {
    size_t n = Serial.readBytes(buf, avail < (int)sizeof(buf) ? avail : (int)sizeof(buf));
    tkd_board_rx(&g_app.board, buf, n, millis());
  } else {
    tkd_board_poll(&g_app.board, millis());
  }
  poll_mic();
  static uint32_t last_error_ms = 0;
  if (g_app.setup_error && millis() - last_error_ms > 2000) {  // keep saying why nothing works
    last_error_ms = millis();
    tkd_board_error(&g_app.board, "setup", g_app.setup_error);
  }
}
