; Self-modifying and cross-modified code (Intel SDM Vol. 3A, 8.1.3 "Handling Self- and
; Cross-Modifying Code" and 11.6 "Self-Modifying Code"), one case per build:
; tests/boot/smc.test.ts assembles this file with -DCASE=NAME and runs each case on a fresh
; machine. A case stores what it saw at RESULTS + 8 * k (k = 0, 1, ...) and exits with 0x55.
;
; What the SDM guarantees, and what the cases rely on:
;   - a write to an instruction, then a jump, call or return to it: the new bytes run (8.1.3,
;     option 1);
;   - a write through another linear address than the one code is fetched from, then a
;     serialising instruction (CPUID): the new bytes run (8.1.3 option 2, 11.6);
;   - a write through the same linear address to an instruction already prefetched: the
;     processor invalidates the prefetched instruction (11.6: the check is made against the
;     linear address of prefetched instructions).
; The software engine promises more: the first instruction fetched after a write retires sees
; it, whatever the mapping, the writer (guest or VMM) and the block the instruction was decoded
; in. The cases marked "engine" test that promise beyond the SDM's.
;
; The engine decodes blocks of up to 16 consecutive instructions from a branch target and stops
; decoding ahead 15 bytes before a page's end: code that must lie in one decoded block is
; placed at the start of a page and entered by a jump.
bits 64
section .text align=4096
global start

%ifndef CASE
%define CASE AHEAD
%endif

%include "paging.mac"

OK          equ 0x55
SMC_PORT    equ 0x5c0           ; the port tests/boot/smc.test.ts handles in case VMM

; PUT k, reg: stores reg at RESULTS + 8 * k.
%macro PUT 2
    mov [RESULTS + (%1) * 8], %2
%endmacro

; Pads with int3 until `$ + %1` is at a page boundary.
%macro PAGE_END_AT 1
    times (2 * 4096 - (%1) - (($ - $$) % 4096)) % 4096 db 0xcc
%endmacro

start:
    mov rdi, RESULTS
    mov ecx, 64
.clear:
    mov qword [rdi], 0
    add rdi, 8
    dec ecx
    jnz .clear
    jmp run_case

run_case:
%ifidn CASE, AHEAD
    ; Straight-line code patching instructions ahead of it in its own decoded block.
    mov esi, 0x22222222
    jmp .block_a

    align 4096
.block_a:
    mov dword [rel .next + 1], 0x11111111   ; the immediate of the very next instruction
.next:
    mov eax, 0xdead0001
    mov [rel .ahead + 1], esi               ; a register store, four instructions ahead
    inc ebx
    inc ecx
    inc edx
.ahead:
    mov edi, 0xdead0002
    PUT 0, rax                              ; 0x11111111
    PUT 1, rdi                              ; 0x22222222
    jmp .block_b

    align 4096
.block_b:
    ; Ten bytes that decoded as two MOVs become five instructions of other lengths.
    xor eax, eax
    xor ebx, ebx
    xor ecx, ecx
    mov r9, 0x90665cb15bb35ab0              ; b0 5a b3 5b b1 5c 66 90
    mov [rel .shape], r9
    mov word [rel .shape + 8], 0x9066       ; 66 90
.shape:
    mov eax, 0xdead0003                     ; -> mov al, 0x5a; mov bl, 0x5b; mov cl, 0x5c;
    mov ebx, 0xdead0004                     ;    xchg ax, ax; xchg ax, ax
    PUT 2, rax                              ; 0x5a
    PUT 3, rbx                              ; 0x5b
    PUT 4, rcx                              ; 0x5c
    jmp .block_c

    align 4096
.block_c:
    ; A PUSH whose 8 bytes land on the instructions right after it.
    mov r12, rsp
    lea rsp, [rel .pushed + 8]
    mov rax, 0x90909011223344b8             ; b8 44 33 22 11 90 90 90: mov eax, 0x11223344
    push rax
    mov rsp, r12
.pushed:
    mov ecx, 0xdead0005                     ; -> mov eax, 0x11223344; the NOPs stay
    nop
    nop
    nop
    PUT 5, rax                              ; 0x11223344
    EXIT OK

%elifidn CASE, LOOP
    ; A loop's MOV immediate, patched between runs of the loop.
    call loop_fn
    PUT 0, rbx                              ; 1000 * 0x100
    call loop_fn
    PUT 1, rbx                              ; the same, from cached code
    mov dword [rel loop_fn.imm + 1], 0x7000
    call loop_fn
    PUT 2, rbx                              ; 1000 * 0x7000
    ; A loop that patches its own immediate for the next iteration.
    call selfpatch_fn
    PUT 3, rbx                              ; 100 + 5 + 4 + 3 + 2
    call selfpatch_fn
    PUT 4, rbx                              ; 1 + 5 + 4 + 3 + 2
    EXIT OK

; RBX = 1000 * the immediate at .imm.
loop_fn:
    xor ebx, ebx
    mov ecx, 1000
.again:
.imm:
    mov eax, 0x100
    add ebx, eax
    dec ecx
    jnz .again
    ret

; Five iterations; each one adds the immediate at .imm to RBX, then stores its ECX there.
selfpatch_fn:
    xor ebx, ebx
    mov ecx, 5
.again:
.imm:
    mov eax, 100
    add ebx, eax
    mov [rel .imm + 1], ecx
    dec ecx
    jnz .again
    ret

%elifidn CASE, ALIAS
    ; The page FRAMES + 0x6000 is mapped twice: by the identity map and at WINDOW + 0x6000
    ; (PT[6]). The stub `mov eax, imm32; ret` is written there through WINDOW first, so that
    ; WINDOW has a writable translation before the page holds any code.
    call tables_clear
    PTE 6, FRAMES + 0x6000 | PG_P | PG_RW
    call tables_install
    mov rdi, WINDOW + 0x6000
    mov rax, 0x0000c311111111b8             ; b8 11 11 11 11 c3: mov eax, 0x11111111; ret
    mov [rdi], rax
    mov rsi, FRAMES + 0x6000
    call rsi
    PUT 0, rax                              ; 0x11111111
    call rsi
    ; Written through WINDOW, serialised, executed at the identity address.
    mov dword [rdi + 1], 0x22222222
    xor eax, eax
    cpuid
    call rsi
    PUT 1, rax                              ; 0x22222222
    call rdi                                ; the same bytes, fetched through WINDOW
    PUT 2, rax                              ; 0x22222222
    ; Written through the identity map, serialised, executed at WINDOW.
    mov dword [FRAMES + 0x6001], 0x33333333
    xor eax, eax
    cpuid
    call rdi
    PUT 3, rax                              ; 0x33333333
    ; Engine: written through WINDOW, executed at the identity address with no serialising
    ; instruction between.
    mov dword [rdi + 1], 0x44444444
    call rsi
    PUT 4, rax                              ; 0x44444444
    ; Engine: code at the identity address writes through WINDOW to an instruction ahead of
    ; it in its own decoded block.
    lea rsi, [rel alias_ahead]
    mov rdi, FRAMES + 0x6100
    mov ecx, alias_ahead_end - alias_ahead
.copy:
    mov al, [rsi]
    mov [rdi], al
    inc rsi
    inc rdi
    dec ecx
    jnz .copy
    mov rsi, FRAMES + 0x6100
    lea rdx, [RESULTS + 0x100]              ; first a harmless target: the code runs as built
    call rsi
    PUT 5, rax                              ; 0xdead0006
    mov rdx, WINDOW + 0x6100 + (alias_ahead.imm - alias_ahead) + 1
    call rsi
    PUT 6, rax                              ; 0x55555555
    EXIT OK

; Copied to FRAMES + 0x6100 and called there; writes 0x55555555 at RDX.
alias_ahead:
    mov dword [rdx], 0x55555555
.imm:
    mov eax, 0xdead0006
    ret
alias_ahead_end:

%elifidn CASE, STRING
    ; REP MOVSB and REP STOSB over code that ran before.
    call string_fn
    PUT 0, rax                              ; 0xaaaa0001
    call string_fn
    lea rsi, [rel new_body]
    lea rdi, [rel string_fn]
    mov ecx, new_body_end - new_body
    rep movsb
    call string_fn
    PUT 1, rax                              ; 0x12345678
    ; 63 x CDQ, then the RET string_fn ends with.
    lea rdi, [rel string_fn]
    mov al, 0x99
    mov ecx, 63
    rep stosb
    mov eax, 0x80000000
    xor edx, edx
    call string_fn
    PUT 2, rax                              ; 0x80000000
    PUT 3, rdx                              ; 0xffffffff
    jmp .block
    align 4096
.block:
    ; REP MOVSB onto the instruction right after it, in its own decoded block.
    lea rsi, [rel ahead_body]
    lea rdi, [rel .target]
    mov ecx, 5
    rep movsb
.target:
    mov eax, 0xdead0007                     ; -> mov eax, 0x5555aaaa
    PUT 4, rax
    ; REP STOSB of 8191 x CMC over two pages of code that ran before (more iterations than
    ; the engine runs in one go), keeping the RET at the end.
    mov eax, 7
    call big_fn
    PUT 5, rax                              ; 0xaaaa0003
    call big_fn
    lea rdi, [rel big_fn]
    mov al, 0xf5
    mov ecx, 8191
    rep stosb
    mov eax, 7
    clc
    call big_fn
    setc bl
    movzx ebx, bl
    PUT 6, rax                              ; 7
    PUT 7, rbx                              ; CF = 1: an odd number of CMC
    EXIT OK

ahead_body:
    mov eax, 0x5555aaaa
new_body:
    mov eax, 0x12340000
    or eax, 0x5678
    ret
new_body_end:

    align 64
string_fn:
    mov eax, 0xaaaa0001
    ret
    times 63 - ($ - string_fn) db 0xcc
    ret

    align 4096
big_fn:
    mov eax, 0xaaaa0002
    jmp big_fn + 4096
    times 4096 - ($ - big_fn) db 0xcc
    inc eax
    ret
    times 8191 - ($ - big_fn) db 0xcc
    ret

%elifidn CASE, STRADDLE
    ; A MOV EAX, imm32 whose opcode and first two immediate bytes end one page and whose last
    ; two immediate bytes start the next; the RET after it is on the second page.
    lea rax, [rel straddle_fn.mov]
    PUT 0, rax                              ; where it is: 3 bytes before a page boundary
    call straddle_fn
    PUT 1, rax                              ; 0x11223344
    call straddle_fn
    mov word [rel straddle_fn.mov + 3], 0x6655  ; the bytes on the second page
    call straddle_fn
    PUT 2, rax                              ; 0x66553344
    mov word [rel straddle_fn.mov + 1], 0x8877  ; the bytes on the first page
    call straddle_fn
    PUT 3, rax                              ; 0x66558877
    ; The second page's byte patched from the first page's side in a loop: each run sees
    ; the value the previous iteration wrote.
    xor ebx, ebx
    mov ecx, 4
.again:
    call straddle_fn
    add rbx, rax
    mov [rel straddle_fn.mov + 4], cl       ; the immediate's top byte, on the second page
    dec ecx
    jnz .again
    PUT 4, rbx
    EXIT OK

    PAGE_END_AT 5
straddle_fn:
    xor eax, eax                            ; 2 bytes
.mov:
    mov eax, 0x11223344                     ; b8 44 33 | 22 11
    ret

%elifidn CASE, SPLIT
    ; A quadword store across a page boundary: 4 bytes onto code at the end of one page, 4 onto
    ; code at the start of the next. split_fn runs twice, each time with other bytes; the
    ; second store lands on code both pages hold decoded from the first run.
    lea rax, [rel split_fn.target]
    PUT 0, rax                              ; a page boundary
    mov rax, 0x111111b890909090             ; nop x 4 | b8 11 11 11: mov eax, 0xde111111
    call split_fn
    PUT 1, rax                              ; 0xde111111
    mov rax, 0x222222059090c031             ; xor eax, eax; nop x 2 | 05 22 22 22:
    call split_fn                           ;   add eax, 0xde222222
    PUT 2, rax                              ; 0xde222222
    EXIT OK

    PAGE_END_AT 24
split_fn:                                   ; RAX: the 8 bytes stored at .target - 4
    mov [rel .target - 4], rax
    times 24 - ($ - split_fn) nop
.target:
    mov eax, 0xdead0009                     ; b8 09 00 ad de: the last byte stays
    ret

%elifidn CASE, VMM
    ; The test halts the guest and rewrites vmm_fn through GuestMemory between runs; RBX
    ; holds vmm_fn's address (guest-physical = linear, the identity map).
    lea rbx, [rel vmm_fn]
    call vmm_fn
    PUT 0, rax                              ; 0x60000001
    call vmm_fn
    hlt                                     ; write(): 0x61111111
    call vmm_fn
    PUT 1, rax
    call vmm_fn
    hlt                                     ; write32(): 0x62222222
    call vmm_fn
    PUT 2, rax
    call vmm_fn
    hlt                                     ; write8() of the top byte: 0x63222222
    call vmm_fn
    PUT 3, rax
    call vmm_fn
    hlt                                     ; fill() with RET
    mov eax, 0x0e0e0e0e
    call vmm_fn
    PUT 4, rax                              ; 0x0e0e0e0e: the RET ran first
    call vmm_fn
    hlt                                     ; write64(): mov eax, 0x0badbeef; ret
    call vmm_fn
    PUT 5, rax
    ; Engine: the port's device rewrites the instruction after the OUT while the OUT runs.
    lea rax, [rel .after]
    mov edx, SMC_PORT
    out dx, eax
.after:
    mov eax, 0xdead0008                     ; -> mov eax, 0x64444444
    PUT 6, rax
    EXIT OK

    align 64
vmm_fn:
    mov eax, 0x60000001
    ret
    times 16 - ($ - vmm_fn) db 0xcc

%elifidn CASE, DATA
    ; Data in the page that holds the running code, written on every iteration.
    jmp data_page.code

    align 4096
data_page:
.counter:
    dq 0
.total:
    dq 0
.last:
    dq 0
.code:
    mov ecx, 10000
.loop:
    inc qword [rel .counter]                ; read-modify-write
    add [rel .total], rcx                   ; ALU with a memory destination
    mov [rel .last], rcx                    ; store
    dec ecx
    jnz .loop
    mov rax, [rel .counter]
    PUT 0, rax                              ; 10000
    mov rax, [rel .total]
    PUT 1, rax                              ; 10000 * 10001 / 2
    mov rax, [rel .last]
    PUT 2, rax                              ; 1
    PUT 3, rcx                              ; 0
    ; The stack in the same page: PUSH, CALL, RET and POP write and read it.
    mov r12, rsp
    lea rsp, [rel .stack_top]
    xor ebx, ebx
    mov ecx, 1000
.sloop:
    push rcx
    call .add_pushed
    pop rdx
    dec ecx
    jnz .sloop
    mov r13, rsp
    mov rsp, r12
    PUT 4, rbx                              ; 1000 * 1001 / 2
    PUT 5, rdx                              ; 1
    lea rax, [rel .stack_top]
    sub r13, rax
    PUT 6, r13                              ; 0: balanced
    EXIT OK
.add_pushed:
    add rbx, [rsp + 8]
    ret
    align 64
.stack:
    times 256 db 0
.stack_top:

%else
%error unknown CASE
%endif
