; The benchmark loops as a guest: runs loop number LOOP (0 alu, 1 mem, 2 call, 3 string,
; 4 sieve) for ITERATIONS iterations over a buffer at 16 MiB, writes the checksum's low byte to
; COM1 and exits through the debug-exit port.
bits 64
section .text
global start
start:
    mov rdi, ITERATIONS
    mov rsi, 0x1000000
    mov rax, LOOP
    cmp rax, 0
    je .alu
    cmp rax, 1
    je .mem
    cmp rax, 2
    je .call
    cmp rax, 3
    je .string
    call bench_sieve
    jmp .done
.alu: call bench_alu
    jmp .done
.mem: call bench_mem
    jmp .done
.call: call bench_call
    jmp .done
.string: call bench_string
.done:
    mov dx, 0x3f8
    out dx, al
    mov al, 0
    out 0xf4, al
    hlt
%include "loops.inc"
