// The tinykd firmware on the emulated board (QEMU mps2-an386): the same application as the sketch
// (src/tflm/tkd_app.h: board core + TFLM glue + emitted model), with UART0 in place of Serial, no
// microphone (stream audio arrives in AUDIO frames), timer 0 as the clock and as an instruction counter.
#include <stdio.h>

#include "model_data.h"
#include "model_ops.h"
#include "tinykd_config.h"
#include "tkd_app.h"
#include "tensorflow/lite/micro/debug_log.h"

extern "C" {
#include "emu_board.h"
}

#ifndef TKD_EMU_KERNELS
#define TKD_EMU_KERNELS "unknown"
#endif

alignas(16) static uint8_t g_arena[TINYKD_ARENA_BYTES];
static tkd_app g_app;
static char g_hello_extra[160];

static void uart_write(void*, const uint8_t* data, uint32_t n) { emu_uart_write(data, n); }
static uint32_t clock_us() { return emu_micros(); }
// Instructions executed since boot: the virtual clock in ns (-icount shift=0), resolution one tick.
static uint64_t instructions(void*) { return emu_ticks() * EMU_NS_PER_TICK; }

// TFLM's log goes to semihosting (QEMU's stdout), never to the protocol UART.
extern "C" void DebugLog(const char* format, va_list args) {
  char buf[256];
  vsnprintf(buf, sizeof buf, format, args);
  emu_log(buf);
}
extern "C" int DebugVsnprintf(char* buffer, size_t buf_size, const char* format, va_list vlist) {
  return vsnprintf(buffer, buf_size, format, vlist);
}

int main() {
  emu_uart_init();
  emu_timer_init();
  const uint32_t cal_iterations = 1000000u;
  uint32_t cal_ticks = emu_calibrate(cal_iterations);
  snprintf(g_hello_extra, sizeof g_hello_extra,
           ",clock=icount,ns_per_tick=%u,cal_ins=%lu,cal_ticks=%lu,kernels=%s,cpu_hz=%lu", (unsigned)EMU_NS_PER_TICK,
           (unsigned long)(2u * cal_iterations + 3u), (unsigned long)cal_ticks, TKD_EMU_KERNELS,
           (unsigned long)TINYKD_CPU_HZ);
  tkd_app_begin(&g_app, g_arena, sizeof g_arena, uart_write, clock_us, instructions, g_hello_extra);
  if (g_app.setup_error) {
    emu_log("tinykd emulated board: set-up failed: ");
    emu_log(g_app.setup_error);
    emu_log("\n");
  }
  uint32_t last_error_ms = 0;
  for (;;) {
    uint8_t buf[64];
    uint32_t n = emu_uart_read(buf, sizeof buf);
    if (n) {
      tkd_board_rx(&g_app.board, buf, n, emu_millis());
    } else {
      tkd_board_poll(&g_app.board, emu_millis());
      // The loop busy-polls, as the firmware does on a real board. A WFI idle (UART RX + timer wake-ups)
      // took QEMU's idle CPU from ~80 % to 1 %, but under host load it stalled uploads for over 5 s
      // (6 of 120 verify clips); see docs/emulated-board.md.
    }
    if (g_app.setup_error && emu_millis() - last_error_ms > 2000) {  // keep saying why nothing works
      last_error_ms = emu_millis();
      tkd_board_error(&g_app.board, "setup", g_app.setup_error);
    }
  }
}

// No heap objects are ever deleted; these keep libstdc++'s operator delete (and what it pulls in) out.
void operator delete(void*) noexcept {}
void operator delete(void*, size_t) noexcept {}
