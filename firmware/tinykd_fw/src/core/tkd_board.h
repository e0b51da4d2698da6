// The board's protocol logic, independent of Arduino and TFLM: hello line, upload frames with
// ACK/NAK, verify-mode clips, stream-mode sliding windows, result lines. The sketch (and the
// host's virtual board) supplies the callbacks: write bytes to the serial port, run the model.
//
// Two kinds of model (tkd_kind):
//   waveform: one `infer` callback on input_samples raw PCM samples (a window every hop_samples).
//   signal:   a `frontend` callback once per hop (W = frontend_window PCM samples -> B int8 features)
//             into a feature ring of F frames, and a `body` callback on the newest F frames, oldest
//             first, every `body_every` hops once F frames exist. Frame k of a stream or clip covers
//             samples [k*hop, k*hop + W). A verify clip (input_samples samples) resets the front end,
//             runs it over the clip's F frames in order, then runs the body once.
#ifndef TKD_BOARD_H
#define TKD_BOARD_H
#include <stddef.h>
#include <stdint.h>

#include "tkd_features.h"
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
// Signal kind. frontend: n (= W) int16 samples -> n_bins int8 features, and its time in µs.
typedef int (*tkd_frontend_fn)(void* ctx, const int16_t* pcm, uint32_t n, int8_t* features, uint32_t n_bins,
                               uint32_t* us);
// Restart the front end's state across frames (noise estimate, PCAN): what a fresh interpreter has.
typedef int (*tkd_frontend_reset_fn)(void* ctx);
// body: n_frames * n_bins int8 features, oldest frame first -> n_labels scores, and its time in µs.
typedef int (*tkd_body_fn)(void* ctx, const int8_t* features, uint32_t n_frames, uint32_t n_bins, float* scores,
                           uint32_t* us);
// Optional: a free-running count of executed instructions (the emulated board's virtual clock).
typedef uint64_t (*tkd_count_fn)(void* ctx);

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
  // ---- Additions. Every field above keeps its place (tinykd/device/native.py mirrors this struct);
  // zero/null in all of them gives the original waveform board. ----
  uint8_t kind;              // tkd_kind
  uint32_t frontend_window;  // signal: W, PCM samples per front-end run (window_buf needs W samples,
                             // the ring at least W + hop_samples)
  uint32_t feature_bins;     // signal: B, int8 features per frame
  uint32_t feature_frames;   // signal: F, frames the body takes; input_samples >= W + (F - 1) * hop
  uint32_t body_every;       // signal, stream mode: body every N hops once F frames exist (0 or 1: every hop)
  tkd_frontend_fn frontend;
  tkd_frontend_reset_fn frontend_reset;
  tkd_body_fn body;
  int8_t* feature_buf;       // signal: F * B bytes, the feature ring
  int8_t* body_buf;          // signal: F * B bytes, the frames in time order for the body
  tkd_count_fn count;        // optional: adds fe_ins= / inf_ins= (instructions) to result lines
  const char* hello_extra;   // optional: ",k=v" fields appended verbatim to the hello (printable, no '*')
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
  // additions
  tkd_features features;
  uint32_t fe_us_acc;     // front-end µs since the previous result (signal kind)
  uint64_t fe_ins_acc;    // front-end instructions since the previous result (with cfg.count)
  uint32_t fe_hops_acc;   // front-end runs since the previous result
  uint32_t fe_errors;     // front-end calls that failed
  uint32_t dropped_seen;  // stream.dropped when the features were last checked for a gap
  int uart_audio;         // AUDIO frames feed the stream: microphone audio is ignored until reset
  uint32_t arena_used, arena_frontend, arena_body;  // tkd_board_set_arena (0: unknown)
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
// The arena the interpreters really use (bytes; 0 = unknown), reported in the hello as arena_used=,
// arena_fe=, arena_body= (signal kind: front end alone, body alone, both sharing one arena).
void tkd_board_set_arena(tkd_board* b, uint32_t used, uint32_t frontend, uint32_t body);
// Largest AUDIO frame payload in samples (0 when stream mode is unavailable); also in the hello (audio=).
uint32_t tkd_board_audio_max(const tkd_board* b);

#ifdef __cplusplus
}
#endif
#endif
