/**
 * A read-only {@link ConfigSpace} over the sysfs `config` file of a PCI function. The whole
 * file is read once: reading config space has no side effects, and a snapshot keeps every
 * later decode consistent. The kernel gives 64 bytes to non-root users, 256 or 4096 to root.
 *
 * @module
 */
import type { ConfigSpace } from "./config_space.ts";
import { VirtioError } from "../errors.ts";

/** Config-space bytes held in memory; writes throw (this view is for looking only). */
export class ConfigSpaceSnapshot implements ConfigSpace {
  readonly #view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  get size(): number {
    return this.bytes.length;
  }
  /** False when only the 64-byte header is visible (not root). */
  get complete(): boolean {
    return this.bytes.length >= 256;
  }
  read8(offset: number): number {
    this.#check(offset, 1);
    return this.#view.getUint8(offset);
  }
  read16(offset: number): number {
    this.#check(offset, 2);
    return this.#view.getUint16(offset, true);
  }
  read32(offset: number): number {
    this.#check(offset, 4);
    return this.#view.getUint32(offset, true);
  }
  write8(offset: number): void {
    this.#readOnly(offset);
  }
  write16(offset: number): void {
    this.#readOnly(offset);
  }
  write32(offset: number): void {
    this.#readOnly(offset);
  }
  #check(offset: number, n: number): void {
    if (!Number.isInteger(offset) || offset < 0 || offset + n > this.bytes.length) {
      throw new RangeError(`config read at ${offset}+${n} outside ${this.bytes.length} bytes`);
    }
  }
  #readOnly(offset: number): never {
    throw new Error(`config space snapshot is read-only (write at 0x${offset.toString(16)})`);
  }
}

/** Reads `<deviceDir>/config` once. Throws VirtioError when it cannot be read. */
export function readSysfsConfigSpace(deviceDir: string): ConfigSpaceSnapshot {
  const path = `${deviceDir}/config`;
  try {
    return new ConfigSpaceSnapshot(Deno.readFileSync(path));
  } catch (e) {
    if (e instanceof Deno.errors.PermissionDenied) {
      throw new VirtioError(`cannot read ${path}: permission denied`, {
        hint: "run as root to see the capability list",
      });
    }
    throw new VirtioError(`cannot read ${path}: ${e instanceof Error ? e.message : e}`, {
      cause: e,
    });
  }
}
