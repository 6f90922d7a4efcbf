; Privilege levels (Intel SDM Vol. 3A, chapters 5 and 6, and the SDM Vol. 2 pages of IRET,
; SYSCALL, SYSRET and SWAPGS), one case per build: tests/boot/privilege.test.ts assembles this
; file with -DCASE=NAME and runs each case on a fresh machine. system.mac builds the
; environment; a case enters CPL 3 with IRETQ (TO_USER) at code between user_begin and user_end,
; whose pages alone are user pages, and leaves it through a gate or SYSCALL. CPL 0 code stores at
; SLOT(k), CPL 3 code at USLOT(k).
bits 64
section .text align=4096
global start

%ifndef CASE
%error CASE is required
%endif

%include "system.mac"

MSR_EFER    equ 0xc0000080
MSR_STAR    equ 0xc0000081
MSR_LSTAR   equ 0xc0000082
MSR_SFMASK  equ 0xc0000084
MSR_FS_BASE equ 0xc0000100
MSR_GS_BASE equ 0xc0000101
MSR_KERNEL_GS_BASE equ 0xc0000102
USER_FLAGS  equ FL_FIXED | FL_CF | FL_PF | FL_ZF | FL_SF | FL_IF | FL_DF
SFMASK      equ FL_TF | FL_IF | FL_DF | FL_NT | FL_AC
SYSRET_R11  equ 0x30000 | FL_FIXED | FL_CF | FL_ZF | FL_SF | FL_IF | FL_OF    ; RF, VM too

start:
    jmp system_setup

run_case:
%ifidn CASE, U_ENTER
    ; IRETQ to CPL 3; DS, ES, FS and GS hold the DPL 0 data segment, which CPL 3 may not use.
    TO_USER u_enter, FL_FIXED | FL_IF

%elifidn CASE, U_PF
    ; Page-level protection at CPL 3 (SDM Vol. 3A, 4.6, 4.7).
    lea rax, [rel kernel_only]
    PUT 0, rax
    TO_USER u_pf, FL_FIXED | FL_IF

kernel_only:
    EXIT UNEXPECTED

%elifidn CASE, U_PRIV
    ; Privileged instructions at CPL 3 are #GP(0) (SDM Vol. 3A, 5.9); I/O with CPL > IOPL and
    ; no I/O permission bitmap too (SDM Vol. 1, 19.5). IF is 0, so a HLT that did not fault
    ; would stop the machine rather than wait.
    sgdt [UDATA + 0x100]
    sidt [UDATA + 0x110]
    TO_USER u_priv, FL_FIXED

%elifidn CASE, U_INT
    ; INT n from CPL 3 (SDM Vol. 3A, 6.12.1.1, 6.14): through a DPL 3 gate, to CPL 0 on
    ; TSS.RSP0 (or IST1), the user SS:RSP in the frame; through a DPL 0 gate, #GP with the
    ; gate's error code.
    GATE 0x80, STUB(0x80), INTR_GATE | GATE_DPL3, 0
    GATE 0x83, STUB(0x83), INTR_GATE | GATE_DPL3, 1
    GATE 0x84, STUB(0x84), TRAP_GATE | GATE_DPL3, 0
    TO_USER u_int, FL_FIXED | FL_IF

%elifidn CASE, U_IOPL
    ; IRETQ from CPL 0 may set IOPL (SDM Vol. 2, IRET); with CPL <= IOPL, CLI and I/O are
    ; allowed at CPL 3 (SDM Vol. 3A, 2.8, 6.8.1), and POPFQ may change IF but not IOPL.
    TO_USER u_iopl, FL_FIXED | FL_IF | (3 << 12)

%elifidn CASE, U_IRET
    ; IRETQ and POPFQ at CPL 3 with IOPL 0: IF and IOPL keep their values (CPL > IOPL,
    ; CPL != 0).
    TO_USER u_iret, FL_FIXED | FL_IF

%elifidn CASE, U_SEGS
    ; Segment loads at CPL 3 (SDM Vol. 2, MOV; Vol. 3A, 5.6, 5.7): data segments need
    ; DPL >= max(CPL, RPL); SS needs a writable data segment with RPL = DPL = CPL and no null
    ; selector at CPL 3; a system segment is #GP(selector) in any of them.
    TO_USER u_segs, FL_FIXED | FL_IF

%elifidn CASE, U_TIMER
    ; An external interrupt at CPL 3: delivered on TSS.RSP0 with the user SS:RSP in the
    ; frame, the saved RIP in the user's loop.
    GATE 0x20, timer_isr_user, INTR_GATE, 0
    TIMER_1KHZ
    lea rax, [rel u_timer.loop]
    PUT 0, rax
    lea rax, [rel u_timer.loop_end]
    PUT 1, rax
    TO_USER u_timer, FL_FIXED | FL_IF

timer_isr_user:
    push qword NO_CODE
    push qword 0x20
    push rbp
    push rax
    lea rbp, [rsp + 16]
    call record_event
    inc qword [USLOT(0x20)]
    cmp qword [USLOT(0x20)], 5
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

%elifidn CASE, IRET_BADSS
    ; IRETQ to CPL 3 with an SS that CPL 3 may not use (DPL 0 data, RPL 3): #GP(selector) at
    ; the IRETQ, which has changed nothing: CS, RSP and CPL are the ones from before (SDM
    ; Vol. 2, IRET; Vol. 3A, 6.5: a fault restores the state before the instruction).
    FLAGS FL_TEST
    push qword KDATA | 3
    push qword USTACK_TOP
    push qword FL_FIXED | FL_IF
    push qword UCODE | 3
    lea rax, [rel u_iret_badss]
    push rax
    RESUME .after
    MARK SLOT(0)
    iretq
    EXIT NO_FAULT
.after:
    SREG rax, cs
    PUT 1, rax
    PUT 2, rsp
    EXIT OK

%elifidn CASE, SYSCALL_RPL
    ; SYSCALL clears the RPL of STAR[47:32] for CS but not for SS (SDM Vol. 2, SYSCALL:
    ; "CS.Selector <- IA32_STAR[47:32] AND FFFCH", "SS.Selector <- IA32_STAR[47:32] + 8").
    WRMSR_IMM MSR_STAR, (KCODE | 3) << 32
    lea rax, [rel .entry]
    mov rdx, rax
    shr rdx, 32
    mov ecx, MSR_LSTAR
    wrmsr
    syscall
    EXIT NO_FAULT
.entry:
    SREG rax, cs
    PUT 0, rax
    SREG rax, ss
    PUT 1, rax
    EXIT OK

%elifidn CASE, SYSCALL
    ; SYSCALL and SYSRET (SDM Vol. 2): EFER.SCE, STAR, LSTAR and SFMASK set with WRMSR.
    mov ecx, MSR_EFER
    rdmsr
    or eax, 1                       ; SCE
    wrmsr
    WRMSR_IMM MSR_STAR, ((UCODE32 | 3) << 48) | (KCODE << 32)
    lea rax, [rel syscall_entry]
    mov rdx, rax
    shr rdx, 32
    mov ecx, MSR_LSTAR
    wrmsr
    WRMSR_IMM MSR_SFMASK, SFMASK
    lea rax, [rel u_syscall.back]
    PUT 0, rax
    TO_USER u_syscall, FL_FIXED | FL_IF

syscall_entry:
    PUT 1, rcx
    PUT 2, r11
    PUT 3, rsp
    SREG rax, cs
    PUT 4, rax
    SREG rax, ss
    PUT 5, rax
    pushfq
    pop rax
    PUT 6, rax
    mov r11, SYSRET_R11
    o64 sysret

%elifidn CASE, SCE_OFF
    ; SYSCALL with EFER.SCE = 0 is #UD.
    mov ecx, MSR_EFER
    rdmsr
    and eax, ~1
    wrmsr
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    syscall
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, SYSRET_NC
    ; SYSRET to a non-canonical RCX is #GP(0) at CPL 0 (SDM Vol. 2, SYSRET).
    mov rcx, NONCANONICAL
    RESUME .after
    FLAGS FL_TEST
    MARK SLOT(0)
    o64 sysret
    EXIT NO_FAULT
.after:
    EXIT OK

%elifidn CASE, SWAPGS
    ; SWAPGS exchanges GS.base with IA32_KERNEL_GS_BASE (SDM Vol. 2, SWAPGS); WRMSR and RDMSR
    ; of IA32_FS_BASE and IA32_GS_BASE are the segment bases (SDM Vol. 3A, 3.4.4).
    mov rax, 0x1111222233334444
    mov [FRAME_A], rax
    mov rax, 0x5555666677778888
    mov [FRAME_B], rax
    mov rax, 0x9999aaaabbbbcccc
    mov [FRAME_B + 8], rax
    WRMSR_IMM MSR_GS_BASE, FRAME_A
    WRMSR_IMM MSR_KERNEL_GS_BASE, FRAME_B
    mov rax, [gs:0]
    PUT 0, rax
    swapgs
    RDMSR_TO 1, MSR_GS_BASE
    RDMSR_TO 2, MSR_KERNEL_GS_BASE
    mov rax, [gs:0]
    PUT 3, rax
    swapgs
    RDMSR_TO 4, MSR_GS_BASE
    RDMSR_TO 5, MSR_KERNEL_GS_BASE
    WRMSR_IMM MSR_FS_BASE, FRAME_B
    mov rax, [fs:8]
    PUT 6, rax
    ; MOV to GS loads the base from the descriptor: 0.
    mov eax, KDATA
    mov gs, ax
    RDMSR_TO 7, MSR_GS_BASE
    RDMSR_TO 8, MSR_KERNEL_GS_BASE
    EXIT OK

%else
%error unknown CASE
%endif

; --- CPL 3 ---------------------------------------------------------------------------------
    align 4096
user_begin:

%ifidn CASE, U_ENTER
u_enter:
    mov [USLOT(0)], rsp
    pushfq
    pop rax
    mov [USLOT(1)], rax
    SREG rax, cs
    mov [USLOT(2)], rax
    SREG rax, ss
    mov [USLOT(3)], rax
    SREG rax, ds
    mov [USLOT(4)], rax
    SREG rax, es
    mov [USLOT(5)], rax
    SREG rax, fs
    mov [USLOT(6)], rax
    SREG rax, gs
    mov [USLOT(7)], rax
    ; A null DS does not fault in 64-bit mode (SDM Vol. 3A, 5.4.1.1).
    mov rax, [UDATA + 0x800]
    mov [USLOT(8)], rax
    int EXIT_VECTOR

%elifidn CASE, U_PF
u_pf:
    RESUME .r1
    MARK USLOT(0)
    mov rax, [SRO]                  ; a supervisor page: P|U
.r1:
    RESUME .r2
    MARK USLOT(1)
    mov [URO + 8], rax              ; a read-only user page: P|W|U
.r2:
    RESUME .r3
    MARK USLOT(2)
    mov rax, [HOLE + 0x10]          ; not present: U
.r3:
    RESUME .r4
    lea rax, [rel kernel_only]
    jmp rax                         ; a fetch from a supervisor page: P|U|I at the target
.r4:
    mov rax, [URO]                  ; reads of the read-only user page are allowed
    mov [USLOT(3)], rax
    int EXIT_VECTOR

%elifidn CASE, U_PRIV
; PRIV k, instruction: the instruction must be #GP(0); its address goes to USLOT(k).
%macro PRIV 2+
    RESUME %%next
    MARK USLOT(%1)
    %2
%%next:
%endmacro
u_priv:
    ; The operands are what each instruction would load at CPL 0 without a fault of its own.
    mov ecx, MSR_EFER
    mov eax, 0xd01                  ; EFER as it is (SCE, LME, LMA, NXE)
    mov edx, 0
    mov rsi, SYS_PML4               ; CR3 as it is
    mov edi, 0x400                  ; DR7's reset value
    mov ebp, 0x33                   ; CR0[15:0] as it is
    mov r8d, TSS_SEL
    PRIV 0, hlt
    PRIV 1, cli
    PRIV 2, sti
    PRIV 3, rdmsr
    PRIV 4, wrmsr
    PRIV 5, swapgs
    PRIV 6, mov rbx, cr0
    PRIV 7, mov cr3, rsi
    PRIV 8, lgdt [UDATA + 0x100]
    PRIV 9, lidt [UDATA + 0x110]
    PRIV 10, invlpg [UDATA]
    PRIV 11, out 0x80, al
    PRIV 12, in al, 0x80
    PRIV 13, wbinvd
    PRIV 14, clts
    PRIV 15, mov rbx, dr7
    PRIV 16, mov dr7, rdi
    PRIV 17, lmsw bp
    PRIV 18, ltr r8w
    lea rcx, [rel .after_sysret]
    PRIV 19, o64 sysret
.after_sysret:
    ; IRETQ may not return to an inner privilege level: #GP(selector) (SDM Vol. 2, IRET).
    push qword KDATA
    push qword USTACK_TOP
    push qword FL_FIXED
    push qword KCODE
    lea rbx, [rel .after_iret]
    push rbx
    RESUME .after_iret
    MARK USLOT(20)
    iretq
.after_iret:
    mov rsp, USTACK_TOP
    ; Allowed at CPL 3 while CR4.UMIP = 0: SGDT, SIDT, STR, SMSW.
    sgdt [UDATA + 0x200]
    sidt [UDATA + 0x210]
    str ebx
    mov [USLOT(0x48)], rbx
    smsw ebx
    mov [USLOT(0x49)], rbx
    int EXIT_VECTOR

%elifidn CASE, U_INT
u_int:
    lea r14, [rel .a1]
    mov [USLOT(0)], r14
    lea r14, [rel .a4]
    mov [USLOT(3)], r14
    lea r14, [rel .a5]
    mov [USLOT(4)], r14
    int 0x80                        ; DPL 3 interrupt gate
.a1:
    RESUME .a2
    MARK USLOT(1)
    int 0x81                        ; DPL 0: #GP(0x81 * 8 + 2)
.a2:
    RESUME .a3
    MARK USLOT(2)
    int3                            ; #BP's gate is DPL 0: #GP(3 * 8 + 2)
.a3:
    int 0x83                        ; DPL 3, IST1
.a4:
    int 0x84                        ; DPL 3 trap gate: IF stays 1
.a5:
    SREG rax, cs
    mov [USLOT(5)], rax
    SREG rax, ss
    mov [USLOT(6)], rax
    mov [USLOT(7)], rsp
    int EXIT_VECTOR

%elifidn CASE, U_IOPL
u_iopl:
    pushfq
    pop rax
    mov [USLOT(0)], rax
    cli
    pushfq
    pop rax
    mov [USLOT(1)], rax
    out 0x80, al
    push qword FL_FIXED | FL_IF     ; asks for IOPL 0
    popfq
    pushfq
    pop rax
    mov [USLOT(2)], rax
    int EXIT_VECTOR

%elifidn CASE, U_IRET
u_iret:
    ; POPFQ first, then IRETQ, each from RFLAGS = IF.
    push qword FL_FIXED | FL_ZF | (3 << 12)
    popfq
    pushfq
    pop rax
    mov [USLOT(2)], rax
    push qword FL_FIXED | FL_IF
    popfq
    push qword UDATA_SEL | 3
    push qword USTACK_TOP - 0x100
    push qword FL_FIXED | FL_CF | (3 << 12)    ; asks for IF = 0 and IOPL 3
    push qword UCODE | 3
    lea rax, [rel .next]
    push rax
    iretq
.next:
    mov [USLOT(0)], rsp
    pushfq
    pop rax
    mov [USLOT(1)], rax
    mov rsp, USTACK_TOP
    int EXIT_VECTOR

%elifidn CASE, U_SEGS
; LOADS k, sreg, selector: the load must be #GP; its address goes to USLOT(k).
%macro LOADS 3
    mov eax, %3
    RESUME %%next
    MARK USLOT(%1)
    mov %2, ax
%%next:
%endmacro
; VERX k, VERR or VERW, selector: USLOT(k) = ZF.
%macro VERX 3
    mov eax, %3
    %2 ax
    setz al
    movzx eax, al
    mov [USLOT(%1)], rax
%endmacro
u_segs:
    LOADS 0, ds, KDATA              ; DPL 0 < CPL 3: #GP(0x18)
    mov eax, UDATA_SEL | 3
    mov ds, ax
    SREG rbx, ds
    mov [USLOT(1)], rbx
    LOADS 2, ss, KDATA              ; #GP(0x18)
    LOADS 3, ss, 3                  ; null SS at CPL 3: #GP(0)
    mov eax, UCODE | 3              ; readable code is allowed in ES
    mov es, ax
    SREG rbx, es
    mov [USLOT(4)], rbx
    LOADS 5, fs, TSS_SEL            ; a system segment: #GP(0x40)
    LOADS 6, gs, 0x100              ; beyond the GDT limit: #GP(0x100)
    LOADS 7, ss, UCODE | 3          ; code in SS: #GP(0x30)
    LOADS 8, ss, UDATA_SEL          ; RPL 0 != CPL 3: #GP(0x28)
    VERX 9, verr, KDATA             ; DPL 0 < CPL 3: 0
    VERX 10, verw, UDATA_SEL | 3    ; 1
    VERX 11, verr, UCODE | 3        ; execute/read code: 1
    int EXIT_VECTOR

%elifidn CASE, U_TIMER
u_timer:
.loop:
    cmp qword [USLOT(0x20)], 5
    jb .loop
.loop_end:
    int EXIT_VECTOR

%elifidn CASE, IRET_BADSS
u_iret_badss:
    int EXIT_VECTOR                 ; must not run

%elifidn CASE, SYSCALL
u_syscall:
    FLAGS USER_FLAGS
    syscall
.back:
    pushfq
    pop rax
    mov [USLOT(0)], rax
    SREG rax, cs
    mov [USLOT(1)], rax
    SREG rax, ss
    mov [USLOT(2)], rax
    mov [USLOT(3)], rcx
    mov [USLOT(4)], rsp
    RESUME .done
    MARK USLOT(5)
    hlt                             ; back at CPL 3: #GP(0)
.done:
    int EXIT_VECTOR
%endif

    align 4096
user_end:
