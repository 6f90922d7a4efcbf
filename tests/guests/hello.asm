; The first test guest: 64-bit code, entered in long mode at `start` as the Linux 64-bit boot
; protocol enters a kernel. It prints a line on COM1, polling the line status register as a
; driver would, then writes 0x2a to the debug-exit port, which ends the VM with exit code
; (0x2a << 1) | 1 = 85. Built into an ELF at 1 MiB by tests/guests/build_guest.ts.
bits 64
section .text
global start

%include "serial.mac"

DEBUG_EXIT equ 0xf4

start:
    lea rsi, [rel message]
    call puts
.done:
    mov al, 0x2a
    out DEBUG_EXIT, al
    hlt
    jmp .done

message: db "Hello from the guest", 10, 0
