// Streaming audio: an int16 ring buffer and a sliding-window scheduler on top of it.
// Windows start at multiples of `hop` samples since start-up: window k covers samples
// [k*hop, k*hop + window). If the reader falls behind and a window's samples were overwritten,
// the window is skipped (counted in `dropped`) instead of returning mixed old/new audio.
#ifndef TKD_STREAM_H
#define TKD_STREAM_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  int16_t* buf;
  uint32_t capacity;  // samples; must be >= window
  uint32_t head;      // next write index
  uint64_t total;     // samples ever pushed
} tkd_ring;

void tkd_ring_init(tkd_ring* r, int16_t* buf, uint32_t capacity);
void tkd_ring_push(tkd_ring* r, const int16_t* samples, uint32_t n);  // overwrites the oldest
uint32_t tkd_ring_size(const tkd_ring* r);
// Copies samples [start, start + n) (absolute sample numbers); returns 0 if they are not all held.
int tkd_ring_copy(const tkd_ring* r, uint64_t start, int16_t* dst, uint32_t n);

typedef struct {
  tkd_ring ring;
  uint32_t window;
  uint32_t hop;
  uint64_t next_start;  // first sample of the next window to run
  uint32_t dropped;     // windows skipped because their audio was overwritten
} tkd_stream;

// Returns 0 when the arguments cannot work (hop 0, window 0, capacity < window).
int tkd_stream_init(tkd_stream* s, int16_t* buf, uint32_t capacity, uint32_t window, uint32_t hop);
void tkd_stream_push(tkd_stream* s, const int16_t* samples, uint32_t n);
// If a window is due, copies it into dst (window samples), reports its first sample number and returns 1.
int tkd_stream_next(tkd_stream* s, int16_t* dst, uint64_t* start);

#ifdef __cplusplus
}
#endif
#endif
