; A guest that runs until it is stopped: it prints a line on COM1, masks every interrupt at
; the 8259s (so it needs no IDT), enables interrupts and halts in a loop, as an idle kernel
; waits. tests/daemon runs it as a VM that vmd starts, lists, pauses and stops.
bits 64
section .text
global start

COM1      equ 0x3f8
LSR       equ COM1 + 5          ; line status register
LSR_THRE  equ 0x20              ; transmitter holding register empty
PIC1_DATA equ 0x21              ; master 8259 interrupt mask (OCW1)
PIC2_DATA equ 0xa1              ; slave 8259 interrupt mask (OCW1)

start:
    lea rsi, [rel message]
.next:
    lodsb
    test al, al
    jz .idle
    mov bl, al
    mov dx, LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    mov al, bl
    mov dx, COM1
    out dx, al
    jmp .next
.idle:
    mov al, 0xff
    out PIC1_DATA, al
    out PIC2_DATA, al
    sti
.halt:
    hlt
    jmp .halt

message: db "idle guest ready", 10, 0
