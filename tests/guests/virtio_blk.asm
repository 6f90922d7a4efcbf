; A tiny legacy virtio-blk driver, in the steps Linux's virtio_pci_legacy and virtio_blk take:
; it finds the disk on PCI bus 0 (vendor 1af4, device 1001), takes its I/O BAR and its IRQ
; from the Interrupt Line register (where Linux finds it without ACPI or a $PIR table), sets
; up queue 0 in the legacy layout, reads sector 1, and writes it back to sector 2 with its
; first quadword inverted — each time halting until the device's interrupt says the request
; is done. tests/vm/virtio_blk.test.ts prepares the disk and checks it afterwards.
;
; Exit codes (port 0xf4): 0 done; 1 no disk; 2 the read failed; 3 the data read is wrong;
; 4 the write failed; 5 fewer interrupts than requests.
bits 64
section .text
global start

DEBUG_EXIT equ 0xf4
CONFIG_ADDRESS equ 0xcf8
CONFIG_DATA equ 0xcfc
VIRTIO_BLK_ID equ 0x10011af4    ; device 1001 (transitional block), vendor 1af4
RING      equ 0x200000          ; queue 0
HDR       equ 0x210000          ; request header: type, reserved, sector
DATA      equ 0x211000          ; one sector of data
STATUS    equ 0x212000          ; status byte
EXPECT    equ 0x0123456789abcdef
; Legacy register offsets in BAR 0 (virtio 1.x 4.1.4.8).
R_GUEST_FEATURES equ 4
R_QUEUE_PFN    equ 8
R_QUEUE_NUM    equ 12
R_QUEUE_SEL    equ 14
R_QUEUE_NOTIFY equ 16
R_STATUS       equ 18
R_ISR          equ 19

start:
    lea rsp, [rel stack_top]
    ; Find the disk: the vendor/device dword of each slot of bus 0.
    xor ebx, ebx
.scan:
    mov eax, ebx
    shl eax, 11
    or eax, 0x80000000
    call config_read
    cmp eax, VIRTIO_BLK_ID
    je .found
    inc ebx
    cmp ebx, 32
    jb .scan
    mov al, 1
    jmp exit
.found:
    mov eax, ebx
    shl eax, 11
    or eax, 0x80000010              ; BAR 0
    call config_read
    and eax, 0xfffc
    mov r12d, eax                   ; r12: the register file's ports
    mov eax, ebx
    shl eax, 11
    or eax, 0x8000003c              ; interrupt line, pin
    call config_read
    movzx r13d, al                  ; r13: the IRQ

    ; The PIC pair as Linux programs it, vectors 0x20 and 0x28, so IRQ n is vector 0x20 + n.
    mov al, 0x11
    out 0x20, al
    out 0xa0, al
    mov al, 0x20
    out 0x21, al
    mov al, 0x28
    out 0xa1, al
    mov al, 4
    out 0x21, al
    mov al, 2
    out 0xa1, al
    mov al, 1
    out 0x21, al
    out 0xa1, al
    ; Unmask only the disk's IRQ (and the cascade when it is on the slave).
    mov ecx, r13d
    mov eax, 1
    shl eax, cl
    cmp r13d, 8
    jb .mask
    or eax, 4
.mask:
    not eax
    out 0x21, al
    mov al, ah
    out 0xa1, al

    ; An interrupt gate for vector 0x20 + IRQ: present, DPL 0, type 0xe, code selector 0x10.
    lea rdi, [rel idt]
    mov eax, r13d
    add eax, 0x20
    shl eax, 4
    add rdi, rax
    lea rax, [rel irq_handler]
    mov [rdi], ax
    mov word [rdi + 2], 0x10
    mov word [rdi + 4], 0x8e00
    shr rax, 16
    mov [rdi + 6], ax
    shr rax, 16
    mov [rdi + 8], eax
    mov dword [rdi + 12], 0
    lidt [rel idtr]

    ; virtio 1.x 3.1 (legacy): reset, ACKNOWLEDGE, DRIVER, features (none), queue, DRIVER_OK.
    lea edx, [r12d + R_STATUS]
    xor eax, eax
    out dx, al
    mov al, 1
    out dx, al
    mov al, 3
    out dx, al
    lea edx, [r12d + R_GUEST_FEATURES]
    xor eax, eax
    out dx, eax
    lea edx, [r12d + R_QUEUE_SEL]
    out dx, ax
    lea edx, [r12d + R_QUEUE_NUM]
    in ax, dx
    movzx r14d, ax                  ; r14: the queue size
    lea edx, [r12d + R_QUEUE_PFN]
    mov eax, RING >> 12
    out dx, eax
    lea edx, [r12d + R_STATUS]
    mov al, 7
    out dx, al
    ; The legacy layout: available ring after the table, used ring on the next page.
    mov eax, r14d
    shl eax, 4
    lea r8, [rax + RING]            ; r8: available ring
    imul eax, r14d, 18
    add eax, 6 + 4095
    and eax, ~4095
    lea r9, [rax + RING]            ; r9: used ring

    xor edi, edi                    ; VIRTIO_BLK_T_IN
    mov esi, 1
    call request
    test eax, eax
    mov al, 2
    jnz exit
    mov rax, [DATA]
    mov rdx, EXPECT
    cmp rax, rdx
    mov al, 3
    jne exit
    not qword [DATA]
    mov edi, 1                      ; VIRTIO_BLK_T_OUT
    mov esi, 2
    call request
    test eax, eax
    mov al, 4
    jnz exit
    cmp qword [rel interrupts], 2
    mov al, 5
    jb exit
    xor eax, eax
exit:
    out DEBUG_EXIT, al
    cli
.stop:
    hlt
    jmp .stop

; EAX: a configuration address; returns the dword there.
config_read:
    mov dx, CONFIG_ADDRESS
    out dx, eax
    mov dx, CONFIG_DATA
    in eax, dx
    ret

; One request of type EDI on sector ESI over DATA, in descriptors 0-2: made available,
; notified, then HLT until the used ring has it. Returns the status byte in EAX.
request:
    mov [HDR], edi
    mov dword [HDR + 4], 0
    mov [HDR + 8], rsi
    mov byte [STATUS], 0xff
    mov qword [RING], HDR
    mov dword [RING + 8], 16
    mov word [RING + 12], 1         ; NEXT
    mov word [RING + 14], 1
    mov qword [RING + 16], DATA
    mov dword [RING + 24], 512
    mov eax, 1                      ; NEXT, and WRITE for a read
    test edi, edi
    jnz .flags
    or eax, 2
.flags:
    mov [RING + 28], ax
    mov word [RING + 30], 2
    mov qword [RING + 32], STATUS
    mov dword [RING + 40], 1
    mov word [RING + 44], 2         ; WRITE
    mov word [RING + 46], 0
    movzx eax, word [r8 + 2]
    mov ecx, r14d
    dec ecx
    and ecx, eax
    mov word [r8 + 4 + rcx * 2], 0
    inc eax
    mov [r8 + 2], ax
    movzx r15d, ax                  ; the used index to wait for
    lea edx, [r12d + R_QUEUE_NOTIFY]
    xor eax, eax
    out dx, ax
.wait:
    cli
    movzx eax, word [r9 + 2]
    cmp eax, r15d
    je .done
    sti                             ; STI's shadow: the interrupt cannot slip in before HLT
    hlt
    jmp .wait
.done:
    movzx eax, byte [STATUS]
    ret

irq_handler:
    push rax
    push rdx
    lea edx, [r12d + R_ISR]
    in al, dx                       ; read and clear: INTA# goes low
    inc qword [rel interrupts]
    mov al, 0x20                    ; non-specific EOI
    cmp r13d, 8
    jb .master
    out 0xa0, al
.master:
    out 0x20, al
    pop rdx
    pop rax
    iretq

section .data
idtr:
    dw 4095
    dq idt

section .bss
alignb 4096
idt:
    resb 4096
interrupts:
    resq 1
    resb 4096
stack_top:
