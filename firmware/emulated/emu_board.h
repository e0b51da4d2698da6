// The emulated board's peripherals (QEMU mps2-an386): CMSDK APB UART0 for the protocol, CMSDK APB
// timer 0 as a free-running clock, ARM semihosting for diagnostics and exit. See docs/emulated-board.md.
#ifndef EMU_BOARD_H
#define EMU_BOARD_H
#include <stddef.h>
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif

// Timer 0 counts at the board's peripheral clock (25 MHz on mps2-an386). With QEMU's -icount shift=0
// one instruction is one nanosecond of virtual time, so a tick is EMU_NS_PER_TICK instructions.
#ifndef EMU_TIMER_HZ
#define EMU_TIMER_HZ 25000000u
#endif
#define EMU_NS_PER_TICK (1000000000u / EMU_TIMER_HZ)

void emu_uart_init(void);
void emu_uart_write(const uint8_t* data, uint32_t n);
// Up to `cap` bytes that have arrived (the UART holds one byte at a time); returns how many.
uint32_t emu_uart_read(uint8_t* dst, uint32_t cap);

void emu_timer_init(void);
uint64_t emu_ticks(void);    // timer ticks since emu_timer_init (64-bit; call at least every 171 s)
uint32_t emu_micros(void);   // virtual microseconds
uint32_t emu_millis(void);   // virtual milliseconds

// Runs `iterations` of a two-instruction loop (2 * iterations + 3 instructions) and returns the timer
// ticks it took: the check that ticks * EMU_NS_PER_TICK counts instructions.
uint32_t emu_calibrate(uint32_t iterations);

void emu_log(const char* text);  // semihosting SYS_WRITE0 (QEMU's stdout)
void emu_log_hex(uint32_t v);
void emu_exit(int status) __attribute__((noreturn));

#ifdef __cplusplus
}
#endif
#endif
