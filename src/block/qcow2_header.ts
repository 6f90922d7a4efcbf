/**
 * The qcow2 header (QEMU's docs/interop/qcow2.txt, versions 2 and 3): parsing with every
 * check that needs only the first cluster and the file's size, the header extensions (backing
 * format, feature names), and encoding a header for new images. All numbers are big-endian.
 */

import { DiskError } from './image.js';
import { hex } from './io.js';

/** "QFI\xfb", the first four bytes of every qcow2 image. */
export const QCOW2_MAGIC = 0x514649fb;
/** The length of a version 2 header; also the smallest file that can hold one. */
export const HEADER_V2_LENGTH = 72;
/** The length of a version 3 header up to and including `header_length`. */
export const HEADER_V3_LENGTH = 104;
/** Smallest and largest cluster_bits accepted (512 bytes to 2 MiB, as QEMU). */
export const MIN_CLUSTER_BITS = 9;
/** See {@link MIN_CLUSTER_BITS}. */
export const MAX_CLUSTER_BITS = 21;
/** QEMU's limits on the L1 and refcount tables; larger tables are refused. */
export const MAX_L1_BYTES = 32 * 1024 * 1024;
/** See {@link MAX_L1_BYTES}. */
export const MAX_REFCOUNT_TABLE_BYTES = 8 * 1024 * 1024;
/** The longest backing file name the format allows. */
export const MAX_BACKING_NAME = 1023;

/**
 * Byte offsets of header fields that are rewritten in place: the refcount table's offset
 * (followed by its size in clusters at 56) and the autoclear features.
 */
export const FIELD = {
  refcountTableOffset: 48,
  autoclearFeatures: 88,
} as const;

/** Incompatible feature bits. */
export const INCOMPAT = {
  dirty: 1n << 0n,
  corrupt: 1n << 1n,
  externalData: 1n << 2n,
  compressionType: 1n << 3n,
  extendedL2: 1n << 4n,
} as const;

/** Header extension types. */
export const EXT = {
  end: 0,
  backingFormat: 0xe2792aca,
  featureNames: 0x6803f857,
  bitmaps: 0x23852875,
  encryption: 0x0537be77,
  dataFile: 0x44415441,
} as const;

const KNOWN_INCOMPAT_NAMES: ReadonlyMap<bigint, string> = new Map([
  [INCOMPAT.dirty, 'dirty'],
  [INCOMPAT.corrupt, 'corrupt'],
  [INCOMPAT.externalData, 'external data file'],
  [INCOMPAT.compressionType, 'compression type'],
  [INCOMPAT.extendedL2, 'extended L2 entries'],
]);

/** The fields of a qcow2 header; offsets and sizes in bytes. */
export interface Qcow2Header {
  version: 2 | 3;
  backingFileOffset: number;
  backingFileSize: number;
  clusterBits: number;
  /** Virtual size. */
  size: number;
  cryptMethod: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  nbSnapshots: number;
  snapshotsOffset: number;
  incompatibleFeatures: bigint;
  compatibleFeatures: bigint;
  autoclearFeatures: bigint;
  /** log2 of the refcount width in bits (4 for version 2). */
  refcountOrder: number;
  headerLength: number;
}

/** A parsed header with what its extensions and the backing name field say. */
export interface ParsedHeader {
  header: Qcow2Header;
  /** The backing file name as stored (relative names are relative to the image's folder). */
  backingFile: string | undefined;
  /** The backing file format extension ("raw", "qcow2", …), if present. */
  backingFormat: string | undefined;
}

/**
 * Reads a big-endian unsigned 64-bit field as a number; throws a `corrupt` error naming the
 * field if it does not fit in 53 bits.
 */
export function readU64(view: DataView, offset: number, what: string, path: string): number {
  const value = view.getBigUint64(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new DiskError('corrupt', `${path}: ${what} ${hex(value)} is too large`);
  }
  return Number(value);
}

/** Writes `value` (a whole number below 2^53) as a big-endian 64-bit field. */
export function writeU64(view: DataView, offset: number, value: number): void {
  view.setBigUint64(offset, BigInt(value));
}

/** The cluster size of an image whose header starts `bytes` (at least 24 bytes of it). */
export function peekClusterBits(bytes: Uint8Array): number {
  return new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(20);
}

/** True if `bytes` starts with the qcow2 magic. */
export function hasQcow2Magic(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 &&
    new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint32(0) === QCOW2_MAGIC
  );
}

function corrupt(path: string, message: string): DiskError {
  return new DiskError('corrupt', `${path}: ${message}`);
}

function unsupported(path: string, message: string): DiskError {
  return new DiskError('unsupported', `${path}: ${message}`);
}

/**
 * Parses and validates the header in `first` (the image's first cluster, or the whole file if
 * shorter) of an image file of `fileSize` bytes. Throws a {@link DiskError}: `corrupt` for a
 * malformed header, `unsupported` for a valid image using features this implementation lacks
 * (encryption, external data files, extended L2 entries, non-zlib compression, unknown
 * incompatible features). The dirty and corrupt bits are left to the caller.
 */
export function parseHeader(path: string, first: Uint8Array, fileSize: number): ParsedHeader {
  if (first.length < HEADER_V2_LENGTH) {
    throw corrupt(path, `file is too short (${first.length} bytes) to be a qcow2 image`);
  }
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  if (view.getUint32(0) !== QCOW2_MAGIC) throw corrupt(path, 'bad magic, not a qcow2 image');
  const version = view.getUint32(4);
  if (version !== 2 && version !== 3)
    throw unsupported(path, `qcow2 version ${version} is not supported`);
  const clusterBits = view.getUint32(20);
  if (clusterBits < MIN_CLUSTER_BITS || clusterBits > MAX_CLUSTER_BITS) {
    throw corrupt(
      path,
      `cluster_bits ${clusterBits} outside ${MIN_CLUSTER_BITS}..${MAX_CLUSTER_BITS}`,
    );
  }
  const clusterSize = 2 ** clusterBits;
  const u64 = (offset: number, what: string): number => readU64(view, offset, what, path);
  const h: Qcow2Header = {
    version,
    backingFileOffset: u64(8, 'backing_file_offset'),
    backingFileSize: view.getUint32(16),
    clusterBits,
    size: u64(24, 'virtual size'),
    cryptMethod: view.getUint32(32),
    l1Size: view.getUint32(36),
    l1TableOffset: u64(40, 'l1_table_offset'),
    refcountTableOffset: u64(48, 'refcount_table_offset'),
    refcountTableClusters: view.getUint32(56),
    nbSnapshots: view.getUint32(60),
    snapshotsOffset: u64(64, 'snapshots_offset'),
    incompatibleFeatures: 0n,
    compatibleFeatures: 0n,
    autoclearFeatures: 0n,
    refcountOrder: 4,
    headerLength: HEADER_V2_LENGTH,
  };
  if (version === 3) {
    if (first.length < HEADER_V3_LENGTH) throw corrupt(path, 'version 3 header is truncated');
    h.incompatibleFeatures = view.getBigUint64(72);
    h.compatibleFeatures = view.getBigUint64(80);
    h.autoclearFeatures = view.getBigUint64(88);
    h.refcountOrder = view.getUint32(96);
    h.headerLength = view.getUint32(100);
    if (h.headerLength < HEADER_V3_LENGTH || h.headerLength % 8 !== 0) {
      throw corrupt(path, `header_length ${h.headerLength} is invalid`);
    }
    if (h.headerLength > clusterSize || h.headerLength > first.length) {
      throw corrupt(path, `header_length ${h.headerLength} is larger than the first cluster`);
    }
  }
  checkFeatures(path, h, first);
  if (h.refcountOrder > 6) throw corrupt(path, `refcount_order ${h.refcountOrder} is above 6`);
  if (h.cryptMethod === 1 || h.cryptMethod === 2) {
    throw unsupported(
      path,
      `encrypted images (${h.cryptMethod === 1 ? 'AES' : 'LUKS'}) are not supported`,
    );
  }
  if (h.cryptMethod !== 0) throw corrupt(path, `unknown crypt_method ${h.cryptMethod}`);
  checkTables(path, h, fileSize);
  const ext = readExtensions(path, h, first);
  let backingFile: string | undefined;
  if (h.backingFileOffset !== 0) {
    const { backingFileOffset: off, backingFileSize: len } = h;
    if (len === 0 || len > MAX_BACKING_NAME) {
      throw corrupt(path, `backing file name length ${len} is invalid`);
    }
    if (off < h.headerLength || off + len > clusterSize || off + len > first.length) {
      throw corrupt(path, `backing file name at ${hex(off)} is outside the first cluster`);
    }
    backingFile = new TextDecoder('utf-8', { fatal: false }).decode(first.subarray(off, off + len));
  }
  return { header: h, backingFile, backingFormat: ext.backingFormat };
}

/** Refuses incompatible features other than dirty and corrupt, naming them. */
function checkFeatures(path: string, h: Qcow2Header, first: Uint8Array): void {
  const rest = h.incompatibleFeatures & ~(INCOMPAT.dirty | INCOMPAT.corrupt);
  if (rest === 0n) {
    if (h.headerLength > 104 && first[104] !== 0) {
      throw corrupt(path, 'compression_type is set without the compression type feature');
    }
    return;
  }
  const table = featureNameTable(path, h, first);
  const listed: string[] = [];
  for (let bit = 0n; bit < 64n; bit++) {
    const mask = 1n << bit;
    if ((rest & mask) === 0n) continue;
    const name = KNOWN_INCOMPAT_NAMES.get(mask) ?? table.get(Number(bit));
    listed.push(name === undefined ? `unknown bit ${bit}` : `${name} (bit ${bit})`);
  }
  throw unsupported(path, `incompatible features not supported: ${listed.join(', ')}`);
}

/** Range checks of the tables the header points at against the cluster size and file size. */
function checkTables(path: string, h: Qcow2Header, fileSize: number): void {
  const clusterSize = 2 ** h.clusterBits;
  const aligned = (offset: number): boolean => offset % clusterSize === 0;
  if (h.size > Number.MAX_SAFE_INTEGER - clusterSize) {
    throw unsupported(path, `virtual size ${h.size} is too large`);
  }
  const l2Entries = clusterSize / 8;
  const needL1 = Math.ceil(h.size / (clusterSize * l2Entries));
  if (h.l1Size < needL1) {
    throw corrupt(path, `L1 table has ${h.l1Size} entries, ${needL1} needed for the virtual size`);
  }
  if (h.l1Size * 8 > MAX_L1_BYTES)
    throw unsupported(path, `L1 tables of more than 32 MiB are not supported`);
  if (h.l1Size > 0) {
    if (!aligned(h.l1TableOffset) || h.l1TableOffset === 0) {
      throw corrupt(path, `L1 table offset ${hex(h.l1TableOffset)} is invalid`);
    }
    if (h.l1TableOffset + h.l1Size * 8 > roundUpFile(fileSize, clusterSize)) {
      throw corrupt(path, `L1 table at ${hex(h.l1TableOffset)} is beyond the end of the file`);
    }
  }
  if (h.refcountTableClusters === 0) throw corrupt(path, 'refcount table has no clusters');
  if (h.refcountTableClusters * clusterSize > MAX_REFCOUNT_TABLE_BYTES) {
    throw unsupported(path, 'refcount tables of more than 8 MiB are not supported');
  }
  if (!aligned(h.refcountTableOffset) || h.refcountTableOffset === 0) {
    throw corrupt(path, `refcount table offset ${hex(h.refcountTableOffset)} is invalid`);
  }
  if (
    h.refcountTableOffset + h.refcountTableClusters * clusterSize >
    roundUpFile(fileSize, clusterSize)
  ) {
    throw corrupt(
      path,
      `refcount table at ${hex(h.refcountTableOffset)} is beyond the end of the file`,
    );
  }
  if (h.nbSnapshots > 0 && (!aligned(h.snapshotsOffset) || h.snapshotsOffset >= fileSize)) {
    throw corrupt(path, `snapshot table offset ${hex(h.snapshotsOffset)} is invalid`);
  }
}

function roundUpFile(size: number, clusterSize: number): number {
  return Math.ceil(size / clusterSize) * clusterSize;
}

/** One header extension: type and data. */
interface Extension {
  type: number;
  data: Uint8Array;
}

function* extensions(path: string, h: Qcow2Header, first: Uint8Array): Generator<Extension> {
  const end = Math.min(first.length, 2 ** h.clusterBits);
  const view = new DataView(first.buffer, first.byteOffset, first.byteLength);
  let at = h.headerLength;
  while (at + 8 <= end) {
    const type = view.getUint32(at);
    const length = view.getUint32(at + 4);
    if (type === EXT.end) return;
    if (at + 8 + length > end) {
      throw corrupt(path, `header extension ${hex(type)} runs past the first cluster`);
    }
    yield { type, data: first.subarray(at + 8, at + 8 + length) };
    at += 8 + Math.ceil(length / 8) * 8;
  }
}

function readExtensions(
  path: string,
  h: Qcow2Header,
  first: Uint8Array,
): { backingFormat: string | undefined } {
  let backingFormat: string | undefined;
  for (const ext of extensions(path, h, first)) {
    if (ext.type === EXT.backingFormat) backingFormat = new TextDecoder().decode(ext.data);
    if (ext.type === EXT.dataFile) throw unsupported(path, 'external data files are not supported');
  }
  return { backingFormat };
}

/** The incompatible feature names the image's feature name table gives, by bit. */
function featureNameTable(path: string, h: Qcow2Header, first: Uint8Array): Map<number, string> {
  const names = new Map<number, string>();
  try {
    for (const ext of extensions(path, h, first)) {
      if (ext.type !== EXT.featureNames) continue;
      for (let at = 0; at + 48 <= ext.data.length; at += 48) {
        if (ext.data[at] !== 0) continue;
        const raw = ext.data.subarray(at + 2, at + 48);
        const nul = raw.indexOf(0);
        names.set(
          ext.data[at + 1] ?? 0,
          new TextDecoder().decode(raw.subarray(0, nul < 0 ? 46 : nul)),
        );
      }
    }
  } catch {
    // Names only decorate the message; a broken extension area is reported elsewhere.
  }
  return names;
}

/** What a new image's first cluster holds. */
export interface NewHeader {
  clusterBits: number;
  size: number;
  l1Size: number;
  l1TableOffset: number;
  refcountTableOffset: number;
  refcountTableClusters: number;
  refcountOrder: number;
  backingFile?: string;
  backingFormat?: string;
}

/**
 * Encodes a version 3 header with no features set, the backing format extension if a backing
 * file is named, the end-of-extensions marker and the backing file name after it. Returns the
 * bytes of the first cluster up to the end of what was written.
 */
export function encodeHeader(n: NewHeader): Uint8Array {
  const clusterSize = 2 ** n.clusterBits;
  const backing = n.backingFile === undefined ? undefined : new TextEncoder().encode(n.backingFile);
  const format =
    n.backingFormat === undefined ? undefined : new TextEncoder().encode(n.backingFormat);
  const formatExt = format === undefined ? 0 : 8 + Math.ceil(format.length / 8) * 8;
  const nameOffset = HEADER_V3_LENGTH + formatExt + 8;
  const total = nameOffset + (backing?.length ?? 0);
  if (backing !== undefined && backing.length > MAX_BACKING_NAME) {
    throw new DiskError('invalid', `backing file name is longer than ${MAX_BACKING_NAME} bytes`);
  }
  if (total > clusterSize) throw new DiskError('invalid', 'header does not fit in one cluster');
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, QCOW2_MAGIC);
  view.setUint32(4, 3);
  if (backing !== undefined) {
    writeU64(view, 8, nameOffset);
    view.setUint32(16, backing.length);
    bytes.set(backing, nameOffset);
  }
  view.setUint32(20, n.clusterBits);
  writeU64(view, 24, n.size);
  view.setUint32(36, n.l1Size);
  writeU64(view, 40, n.l1TableOffset);
  writeU64(view, 48, n.refcountTableOffset);
  view.setUint32(56, n.refcountTableClusters);
  view.setUint32(96, n.refcountOrder);
  view.setUint32(100, HEADER_V3_LENGTH);
  if (format !== undefined) {
    view.setUint32(HEADER_V3_LENGTH, EXT.backingFormat);
    view.setUint32(HEADER_V3_LENGTH + 4, format.length);
    bytes.set(format, HEADER_V3_LENGTH + 8);
  }
  // The end-of-extensions marker is the eight zero bytes before the name.
  return bytes;
}
