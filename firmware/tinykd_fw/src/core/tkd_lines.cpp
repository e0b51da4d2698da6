#include "tkd_lines.h"

#include "tkd_crc32.h"

// Room kept for "*XXXXXXXX\r\n" so finish() always fits.
static const size_t kTrailer = 11;

static void put(tkd_line* l, char c) {
  if (l->len + kTrailer < TKD_LINE_MAX) {
    l->buf[l->len++] = c;
  } else {
    l->overflow = 1;
  }
}

void tkd_line_begin(tkd_line* l, char kind, uint32_t seq) {
  l->len = 0;
  l->overflow = 0;
  put(l, kind);
  put(l, ',');
  tkd_line_u32(l, seq);
}

void tkd_line_raw(tkd_line* l, const char* s) {
  while (*s) put(l, *s++);
}

static int is_safe(unsigned char c) {
  if (c < 0x21 || c > 0x7E) return 0;
  return c != ',' && c != '|' && c != '*' && c != '%' && c != '=';
}

void tkd_line_escaped(tkd_line* l, const char* s) {
  static const char hex[] = "0123456789ABCDEF";
  for (; *s; ++s) {
    unsigned char c = static_cast<unsigned char>(*s);
    if (is_safe(c)) {
      put(l, static_cast<char>(c));
    } else {
      put(l, '%');
      put(l, hex[c >> 4]);
      put(l, hex[c & 0x0F]);
    }
  }
}

void tkd_line_sep(tkd_line* l) { put(l, ','); }

static void put_u64(tkd_line* l, uint64_t v) {
  char tmp[20];
  int n = 0;
  do {
    tmp[n++] = static_cast<char>('0' + v % 10);
    v /= 10;
  } while (v);
  while (n) put(l, tmp[--n]);
}

void tkd_line_u32(tkd_line* l, uint32_t v) { put_u64(l, v); }

void tkd_line_i64(tkd_line* l, int64_t v) {
  if (v < 0) {
    put(l, '-');
    put_u64(l, static_cast<uint64_t>(-(v + 1)) + 1u);
  } else {
    put_u64(l, static_cast<uint64_t>(v));
  }
}

void tkd_line_fixed6(tkd_line* l, float v) {
  // NaN/inf cannot be written in fixed point; say so instead of printing a wrong number.
  if (!(v == v) || v > 9.0e12f || v < -9.0e12f) {
    tkd_line_raw(l, (v == v) ? (v > 0 ? "inf" : "-inf") : "nan");
    return;
  }
  double scaled = static_cast<double>(v) * 1e6;
  int64_t q = static_cast<int64_t>(scaled < 0 ? scaled - 0.5 : scaled + 0.5);  // half away from zero
  uint64_t mag;
  if (q < 0) {
    put(l, '-');
    mag = static_cast<uint64_t>(-(q + 1)) + 1u;
  } else {
    mag = static_cast<uint64_t>(q);
  }
  put_u64(l, mag / 1000000u);
  put(l, '.');
  uint64_t frac = mag % 1000000u;
  for (uint64_t d = 100000u; d; d /= 10) put(l, static_cast<char>('0' + (frac / d) % 10));
}

void tkd_line_kv_u32(tkd_line* l, const char* key, uint32_t v) {
  put(l, ',');
  tkd_line_raw(l, key);
  put(l, '=');
  tkd_line_u32(l, v);
}

size_t tkd_line_finish(tkd_line* l) {
  static const char hex[] = "0123456789ABCDEF";
  uint32_t crc = tkd_crc32(l->buf, l->len);
  l->buf[l->len++] = '*';
  for (int shift = 28; shift >= 0; shift -= 4) l->buf[l->len++] = hex[(crc >> shift) & 0x0Fu];
  l->buf[l->len++] = '\r';
  l->buf[l->len++] = '\n';
  return l->len;
}
