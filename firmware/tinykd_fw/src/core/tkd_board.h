// The board's protocol logic, independent of Arduino and TFLM: hello line, upload frames with
// ACK/NAK, verify-mode clips, stream-mode sliding windows, result lines. The sketch (and the
// host's virtual board) supplies two callbacks: write bytes to the serial port, run the model.
#ifndef TKD_BOARD_H
#define TKD_BOARD_H
#include <stddef.h>
#include <stdint.h>

#include "tkd_frame.h"
#include "tkd_lines.h"
#include "tkd_stream.h"
#ifdef __cplusplus
extern "C" {
#endif

#define TKD_MAX_LABELS 64

typedef void (*tkd_write_fn)(void* ctx, const uint8_t* data, uint32_t n);
// Runs the model on n int16 samples; writes n_labels scores and the input-preparation and invoke
// times. Returns 0 on success, anything else is reported as an error line.
typedef int (*tkd_infer_fn)(void* ctx, const int16_t* pcm, uint32_t n, float* scores, uint32_t* fe_us,
                            uint32_t* inf_us);

typedef struct {
  const char* fw_version;
  const char* board_name;
  const char* model_hash;
  const char* const* labels;
  uint32_t n_labels;
  uint32_t sample_rate;
  uint32_t input_samples;  // samples per inference (model window)
  uint32_t arena_bytes;
  uint32_t hop_samples;    // stream mode: samples between windows
  uint8_t default_mode;    // tkd_mode after boot and reset
  tkd_write_fn write;
  tkd_infer_fn infer;
  void* ctx;
  // Buffers owned by the caller: an upload buffer of input_samples * 2 bytes (2-byte aligned)
  // and a stream ring of at least input_samples samples (may be null when stream mode is unused).
  // window_buf may be the upload buffer itself (saves 2 * input_samples bytes): clips are only
  // accepted in verify mode and no window runs while an upload is being received.
  uint8_t* upload_buf;
  int16_t* ring_buf;
  uint32_t ring_samples;
  int16_t* window_buf;  // input_samples samples, stream mode scratch (may be null with ring_buf)
} tkd_board_config;

typedef struct {
  tkd_board_config cfg;
  tkd_frame_parser parser;
  tkd_stream stream;
  int stream_ok;
  uint8_t mode;
  uint32_t seq;
  uint32_t results;
  uint32_t frames_ok;
  uint32_t frames_bad;
  tkd_line line;
  float scores[TKD_MAX_LABELS];
} tkd_board;

// Returns 0 when the configuration cannot work (too many labels, missing buffers or callbacks).
int tkd_board_init(tkd_board* b, const tkd_board_config* cfg);
// Start-up and reset: sequence numbers restart at 0, the mode returns to the default, hello is sent.
void tkd_board_reset(tkd_board* b);
void tkd_board_send_hello(tkd_board* b);
// Bytes from the serial port; now_ms is a free-running millisecond clock (wraps are fine).
void tkd_board_rx(tkd_board* b, const uint8_t* data, uint32_t n, uint32_t now_ms);
// Call when idle: expires stalled partial frames.
void tkd_board_poll(tkd_board* b, uint32_t now_ms);
// Microphone samples (stream mode); runs every window that is due. Ignored in verify mode.
void tkd_board_audio(tkd_board* b, const int16_t* pcm, uint32_t n);
// Writes an error line "E,<seq>,<code>,<detail>" (e.g. a failed set-up the host should see).
void tkd_board_error(tkd_board* b, const char* code, const char* detail);

#ifdef __cplusplus
}
#endif
#endif
