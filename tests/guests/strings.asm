; String instructions with and without REP (Intel SDM Vol. 2, MOVS, STOS, LODS, SCAS, CMPS and
; REP/REPE/REPNE): forward and backward, RCX = 0, overlapping copies, early REPE/REPNE stops
; and counts beyond 4096 iterations. tests/boot/strings.test.ts writes the inputs into memory
; before the run and checks the buffers and the records afterwards.
;
; Memory (identity-mapped): subtest k works on A + k * 0x1000 and B + k * 0x1000, the long
; ones on the 64 KiB areas from BIG_A on. After subtest k the guest stores RAX, RCX, RSI, RDI
; and RFLAGS at RECORDS + k * 64, then exits through the debug-exit port with 0x55.
bits 64
section .text
global start

RECORDS     equ 0x2f0000
A           equ 0x300000
B           equ 0x340000
BIG_A       equ 0x400000
BIG_B       equ 0x410000
BIG_C       equ 0x420000
BIG_D       equ 0x440000
BIG_E       equ 0x450000
BIG_F       equ 0x460000

; RFLAGS before a subtest: OF SF ZF AF PF CF set (no compare leaves SF and ZF both set), plus
; the always-one bit 1; FLAGS_DF adds DF.
FLAGS_ALL   equ 0x8d7
FLAGS_DF    equ FLAGS_ALL | 0x400

%define A_(k) (A + (k) * 0x1000)
%define B_(k) (B + (k) * 0x1000)

%macro SETFLAGS 1
    push %1
    popfq
%endmacro

; SAVE k: RAX, RCX, RSI, RDI, RFLAGS to RECORDS + k * 64. Changes no register or flag.
%macro SAVE 1
    mov [RECORDS + (%1) * 64 + 0], rax
    mov [RECORDS + (%1) * 64 + 8], rcx
    mov [RECORDS + (%1) * 64 + 16], rsi
    mov [RECORDS + (%1) * 64 + 24], rdi
    pushfq
    pop qword [RECORDS + (%1) * 64 + 32]
%endmacro

start:
    mov rax, 0x1111111111111111

    ; 1: rep movsb forward, 37 bytes.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(1) + 3
    mov rdi, B_(1) + 5
    mov rcx, 37
    rep movsb
    SAVE 1

    ; 2: rep movsq forward, 9 quadwords.
    mov rsi, A_(2) + 8
    mov rdi, B_(2) + 16
    mov rcx, 9
    rep movsq
    SAVE 2

    ; 3: rep movsb backward (DF = 1), 20 bytes ending at A + 40 and B + 60.
    SETFLAGS FLAGS_DF
    mov rsi, A_(3) + 40
    mov rdi, B_(3) + 60
    mov rcx, 20
    rep movsb
    SAVE 3

    ; 4: rep movsq backward, 5 quadwords ending at A + 80 and B + 96.
    mov rsi, A_(4) + 80
    mov rdi, B_(4) + 96
    mov rcx, 5
    rep movsq
    SAVE 4

    ; 5: rep stosb forward, 13 bytes of AL.
    SETFLAGS FLAGS_ALL
    mov rax, 0xffeeddccbbaa99ab
    mov rdi, B_(5) + 7
    mov rcx, 13
    rep stosb
    SAVE 5

    ; 6: rep stosq backward, 4 quadwords ending at B + 0x40.
    SETFLAGS FLAGS_DF
    mov rax, 0x1122334455667788
    mov rdi, B_(6) + 0x40
    mov rcx, 4
    rep stosq
    SAVE 6

    ; 7: rep lodsb forward, 5 bytes: AL ends with the last one, RAX's other bytes stay.
    SETFLAGS FLAGS_ALL
    mov rax, 0x1122334455667788
    mov rsi, A_(7) + 10
    mov rcx, 5
    rep lodsb
    SAVE 7

    ; 8: lodsq without REP, backward: RCX is not touched.
    SETFLAGS FLAGS_DF
    mov rsi, A_(8) + 0x20
    mov rcx, 0x1234
    lodsq
    SAVE 8

    ; 9: repne scasb for the NUL of "hello, world" (strlen), RCX = -1.
    SETFLAGS FLAGS_ALL
    mov eax, 0
    mov rdi, A_(9)
    mov rcx, -1
    repne scasb
    SAVE 9

    ; 10: repe scasb over "AAAAAAB": stops at the B.
    SETFLAGS FLAGS_ALL
    mov eax, 'A'
    mov rdi, A_(10)
    mov rcx, 20
    repe scasb
    SAVE 10

    ; 11: repe cmpsb, 16 bytes that differ first at index 7.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(11)
    mov rdi, B_(11)
    mov rcx, 16
    repe cmpsb
    SAVE 11

    ; 12: repe cmpsb, 16 equal bytes: runs out of count with ZF = 1.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(12)
    mov rdi, B_(12)
    mov rcx, 16
    repe cmpsb
    SAVE 12

    ; 13: repne cmpsb, 10 bytes that are equal first at index 5.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(13)
    mov rdi, B_(13)
    mov rcx, 10
    repne cmpsb
    SAVE 13

    ; 14-17: RCX = 0: nothing is read, written, compared or counted.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(14)
    mov rdi, B_(14)
    mov ecx, 0
    rep movsb
    SAVE 14
    mov rsi, A_(15)
    mov rdi, B_(15)
    repe cmpsb
    SAVE 15
    mov eax, 0xee
    mov rdi, B_(16)
    repne scasb
    SAVE 16
    mov rax, 0x2222222222222222
    mov rdi, B_(17)
    rep stosq
    SAVE 17

    ; 18: overlapping rep movsb forward, destination one byte above the source.
    mov rsi, A_(18)
    mov rdi, A_(18) + 1
    mov rcx, 16
    rep movsb
    SAVE 18

    ; 19: the same overlap backward (DF = 1): a move up by one byte.
    SETFLAGS FLAGS_DF
    mov rsi, A_(19) + 15
    mov rdi, A_(19) + 16
    mov rcx, 16
    rep movsb
    SAVE 19

    ; 20: overlapping rep movsq forward, destination 3 bytes above the source.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(20)
    mov rdi, A_(20) + 3
    mov rcx, 3
    rep movsq
    SAVE 20

    ; 21: overlapping rep movsb forward, destination 2 bytes below the source.
    mov rsi, A_(21) + 2
    mov rdi, A_(21)
    mov rcx, 10
    rep movsb
    SAVE 21

    ; 22: rep movsb, 10000 bytes.
    mov rsi, BIG_A
    mov rdi, BIG_B
    mov rcx, 10000
    rep movsb
    SAVE 22

    ; 23: rep stosq, 10000 quadwords.
    mov rax, 0x0123456789abcdef
    mov rdi, BIG_C
    mov rcx, 10000
    rep stosq
    SAVE 23

    ; 24: repe cmpsb over 10000 bytes that differ first at index 9000.
    mov rsi, BIG_A
    mov rdi, BIG_D
    mov rcx, 10000
    repe cmpsb
    SAVE 24

    ; 25: repne scasb over 10000 bytes for the one 0x5a, at index 8192.
    SETFLAGS FLAGS_ALL
    mov eax, 0x5a
    mov rdi, BIG_E
    mov rcx, 10000
    repne scasb
    SAVE 25

    ; 26: rep movsb backward, 10000 bytes.
    SETFLAGS FLAGS_DF
    mov rsi, BIG_A + 9999
    mov rdi, BIG_F + 9999
    mov rcx, 10000
    rep movsb
    SAVE 26

    ; 27: rep movsd forward, 5 doublewords.
    SETFLAGS FLAGS_ALL
    mov rsi, A_(27) + 4
    mov rdi, B_(27) + 8
    mov rcx, 5
    rep movsd
    SAVE 27

    ; 28: rep stosw backward, 3 words ending at B + 0x20.
    SETFLAGS FLAGS_DF
    mov rax, 0x333333333333beef
    mov rdi, B_(28) + 0x20
    mov rcx, 3
    rep stosw
    SAVE 28

    cld
    mov al, 0x55
    out 0xf4, al
    hlt
