; Page-walk behaviour of 4-level paging (Intel SDM Vol. 3A, chapter 4), one case per build:
; tests/boot/paging.test.ts assembles this file with -DCASE=NAME and runs each case on a fresh
; machine. Every case first builds the guest's own paging structures (paging.mac):
;
;   PT[0]  FRAMES + 0x0000  P RW          read, then written
;   PT[1]  FRAMES + 0x1000  P RW          written, never read before
;   PT[2]  -                not present
;   PT[3]  FRAMES + 0x3000  P             read-only
;   PT[4]  FRAMES + 0x4000  P RW NX       execute-disable
;   PT[5]  FRAMES + 0x5000  P RW + bit MAXPHYADDR (reserved)
;   PT[6]  FRAMES + 0x6000  P RW          holds a copy of `stub`, called there
;   PD[4]  BIG_FRAME        P RW PS       a 2 MiB page
;   PD[5]  0x600000         P RW PS + bit 13 (reserved in a 2 MiB PDE)
;   PD[6]  -                not present
;   PML4[2] -> PDPT         P RW PS       (PS is reserved in a PML4E)
;
; Cases RO_UPPER and NX_UPPER add PML4[4] and PML4[3]: the same PDPT without R/W or with XD.
;
; No IDT delivery exists yet, so a fault ends the run: a case that expects one puts the address
; of the instruction that must fault in RBX just before it, and the test compares. A case that
; completes stores what it saw at RESULTS and exits with 0x55; one whose expected fault did not
; come exits with 0x7e.
bits 64
section .text
global start

%ifndef CASE
%define CASE AD
%endif

%include "paging.mac"

M0      equ 0x0123456789abcdef      ; at FRAMES + 0x0000, read through WINDOW
M3      equ 0x3333cccc3333cccc      ; at FRAMES + 0x3000 (the read-only page)
M4      equ 0x4444bbbb4444bbbb      ; at FRAMES + 0x4000 (the NX page)
MB      equ 0xb1b2b3b4b5b6b7b8      ; at BIG_FRAME + 0x1230
W0      equ 0x0f0e0d0c0b0a0908      ; written at WINDOW + 0x10
W1      equ 0x1f1e1d1c1b1a1918      ; written at WINDOW + 0x1020
WB      equ 0xbfbebdbcbbbab9b8      ; written at BIG + 0x1ff8
W3      equ 0x3f3e3d3c3b3a3938      ; written at WINDOW + 0x3008 (read-only)
STUB_RESULT equ 0x600d600d

OK      equ 0x55
NO_FAULT equ 0x7e

; Stores the 8 bytes at identity-mapped physical address %1 to RESULTS + %2. Clobbers RAX.
%macro SNAP 2
    mov rax, [%1]
    mov [RESULTS + %2], rax
%endmacro

start:
    call tables_clear
    mov rdi, RESULTS
    mov ecx, 512
.clear_results:
    mov qword [rdi], 0
    add rdi, 8
    dec ecx
    jnz .clear_results

    ; MAXPHYADDR (CPUID 80000008H:EAX[7:0]): bits 51:MAXPHYADDR of an entry are reserved.
    mov eax, 0x80000008
    cpuid
    movzx ecx, al
    mov [RESULTS + 0], rcx
    mov rdx, 1
    shl rdx, cl

    PTE 0, FRAMES + 0x0000 | PG_P | PG_RW
    PTE 1, FRAMES + 0x1000 | PG_P | PG_RW
    PTE 3, FRAMES + 0x3000 | PG_P
    PTE 4, FRAMES + 0x4000 | PG_P | PG_RW | PG_NX
    mov rax, FRAMES + 0x5000 | PG_P | PG_RW
    or rax, rdx
    mov [PT + 5 * 8], rax
    PTE 6, FRAMES + 0x6000 | PG_P | PG_RW
    PDE 4, BIG_FRAME | PG_P | PG_RW | PG_PS
    PDE 5, 0x600000 | PG_P | PG_RW | PG_PS | (1 << 13)
    mov rax, PDPT | PG_P | PG_RW | PG_PS
    mov [BOOT_PML4 + 2 * 8], rax

    ; The frames' contents, written through the identity map.
    mov rax, M0
    mov [FRAMES + 0x0000], rax
    mov rax, M3
    mov [FRAMES + 0x3000], rax
    mov rax, M4
    mov [FRAMES + 0x4000], rax
    mov rax, MB
    mov [BIG_FRAME + 0x1230], rax
    lea rsi, [rel stub]
    mov rdi, FRAMES + 0x6000
    mov ecx, stub_end - stub
.copy:
    mov al, [rsi]
    mov [rdi], al
    inc rsi
    inc rdi
    dec ecx
    jnz .copy

    call tables_install
    jmp run_case

; Called at WINDOW + 0x6000 (a copy); position-independent.
stub:
    mov eax, STUB_RESULT
    ret
stub_end:

run_case:
%ifidn CASE, AD
    ; A read sets A at every level of the walk and not D (SDM Vol. 3A, 4.8).
    mov rdx, WINDOW
    mov rax, [rdx]
    mov [RESULTS + 0x08], rax
    SNAP BOOT_PML4 + 1 * 8, 0x10
    SNAP PDPT + 2 * 8, 0x18
    SNAP PD + 3 * 8, 0x20
    SNAP PT + 0 * 8, 0x28
    ; A write sets D in the entry that maps the page.
    mov rax, W0
    mov [rdx + 0x10], rax
    SNAP PT + 0 * 8, 0x30
    ; A first access that is a write sets A and D together.
    mov rax, W1
    mov [rdx + 0x1020], rax
    SNAP PT + 1 * 8, 0x38
    ; The 2 MiB page: A on the read, D on the write, both in the PDE (PS = 1).
    mov rdx, BIG
    mov rax, [rdx + 0x1230]
    mov [RESULTS + 0x40], rax
    SNAP PD + 4 * 8, 0x48
    mov rax, WB
    mov [rdx + 0x1ff8], rax
    SNAP PD + 4 * 8, 0x50
    ; An instruction fetch sets A, not D.
    mov rax, WINDOW + 0x6000
    call rax
    mov [RESULTS + 0x58], rax
    SNAP PT + 6 * 8, 0x60
    ; Reading a read-only page and an NX page is allowed.
    mov rdx, WINDOW
    mov rax, [rdx + 0x3000]
    mov [RESULTS + 0x68], rax
    SNAP PT + 3 * 8, 0x70
    mov rax, [rdx + 0x4000]
    mov [RESULTS + 0x78], rax
    SNAP PT + 4 * 8, 0x80
    EXIT OK

%elifidn CASE, NP_READ
    mov rdx, WINDOW + 0x2010
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, NP_WRITE
    mov rdx, WINDOW + 0x2ff8
    lea rbx, [rel .fault]
.fault:
    mov [rdx], rdx
    EXIT NO_FAULT

%elifidn CASE, NP_FETCH
    mov rbx, WINDOW + 0x2000
    jmp rbx
    EXIT NO_FAULT

%elifidn CASE, NP_SPLIT
    ; 8 bytes from WINDOW + 0x1ffc: 4 on PT[1] (present), 4 on PT[2] (not present).
    mov rdx, WINDOW + 0x1ffc
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, NP_SPLIT_WRITE
    ; The same split for a write: the 4 bytes on the present page must stay unwritten.
    mov rdx, WINDOW + 0x1ffc
    mov rax, W1
    lea rbx, [rel .fault]
.fault:
    mov [rdx], rax
    EXIT NO_FAULT

%elifidn CASE, NP_FETCH_SPLIT
    ; MOV EAX, imm32 (5 bytes) at WINDOW + 0x1ffe: its last 3 bytes are on PT[2], not present.
    mov dword [FRAMES + 0x1ffe], 0x223344b8
    mov byte [FRAMES + 0x2002], 0x11
    mov rbx, WINDOW + 0x1ffe
    jmp rbx
    EXIT NO_FAULT

%elifidn CASE, NP_PDE
    ; PD[6] is not present: the walk stops at the page directory.
    mov rdx, BIG + 0x400000 + 0x18
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, NP_PML4
    ; Canonical (the upper half) but PML4[256] is not present: #PF, not #GP.
    mov rdx, 0xffff800000000000
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, RO_WRITE
    ; A supervisor write to a read-only page faults only when CR0.WP = 1 (SDM Vol. 3A, 4.6.1).
    mov rdx, WINDOW + 0x3000
    mov rax, [rdx]
    mov [RESULTS + 0x08], rax
    mov rax, W3
    lea rbx, [rel .fault]
.fault:
    mov [rdx + 8], rax
    mov rax, [rdx + 8]
    mov [RESULTS + 0x10], rax
    SNAP PT + 3 * 8, 0x18
    EXIT OK

%elifidn CASE, RO_RMW
    ; A read-modify-write of a read-only page faults as a write (W = 1).
    mov rdx, WINDOW + 0x3000
    mov eax, 1
    lea rbx, [rel .fault]
.fault:
    add [rdx + 0x10], eax
    EXIT NO_FAULT

%elifidn CASE, RO_PUSH
    ; A push onto a read-only page faults before RSP changes.
    mov rsp, WINDOW + 0x3010
    lea rbx, [rel .fault]
.fault:
    push rax
    EXIT NO_FAULT

%elifidn CASE, RO_CALL
    ; So does the push of the return address of a CALL: RIP and RSP stay at the call.
    mov rsp, WINDOW + 0x3010
    lea rbx, [rel .fault]
.fault:
    call .target
.target:
    EXIT NO_FAULT

%elifidn CASE, NP_POP
    ; A pop from a not-present page faults before RSP changes.
    mov rsp, WINDOW + 0x2008
    lea rbx, [rel .fault]
.fault:
    pop rax
    EXIT NO_FAULT

%elifidn CASE, RO_UPPER
    ; R/W = 0 in a PML4E makes everything below it read-only (SDM Vol. 3A, 4.6.1), though
    ; the PDPTE, PDE and PTE allow writes: PML4[4] -> the same PDPT, without R/W.
    mov rax, PDPT | PG_P
    mov [BOOT_PML4 + 4 * 8], rax
    mov rdx, 0x0000020080600000
    mov rax, [rdx]
    mov [RESULTS + 0x08], rax
    lea rbx, [rel .fault]
.fault:
    mov [rdx + 8], rax
    EXIT NO_FAULT

%elifidn CASE, NX_UPPER
    ; XD = 1 in a PML4E forbids fetches from everything below it (SDM Vol. 3A, 4.6.2):
    ; PML4[3] -> the same PDPT with XD; PT[6] (the stub, executable through PML4[1]).
    mov rax, PDPT | PG_P | PG_RW | PG_NX
    mov [BOOT_PML4 + 3 * 8], rax
    mov rdx, 0x0000018080606000
    mov rax, [rdx]
    mov [RESULTS + 0x08], rax
    mov rbx, rdx
    jmp rdx
    EXIT NO_FAULT

%elifidn CASE, NX
    ; Data reads of an NX page are allowed; fetches fault when EFER.NXE = 1. With NXE = 0,
    ; bit 63 is reserved, so already the read faults.
    mov rdx, WINDOW + 0x4000
    lea rbx, [rel .read]
.read:
    mov rax, [rdx]
    mov [RESULTS + 0x08], rax
    mov rbx, rdx
    jmp rdx
    EXIT NO_FAULT

%elifidn CASE, RSVD_READ
    mov rdx, WINDOW + 0x5008
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, RSVD_WRITE
    mov rdx, WINDOW + 0x5008
    lea rbx, [rel .fault]
.fault:
    mov [rdx], rdx
    EXIT NO_FAULT

%elifidn CASE, RSVD_FETCH
    mov rbx, WINDOW + 0x5000
    jmp rbx
    EXIT NO_FAULT

%elifidn CASE, RSVD_LARGE
    mov rdx, BIG + 0x200000 + 0x40
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, RSVD_PML4_PS
    ; PML4 index 2, PDPT index 2, PD index 3: the walk stops at the PML4E with PS = 1.
    mov rdx, 0x0000010080600000
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, NC_READ
    ; Bits 63:47 not all equal: #GP(0) before any page walk (SDM Vol. 3A, 6.15 "#GP").
    mov rdx, 0x0000800000000000
    lea rbx, [rel .fault]
.fault:
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, NC_WRITE
    mov rdx, 0xfff0000000000000
    lea rbx, [rel .fault]
.fault:
    mov [rdx], rax
    EXIT NO_FAULT

%elifidn CASE, NC_PUSH
    ; A stack access with a non-canonical address is #SS(0) (SDM Vol. 3A, 6.15 "#SS").
    mov rsp, 0x8000000000000000
    lea rbx, [rel .fault]
.fault:
    push rax
    EXIT NO_FAULT

%elifidn CASE, NC_RBP
    ; RBP as the base register makes SS the segment: #SS(0) too.
    mov rbp, 0x0000800000000000
    lea rbx, [rel .fault]
.fault:
    mov rax, [rbp + 8]
    EXIT NO_FAULT

%elifidn CASE, NC_JMP
    ; A near jump to a non-canonical target faults on the jump itself (SDM Vol. 2, JMP).
    mov rax, 0x0000800000000000
    lea rbx, [rel .fault]
.fault:
    jmp rax
    EXIT NO_FAULT

%else
%error unknown CASE
%endif
