; A guest whose every boot ends in a triple fault, which a PC answers with a reset: it prints
; a line on COM1, loads an IDT whose gates are all not present and executes UD2. Delivering
; the #UD faults (#NP), delivering that fault is a double fault, and the double fault cannot
; be delivered either (Intel SDM Vol. 3A, 6.15, Table 6-5): the CPU shuts down. vmd sees a
; guest that rebooted and starts it again, until its restart rate limit stops it.
bits 64
section .text
global start

%include "serial.mac"

start:
    lea rsi, [rel message]
    call puts
    lidt [rel idtr]
    ud2
    hlt

message: db "triple fault guest", 10, 0

align 8
idtr:
    dw 256 * 16 - 1             ; limit: all 256 gates, none of them present
    dq idt

section .bss
align 16
idt: resb 256 * 16
