/**
 * Reads a Linux kernel module's `.modinfo` section, what modinfo(8) shows: NUL-separated
 * `key=value` strings that the kernel's build (modpost) writes into every `.ko`, among them
 * `name=` (the module's name), `depends=` (the modules it needs, comma-separated) and
 * `vermagic=` (the kernel release and build options it was made for).
 *
 * A module is an ELF relocatable object (System V ABI, "Sections"); only 64-bit little-endian
 * objects are read, the x86-64 kernel's kind.
 */

/** A module file that is not a readable ELF object, or has no `.modinfo`. */
export class ModinfoError extends Error {
  override name = 'ModinfoError';
}

/** What the module loader and depmod need from `.modinfo`. */
export interface ModuleInfo {
  /** `name=`, absent in modules built before Linux 5.4 (then the file name tells). */
  readonly name: string | undefined;
  /** `depends=`: names of the modules whose symbols this one uses; empty when none. */
  readonly depends: readonly string[];
  /** `vermagic=`, e.g. `6.1.0-56-amd64 SMP preempt mod_unload modversions`. */
  readonly vermagic: string | undefined;
}

const ELF_MAGIC = [0x7f, 0x45, 0x4c, 0x46];
const ELFCLASS64 = 2;
const ELFDATA2LSB = 1;
const ELF64_EHDR_SIZE = 64;
const ELF64_SHDR_SIZE = 64;
/** e_shnum of 0 with sections present: the count is in section 0's sh_size (gABI). */
const SHN_UNDEF = 0;
/** e_shstrndx that does not fit: the index is in section 0's sh_link (gABI). */
const SHN_XINDEX = 0xffff;
const SHT_NOBITS = 8;

/** The `key=value` strings of `.modinfo`, each key with its values in order (keys repeat). */
export function readModinfo(ko: Uint8Array, name: string): Map<string, string[]> {
  const section = modinfoSection(ko, name);
  const fields = new Map<string, string[]>();
  for (const entry of Buffer.from(section).toString('utf8').split('\0')) {
    if (entry === '') continue; // padding between and after the strings
    const eq = entry.indexOf('=');
    if (eq <= 0) throw new ModinfoError(`${name}: .modinfo entry "${entry}" is not key=value`);
    const key = entry.slice(0, eq);
    const values = fields.get(key) ?? [];
    values.push(entry.slice(eq + 1));
    fields.set(key, values);
  }
  return fields;
}

/** The module's name, dependencies and vermagic from its `.modinfo`. */
export function moduleInfo(ko: Uint8Array, name: string): ModuleInfo {
  const fields = readModinfo(ko, name);
  const depends = (fields.get('depends')?.[0] ?? '').split(',').filter((d) => d !== '');
  return { name: fields.get('name')?.[0], depends, vermagic: fields.get('vermagic')?.[0] };
}

/** The bytes of the `.modinfo` section of ELF object `ko`. */
function modinfoSection(ko: Uint8Array, name: string): Uint8Array {
  const view = new DataView(ko.buffer, ko.byteOffset, ko.byteLength);
  if (ko.length < ELF64_EHDR_SIZE || ELF_MAGIC.some((b, i) => ko[i] !== b)) {
    throw new ModinfoError(`${name}: not an ELF object`);
  }
  if (ko[4] !== ELFCLASS64 || ko[5] !== ELFDATA2LSB) {
    throw new ModinfoError(`${name}: not a 64-bit little-endian ELF object`);
  }
  const shoff = toOffset(view.getBigUint64(0x28, true), name, 'e_shoff');
  const shentsize = view.getUint16(0x3a, true);
  if (shoff === 0 || shentsize < ELF64_SHDR_SIZE) {
    throw new ModinfoError(`${name}: no section headers`);
  }
  const header = (index: number): number => {
    const at = shoff + index * shentsize;
    if (at + ELF64_SHDR_SIZE > ko.length) {
      throw new ModinfoError(`${name}: section header ${index} lies past the end of the file`);
    }
    return at;
  };
  let count = view.getUint16(0x3c, true);
  if (count === SHN_UNDEF) count = toOffset(view.getBigUint64(header(0) + 32, true), name, 'count');
  let strndx = view.getUint16(0x3e, true);
  if (strndx === SHN_XINDEX) strndx = view.getUint32(header(0) + 40, true);
  if (strndx >= count) throw new ModinfoError(`${name}: bad section name table index ${strndx}`);

  const contents = (index: number): Uint8Array => {
    const at = header(index);
    if (view.getUint32(at + 4, true) === SHT_NOBITS) return new Uint8Array();
    const offset = toOffset(view.getBigUint64(at + 24, true), name, 'sh_offset');
    const size = toOffset(view.getBigUint64(at + 32, true), name, 'sh_size');
    if (offset + size > ko.length) {
      throw new ModinfoError(`${name}: section ${index} lies past the end of the file`);
    }
    return ko.subarray(offset, offset + size);
  };
  const names = contents(strndx);
  for (let i = 1; i < count; i++) {
    const nameAt = view.getUint32(header(i), true);
    const end = names.indexOf(0, nameAt);
    if (end < 0) continue;
    if (Buffer.from(names.subarray(nameAt, end)).toString('latin1') === '.modinfo') {
      return contents(i);
    }
  }
  throw new ModinfoError(`${name}: no .modinfo section (not a kernel module?)`);
}

/** A 64-bit file offset or size as a number, or an error when it cannot be one. */
function toOffset(value: bigint, name: string, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new ModinfoError(`${name}: ${field} 0x${value.toString(16)} is out of range`);
  }
  return Number(value);
}
