// Build settings. `tinykd flash` writes its own copy of this file into the generated project;
// this one holds the defaults for building the sketch by hand.
#ifndef TINYKD_CONFIG_H
#define TINYKD_CONFIG_H

#define TINYKD_FW_VERSION "0.1.0"
#define TINYKD_BOARD_NAME "esp32"
#define TINYKD_BAUD 921600
#define TINYKD_DEFAULT_MODE TKD_MODE_STREAM  // or TKD_MODE_VERIFY
// Waveform models: stream-mode samples between inferences. A front end + body model streams at its own
// hop (TINYKD_FRONTEND_HOP_SAMPLES) and runs the body every TINYKD_BODY_EVERY_HOPS hops.
#define TINYKD_HOP_SAMPLES (TINYKD_INPUT_SAMPLES / 2)
#define TINYKD_BODY_EVERY_HOPS 1
// ESP32 boards with PSRAM: #define TINYKD_ARENA_PLACEMENT TINYKD_ARENA_PSRAM (see tinykd_fw.ino).

#endif
