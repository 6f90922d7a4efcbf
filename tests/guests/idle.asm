; A guest that runs until it is stopped: it prints a line on COM1, masks every interrupt at
; the 8259s (so it needs no IDT), enables interrupts and halts in a loop, as an idle kernel
; waits. tests/daemon runs it as a VM that vmd starts, lists, pauses and stops.
bits 64
section .text
global start

%include "serial.mac"

PIC1_DATA equ 0x21              ; master 8259 interrupt mask (OCW1)
PIC2_DATA equ 0xa1              ; slave 8259 interrupt mask (OCW1)

start:
    lea rsi, [rel message]
    call puts
    mov al, 0xff
    out PIC1_DATA, al
    out PIC2_DATA, al
    sti
.halt:
    hlt
    jmp .halt

message: db "idle guest ready", 10, 0
