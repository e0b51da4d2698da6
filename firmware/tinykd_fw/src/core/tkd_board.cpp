#include "tkd_board.h"

#include <string.h>

#include "tkd_pcm.h"

static void emit(tkd_board* b) {
  size_t n = tkd_line_finish(&b->line);
  b->cfg.write(b->cfg.ctx, reinterpret_cast<const uint8_t*>(b->line.buf), static_cast<uint32_t>(n));
}

int tkd_board_init(tkd_board* b, const tkd_board_config* cfg) {
  memset(b, 0, sizeof(*b));
  if (cfg->n_labels == 0 || cfg->n_labels > TKD_MAX_LABELS || !cfg->write || !cfg->infer || !cfg->upload_buf ||
      cfg->input_samples == 0)
    return 0;
  b->cfg = *cfg;
  tkd_frame_parser_init(&b->parser, cfg->upload_buf, cfg->input_samples * 2u);
  b->stream_ok = cfg->ring_buf && cfg->window_buf &&
                 tkd_stream_init(&b->stream, cfg->ring_buf, cfg->ring_samples, cfg->input_samples,
                                 cfg->hop_samples ? cfg->hop_samples : cfg->input_samples);
  b->mode = cfg->default_mode;
  return 1;
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
  tkd_line_raw(l, ",labels=");
  for (uint32_t i = 0; i < b->cfg.n_labels; ++i) {
    if (i) tkd_line_raw(l, "|");
    tkd_line_escaped(l, b->cfg.labels[i]);
  }
  // A hello cut short would list the wrong labels; say so explicitly.
  if (l->overflow) tkd_line_raw(l, ",truncated=1");
  emit(b);
}

void tkd_board_reset(tkd_board* b) {
  b->mode = b->cfg.default_mode;
  tkd_frame_parser_init(&b->parser, b->cfg.upload_buf, b->cfg.input_samples * 2u);
  if (b->stream_ok) tkd_stream_init(&b->stream, b->cfg.ring_buf, b->cfg.ring_samples, b->stream.window, b->stream.hop);
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

// Runs the model and writes "R,<seq>,<src>,<label>,<score>...,fe_us=..,inf_us=..".
static void run_and_report(tkd_board* b, const int16_t* pcm, int is_clip, uint32_t id) {
  uint32_t fe_us = 0, inf_us = 0;
  if (b->cfg.infer(b->cfg.ctx, pcm, b->cfg.input_samples, b->scores, &fe_us, &inf_us) != 0) {
    tkd_board_error(b, "infer", is_clip ? "invoke failed on clip" : "invoke failed on mic window");
    return;
  }
  uint32_t best = tkd_argmax(b->scores, b->cfg.n_labels);
  tkd_line* l = &b->line;
  tkd_line_begin(l, 'R', b->seq++);
  tkd_line_raw(l, is_clip ? ",clip" : ",mic");
  tkd_line_u32(l, id);
  tkd_line_sep(l);
  tkd_line_escaped(l, b->cfg.labels[best]);
  for (uint32_t i = 0; i < b->cfg.n_labels; ++i) {
    tkd_line_sep(l);
    tkd_line_fixed6(l, b->scores[i]);
  }
  tkd_line_kv_u32(l, "fe_us", fe_us);
  tkd_line_kv_u32(l, "inf_us", inf_us);
  emit(b);
  b->results++;
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
      b->mode = b->parser.payload[0];
      ack(b, h->frame_id);
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
      run_and_report(b, pcm, 1, h->clip_id);
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
  if (!b->stream_ok || b->mode != TKD_MODE_STREAM) return;
  tkd_stream_push(&b->stream, pcm, n);
  // While an upload is arriving, the upload buffer may double as the window buffer: run windows later
  // (the ring keeps the audio; windows that fall out of it are counted as dropped).
  if (tkd_frame_busy(&b->parser)) return;
  uint64_t start = 0;
  while (tkd_stream_next(&b->stream, b->cfg.window_buf, &start)) {
    // Result lines carry the window's end time in ms since start-up as the id for stream mode.
    uint64_t end_ms = (start + b->stream.window) * 1000u / (b->cfg.sample_rate ? b->cfg.sample_rate : 1u);
    run_and_report(b, b->cfg.window_buf, 0, static_cast<uint32_t>(end_ms));
  }
}
