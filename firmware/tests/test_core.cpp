// Host unit tests for the board-independent firmware core (firmware/tinykd_fw/src/core).
// Built and run by tests/test_firmware_core.py with -Wall -Wextra -Werror and ASan/UBSan.
// `test_core golden FILE` also writes golden vectors (lines and frames made by the C code) that the
// Python codec must decode (tests/test_firmware_golden.py).
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tkd_board.h"
#include "tkd_crc32.h"
#include "tkd_features.h"
#include "tkd_frame.h"
#include "tkd_lines.h"
#include "tkd_pcm.h"
#include "tkd_stream.h"

static int g_failed = 0;
static int g_checks = 0;
#define CHECK(cond)                                                       \
  do {                                                                    \
    ++g_checks;                                                           \
    if (!(cond)) {                                                        \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++g_failed;                                                         \
    }                                                                     \
  } while (0)

static std::string line_str(tkd_line* l) {
  size_t n = tkd_line_finish(l);
  return std::string(l->buf, n);
}

static void test_crc32() {
  const char* s = "123456789";
  CHECK(tkd_crc32(s, 9) == 0xCBF43926u);  // the standard check value
  CHECK(tkd_crc32("", 0) == 0u);
  uint32_t part = tkd_crc32_update(0, s, 4);
  CHECK(tkd_crc32_update(part, s + 4, 5) == 0xCBF43926u);
}

static void test_lines() {
  tkd_line l;
  tkd_line_begin(&l, 'A', 7);
  tkd_line_sep(&l);
  tkd_line_u32(&l, 42);
  std::string s = line_str(&l);
  CHECK(s.substr(0, 7) == "A,7,42*");
  CHECK(s.size() == 7 + 8 + 2);
  CHECK(s.substr(s.size() - 2) == "\r\n");
  char hex[9];
  snprintf(hex, sizeof hex, "%08X", tkd_crc32("A,7,42", 6));
  CHECK(s.substr(7, 8) == hex);

  struct {
    float v;
    const char* want;
  } cases[] = {{0.0f, "0.000000"},      {1.5f, "1.500000"},      {-1.5f, "-1.500000"}, {0.1234565f, "0.123457"},
               {-0.0000004f, "0.000000"}, {-0.0000006f, "-0.000001"}, {12345.5f, "12345.500000"}};
  for (auto& c : cases) {
    tkd_line_begin(&l, 'X', 0);
    tkd_line_sep(&l);
    tkd_line_fixed6(&l, c.v);
    std::string got(l.buf + 4, l.len - 4);  // after "X,0,"
    if (got != c.want) fprintf(stderr, "fixed6(%g) = %s, want %s\n", (double)c.v, got.c_str(), c.want);
    CHECK(got == c.want);
  }
  tkd_line_begin(&l, 'X', 0);
  tkd_line_sep(&l);
  tkd_line_fixed6(&l, 1e30f);
  CHECK(std::string(l.buf + 4, l.len - 4) == "inf");

  tkd_line_begin(&l, 'X', 0);
  tkd_line_sep(&l);
  tkd_line_escaped(&l, "a,b|c*d%e=f g\n");
  CHECK(std::string(l.buf + 4, l.len - 4) == "a%2Cb%7Cc%2Ad%25e%3Df%20g%0A");

  tkd_line_i64(&l, -9223372036854775807LL - 1);  // no overflow on the most negative value
  CHECK(std::string(l.buf + l.len - 20, 20) == "-9223372036854775808");

  // Overflow: the line is cut, flagged, and still ends with a valid trailer.
  tkd_line_begin(&l, 'X', 0);
  for (int i = 0; i < 2 * TKD_LINE_MAX; ++i) tkd_line_raw(&l, "z");
  CHECK(l.overflow);
  size_t n = tkd_line_finish(&l);
  CHECK(n == TKD_LINE_MAX);  // filled exactly, trailer included
  CHECK(l.buf[n - 11] == '*');
}

static std::vector<uint8_t> frame(uint8_t type, uint16_t fid, uint32_t cid, const std::vector<uint8_t>& payload) {
  std::vector<uint8_t> out(TKD_FRAME_HEADER_BYTES + payload.size() + 4);
  size_t n = tkd_frame_encode(type, fid, cid, payload.data(), (uint32_t)payload.size(), out.data(), out.size());
  CHECK(n == out.size());
  return out;
}

static tkd_frame_status feed_all(tkd_frame_parser* p, const std::vector<uint8_t>& bytes, uint32_t t = 0) {
  tkd_frame_status last = TKD_FRAME_NONE;
  for (uint8_t b : bytes) {
    tkd_frame_status st = tkd_frame_feed(p, b, t);
    if (st != TKD_FRAME_NONE) last = st;
  }
  return last;
}

static void test_frames() {
  uint8_t buf[64];
  tkd_frame_parser p;
  tkd_frame_parser_init(&p, buf, sizeof buf);
  std::vector<uint8_t> payload = {1, 2, 3, 4, 5, 6};
  auto f = frame(TKD_FRAME_CLIP, 0x1234, 0xDEADBEEF, payload);
  CHECK(f[0] == 0xA5 && f[1] == 0x5A && f[2] == 1 && f[4] == 0x34 && f[5] == 0x12);

  // Garbage (including a lone magic byte) before the frame is skipped.
  std::vector<uint8_t> noisy = {0x00, 0xA5, 0x13, 0xFF, 0xA5};
  noisy.insert(noisy.end(), f.begin(), f.end());
  CHECK(feed_all(&p, noisy) == TKD_FRAME_OK);
  CHECK(p.hdr.frame_id == 0x1234 && p.hdr.clip_id == 0xDEADBEEFu && p.hdr.payload_len == 6);
  CHECK(memcmp(buf, payload.data(), 6) == 0);
  CHECK(p.skipped == 5);

  // Every single-bit flip in the CRC-covered part is caught (or rejected by a header check).
  for (size_t i = 2; i < f.size(); ++i) {
    for (int bit = 0; bit < 8; ++bit) {
      auto g = f;
      g[i] ^= (uint8_t)(1u << bit);
      tkd_frame_parser_init(&p, buf, sizeof buf);
      tkd_frame_status st = TKD_FRAME_NONE;
      for (size_t k = 0; k < g.size() && st == TKD_FRAME_NONE; ++k) st = tkd_frame_feed(&p, g[k], 0);
      // A longer announced length leaves the parser waiting: that is what the stall timeout is for.
      if (st == TKD_FRAME_NONE) st = tkd_frame_poll(&p, TKD_FRAME_TIMEOUT_MS + 1);
      CHECK(st != TKD_FRAME_OK && st != TKD_FRAME_NONE);
    }
  }

  // Too long for the buffer, unknown type.
  tkd_frame_parser_init(&p, buf, 4);
  CHECK(feed_all(&p, f) == TKD_FRAME_ERR_LEN);
  tkd_frame_parser_init(&p, buf, sizeof buf);
  CHECK(feed_all(&p, frame(9, 1, 0, {})) == TKD_FRAME_ERR_TYPE);

  // Empty payload, back to back frames.
  auto h = frame(TKD_FRAME_HELLO, 5, 0, {});
  auto two = h;
  two.insert(two.end(), f.begin(), f.end());
  int oks = 0;
  for (uint8_t b : two) oks += tkd_frame_feed(&p, b, 0) == TKD_FRAME_OK;
  CHECK(oks == 2);

  // Stall: half a frame, silence, then a complete retry is still accepted.
  tkd_frame_parser_init(&p, buf, sizeof buf);
  std::vector<uint8_t> half(f.begin(), f.begin() + 10);
  CHECK(feed_all(&p, half, 100) == TKD_FRAME_NONE);
  CHECK(tkd_frame_poll(&p, 100 + TKD_FRAME_TIMEOUT_MS) == TKD_FRAME_NONE);  // not yet
  tkd_frame_status st = TKD_FRAME_NONE;
  int timeouts = 0, ok = 0;
  for (uint8_t b : f) {
    st = tkd_frame_feed(&p, b, 200 + 2 * TKD_FRAME_TIMEOUT_MS);
    timeouts += st == TKD_FRAME_ERR_TIMEOUT;
    ok += st == TKD_FRAME_OK;
  }
  CHECK(timeouts == 1 && ok == 1);
  // A slow link is not a stall: one byte every 900 ms is fine.
  tkd_frame_parser_init(&p, buf, sizeof buf);
  uint32_t t = 0;
  ok = 0;
  for (uint8_t b : f) ok += tkd_frame_feed(&p, b, t += 900) == TKD_FRAME_OK;
  CHECK(ok == 1);
  // Clock wrap-around inside a frame.
  tkd_frame_parser_init(&p, buf, sizeof buf);
  t = 0xFFFFFFF0u;
  ok = 0;
  for (uint8_t b : f) ok += tkd_frame_feed(&p, b, t += 3) == TKD_FRAME_OK;
  CHECK(ok == 1);
  CHECK(tkd_frame_encode(1, 0, 0, payload.data(), 6, buf, 10) == 0);
}

static void test_stream() {
  int16_t ring[10];
  tkd_stream s;
  CHECK(!tkd_stream_init(&s, ring, 3, 4, 2));  // ring shorter than the window
  CHECK(!tkd_stream_init(&s, ring, 10, 4, 0));
  CHECK(tkd_stream_init(&s, ring, 10, 4, 2));
  int16_t win[4];
  uint64_t start = 99;
  int16_t x[32];
  for (int i = 0; i < 32; ++i) x[i] = (int16_t)i;
  tkd_stream_push(&s, x, 3);
  CHECK(!tkd_stream_next(&s, win, &start));
  tkd_stream_push(&s, x + 3, 3);  // 6 samples: windows [0,4) and [2,6) are due
  CHECK(tkd_stream_next(&s, win, &start) && start == 0 && win[0] == 0 && win[3] == 3);
  CHECK(tkd_stream_next(&s, win, &start) && start == 2 && win[0] == 2 && win[3] == 5);
  CHECK(!tkd_stream_next(&s, win, &start));
  // Push 20 more (total 26): ring holds [16,26). Windows from 4 .. 14 were overwritten.
  tkd_stream_push(&s, x + 6, 20);
  CHECK(tkd_stream_next(&s, win, &start) && start == 16 && win[0] == 16 && win[3] == 19);
  CHECK(s.dropped == 6);  // starts 4,6,8,10,12,14
  int more = 0;
  while (tkd_stream_next(&s, win, &start)) more++;
  CHECK(more == 3 && start == 22 && win[3] == 25);  // 18, 20, 22
  // Ring copy across the wrap point and refusal of samples not held.
  int16_t out[5];
  CHECK(tkd_ring_copy(&s.ring, 21, out, 5) && out[0] == 21 && out[4] == 25);
  CHECK(!tkd_ring_copy(&s.ring, 15, out, 5));
  CHECK(!tkd_ring_copy(&s.ring, 23, out, 5));
  CHECK(tkd_ring_size(&s.ring) == 10);
}

static void test_pcm() {
  int16_t pcm[5] = {-32768, -1, 0, 1, 32767};
  float f[5];
  tkd_pcm_to_float(pcm, 5, f);
  CHECK(f[0] == -1.0f && f[2] == 0.0f && f[3] == 1.0f / 32768.0f && f[4] == 32767.0f / 32768.0f);
  int8_t q[5];
  tkd_pcm_to_int8(pcm, 5, 1.0f / 128.0f, 0, q);
  CHECK(q[0] == -128 && q[1] == 0 && q[2] == 0 && q[4] == 127);
  tkd_pcm_to_int8(pcm, 5, 1.0f / 256.0f, 10, q);  // saturates
  CHECK(q[0] == -128 && q[2] == 10 && q[4] == 127);
  int16_t half[1] = {256};  // 256/32768 / (1/128) = 1.0 exactly; -256 -> -1
  int16_t neg[1] = {-64};   // -0.25 -> -0 ; round half away: -192/32768*128 = -0.75 -> -1
  tkd_pcm_to_int8(half, 1, 1.0f / 128.0f, 0, q);
  CHECK(q[0] == 1);
  tkd_pcm_to_int8(neg, 1, 1.0f / 256.0f, 0, q);  // -0.5 -> -1 (half away from zero)
  CHECK(q[0] == -1);
  int16_t q16[2];
  tkd_pcm_to_int16(pcm, 2, 1.0f / 32768.0f, 0, q16);
  CHECK(q16[0] == -32768 && q16[1] == -1);
  int8_t qi[3] = {-128, 0, 127};
  float d[3];
  tkd_dequantize_int8(qi, 3, 0.5f, -1, d);
  CHECK(d[0] == -63.5f && d[1] == 0.5f && d[2] == 64.0f);
  uint8_t le[4] = {0x01, 0x80, 0xFF, 0x7F};
  int16_t s[2];
  tkd_pcm_from_le_bytes(le, 2, s);
  CHECK(s[0] == -32767 && s[1] == 32767);
  float v[4] = {0.1f, 0.5f, 0.5f, -1.0f};
  CHECK(tkd_argmax(v, 4) == 1);  // first of equal maxima
}

// A fake "model" for the board test: score i = mean of the samples times (i + 1).
struct Capture {
  std::string out;
  int calls = 0;
  int fail = 0;
};
static void cap_write(void* ctx, const uint8_t* d, uint32_t n) { ((Capture*)ctx)->out.append((const char*)d, n); }
static int cap_infer(void* ctx, const int16_t* pcm, uint32_t n, float* scores, uint32_t* fe, uint32_t* inf) {
  Capture* c = (Capture*)ctx;
  c->calls++;
  if (c->fail) return 1;
  double sum = 0;
  for (uint32_t i = 0; i < n; ++i) sum += pcm[i];
  for (int i = 0; i < 3; ++i) scores[i] = (float)(sum / n * (i + 1) / 32768.0);
  *fe = 11;
  *inf = 222;
  return 0;
}

static std::vector<std::string> split_lines(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0, nl;
  while ((nl = s.find("\r\n", pos)) != std::string::npos) {
    out.push_back(s.substr(pos, nl - pos));
    pos = nl + 2;
  }
  return out;
}

static const char* const kLabels[] = {"yes", "no, never", "up"};

struct BoardFixture {
  Capture cap;
  alignas(4) uint8_t upload[16];
  int16_t ring[24];
  int16_t window[8];
  tkd_board b;
  // shared_window: the upload buffer doubles as the window buffer, as in the sketch.
  explicit BoardFixture(uint8_t mode, bool shared_window = false) {
    tkd_board_config cfg = {};
    cfg.fw_version = "0.1.0";
    cfg.board_name = "host";
    cfg.model_hash = "0123456789abcdef";
    cfg.labels = kLabels;
    cfg.n_labels = 3;
    cfg.sample_rate = 8000;
    cfg.input_samples = 8;
    cfg.arena_bytes = 4096;
    cfg.hop_samples = 4;
    cfg.default_mode = mode;
    cfg.write = cap_write;
    cfg.infer = cap_infer;
    cfg.ctx = &cap;
    cfg.upload_buf = upload;
    cfg.ring_buf = ring;
    cfg.ring_samples = shared_window ? 24 : 16;
    cfg.window_buf = shared_window ? reinterpret_cast<int16_t*>(upload) : window;
    CHECK(tkd_board_init(&b, &cfg));
  }
};

static void send(tkd_board* b, const std::vector<uint8_t>& f, uint32_t t = 0) {
  tkd_board_rx(b, f.data(), (uint32_t)f.size(), t);
}

static std::vector<uint8_t> clip_payload(int16_t value, int n) {
  std::vector<uint8_t> p;
  for (int i = 0; i < n; ++i) {
    p.push_back((uint8_t)(value & 0xFF));
    p.push_back((uint8_t)((uint16_t)value >> 8));
  }
  return p;
}

static void test_board() {
  BoardFixture fx(TKD_MODE_STREAM);
  tkd_board_reset(&fx.b);
  auto lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 1);
  CHECK(lines[0].rfind("H,0,tinykd=1,fw=0.1.0,board=host,model=0123456789abcdef,sr=8000,n=8,hop=4,arena=4096,"
                       "mode=stream,audio=8,labels=yes|no%2C%20never|up*",
                       0) == 0);
  // Stream: 12 samples of 16384 -> windows [0,8) and [4,12).
  std::vector<int16_t> mic(12, 16384);
  tkd_board_audio(&fx.b, mic.data(), 12);
  lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 3);
  CHECK(lines[1].rfind("R,1,mic1,up,0.500000,1.000000,1.500000,fe_us=11,inf_us=222,end=8*", 0) == 0);
  CHECK(lines[2].rfind("R,2,mic1,up,", 0) == 0);  // window end 12 samples = 1.5 ms -> 1 ms
  CHECK(lines[2].find(",end=12*") != std::string::npos);

  // A clip in stream mode is refused (the mic owns stream mode).
  fx.cap.out.clear();
  send(&fx.b, frame(TKD_FRAME_CLIP, 9, 1, clip_payload(1, 8)));
  lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 1 && lines[0].rfind("N,3,9,mode*", 0) == 0);

  // Verify mode: a clip is acknowledged, then answered; stream audio is ignored meanwhile.
  fx.cap.out.clear();
  send(&fx.b, frame(TKD_FRAME_MODE, 1, 0, {TKD_MODE_VERIFY}));
  tkd_board_audio(&fx.b, mic.data(), 12);
  send(&fx.b, frame(TKD_FRAME_CLIP, 2, 77, clip_payload(-8192, 8)));
  lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 3);
  CHECK(lines[0].rfind("A,4,1*", 0) == 0);
  CHECK(lines[1].rfind("A,5,2*", 0) == 0);
  CHECK(lines[2].rfind("R,6,clip77,yes,-0.250000,-0.500000,-0.750000,fe_us=11,inf_us=222*", 0) == 0);

  // Wrong length, corrupted frame, bad mode, failing model: NAK / error lines, no result.
  fx.cap.out.clear();
  int calls = fx.cap.calls;
  send(&fx.b, frame(TKD_FRAME_CLIP, 3, 1, clip_payload(1, 7)));
  auto bad = frame(TKD_FRAME_CLIP, 4, 1, clip_payload(1, 8));
  bad[20] ^= 0x40;
  send(&fx.b, bad);
  send(&fx.b, frame(TKD_FRAME_MODE, 5, 0, {7}));
  fx.cap.fail = 1;
  send(&fx.b, frame(TKD_FRAME_CLIP, 6, 2, clip_payload(1, 8)));
  lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 5);
  CHECK(lines[0].rfind("N,7,3,len*", 0) == 0);
  CHECK(lines[1].rfind("N,8,4,crc*", 0) == 0);
  CHECK(lines[2].rfind("N,9,5,mode*", 0) == 0);
  CHECK(lines[3].rfind("A,10,6*", 0) == 0);
  CHECK(lines[4].rfind("E,11,infer,invoke%20failed%20on%20clip*", 0) == 0);
  CHECK(fx.cap.calls == calls + 1);
  CHECK(fx.b.frames_bad == 1 && fx.b.frames_ok >= 4);

  // A stalled frame is NAKed by poll; hello on request; reset goes back to stream mode, seq 0.
  fx.cap.out.clear();
  auto part = frame(TKD_FRAME_CLIP, 8, 3, clip_payload(1, 8));
  part.resize(20);
  send(&fx.b, part, 1000);
  tkd_board_poll(&fx.b, 1000 + TKD_FRAME_TIMEOUT_MS + 1);
  send(&fx.b, frame(TKD_FRAME_HELLO, 9, 0, {}), 5000);
  lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 2);
  CHECK(lines[0].rfind("N,12,8,timeout*", 0) == 0);
  CHECK(lines[1].rfind("H,0,", 0) == 0 && lines[1].find("mode=verify") != std::string::npos);
  tkd_board_reset(&fx.b);
  CHECK(fx.b.mode == TKD_MODE_STREAM);

  tkd_board bad_board;
  tkd_board_config none = {};
  CHECK(!tkd_board_init(&bad_board, &none));
}

// The upload buffer doubles as the window buffer: windows wait while a frame is arriving.
static void test_board_shared_buffer() {
  BoardFixture fx(TKD_MODE_STREAM, true);
  tkd_board_reset(&fx.b);
  auto mode = frame(TKD_FRAME_MODE, 1, 0, {TKD_MODE_STREAM});
  std::vector<uint8_t> first(mode.begin(), mode.begin() + 16), rest(mode.begin() + 16, mode.end());
  send(&fx.b, first);
  std::vector<int16_t> mic(12, 100);
  tkd_board_audio(&fx.b, mic.data(), 12);  // mid-frame: no window yet, the payload byte stays intact
  CHECK(fx.cap.calls == 0);
  send(&fx.b, rest);
  auto lines = split_lines(fx.cap.out);
  CHECK(lines.size() == 2 && lines[1].rfind("A,1,1*", 0) == 0);
  tkd_board_audio(&fx.b, mic.data(), 0);  // idle again: the two due windows run
  CHECK(fx.cap.calls == 2);
}

static void test_features() {
  int8_t buf[6];
  tkd_features f;
  CHECK(!tkd_features_init(&f, nullptr, 3, 2, 1));
  CHECK(!tkd_features_init(&f, buf, 0, 2, 1));
  CHECK(tkd_features_init(&f, buf, 3, 2, 2));  // F = 3, B = 2, body every 2 frames
  int8_t out[6];
  int due[8];
  for (int k = 0; k < 8; ++k) {
    int8_t* s = tkd_features_slot(&f);
    s[0] = (int8_t)k;
    s[1] = (int8_t)(100 + k);
    tkd_features_commit(&f);
    due[k] = tkd_features_body_due(&f);
  }
  // Due on the frame that fills the ring (k = 2), then every 2 frames.
  CHECK(!due[0] && !due[1] && due[2] && !due[3] && due[4] && !due[5] && due[6] && !due[7]);
  tkd_features_copy(&f, out);  // newest three frames (5, 6, 7), oldest first, across the wrap
  CHECK(out[0] == 5 && out[1] == 105 && out[2] == 6 && out[4] == 7 && out[5] == 107);
  tkd_features_reset(&f);
  CHECK(!tkd_features_full(&f));
  for (int k = 0; k < 3; ++k) tkd_features_commit(&f);
  CHECK(tkd_features_body_due(&f));
  CHECK(tkd_features_init(&f, buf, 3, 2, 0));  // every 0 means every frame
  for (int k = 0; k < 5; ++k) {
    tkd_features_commit(&f);
    CHECK(tkd_features_body_due(&f) == (k >= 2));
  }
}

// A fake two-model pipeline. Front end: feature 0 = the frame's first sample / HOP (the frame number
// when the PCM is the sample index), feature 1 = its own state (calls since the last reset). Body:
// records the frames it got and scores them so the line shows which frames they were.
enum { kSigW = 6, kSigHop = 4, kSigF = 3, kSigB = 2, kSigClip = 16 };
struct SigCapture {
  std::string out;
  int fe_calls = 0, resets = 0, body_calls = 0, fe_fail_at = -1;
  int state = 0;
  uint64_t clock = 0;  // fake instruction counter: +1000 per front-end call, +50000 per body call
  std::vector<std::vector<int8_t>> bodies;
};
static void sig_write(void* ctx, const uint8_t* d, uint32_t n) { ((SigCapture*)ctx)->out.append((const char*)d, n); }
static int sig_frontend(void* ctx, const int16_t* pcm, uint32_t n, int8_t* feat, uint32_t bins, uint32_t* us) {
  SigCapture* c = (SigCapture*)ctx;
  CHECK(n == kSigW && bins == kSigB);
  if (c->fe_calls++ == c->fe_fail_at) return 1;
  feat[0] = (int8_t)(pcm[0] / kSigHop);
  feat[1] = (int8_t)(c->state++);
  c->clock += 1000;
  *us = 7;
  return 0;
}
static int sig_reset(void* ctx) {
  SigCapture* c = (SigCapture*)ctx;
  c->resets++;
  c->state = 0;
  return 0;
}
static int sig_body(void* ctx, const int8_t* feat, uint32_t frames, uint32_t bins, float* scores, uint32_t* us) {
  SigCapture* c = (SigCapture*)ctx;
  CHECK(frames == kSigF && bins == kSigB);
  c->body_calls++;
  c->bodies.emplace_back(feat, feat + frames * bins);
  scores[0] = feat[0];                        // first frame's number
  scores[1] = feat[(frames - 1) * bins];      // last frame's number
  scores[2] = feat[1] / 100.0f;               // first frame's front-end state
  c->clock += 50000;
  *us = 300;
  return 0;
}
static uint64_t sig_count(void* ctx) { return ((SigCapture*)ctx)->clock; }

struct SignalFixture {
  SigCapture cap;
  alignas(4) uint8_t upload[kSigClip * 2];
  int16_t ring[kSigW + 2 * kSigHop];
  int16_t window[kSigW];
  int8_t features[kSigF * kSigB];
  int8_t body_in[kSigF * kSigB];
  tkd_board b;
  SignalFixture(uint8_t mode, uint32_t every, bool counter = false, bool shared_window = false) {
    tkd_board_config cfg = {};
    cfg.fw_version = "0.1.0";
    cfg.board_name = "host";
    cfg.model_hash = "fedcba9876543210";
    cfg.labels = kLabels;
    cfg.n_labels = 3;
    cfg.sample_rate = 4000;
    cfg.input_samples = kSigClip;
    cfg.arena_bytes = 4096;
    cfg.hop_samples = kSigHop;
    cfg.default_mode = mode;
    cfg.write = sig_write;
    cfg.ctx = &cap;
    cfg.upload_buf = upload;
    cfg.ring_buf = ring;
    cfg.ring_samples = kSigW + 2 * kSigHop;
    cfg.window_buf = shared_window ? reinterpret_cast<int16_t*>(upload) : window;
    cfg.kind = TKD_KIND_SIGNAL;
    cfg.frontend_window = kSigW;
    cfg.feature_bins = kSigB;
    cfg.feature_frames = kSigF;
    cfg.body_every = every;
    cfg.frontend = sig_frontend;
    cfg.frontend_reset = sig_reset;
    cfg.body = sig_body;
    cfg.feature_buf = features;
    cfg.body_buf = body_in;
    if (counter) cfg.count = sig_count;
    cfg.hello_extra = ",clock=fake";
    CHECK(tkd_board_init(&b, &cfg));
    tkd_board_reset(&b);
  }
  std::vector<std::string> take() {
    auto l = split_lines(cap.out);
    cap.out.clear();
    return l;
  }
};

// PCM whose value is the sample number, so the fake front end sees which frame it got.
static std::vector<int16_t> ramp(int from, int n) {
  std::vector<int16_t> v(n);
  for (int i = 0; i < n; ++i) v[i] = (int16_t)(from + i);
  return v;
}

static void test_signal_config() {
  SignalFixture fx(TKD_MODE_STREAM, 1);
  tkd_board_config cfg = fx.b.cfg;
  tkd_board bad;
  cfg.input_samples = kSigW + (kSigF - 1) * kSigHop - 1;  // a clip too short for F frames
  CHECK(!tkd_board_init(&bad, &cfg));
  cfg = fx.b.cfg;
  cfg.body = nullptr;
  CHECK(!tkd_board_init(&bad, &cfg));
  cfg = fx.b.cfg;
  cfg.kind = 7;
  CHECK(!tkd_board_init(&bad, &cfg));
  auto lines = fx.take();
  CHECK(lines.size() == 1);
  // ring 14 - window 6 + 1 = 9 samples per AUDIO frame at most
  CHECK(lines[0].rfind("H,0,tinykd=1,fw=0.1.0,board=host,model=fedcba9876543210,sr=4000,n=16,hop=4,arena=4096,"
                       "mode=stream,kind=signal,win=6,frames=3,bins=2,every=1,audio=9,clock=fake,labels=yes|",
                       0) == 0);
  CHECK(fx.cap.resets == 1);  // the reset at boot restarts the front end
  tkd_board_set_arena(&fx.b, 3000, 1000, 2500);
  tkd_board_send_hello(&fx.b);
  lines = fx.take();
  CHECK(lines[0].find(",arena_used=3000,arena_fe=1000,arena_body=2500,") != std::string::npos);
}

// Stream mode, body every hop: one front-end run per hop, the body on the newest F frames in order.
static void test_signal_stream_every_hop() {
  SignalFixture fx(TKD_MODE_STREAM, 1, true);
  fx.take();
  auto pcm = ramp(0, 30);  // frames k = 0..6 (k*4 + 6 <= 30)
  for (int i = 0; i < 30; i += 3) tkd_board_audio(&fx.b, pcm.data() + i, 3);
  auto lines = fx.take();
  CHECK(fx.cap.fe_calls == 7 && fx.cap.body_calls == 5);  // bodies after frames 2, 3, 4, 5, 6
  CHECK(lines.size() == 5);
  // First result: frames 0..2 (window end 2*4 + 6 = 14 samples = 3 ms at 4 kHz), three front-end runs.
  CHECK(lines[0].rfind("R,1,mic3,no%2C%20never,0.000000,2.000000,0.000000,fe_us=21,inf_us=300,hops=3,fe_ins=3000,"
                       "inf_ins=50000,end=14*", 0) == 0);
  // Later results: one new frame each; the state keeps counting across hops (no reset in a stream).
  CHECK(lines[1].rfind("R,2,mic4,no%2C%20never,1.000000,3.000000,0.010000,fe_us=7,inf_us=300,hops=1,", 0) == 0);
  CHECK(lines[4].find(",end=30*") != std::string::npos);
  for (size_t i = 0; i < fx.cap.bodies.size(); ++i)
    for (int f = 0; f < kSigF; ++f) CHECK(fx.cap.bodies[i][f * kSigB] == (int8_t)(i + f));
  CHECK(fx.cap.resets == 1);
}

static void test_signal_stream_every_n() {
  SignalFixture fx(TKD_MODE_STREAM, 3);
  fx.take();
  auto pcm = ramp(0, 50);  // frames 0..11
  for (int i = 0; i < 50; i += 5) tkd_board_audio(&fx.b, pcm.data() + i, 5);
  auto lines = fx.take();
  CHECK(fx.cap.fe_calls == 12);
  // Bodies after frames 2, 5, 8, 11: the first with 3 front-end runs, then 3 each.
  CHECK(fx.cap.body_calls == 4 && lines.size() == 4);
  int last_frames[] = {2, 5, 8, 11};
  for (int i = 0; i < 4; ++i) {
    CHECK(fx.cap.bodies[i][(kSigF - 1) * kSigB] == last_frames[i]);
    CHECK(lines[i].find(",hops=3,end=") != std::string::npos);
    CHECK(lines[i].find("fe_ins") == std::string::npos);  // no counter, no instruction fields
  }
}

// The reader falls behind (a big block at once): hops are dropped, and no body window spans the gap.
static void test_signal_overrun() {
  SignalFixture fx(TKD_MODE_STREAM, 1);
  fx.take();
  auto pcm = ramp(0, 60);
  tkd_board_audio(&fx.b, pcm.data(), 14);  // frames 0..2 -> one body
  CHECK(fx.cap.body_calls == 1);
  tkd_board_audio(&fx.b, pcm.data() + 14, 30);  // ring holds 14 samples: most hops fall out of it
  CHECK(fx.b.stream.dropped > 0);
  // After the gap the features start over: the next body needs three contiguous new frames.
  int bodies_before = (int)fx.cap.bodies.size();
  for (int i = 44; i < 60; i += 4) tkd_board_audio(&fx.b, pcm.data() + i, 4);
  for (size_t i = (size_t)bodies_before - 1; i < fx.cap.bodies.size(); ++i) {
    const auto& v = fx.cap.bodies[i];
    CHECK(v[2] == v[0] + 1 && v[4] == v[0] + 2);  // frames k, k+1, k+2: no hole
  }
  CHECK(fx.cap.bodies.size() >= 2);
  // The first result after the gap counts the F frames computed for it, not the ones lost before it.
  auto lines = fx.take();
  size_t first_after = 1;  // line 0 is the body before the overrun
  CHECK(lines.size() > first_after && lines[first_after].find(",hops=3,") != std::string::npos);
}

// Verify mode: the front end restarts at every clip, runs over the clip's F frames in order, body once.
static void test_signal_verify_clip() {
  SignalFixture fx(TKD_MODE_VERIFY, 1, true);
  fx.take();
  auto pcm = ramp(0, kSigClip);
  std::vector<uint8_t> payload;
  for (int16_t v : pcm) {
    payload.push_back((uint8_t)(v & 0xFF));
    payload.push_back((uint8_t)((uint16_t)v >> 8));
  }
  send(&fx.b, frame(TKD_FRAME_CLIP, 1, 42, payload));
  send(&fx.b, frame(TKD_FRAME_CLIP, 2, 43, payload));
  auto lines = fx.take();
  CHECK(lines.size() == 4);
  CHECK(lines[0].rfind("A,1,1*", 0) == 0);
  // frames 0, 1, 2 (the clip's last 2 samples are not in any frame); state 0 at the first frame
  CHECK(lines[1].rfind("R,2,clip42,no%2C%20never,0.000000,2.000000,0.000000,fe_us=21,inf_us=300,hops=3,"
                       "fe_ins=3000,inf_ins=50000*", 0) == 0);
  CHECK(lines[3].rfind("R,4,clip43,no%2C%20never,0.000000,2.000000,0.000000,", 0) == 0);  // same: state reset
  CHECK(fx.cap.resets == 3 && fx.cap.fe_calls == 6 && fx.cap.body_calls == 2);  // boot + one per clip
  // A failing front end: an error line, no body, and the next clip works again.
  fx.cap.fe_fail_at = fx.cap.fe_calls + 1;
  send(&fx.b, frame(TKD_FRAME_CLIP, 3, 44, payload));
  send(&fx.b, frame(TKD_FRAME_CLIP, 4, 45, payload));
  lines = fx.take();
  CHECK(lines.size() == 4);
  CHECK(lines[1].rfind("E,", 0) == 0 && lines[1].find("frontend") != std::string::npos);
  CHECK(lines[3].rfind("R,", 0) == 0 && lines[3].find("clip45") != std::string::npos);
  CHECK(fx.cap.body_calls == 3);
  // Back to stream mode: the features start over (the clip filled the ring), the front end restarts.
  int resets = fx.cap.resets;
  send(&fx.b, frame(TKD_FRAME_MODE, 5, 0, {TKD_MODE_STREAM}));
  CHECK(fx.cap.resets == resets + 1 && !tkd_features_full(&fx.b.features));
}

static std::vector<uint8_t> le_bytes(const std::vector<int16_t>& pcm) {
  std::vector<uint8_t> p;
  for (int16_t v : pcm) {
    p.push_back((uint8_t)(v & 0xFF));
    p.push_back((uint8_t)((uint16_t)v >> 8));
  }
  return p;
}

static std::vector<uint8_t> audio(uint16_t fid, uint32_t first, const std::vector<int16_t>& pcm, bool start = false) {
  std::vector<uint8_t> payload = le_bytes(pcm), out(TKD_FRAME_HEADER_BYTES + payload.size() + 4);
  size_t n = tkd_frame_encode_flags(TKD_FRAME_AUDIO, start ? TKD_AUDIO_FLAG_START : 0, fid, first, payload.data(),
                                    (uint32_t)payload.size(), out.data(), out.size());
  CHECK(n == out.size());
  return out;
}

// AUDIO frames in place of the microphone: the same windows as mic audio, idempotent resends, gaps refused.
static void test_signal_audio_frames() {
  SignalFixture mic(TKD_MODE_STREAM, 1, false, true);
  SignalFixture uart(TKD_MODE_STREAM, 1, false, true);  // window buffer = upload buffer, as in the sketch
  mic.take();
  uart.take();
  auto pcm = ramp(0, 36);
  for (int i = 0; i < 36; i += 4) tkd_board_audio(&mic.b, pcm.data() + i, 4);
  send(&uart.b, audio(1, 0, std::vector<int16_t>(pcm.begin(), pcm.begin() + 9), true));
  send(&uart.b, audio(2, 9, std::vector<int16_t>(pcm.begin() + 9, pcm.begin() + 18)));
  send(&uart.b, audio(2, 9, std::vector<int16_t>(pcm.begin() + 9, pcm.begin() + 18)));  // resent: no effect
  send(&uart.b, audio(3, 27, std::vector<int16_t>(pcm.begin() + 27, pcm.begin() + 36)));  // gap: refused
  send(&uart.b, audio(4, 14, std::vector<int16_t>(pcm.begin() + 14, pcm.begin() + 23)));  // overlaps: new part only
  send(&uart.b, audio(5, 23, std::vector<int16_t>(pcm.begin() + 23, pcm.begin() + 32)));
  send(&uart.b, audio(6, 32, std::vector<int16_t>(pcm.begin() + 32, pcm.begin() + 36)));
  send(&uart.b, audio(7, 36, ramp(36, 10)));  // more than the 9-sample limit
  tkd_board_audio(&uart.b, pcm.data(), 4);    // the microphone is ignored once AUDIO frames feed the stream
  auto m = mic.take(), u = uart.take();
  std::vector<std::string> results;
  int acks = 0;
  for (auto& l : u) {
    if (l[0] == 'R') results.push_back(l.substr(l.find(',', 2), l.find('*') - l.find(',', 2)));  // no seq, no CRC
    acks += l[0] == 'A';
  }
  CHECK(acks == 6);
  CHECK(std::count_if(u.begin(), u.end(), [](const std::string& l) { return l.find(",offset*") != std::string::npos; }) == 1);
  CHECK(std::count_if(u.begin(), u.end(), [](const std::string& l) { return l.find(",len*") != std::string::npos; }) == 1);
  CHECK(m.size() == results.size() && results.size() == 6);  // frames 0..7 (k*4 + 6 <= 36): bodies after 2..7
  for (size_t i = 0; i < m.size() && i < results.size(); ++i)
    CHECK(m[i].substr(m[i].find(',', 2), m[i].find('*') - m[i].find(',', 2)) == results[i]);
  // A new stream (START flag) restarts the sample count, features and the front-end state.
  int resets = uart.cap.resets;
  send(&uart.b, audio(8, 0, ramp(0, 9), true));
  CHECK(uart.cap.resets == resets + 1 && uart.b.stream.ring.total == 9);
  send(&uart.b, audio(9, 5, ramp(0, 9), true));  // START must say sample 0
  auto l2 = uart.take();
  CHECK(l2.back().find(",offset*") != std::string::npos);
  // AUDIO in verify mode is refused; the hello asks again for nothing else.
  send(&uart.b, frame(TKD_FRAME_MODE, 10, 0, {TKD_MODE_VERIFY}));
  send(&uart.b, audio(11, 9, ramp(9, 4)));
  l2 = uart.take();
  CHECK(l2.size() == 2 && l2[1].find(",mode*") != std::string::npos);
}

static void write_json_lines(FILE* fh, const std::vector<std::string>& lines) {
  for (size_t i = 0; i < lines.size(); ++i) {
    fprintf(fh, "    \"");
    for (char c : lines[i]) fprintf(fh, (c == '"' || c == '\\') ? "\\%c" : "%c", c);
    fprintf(fh, "\"%s\n", i + 1 < lines.size() ? "," : "");
  }
}

// Golden vectors: lines and frames produced by this C code, decoded by the Python codec.
static void write_golden(const char* path) {
  FILE* fh = fopen(path, "w");
  if (!fh) {
    perror(path);
    exit(2);
  }
  BoardFixture fx(TKD_MODE_VERIFY);
  tkd_board_reset(&fx.b);
  send(&fx.b, frame(TKD_FRAME_CLIP, 65535, 4000000000u, clip_payload(-32768, 8)));
  send(&fx.b, frame(TKD_FRAME_CLIP, 1, 1, clip_payload(1, 3)));
  fx.cap.fail = 1;
  send(&fx.b, frame(TKD_FRAME_CLIP, 2, 5, clip_payload(1, 8)));
  fprintf(fh, "{\n  \"lines\": [\n");
  write_json_lines(fh, split_lines(fx.cap.out));
  // A signal-kind board with an instruction counter: hello, a verify clip, then a stream window fed
  // by AUDIO frames.
  SignalFixture sig(TKD_MODE_VERIFY, 1, true);
  tkd_board_set_arena(&sig.b, 3000, 1000, 2500);
  sig.take();
  tkd_board_send_hello(&sig.b);
  send(&sig.b, frame(TKD_FRAME_CLIP, 1, 42, le_bytes(ramp(0, kSigClip))));
  send(&sig.b, frame(TKD_FRAME_MODE, 2, 0, {TKD_MODE_STREAM}));
  send(&sig.b, audio(3, 0, ramp(0, 9), true));
  send(&sig.b, audio(4, 9, ramp(9, 9)));
  fprintf(fh, "  ],\n  \"signal_lines\": [\n");
  write_json_lines(fh, split_lines(sig.cap.out));
  fprintf(fh, "  ],\n  \"frames\": [\n");
  struct {
    uint8_t type;
    uint16_t fid;
    uint32_t cid;
    std::vector<uint8_t> payload;
    uint8_t flags;
  } fr[] = {{TKD_FRAME_CLIP, 7, 123456, clip_payload(-2, 4), 0}, {TKD_FRAME_HELLO, 0, 0, {}, 0},
            {TKD_FRAME_MODE, 65535, 0, {TKD_MODE_VERIFY}, 0},
            {TKD_FRAME_AUDIO, 9, 4294967295u, clip_payload(300, 3), TKD_AUDIO_FLAG_START}};
  const size_t n_fr = sizeof(fr) / sizeof(fr[0]);
  for (size_t i = 0; i < n_fr; ++i) {
    std::vector<uint8_t> f(TKD_FRAME_HEADER_BYTES + fr[i].payload.size() + 4);
    CHECK(tkd_frame_encode_flags(fr[i].type, fr[i].flags, fr[i].fid, fr[i].cid, fr[i].payload.data(),
                                 (uint32_t)fr[i].payload.size(), f.data(), f.size()) == f.size());
    fprintf(fh, "    {\"type\": %u, \"flags\": %u, \"frame_id\": %u, \"clip_id\": %u, \"payload\": \"", fr[i].type,
            fr[i].flags, fr[i].fid, fr[i].cid);
    for (uint8_t b : fr[i].payload) fprintf(fh, "%02x", b);
    fprintf(fh, "\", \"bytes\": \"");
    for (uint8_t b : f) fprintf(fh, "%02x", b);
    fprintf(fh, "\"}%s\n", i + 1 < n_fr ? "," : "");
  }
  fprintf(fh, "  ]\n}\n");
  fclose(fh);
}

// `test_core parse HEX`: parse frames (hex string, as the Python encoder made them) and print
// one line per event: "<status> <type> <frame_id> <clip_id> <payload hex>".
static void parse_hex(const char* hex) {
  static uint8_t buf[1 << 16];
  tkd_frame_parser p;
  tkd_frame_parser_init(&p, buf, sizeof buf);
  size_t n = strlen(hex) / 2;
  for (size_t i = 0; i < n; ++i) {
    unsigned v = 0;
    sscanf(hex + 2 * i, "%2x", &v);
    tkd_frame_status st = tkd_frame_feed(&p, (uint8_t)v, 0);
    if (st == TKD_FRAME_NONE) continue;
    printf("%d %u %u %u ", (int)st, p.hdr.type, p.hdr.frame_id, p.hdr.clip_id);
    if (st == TKD_FRAME_OK)
      for (uint32_t k = 0; k < p.hdr.payload_len; ++k) printf("%02x", buf[k]);
    printf("\n");
  }
}

int main(int argc, char** argv) {
  if (argc == 3 && strcmp(argv[1], "golden") == 0) {
    write_golden(argv[2]);
    return 0;
  }
  if (argc == 3 && strcmp(argv[1], "parse") == 0) {
    parse_hex(argv[2]);
    return 0;
  }
  test_crc32();
  test_lines();
  test_frames();
  test_stream();
  test_pcm();
  test_board();
  test_board_shared_buffer();
  test_features();
  test_signal_config();
  test_signal_stream_every_hop();
  test_signal_stream_every_n();
  test_signal_overrun();
  test_signal_verify_clip();
  test_signal_audio_frames();
  printf("%d checks, %d failed\n", g_checks, g_failed);
  return g_failed ? 1 : 0;
}
