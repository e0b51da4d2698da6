#include "tkd_stream.h"

void tkd_ring_init(tkd_ring* r, int16_t* buf, uint32_t capacity) {
  r->buf = buf;
  r->capacity = capacity;
  r->head = 0;
  r->total = 0;
}

void tkd_ring_push(tkd_ring* r, const int16_t* samples, uint32_t n) {
  if (r->capacity == 0) return;
  for (uint32_t i = 0; i < n; ++i) {
    r->buf[r->head] = samples[i];
    r->head = (r->head + 1 == r->capacity) ? 0 : r->head + 1;
  }
  r->total += n;
}

uint32_t tkd_ring_size(const tkd_ring* r) {
  return r->total < r->capacity ? static_cast<uint32_t>(r->total) : r->capacity;
}

int tkd_ring_copy(const tkd_ring* r, uint64_t start, int16_t* dst, uint32_t n) {
  uint64_t oldest = r->total - tkd_ring_size(r);
  if (start < oldest || start + n > r->total) return 0;
  // Index of sample `start`: head is where sample `total` would go.
  uint64_t back = r->total - start;  // 1..size
  uint32_t idx = static_cast<uint32_t>((r->head + r->capacity - static_cast<uint32_t>(back % r->capacity)) % r->capacity);
  for (uint32_t i = 0; i < n; ++i) {
    dst[i] = r->buf[idx];
    idx = (idx + 1 == r->capacity) ? 0 : idx + 1;
  }
  return 1;
}

int tkd_stream_init(tkd_stream* s, int16_t* buf, uint32_t capacity, uint32_t window, uint32_t hop) {
  if (window == 0 || hop == 0 || capacity < window || buf == nullptr) return 0;
  tkd_ring_init(&s->ring, buf, capacity);
  s->window = window;
  s->hop = hop;
  s->next_start = 0;
  s->dropped = 0;
  return 1;
}

void tkd_stream_push(tkd_stream* s, const int16_t* samples, uint32_t n) { tkd_ring_push(&s->ring, samples, n); }

int tkd_stream_next(tkd_stream* s, int16_t* dst, uint64_t* start) {
  if (s->next_start + s->window > s->ring.total) return 0;
  uint64_t oldest = s->ring.total - tkd_ring_size(&s->ring);
  while (s->next_start < oldest) {  // overwritten: skip to the first window still held
    s->next_start += s->hop;
    s->dropped++;
  }
  if (s->next_start + s->window > s->ring.total) return 0;
  tkd_ring_copy(&s->ring, s->next_start, dst, s->window);
  if (start) *start = s->next_start;
  s->next_start += s->hop;
  return 1;
}
