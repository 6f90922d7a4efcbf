; A guest that stays up until it is stopped, for the vmd and vmctl tests: it prints
; "echo guest ready" on COM1, then sleeps with HLT and echoes back each byte it receives,
; woken by the UART's receive interrupt (IRQ 4 through the 8259, vector 0x24). It has no
; vmmci driver, so it never acknowledges a request to shut down.
bits 64
section .text
global start

%include "serial.mac"
%include "com1_irq.mac"

RBR         equ COM1                ; receive buffer (read)
LSR_DR      equ 0x01                ; data ready

start:
    COM1_IRQ_MAIN com1_interrupt

; Echoes every byte the UART holds, then ends the interrupt at the PIC.
com1_interrupt:
    push rax
    push rdx
.next:
    mov dx, LSR
    in al, dx
    test al, LSR_DR
    jz .done
    mov dx, RBR
    in al, dx
    call putc
    jmp .next
.done:
    mov al, 0x20                    ; non-specific EOI
    out PIC1, al
    pop rdx
    pop rax
    iretq

section .data
banner: db "echo guest ready", 10, 0

COM1_IRQ_TABLES
