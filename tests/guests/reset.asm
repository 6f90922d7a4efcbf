; A guest that resets the machine the way METHOD names, after a line on COM1:
;   I8042  the 8042 keyboard controller's "pulse output port" command 0xFE on port 0x64,
;          once its input buffer is empty (Linux's reboot=k);
;   CF9    the PIIX3 reset control register at 0xcf9: SRST, then SRST | RCPU (reboot=pci);
;   TRIPLE a triple fault: an IDT of one gate, not present, and UD2 (#UD beyond the limit is a
;          #GP, which is beyond it too: a double fault, which is as well; Intel SDM Vol. 3A,
;          6.15, Table 6-5), which the PC answers with a reset (reboot=t).
; A reset the machine did not honour falls through to HLT with interrupts off, which stops it
; as a halt instead.
bits 64
section .text
global start

%include "serial.mac"

%ifndef METHOD
%error METHOD is required
%endif

KBC_STATUS equ 0x64
KBC_IBF   equ 0x02              ; input buffer full
RESET_CONTROL equ 0xcf9

start:
    lea rsi, [rel message]
    call puts
%ifidn METHOD, I8042
.ibf:
    in al, KBC_STATUS
    test al, KBC_IBF
    jnz .ibf
    mov al, 0xfe
    out KBC_STATUS, al
%elifidn METHOD, CF9
    mov dx, RESET_CONTROL
    mov al, 0x02
    out dx, al
    mov al, 0x06
    out dx, al
%elifidn METHOD, TRIPLE
    lidt [rel idtr]
    ud2
%else
%error unknown METHOD
%endif
    cli
.halt:
    hlt
    jmp .halt

message: db "resetting", 10, 0

align 8
idtr:
    dw 15                       ; limit: one 16-byte gate
    dq idt
idt: times 16 db 0              ; not present
