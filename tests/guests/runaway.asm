; Jumps into guest-physical space past the end of RAM (identity-mapped, backed by nothing):
; the fetch reads the floating bus's all-ones bytes, which decode as an invalid FF /7.
bits 64
section .text
global start
start:
    mov rax, 0x40000000         ; 1 GiB: inside the identity map, past a 64 MiB guest's RAM
    jmp rax
