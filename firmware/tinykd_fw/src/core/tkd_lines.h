// Result/hello/ack lines: printable ASCII, comma separated, "*" + CRC-32 (8 upper-case hex digits)
// of everything before the "*", then "\r\n". Text fields are %XX-escaped so they never contain the
// separators. Floats are written in fixed point with 6 decimals using integer arithmetic, so the
// output does not depend on a libc printf with float support.
#ifndef TKD_LINES_H
#define TKD_LINES_H
#include <stddef.h>
#include <stdint.h>

#include "tkd_protocol.h"
#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
  char buf[TKD_LINE_MAX];
  size_t len;
  int overflow;  // set when something did not fit; the line is still terminated and checksummed
} tkd_line;

void tkd_line_begin(tkd_line* l, char kind, uint32_t seq);
void tkd_line_raw(tkd_line* l, const char* s);           // appended verbatim (caller's constant text)
void tkd_line_escaped(tkd_line* l, const char* s);       // %XX for anything outside safe printable ASCII
void tkd_line_sep(tkd_line* l);                          // ","
void tkd_line_u32(tkd_line* l, uint32_t v);
void tkd_line_i64(tkd_line* l, int64_t v);
void tkd_line_fixed6(tkd_line* l, float v);              // round(v * 1e6) shown as [-]I.FFFFFF
void tkd_line_kv_u32(tkd_line* l, const char* key, uint32_t v);  // ",key=v"
// Appends "*XXXXXXXX\r\n"; returns the total length (the line is in l->buf).
size_t tkd_line_finish(tkd_line* l);

#ifdef __cplusplus
}
#endif
#endif
