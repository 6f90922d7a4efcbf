; Memory operands in 64-bit mode (Intel SDM Vol. 1, 3.7.5; Vol. 3A, 3.4.4; Vol. 2, PUSH, POP,
; XLAT, MOV moffs): SIB forms, RIP-relative, 32-bit address size, FS and GS bases, the bases
; of DS, ES and SS ignored, segment overrides on string instructions, accesses that cross a
; 4 KiB or 2 MiB boundary, and RSP as base or operand of PUSH and POP.
;
; tests/boot/operands.test.ts writes the data and sets the segment bases before the run
; (FS 0x310000, GS 0x320000, DS, ES and SS 0x330000); subtest k stores its result at
; RESULTS + k * 8, and the guest exits with 0x55.
bits 64
section .text
global start
[warning -prefix-seg]                   ; ES: and SS: below are meant: their bases must not count

RESULTS equ 0x2f0000
DATA    equ 0x300000

start:
    ; 1: base + index * 8 + displacement.
    mov rbx, DATA
    mov rsi, 3
    mov rax, [rbx + rsi * 8 + 0x10]
    mov [RESULTS + 1 * 8], rax

    ; 2: RIP-relative.
    mov rax, [rel constant]
    mov [RESULTS + 2 * 8], rax

    ; 3: 32-bit address size: the upper half of RBX does not take part.
    mov rbx, 0xffffffff00000000 | (DATA + 0x40)
    mov rax, [ebx]
    mov [RESULTS + 3 * 8], rax

    ; 4: 32-bit address size wraps at 4 GiB: 0xfffffff0 + 0x20 = 0x10.
    mov ebx, 0xfffffff0
    mov rax, [ebx + 0x20]
    mov [RESULTS + 4 * 8], rax

    ; 5, 6: FS and GS bases are added.
    mov ebx, 0x100
    mov rax, [fs:rbx]
    mov [RESULTS + 5 * 8], rax
    mov rax, [gs:rbx + 8]
    mov [RESULTS + 6 * 8], rax

    ; 7: DS, ES and SS bases are treated as 0: [rbx], [es:rbx] and [ss:rbx] read 0x100.
    mov rax, [rbx]
    mov [RESULTS + 7 * 8], rax
    mov rax, [es:rbx + 8]
    mov [RESULTS + 8 * 8], rax
    mov rax, [ss:rbx + 16]
    mov [RESULTS + 9 * 8], rax

    ; 10: xlatb reads [RBX + AL].
    mov rbx, DATA + 0x500
    mov rax, 0x1111111111111105
    xlatb
    mov [RESULTS + 10 * 8], rax

    ; 11, 12: reads that cross a 4 KiB and a 2 MiB boundary.
    mov rax, [DATA + 0xffc]
    mov [RESULTS + 11 * 8], rax
    mov rax, [0x3ffffc]
    mov [RESULTS + 12 * 8], rax

    ; 13: a write that crosses a 4 KiB boundary (checked in memory).
    mov rax, 0x8877665544332211
    mov [DATA + 0x1ffc], rax

    ; 14: PUSH with an RSP-based operand reads it before RSP moves.
    mov rbp, rsp
    push qword 0x1414
    push qword [rsp]
    pop rax
    mov [RESULTS + 14 * 8], rax
    mov rsp, rbp

    ; 15: POP to an RSP-based operand computes the address after RSP moves.
    push qword 0x15a
    push qword 0x15b
    pop qword [rsp]
    pop rax
    mov [RESULTS + 15 * 8], rax
    mov rax, rbp
    sub rax, rsp
    mov [RESULTS + 16 * 8], rax          ; 16: RSP is back where it started (0)
    mov rsp, rbp

    ; 17: PUSH RSP pushes the value RSP had before.
    push rsp
    pop rax
    sub rax, rbp
    mov [RESULTS + 17 * 8], rax          ; 0
    ; 18: POP RSP loads RSP from the stack; the increment is lost.
    lea rax, [rsp - 0x100]
    push rax
    pop rsp
    mov rax, rbp
    sub rax, rsp
    mov [RESULTS + 18 * 8], rax          ; 0x100
    mov rsp, rbp

    ; 19, 20: MOV with a 64-bit absolute address (moffs).
    mov rax, [qword DATA + 0x600]
    mov [RESULTS + 19 * 8], rax
    mov al, 0x20
    mov [qword DATA + 0x608], al

    ; 21: a negative displacement with a scaled index.
    mov rbx, DATA + 0x700
    mov rcx, 3
    mov rax, [rbx + rcx * 4 - 4]
    mov [RESULTS + 21 * 8], rax

    ; 22: LEA with a 32-bit operand truncates the address and zero-extends it.
    mov rbx, 0xfffffffffffffff0
    mov rcx, 0x20
    mov rax, -1
    lea eax, [rbx + rcx]
    mov [RESULTS + 22 * 8], rax

    ; 23: FS applies to the source of MOVS; 24: the destination is always ES (base 0).
    cld
    mov esi, 0x100
    mov rdi, DATA + 0x800
    mov ecx, 8
    fs rep movsb
    mov rdi, DATA + 0x900
    mov al, 0x77
    mov ecx, 4
    db 0x64                             ; FS: ignored for the destination of STOS
    rep stosb

    mov al, 0x55
    out 0xf4, al
    hlt

align 8
constant:
    dq 0x7e570000c0de0001
