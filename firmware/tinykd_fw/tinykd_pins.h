// Microphone wiring, the one place to change it. Override any value with a -D build flag or by
// editing here. Stream mode reads 16-bit samples at TINYKD_SAMPLE_RATE from:
//   ESP32 / ESP32-S3: an I2S MEMS microphone such as the INMP441 (L/R pin to GND = left slot)
//   Nano 33 BLE Sense: the on-board PDM microphone (no wiring)
#ifndef TINYKD_PINS_H
#define TINYKD_PINS_H

#if defined(ESP32)
#ifndef TINYKD_I2S_SCK
#define TINYKD_I2S_SCK 26  // INMP441 SCK (bit clock)
#endif
#ifndef TINYKD_I2S_WS
#define TINYKD_I2S_WS 25  // INMP441 WS (word select / LRCLK)
#endif
#ifndef TINYKD_I2S_SD
#define TINYKD_I2S_SD 33  // INMP441 SD (data out of the mic)
#endif
// The INMP441 sends 24-bit samples left-justified in 32-bit slots: >> 16 keeps full scale,
// a smaller shift adds gain (each step 6 dB) and saturates loud input.
#ifndef TINYKD_MIC_SHIFT
#define TINYKD_MIC_SHIFT 16
#endif
#endif

#endif
