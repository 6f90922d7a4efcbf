; Jumps to a canonical address the boot page tables do not map (they cover 4 GiB): the fetch
; page-faults with the instruction-fetch bit set in the error code.
bits 64
section .text
global start
start:
    mov rax, 0x200000000        ; 8 GiB
    jmp rax
