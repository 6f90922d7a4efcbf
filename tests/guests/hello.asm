; The first test guest: 64-bit code, entered in long mode at `start` as the Linux 64-bit boot
; protocol enters a kernel. It prints a line on COM1, polling the line status register as a
; driver would, then writes 0x2a to the debug-exit port, which ends the VM with exit code
; (0x2a << 1) | 1 = 85. Built into an ELF at 1 MiB by tests/guests/build_guest.ts.
bits 64
section .text
global start

COM1      equ 0x3f8
LSR       equ COM1 + 5          ; line status register
LSR_THRE  equ 0x20              ; transmitter holding register empty
DEBUG_EXIT equ 0xf4

start:
    lea rsi, [rel message]
.next:
    lodsb
    test al, al
    jz .done
    mov bl, al
    mov dx, LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    mov al, bl
    mov dx, COM1
    out dx, al
    jmp .next
.done:
    mov al, 0x2a
    out DEBUG_EXIT, al
    hlt
    jmp .done

message: db "Hello from the guest", 10, 0
