#include "emu_board.h"

#include <errno.h>
#include <sys/stat.h>

// ---- CMSDK APB UART0 (0x40004000): DATA +0, STATE +4 (bit0 TX full, bit1 RX full), CTRL +8 ----
#define UART0 0x40004000u
#define UART_DATA (*(volatile uint32_t*)(UART0 + 0x00u))
#define UART_STATE (*(volatile uint32_t*)(UART0 + 0x04u))
#define UART_CTRL (*(volatile uint32_t*)(UART0 + 0x08u))
#define UART_BAUDDIV (*(volatile uint32_t*)(UART0 + 0x10u))

void emu_uart_init(void) {
  UART_BAUDDIV = EMU_TIMER_HZ / 921600u;  // >= 16 as the CMSDK UART requires; QEMU does not pace bytes
  UART_CTRL = 0x3u;                       // TX and RX enabled, no interrupts
}

void emu_uart_write(const uint8_t* data, uint32_t n) {
  for (uint32_t i = 0; i < n; ++i) {
    while (UART_STATE & 0x1u) {
    }
    UART_DATA = data[i];
  }
}

uint32_t emu_uart_read(uint8_t* dst, uint32_t cap) {
  uint32_t n = 0;
  while (n < cap && (UART_STATE & 0x2u)) dst[n++] = (uint8_t)UART_DATA;
  return n;
}

// ---- CMSDK APB timer 0 (0x40000000): CTRL +0, VALUE +4, RELOAD +8; counts down ----
#define TIMER0 0x40000000u
#define TIMER_CTRL (*(volatile uint32_t*)(TIMER0 + 0x00u))
#define TIMER_VALUE (*(volatile uint32_t*)(TIMER0 + 0x04u))
#define TIMER_RELOAD (*(volatile uint32_t*)(TIMER0 + 0x08u))

static uint32_t g_last_value;
static uint64_t g_ticks;

void emu_timer_init(void) {
  TIMER_CTRL = 0;
  TIMER_RELOAD = 0xFFFFFFFFu;
  TIMER_VALUE = 0xFFFFFFFFu;
  TIMER_CTRL = 0x1u;  // enable, no interrupt
  g_last_value = TIMER_VALUE;
  g_ticks = 0;
}

uint64_t emu_ticks(void) {
  uint32_t v = TIMER_VALUE;
  g_ticks += (uint32_t)(g_last_value - v);  // counts down; modulo 2^32 across the reload
  g_last_value = v;
  return g_ticks;
}

uint32_t emu_micros(void) { return (uint32_t)(emu_ticks() / (EMU_TIMER_HZ / 1000000u)); }
uint32_t emu_millis(void) { return (uint32_t)(emu_ticks() / (EMU_TIMER_HZ / 1000u)); }

uint32_t emu_calibrate(uint32_t iterations) {
  uint32_t t0 = TIMER_VALUE;
  __asm volatile(
      "   mov r0, %0\n"
      "1: subs r0, r0, #1\n"
      "   bne 1b\n"
      :
      : "r"(iterations)
      : "r0", "cc");
  uint32_t t1 = TIMER_VALUE;
  return t0 - t1;
}

// ---- ARM semihosting (bkpt 0xAB): diagnostics and exit, never the protocol UART ----
static int semihost(int op, const void* arg) {
  register int r0 __asm("r0") = op;
  register const void* r1 __asm("r1") = arg;
  __asm volatile("bkpt 0xAB" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

void emu_log(const char* text) { semihost(0x04, text); }  // SYS_WRITE0

void emu_log_hex(uint32_t v) {
  char buf[11] = "0x";
  for (int i = 0; i < 8; ++i) buf[2 + i] = "0123456789abcdef"[(v >> (28 - 4 * i)) & 0xFu];
  buf[10] = 0;
  emu_log(buf);
}

void emu_exit(int status) {
  // SYS_EXIT_EXTENDED (0x20): ADP_Stopped_ApplicationExit with the status as the exit code.
  uint32_t block[2] = {0x20026u, (uint32_t)status};
  semihost(0x20, block);
  for (;;) {
  }
}

// C++ statics register their destructors with __cxa_atexit against this handle (crtbegin.o's job, which
// -nostartfiles leaves out). The firmware never exits normally, so they never run.
void* __dso_handle = 0;
// newlib's __libc_init_array calls _init (crti.o's, also left out): the constructors are in .init_array.
void _init(void) {}
void _fini(void) {}

// ---- newlib system calls: a heap between .bss and the stack, stdout/stderr to semihosting ----
extern char __heap_start__, __heap_limit__;
static char* g_brk = &__heap_start__;

void* _sbrk(ptrdiff_t incr) {
  if (g_brk + incr > &__heap_limit__ || g_brk + incr < &__heap_start__) {
    errno = ENOMEM;
    return (void*)-1;
  }
  char* old = g_brk;
  g_brk += incr;
  return old;
}

int _write(int fd, const char* data, int n) {
  if (fd != 1 && fd != 2) {
    errno = EBADF;
    return -1;
  }
  char chunk[65];
  int done = 0;
  while (done < n) {
    int k = n - done < 64 ? n - done : 64;
    for (int i = 0; i < k; ++i) chunk[i] = data[done + i];
    chunk[k] = 0;
    emu_log(chunk);
    done += k;
  }
  return n;
}

int _read(int fd, char* data, int n) {
  (void)fd;
  (void)data;
  (void)n;
  return 0;
}
int _close(int fd) {
  (void)fd;
  return -1;
}
int _fstat(int fd, struct stat* st) {
  (void)fd;
  st->st_mode = S_IFCHR;
  return 0;
}
int _isatty(int fd) {
  (void)fd;
  return 1;
}
int _lseek(int fd, int off, int whence) {
  (void)fd;
  (void)off;
  (void)whence;
  return 0;
}
int _kill(int pid, int sig) {
  (void)pid;
  (void)sig;
  errno = EINVAL;
  return -1;
}
int _getpid(void) { return 1; }
void _exit(int status) { emu_exit(status); }
