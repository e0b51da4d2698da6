// tinykd serial protocol, board side: constants shared by lines and frames. See docs/protocol.md.
#ifndef TKD_PROTOCOL_H
#define TKD_PROTOCOL_H
#include <stdint.h>

#define TKD_PROTOCOL_VERSION 1
#define TKD_DEFAULT_BAUD 921600

// Longest line the board writes, "\r\n" included (hello with every label escaped fits for 16 labels
// of 40 characters; longer tables are cut and flagged by the line writer).
#define TKD_LINE_MAX 1024

// Upload frames (host -> board), little-endian:
//   magic A5 5A | type u8 | flags u8 | frame_id u16 | clip_id u32 | payload_len u32 | payload | crc32 u32
// crc32 covers type..payload (everything between the magic and the crc).
#define TKD_FRAME_MAGIC0 0xA5u
#define TKD_FRAME_MAGIC1 0x5Au
#define TKD_FRAME_HEADER_BYTES 14u  // magic included
#define TKD_FRAME_TRAILER_BYTES 4u

enum tkd_frame_type {
  TKD_FRAME_CLIP = 1,   // payload: int16 LE PCM, exactly input_samples samples
  TKD_FRAME_HELLO = 2,  // payload: empty; the board answers with its hello line
  TKD_FRAME_MODE = 3,   // payload: 1 byte, a tkd_mode
  TKD_FRAME_AUDIO = 4,  // stream mode: int16 LE PCM in place of the microphone; clip_id = number of the
                        // first sample since the stream started (mod 2^32); flags: TKD_AUDIO_FLAG_START
};

// AUDIO frame flag: this frame starts a new stream (sample 0; audio ring, features and front-end state
// cleared). A repeated AUDIO frame (same clip_id) is acknowledged and not pushed twice.
#define TKD_AUDIO_FLAG_START 0x01u

enum tkd_mode { TKD_MODE_STREAM = 0, TKD_MODE_VERIFY = 1 };

// What the board runs: one model on raw PCM windows, or a per-hop front end feeding a body.
enum tkd_kind { TKD_KIND_WAVEFORM = 0, TKD_KIND_SIGNAL = 1 };

// A partial frame that receives no byte for this long is dropped (NAK "timeout"): a stalled upload must not wedge the board.
#define TKD_FRAME_TIMEOUT_MS 1000u

#endif
