// CRC-32 (IEEE 802.3, reflected, poly 0xEDB88320, init/xorout 0xFFFFFFFF): the same value as
// Python's zlib.crc32, so the host needs no CRC code of its own. Nibble table: 64 bytes of flash.
#ifndef TKD_CRC32_H
#define TKD_CRC32_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

// Continue a CRC: start with crc = 0, feed chunks, the return value is the CRC of all of them.
uint32_t tkd_crc32_update(uint32_t crc, const void* data, size_t n);
uint32_t tkd_crc32(const void* data, size_t n);

#ifdef __cplusplus
}
#endif
#endif
