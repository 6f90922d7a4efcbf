; A guest that reboots when a key is pressed on its console: it prints "press a key to reboot"
; on COM1 and sleeps with HLT until the UART's receive interrupt (IRQ 4 through the 8259,
; vector 0x24), whose handler triple-faults: it executes UD2, and the IDT has no present gate
; for the #UD, for the #NP that delivering it raises, nor for the double fault that follows
; (Intel SDM Vol. 3A, 6.15, Table 6-5), so the PC answers with a reset. vmd starts it again,
; and it waits again.
; tests/daemon reboots it through its console to see the console outlive the VM process.
bits 64
section .text
global start

%include "serial.mac"

IER         equ COM1 + 1            ; interrupt enable
MCR         equ COM1 + 4            ; modem control
IER_ERBFI   equ 0x01                ; interrupt on received data
MCR_DTR_RTS_OUT2 equ 0x0b           ; OUT2 lets the UART's interrupt reach the PIC
PIC1        equ 0x20
PIC2        equ 0xa0
VECTOR_BASE equ 0x20                ; IRQ n arrives as vector 0x20 + n
COM1_VECTOR equ VECTOR_BASE + 4
IDT_ENTRIES equ COM1_VECTOR + 1

start:
    lea rsp, [rel stack_top]
    ; The interrupt gate for COM1: a 64-bit interrupt gate (type 0xe, present) to the
    ; handler in the code segment we run in (Intel SDM Vol. 3A, 6.14.1).
    lea rdi, [rel idt + COM1_VECTOR * 16]
    lea rax, [rel com1_interrupt]
    mov [rdi], ax                   ; offset 15:0
    mov dx, cs
    mov [rdi + 2], dx               ; selector
    mov word [rdi + 4], 0x8e00      ; IST 0, type 0xe, DPL 0, present
    shr rax, 16
    mov [rdi + 6], ax               ; offset 31:16
    shr rax, 16
    mov [rdi + 8], eax              ; offset 63:32
    lidt [rel idt_pointer]

    ; The 8259 pair: ICW1-ICW4, vectors from 0x20, then only IRQ 4 unmasked.
    mov al, 0x11
    out PIC1, al
    out PIC2, al
    mov al, VECTOR_BASE
    out PIC1 + 1, al
    mov al, VECTOR_BASE + 8
    out PIC2 + 1, al
    mov al, 0x04
    out PIC1 + 1, al
    mov al, 0x02
    out PIC2 + 1, al
    mov al, 0x01
    out PIC1 + 1, al
    out PIC2 + 1, al
    mov al, 0xef
    out PIC1 + 1, al
    mov al, 0xff
    out PIC2 + 1, al

    ; The UART: interrupt on received data, OUT2 on.
    mov dx, MCR
    mov al, MCR_DTR_RTS_OUT2
    out dx, al
    mov dx, IER
    mov al, IER_ERBFI
    out dx, al

    lea rsi, [rel banner]
    call puts
    sti
.sleep:
    hlt
    jmp .sleep

; A key came: reset the machine by a triple fault.
com1_interrupt:
    ud2

section .data
banner: db "press a key to reboot", 10, 0
align 8
idt_pointer:
    dw IDT_ENTRIES * 16 - 1
    dq idt

section .bss
align 16
idt: resb IDT_ENTRIES * 16
stack: resb 4096
stack_top:
