// Branded numeric types: a virtual page number, a frame number and a cycle
// count are all numbers, but mixing them up is a bug the compiler can catch.

declare const brand: unique symbol;
type Brand<T, B extends string> = T & { readonly [brand]: B };

/** virtual page number (address >> 12) */
export type Vpn = Brand<number, 'Vpn'>;
/** physical frame number */
export type Pfn = Brand<number, 'Pfn'>;
/** virtual CPU cycles (u64 in the core; bigint on the host) */
export type Cycles = Brand<bigint, 'Cycles'>;
/** a byte address in the EMULATED address space */
export type VAddr = Brand<bigint, 'VAddr'>;
/** a byte offset in the shared Wasm memory (host side) */
export type MemOff = Brand<number, 'MemOff'>;

export const vpn = (n: number): Vpn => n as Vpn;
export const pfn = (n: number): Pfn => n as Pfn;
export const cycles = (n: bigint): Cycles => n as Cycles;
export const vaddr = (n: bigint): VAddr => n as VAddr;
export const memOff = (n: number): MemOff => n as MemOff;
export const vpnOf = (a: VAddr): Vpn => Number(a >> 12n) as Vpn;
export const addrOf = (v: Vpn): VAddr => (BigInt(v) << 12n) as VAddr;

/** A user-facing error: printed as one line, exit code 2, no stack trace. */
export class UsageError extends Error {
  constructor(message: string) { super(message); this.name = 'UsageError'; }
}
