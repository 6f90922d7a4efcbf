; A guest that keeps time on COM1: every TICK_NS nanoseconds of its TSC (the engine counts the
; machine's virtual clock at 1 GHz) it prints "tick " and the TSC in 16 hex digits, forever,
; with interrupts off and no IDT. tests/vm/vm_process.test.ts pauses it and reads, from the
; TSC values, that no guest time passed while it was paused.
bits 64
section .text
global start

%include "serial.mac"

%ifndef TICK_NS
TICK_NS   equ 20000000          ; 20 ms
%endif

start:
.tick:
    rdtsc
    shl rdx, 32
    or rax, rdx
    mov r12, rax                ; when this tick began
    lea rsi, [rel prefix]
    call puts
    mov rbx, r12
    mov ecx, 16
    lea rdi, [rel digits]
.digit:
    rol rbx, 4
    mov eax, ebx
    and eax, 0xf
    mov al, [rdi + rax]
    call putc
    dec ecx
    jnz .digit
    mov al, 10
    call putc
.delay:
    rdtsc
    shl rdx, 32
    or rax, rdx
    sub rax, r12
    cmp rax, TICK_NS
    jb .delay
    jmp .tick

prefix: db "tick ", 0
digits: db "0123456789abcdef"
