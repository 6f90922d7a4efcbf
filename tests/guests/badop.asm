; Prints a marker, then executes an opcode that does not exist in 64-bit mode (0x06, PUSH ES).
bits 64
section .text
global start
start:
    mov dx, 0x3f8
    mov al, '!'
    out dx, al
    db 0x06
    hlt
