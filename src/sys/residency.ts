/**
 * How much of a range of this process's memory is resident in RAM, by mincore(2): the kernel
 * fills one byte per page, whose lowest bit says whether the page is resident. A VM process
 * reports its guest RAM this way (vmctl's CURMEM): the pages of anonymous memory that nobody
 * ever touched were never faulted in, so they are not resident, and a guest that has used
 * 40 MiB of its 512 shows 40 MiB. Node has no way to ask; glibc's mincore does, through the C
 * library.
 *
 * It costs one system call, in which the kernel walks the range's page tables, and a pass over
 * one byte per page, never a walk through the memory itself: about 1.5 ms for 512 MiB whose
 * page tables are all there, far less for memory never touched.
 */

import { checkCall, lazyBindings, libc } from './libc.js';

/** sysconf(3) name of the page size (`<bits/confname.h>`). */
const SC_PAGESIZE = 30;
/**
 * The bit of a mincore vector entry that says a page is resident (mincore(2)), in each of
 * four entries read as one 32-bit word; the other bits are reserved.
 */
const RESIDENT_IN_EACH_BYTE = 0x01010101;

const bindings = lazyBindings(() => {
  const lib = libc();
  return {
    // Both pointers are typed arrays, which koffi passes as the address of their bytes (no
    // copy): the range itself and the vector the kernel fills.
    mincore: lib.func('int mincore(void *addr, size_t length, void *vec)') as (
      range: Uint8Array,
      length: number,
      vector: Uint8Array,
    ) => number,
    sysconf: lib.func('long sysconf(int name)') as (name: number) => number,
  };
});

/** The size of this host's memory pages, in bytes. */
export function pageSize(): number {
  return checkCall(bindings().sysconf(SC_PAGESIZE), 'sysconf');
}

/** A range of memory whose resident part can be measured again and again. */
export class ResidentMemory {
  readonly #range: Uint8Array;
  readonly #pageSize: number;
  readonly #vector: Uint8Array;
  /** The vector as words, four entries each, for counting (its tail beyond the pages is 0). */
  readonly #words: Uint32Array;

  /**
   * Measures `range`, a view of memory this process has mapped (an `ArrayBuffer`'s or a
   * `SharedArrayBuffer`'s, such as a `WebAssembly.Memory`'s) that starts on a page boundary.
   */
  constructor(range: Uint8Array) {
    this.#range = range;
    this.#pageSize = pageSize();
    const pages = Math.ceil(range.length / this.#pageSize);
    this.#words = new Uint32Array(Math.ceil(pages / 4));
    this.#vector = new Uint8Array(this.#words.buffer, 0, pages);
  }

  /**
   * The bytes of the range resident now: its resident pages times the page size, never more
   * than the range's length. A page that was only read may be the kernel's shared zero page
   * and counts too, as it counts in the process's page tables. Throws the ErrnoException of
   * mincore: EINVAL when the range does not start on a page boundary, ENOMEM when part of it
   * is not mapped.
   */
  bytes(): number {
    if (this.#range.length === 0) return 0;
    checkCall(bindings().mincore(this.#range, this.#range.length, this.#vector), 'mincore');
    let pages = 0;
    // Multiplying the four 0/1 bytes of a word by 0x01010101 sums them into its top byte.
    for (let i = 0; i < this.#words.length; i++) {
      pages +=
        Math.imul((this.#words[i] ?? 0) & RESIDENT_IN_EACH_BYTE, RESIDENT_IN_EACH_BYTE) >>> 24;
    }
    return Math.min(pages * this.#pageSize, this.#range.length);
  }
}
