// The feature ring of a two-model ("signal") pipeline: the front end writes B int8 features per hop
// into the next slot; the body reads the newest F frames, oldest first. `since` counts frames pushed
// since the last discontinuity (start, reset, or audio lost to an overrun), so the scheduler never
// hands the body a window with a hole in it.
#ifndef TKD_FEATURES_H
#define TKD_FEATURES_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int8_t* buf;      // frames * bins bytes, caller's
  uint32_t frames;  // F: frames the body takes (ring capacity)
  uint32_t bins;    // B: features per frame
  uint32_t head;    // slot the next frame is written to
  uint32_t every;   // N: body every N frames once full (1 = every frame)
  uint32_t since;   // frames pushed since the last reset, counted up to F
  uint32_t phase;   // frames since the ring became full, modulo N (0 = body due)
} tkd_features;

// Returns 0 when the arguments cannot work (null buffer, 0 frames or bins). every 0 means 1.
int tkd_features_init(tkd_features* f, int8_t* buf, uint32_t frames, uint32_t bins, uint32_t every);
// Forget every frame (the next body needs F new ones).
void tkd_features_reset(tkd_features* f);
// Where the next frame's B features go; tkd_features_commit() makes it part of the ring.
int8_t* tkd_features_slot(tkd_features* f);
void tkd_features_commit(tkd_features* f);
// 1 once F frames have been pushed since the last reset.
int tkd_features_full(const tkd_features* f);
// The newest F frames, oldest first, into dst (F * B bytes). Only meaningful when full.
void tkd_features_copy(const tkd_features* f, int8_t* dst);
// 1 when the frame just committed is one the body runs on (see the scheduling rule above).
int tkd_features_body_due(const tkd_features* f);

#ifdef __cplusplus
}
#endif
#endif
