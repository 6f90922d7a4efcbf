/**
 * The PC platform around the vCPU: the legacy chips a kernel booted with `noapic nolapic
 * acpi=off` drives, on one I/O bus, with their interrupt lines on the 8259 pair.
 *
 * | ports        | chip                                   | IRQ |
 * | ------------ | -------------------------------------- | --- |
 * | 0x20, 0xa0   | 8259A master and slave, ELCR at 0x4d0  |     |
 * | 0x40–0x43    | 8254 PIT, port B at 0x61               | 0   |
 * | 0x70–0x71    | MC146818 RTC and CMOS                  | 8   |
 * | 0x3f8–0x3ff  | COM1, 16550A                           | 4   |
 * | 0x60, 0x64   | 8042 keyboard controller and keyboard  | 1   |
 * | 0xcf8–0xcff  | PCI host bridge (mechanism #1)         |     |
 * | 0xcf9        | PIIX3 reset control register (bytes)   |     |
 * | 0x80         | POST code port (writes ignored)        |     |
 * | 0xf4         | debug exit                             |     |
 * | 0x1000–      | PCI I/O BARs: virtio-rng, virtio-blk   | PCI |
 *
 * Time is the machine's virtual clock in nanoseconds, shared with the engine's TSC. The guest
 * resets the machine through the 8042 (reset pulse) or the reset control register; the
 * platform reports it and the VMM decides what a reset means (vmd: a reboot).
 *
 * PCI devices follow the host bridge in vmd's order (virtio-rng, then the disks), one slot
 * each, with the firmware's work done here since there is no BIOS: I/O BARs placed from
 * 0x1000, INTA# routed to the next IRQ of {@link PCI_IRQS}, that IRQ marked level-triggered in
 * the ELCR and written to the Interrupt Line register — which is where Linux, booted without
 * ACPI and finding no $PIR table, takes a device's IRQ from (arch/x86/pci/irq.c).
 */

import { IoBus } from '../devices/bus.js';
import type { VirtualClock } from '../devices/clock.js';
import { DebugExit, DEBUG_EXIT_PORT } from '../devices/debug_exit.js';
import { I8042, I8042_COMMAND_PORT, I8042_DATA_PORT, I8042_KBD_IRQ } from '../devices/i8042.js';
import { I8254, NMISC_PORT, PIT_PORT } from '../devices/i8254.js';
import { I8259, ELCR, PIC_MASTER, PIC_SLAVE } from '../devices/i8259.js';
import { Mc146818, RTC_INDEX } from '../devices/mc146818.js';
import { Ns8250 } from '../devices/ns8250.js';
import { PciHost, PCI_CONFIG_ADDRESS } from '../devices/pci_host.js';
import type { VirtioDevice } from '../devices/virtio/device.js';
import { VirtioBlk } from '../devices/virtio/virtio_blk.js';
import { VirtioPciLegacy } from '../devices/virtio/virtio_pci.js';
import { VirtioRng } from '../devices/virtio/virtio_rng.js';
import type { DiskImage } from '../block/image.js';
import type { GuestMemory } from '../engine/memory.js';
import { checkStateHeader, intField } from '../devices/state.js';
import type { CharBackend, DeviceState, PioDevice } from '../devices/types.js';

/** COM1's base port. */
export const COM1_PORT = 0x3f8;
const COM1_IRQ = 4;
const PIT_IRQ = 0;
const RTC_IRQ = 8;
/**
 * The 8259 inputs PCI devices' INTA# lines are routed to, in device order: vmd's list
 * (pci.c) without IRQ 12, which the 8042's auxiliary port would take.
 */
export const PCI_IRQS: readonly number[] = [3, 5, 6, 7, 9, 10, 11, 14, 15];
/** The most disks a VM has (vmd: VM_MAX_DISKS_PER_VM). */
export const MAX_DISKS = 4;
/** The POST diagnostic port; Linux writes it for I/O delays. */
const POST_PORT = 0x80;
/** PIIX3 "RC—Reset Control Register", a byte inside the PCI configuration ports. */
const RESET_CONTROL_PORT = 0xcf9;
/** RC bit 1, SRST: the reset RCPU starts is a hard (system) reset. */
const RC_SRST = 0x02;
/** RC bit 2, RCPU: a 0 to 1 transition resets. */
const RC_RCPU = 0x04;

/** A port that takes writes and reads as all ones: the POST-code port. */
class PostPort implements PioDevice {
  readonly name = 'post';
  pioRead(): number {
    return 0xff;
  }
  pioWrite(): void {
    /* POST codes have no reader */
  }
  saveState(): DeviceState {
    return { device: 'post', version: 1 };
  }
  loadState(): void {
    /* stateless */
  }
}

/**
 * The PIIX3 reset control register at 0xcf9 (PIIX3 datasheet, "RC—Reset Control Register"):
 * setting RCPU resets the machine (Linux's `reboot=pci` writes SRST, then SRST | RCPU).
 * Only byte accesses reach it; the bus gives wider ones at 0xcf8 to the PCI host bridge.
 */
class ResetControl implements PioDevice {
  readonly name = 'reset-control';
  readonly #onReset: (reason: string) => void;
  #rc = 0;
  constructor(onReset: (reason: string) => void) {
    this.#onReset = onReset;
  }
  pioRead(): number {
    return this.#rc;
  }
  pioWrite(_port: number, _size: number, value: number): void {
    const rising = value & RC_RCPU & ~this.#rc;
    this.#rc = value & (RC_SRST | RC_RCPU);
    if (rising) this.#onReset('reset control register (port 0xcf9)');
  }
  saveState(): DeviceState {
    return { device: 'reset-control', version: 1, rc: this.#rc };
  }
  loadState(state: DeviceState): void {
    checkStateHeader(this.name, state, 'reset-control', 1);
    this.#rc = intField('reset-control', state, 'rc', 0, RC_SRST | RC_RCPU);
  }
}

/** How the platform is built. */
export interface PcOptions {
  /** Guest RAM in bytes, reported in the CMOS memory-size bytes. */
  memorySize: number;
  /** Where COM1's output goes. */
  console: CharBackend;
  /** The machine's virtual clock. */
  clock: VirtualClock;
  /** Called with the value the guest writes to the debug-exit port, as `(v << 1) | 1`. */
  onDebugExit: (code: number) => void;
  /** Called when the guest resets the machine; `reason` says how (for the log). */
  onReset: (reason: string) => void;
  /** Guest RAM, where virtio queues live. */
  memory: GuestMemory;
  /** Disks for virtio-blk, in order (at most {@link MAX_DISKS}). */
  disks?: readonly DiskImage[];
  /**
   * Called when the PIC starts asking for an interrupt, e.g. because a disk request finished
   * between run slices: a halted vCPU must wake up for it.
   */
  onInterrupt?: () => void;
}

/** The chips of the PC platform on their bus. */
export class PcPlatform {
  readonly bus = new IoBus();
  readonly pic: I8259;
  readonly pit: I8254;
  readonly rtc: Mc146818;
  readonly pci: PciHost;
  readonly com1: Ns8250;
  readonly i8042: I8042;
  /** The virtio PCI functions, in slot order from 00:01.0. */
  readonly virtio: VirtioPciLegacy[] = [];

  constructor(options: PcOptions) {
    const { bus } = this;
    const onInterrupt = options.onInterrupt;
    this.pic = new I8259({
      name: 'pic',
      ...(onInterrupt === undefined
        ? {}
        : {
            onOutput: (asserted: boolean) => {
              if (asserted) onInterrupt();
            },
          }),
    });
    this.pit = new I8254({ name: 'pit', clock: options.clock, irq: this.pic.irq(PIT_IRQ) });
    this.rtc = new Mc146818({
      name: 'rtc',
      clock: options.clock,
      wallClock: { now: () => Date.now() / 1000 },
      irq: this.pic.irq(RTC_IRQ),
    });
    this.rtc.setMemorySize(options.memorySize);
    this.pci = new PciHost({ name: 'pci' });
    this.com1 = new Ns8250({
      name: 'com1',
      irq: this.pic.irq(COM1_IRQ),
      backend: options.console,
    });
    this.i8042 = new I8042({ irq: this.pic.irq(I8042_KBD_IRQ), onReset: options.onReset });
    bus.addPio(PIC_MASTER, 2, this.pic);
    bus.addPio(PIC_SLAVE, 2, this.pic);
    bus.addPio(ELCR, 2, this.pic);
    bus.addPio(PIT_PORT, 4, this.pit);
    bus.addPio(NMISC_PORT, 1, this.pit);
    bus.addPio(RTC_INDEX, 2, this.rtc);
    bus.addPio(COM1_PORT, 8, this.com1);
    bus.addPio(I8042_DATA_PORT, 1, this.i8042);
    bus.addPio(I8042_COMMAND_PORT, 1, this.i8042);
    // The reset control register splits the PCI ports: 0xcf8 (whose dword accesses the bus
    // hands wholly to its owner), 0xcf9, then 0xcfa-0xcff.
    bus.addPio(PCI_CONFIG_ADDRESS, 1, this.pci);
    bus.addPio(RESET_CONTROL_PORT, 1, new ResetControl(options.onReset));
    bus.addPio(RESET_CONTROL_PORT + 1, 6, this.pci);
    bus.addPio(POST_PORT, 1, new PostPort());
    bus.addPio(DEBUG_EXIT_PORT, 1, new DebugExit({ onExit: options.onDebugExit }));
    this.pci.connectIo(bus);
    const disks = options.disks ?? [];
    if (disks.length > MAX_DISKS) throw new RangeError(`at most ${MAX_DISKS} disks`);
    this.#addVirtio(options.memory, new VirtioRng('viornd0'));
    disks.forEach((image, i) => {
      this.#addVirtio(options.memory, new VirtioBlk({ name: `vioblk${i}`, image }));
    });
  }

  // The firmware's part for one device: the next slot, its BAR placed, INTA# routed to a
  // level-triggered IRQ.
  #addVirtio(memory: GuestMemory, device: VirtioDevice): void {
    const slot = this.virtio.length + 1;
    const irq = PCI_IRQS[this.virtio.length];
    if (irq === undefined) throw new RangeError(`no PCI IRQ left for ${device.name}`);
    const transport = new VirtioPciLegacy({
      device,
      memory,
      irq: this.pic.irq(irq),
      interruptLine: irq,
    });
    this.pci.attach(slot, 0, transport.pci);
    this.pci.assignIoBars(transport.pci);
    const elcr = irq < 8 ? ELCR : ELCR + 1;
    this.pic.pioWrite(elcr, 1, this.pic.pioRead(elcr) | (1 << (irq & 7)));
    this.virtio.push(transport);
  }

  /** Raises the timer interrupts that are due by now. */
  updateTimers(): void {
    this.pit.update();
    this.rtc.update();
  }

  /** The virtual time of the next timer interrupt, if any is programmed. */
  nextDeadline(): bigint | undefined {
    const a = this.pit.nextDeadline();
    const b = this.rtc.nextDeadline();
    if (a === undefined) return b;
    if (b === undefined) return a;
    return a < b ? a : b;
  }

  /** Output the chips buffered during a run slice goes out now. */
  flush(): void {
    this.com1.flush();
  }
}
