; LOCK'd read-modify-writes racing another thread: the test's worker adds 1 to COUNTER with
; Atomics.add from GO until DONE, counting its own adds, while this guest increments the same
; word ROUNDS times with the form picked by -DFORM (1 lock inc, 2 lock xadd, 3 lock cmpxchg
; loop, 4 lock add). Not one increment may be lost: COUNTER = ROUNDS + the worker's count.
bits 64
section .text
global start
COUNTER equ 0x300000
GO      equ 0x300040
DONE    equ 0x300080
ROUNDS  equ 2000000
start:
    mov dword [GO], 1
    mov rcx, ROUNDS
    mov rbx, COUNTER
.top:
%if FORM == 1
    lock inc dword [rbx]
%elif FORM == 2
    mov eax, 1
    lock xadd [rbx], eax
%elif FORM == 3
    mov eax, [rbx]
.retry:
    lea edx, [rax + 1]
    lock cmpxchg [rbx], edx
    jnz .retry
%else
    lock add dword [rbx], 1
%endif
    dec rcx
    jnz .top
    mov dword [DONE], 1
    mov al, 0
    out 0xf4, al
    hlt
