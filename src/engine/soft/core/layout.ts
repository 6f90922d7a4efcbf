// Fixed layout of the engine's part of the shared wasm memory. Guest RAM starts at RAM_BASE;
// everything below it belongs to the engine. The TypeScript side reads these addresses through
// the exported accessors in index.ts, never as copies of the numbers.

/** Saved architectural state, the exchange area with TypeScript (see state.ts for the fields). */
export const STATE: usize = 0x10_0000;
/**
 * The x87/SSE state in the 64-bit FXSAVE layout (SDM Vol. 1, Table 10-2): 512 bytes in the
 * exchange area, where the executors keep it (sse.ts), so FXSAVE and FXRSTOR are copies.
 */
export const FXAREA: usize = STATE + 0x800;
/** The decoded-instruction record of the instruction being executed (decode.ts). */
export const INSN: usize = 0x10_1000;
/** The bytes of the instruction being decoded, as fetched (up to 15). */
export const FETCHED: usize = 0x10_1800;
/** Shared word other threads set (atomically) to make run() return: bit 0 = kick. */
export const ATTENTION: usize = 0x10_2000;
/** Software TLB: two sets (supervisor, user) of TLB_ENTRIES entries (mmu.ts). */
export const TLB: usize = 0x11_0000;
export const TLB_ENTRIES: u32 = 4096;
export const TLB_ENTRY_SIZE: u32 = 32;
export const TLB_SET_SIZE: u32 = TLB_ENTRIES * TLB_ENTRY_SIZE;
/**
 * Code-page words (icache.ts): one u32 per 4 KiB page of guest-physical RAM; bit 0 = the
 * page holds cached decoded instructions, bits 1–31 = the page's code generation.
 */
export const CODE_PAGES: usize = 0x20_0000;
/**
 * Decoded-instruction cache (icache.ts): DCACHE_ENTRIES blocks, each a key, a count and up to
 * BLOCK_MAX decoded records of consecutive instructions.
 */
export const DCACHE: usize = 0x60_0000;
export const DCACHE_ENTRIES: u32 = 1 << 14;
export const BLOCK_MAX: u32 = 16;
export const BLOCK_RECORDS: usize = 16;
export const RECORD_SIZE: u32 = 40;
export const DCACHE_ENTRY_SIZE: u32 = <u32>BLOCK_RECORDS + BLOCK_MAX * RECORD_SIZE;
/** Guest-physical address 0. */
export const RAM_BASE: usize = 0x400_0000;
/** Largest guest RAM the 4 GiB wasm memory leaves room for. */
export const RAM_MAX: u64 = <u64>0x1_0000_0000 - <u64>RAM_BASE;
