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
%include "com1_irq.mac"

start:
    COM1_IRQ_MAIN com1_interrupt

; A key came: reset the machine by a triple fault.
com1_interrupt:
    ud2

section .data
banner: db "press a key to reboot", 10, 0

COM1_IRQ_TABLES
