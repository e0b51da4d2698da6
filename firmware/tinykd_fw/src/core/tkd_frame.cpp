#include "tkd_frame.h"

#include <string.h>

#include "tkd_crc32.h"

enum { S_MAGIC0 = 0, S_MAGIC1, S_HEADER, S_PAYLOAD, S_CRC };

static uint32_t rd_u32(const uint8_t* b) {
  return static_cast<uint32_t>(b[0]) | (static_cast<uint32_t>(b[1]) << 8) | (static_cast<uint32_t>(b[2]) << 16) |
         (static_cast<uint32_t>(b[3]) << 24);
}
static void wr_u32(uint8_t* b, uint32_t v) {
  b[0] = static_cast<uint8_t>(v);
  b[1] = static_cast<uint8_t>(v >> 8);
  b[2] = static_cast<uint8_t>(v >> 16);
  b[3] = static_cast<uint8_t>(v >> 24);
}

void tkd_frame_parser_init(tkd_frame_parser* p, uint8_t* payload, uint32_t capacity) {
  memset(p, 0, sizeof(*p));
  p->payload = payload;
  p->capacity = capacity;
  p->state = S_MAGIC0;
}

static int known_type(uint8_t t) {
  return t == TKD_FRAME_CLIP || t == TKD_FRAME_HELLO || t == TKD_FRAME_MODE || t == TKD_FRAME_AUDIO;
}

tkd_frame_status tkd_frame_poll(tkd_frame_parser* p, uint32_t now_ms) {
  if (p->state == S_MAGIC0 || now_ms - p->last_ms <= TKD_FRAME_TIMEOUT_MS) return TKD_FRAME_NONE;
  int had_header = p->state != S_MAGIC1;
  p->state = S_MAGIC0;
  return had_header ? TKD_FRAME_ERR_TIMEOUT : TKD_FRAME_NONE;
}

tkd_frame_status tkd_frame_feed(tkd_frame_parser* p, uint8_t byte, uint32_t now_ms) {
  tkd_frame_status st = tkd_frame_poll(p, now_ms);
  if (st != TKD_FRAME_NONE) {
    // The stalled frame is reported; this byte may be the start of the retry, so parse it too.
    tkd_frame_feed(p, byte, now_ms);
    return st;
  }
  p->last_ms = now_ms;
  switch (p->state) {
    case S_MAGIC0:
      if (byte == TKD_FRAME_MAGIC0) {
        p->state = S_MAGIC1;
      } else {
        p->skipped++;
      }
      return TKD_FRAME_NONE;
    case S_MAGIC1:
      if (byte == TKD_FRAME_MAGIC1) {
        p->head[0] = TKD_FRAME_MAGIC0;
        p->head[1] = TKD_FRAME_MAGIC1;
        p->pos = 2;
        memset(&p->hdr, 0, sizeof(p->hdr));  // a NAK for a frame cut inside its header says frame 0
        p->state = S_HEADER;
      } else if (byte != TKD_FRAME_MAGIC0) {
        p->skipped += 2;
        p->state = S_MAGIC0;
      } else {
        p->skipped++;  // A5 A5: the second one may start the frame
      }
      return TKD_FRAME_NONE;
    case S_HEADER:
      p->head[p->pos++] = byte;
      if (p->pos < TKD_FRAME_HEADER_BYTES) return TKD_FRAME_NONE;
      p->hdr.type = p->head[2];
      p->hdr.flags = p->head[3];
      p->hdr.frame_id = static_cast<uint16_t>(p->head[4] | (p->head[5] << 8));
      p->hdr.clip_id = rd_u32(p->head + 6);
      p->hdr.payload_len = rd_u32(p->head + 10);
      p->crc = tkd_crc32_update(0, p->head + 2, TKD_FRAME_HEADER_BYTES - 2);
      p->pos = 0;
      if (!known_type(p->hdr.type)) {
        p->state = S_MAGIC0;
        return TKD_FRAME_ERR_TYPE;
      }
      if (p->hdr.payload_len > p->capacity) {
        p->state = S_MAGIC0;
        return TKD_FRAME_ERR_LEN;
      }
      p->state = p->hdr.payload_len ? S_PAYLOAD : S_CRC;
      return TKD_FRAME_NONE;
    case S_PAYLOAD:
      p->payload[p->pos++] = byte;
      if (p->pos == p->hdr.payload_len) {
        p->crc = tkd_crc32_update(p->crc, p->payload, p->hdr.payload_len);
        p->pos = 0;
        p->state = S_CRC;
      }
      return TKD_FRAME_NONE;
    case S_CRC:
    default:
      p->crc_bytes[p->pos++] = byte;
      if (p->pos < 4) return TKD_FRAME_NONE;
      p->state = S_MAGIC0;
      return rd_u32(p->crc_bytes) == p->crc ? TKD_FRAME_OK : TKD_FRAME_ERR_CRC;
  }
}

int tkd_frame_busy(const tkd_frame_parser* p) { return p->state != S_MAGIC0; }

size_t tkd_frame_encode(uint8_t type, uint16_t frame_id, uint32_t clip_id, const uint8_t* payload,
                        uint32_t payload_len, uint8_t* out, size_t out_cap) {
  return tkd_frame_encode_flags(type, 0, frame_id, clip_id, payload, payload_len, out, out_cap);
}

size_t tkd_frame_encode_flags(uint8_t type, uint8_t flags, uint16_t frame_id, uint32_t clip_id,
                              const uint8_t* payload, uint32_t payload_len, uint8_t* out, size_t out_cap) {
  size_t total = TKD_FRAME_HEADER_BYTES + static_cast<size_t>(payload_len) + TKD_FRAME_TRAILER_BYTES;
  if (out_cap < total) return 0;
  out[0] = TKD_FRAME_MAGIC0;
  out[1] = TKD_FRAME_MAGIC1;
  out[2] = type;
  out[3] = flags;
  out[4] = static_cast<uint8_t>(frame_id);
  out[5] = static_cast<uint8_t>(frame_id >> 8);
  wr_u32(out + 6, clip_id);
  wr_u32(out + 10, payload_len);
  if (payload_len) memcpy(out + TKD_FRAME_HEADER_BYTES, payload, payload_len);
  wr_u32(out + TKD_FRAME_HEADER_BYTES + payload_len,
         tkd_crc32(out + 2, TKD_FRAME_HEADER_BYTES - 2 + static_cast<size_t>(payload_len)));
  return total;
}
