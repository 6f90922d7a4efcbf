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
 * | 0xcf8–0xcff  | PCI host bridge (mechanism #1)         |     |
 * | 0x80         | POST code port (writes ignored)        |     |
 * | 0xf4         | debug exit                             |     |
 *
 * Time is the machine's virtual clock in nanoseconds, shared with the engine's TSC.
 */

import { IoBus } from '../devices/bus.js';
import type { VirtualClock } from '../devices/clock.js';
import { DebugExit, DEBUG_EXIT_PORT } from '../devices/debug_exit.js';
import { I8254, NMISC_PORT, PIT_PORT } from '../devices/i8254.js';
import { I8259, ELCR, PIC_MASTER, PIC_SLAVE } from '../devices/i8259.js';
import { Mc146818, RTC_INDEX } from '../devices/mc146818.js';
import { Ns8250 } from '../devices/ns8250.js';
import { PciHost, PCI_CONFIG_ADDRESS } from '../devices/pci_host.js';
import type { CharBackend, DeviceState, PioDevice } from '../devices/types.js';

/** COM1's base port. */
export const COM1_PORT = 0x3f8;
const COM1_IRQ = 4;
const PIT_IRQ = 0;
const RTC_IRQ = 8;
/** The POST diagnostic port; Linux writes it for I/O delays. */
const POST_PORT = 0x80;

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
}

/** The chips of the PC platform on their bus. */
export class PcPlatform {
  readonly bus = new IoBus();
  readonly pic: I8259;
  readonly pit: I8254;
  readonly rtc: Mc146818;
  readonly pci: PciHost;
  readonly com1: Ns8250;

  constructor(options: PcOptions) {
    const { bus } = this;
    this.pic = new I8259({ name: 'pic' });
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
    bus.addPio(PIC_MASTER, 2, this.pic);
    bus.addPio(PIC_SLAVE, 2, this.pic);
    bus.addPio(ELCR, 2, this.pic);
    bus.addPio(PIT_PORT, 4, this.pit);
    bus.addPio(NMISC_PORT, 1, this.pit);
    bus.addPio(RTC_INDEX, 2, this.rtc);
    bus.addPio(COM1_PORT, 8, this.com1);
    bus.addPio(PCI_CONFIG_ADDRESS, 8, this.pci);
    bus.addPio(POST_PORT, 1, new PostPort());
    bus.addPio(DEBUG_EXIT_PORT, 1, new DebugExit({ onExit: options.onDebugExit }));
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
