; System registers and instructions at CPL 0 (Intel SDM Vol. 3A, chapters 2, 4 and 8, and the
; SDM Vol. 2 pages of the instructions), one case per build: tests/boot/system.test.ts
; assembles this file with -DCASE=NAME and runs each case on a fresh machine. system.mac builds
; the environment (its own paging structures, GDT, TSS and IDT); a case stores what it saw at
; SLOT(k) and exits with OK.
bits 64
section .text align=4096
global start

%ifndef CASE
%error CASE is required
%endif

%include "system.mac"

MSR_TSC     equ 0x10
MSR_EFER    equ 0xc0000080
MSR_LSTAR   equ 0xc0000082

MA          equ 0xaaaa00000000aaaa  ; at FRAME_A
MB          equ 0xbbbb00000000bbbb  ; at FRAME_B
W1          equ 0x1111000000001111  ; written through VPAGE before the remap
W2          equ 0x2222000000002222  ; and after
BIG_VA      equ 0xa00000            ; SYS_PD[5], a 2 MiB page
M5          equ 0x5555000000005555  ; at 0xa00010
M6          equ 0x6666000000006666  ; at 0xc00010
W3          equ 0x3333000000003333
CR4_PGE     equ 1 << 7
PG_G        equ 1 << 8

start:
    jmp system_setup

; REMAP flush: VPAGE maps FRAME_A; the case reads, writes and calls code through it so that
; each kind of access has a translation, points the PTE at FRAME_B, runs `flush`, and does the
; same again. SDM Vol. 3A, 4.10.4: after the invalidation, accesses use the new entry.
%macro REMAP 1+
    mov rax, MA
    mov [FRAME_A], rax
    mov rax, MB
    mov [FRAME_B], rax
    mov rax, 0x0000c3aaaa0001b8     ; mov eax, 0xaaaa0001; ret
    mov [FRAME_A + 0x100], rax
    mov rax, 0x0000c3bbbb0001b8     ; mov eax, 0xbbbb0001; ret
    mov [FRAME_B + 0x100], rax
    mov rax, [VPAGE]
    PUT 0, rax
    mov rax, W1
    mov [VPAGE + 8], rax
    mov rax, VPAGE + 0x100
    call rax
    PUT 1, rax
    mov qword [PTE1(VPAGE)], FRAME_B | PG_P | PG_RW
    %1
    mov rax, [VPAGE]
    PUT 2, rax
    mov rax, W2
    mov [VPAGE + 8], rax
    mov rax, VPAGE + 0x100
    call rax
    PUT 3, rax
    mov rax, [FRAME_A + 8]
    PUT 4, rax
    mov rax, [FRAME_B + 8]
    PUT 5, rax
%endmacro

run_case:
%ifidn CASE, SETUP
    ; What system.mac's setup left: LGDT/LIDT values read back, TR and its busy TSS, the
    ; accessed bits of the loaded descriptors, CR3.
    sgdt [SLOT(0x40)]
    sidt [SLOT(0x42)]
    str eax
    PUT 0, rax
    sldt eax
    PUT 1, rax
    movzx eax, byte [GDT + TSS_SEL + 5]
    PUT 2, rax
    movzx eax, byte [GDT + KCODE + 5]
    PUT 3, rax
    movzx eax, byte [GDT + KDATA + 5]
    PUT 4, rax
    movzx eax, byte [GDT + UCODE + 5]
    PUT 5, rax
    SREG rax, cs
    PUT 6, rax
    SREG rax, ds
    PUT 7, rax
    SREG rax, ss
    PUT 8, rax
    mov rax, cr3
    PUT 9, rax
    mov rax, cr0
    PUT 10, rax
    EXIT OK

%elifidn CASE, VERRW
    ; VERR and VERW (SDM Vol. 2): ZF = 1 when the segment is readable (writable) from CPL 0.
%macro VER 3                        ; k, VERR or VERW, selector
    mov eax, %3
    %2 ax
    setz al
    movzx eax, al
    PUT %1, rax
%endmacro
    VER 0, verr, KCODE              ; execute/read code: 1
    VER 1, verw, KCODE              ; code is never writable: 0
    VER 2, verr, KDATA              ; 1
    VER 3, verw, KDATA              ; 1
    VER 4, verr, UDATA_SEL | 3      ; DPL 3 >= CPL and RPL: 1
    VER 5, verw, TSS_SEL            ; a system segment: 0
    VER 6, verr, 0                  ; null: 0
    VER 7, verr, 0x100              ; beyond the GDT limit: 0
    EXIT OK

%elifidn CASE, CR3
    ; MOV to CR3 invalidates every non-global translation (SDM Vol. 3A, 4.10.4.1).
%macro RELOAD_CR3 0
    mov rax, cr3
    mov cr3, rax
%endmacro
    REMAP RELOAD_CR3
    EXIT OK

%elifidn CASE, INVLPG
    ; INVLPG invalidates the translations of the page holding its operand (4.10.4.1); any
    ; address in the page will do.
    REMAP invlpg [VPAGE + 0x234]
    ; A present entry made not present, then INVLPG: the access faults.
    mov qword [PTE1(VPAGE)], 0
    invlpg [VPAGE + 0xff8]
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(6)
    mov rax, [VPAGE + 0x10]
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, INVLPG_LARGE
    ; INVLPG of any address in a 2 MiB page invalidates the whole page's translation.
    mov rax, M5
    mov [BIG_VA + 0x10], rax
    mov rax, M6
    mov [0xc00000 + 0x10], rax
    mov rax, [BIG_VA + 0x10]
    PUT 0, rax
    mov qword [SYS_PD + 5 * 8], 0xc00000 | PG_P | PG_RW | PG_PS
    invlpg [BIG_VA + 0x1ff000]
    mov rax, [BIG_VA + 0x10]
    PUT 1, rax
    EXIT OK

%elifidn CASE, PGE
    ; Global pages (SDM Vol. 3A, 4.10.2.4, 4.10.4.1): with CR4.PGE = 1 a translation with G = 1
    ; may survive MOV to CR3, but a MOV to CR4 that changes PGE and INVLPG invalidate it.
    mov rax, MA
    mov [FRAME_A], rax
    mov rax, MB
    mov [FRAME_B], rax
    mov rax, cr4
    or rax, CR4_PGE
    mov cr4, rax
    mov qword [PTE1(VPAGE)], FRAME_A | PG_P | PG_RW | PG_G
    invlpg [VPAGE]
    mov rax, [VPAGE]
    PUT 0, rax                      ; MA
    mov qword [PTE1(VPAGE)], FRAME_B | PG_P | PG_RW | PG_G
    mov rax, cr3
    mov cr3, rax
    mov rax, [VPAGE]
    PUT 1, rax                      ; MA or MB: either is allowed
    mov rax, cr4
    and rax, ~CR4_PGE
    mov cr4, rax
    mov rax, [VPAGE]
    PUT 2, rax                      ; MB
    mov rax, cr4
    or rax, CR4_PGE
    mov cr4, rax
    mov qword [PTE1(VPAGE)], FRAME_A | PG_P | PG_RW | PG_G
    invlpg [VPAGE]
    mov rax, [VPAGE]
    PUT 3, rax                      ; MA
    mov qword [PTE1(VPAGE)], FRAME_B | PG_P | PG_RW | PG_G
    invlpg [VPAGE + 0x800]
    mov rax, [VPAGE]
    PUT 4, rax                      ; MB
    EXIT OK

%elifidn CASE, CR_RSVD
    ; MOV to CR0 and CR4 (SDM Vol. 2, MOV--Move to/from Control Registers; Vol. 3A, 2.5): a
    ; reserved bit, PG = 0 in IA-32e mode, NW = 1 with CD = 0 and PAE = 0 in IA-32e mode are
    ; #GP(0); CR1 is #UD. Nothing changes.
%macro BAD_CR 3+                    ; control register, k, what to change in RAX
    mov rax, %1
    %3
    RESUME %%next
    FLAGS FL_TEST
    MARK SLOT(%2)
    mov %1, rax
%%next:
%endmacro
    mov rax, cr0
    PUT 0x10, rax
    mov rax, cr4
    PUT 0x11, rax
    BAD_CR cr0, 0, bts rax, 32      ; bit 32: reserved
    BAD_CR cr0, 1, btr rax, 31      ; PG = 0 in 64-bit mode
    BAD_CR cr0, 2, bts rax, 29      ; NW = 1, CD = 0
    BAD_CR cr4, 3, bts rax, 32      ; bit 32: reserved
    BAD_CR cr4, 4, btr rax, 5       ; PAE = 0 in IA-32e mode
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(5)
    db 0x0f, 0x22, 0xc8             ; mov cr1, rax
    EXIT NO_FAULT
.after:
    mov rax, cr0
    PUT 0x12, rax
    mov rax, cr4
    PUT 0x13, rax
    EXIT OK

%elifidn CASE, WP
    ; CR0.WP decides whether supervisor writes honour R/W = 0 (SDM Vol. 3A, 4.6.1); MOV to
    ; CR0 changes it at run time.
    RESUME .wp0
    FLAGS FL_TEST
    MARK SLOT(0)
    mov qword [SRO + 8], 1
    EXIT NO_FAULT
.wp0:
    mov rax, cr0
    and rax, ~CR0_WP
    mov cr0, rax
    mov rax, cr0
    PUT 1, rax
    mov rax, W3
    mov [SRO + 8], rax              ; allowed now
    mov rax, [SRO + 8]
    PUT 2, rax
    mov rax, [PTE1(SRO)]
    PUT 3, rax
    mov rax, cr0
    or rax, CR0_WP
    mov cr0, rax
    mov rax, cr0
    PUT 4, rax
    RESUME .again
    FLAGS FL_TEST
    MARK SLOT(5)
    mov qword [SRO + 0x10], 2       ; the page that was just writable
    EXIT NO_FAULT
.again:
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(6)
    mov qword [SRO + 8], 3          ; the very address written with WP = 0
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, MSR_UNKNOWN
    ; RDMSR and WRMSR of an MSR the processor does not have are #GP(0) (SDM Vol. 2), and
    ; change nothing.
    mov rax, 0x1111
    mov rdx, 0x2222
    mov ecx, 0x12345
    RESUME .write
    FLAGS FL_TEST
    MARK SLOT(0)
    rdmsr
    EXIT NO_FAULT
.write:
    PUT 1, rax
    PUT 2, rdx
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(3)
    wrmsr
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, MSR_LSTAR
    ; WRMSR takes EDX:EAX and ECX (the high halves of RAX, RDX and RCX are ignored); RDMSR
    ; clears the high halves of RAX and RDX (SDM Vol. 2). A non-canonical IA32_LSTAR is
    ; #GP(0) and leaves the MSR alone.
    mov rcx, 0xffffffff00000000 | MSR_LSTAR
    mov rax, 0xdeadbeef12345678
    mov rdx, 0xcafebabeffff8000
    wrmsr
    mov rax, -1
    mov rdx, -1
    mov ecx, MSR_LSTAR
    rdmsr
    PUT 0, rax
    PUT 1, rdx
    mov ecx, MSR_LSTAR
    mov eax, 0
    mov edx, 0x00008000
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(2)
    wrmsr
    EXIT NO_FAULT
.after:
    mov ecx, MSR_LSTAR
    rdmsr
    PUT 3, rax
    PUT 4, rdx
    EXIT OK

%elifidn CASE, MSR_EFER
    ; IA32_EFER: LME and LMA read 1 in IA-32e mode; setting reserved bit 1 is #GP(0).
    mov ecx, MSR_EFER
    rdmsr
    PUT 0, rax
    PUT 1, rdx
    or eax, 2
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(2)
    wrmsr
    EXIT NO_FAULT
.after:
    mov ecx, MSR_EFER
    rdmsr
    PUT 3, rax
    EXIT OK

%elifidn CASE, RDTSC
    ; RDTSC: EDX:EAX, high halves of RAX and RDX cleared; the counter increases. WRMSR of
    ; IA32_TIME_STAMP_COUNTER sets it; RDMSR reads the same counter (SDM Vol. 3B, 18.17).
    mov rax, -1
    mov rdx, -1
    rdtsc
    PUT 0, rax
    PUT 1, rdx
    mov ecx, 1000
.spin:
    dec ecx
    jnz .spin
    mov rax, -1
    mov rdx, -1
    rdtsc
    PUT 2, rax
    PUT 3, rdx
    WRMSR_IMM MSR_TSC, 0x0000010000000000
    rdtsc
    PUT 4, rax
    PUT 5, rdx
    mov ecx, MSR_TSC
    rdmsr
    PUT 6, rax
    PUT 7, rdx
    EXIT OK

%elifidn CASE, FAR
    ; Far JMP, CALL and RET through m16:64 at the same privilege (SDM Vol. 2, JMP, CALL, RET):
    ; the target must be a code segment with DPL = CPL and RPL <= CPL when not conforming.
    FAR_PTR equ SLOT(0x20)
    lea rax, [rel .jumped]
    mov [FAR_PTR], rax
    mov word [FAR_PTR + 8], KCODE
    jmp far [FAR_PTR]
    EXIT NO_FAULT
.jumped:
    SREG rax, cs
    PUT 0, rax
    lea rax, [rel far_callee]
    mov [FAR_PTR], rax
    call far [FAR_PTR]
.returned:
    PUT 1, rsp
    lea rax, [rel .returned]
    PUT 2, rax
    mov word [FAR_PTR + 8], KCODE | 3
    RESUME .rpl
    FLAGS FL_TEST
    MARK SLOT(5)
    jmp far [FAR_PTR]               ; RPL 3 > CPL 0: #GP(0x10)
    EXIT NO_FAULT
.rpl:
    mov word [FAR_PTR + 8], UCODE
    RESUME .dpl
    FLAGS FL_TEST
    MARK SLOT(6)
    call far [FAR_PTR]              ; DPL 3 != CPL 0: #GP(0x30)
    EXIT NO_FAULT
.dpl:
    mov word [FAR_PTR + 8], KDATA
    RESUME .data
    FLAGS FL_TEST
    MARK SLOT(7)
    jmp far [FAR_PTR]               ; not a code segment: #GP(0x18)
    EXIT NO_FAULT
.data:
    EXIT OK

far_callee:
    mov rax, [rsp]
    PUT 3, rax
    mov rax, [rsp + 8]
    PUT 4, rax
    o64 retf

%elifidn CASE, LTR
    ; LTR needs an available TSS: the busy one is #GP(selector), so is a data segment; a null
    ; selector is #GP(0) (SDM Vol. 2, LTR).
    mov eax, TSS_SEL
    RESUME .busy
    FLAGS FL_TEST
    MARK SLOT(0)
    ltr ax
    EXIT NO_FAULT
.busy:
    mov eax, KDATA
    RESUME .data
    FLAGS FL_TEST
    MARK SLOT(1)
    ltr ax
    EXIT NO_FAULT
.data:
    mov eax, 0
    RESUME .null
    FLAGS FL_TEST
    MARK SLOT(2)
    ltr ax
    EXIT NO_FAULT
.null:
    EXIT OK

%else
%error unknown CASE
%endif

; No code of this guest runs at CPL 3.
    align 4096
user_begin:
user_end:
