// The firmware application built for the host: the same board core, TFLM glue and emitted model as the
// sketch and the emulated board (src/tflm/tkd_app.h), compiled with the host compiler against a TFLM
// tree. Protocol bytes come in on stdin, lines go out on stdout; it exits at end of input.
//
//   tkd_tflm_host [--dump FILE]
// --dump writes every invoke's raw output tensor as a record: tag byte ('W' waveform output, 'F' front-end
// features, 'B' body output), u32 little-endian length, the bytes. Tests compare them with the Python
// TFLM interpreter bit for bit. Built by tinykd.device.qemu.build.build_host_firmware (not by Arduino:
// it lives outside tinykd_fw/).
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <chrono>

#include "model_data.h"
#include "model_ops.h"
#include "tinykd_config.h"
#include "tkd_app.h"

alignas(16) static uint8_t g_arena[TINYKD_ARENA_BYTES];
static tkd_app g_app;
static FILE* g_dump = nullptr;

static void out_write(void*, const uint8_t* data, uint32_t n) {
  fwrite(data, 1, n, stdout);
  fflush(stdout);
}

static uint32_t clock_us() {
  using namespace std::chrono;
  return static_cast<uint32_t>(duration_cast<microseconds>(steady_clock::now().time_since_epoch()).count());
}

static uint32_t clock_ms() { return clock_us() / 1000u; }

static void dump(void*, char tag, const void* data, size_t n) {
  uint8_t head[5] = {static_cast<uint8_t>(tag), static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8),
                     static_cast<uint8_t>(n >> 16), static_cast<uint8_t>(n >> 24)};
  fwrite(head, 1, sizeof head, g_dump);
  fwrite(data, 1, n, g_dump);
  fflush(g_dump);
}

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (strcmp(argv[i], "--dump") == 0 && i + 1 < argc) {
      g_dump = fopen(argv[++i], "wb");
      if (!g_dump) {
        perror(argv[i]);
        return 2;
      }
    } else {
      fprintf(stderr, "usage: %s [--dump FILE]\n", argv[0]);
      return 2;
    }
  }
  if (g_dump) g_app.runner.SetOutputHook(dump, nullptr);
  tkd_app_begin(&g_app, g_arena, sizeof g_arena, out_write, clock_us, nullptr, ",clock=host");
  if (g_app.setup_error) fprintf(stderr, "set-up failed: %s\n", g_app.setup_error);
  uint8_t buf[4096];
  for (;;) {
    ssize_t n = read(0, buf, sizeof buf);
    if (n <= 0) break;
    tkd_board_rx(&g_app.board, buf, static_cast<uint32_t>(n), clock_ms());
  }
  if (g_dump) fclose(g_dump);
  return g_app.setup_error ? 1 : 0;
}
