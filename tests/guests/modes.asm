; Code of every size in one guest: from 64-bit mode it loads its own GDT, far-jumps into a
; 32-bit code segment (IA-32e compatibility mode), runs code whose bytes mean something else in
; 64-bit mode (0x40 is INC EAX here, a REX prefix there), a 16-bit-addressed load (67 prefix)
; and 32-bit stack operations, then far-jumps back to 64-bit code and exits through the debug
; port. The test checks the registers each mode left behind.
bits 64
section .text
global start

DATA16 equ 0x5000               ; a dword below 64 KiB for 16-bit addressing
SCRATCH equ 0x5100

start:
    lgdt [rel gdtr]
    ; Reload CS through a far return, then the data segments.
    push 0x08
    lea rax, [rel .cs64]
    push rax
    retfq
.cs64:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov dword [DATA16], 0x1234abcd
    mov rsp, 0x8ff0
    mov rdi, 0x1111111122222222 ; upper half must be cleared by 32-bit writes
    jmp far [rel to32]          ; REX.W FF /5: m16:64

bits 32
code32:
    mov eax, 5
    db 0x40                     ; INC EAX in 32-bit mode (a REX prefix in 64-bit mode)
    push eax
    pop ebx                     ; 32-bit stack: EBX = 6
    mov bx, DATA16 - 0x100
    mov si, 0x100
    a16 mov ecx, [bx+si]        ; 16-bit addressing: ECX = 0x1234abcd
    mov ebx, 6
    mov edi, 7                  ; a 32-bit write zero-extends into RDI in 64-bit terms
    mov [SCRATCH], esp          ; where the 32-bit stack pointer stood
    jmp far [to64]              ; FF /5 in 32-bit code: m16:32

bits 64
back64:
    mov al, 0x21
    out 0xf4, al
    hlt

align 8
gdt:
    dq 0
    dq 0x00af9a000000ffff       ; 0x08: 64-bit code, DPL 0
    dq 0x00cf92000000ffff       ; 0x10: data, 4 GiB, DPL 0
    dq 0x00cf9a000000ffff       ; 0x18: 32-bit code, 4 GiB, DPL 0
gdt_end:
gdtr:
    dw gdt_end - gdt - 1
    dq gdt
to32:
    dq code32
    dw 0x18
to64:
    dd back64
    dw 0x08
