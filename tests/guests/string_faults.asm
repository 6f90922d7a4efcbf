; Repeated string instructions that run into a not-present page, one case per build
; (-DCASE=NAME, run by tests/boot/string_faults.test.ts). A repeated string instruction is
; restartable: at the fault RCX, RSI and RDI reflect the iterations done and RIP is the
; instruction itself (SDM Vol. 2, REP: "the source and destination registers point to the next
; string elements to be operated on, the EIP register points to the string instruction, and
; the ECX register has the value it held following the last successful iteration").
;
; The guest's paging structures (paging.mac) map, in 4 KiB pages:
;
;   PT[0]       FRAMES + 0x0000  P RW
;   PT[1]       -                not present
;   PT[2]       FRAMES + 0x2000  P RW
;   PT[16..31]  FRAMES + 0x10000 ... 0x1f000  P RW (64 KiB, contiguous)
;   PT[32]      -                not present
;
; The test writes the source data before the run; the guest puts the address of the string
; instruction in RBX. A case whose fault did not come exits with 0x7e.
bits 64
section .text
global start

%ifndef CASE
%error CASE is required
%endif

%include "paging.mac"

SRC     equ 0x300000
DST     equ 0x310000
NO_FAULT equ 0x7e

start:
    call tables_clear
    PTE 0, FRAMES + 0x0000 | PG_P | PG_RW
    PTE 2, FRAMES + 0x2000 | PG_P | PG_RW
    mov ecx, 16
    mov rax, FRAMES + 0x10000 | PG_P | PG_RW
.map:
    mov [PT + rcx * 8], rax
    add rax, 0x1000
    inc ecx
    cmp ecx, 32
    jb .map
    call tables_install
    cld

%ifidn CASE, MOVSB_DST
    ; 12 bytes to WINDOW + 0xffb: 5 fit before the not-present page.
    mov rsi, SRC
    mov rdi, WINDOW + 0x0ffb
    mov rcx, 12
    lea rbx, [rel .fault]
.fault:
    rep movsb

%elifidn CASE, MOVSQ_DST
    ; 10 quadwords to WINDOW + 0xfe8: 3 fit.
    mov rsi, SRC
    mov rdi, WINDOW + 0x0fe8
    mov rcx, 10
    lea rbx, [rel .fault]
.fault:
    rep movsq

%elifidn CASE, MOVSQ_SPLIT
    ; The first quadword at WINDOW + 0xffc straddles into the not-present page: no iteration
    ; completes, and its 4 bytes on the present page stay unwritten.
    mov rsi, SRC
    mov rdi, WINDOW + 0x0ffc
    mov rcx, 3
    lea rbx, [rel .fault]
.fault:
    rep movsq

%elifidn CASE, MOVSB_SRC
    ; 8 bytes from WINDOW + 0xffd: 3 can be read.
    mov rsi, WINDOW + 0x0ffd
    mov rdi, DST
    mov rcx, 8
    lea rbx, [rel .fault]
.fault:
    rep movsb

%elifidn CASE, MOVSB_BACK
    ; DF = 1: 10 bytes down from WINDOW + 0x2003: 4 fit before the page below.
    std
    mov rsi, SRC + 3
    mov rdi, WINDOW + 0x2003
    mov rcx, 10
    lea rbx, [rel .fault]
.fault:
    rep movsb

%elifidn CASE, STOSQ_LONG
    ; 10000 quadwords from WINDOW + 0x10320: 8092 fit in the 64 KiB mapped there.
    mov rax, 0x5a5a5a5a00000000 | 0x12345678
    mov rsi, 0x1111
    mov rdi, WINDOW + 0x10320
    mov rcx, 10000
    lea rbx, [rel .fault]
.fault:
    rep stosq

%elifidn CASE, CMPSB_SRC
    ; repe cmpsb of 6 bytes from WINDOW + 0xffe against equal bytes: 2 compare equal, then
    ; the read of the third source byte faults.
    mov rsi, WINDOW + 0x0ffe
    mov rdi, DST
    mov rcx, 6
    lea rbx, [rel .fault]
.fault:
    repe cmpsb

%else
%error unknown CASE
%endif

    mov al, NO_FAULT
    out DEBUG_EXIT, al
    hlt
