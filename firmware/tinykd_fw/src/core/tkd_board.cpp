#include "tkd_board.h"

#include <string.h>

#include "tkd_pcm.h"

static void emit(tkd_board* b) {
  size_t n = tkd_line_finish(&b->line);
  b->cfg.write(b->cfg.ctx, reinterpret_cast<const uint8_t*>(b->line.buf), static_cast<uint32_t>(n));
}

static int is_signal(const tkd_board* b) { return b->cfg.kind == TKD_KIND_SIGNAL; }

// The stream's window: the model's input (waveform) or one front-end frame (signal).
static uint32_t stream_window(const tkd_board_config* cfg) {
  return cfg->kind == TKD_KIND_SIGNAL ? cfg->frontend_window : cfg->input_samples;
}

static int signal_config_ok(const tkd_board_config* cfg) {
  if (!cfg->frontend || !cfg->frontend_reset || !cfg->body || !cfg->feature_buf || !cfg->body_buf) return 0;
  if (cfg->frontend_window == 0 || cfg->feature_bins == 0 || cfg->feature_frames == 0 || cfg->hop_samples == 0)
    return 0;
  // A verify clip must hold the F frames the body takes.
  uint64_t need = cfg->frontend_window + static_cast<uint64_t>(cfg->feature_frames - 1) * cfg->hop_samples;
  return need <= cfg->input_samples;
}

int tkd_board_init(tkd_board* b, const tkd_board_config* cfg) {
  memset(b, 0, sizeof(*b));
  if (cfg->n_labels == 0 || cfg->n_labels > TKD_MAX_LABELS || !cfg->write || !cfg->upload_buf ||
      cfg->input_samples == 0)
    return 0;
  if (cfg->kind == TKD_KIND_SIGNAL) {
    if (!signal_config_ok(cfg)) return 0;
  } else if (cfg->kind != TKD_KIND_WAVEFORM || !cfg->infer) {
    return 0;
  }
  b->cfg = *cfg;
  tkd_frame_parser_init(&b->parser, cfg->upload_buf, cfg->input_samples * 2u);
  uint32_t window = stream_window(cfg);
  b->stream_ok = cfg->ring_buf && cfg->window_buf &&
                 tkd_stream_init(&b->stream, cfg->ring_buf, cfg->ring_samples, window,
                                 cfg->hop_samples ? cfg->hop_samples : window);
  if (is_signal(b)) tkd_features_init(&b->features, cfg->feature_buf, cfg->feature_frames, cfg->feature_bins,
                                      cfg->body_every);
  b->mode = cfg->default_mode;
  return 1;
}

uint32_t tkd_board_audio_max(const tkd_board* b) {
  if (!b->stream_ok) return 0;
  // Pushed whole before any window runs (the window buffer may be the upload buffer holding the
  // payload), so the ring must keep the pending part of a window plus the whole payload.
  uint32_t room = b->stream.ring.capacity - b->stream.window + 1;
  uint32_t upload = b->cfg.input_samples;
  return room < upload ? room : upload;
}

void tkd_board_set_arena(tkd_board* b, uint32_t used, uint32_t frontend, uint32_t body) {
  b->arena_used = used;
  b->arena_frontend = frontend;
  b->arena_body = body;
}

void tkd_board_send_hello(tkd_board* b) {
  tkd_line* l = &b->line;
  b->seq = 0;
  tkd_line_begin(l, 'H', b->seq++);
  tkd_line_kv_u32(l, "tinykd", TKD_PROTOCOL_VERSION);
  tkd_line_raw(l, ",fw=");
  tkd_line_escaped(l, b->cfg.fw_version);
  tkd_line_raw(l, ",board=");
  tkd_line_escaped(l, b->cfg.board_name);
  tkd_line_raw(l, ",model=");
  tkd_line_escaped(l, b->cfg.model_hash);
  tkd_line_kv_u32(l, "sr", b->cfg.sample_rate);
  tkd_line_kv_u32(l, "n", b->cfg.input_samples);
  tkd_line_kv_u32(l, "hop", b->stream_ok ? b->stream.hop : 0);
  tkd_line_kv_u32(l, "arena", b->cfg.arena_bytes);
  tkd_line_raw(l, b->mode == TKD_MODE_VERIFY ? ",mode=verify" : ",mode=stream");
  // Additions (key=value, so hosts that do not know them skip them). Before the labels: a long
  // label table may be cut, these must not be.
  if (is_signal(b)) {
    tkd_line_raw(l, ",kind=signal");
    tkd_line_kv_u32(l, "win", b->cfg.frontend_window);
    tkd_line_kv_u32(l, "frames", b->cfg.feature_frames);
    tkd_line_kv_u32(l, "bins", b->cfg.feature_bins);
    tkd_line_kv_u32(l, "every", b->features.every);
  }
  if (b->stream_ok) tkd_line_kv_u32(l, "audio", tkd_board_audio_max(b));
  if (b->arena_used) tkd_line_kv_u32(l, "arena_used", b->arena_used);
  if (b->arena_frontend) tkd_line_kv_u32(l, "arena_fe", b->arena_frontend);
  if (b->arena_body) tkd_line_kv_u32(l, "arena_body", b->arena_body);
  if (b->cfg.hello_extra) tkd_line_raw(l, b->cfg.hello_extra);
  tkd_line_raw(l, ",labels=");
  for (uint32_t i = 0; i < b->cfg.n_labels; ++i) {
    if (i) tkd_line_raw(l, "|");
    tkd_line_escaped(l, b->cfg.labels[i]);
  }
  // A hello cut short would list the wrong labels; say so explicitly.
  if (l->overflow) tkd_line_raw(l, ",truncated=1");
  emit(b);
}

// Feature ring and the per-result accumulators emptied (the front end's state is kept).
static void forget_features(tkd_board* b) {
  tkd_features_reset(&b->features);
  b->fe_us_acc = 0;
  b->fe_ins_acc = 0;
  b->fe_hops_acc = 0;
}

// Front-end state, feature ring and the per-result accumulators back to a fresh start.
static void restart_features(tkd_board* b) {
  if (!is_signal(b)) return;
  forget_features(b);
  b->cfg.frontend_reset(b->cfg.ctx);
}

static void restart_stream(tkd_board* b) {
  if (b->stream_ok) tkd_stream_init(&b->stream, b->cfg.ring_buf, b->cfg.ring_samples, b->stream.window, b->stream.hop);
  b->dropped_seen = 0;
  restart_features(b);
}

void tkd_board_reset(tkd_board* b) {
  b->mode = b->cfg.default_mode;
  tkd_frame_parser_init(&b->parser, b->cfg.upload_buf, b->cfg.input_samples * 2u);
  restart_stream(b);
  b->uart_audio = 0;
  b->results = 0;
  tkd_board_send_hello(b);
}

void tkd_board_error(tkd_board* b, const char* code, const char* detail) {
  tkd_line_begin(&b->line, 'E', b->seq++);
  tkd_line_sep(&b->line);
  tkd_line_escaped(&b->line, code);
  tkd_line_sep(&b->line);
  tkd_line_escaped(&b->line, detail);
  emit(b);
}

static void ack(tkd_board* b, uint16_t frame_id) {
  tkd_line_begin(&b->line, 'A', b->seq++);
  tkd_line_sep(&b->line);
  tkd_line_u32(&b->line, frame_id);
  emit(b);
}

static void nak(tkd_board* b, uint16_t frame_id, const char* reason) {
  tkd_line_begin(&b->line, 'N', b->seq++);
  tkd_line_sep(&b->line);
  tkd_line_u32(&b->line, frame_id);
  tkd_line_sep(&b->line);
  tkd_line_raw(&b->line, reason);
  emit(b);
}

static uint64_t count_now(tkd_board* b) { return b->cfg.count ? b->cfg.count(b->cfg.ctx) : 0; }

// Where a result came from: a verify clip (its id) or a stream window (its end, in samples).
typedef struct {
  int is_clip;
  uint32_t id;
  uint64_t end;
} result_src;

// "R,<seq>,<src>,<label>,<score>...,fe_us=..,inf_us=..[,hops=..][,fe_ins=..,inf_ins=..][,end=..]".
static void report_result(tkd_board* b, const result_src* src, uint32_t fe_us, uint32_t inf_us, uint32_t hops,
                          uint64_t fe_ins, uint64_t inf_ins) {
  uint32_t best = tkd_argmax(b->scores, b->cfg.n_labels);
  tkd_line* l = &b->line;
  tkd_line_begin(l, 'R', b->seq++);
  tkd_line_raw(l, src->is_clip ? ",clip" : ",mic");
  tkd_line_u32(l, src->id);
  tkd_line_sep(l);
  tkd_line_escaped(l, b->cfg.labels[best]);
  for (uint32_t i = 0; i < b->cfg.n_labels; ++i) {
    tkd_line_sep(l);
    tkd_line_fixed6(l, b->scores[i]);
  }
  tkd_line_kv_u32(l, "fe_us", fe_us);
  tkd_line_kv_u32(l, "inf_us", inf_us);
  if (is_signal(b)) tkd_line_kv_u32(l, "hops", hops);
  if (b->cfg.count) {
    if (is_signal(b)) {  // waveform: the model's own front end is inside inf_ins
      tkd_line_raw(l, ",fe_ins=");
      tkd_line_i64(l, static_cast<int64_t>(fe_ins));
    }
    tkd_line_raw(l, ",inf_ins=");
    tkd_line_i64(l, static_cast<int64_t>(inf_ins));
  }
  if (!src->is_clip) {
    tkd_line_raw(l, ",end=");
    tkd_line_i64(l, static_cast<int64_t>(src->end));
  }
  emit(b);
  b->results++;
}

static result_src stream_src(const tkd_board* b, uint64_t end) {
  // Stream results carry the window's end time in ms since the stream started as the id.
  uint64_t end_ms = end * 1000u / (b->cfg.sample_rate ? b->cfg.sample_rate : 1u);
  result_src s = {0, static_cast<uint32_t>(end_ms), end};
  return s;
}

// Waveform kind: one infer call on a whole window.
static void run_waveform(tkd_board* b, const int16_t* pcm, const result_src* src) {
  uint32_t fe_us = 0, inf_us = 0;
  uint64_t t0 = count_now(b);
  int rc = b->cfg.infer(b->cfg.ctx, pcm, b->cfg.input_samples, b->scores, &fe_us, &inf_us);
  uint64_t t1 = count_now(b);
  if (rc != 0) {
    tkd_board_error(b, "infer", src->is_clip ? "invoke failed on clip" : "invoke failed on mic window");
    return;
  }
  // With a counter, inf_ins covers the whole callback (input scaling, Invoke, output scaling).
  report_result(b, src, fe_us, inf_us, 0, 0, t1 - t0);
}

// Signal kind: one front-end run into the feature ring. Returns 0 on failure (error line written).
static int run_frontend(tkd_board* b, const int16_t* pcm, int is_clip) {
  uint32_t us = 0;
  uint64_t t0 = count_now(b);
  int rc = b->cfg.frontend(b->cfg.ctx, pcm, b->cfg.frontend_window, tkd_features_slot(&b->features),
                           b->cfg.feature_bins, &us);
  uint64_t t1 = count_now(b);
  if (rc != 0) {
    b->fe_errors++;
    // A frame the front end could not compute leaves a hole: start the window over.
    forget_features(b);
    tkd_board_error(b, "frontend", is_clip ? "invoke failed on clip" : "invoke failed on mic hop");
    return 0;
  }
  tkd_features_commit(&b->features);
  b->fe_us_acc += us;
  b->fe_ins_acc += t1 - t0;
  b->fe_hops_acc++;
  return 1;
}

// Signal kind: the body on the newest F frames, then a result line. The front-end figures in the line
// are the runs since the previous result.
static void run_body(tkd_board* b, const result_src* src) {
  tkd_features_copy(&b->features, b->cfg.body_buf);
  uint32_t us = 0;
  uint64_t t0 = count_now(b);
  int rc = b->cfg.body(b->cfg.ctx, b->cfg.body_buf, b->cfg.feature_frames, b->cfg.feature_bins, b->scores, &us);
  uint64_t t1 = count_now(b);
  if (rc != 0) {
    tkd_board_error(b, "infer", src->is_clip ? "invoke failed on clip" : "invoke failed on mic window");
  } else {
    report_result(b, src, b->fe_us_acc, us, b->fe_hops_acc, b->fe_ins_acc, t1 - t0);
  }
  b->fe_us_acc = 0;
  b->fe_ins_acc = 0;
  b->fe_hops_acc = 0;
}

static void run_clip(tkd_board* b, const int16_t* pcm, uint32_t clip_id) {
  result_src src = {1, clip_id, 0};
  if (!is_signal(b)) {
    run_waveform(b, pcm, &src);
    return;
  }
  // The front end's state restarts at the clip start, as the host's reference does.
  restart_features(b);
  for (uint32_t k = 0; k < b->cfg.feature_frames; ++k)
    if (!run_frontend(b, pcm + static_cast<size_t>(k) * b->cfg.hop_samples, 1)) return;
  run_body(b, &src);
}

// Runs every stream window that is due.
static void run_stream(tkd_board* b) {
  uint64_t start = 0;
  while (tkd_stream_next(&b->stream, b->cfg.window_buf, &start)) {
    uint64_t end = start + b->stream.window;
    if (!is_signal(b)) {
      result_src src = stream_src(b, end);
      run_waveform(b, b->cfg.window_buf, &src);
      continue;
    }
    if (b->stream.dropped != b->dropped_seen) {  // hops were lost to an overrun: no window across the gap
      b->dropped_seen = b->stream.dropped;
      forget_features(b);
    }
    if (!run_frontend(b, b->cfg.window_buf, 0)) continue;
    if (tkd_features_body_due(&b->features)) {
      result_src src = stream_src(b, end);
      run_body(b, &src);
    }
  }
}

// AUDIO frame payload (already decoded to samples in the upload buffer): push what is new, run windows.
static void handle_audio(tkd_board* b, const tkd_frame_header* h) {
  uint32_t n = h->payload_len / 2u;
  if (!b->stream_ok || b->mode != TKD_MODE_STREAM) {
    nak(b, h->frame_id, "mode");
    return;
  }
  if (n == 0 || (h->payload_len & 1u) || n > tkd_board_audio_max(b)) {
    nak(b, h->frame_id, "len");
    return;
  }
  if (h->flags & TKD_AUDIO_FLAG_START) {
    if (h->clip_id != 0) {
      nak(b, h->frame_id, "offset");
      return;
    }
    restart_stream(b);
  }
  // clip_id numbers the first sample; compare modulo 2^32 with what the ring has had.
  uint32_t have = static_cast<uint32_t>(b->stream.ring.total);
  uint32_t behind = have - h->clip_id;  // samples of this frame the board already has
  if (behind > n) {                     // a gap (or a frame from far back): the host must resend
    nak(b, h->frame_id, "offset");
    return;
  }
  ack(b, h->frame_id);
  b->uart_audio = 1;  // the host feeds the stream now: microphone audio would interleave with it
  int16_t* pcm = reinterpret_cast<int16_t*>(b->cfg.upload_buf);
  tkd_pcm_from_le_bytes(b->cfg.upload_buf, n, pcm);
  if (behind < n) tkd_stream_push(&b->stream, pcm + behind, n - behind);
  run_stream(b);
}

static void handle_frame(tkd_board* b) {
  const tkd_frame_header* h = &b->parser.hdr;
  switch (h->type) {
    case TKD_FRAME_HELLO:
      tkd_board_send_hello(b);
      return;
    case TKD_FRAME_MODE:
      if (h->payload_len != 1 || b->parser.payload[0] > TKD_MODE_VERIFY) {
        nak(b, h->frame_id, "mode");
        return;
      }
      // Back to stream mode after clips: the clips reset the front end and filled the feature ring,
      // so the stream's features start over (audio keeps its sample numbering).
      if (b->mode == TKD_MODE_VERIFY && b->parser.payload[0] == TKD_MODE_STREAM) restart_features(b);
      b->mode = b->parser.payload[0];
      ack(b, h->frame_id);
      return;
    case TKD_FRAME_AUDIO:
      handle_audio(b, h);
      return;
    case TKD_FRAME_CLIP:
    default:
      if (b->mode != TKD_MODE_VERIFY) {  // clips are for verify mode; the mic owns stream mode
        nak(b, h->frame_id, "mode");
        return;
      }
      if (h->payload_len != b->cfg.input_samples * 2u) {
        nak(b, h->frame_id, "len");
        return;
      }
      ack(b, h->frame_id);
      // The upload buffer is 2-byte aligned (caller's contract), so decoding in place is safe.
      int16_t* pcm = reinterpret_cast<int16_t*>(b->cfg.upload_buf);
      tkd_pcm_from_le_bytes(b->cfg.upload_buf, b->cfg.input_samples, pcm);
      run_clip(b, pcm, h->clip_id);
      return;
  }
}

static const char* nak_reason(tkd_frame_status st) {
  switch (st) {
    case TKD_FRAME_ERR_CRC:
      return "crc";
    case TKD_FRAME_ERR_LEN:
      return "len";
    case TKD_FRAME_ERR_TYPE:
      return "type";
    default:
      return "timeout";
  }
}

static void report(tkd_board* b, tkd_frame_status st) {
  if (st == TKD_FRAME_NONE) return;
  if (st == TKD_FRAME_OK) {
    b->frames_ok++;
    handle_frame(b);
    return;
  }
  b->frames_bad++;
  nak(b, b->parser.hdr.frame_id, nak_reason(st));
}

void tkd_board_rx(tkd_board* b, const uint8_t* data, uint32_t n, uint32_t now_ms) {
  for (uint32_t i = 0; i < n; ++i) report(b, tkd_frame_feed(&b->parser, data[i], now_ms));
}

void tkd_board_poll(tkd_board* b, uint32_t now_ms) { report(b, tkd_frame_poll(&b->parser, now_ms)); }

void tkd_board_audio(tkd_board* b, const int16_t* pcm, uint32_t n) {
  if (!b->stream_ok || b->mode != TKD_MODE_STREAM || b->uart_audio) return;
  tkd_stream_push(&b->stream, pcm, n);
  // While an upload is arriving, the upload buffer may double as the window buffer: run windows later
  // (the ring keeps the audio; windows that fall out of it are counted as dropped).
  if (tkd_frame_busy(&b->parser)) return;
  run_stream(b);
}
