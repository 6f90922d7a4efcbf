; Interrupt and exception delivery in IA-32e mode (Intel SDM Vol. 3A, chapter 6), one case per
; build: tests/boot/interrupts.test.ts assembles this file with -DCASE=NAME and runs each case
; on a fresh machine. system.mac builds the GDT, TSS, IDT and paging structures and records
; every event its handlers see; a case stores addresses and values the test needs at SLOT(k).
bits 64
section .text align=4096
global start

%ifndef CASE
%error CASE is required
%endif

%include "system.mac"

TICKS       equ SLOT(0)
TIMEOUT     equ 0x7d                ; the test's watchdog interrupt came first

start:
    jmp system_setup

run_case:
%ifidn CASE, DE
    ; DIV by 0: #DE, a fault without error code; the saved RIP is the DIV's (6.15, Table 6-1).
    mov eax, 1234
    xor edx, edx
    xor ecx, ecx
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    div ecx
    EXIT NO_FAULT
.after:
    PUT 1, rax                      ; the faulting DIV wrote nothing
    PUT 2, rsp
    EXIT OK

%elifidn CASE, UD
    ; UD2: #UD, a fault without error code at the UD2.
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    ud2
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, GP_NC
    ; A read and a write at non-canonical addresses: #GP(0) at the access (6.15 "#GP").
    mov rdx, NONCANONICAL
    RESUME .write
    FLAGS FL_TEST
    MARK SLOT(0)
    mov rax, [rdx]
    EXIT NO_FAULT
.write:
    mov rcx, 0xfff0000000000000
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(1)
    mov [rcx + 8], rax
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, PF
    ; A read, a write and a fetch of a not-present page: #PF with error codes 0, W and I (NXE
    ; is set) and CR2 the linear address (4.7); the handler reads CR2.
    RESUME .write
    FLAGS FL_TEST
    MARK SLOT(0)
    mov rax, [HOLE + 0x18]
    EXIT NO_FAULT
.write:
    RESUME .fetch
    FLAGS FL_TEST
    MARK SLOT(1)
    mov [HOLE + 0xff8], rax
    EXIT NO_FAULT
.fetch:
    RESUME .after
    mov rax, HOLE + 0x100
    FLAGS FL_TEST
    jmp rax
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, SOFT
    ; INT3, INT n: traps whose saved RIP is the next instruction's (6.4.2, 6.5). INT n to a
    ; vector whose exception has an error code pushes none (6.4.2): gate 13 leads to a stub
    ; that expects none.
    GATE 13, stub13_nocode, INTR_GATE, 0
    lea r14, [rel .bp]
    PUT 0, r14
    lea r14, [rel .after_bp]
    PUT 1, r14
    lea r14, [rel .int80]
    PUT 2, r14
    lea r14, [rel .after_int80]
    PUT 3, r14
    lea r14, [rel .int13]
    PUT 4, r14
    lea r14, [rel .after_int13]
    PUT 5, r14
    FLAGS FL_TEST
.bp:
    int3
.after_bp:
    FLAGS FL_TEST
.int80:
    int 0x80
.after_int80:
    RESUME .after_int13             ; the handler takes vector 13 for a fault
    FLAGS FL_TEST
.int13:
    int 13
.after_int13:
    PUT 6, rsp
    EXIT OK

stub13_nocode:
    push qword NO_CODE
    push qword 13
    jmp isr_common

%elifidn CASE, ALIGN
    ; The processor aligns RSP to 16 bytes before it pushes the frame (6.14.2); IRETQ puts
    ; back the RSP from before.
    mov rsp, STACK_TOP - 0x108      ; 8 mod 16
    FLAGS FL_TEST
    int 0x80
    PUT 1, rsp
    mov rsp, STACK_TOP - 0x204      ; 4 mod 16
    FLAGS FL_TEST
    int 0x80
    PUT 2, rsp
    ; An exception with an error code: #GP(0) with RSP 8 mod 16.
    mov rsp, STACK_TOP - 0x308
    mov rdx, NONCANONICAL
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(3)
    mov rax, [rdx]
    EXIT NO_FAULT
.after:
    PUT 4, rsp
    mov rsp, STACK_TOP
    EXIT OK

%elifidn CASE, IST
    ; A gate that names IST n switches to TSS.ISTn even without a privilege change (6.14.5).
    GATE 0x80, STUB(0x80), INTR_GATE, 1
    GATE 6, STUB(6), INTR_GATE, 2
    FLAGS FL_TEST
    int 0x80
    PUT 1, rsp
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(2)
    ud2
    EXIT NO_FAULT
.after:
    PUT 3, rsp
    EXIT OK

%elifidn CASE, IF_GATES
    ; An interrupt gate clears IF, a trap gate leaves it (6.12.1.3); IRETQ restores it.
    FLAGS FL_TEST | FL_IF
    int 0x80
    pushfq
    pop rax
    PUT 0, rax
    GATE 0x80, STUB(0x80), TRAP_GATE, 0
    FLAGS FL_TEST | FL_IF
    int 0x80
    pushfq
    pop rax
    PUT 1, rax
    FLAGS FL_TEST
    int 0x80
    EXIT OK

%elifidn CASE, NP_BENIGN
    ; #UD through a not-present gate: #NP with error code 6 * 8 + IDT (2) + EXT (1), handled
    ; serially (a benign exception, then a contributory one: Table 6-5), at the UD2.
    GATE 6, STUB(6), INTR_GATE & ~GATE_P, 0
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    ud2
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, INT_NP
    ; INT n through a not-present gate: #NP(0x80 * 8 + IDT), EXT = 0 for a software
    ; interrupt (6.13), saved RIP the INT instruction's (a fault of the INT).
    GATE 0x80, STUB(0x80), INTR_GATE & ~GATE_P, 0
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    int 0x80
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, INT_BADCS
    ; A gate whose selector names a data segment: #GP(selector + EXT) (SDM Vol. 2, INT n).
    mov word [IDT + 0x80 * 16 + 2], KDATA
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    int 0x80
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, INT_BADTYPE
    ; An IDT entry that is not a 64-bit interrupt or trap gate (here type 12, a call gate):
    ; #GP(vector * 8 + IDT + EXT) (SDM Vol. 2, INT n; 6.14.1).
    GATE 0x80, STUB(0x80), GATE_P | 0x0c, 0
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    int 0x80
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, IDT_LIMIT
    ; A vector beyond the IDT limit: #GP(vector * 8 + IDT + EXT) (6.10).
    sub rsp, 16
    mov word [rsp], 0x80 * 16 - 1   ; vectors 0 to 0x7f
    mov qword [rsp + 2], IDT
    lidt [rsp]
    add rsp, 16
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    int 0x80
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, DF_PF_NP
    ; #PF through a not-present gate: #NP while delivering #PF is #DF (Table 6-5: a page
    ; fault, then a contributory exception).
    GATE 14, STUB(14), INTR_GATE & ~GATE_P, 0
    GATE 8, STUB(8), INTR_GATE, 1
    FLAGS FL_TEST
    mov rax, [HOLE]
    EXIT NO_FAULT

%elifidn CASE, IRET_NT
    ; IRETQ with RFLAGS.NT = 1 in IA-32e mode is #GP(0) (SDM Vol. 2, IRET: task returns do
    ; not exist in IA-32e mode).
    RESUME .after
    FLAGS FL_TEST | FL_NT
    MARK SLOT(0)
    iretq
    EXIT NO_FAULT
.after:
    FLAGS FL_FIXED
    EXIT OK

%elifidn CASE, DF_CONTRIB
    ; #GP through a not-present gate: #NP while delivering #GP, both contributory: #DF with
    ; error code 0 (Table 6-5, 6.15 "#DF"), here on IST1.
    GATE 13, STUB(13), INTR_GATE & ~GATE_P, 0
    GATE 8, STUB(8), INTR_GATE, 1
    mov rdx, NONCANONICAL
    FLAGS FL_TEST
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, DF_PF
    ; A #PF whose handler stack (IST2) is not present: a #PF while delivering a #PF is #DF.
    GATE 14, STUB(14), INTR_GATE, 2
    mov rax, HOLE + 0x1000
    mov [TSS + 0x2c], rax           ; IST2
    GATE 8, STUB(8), INTR_GATE, 1
    FLAGS FL_TEST
    mov rax, [HOLE + 0x40]
    EXIT NO_FAULT

%elifidn CASE, TRIPLE_PF
    ; As DF_PF, with the #DF stack (IST3) not present either: a fault while delivering #DF
    ; shuts the processor down (6.15 "#DF", triple fault).
    GATE 14, STUB(14), INTR_GATE, 2
    mov rax, HOLE + 0x1000
    mov [TSS + 0x2c], rax           ; IST2
    GATE 8, STUB(8), INTR_GATE, 3
    mov rax, HOLE + 0x800
    mov [TSS + 0x34], rax           ; IST3
    mov rax, [HOLE + 0x40]
    EXIT NO_FAULT

%elifidn CASE, TRIPLE_NP
    ; #GP and #DF gates not present: #GP, #NP (#DF), #NP while delivering #DF: shutdown.
    GATE 13, STUB(13), INTR_GATE & ~GATE_P, 0
    GATE 8, STUB(8), INTR_GATE & ~GATE_P, 0
    mov rdx, NONCANONICAL
    mov rax, [rdx]
    EXIT NO_FAULT

%elifidn CASE, TIMER
    ; External interrupts: the 8259A pair programmed as a PC BIOS does, the 8254's counter 0 at
    ; about 1 kHz, HLT until the handler has counted 5 ticks. IF is 1 only from STI to right
    ; after HLT (STI's shadow covers the HLT), so every tick is taken at the HLT's next
    ; instruction. IR1 is unmasked for the test's watchdog, which ends the run if no tick comes.
    GATE 0x20, timer_isr, INTR_GATE, 0
    GATE 0x21, watchdog_isr, INTR_GATE, 0
    TIMER_1KHZ
    rdtsc
    shl rdx, 32
    or rax, rdx
    PUT 1, rax
    lea r14, [rel .after_hlt]
    PUT 2, r14
.wait:
    sti
    hlt
.after_hlt:
    cli
    cmp qword [TICKS], 5
    jb .wait
    rdtsc
    shl rdx, 32
    or rax, rdx
    PUT 3, rax
    EXIT OK

timer_isr:
    push qword NO_CODE
    push qword 0x20
    push rbp
    push rax
    lea rbp, [rsp + 16]
    call record_event
    inc qword [TICKS]
    cmp qword [TICKS], 5
    jb .eoi
    mov al, 0xff                    ; OCW1: mask everything after the fifth tick
    out 0x21, al
.eoi:
    mov al, 0x20                    ; OCW2: non-specific EOI
    out 0x20, al
    pop rax
    pop rbp
    add rsp, 16
    iretq

%elifidn CASE, TIMER_NP
    ; The timer's gate not present: #NP with error code 0x20 * 8 + IDT + EXT (an external
    ; event: 6.13), saved RIP the instruction after HLT.
    GATE 0x20, STUB(0x20), INTR_GATE & ~GATE_P, 0
    GATE 0x21, watchdog_isr, INTR_GATE, 0
    TIMER_1KHZ
    lea r14, [rel .after_hlt]
    PUT 2, r14
    RESUME .after
    sti
    hlt
.after_hlt:
    EXIT NO_FAULT
.after:
    cli
    EXIT OK

%else
%error unknown CASE
%endif

watchdog_isr:
    EXIT TIMEOUT

; No code of this guest runs at CPL 3.
    align 4096
user_begin:
user_end:
