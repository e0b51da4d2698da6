// Upload frames (host -> board): an incremental parser fed one byte at a time, and an encoder
// (used by the host-side tests and golden vectors). Layout in tkd_protocol.h / docs/protocol.md.
#ifndef TKD_FRAME_H
#define TKD_FRAME_H
#include <stddef.h>
#include <stdint.h>

#include "tkd_protocol.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
  TKD_FRAME_NONE = 0,     // byte consumed, nothing to report yet
  TKD_FRAME_OK = 1,       // a complete frame with a good CRC: header fields and payload are valid
  TKD_FRAME_ERR_CRC = 2,  // complete frame, CRC mismatch
  TKD_FRAME_ERR_LEN = 3,  // header announced a payload longer than the buffer
  TKD_FRAME_ERR_TYPE = 4, // unknown frame type
  TKD_FRAME_ERR_TIMEOUT = 5,  // no byte for TKD_FRAME_TIMEOUT_MS inside a frame
} tkd_frame_status;

typedef struct {
  uint8_t type;
  uint8_t flags;
  uint16_t frame_id;
  uint32_t clip_id;
  uint32_t payload_len;
} tkd_frame_header;

typedef struct {
  uint8_t* payload;      // caller's buffer
  uint32_t capacity;     // its size in bytes
  tkd_frame_header hdr;  // valid after TKD_FRAME_OK (and frame_id after the errors, for the NAK)
  // private
  uint8_t state;
  uint8_t head[TKD_FRAME_HEADER_BYTES];
  uint32_t pos;
  uint32_t crc;
  uint8_t crc_bytes[4];
  uint32_t last_ms;      // time of the last byte: the timeout is for a stall, not a slow link
  uint32_t skipped;      // bytes seen outside any frame (line noise, a terminal user typing)
} tkd_frame_parser;

void tkd_frame_parser_init(tkd_frame_parser* p, uint8_t* payload, uint32_t capacity);
tkd_frame_status tkd_frame_feed(tkd_frame_parser* p, uint8_t byte, uint32_t now_ms);
// Call regularly when no bytes arrive: reports TKD_FRAME_ERR_TIMEOUT once for a stalled partial frame.
tkd_frame_status tkd_frame_poll(tkd_frame_parser* p, uint32_t now_ms);

// 1 while a frame is partly received (its payload is being written into the buffer).
int tkd_frame_busy(const tkd_frame_parser* p);

// Writes a whole frame into out (header + payload + crc); returns its size, or 0 if out is too small.
size_t tkd_frame_encode(uint8_t type, uint16_t frame_id, uint32_t clip_id, const uint8_t* payload,
                        uint32_t payload_len, uint8_t* out, size_t out_cap);
// The same with a flags byte (AUDIO frames: TKD_AUDIO_FLAG_START).
size_t tkd_frame_encode_flags(uint8_t type, uint8_t flags, uint16_t frame_id, uint32_t clip_id,
                              const uint8_t* payload, uint32_t payload_len, uint8_t* out, size_t out_cap);

#ifdef __cplusplus
}
#endif
#endif
