// Start-up for the emulated board (QEMU mps2-an386, Cortex-M4F): vector table, FPU on, .data copied
// from flash, .bss zeroed, C++ constructors, main(). Faults print their cause over semihosting (QEMU's
// stdout, not the protocol UART) and stop the emulator with a non-zero status.
#include <stdint.h>

#include "emu_board.h"

extern uint32_t __data_load__, __data_start__, __data_end__, __bss_start__, __bss_end__, __stack_top__;
extern void __libc_init_array(void);
extern int main(void);

void Reset_Handler(void);
static void Fault_Handler(void);
static void Default_Handler(void);

__attribute__((section(".isr_vector"), used)) void (*const g_vectors[16])(void) = {
    (void (*)(void))(&__stack_top__),  // initial stack pointer
    Reset_Handler,
    Default_Handler,  // NMI
    Fault_Handler,    // HardFault
    Fault_Handler,    // MemManage
    Fault_Handler,    // BusFault
    Fault_Handler,    // UsageFault
    0, 0, 0, 0,
    Default_Handler,  // SVCall
    Default_Handler,  // DebugMonitor
    0,
    Default_Handler,  // PendSV
    Default_Handler,  // SysTick
};

void Reset_Handler(void) {
  // CP10/CP11 full access: the FPU (the build uses -mfloat-abi=hard).
  *(volatile uint32_t*)0xE000ED88u |= (0xFu << 20);
  __asm volatile("dsb\n isb" ::: "memory");
  uint32_t* src = &__data_load__;
  for (uint32_t* dst = &__data_start__; dst < &__data_end__;) *dst++ = *src++;
  for (uint32_t* dst = &__bss_start__; dst < &__bss_end__;) *dst++ = 0;
  __libc_init_array();
  int rc = main();
  emu_exit(rc);
}

static void Fault_Handler(void) {
  uint32_t cfsr = *(volatile uint32_t*)0xE000ED28u;
  uint32_t hfsr = *(volatile uint32_t*)0xE000ED2Cu;
  emu_log("tinykd emulated board: FAULT cfsr=");
  emu_log_hex(cfsr);
  emu_log(" hfsr=");
  emu_log_hex(hfsr);
  emu_log("\n");
  emu_exit(3);
}

static void Default_Handler(void) {
  emu_log("tinykd emulated board: unexpected interrupt\n");
  emu_exit(4);
}
