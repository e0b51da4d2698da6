#include "tkd_features.h"

#include <string.h>

int tkd_features_init(tkd_features* f, int8_t* buf, uint32_t frames, uint32_t bins, uint32_t every) {
  memset(f, 0, sizeof(*f));
  if (buf == nullptr || frames == 0 || bins == 0) return 0;
  f->buf = buf;
  f->frames = frames;
  f->bins = bins;
  f->every = every ? every : 1;
  return 1;
}

void tkd_features_reset(tkd_features* f) {
  f->head = 0;
  f->since = 0;
  f->phase = 0;
}

int8_t* tkd_features_slot(tkd_features* f) { return f->buf + static_cast<size_t>(f->head) * f->bins; }

void tkd_features_commit(tkd_features* f) {
  f->head = (f->head + 1 == f->frames) ? 0 : f->head + 1;
  if (f->since < f->frames) {
    f->since++;
    f->phase = 0;  // the frame that fills the ring is the first one the body runs on
  } else {
    f->phase = (f->phase + 1 == f->every) ? 0 : f->phase + 1;
  }
}

int tkd_features_full(const tkd_features* f) { return f->since >= f->frames; }

void tkd_features_copy(const tkd_features* f, int8_t* dst) {
  // When full, head is the oldest frame's slot: copy [head, F) then [0, head).
  size_t frame_bytes = f->bins;
  size_t older = static_cast<size_t>(f->frames - f->head) * frame_bytes;
  memcpy(dst, f->buf + static_cast<size_t>(f->head) * frame_bytes, older);
  memcpy(dst + older, f->buf, static_cast<size_t>(f->head) * frame_bytes);
}

int tkd_features_body_due(const tkd_features* f) { return tkd_features_full(f) && f->phase == 0; }
