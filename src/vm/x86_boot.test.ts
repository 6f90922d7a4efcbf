import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { GuestMemory } from '../engine/memory.js';
import type { Segment } from '../engine/types.js';
import * as layout from './layout.js';
import { setupLongMode } from './x86_boot.js';

const MiB = 1024 * 1024;

function ram(size = 64 * MiB): GuestMemory {
  return new GuestMemory(new ArrayBuffer(size), { base: 0, size });
}

interface Walk {
  pa: bigint;
  /** Flag bits (0–8 and 63) of the PML4E, PDPTE and PDE used. */
  flags: [bigint, bigint, bigint];
}

/**
 * Translates `va` as a CPU with CR0.PG, CR4.PAE, EFER.LME would (SDM Vol. 3A §4.5), reading the
 * tables from guest RAM. Written independently of x86_boot.ts; handles only what it builds
 * (no 1 GiB pages, 2 MiB leaves). Returns a description of where the walk stopped otherwise.
 */
function walk(mem: GuestMemory, cr3: bigint, va: bigint): Walk | string {
  const addr = 0x000f_ffff_ffff_f000n;
  const flagMask = 0x1ffn | (1n << 63n);
  const pml4e = mem.read64(Number((cr3 & addr) + ((va >> 39n) & 511n) * 8n));
  if (!(pml4e & 1n)) return 'PML4E not present';
  const pdpte = mem.read64(Number((pml4e & addr) + ((va >> 30n) & 511n) * 8n));
  if (!(pdpte & 1n)) return 'PDPTE not present';
  if (pdpte & 0x80n) return 'unexpected 1 GiB page';
  const pde = mem.read64(Number((pdpte & addr) + ((va >> 21n) & 511n) * 8n));
  if (!(pde & 1n)) return 'PDE not present';
  if (!(pde & 0x80n)) return 'PDE references a page table, expected a 2 MiB page';
  const pa = (pde & 0x000f_ffff_ffe0_0000n) | (va & 0x1f_ffffn);
  return { pa, flags: [pml4e & flagMask, pdpte & flagMask, pde & flagMask] };
}

/** {@link walk} that must succeed. */
function translate(mem: GuestMemory, cr3: bigint, va: bigint): Walk {
  const w = walk(mem, cr3, va);
  if (typeof w === 'string') assert.fail(`walk of 0x${va.toString(16)} failed: ${w}`);
  return w;
}

/** Decodes an 8-byte code/data/system descriptor (SDM Vol. 3A §3.4.5, Figure 3-8). */
function decode(d: bigint): Omit<Segment, 'selector'> {
  const bit = (n: bigint): boolean => ((d >> n) & 1n) === 1n;
  const g = bit(55n);
  const rawLimit = Number((d & 0xffffn) | (((d >> 48n) & 0xfn) << 16n));
  return {
    base: ((d >> 16n) & 0xff_ffffn) | (((d >> 56n) & 0xffn) << 24n),
    limit: g ? rawLimit * 4096 + 4095 : rawLimit,
    type: Number((d >> 40n) & 0xfn),
    s: bit(44n),
    dpl: Number((d >> 45n) & 3n),
    present: bit(47n),
    l: bit(53n),
    db: bit(54n),
    g,
  };
}

describe('setupLongMode() page tables', () => {
  const P_RW = 0x3n;
  const P_RW_PS = 0x83n;

  for (const va of [0x0n, 0x1234567n, 0x100_0000n, 0xfffff000n, 0xffff_ffffn]) {
    test(`setupLongMode() identity-maps 0x${va.toString(16)} present, writable, supervisor`, () => {
      const mem = ram();
      const { sregs } = setupLongMode(mem, { entry: 0x100000n });
      const w = translate(mem, sregs.cr3, va);
      assert.equal(w.pa, va, 'identity mapping');
      assert.deepEqual(w.flags, [P_RW, P_RW, P_RW_PS], 'PML4E/PDPTE P|RW, PDE P|RW|PS, no US/XD');
    });
  }

  test('setupLongMode() maps 4 GiB even when RAM is 64 KiB', () => {
    const mem = ram(0x10000);
    const { sregs } = setupLongMode(mem, { entry: 0x1000n, stack: 0x8ff0n });
    const w = translate(mem, sregs.cr3, 0xfee0_0000n); // the local APIC, far above RAM
    assert.equal(w.pa, 0xfee0_0000n);
  });

  test('setupLongMode() maps nothing at or above 4 GiB', () => {
    const mem = ram();
    const { sregs } = setupLongMode(mem, { entry: 0x100000n });
    assert.equal(walk(mem, sregs.cr3, 0x1_0000_0000n), 'PDPTE not present');
    assert.equal(walk(mem, sregs.cr3, 0xffff_ffff_8100_0000n), 'PML4E not present');
  });

  test('setupLongMode() clears stale entries left in RAM', () => {
    const mem = ram();
    mem.fill(0, layout.PAGE_TABLES_END, 0xff);
    const { sregs } = setupLongMode(mem, { entry: 0x100000n });
    assert.equal(walk(mem, sregs.cr3, 0x1_0000_0000n), 'PDPTE not present');
    assert.equal(mem.read64(layout.PML4_START + 8), 0n, 'PML4E 1 is zero');
    assert.equal(mem.read64(layout.BOOT_GDT_START + 6 * 8), 0n, 'unused GDT slot 6 is zero');
    assert.equal(mem.read64(layout.BOOT_IDT_START), 0n, 'IDT placeholder gate is zero');
  });
});

describe('setupLongMode() GDT', () => {
  const mem = ram();
  const { sregs } = setupLongMode(mem, { entry: 0x100000n });
  const entry = (sel: number): bigint => mem.read64(layout.BOOT_GDT_START + sel);

  test('setupLongMode() writes the GDT that GDTR points to', () => {
    assert.equal(sregs.gdt.base, BigInt(layout.BOOT_GDT_START));
    assert.equal(sregs.gdt.limit, 6 * 8 - 1, 'null, CS32, CS64, DS and a 16-byte TSS');
    assert.equal(entry(0), 0n, 'null descriptor');
  });

  test('setupLongMode() GDT descriptors have the well-known encodings', () => {
    // Linux's head_64.S boot GDT values with the accessed bit set (Firecracker's 0xa09b/0xc093).
    assert.equal(entry(0x08).toString(16), 'cf9b000000ffff', '32-bit code');
    assert.equal(entry(0x10).toString(16), 'af9b000000ffff', '64-bit code');
    assert.equal(entry(0x18).toString(16), 'cf93000000ffff', 'data');
    assert.equal(entry(0x20).toString(16), '8b0000000067', 'busy 64-bit TSS, limit 0x67');
    assert.equal(entry(0x28), 0n, 'TSS upper half: base 63:32 = 0');
  });

  test('setupLongMode() GDT descriptors decode to the cached CS, DS and TR', () => {
    for (const [name, seg] of Object.entries({ cs: sregs.cs, ds: sregs.ds, tr: sregs.tr })) {
      const { selector, ...cached } = seg;
      assert.deepEqual(
        decode(entry(selector)),
        cached,
        `${name} (selector 0x${selector.toString(16)})`,
      );
    }
  });
});

describe('setupLongMode() registers', () => {
  test('setupLongMode() returns the 64-bit boot protocol control registers', () => {
    const { sregs } = setupLongMode(ram(), { entry: 0x1000000n });
    assert.equal(sregs.cr0, 0x80050033n, 'CR0 = PE|MP|ET|NE|WP|AM|PG');
    assert.equal(sregs.cr3, 0x9000n, 'CR3 = PML4');
    assert.equal(sregs.cr4, 0x20n, 'CR4 = PAE');
    assert.equal(sregs.efer, 0xd01n, 'EFER = SCE|LME|LMA|NXE');
    assert.equal(sregs.cr2, 0n);
    assert.equal(sregs.cr8, 0n);
    assert.deepEqual(sregs.idt, { base: BigInt(layout.BOOT_IDT_START), limit: 0 });
  });

  test('setupLongMode() loads flat 64-bit CS and flat data segments', () => {
    const { sregs } = setupLongMode(ram(), { entry: 0x1000000n });
    assert.deepEqual(sregs.cs, {
      selector: 0x10,
      base: 0n,
      limit: 0xffffffff,
      type: 0xb,
      present: true,
      dpl: 0,
      db: false,
      s: true,
      l: true,
      g: true,
    });
    const data: Segment = {
      selector: 0x18,
      base: 0n,
      limit: 0xffffffff,
      type: 0x3,
      present: true,
      dpl: 0,
      db: true,
      s: true,
      l: false,
      g: true,
    };
    for (const name of ['ds', 'es', 'fs', 'gs', 'ss'] as const) {
      assert.deepEqual(sregs[name], data, name);
    }
  });

  test('setupLongMode() sets a busy TSS in TR and no LDT', () => {
    const { sregs } = setupLongMode(ram(), { entry: 0x1000000n });
    assert.deepEqual(
      [
        sregs.tr.selector,
        sregs.tr.type,
        sregs.tr.present,
        sregs.tr.s,
        sregs.tr.base,
        sregs.tr.limit,
      ],
      [0x20, 0xb, true, false, 0n, 0x67],
    );
    assert.deepEqual([sregs.ldt.type, sregs.ldt.present], [2, false], 'LDT unusable');
  });

  test('setupLongMode() enters at the entry with the boot stack and IF = 0', () => {
    const { regs } = setupLongMode(ram(), { entry: 0x1000000n, bootParams: 0x7000n });
    assert.equal(regs.rip, 0x1000000n);
    assert.equal(regs.rsp, 0x8ff0n);
    assert.equal(regs.rsi, 0x7000n, 'RSI = boot_params');
    assert.equal(regs.rflags, 0x2n, 'only the reserved bit 1');
    const others = Object.entries(regs).filter(
      ([k]) => !['rip', 'rsp', 'rsi', 'rflags'].includes(k),
    );
    assert.deepEqual(
      others.filter(([, v]) => v !== 0n),
      [],
      'all other registers zero',
    );
  });

  test('setupLongMode() leaves RSI zero and honours a custom stack for a non-Linux kernel', () => {
    const { regs } = setupLongMode(ram(), { entry: 0x100000n, stack: 0x80000n });
    assert.equal(regs.rsi, 0n);
    assert.equal(regs.rsp, 0x80000n);
  });

  test('setupLongMode() returns fresh segment objects each call', () => {
    const first = setupLongMode(ram(), { entry: 0x100000n });
    first.sregs.cs.selector = 0x99;
    first.sregs.ds.base = 0x1234n;
    const second = setupLongMode(ram(), { entry: 0x100000n });
    assert.equal(second.sregs.cs.selector, 0x10);
    assert.equal(second.sregs.ss.base, 0n);
  });
});

describe('setupLongMode() rejects impossible requests', () => {
  test('setupLongMode() rejects RAM too small for the page tables', () => {
    assert.throws(() => setupLongMode(ram(0xe000), { entry: 0x1000n }), {
      message: 'guest RAM of 0xe000 bytes cannot hold the boot page tables, which end at 0xf000',
    });
  });

  test('setupLongMode() rejects an entry outside RAM or the identity map', () => {
    const message = /entry point 0x[0-9a-f]+ is outside guest RAM or the 4 GiB identity map/;
    assert.throws(() => setupLongMode(ram(2 * MiB), { entry: 0x200000n }), message);
    assert.throws(() => setupLongMode(ram(), { entry: 0xffff_ffff_8100_0000n }), message);
  });

  test('setupLongMode() rejects a stack or boot_params outside RAM', () => {
    assert.throws(() => setupLongMode(ram(2 * MiB), { entry: 0x100000n, stack: 0x300000n }), {
      message: 'boot stack 0x300000 is outside guest RAM',
    });
    assert.throws(() => setupLongMode(ram(2 * MiB), { entry: 0x100000n, bootParams: 0x1ff800n }), {
      message: 'boot_params at 0x1ff800 is outside guest RAM',
    });
  });
});

describe('layout', () => {
  test('layout boot regions do not overlap and lie below the EBDA', () => {
    const regions: [string, number, number][] = [
      ['GDT', layout.BOOT_GDT_START, layout.BOOT_GDT_MAX_ENTRIES * 8],
      ['IDT', layout.BOOT_IDT_START, layout.BOOT_IDT_SIZE],
      ['PVH info', layout.PVH_INFO_START, 0x1000],
      ['zero page', layout.ZERO_PAGE_START, layout.ZERO_PAGE_SIZE],
      ['stack', layout.BOOT_STACK_POINTER - 0x1000 + 0x10, 0x1000 - 0x10],
      ['page tables', layout.PML4_START, layout.PAGE_TABLES_END - layout.PML4_START],
      ['command line', layout.CMDLINE_START, layout.CMDLINE_MAX_SIZE],
    ];
    const sorted = [...regions].sort((a, b) => a[1] - b[1]);
    for (let i = 1; i < sorted.length; i++) {
      const [pn, ps, pl] = sorted[i - 1] ?? ['', 0, 0];
      const [cn, cs] = sorted[i] ?? ['', 0];
      assert.ok(ps + pl <= cs, `${pn} [0x${ps.toString(16)}+0x${pl.toString(16)}) overlaps ${cn}`);
    }
    const [ln, ls, ll] = sorted.at(-1) ?? ['', 0, 0];
    assert.ok(ls + ll <= layout.EBDA_START, `${ln} reaches into the EBDA`);
    assert.equal(layout.IDENTITY_MAP_SIZE, 2 ** 32);
  });
});
