// The slice of the WebAssembly JS API the engine uses. Node has the API; @types/node 20 does
// not declare it (TypeScript ships it only in lib.dom, which a daemon must not pull in).
/* eslint-disable @typescript-eslint/no-extraneous-class -- declarations of the platform's classes */

declare namespace WebAssembly {
  /** A compiled module. */
  class Module {
    constructor(bytes: BufferSource);
    static imports(module: Module): { module: string; name: string; kind: string }[];
    static exports(module: Module): { name: string; kind: string }[];
  }
  /** An instantiated module. */
  class Instance {
    constructor(module: Module, imports?: Record<string, Record<string, unknown>>);
    readonly exports: Record<string, unknown>;
  }
  /** A linear memory; shared memories have a SharedArrayBuffer. */
  class Memory {
    constructor(descriptor: { initial: number; maximum?: number; shared?: boolean });
    readonly buffer: ArrayBuffer | SharedArrayBuffer;
    grow(pages: number): number;
  }
  /** Thrown by a trap. */
  class RuntimeError extends Error {}
}
type BufferSource = ArrayBufferView | ArrayBuffer;
