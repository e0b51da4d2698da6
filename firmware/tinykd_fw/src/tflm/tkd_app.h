// The firmware's application: the board core wired to the TFLM glue with the emitted model, its
// buffers sized from the emitted macros. One definition for the sketch, the emulated board and the host
// build; each supplies only its serial write, its clock and the arena.
//
// Include after model_data.h, model_ops.h and tinykd_config.h (their folder differs per build layout).
#ifndef TKD_APP_H
#define TKD_APP_H
#include "tkd_model_desc.h"
#include "tkd_tflm.h"

#ifndef TINYKD_BODY_EVERY_HOPS
#define TINYKD_BODY_EVERY_HOPS 1  // signal kind, stream mode: body every N front-end hops
#endif

#if defined(TINYKD_MODEL_KIND_SIGNAL)
// The stream's hop is the model's. The ring holds one front-end window plus the largest AUDIO frame.
#ifndef TINYKD_AUDIO_CHUNK_SAMPLES
#define TINYKD_AUDIO_CHUNK_SAMPLES (4 * TINYKD_FRONTEND_HOP_SAMPLES)
#endif
#define TKD_APP_HOP_SAMPLES TINYKD_FRONTEND_HOP_SAMPLES
#define TKD_APP_RING_SAMPLES (TINYKD_FRONTEND_WINDOW_SAMPLES + TINYKD_AUDIO_CHUNK_SAMPLES - 1)
#define TKD_APP_FEATURE_BYTES (TINYKD_FEATURE_FRAMES * TINYKD_FEATURE_BINS)
#else
#define TKD_APP_HOP_SAMPLES TINYKD_HOP_SAMPLES
#define TKD_APP_RING_SAMPLES (TINYKD_INPUT_SAMPLES + TINYKD_HOP_SAMPLES)
#define TKD_APP_FEATURE_BYTES 1
#endif

struct tkd_app {
  tkd_board board;
  tkd::Runner runner;
  tflite::MicroMutableOpResolver<kTinykdNumOps> resolver;
  const char* setup_error;
  // The upload buffer doubles as the stream window buffer (tkd_board.h explains why that is safe).
  alignas(4) uint8_t upload[TINYKD_INPUT_SAMPLES * 2];
  int16_t ring[TKD_APP_RING_SAMPLES];
  int8_t features[TKD_APP_FEATURE_BYTES];  // signal: the feature ring
  int8_t body_in[TKD_APP_FEATURE_BYTES];   // signal: the frames in time order for the body
};

// Sets up the model(s) in `arena` and the board core, then sends the hello (and an error line when the
// set-up failed: app->setup_error says why; the board still answers HELLO frames). `count` (may be
// null) is an instruction counter; `hello_extra` (may be null) is appended to the hello verbatim.
static inline void tkd_app_begin(tkd_app* app, uint8_t* arena, size_t arena_bytes, tkd_write_fn write,
                                 tkd::MicrosFn micros, tkd_count_fn count, const char* hello_extra) {
  tkd_board_config cfg = {};
  cfg.fw_version = TINYKD_FW_VERSION;
  cfg.board_name = TINYKD_BOARD_NAME;
  cfg.model_hash = tinykd_model_hash;
  cfg.labels = tinykd_labels;
  cfg.n_labels = TINYKD_NUM_LABELS;
  cfg.sample_rate = TINYKD_SAMPLE_RATE;
  cfg.input_samples = TINYKD_INPUT_SAMPLES;
  cfg.arena_bytes = static_cast<uint32_t>(arena_bytes);
  cfg.hop_samples = TKD_APP_HOP_SAMPLES;
  cfg.default_mode = TINYKD_DEFAULT_MODE;
  cfg.write = write;
  cfg.upload_buf = app->upload;
  cfg.ring_buf = app->ring;
  cfg.ring_samples = TKD_APP_RING_SAMPLES;
  cfg.window_buf = reinterpret_cast<int16_t*>(app->upload);
  cfg.feature_buf = app->features;
  cfg.body_buf = app->body_in;
  cfg.body_every = TINYKD_BODY_EVERY_HOPS;
  cfg.count = count;
  cfg.hello_extra = hello_extra;
  if (tinykd_register_ops(app->resolver) != kTfLiteOk) {
    app->runner.Describe(tkd_emitted_model());
    app->setup_error = "op registration failed";
  } else {
    app->setup_error = app->runner.Setup(tkd_emitted_model(), app->resolver, arena, arena_bytes, micros);
  }
  app->runner.FillConfig(&cfg);  // callbacks fail cleanly (error lines) when the set-up did not work
  tkd_board_init(&app->board, &cfg);
  tkd_board_set_arena(&app->board, app->runner.arena_used(), app->runner.arena_frontend_alone(),
                      app->runner.arena_body_alone());
  tkd_board_reset(&app->board);  // hello line
  if (app->setup_error) tkd_board_error(&app->board, "setup", app->setup_error);
}

#endif
