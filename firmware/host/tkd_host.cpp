// Host-only glue for the virtual board (tinykd sim): lets Python (ctypes) own a tkd_board without
// mirroring its layout. Not part of the sketch: it lives outside tinykd_fw/ so Arduino never builds it.
#include <stdlib.h>

#include "tkd_board.h"

extern "C" {

tkd_board* tkd_host_board_new(const tkd_board_config* cfg) {
  tkd_board* b = static_cast<tkd_board*>(calloc(1, sizeof(tkd_board)));
  if (b && !tkd_board_init(b, cfg)) {
    free(b);
    return nullptr;
  }
  return b;
}

void tkd_host_board_free(tkd_board* b) { free(b); }

// sizeof(tkd_board_config): the ctypes mirror (tinykd/device/native.py) checks it has every field.
size_t tkd_host_config_size(void) { return sizeof(tkd_board_config); }

uint8_t tkd_host_board_mode(const tkd_board* b) { return b->mode; }

// frames_ok, frames_bad, results, bytes skipped outside frames, windows dropped (stream overrun)
void tkd_host_board_counters(const tkd_board* b, uint32_t out[5]) {
  out[0] = b->frames_ok;
  out[1] = b->frames_bad;
  out[2] = b->results;
  out[3] = b->parser.skipped;
  out[4] = b->stream_ok ? b->stream.dropped : 0;
}

// Signal kind: front-end failures, frames held (up to F), 1 once AUDIO frames feed the stream.
void tkd_host_board_signal_counters(const tkd_board* b, uint32_t out[3]) {
  out[0] = b->fe_errors;
  out[1] = b->features.since;
  out[2] = static_cast<uint32_t>(b->uart_audio);
}

}  // extern "C"
