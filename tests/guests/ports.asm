; Writes to ports nobody claims (0xe9, the Bochs debug port, and 0x1234), reads one back, and
; reports the value it read on COM1 as "ff" when the floating bus returned all ones; then exits
; through the debug-exit port with 0x10 (exit code 33).
bits 64
section .text
global start
start:
    mov al, 0x55
    out 0xe9, al
    mov dx, 0x1234
    mov eax, 0xdeadbeef
    out dx, eax
    in al, dx
    mov dx, 0x3f8
    cmp al, 0xff
    jne .bad
    mov al, 'f'
    out dx, al
    out dx, al
    jmp .done
.bad:
    mov al, '?'
    out dx, al
.done:
    mov al, 10
    out dx, al
    mov al, 0x10
    out 0xf4, al
    hlt
