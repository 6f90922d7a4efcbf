/**
 * Guest physical memory: a consumer-side view (rust-vmm vm-memory style) over one shared
 * buffer. The vCPU threads, device models and back-end workers all see the same bytes.
 *
 * Every write made by the VMM on the guest's behalf (loaders, DMA from devices) goes through
 * the methods here, which tell the engine to drop decoded or compiled code for the pages they
 * touch: Linux reuses page-cache pages as executable text, so a device write can land on code.
 */

/** Called with the guest-physical range a VMM-side write touched. */
export type CodeInvalidator = (gpa: number, length: number) => void;

/** The guest's RAM, guest-physical addresses `[0, size)`. */
export class GuestMemory {
  /** RAM size in bytes. */
  readonly size: number;
  /** The whole of RAM as bytes; index = guest-physical address. Do not write through it. */
  readonly bytes: Uint8Array;
  readonly #data: DataView;
  readonly #invalidate: CodeInvalidator | undefined;

  /**
   * @param buffer the shared buffer that holds RAM
   * @param options.base byte offset of guest-physical address 0 in `buffer`
   * @param options.size RAM size in bytes
   * @param options.invalidate the engine's hook for writes onto pages that may hold code
   */
  constructor(
    buffer: SharedArrayBuffer | ArrayBuffer,
    options: { base: number; size: number; invalidate?: CodeInvalidator },
  ) {
    const { base, size } = options;
    if (base < 0 || size < 0 || base + size > buffer.byteLength) {
      throw new RangeError(
        `guest RAM [${base}, ${base + size}) does not fit a ${buffer.byteLength}-byte buffer`,
      );
    }
    this.size = size;
    this.bytes = new Uint8Array(buffer, base, size);
    this.#data = new DataView(buffer, base, size);
    this.#invalidate = options.invalidate;
  }

  /** Throws a RangeError unless `[gpa, gpa + length)` lies in RAM. */
  check(gpa: number, length: number): void {
    if (!this.contains(gpa, length)) {
      throw new RangeError(
        `guest-physical range 0x${gpa.toString(16)}+0x${length.toString(16)} is outside RAM ` +
          `(0x${this.size.toString(16)} bytes)`,
      );
    }
  }

  /** True when `[gpa, gpa + length)` lies in RAM. */
  contains(gpa: number, length: number): boolean {
    return (
      Number.isSafeInteger(gpa) &&
      Number.isSafeInteger(length) &&
      gpa >= 0 &&
      length >= 0 &&
      gpa + length <= this.size
    );
  }

  /** A zero-copy view for reading; RangeError outside RAM. */
  view(gpa: number, length: number): Uint8Array {
    this.check(gpa, length);
    return this.bytes.subarray(gpa, gpa + length);
  }

  /** Copies `data` into RAM at `gpa`; the one bulk write path for loaders and DMA. */
  write(gpa: number, data: Uint8Array): void {
    this.check(gpa, data.length);
    this.bytes.set(data, gpa);
    this.#invalidate?.(gpa, data.length);
  }

  /** Fills `[gpa, gpa + length)` with `value`. */
  fill(gpa: number, length: number, value = 0): void {
    this.check(gpa, length);
    this.bytes.fill(value, gpa, gpa + length);
    this.#invalidate?.(gpa, length);
  }

  /** Reads a byte. */
  read8(gpa: number): number {
    this.check(gpa, 1);
    return this.#data.getUint8(gpa);
  }

  /** Reads a little-endian 16-bit value. */
  read16(gpa: number): number {
    this.check(gpa, 2);
    return this.#data.getUint16(gpa, true);
  }

  /** Reads a little-endian 32-bit value. */
  read32(gpa: number): number {
    this.check(gpa, 4);
    return this.#data.getUint32(gpa, true);
  }

  /** Reads a little-endian 64-bit value. */
  read64(gpa: number): bigint {
    this.check(gpa, 8);
    return this.#data.getBigUint64(gpa, true);
  }

  /** Writes a byte. */
  write8(gpa: number, value: number): void {
    this.check(gpa, 1);
    this.#data.setUint8(gpa, value);
    this.#invalidate?.(gpa, 1);
  }

  /** Writes a little-endian 16-bit value. */
  write16(gpa: number, value: number): void {
    this.check(gpa, 2);
    this.#data.setUint16(gpa, value, true);
    this.#invalidate?.(gpa, 2);
  }

  /** Writes a little-endian 32-bit value. */
  write32(gpa: number, value: number): void {
    this.check(gpa, 4);
    this.#data.setUint32(gpa, value >>> 0, true);
    this.#invalidate?.(gpa, 4);
  }

  /** Writes a little-endian 64-bit value. */
  write64(gpa: number, value: bigint): void {
    this.check(gpa, 8);
    this.#data.setBigUint64(gpa, BigInt.asUintN(64, value), true);
    this.#invalidate?.(gpa, 8);
  }
}
